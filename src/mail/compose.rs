//! The messages of a run: one management report per organization reviewed (to its
//! management_emails, its own workbook attached) and one Primary User action list per PID/SL
//! with findings (to its active primary and backup, or to management when it has neither),
//! the PID/SL's decision workbook attached.
//! A message only ever carries its own organization's findings.
//!
//! One organization's data never stops the others' mail: when its workbook or one of its
//! messages cannot be made (a value the writer or lettre refuses), everything it had produced
//! is removed, the problem is returned as an [`OrgProblem`], and the other organizations are
//! composed as usual. A file-system failure (an I/O error) still ends the run: it is no
//! organization's fault and would recur for each.

use super::cost::{ComposeCost, Part};
use crate::config::MailSettings;
use crate::domain::{FindingStatus, Role};
use crate::records::{FindingRow, MessageFile, OutgoingMail, RunRecord};
use crate::report::html::generator;
use crate::report::summary::{pidsls_of_finding, ListedFinding, Summary, SummaryOptions};
use crate::report::xlsx;
use crate::report::PidSlAdmins;
use crate::snapshot::Snapshot;
use crate::templates::Templates;
use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use indicatif::ProgressBar;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::Message;
use minijinja::Value;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const MANAGEMENT: &str = "management";
pub const ACTION_LIST: &str = "action-list";

/// The folder of the run's folder that holds the PID/SLs' decision workbooks too large to
/// attach to their action lists.
pub const DECIDE_DIR: &str = "decide";

/// The Content-ID of the management report's trend chart (an inline PNG).
pub const TREND_CID: &str = "trend@posc-review";

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// What a run's messages are made from.
pub struct RunMail<'a> {
    pub mail: &'a MailSettings,
    /// The configured time zone, for the dates the attached workbooks show.
    pub zone: Tz,
    /// The messages' Date.
    pub date: DateTime<Utc>,
    /// The store's random id, which every Message-ID carries.
    pub store_id: &'a str,
    pub templates: &'a Templates,
    pub run: &'a RunRecord,
    pub findings: &'a [FindingRow],
    /// Each organization's findings at its previous review, for what is resolved.
    pub previous: &'a [FindingRow],
    /// What the review loop did about each organization's previous review, by org_id.
    pub follow_ups: &'a HashMap<String, crate::report::summary::FollowUpCounts>,
    pub snapshot: &'a Snapshot,
    pub in_scope: &'a [bool],
    /// Each organization's open findings by severity at its last reviews, oldest first, this
    /// run last (for the management report's trend chart).
    pub trends: &'a HashMap<String, Vec<crate::records::TrendPoint>>,
    /// The run's folder: organizations' workbooks go into `organizations/` below it.
    pub dir: &'a Path,
    /// Where each message is written as soon as it is composed, so that a statewide run never
    /// holds its hundred thousand messages in memory.
    pub out: MailOut<'a>,
    /// Advanced by one per organization composed.
    pub progress: Option<&'a ProgressBar>,
    /// Where the composing time goes.
    pub cost: &'a ComposeCost,
}

impl RunMail<'_> {
    /// What every message of the run is sent with.
    fn sender(&self) -> Sender<'_> {
        Sender {
            mail: self.mail,
            date: self.date,
            store_id: self.store_id,
            templates: self.templates,
            run_id: &self.run.id,
            cost: self.cost,
        }
    }
}

/// What a message is sent with, whatever it is about: a run's mail, or a reminder about a run.
pub(crate) struct Sender<'a> {
    pub mail: &'a MailSettings,
    /// The message's Date.
    pub date: DateTime<Utc>,
    /// The store's random id, which every Message-ID carries.
    pub store_id: &'a str,
    pub templates: &'a Templates,
    /// The run the message is about, the first part of its key.
    pub run_id: &'a str,
    /// Where the composing time goes.
    pub cost: &'a ComposeCost,
}

/// Where composed messages are written.
#[derive(Clone, Copy)]
pub enum MailOut<'a> {
    /// An .eml file each, `<kind>-<unit>.eml` in this folder (a dry run).
    Eml(&'a Path),
    /// The same files as the entries of one zip at this path, stored uncompressed (a dry run of
    /// more than [`MAX_EML_FILES`] messages): creating a hundred thousand small files costs
    /// more than writing them, and a folder of them is slow to list, copy or remove.
    Zip(&'a Path),
    /// Appended to a spool file per composing thread in this folder, for the outbox to read
    /// back when the run is stored (`--send`): creating and removing a hundred thousand small
    /// files costs more than writing them.
    Spool(&'a Path),
}

/// A dry run of more messages than this writes them into one `mail.zip` (see [`MailOut::Zip`]).
pub const MAX_EML_FILES: usize = 1_000;

impl<'a> MailOut<'a> {
    /// A dry run's `messages` messages: .eml files in the folder `folder`, or past
    /// [`MAX_EML_FILES`] the entries of the zip `zip`.
    pub fn preview(folder: &'a Path, zip: &'a Path, messages: usize) -> MailOut<'a> {
        if messages > MAX_EML_FILES {
            MailOut::Zip(zip)
        } else {
            MailOut::Eml(folder)
        }
    }
}

/// Messages on their way to the thread writing the zip: one item's (organization's), whole.
type ZipBatch = Vec<(String, Vec<u8>)>;

/// One composing thread's way of writing messages out. What an item (an organization) wrote
/// is either kept ([`MessageWriter::commit`]) or dropped ([`MessageWriter::discard`]) whole.
pub(crate) enum MessageWriter {
    Eml {
        dir: PathBuf,
        /// The files of the item being composed.
        written: Vec<PathBuf>,
    },
    Zip {
        path: PathBuf,
        /// The item's messages, sent to the zip's writer once the item is complete (an entry
        /// cannot be taken back out of a zip).
        pending: ZipBatch,
        entries: std::sync::mpsc::SyncSender<ZipBatch>,
    },
    Spool {
        path: PathBuf,
        file: std::io::BufWriter<std::fs::File>,
        offset: u64,
    },
}

impl MessageWriter {
    /// A writer of .eml files or of a spool; [`compose_each`] makes those of a zip.
    pub(crate) fn new(out: MailOut, composer: usize) -> anyhow::Result<MessageWriter> {
        Ok(match out {
            MailOut::Eml(dir) => MessageWriter::Eml {
                dir: dir.to_path_buf(),
                written: Vec::new(),
            },
            MailOut::Zip(path) => {
                anyhow::bail!("{} is written through compose_each", path.display())
            }
            MailOut::Spool(dir) => {
                let path = dir.join(format!("composer-{composer}.spool"));
                let file = crate::files::create(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                MessageWriter::Spool {
                    path,
                    file: std::io::BufWriter::with_capacity(1 << 20, file),
                    offset: 0,
                }
            }
        })
    }

    fn write(&mut self, kind: &str, unit: &str, message: &[u8]) -> anyhow::Result<MessageFile> {
        match self {
            MessageWriter::Eml { dir, written } => {
                let path = dir.join(file_name(kind, unit));
                crate::files::write(&path, message)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                written.push(path.clone());
                Ok(MessageFile::whole(path, message.len()))
            }
            MessageWriter::Zip { path, pending, .. } => {
                let name = file_name(kind, unit);
                let at = MessageFile::whole(path.join(&name), message.len());
                pending.push((name, message.to_vec()));
                Ok(at)
            }
            MessageWriter::Spool { path, file, offset } => {
                file.write_all(message)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                let at = MessageFile {
                    path: path.clone(),
                    offset: *offset,
                    len: message.len() as u64,
                };
                *offset += at.len;
                Ok(at)
            }
        }
    }

    /// Keeps what the item wrote.
    fn commit(&mut self) -> anyhow::Result<()> {
        match self {
            MessageWriter::Eml { written, .. } => written.clear(),
            MessageWriter::Zip {
                path,
                pending,
                entries,
            } => {
                if !pending.is_empty() {
                    // The writer only hangs up when it failed; its error is the one reported.
                    entries
                        .send(std::mem::take(pending))
                        .map_err(|_| anyhow::anyhow!("cannot write {}", path.display()))?;
                }
            }
            MessageWriter::Spool { .. } => {}
        }
        Ok(())
    }

    /// Drops what the item wrote (its organization's output could not be produced). A spool's
    /// bytes stay, read by no outbox row.
    pub(crate) fn discard(&mut self) {
        match self {
            MessageWriter::Eml { written, .. } => {
                for path in written.drain(..) {
                    let _ = std::fs::remove_file(path);
                }
            }
            MessageWriter::Zip { pending, .. } => pending.clear(),
            MessageWriter::Spool { .. } => {}
        }
    }

    /// Everything written is in the file.
    pub(crate) fn finish(mut self) -> anyhow::Result<()> {
        self.commit()?;
        if let MessageWriter::Spool { path, mut file, .. } = self {
            file.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// Writes the batches `entries` receives into the zip `path`, each message an uncompressed
/// (stored) entry: the composers already spent the time, and stored entries are read back
/// without inflating.
fn write_zip(path: &Path, entries: std::sync::mpsc::Receiver<ZipBatch>) -> anyhow::Result<()> {
    let fail = || format!("cannot write {}", path.display());
    let file = crate::files::create(path).with_context(fail)?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for batch in entries {
        for (name, message) in batch {
            zip.start_file(name, options).with_context(fail)?;
            zip.write_all(&message).with_context(fail)?;
        }
    }
    zip.finish()
        .with_context(fail)?
        .flush()
        .with_context(fail)?;
    Ok(())
}

/// A message composed and written out; the rest is what the outbox keeps beside it.
pub struct ComposedMail {
    pub kind: &'static str,
    /// What the message is about: an org_id or a PID/SL.
    pub unit: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The RFC 5322 message exactly as it will be sent.
    pub file: MessageFile,
}

impl ComposedMail {
    /// The idempotency key: run, kind, recipient unit.
    pub fn key(&self, run_id: &str) -> String {
        format!("{run_id}:{}:{}", self.kind, self.unit)
    }

    pub fn outgoing(self, run_id: &str) -> OutgoingMail {
        OutgoingMail {
            idempotency_key: self.key(run_id),
            run_id: run_id.to_string(),
            kind: self.kind.to_string(),
            recipient: self.unit,
            to_addresses: self.to,
            subject: self.subject,
            message_file: self.file,
        }
    }
}

/// `<kind>-<unit>.eml`.
fn file_name(kind: &str, unit: &str) -> String {
    format!("{kind}-{}.eml", crate::report::file_safe(unit))
}

#[derive(Serialize)]
pub(crate) struct OrgRef<'a> {
    pub org_id: &'a str,
    pub name: &'a str,
}

#[derive(Serialize)]
struct AttachmentNote {
    name: String,
    attached: bool,
    size_mb: String,
}

/// A finding as a message lists it: with how long it has been open.
#[derive(Serialize)]
struct MailFinding {
    #[serde(flatten)]
    finding: ListedFinding,
    /// "new", "open 45 days" (since first seen, to the review date) or "accepted".
    age: String,
}

impl MailFinding {
    fn new(f: &FindingRow, as_of: chrono::NaiveDate) -> MailFinding {
        MailFinding {
            finding: ListedFinding::from(f),
            age: age(f, as_of),
        }
    }
}

/// "new", "open 1 day", "open 45 days" or "accepted".
fn age(f: &FindingRow, as_of: chrono::NaiveDate) -> String {
    match f.status {
        FindingStatus::New => "new".into(),
        FindingStatus::Accepted => "accepted".into(),
        FindingStatus::Suppressed => "not a problem".into(),
        FindingStatus::Open | FindingStatus::Resolved => match (as_of - f.first_seen).num_days() {
            ..=0 => format!("open since {}", f.first_seen),
            days => format!("open {}", crate::output::count(days, "day")),
        },
    }
}

#[derive(Serialize)]
pub(crate) struct ActionItem {
    #[serde(flatten)]
    finding: MailFinding,
    /// The remediation up to its POSC path, and the path's steps, to number.
    lead: String,
    steps: Vec<String>,
    /// What follows the steps, if anything.
    note: String,
}

/// A remediation as a lead, numbered steps and a closing note.
///
/// - The Guide's numbered steps ("Delete the subordinate's account (...): 1. remove the user
///   ...; 2. inform ...; 3. contact ...") are the list, each step whole.
/// - One POSC path ("Remove Sam Fox (sfox): Administer Account > ... > on the Confirmation
///   panel, click Close after verifying that your update has been performed; then contact
///   ...") becomes its steps, with what precedes it as the lead ("In the POSC:" when nothing
///   does) and what follows it as the note.
/// - Anything else (several paths, a path in parentheses) stays whole, as the lead.
fn steps(remediation: &str) -> (String, Vec<String>, String) {
    const START: &str = "Administer Account > ";
    const DONE: &str = "your update has been performed";
    let whole = || (remediation.to_string(), Vec::new(), String::new());
    if let Some(at) = remediation.find(": 1. ") {
        let mut items = Vec::new();
        let mut rest = &remediation[at + ": 1. ".len()..];
        for n in 2.. {
            match rest.find(&format!("; {n}. ")) {
                Some(end) => {
                    items.push(rest[..end].to_string());
                    rest = &rest[end + format!("; {n}. ").len()..];
                }
                None => break,
            }
        }
        items.push(rest.trim_end_matches('.').to_string());
        return (remediation[..=at].to_string(), items, String::new());
    }
    let Some(start) = remediation.find(START) else {
        return whole();
    };
    let lead = remediation[..start].trim_end();
    if remediation.matches(START).count() > 1 || lead.ends_with('(') {
        return whole();
    }
    let path = &remediation[start..];
    let end = match path.find(DONE) {
        Some(at) => at + DONE.len(),
        None => path.find(". ").unwrap_or(path.len()),
    };
    let steps = path[..end]
        .trim_end_matches('.')
        .split(" > ")
        .map(|s| s.trim().to_string())
        .collect();
    let note = path[end..].trim_start_matches([';', '.', ' ']).to_string();
    let lead = if lead.is_empty() {
        "In the POSC:"
    } else {
        lead
    };
    (lead.to_string(), steps, note)
}

/// An organization whose workbook or messages could not be produced, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgProblem {
    pub org_id: String,
    pub error: String,
}

/// One organization's messages, or its problem.
type OrgMailResult = Result<Vec<ComposedMail>, OrgProblem>;

/// Every message of the run, and the organizations whose output could not be produced.
pub fn compose_run_mail(input: &RunMail) -> anyhow::Result<(Vec<ComposedMail>, Vec<OrgProblem>)> {
    let snapshot = input.snapshot;
    let mut own: HashMap<&str, Vec<&FindingRow>> = HashMap::new();
    for f in input.findings {
        own.entry(f.org_id.as_str()).or_default().push(f);
    }
    let current: HashSet<&str> = input
        .findings
        .iter()
        .map(|f| f.fingerprint.as_str())
        .collect();
    let mut resolved: HashMap<&str, Vec<&FindingRow>> = HashMap::new();
    for f in input
        .previous
        .iter()
        .filter(|f| !current.contains(f.fingerprint.as_str()))
    {
        resolved.entry(f.org_id.as_str()).or_default().push(f);
    }
    let access_by_org = crate::report::access_rows_by_org(snapshot);
    let mut users_by_org = vec![0usize; snapshot.orgs.len()];
    for u in &snapshot.users {
        users_by_org[u.org as usize] += 1;
    }
    let workbook_dir = input.dir.join("organizations");
    crate::files::create_dir_all(&workbook_dir)?;

    match input.out {
        MailOut::Eml(dir) | MailOut::Spool(dir) => crate::files::create_dir_all(dir)?,
        MailOut::Zip(_) => {}
    }

    let orgs: Vec<usize> = (0..snapshot.orgs.len())
        .filter(|&i| input.in_scope[i])
        .collect();
    let empty = Vec::new();
    let compose_org = |org_index: usize,
                       writer: &mut MessageWriter,
                       mails: &mut Vec<ComposedMail>|
     -> anyhow::Result<()> {
        let org = &snapshot.orgs[org_index];
        let findings = own.get(org.org_id.as_str()).unwrap_or(&empty);
        let resolved = resolved
            .get(org.org_id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        // One entry per active PID/SL of the organization.
        let admins =
            crate::report::administrators_of_org(snapshot, org_index as u32, input.run.as_of);
        let reviewed = Reviewed {
            pidsls: admins.len(),
            users: users_by_org[org_index],
            access: access_by_org[org_index].len(),
        };
        mails.push(management_report(
            input,
            org_index as u32,
            findings,
            resolved,
            &access_by_org[org_index],
            &admins,
            reviewed,
            &workbook_dir,
            writer,
        )?);
        action_lists(input, org_index as u32, findings, writer, mails)
    };
    // The organization's messages, or its problem once what it had produced is removed.
    let compose_or_drop =
        |org_index: usize, writer: &mut MessageWriter| -> anyhow::Result<OrgMailResult> {
            let mut mails = Vec::new();
            let Err(e) = compose_org(org_index, writer, &mut mails) else {
                return Ok(Ok(mails));
            };
            if e.chain().any(|cause| cause.is::<std::io::Error>()) {
                return Err(e);
            }
            let org_id = &snapshot.orgs[org_index].org_id;
            let workbook = xlsx::org_workbook_file_name(&input.run.id, org_id);
            let _ = std::fs::remove_file(workbook_dir.join(workbook));
            for p in snapshot.pidsls.iter().filter(|p| p.org == org_index as u32) {
                let name = xlsx::decision_workbook_file_name(&input.run.id, p.pidsl.as_str());
                let _ = std::fs::remove_file(input.dir.join(DECIDE_DIR).join(name));
            }
            writer.discard();
            let error = format!("{e:#}");
            tracing::error!(run_id = %input.run.id, org_id = %org_id, error = %error,
                "the organization's output could not be produced; the others go on");
            Ok(Err(OrgProblem {
                org_id: org_id.clone(),
                error,
            }))
        };
    let composed = compose_each(&orgs, input.out, input.progress, |&org_index, writer| {
        compose_or_drop(org_index, writer)
    })?;
    let mut mails = Vec::new();
    let mut problems = Vec::new();
    for result in composed {
        match result {
            Ok(org_mails) => mails.extend(org_mails),
            Err(problem) => problems.push(problem),
        }
    }
    Ok((mails, problems))
}

/// `compose` run on each of `items` (organizations: independent, their sizes varying a
/// hundredfold) by every core, each taking the next item until none is left and writing through
/// a [`MessageWriter`] of its own to `out` (into a zip: sending each item's messages to one
/// thread writing it); the results in `items`' order. `progress` is advanced by one per item.
pub(crate) fn compose_each<I: Sync, T: Send>(
    items: &[I],
    out: MailOut,
    progress: Option<&ProgressBar>,
    compose: impl Fn(&I, &mut MessageWriter) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<T>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    let next = AtomicUsize::new(0);
    // A few organizations' messages in flight per composer: the zip's writer keeps up, and
    // memory stays bounded whatever the run's size.
    let (entries, zip) = match out {
        MailOut::Zip(path) => {
            let (sender, receiver) = std::sync::mpsc::sync_channel(4 * threads);
            (Some(sender), Some((path, receiver)))
        }
        _ => (None, None),
    };
    let composer = |composer: usize,
                    entries: Option<std::sync::mpsc::SyncSender<ZipBatch>>|
     -> anyhow::Result<Vec<(usize, T)>> {
        let mut writer = match (out, entries) {
            (MailOut::Zip(path), Some(entries)) => MessageWriter::Zip {
                path: path.to_path_buf(),
                pending: Vec::new(),
                entries,
            },
            _ => MessageWriter::new(out, composer)?,
        };
        let mut done = Vec::new();
        loop {
            let position = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(position) else {
                writer.finish()?;
                return Ok(done);
            };
            done.push((position, compose(item, &mut writer)?));
            writer.commit()?;
            if let Some(bar) = progress {
                bar.inc(1);
            }
        }
    };
    let (parts, zipped): (Vec<_>, anyhow::Result<()>) = std::thread::scope(|scope| {
        let zipping = zip.map(|(path, receiver)| scope.spawn(move || write_zip(path, receiver)));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let composer = &composer;
                let entries = entries.clone();
                scope.spawn(move || composer(i, entries))
            })
            .collect();
        // The zip is finished once every composer has hung up.
        drop(entries);
        let parts = handles
            .into_iter()
            .map(|h| h.join().expect("a mail composer panicked"))
            .collect();
        let zipped = zipping.map_or(Ok(()), |h| h.join().expect("the zip writer panicked"));
        (parts, zipped)
    });
    zipped?;
    let mut composed = Vec::new();
    for part in parts {
        composed.extend(part?);
    }
    composed.sort_unstable_by_key(|(position, _)| *position);
    Ok(composed.into_iter().map(|(_, result)| result).collect())
}

/// What a management report says was reviewed.
#[derive(Serialize, Clone, Copy)]
struct Reviewed {
    /// The organization's active PID/SLs.
    pidsls: usize,
    /// Its users.
    users: usize,
    /// The access rows on its PID/SLs or of its users.
    access: usize,
}

#[allow(clippy::too_many_arguments)]
fn management_report(
    input: &RunMail,
    org: u32,
    findings: &[&FindingRow],
    resolved: &[&FindingRow],
    access_rows: &[u32],
    admins: &[PidSlAdmins],
    reviewed: Reviewed,
    workbook_dir: &Path,
    writer: &mut MessageWriter,
) -> anyhow::Result<ComposedMail> {
    let snapshot = input.snapshot;
    let o = &snapshot.orgs[org as usize];
    let max = input.mail.max_findings_listed;
    let mut options = SummaryOptions::for_org(snapshot, &o.org_id, resolved.len());
    options.max_listed = max;
    let summary = input.cost.time(Part::Summary, || {
        let mut summary = Summary::build(input.run, findings, snapshot, &options);
        // Its own organization's follow-ups only.
        summary.add_follow_ups(snapshot, input.follow_ups.get_key_value(&o.org_id));
        summary
    });
    let (workbook, bytes) = input.cost.time(Part::OrgWorkbook, || {
        xlsx::write_org_workbook(
            workbook_dir,
            input.run,
            findings,
            snapshot,
            org,
            access_rows,
            &summary,
            input.zone,
        )
    })?;
    let size = bytes.len() as u64;
    let attach = size <= input.mail.max_attachment_mb * 1024 * 1024;
    let as_of = input.run.as_of;
    // Each finding once: the critical and high ones (whatever their status), then the new
    // medium and low ones.
    let mut urgent: Vec<&FindingRow> = findings
        .iter()
        .copied()
        .filter(|f| f.severity >= crate::domain::Severity::High)
        .collect();
    urgent.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let other_new: Vec<&FindingRow> = findings
        .iter()
        .copied()
        .filter(|f| f.severity < crate::domain::Severity::High && f.status == FindingStatus::New)
        .collect();
    let listed = |list: &[&FindingRow]| -> Vec<MailFinding> {
        list.iter()
            .take(max)
            .map(|f| MailFinding::new(f, as_of))
            .collect()
    };
    let trend = input
        .trends
        .get(&o.org_id)
        .filter(|points| points.len() >= 2)
        .map(|points| {
            input.cost.time(Part::TrendChart, || {
                crate::report::trend::png(points, &format!("Open findings of {}", o.name))
                    .context("cannot draw the trend chart")
            })
        })
        .transpose()?;
    let file_name = workbook
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    // Built as template values directly: a JSON tree converted for each of the two
    // renderings cost more than rendering them.
    let context = minijinja::context! {
        summary => to_value(&summary),
        org => to_value(OrgRef { org_id: &o.org_id, name: &o.name }),
        reviewed => to_value(reviewed),
        urgent => to_value(listed(&urgent)),
        urgent_more => urgent.len().saturating_sub(max),
        other_new => to_value(listed(&other_new)),
        other_new_more => other_new.len().saturating_sub(max),
        admins => to_value(admins),
        trend_cid => trend.as_ref().map(|_| TREND_CID),
        resolved => to_value(
            resolved.iter().take(max).map(|f| ListedFinding::from(*f)).collect::<Vec<_>>(),
        ),
        resolved_more => resolved.len().saturating_sub(max),
        attachment => to_value(AttachmentNote {
            name: file_name.clone(),
            attached: attach,
            size_mb: format!("{:.1}", size as f64 / 1_048_576.0),
        }),
        generator => generator(),
    };
    let subject = if summary.total == 0 {
        format!(
            "POSC access review {} for {}: no findings",
            input.run.as_of, o.name
        )
    } else {
        format!(
            "POSC access review {} for {}: {} ({} critical, {} high)",
            input.run.as_of,
            o.name,
            crate::output::count(summary.total, "finding"),
            summary.severity_count(crate::domain::Severity::Critical),
            summary.severity_count(crate::domain::Severity::High)
        )
    };
    let attachment = attach.then_some((file_name, bytes));
    build(
        &input.sender(),
        MANAGEMENT,
        o.org_id.clone(),
        o.management_emails.clone(),
        subject,
        "management",
        &context,
        Parts { attachment, trend },
        writer,
    )
}

/// The action lists of one organization, pushed to `mails` one by one (so that a failure
/// part-way leaves the ones written known): one per active PID/SL of the organization with a
/// finding to fix.
/// The PID/SLs of organization `org` that get an action list, with their findings (of the
/// organization's `findings`): every finding of the PID/SL as the summary counts it
/// (report::summary::pidsls_of_finding), for PID/SLs with one not accepted or suppressed; those
/// are counted, not listed, and are in its workbook.
fn action_list_findings<'f>(
    snapshot: &Snapshot,
    org: u32,
    findings: impl IntoIterator<Item = &'f FindingRow>,
) -> HashMap<u32, Vec<&'f FindingRow>> {
    let mut items: HashMap<u32, Vec<&FindingRow>> = HashMap::new();
    for f in findings {
        for p in pidsls_of_finding(snapshot, f) {
            let record = snapshot.pidsl(p);
            if record.active && record.org == org {
                items.entry(p).or_default().push(f);
            }
        }
    }
    items.retain(|_, list| list.iter().any(|f| !f.status.set_aside()));
    items
}

/// How many messages [`compose_run_mail`] composes (a management report per organization in
/// scope, an action list per PID/SL of [`action_list_findings`]), for a dry run to choose
/// between .eml files and a zip ([`MailOut::preview`]) before composing them.
pub fn message_count(snapshot: &Snapshot, in_scope: &[bool], findings: &[FindingRow]) -> usize {
    let mut by_org: HashMap<&str, Vec<&FindingRow>> = HashMap::new();
    for f in findings {
        by_org.entry(f.org_id.as_str()).or_default().push(f);
    }
    (0..snapshot.orgs.len())
        .filter(|&i| in_scope[i])
        .map(|i| {
            let own = by_org.remove(snapshot.orgs[i].org_id.as_str());
            1 + action_list_findings(snapshot, i as u32, own.into_iter().flatten()).len()
        })
        .sum()
}

fn action_lists(
    input: &RunMail,
    org: u32,
    findings: &[&FindingRow],
    writer: &mut MessageWriter,
    mails: &mut Vec<ComposedMail>,
) -> anyhow::Result<()> {
    let snapshot = input.snapshot;
    let as_of = input.run.as_of;
    let mut items = action_list_findings(snapshot, org, findings.iter().copied());
    let mut pidsls: Vec<u32> = items.keys().copied().collect();
    pidsls.sort_unstable();
    let o = &snapshot.orgs[org as usize];
    let max = input.mail.max_findings_listed;
    let max_bytes = input.mail.max_attachment_mb * 1024 * 1024;
    for p in pidsls {
        let record = snapshot.pidsl(p);
        let all = items.remove(&p).unwrap_or_default();
        let total = all.len();
        let workbook = input.cost.time(Part::DecisionWorkbook, || {
            xlsx::decision_workbook(&all, snapshot, p, input.zone)
        })?;
        let workbook_name = xlsx::decision_workbook_file_name(&input.run.id, record.pidsl.as_str());
        let size = workbook.len() as u64;
        let attach = size <= max_bytes;
        if !attach {
            // Kept in the run's folder, for the compliance officer to hand over.
            let dir = input.dir.join(DECIDE_DIR);
            crate::files::create_dir_all(&dir)?;
            crate::files::write(&dir.join(&workbook_name), &workbook)?;
        }
        let mut list: Vec<&FindingRow> =
            all.into_iter().filter(|f| !f.status.set_aside()).collect();
        list.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let (to, fallback) = administrators_of_pidsl(snapshot, p, as_of, "this action list");
        let listed = action_items(&list, as_of, max);
        let context = minijinja::context! {
            run => minijinja::context! { id => &input.run.id, as_of => as_of.to_string() },
            org => to_value(OrgRef { org_id: &o.org_id, name: &o.name }),
            pidsl => minijinja::context! { pidsl => record.pidsl.as_str(), name => &record.name },
            findings => to_value(&listed),
            total => total,
            to_fix => list.len(),
            accepted => total - list.len(),
            more => list.len().saturating_sub(max),
            fallback => fallback,
            update_path => format!("In the POSC: {}", crate::domain::posc::UPDATE_SUBORDINATE),
            workbook => xlsx::org_workbook_file_name(&input.run.id, &o.org_id),
            attachment => to_value(AttachmentNote {
                name: workbook_name.clone(),
                attached: attach,
                size_mb: format!("{:.1}", size as f64 / 1_048_576.0),
            }),
            decisions => to_value(decision_notes()),
            generator => generator(),
        };
        let subject = format!(
            "POSC access review {as_of}: {} to fix on {}",
            crate::output::count(list.len(), "finding"),
            record.pidsl
        );
        mails.push(build(
            &input.sender(),
            ACTION_LIST,
            record.pidsl.as_str().to_string(),
            to,
            subject,
            "action_list",
            &context,
            Parts {
                attachment: attach.then_some((workbook_name, workbook)),
                trend: None,
            },
            writer,
        )?);
    }
    Ok(())
}

/// Who a message about PID/SL `p` goes to: the emails of its active (on `as_of`) Primary
/// User and backup; or, when it has neither, its organization's management, with a sentence
/// saying why `what` ("this action list") goes to them.
pub(crate) fn administrators_of_pidsl(
    snapshot: &Snapshot,
    p: u32,
    as_of: chrono::NaiveDate,
    what: &str,
) -> (Vec<String>, Option<String>) {
    let record = snapshot.pidsl(p);
    let administrators: Vec<String> = snapshot
        .access_on(p)
        .iter()
        .filter(|a| matches!(a.role, Role::Primary | Role::Backup))
        .map(|a| snapshot.user(a.user))
        .filter(|u| u.is_active(as_of))
        .map(|u| u.email.clone())
        .collect();
    if administrators.is_empty() {
        let o = &snapshot.orgs[record.org as usize];
        (
            o.management_emails.clone(),
            Some(format!(
                "{} has no active Primary User or backup, so {what} goes to the organization's management",
                record.pidsl
            )),
        )
    } else {
        (administrators, None)
    }
}

/// The first `max` of `findings` as a message lists them for a Primary User: each with its age
/// on `as_of` and its remediation as numbered POSC steps.
pub(crate) fn action_items(
    findings: &[&FindingRow],
    as_of: chrono::NaiveDate,
    max: usize,
) -> Vec<ActionItem> {
    findings
        .iter()
        .take(max)
        .map(|f| {
            let (lead, steps, note) = steps(&f.remediation);
            ActionItem {
                finding: MailFinding::new(f, as_of),
                lead,
                steps,
                note,
            }
        })
        .collect()
}

/// Each decision and what it does, as an action list tells the Primary User.
#[derive(Serialize)]
struct DecisionNote {
    label: &'static str,
    does: &'static str,
}

fn decision_notes() -> Vec<DecisionNote> {
    crate::domain::Decision::ALL
        .iter()
        .map(|d| DecisionNote {
            label: d.as_str(),
            does: d.in_one_line(),
        })
        .collect()
}

/// What a message carries besides its text: a workbook to attach (name, bytes) and a trend
/// chart (PNG) shown inline.
#[derive(Default)]
pub(crate) struct Parts {
    pub attachment: Option<(String, Vec<u8>)>,
    pub trend: Option<Vec<u8>>,
}

/// The mail stylesheet's inliner: it never fetches a stylesheet (the crate is built without
/// its http and file features, and remote loading is off), and drops the `<style>` block
/// once its rules are in style= attributes.
static INLINER: std::sync::LazyLock<css_inline::CSSInliner<'static>> =
    std::sync::LazyLock::new(|| {
        css_inline::CSSInliner::options()
            .load_remote_stylesheets(false)
            .keep_style_tags(false)
            .keep_link_tags(false)
            .build()
    });

/// `html` with its stylesheet inlined into style= attributes, as Outlook and Gmail need.
pub fn inline_css(html: &str) -> anyhow::Result<String> {
    INLINER
        .inline(html)
        .context("cannot inline the mail stylesheet")
}

/// Renders `template` (its .txt.j2 and .html.j2) with `context` into a message about `unit`,
/// keyed `<run>:<kind>:<unit>`, and writes it out.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build(
    input: &Sender,
    kind: &'static str,
    unit: String,
    to: Vec<String>,
    subject: String,
    template: &str,
    context: &Value,
    parts: Parts,
    writer: &mut MessageWriter,
) -> anyhow::Result<ComposedMail> {
    let (text, html) = input.cost.time(Part::Templates, || -> anyhow::Result<_> {
        Ok((
            input
                .templates
                .render(&format!("{template}.txt.j2"), context)?,
            input
                .templates
                .render(&format!("{template}.html.j2"), context)?,
        ))
    })?;
    let html = input.cost.time(Part::InlineCss, || inline_css(&html))?;
    let key = format!("{}:{kind}:{unit}", input.run_id);
    let mut builder = Message::builder()
        .from(input.mail.from.clone())
        .subject(subject.clone())
        .date(input.date.into())
        .message_id(Some(super::message_id(&key, input.store_id)));
    for address in &to {
        let email = crate::domain::Email::parse(address).map_err(anyhow::Error::msg)?;
        builder = builder.to(Mailbox::from(email.address().clone()));
    }
    let message = input.cost.time(Part::Mime, || -> anyhow::Result<_> {
        Ok(builder.multipart(body(text, html, parts)?)?.formatted())
    })?;
    let file = input
        .cost
        .time(Part::Write, || writer.write(kind, &unit, &message))?;
    Ok(ComposedMail {
        kind,
        unit,
        to,
        subject,
        file,
    })
}

/// The message's body: the plain-text and HTML alternatives (the HTML with its trend chart in
/// a multipart/related part, referred to as `cid:`[`TREND_CID`]), and the workbook attached.
fn body(text: String, html: String, parts: Parts) -> anyhow::Result<MultiPart> {
    let alternative = match parts.trend {
        Some(png) => MultiPart::alternative()
            .singlepart(lettre::message::SinglePart::plain(text))
            .multipart(
                MultiPart::related()
                    .singlepart(lettre::message::SinglePart::html(html))
                    .singlepart(
                        Attachment::new_inline(TREND_CID.to_string())
                            .body(png, ContentType::parse("image/png")?),
                    ),
            ),
        None => MultiPart::alternative_plain_html(text, html),
    };
    Ok(match parts.attachment {
        Some((name, bytes)) => MultiPart::mixed()
            .multipart(alternative)
            .singlepart(Attachment::new(name).body(bytes, ContentType::parse(XLSX)?)),
        None => alternative,
    })
}

/// A template value of anything serializable.
pub(crate) fn to_value(value: impl Serialize) -> Value {
    Value::from(minijinja::value::Serde(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RuleId;

    fn finding(status: FindingStatus, first_seen: &str) -> FindingRow {
        FindingRow {
            run_id: "20261001-001".into(),
            fingerprint: "f".into(),
            rule: RuleId::StaleUser,
            severity: RuleId::StaleUser.severity(),
            status,
            org_id: "ORG".into(),
            pidsl: String::new(),
            username: "ann".into(),
            user_name: "Ann Able".into(),
            detail: "detail".into(),
            remediation: RuleId::StaleUser.rule().remediation.into(),
            first_seen: first_seen.parse().unwrap(),
            facts: String::new(),
            decision: None,
        }
    }

    #[test]
    fn a_zip_holds_more_messages_than_a_zip_without_zip64_can() {
        // A statewide run has over 100,000 messages; a plain zip counts at most 65,535 entries.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mail.zip");
        let (sender, receiver) = std::sync::mpsc::sync_channel(4);
        let writer = std::thread::spawn({
            let path = path.clone();
            move || write_zip(&path, receiver)
        });
        for batch in 0..70 {
            let messages = (0..1_000)
                .map(|i| {
                    (
                        format!("action-list-{batch}-{i}.eml"),
                        b"Subject: x\r\n".to_vec(),
                    )
                })
                .collect();
            sender.send(messages).unwrap();
        }
        drop(sender);
        writer.join().unwrap().unwrap();
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(zip.len(), 70_000);
        let mut last = String::new();
        std::io::Read::read_to_string(
            &mut zip.by_name("action-list-69-999.eml").unwrap(),
            &mut last,
        )
        .unwrap();
        assert_eq!(last, "Subject: x\r\n");
    }

    #[test]
    fn a_finding_says_whether_it_is_new_or_how_long_it_has_been_open() {
        let as_of = "2026-10-01".parse().unwrap();
        assert_eq!(
            age(&finding(FindingStatus::New, "2026-10-01"), as_of),
            "new"
        );
        assert_eq!(
            age(&finding(FindingStatus::Open, "2026-08-17"), as_of),
            "open 45 days"
        );
        assert_eq!(
            age(&finding(FindingStatus::Open, "2026-09-30"), as_of),
            "open 1 day"
        );
        assert_eq!(
            age(&finding(FindingStatus::Accepted, "2026-01-01"), as_of),
            "accepted"
        );
    }

    #[test]
    fn a_posc_path_becomes_numbered_steps_and_what_follows_a_note() {
        let (lead, list, note) = steps(
            "Remove Sam Fox (sfox): Administer Account > Manage Subordinate Accounts > choose \
             110000001A from the Provider dropdown > Search > click the name of Sam Fox (sfox) > \
             on the Update Subordinate panel, click Remove > on the Confirmation panel, click \
             Close after verifying that your update has been performed; or, if the contract was \
             renewed, record its new end date.",
        );
        assert_eq!(lead, "Remove Sam Fox (sfox):");
        assert_eq!(
            list,
            [
                "Administer Account",
                "Manage Subordinate Accounts",
                "choose 110000001A from the Provider dropdown",
                "Search",
                "click the name of Sam Fox (sfox)",
                "on the Update Subordinate panel, click Remove",
                "on the Confirmation panel, click Close after verifying that your update has \
                 been performed",
            ]
        );
        assert_eq!(
            note,
            "or, if the contract was renewed, record its new end date."
        );
        let (lead, list, _) = steps("Administer Account > Manage Subordinate Accounts > Search.");
        assert_eq!(
            (lead.as_str(), list.len()),
            ("In the POSC:", 3),
            "a path alone"
        );
        let text = "Keep one user ID (Administer Account > Link Subordinate), then deactivate.";
        assert_eq!(steps(text), (text.to_string(), vec![], String::new()));
    }

    #[test]
    fn the_guides_numbered_steps_are_the_list_each_whole() {
        let (lead, list, note) = steps(
            "Delete the subordinate's account (Guide for the Primary User, Delete Subordinate \
             Accounts): 1. remove the user from your account: Administer Account > Remove; 2. \
             inform other organizations; 3. contact MassHealth Customer Service at \
             1-800-841-2900.",
        );
        assert_eq!(
            lead,
            "Delete the subordinate's account (Guide for the Primary User, Delete Subordinate \
             Accounts):"
        );
        assert_eq!(
            list,
            [
                "remove the user from your account: Administer Account > Remove",
                "inform other organizations",
                "contact MassHealth Customer Service at 1-800-841-2900",
            ]
        );
        assert_eq!(note, "");
    }

    #[test]
    fn a_trend_chart_is_an_inline_image_of_the_html_part() {
        let parts = Parts {
            attachment: Some(("book.xlsx".into(), b"PK".to_vec())),
            trend: Some(b"\x89PNG fake".to_vec()),
        };
        let html = format!("<p><img src=\"cid:{TREND_CID}\"></p>");
        let body = body("text".into(), html, parts).unwrap();
        let message = Message::builder()
            .from("a@example.org".parse().unwrap())
            .to("b@example.org".parse().unwrap())
            .subject("s")
            .multipart(body)
            .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        for needle in [
            "multipart/mixed",
            "multipart/alternative",
            "multipart/related",
            "Content-Type: image/png",
            &format!("Content-ID: <{TREND_CID}>"),
            "Content-Disposition: inline",
        ] {
            assert!(raw.contains(needle), "{needle} in {raw}");
        }
        // The related part (HTML and chart) comes after the plain text, inside the alternative.
        assert!(raw.find("text/plain").unwrap() < raw.find("multipart/related").unwrap());
    }

    #[test]
    fn the_inlined_html_keeps_no_style_block_and_no_custom_property() {
        let templates = Templates::load("").unwrap();
        let html = templates
            .render(
                "_mail.html.j2",
                minijinja::context! { generator => "posc-review" },
            )
            .unwrap();
        assert!(html.contains("<style>"));
        let inlined = inline_css(&html).unwrap();
        assert!(!inlined.contains("<style"), "{inlined}");
        assert!(!inlined.contains("var("), "{inlined}");
        assert!(inlined.contains("style=\""), "{inlined}");
    }
}
