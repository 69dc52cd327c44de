//! The reminder pass (`posc-review remind`, and the scheduler at each local midnight): the
//! review loop's follow-ups of each organization's latest review.
//!
//! - From `review.remind_after_days` after the review, the Primary User and backup of each
//!   active PID/SL with *undecided* findings (new or open, no decision carried into the run and
//!   none recorded on it since) get one reminder listing them, keyed
//!   `<run-id>:reminder:<pidsl>`; a PID/SL without an active Primary User or backup has it sent
//!   to the organization's management, as its action list was.
//! - From `review.escalate_after_days`, the organization's management gets one escalation
//!   listing those PID/SLs, their counts and administrators, keyed
//!   `<run-id>:escalation:<org-id>`.
//!
//! A key already in the outbox is neither composed nor queued again, so a pass may run any
//! number of times a day. A message only ever carries its own organization's data. Without
//! `send`, the messages are written as `.eml` previews and nothing is recorded.

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::FindingStatus;
use crate::mail::compose::{
    action_items, administrators_of_pidsl, build, compose_each, to_value, ComposedMail, MailOut,
    MessageWriter, OrgProblem, OrgRef, Parts, Sender,
};
use crate::mail::DeliveryReport;
use crate::records::{FindingRow, OrgReview};
use crate::report::html::generator;
use crate::report::summary::pidsls_of_finding;
use crate::report::Admin;
use crate::snapshot::Snapshot;
use crate::store::{Store, ESCALATION_KIND, REMINDER_KIND};
use anyhow::Context;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// What a pass is asked to do.
#[derive(Debug, Clone)]
pub struct RemindRequest {
    /// The pass's date: days are counted from each review's as_of to it.
    pub as_of: NaiveDate,
    /// Queue the messages in the outbox (for the caller to deliver); otherwise write previews
    /// under `out_dir`.
    pub send: bool,
    pub out_dir: PathBuf,
}

/// One message of a pass.
#[derive(Debug, Clone, Serialize)]
pub struct FollowUpMessage {
    /// `reminder` or `escalation`.
    pub kind: &'static str,
    /// The review it follows up.
    pub run_id: String,
    pub org_id: String,
    /// The PID/SL of a reminder, the org_id of an escalation.
    pub recipient: String,
    pub to: Vec<String>,
    /// The undecided findings it is about.
    pub undecided: usize,
    /// Days since the review.
    pub days: i64,
    /// Its preview (a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

/// What a pass did.
#[derive(Debug, Default, Serialize)]
pub struct RemindOutcome {
    pub as_of: Option<NaiveDate>,
    /// The messages due and not queued before: written as previews, or queued.
    pub messages: Vec<FollowUpMessage>,
    /// A dry run's folder of previews (none when nothing was due).
    pub preview_dir: Option<PathBuf>,
    /// Queued in the outbox (`send`).
    pub queued: usize,
    /// The delivery that followed (`remind --send`; the scheduler's courier delivers its own).
    pub delivery: Option<DeliveryReport>,
    /// Organizations whose messages could not be made, and why.
    pub problems: Vec<OrgProblem>,
}

/// One organization on a pass: its latest review and its undecided findings by active PID/SL.
pub(crate) struct OrgDue<'a> {
    pub review: &'a OrgReview,
    /// Index into the snapshot's organizations.
    pub org: u32,
    /// Days from the review to the pass.
    pub days: i64,
    /// Each active PID/SL of the organization with undecided findings (in PID/SL order) and
    /// them, most severe first.
    pub pidsls: Vec<(u32, Vec<&'a FindingRow>)>,
}

/// Runs one pass (see the module documentation).
pub async fn remind(
    store: &dyn Store,
    settings: &Settings,
    request: &RemindRequest,
    clock: &SharedClock,
) -> anyhow::Result<RemindOutcome> {
    let mut outcome = RemindOutcome {
        as_of: Some(request.as_of),
        ..RemindOutcome::default()
    };
    let steps = Steps::of(settings);
    let reviews: Vec<OrgReview> = store
        .latest_org_reviews()
        .await?
        .into_iter()
        .filter(|r| (request.as_of - r.as_of).num_days() >= steps.first())
        .collect();
    if reviews.is_empty() {
        return Ok(outcome);
    }
    // Checked once something is due: a pass with nothing to send needs no mail settings.
    let templates = crate::mail::checked_templates(settings, request.send, clock)?;
    let started = std::time::Instant::now();
    let snapshot = store.load_snapshot(settings.review.time_zone).await?;
    let store_id = store.store_info().await?.store_id;

    // Per reviewed run: its findings and the decisions that make them decided; then the
    // follow-ups queued before, of every run in one query (their keys are
    // `<run_id>:<kind>:<recipient>`, as ComposedMail::key makes them).
    let mut by_run: BTreeMap<&str, Vec<&OrgReview>> = BTreeMap::new();
    for r in &reviews {
        by_run.entry(r.run_id.as_str()).or_default().push(r);
    }
    let run_ids: Vec<String> = by_run.keys().map(|id| id.to_string()).collect();
    let mut loaded: Vec<(Vec<&OrgReview>, Vec<FindingRow>)> = Vec::new();
    for (run_id, org_reviews) in by_run {
        let findings = store.findings(run_id, None, None).await?;
        loaded.push((org_reviews, undecided(store, run_id, findings).await?));
    }
    let queued: HashSet<String> = store
        .follow_ups(&run_ids)
        .await?
        .into_iter()
        .map(|f| format!("{}:{}:{}", f.run_id, f.kind, f.recipient))
        .collect();
    tracing::info!(
        reviews = reviews.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "snapshot and undecided findings read"
    );
    let dues: Vec<OrgDue> = loaded
        .iter()
        .flat_map(|(org_reviews, findings)| {
            orgs_due(&snapshot, org_reviews, findings, request.as_of)
        })
        .collect();

    // `send` composes into a spool beside the runs' folders (as a review does), removed once
    // the messages are queued; a dry run into its preview folder.
    let written = if request.send {
        crate::files::create_dir_all(&request.out_dir)
            .with_context(|| format!("cannot create {}", request.out_dir.display()))?;
        let spool = tempfile::Builder::new()
            .prefix(".reminders-")
            .suffix(".outbox")
            .tempdir_in(&request.out_dir)
            .with_context(|| format!("cannot create a spool in {}", request.out_dir.display()))?;
        Written::Spool(spool)
    } else {
        Written::Preview(PreviewFolder::create(&request.out_dir, request.as_of)?)
    };
    let out = match &written {
        Written::Preview(folder) => MailOut::Eml(&folder.partial),
        Written::Spool(spool) => MailOut::Spool(spool.path()),
    };
    let date = clock.now();
    let started = std::time::Instant::now();
    let cost = crate::mail::cost::ComposeCost::default();
    let composed = compose_each(&dues, out, None, |due, writer| {
        let sender = Sender {
            mail: &settings.mail,
            date,
            store_id: &store_id,
            templates: &templates,
            run_id: &due.review.run_id,
            cost: &cost,
        };
        let mut mails = Vec::new();
        let Err(e) = compose_org(&sender, steps, &snapshot, due, &queued, writer, &mut mails)
        else {
            return Ok(Ok(mails));
        };
        if e.chain().any(|cause| cause.is::<std::io::Error>()) {
            return Err(e);
        }
        // An organization's messages are all made or none: drop what it had made.
        writer.discard();
        let org_id = &snapshot.orgs[due.org as usize].org_id;
        let error = format!("{e:#}");
        tracing::error!(org_id = %org_id, error = %error,
            "the organization's reminders could not be made; the others go on");
        Ok(Err(OrgProblem {
            org_id: org_id.clone(),
            error,
        }))
    })?;
    tracing::info!(
        organizations = dues.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "reminders composed"
    );
    let mut all = Vec::new();
    for result in composed {
        match result {
            Ok(mails) => all.extend(mails),
            Err(problem) => outcome.problems.push(problem),
        }
    }
    let (mails, messages): (Vec<ComposedMail>, Vec<FollowUpMessage>) = all.into_iter().unzip();
    outcome.messages = messages;
    match written {
        Written::Preview(folder) => {
            for (message, mail) in outcome.messages.iter_mut().zip(&mails) {
                let name = mail.file.path.file_name().unwrap_or_default();
                message.file = Some(folder.done.join(name));
            }
            outcome.preview_dir = folder.finish(!mails.is_empty())?;
        }
        // The spool is read as the messages are queued, and removed after.
        Written::Spool(_spool) => {
            let outgoing: Vec<_> = mails
                .into_iter()
                .zip(&outcome.messages)
                .map(|(mail, message)| mail.outgoing(&message.run_id))
                .collect();
            let started = std::time::Instant::now();
            let keys: HashSet<String> = store
                .queue_follow_ups(&outgoing, clock.now())
                .await?
                .into_iter()
                .collect();
            tracing::info!(
                queued = keys.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "reminders queued"
            );
            // Another pass may have queued some meanwhile: list only this one's.
            outcome
                .messages
                .retain(|m| keys.contains(&format!("{}:{}:{}", m.run_id, m.kind, m.recipient)));
            outcome.queued = keys.len();
        }
    }
    Ok(outcome)
}

/// The findings of `findings` (one run's) that are undecided: new or open, no decision carried
/// into the run ([`crate::review::current_decision`] of the latest one before it, as the run
/// classified them) and none recorded on the run since.
async fn undecided(
    store: &dyn Store,
    run_id: &str,
    findings: Vec<FindingRow>,
) -> anyhow::Result<Vec<FindingRow>> {
    let Some(run) = store.run(run_id).await? else {
        return Ok(Vec::new());
    };
    let recorded: HashSet<String> = store
        .decisions(Some(run_id))
        .await?
        .into_iter()
        .map(|d| d.fingerprint)
        .collect();
    let carried = store.latest_decisions(run_id).await?;
    Ok(findings
        .into_iter()
        .filter(|f| matches!(f.status, FindingStatus::New | FindingStatus::Open))
        .filter(|f| !recorded.contains(&f.fingerprint))
        .filter(|f| {
            crate::review::current_decision(carried.get(&f.fingerprint), &f.facts, run.as_of)
                .is_none()
        })
        .collect())
}

/// The organizations of `reviews` (all of one run) with undecided findings on an active PID/SL
/// of theirs today, each PID/SL with its own findings only (as the action lists group them:
/// [`pidsls_of_finding`]). An organization gone from the store is left out.
fn orgs_due<'a>(
    snapshot: &Snapshot,
    reviews: &[&'a OrgReview],
    undecided: &'a [FindingRow],
    as_of: NaiveDate,
) -> Vec<OrgDue<'a>> {
    let mut by_org: HashMap<&str, Vec<&'a FindingRow>> = HashMap::new();
    for f in undecided {
        by_org.entry(f.org_id.as_str()).or_default().push(f);
    }
    reviews
        .iter()
        .filter_map(|review| {
            let org = snapshot.org_index(&review.org_id)?;
            let mut pidsls: BTreeMap<u32, Vec<&'a FindingRow>> = BTreeMap::new();
            for f in by_org.get(review.org_id.as_str()).into_iter().flatten() {
                for p in pidsls_of_finding(snapshot, f) {
                    let record = snapshot.pidsl(p);
                    if record.active && record.org == org {
                        pidsls.entry(p).or_default().push(f);
                    }
                }
            }
            let mut pidsls: Vec<(u32, Vec<&FindingRow>)> = pidsls.into_iter().collect();
            pidsls.sort_by(|a, b| snapshot.pidsl(a.0).pidsl.cmp(&snapshot.pidsl(b.0).pidsl));
            for (_, list) in &mut pidsls {
                list.sort_by_key(|f| std::cmp::Reverse(f.severity));
            }
            (!pidsls.is_empty()).then(|| OrgDue {
                review,
                org,
                days: (as_of - review.as_of).num_days(),
                pidsls,
            })
        })
        .collect()
}

/// When follow-ups are due: days after a review.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    pub remind: i64,
    pub escalate: i64,
}

impl Steps {
    fn of(settings: &Settings) -> Steps {
        Steps {
            remind: settings.review.remind_after_days.into(),
            escalate: settings.review.escalate_after_days.into(),
        }
    }

    /// The first day anything is due.
    fn first(self) -> i64 {
        self.remind.min(self.escalate)
    }
}

/// A PID/SL as an escalation lists it.
#[derive(Serialize)]
struct UndecidedPidSl<'a> {
    pidsl: &'a str,
    name: &'a str,
    undecided: usize,
    primary: Option<Admin>,
    backup: Option<Admin>,
}

/// One organization's reminders (from `remind_after_days`) and escalation (from
/// `escalate_after_days`), but those whose key is in `queued`, written through `writer` and
/// pushed to `mails` one by one (so that a failure part-way leaves the ones written known).
pub(crate) fn compose_org(
    sender: &Sender,
    steps: Steps,
    snapshot: &Snapshot,
    due: &OrgDue,
    queued: &HashSet<String>,
    writer: &mut MessageWriter,
    mails: &mut Vec<(ComposedMail, FollowUpMessage)>,
) -> anyhow::Result<()> {
    let o = &snapshot.orgs[due.org as usize];
    let run = &due.review;
    let pass_date = run.as_of + chrono::Duration::days(due.days);
    let escalate_on = run.as_of + chrono::Duration::days(steps.escalate);
    let run_ctx = minijinja::context! { id => &run.run_id, as_of => run.as_of.to_string() };
    let org_ref = to_value(OrgRef {
        org_id: &o.org_id,
        name: &o.name,
    });
    let message = |mail: &ComposedMail, undecided: usize| FollowUpMessage {
        kind: mail.kind,
        run_id: run.run_id.clone(),
        org_id: o.org_id.clone(),
        recipient: mail.unit.clone(),
        to: mail.to.clone(),
        undecided,
        days: due.days,
        file: None,
    };
    let key = |kind: &str, unit: &str| format!("{}:{kind}:{unit}", run.run_id);
    let max = sender.mail.max_findings_listed;
    if due.days >= steps.remind {
        for (p, findings) in &due.pidsls {
            let record = snapshot.pidsl(*p);
            let pidsl = record.pidsl.as_str();
            if queued.contains(&key(REMINDER_KIND, pidsl)) {
                continue;
            }
            let (to, fallback) = administrators_of_pidsl(snapshot, *p, pass_date, "this reminder");
            let workbook = crate::report::xlsx::decision_workbook_file_name(&run.run_id, pidsl);
            let context = minijinja::context! {
                run => run_ctx.clone(),
                org => org_ref.clone(),
                pidsl => minijinja::context! { pidsl => pidsl, name => &record.name },
                days => due.days,
                findings => to_value(action_items(findings, run.as_of, max)),
                undecided => findings.len(),
                more => findings.len().saturating_sub(max),
                fallback => fallback,
                workbook => workbook,
                escalate_on => (pass_date < escalate_on).then(|| escalate_on.to_string()),
                generator => generator(),
            };
            let subject = format!(
                "Reminder: {} on {pidsl} awaiting your decision (POSC access review {})",
                crate::output::count(findings.len(), "finding"),
                run.as_of
            );
            let mail = build(
                sender,
                REMINDER_KIND,
                pidsl.to_string(),
                to,
                subject,
                "reminder",
                &context,
                Parts::default(),
                writer,
            )?;
            let m = message(&mail, findings.len());
            mails.push((mail, m));
        }
    }
    if due.days >= steps.escalate && !queued.contains(&key(ESCALATION_KIND, &o.org_id)) {
        let admins = crate::report::administrators_of_org(snapshot, due.org, pass_date);
        let admins: HashMap<&str, &crate::report::PidSlAdmins> =
            admins.iter().map(|a| (a.pidsl.as_str(), a)).collect();
        let pidsls: Vec<UndecidedPidSl> = due
            .pidsls
            .iter()
            .map(|(p, findings)| {
                let record = snapshot.pidsl(*p);
                let held = admins.get(record.pidsl.as_str());
                UndecidedPidSl {
                    pidsl: record.pidsl.as_str(),
                    name: &record.name,
                    undecided: findings.len(),
                    primary: held.and_then(|a| a.primary.clone()),
                    backup: held.and_then(|a| a.backup.clone()),
                }
            })
            .collect();
        // A user's finding may be on several of the PID/SLs: counted once.
        let undecided = due
            .pidsls
            .iter()
            .flat_map(|(_, f)| f.iter().map(|f| f.fingerprint.as_str()))
            .collect::<HashSet<&str>>()
            .len();
        let context = minijinja::context! {
            run => run_ctx,
            org => org_ref,
            days => due.days,
            undecided => undecided,
            pidsls => to_value(&pidsls),
            generator => generator(),
        };
        let subject = format!(
            "Escalation: {} of {} awaiting a decision {} days after the POSC access review {}",
            crate::output::count(pidsls.len(), "PID/SL"),
            o.name,
            due.days,
            run.as_of
        );
        let mail = build(
            sender,
            ESCALATION_KIND,
            o.org_id.clone(),
            o.management_emails.clone(),
            subject,
            "escalation",
            &context,
            Parts::default(),
            writer,
        )?;
        let m = message(&mail, undecided);
        mails.push((mail, m));
    }
    Ok(())
}

/// Where a pass writes its messages.
enum Written {
    Preview(PreviewFolder),
    Spool(tempfile::TempDir),
}

/// A dry run's folder of previews, `OUT/reminders-<as-of>-NNN/`: written as
/// `OUT/.reminders-<as-of>-NNN.partial/`, then renamed, so that a folder by that name is always
/// whole; the number is the first whose names are both free, the partial folder created
/// exclusively (two passes at once never share one).
struct PreviewFolder {
    partial: PathBuf,
    done: PathBuf,
}

impl PreviewFolder {
    fn create(out_dir: &Path, as_of: NaiveDate) -> anyhow::Result<PreviewFolder> {
        crate::files::create_dir_all(out_dir)
            .with_context(|| format!("cannot create {}", out_dir.display()))?;
        for n in 1..10_000 {
            let name = format!("reminders-{as_of}-{n:03}");
            let done = out_dir.join(&name);
            let partial = out_dir.join(format!(".{name}.partial"));
            if done.exists() {
                continue;
            }
            match crate::files::create_new_dir(&partial) {
                Ok(()) => return Ok(PreviewFolder { partial, done }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", partial.display()))
                }
            }
        }
        anyhow::bail!(
            "no free name for the reminders' previews in {}",
            out_dir.display()
        )
    }

    /// Renames the folder into place when it holds messages (otherwise it goes on drop).
    fn finish(self, any: bool) -> anyhow::Result<Option<PathBuf>> {
        if !any {
            return Ok(None);
        }
        std::fs::rename(&self.partial, &self.done).with_context(|| {
            format!(
                "cannot move {} to {}",
                self.partial.display(),
                self.done.display()
            )
        })?;
        Ok(Some(self.done.clone()))
    }
}

impl Drop for PreviewFolder {
    /// A pass that failed, or had nothing to preview, leaves no partial folder behind.
    fn drop(&mut self) {
        if self.partial.exists() {
            let _ = std::fs::remove_dir_all(&self.partial);
        }
    }
}
