//! One review run: load the snapshot, evaluate the rules, compare each organization's findings
//! with its previous review, write the outputs, and record the run and its findings.
//!
//! **Crashes.** A run writes into `OUT/.<run-id>.partial/` (and a `--send` run composes into
//! `OUT/.<run-id>.outbox/`), stores its findings in one transaction, and only then renames the
//! work folder to `OUT/<run-id>/`: a folder with the run's name always holds a run the store
//! has. While it runs, the run names its process and renews a heartbeat ([`crate::liveness`]).
//! A process killed part-way records nothing, so every command that writes starts with
//! [`reconcile_runs`]: a `running` run whose process is gone becomes `failed` with the reason
//! and its partial folders are removed; a run stored just before its process died gets its
//! folder renamed then. Of 25 reviews killed at random points before this, 21 stayed `running`
//! for ever and one left a complete-looking folder for a run with no findings.

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::{Cadence, Decision, FindingStatus, RunStatus, Severity};
use crate::error::UsageError;
use crate::liveness::{AbortOnDrop, Owner, HEARTBEAT, STALE_AFTER_SECS};
use crate::mail::compose::{ComposedMail, MailOut, OrgProblem};
use crate::report;
use crate::report::summary::FollowUpCounts;
use crate::rules::{self, Finding, RuleContext};
use crate::snapshot::Snapshot;
use crate::store::{
    FindingRow, NewRun, OutgoingMail, PriorDecision, RunCounts, RunRecord, Store, TrendPoint,
};
use crate::templates::Templates;
use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::Instrument;

/// What to review.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    pub as_of: NaiveDate,
    pub cadence: Option<Cadence>,
    /// Empty: every organization (of the cadence, if given).
    pub org_ids: Vec<String>,
    pub out_dir: PathBuf,
    /// Queue the run's mail in the outbox and deliver it (`--send`); otherwise write it as
    /// .eml files into the run's folder.
    pub send: bool,
}

/// What became of a run's mail.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MailOutcome {
    /// Messages queued in the outbox (`--send`).
    pub queued: usize,
    /// Messages written as .eml files (a dry run).
    pub written: usize,
    /// Where a dry run wrote them, in the run's folder: `mail` (a folder of .eml files) or,
    /// past [`crate::mail::compose::MAX_EML_FILES`] messages, `mail.zip`.
    pub written_to: Option<PathBuf>,
    /// The delivery that followed queuing.
    pub delivery: Option<crate::mail::DeliveryReport>,
}

/// A completed run and where its files went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReviewOutcome {
    pub run: RunRecord,
    pub out_dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// How many findings of each severity are neither accepted nor suppressed (what
    /// `--fail-on` looks at).
    pub unaccepted_by_severity: std::collections::BTreeMap<Severity, usize>,
    pub mail: MailOutcome,
    /// Organizations whose workbook or messages could not be produced; the run completed for
    /// the others (see [`crate::mail::compose`]).
    pub problems: Vec<OrgProblem>,
}

/// A finding's identity across runs: rule, org_id, PID/SL and username.
pub fn fingerprint(rule: &str, org_id: &str, pidsl: &str, username: &str) -> String {
    let mut hash = Sha256::new();
    for part in [rule, org_id, pidsl, &username.to_lowercase()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A hash of what a finding says: its detail and the services its user holds on its PID/SL
/// (on every PID/SL, for a finding about no PID/SL). A Not a problem decision holds while it
/// stays the same. The ages a detail counts to the review date ("29 days before the review")
/// are left out: they change at every review while the facts stay.
pub fn facts(snapshot: &Snapshot, finding: &Finding) -> String {
    let mut hash = Sha256::new();
    hash.update(without_ages(&finding.detail).as_bytes());
    if let Some(user) = finding.user {
        let pidsls: Vec<u32> = match finding.pidsl {
            Some(p) => vec![p],
            None => snapshot
                .pidsls_of_user(&snapshot.user(user).username)
                .to_vec(),
        };
        let mut held: Vec<(&str, String)> = pidsls
            .into_iter()
            .flat_map(|p| snapshot.access_on(p).iter().filter(move |a| a.user == user))
            .map(|a| {
                (
                    snapshot.pidsl(a.pidsl).pidsl.as_str(),
                    a.services.to_string(),
                )
            })
            .collect();
        held.sort_unstable();
        for (pidsl, services) in held {
            hash.update([0]);
            hash.update(pidsl.as_bytes());
            hash.update([0]);
            hash.update(services.as_bytes());
        }
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `detail` without the number of days before each "before the review" in it.
fn without_ages(detail: &str) -> String {
    const AGE: &str = " before the review";
    let mut kept = String::with_capacity(detail.len());
    let mut rest = detail;
    while let Some(at) = rest.find(AGE) {
        let head = &rest[..at];
        let head = head
            .strip_suffix(" days")
            .or_else(|| head.strip_suffix(" day"))
            .map_or(head, |h| h.trim_end_matches(|c: char| c.is_ascii_digit()));
        kept.push_str(head);
        kept.push_str(AGE);
        rest = &rest[at + AGE.len()..];
    }
    kept.push_str(rest);
    kept
}

fn scope_key(request: &ReviewRequest) -> String {
    let mut orgs = request.org_ids.clone();
    orgs.sort();
    orgs.dedup();
    match (&request.cadence, orgs.is_empty()) {
        (None, true) => "all".to_string(),
        (Some(c), true) => format!("cadence:{c}"),
        (None, false) => format!("org:{}", orgs.join(";")),
        (Some(c), false) => format!("cadence:{c};org:{}", orgs.join(";")),
    }
}

/// Which organizations the request covers, as a mask over `snapshot.orgs`.
fn scope_mask(snapshot: &Snapshot, request: &ReviewRequest) -> Result<Vec<bool>, UsageError> {
    let unknown: Vec<&String> = request
        .org_ids
        .iter()
        .filter(|id| snapshot.org_index(id).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(UsageError(format!(
            "{}: {}; `posc-review import` them first",
            crate::output::count(unknown.len(), "unknown organization"),
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(snapshot
        .orgs
        .iter()
        .map(|org| {
            request.cadence.is_none_or(|c| c == org.cadence)
                && (request.org_ids.is_empty() || request.org_ids.contains(&org.org_id))
        })
        .collect())
}

/// Runs one review; a failure part-way is recorded as a failed run with no findings and no
/// output folder. With `request.send`, the run's mail is queued in the same transaction as its
/// findings and then delivered; otherwise it is written as .eml files into the run's folder.
/// The store is shared with the task that renews the run's heartbeat.
pub async fn run_review(
    store: &Arc<dyn Store>,
    settings: &Settings,
    request: &ReviewRequest,
    clock: &SharedClock,
) -> anyhow::Result<ReviewOutcome> {
    run_review_observed(store, settings, request, clock, &()).await
}

/// The points of a run an observer is told of, in the order a run reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewStage {
    /// The run is recorded as `running` and its heartbeat renewed; nothing is written yet.
    RunStarted,
    /// Its files are in `OUT/.<run-id>.partial/` (and its mail in `.outbox/`), not yet stored.
    OutputsWritten,
    /// Its findings are stored, its folder not yet renamed to `OUT/<run-id>/`.
    RunStored,
}

/// Told of a run's [`ReviewStage`]s as it reaches them; the run waits for each call (the
/// heartbeat goes on meanwhile).
#[async_trait::async_trait]
pub trait ReviewObserver: Send + Sync {
    async fn reached(&self, stage: ReviewStage, run: &RunRecord);
}

/// Nobody watching: [`run_review`].
#[async_trait::async_trait]
impl ReviewObserver for () {
    async fn reached(&self, _stage: ReviewStage, _run: &RunRecord) {}
}

/// [`run_review`], telling `observer` of each stage the run reaches (the scheduler ties its
/// period claim to the run id once it is started, to record the run if it is interrupted).
pub async fn run_review_observed(
    shared_store: &Arc<dyn Store>,
    settings: &Settings,
    request: &ReviewRequest,
    clock: &SharedClock,
    observer: &dyn ReviewObserver,
) -> anyhow::Result<ReviewOutcome> {
    let store = shared_store.as_ref();
    // A broken template is reported before the run starts, not after the rules have run.
    let templates = crate::mail::checked_templates(settings, request.send, clock)?;
    let store_id = store.store_info().await?.store_id;
    let loading = std::time::Instant::now();
    let snapshot = store.load_snapshot(settings.review.time_zone).await?;
    tracing::info!(
        users = snapshot.users.len(),
        access_rows = snapshot.access.len(),
        elapsed_ms = loading.elapsed().as_millis() as u64,
        "snapshot loaded"
    );
    let in_scope = scope_mask(&snapshot, request)?;
    let owner = Owner::this_process().to_string();
    let out_root = std::path::absolute(&request.out_dir).with_context(|| {
        format!(
            "cannot resolve the output folder {}",
            request.out_dir.display()
        )
    })?;
    let started = clock.now().with_timezone(&settings.review.time_zone);
    let new_run = NewRun {
        started,
        as_of: request.as_of,
        cadence: request.cadence,
        org_ids: &request.org_ids,
        scope_key: &scope_key(request),
        owner: &owner,
        out_root: &out_root.display().to_string(),
        first_sequence: first_free_sequence(&request.out_dir, started.date_naive()),
    };
    let run = start_run_with_folder(store, new_run, &request.out_dir, clock, observer).await?;
    let _heartbeat = keep_alive(shared_store.clone(), clock.clone(), &run.id, &owner);
    let span = tracing::info_span!("review", run_id = %run.id, as_of = %request.as_of);
    let context = RunContext {
        store,
        settings,
        request,
        snapshot: &snapshot,
        in_scope: &in_scope,
        templates: &templates,
        clock,
        observer,
        store_id: &store_id,
    };
    let result = context.complete(run.clone()).instrument(span.clone()).await;
    let mut outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(run_id = %run.id, error = %format!("{e:#}"), "review failed");
            store
                .fail_run(&run.id, &format!("{e:#}"), clock.now(), None)
                .await?;
            RunFolders::new(&request.out_dir, &run.id).remove_unfinished();
            return Err(e);
        }
    };
    if request.send {
        // The run is complete and its mail queued: a delivery problem leaves the messages
        // pending for `posc-review send`, it does not undo the run.
        let delivery = crate::mail::deliver_queued(store, settings, clock, outcome.mail.queued)
            .instrument(span)
            .await;
        outcome.mail.delivery = Some(delivery);
    }
    Ok(outcome)
}

/// What one run works with.
struct RunContext<'a> {
    store: &'a dyn Store,
    settings: &'a Settings,
    request: &'a ReviewRequest,
    snapshot: &'a Snapshot,
    in_scope: &'a [bool],
    templates: &'a Templates,
    clock: &'a SharedClock,
    observer: &'a dyn ReviewObserver,
    /// The store's random id, for the Message-IDs.
    store_id: &'a str,
}

impl RunContext<'_> {
    async fn complete(&self, mut run: RunRecord) -> anyhow::Result<ReviewOutcome> {
        let (store, snapshot) = (self.store, self.snapshot);
        let started = std::time::Instant::now();
        let ctx = rule_context(self.settings, self.request.as_of);
        let findings = rules::evaluate(snapshot, &ctx, Some(self.in_scope));
        tracing::info!(
            findings = findings.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "rules evaluated"
        );

        // Each organization's findings are compared with its own previous review, whatever
        // that run's scope.
        let org_ids: Vec<String> = snapshot
            .orgs
            .iter()
            .zip(self.in_scope)
            .filter(|(_, in_scope)| **in_scope)
            .map(|(o, _)| o.org_id.clone())
            .collect();
        let reading = std::time::Instant::now();
        let previous = store.previous_org_findings(&org_ids, &run.id).await?;
        tracing::info!(
            findings = previous.len(),
            elapsed_ms = reading.elapsed().as_millis() as u64,
            "previous reviews read"
        );
        let decisions = store.latest_decisions(&run.id).await?;
        let (rows, counts) = classify(snapshot, &run, findings, &previous, &decisions);
        run.counts = counts;
        let follow_ups = self.follow_ups(&previous, &rows, &decisions).await?;
        let trends = self.trends(&run, &rows, org_ids).await?;

        let RunFolders {
            work: work_dir,
            spool,
            done: final_dir,
        } = RunFolders::new(&self.request.out_dir, &run.id);
        // `--send` composes into a spool that the outbox reads when the run is stored, and
        // that goes once it is (or once the run has failed).
        let spool = Spool(spool);
        let (eml_dir, zip) = (work_dir.join("mail"), work_dir.join("mail.zip"));
        let mail_out = if self.request.send {
            MailOut::Spool(&spool.0)
        } else {
            let messages = crate::mail::compose::message_count(snapshot, self.in_scope, &rows);
            MailOut::preview(&eml_dir, &zip, messages)
        };
        let (mut files, mails, problems) = self
            .write_outputs(
                &work_dir,
                mail_out,
                &run,
                &rows,
                History {
                    previous: &previous,
                    follow_ups,
                    trends,
                },
            )
            .with_context(|| format!("cannot write the run's files into {}", work_dir.display()))?;
        self.observer
            .reached(ReviewStage::OutputsWritten, &run)
            .await;

        // An organization whose report could not be made was not reviewed (review-overdue
        // keeps counting for it).
        let reviewed: Vec<String> = snapshot
            .orgs
            .iter()
            .zip(self.in_scope)
            .filter(|(o, s)| **s && !problems.iter().any(|p| p.org_id == o.org_id))
            .map(|(o, _)| o.org_id.clone())
            .collect();
        let problems_text = (!problems.is_empty()).then(|| problems_text(&problems));
        let finished = self.clock.now();
        let written = mails.len();
        let outbox: Vec<OutgoingMail> = if self.request.send {
            mails.into_iter().map(|m| m.outgoing(&run.id)).collect()
        } else {
            Vec::new()
        };
        let record = crate::store::CompletedRun {
            findings: &rows,
            reviewed_org_ids: &reviewed,
            out_dir: &final_dir.display().to_string(),
            finished_at: finished,
            outbox: &outbox,
            problems: problems_text.as_deref(),
        };
        let started = std::time::Instant::now();
        store.complete_run(&run, &record).await?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "run stored"
        );
        self.observer.reached(ReviewStage::RunStored, &run).await;
        // Stored first, then named: `OUT/<run-id>/` never holds a run the store does not.
        let owner = run.owner.take().unwrap_or_default();
        run.out_dir = Some(final_dir.display().to_string());
        let (folder, folder_error) = match std::fs::rename(&work_dir, &final_dir) {
            Ok(()) => (final_dir, None),
            Err(e) => {
                let error = format!(
                    "the run is stored, but its files are still in {}: cannot move them to {}: {e}; \
                     the next posc-review command that writes moves them",
                    work_dir.display(),
                    final_dir.display()
                );
                tracing::error!(error = %error, "run folder not in place");
                (work_dir, Some(error))
            }
        };
        // Should this fail, the run keeps its owner and the next command finishes the job.
        if let Err(e) = store
            .release_run(&run.id, &owner, folder_error.as_deref(), false)
            .await
        {
            tracing::warn!(error = %format!("{e:#}"), "cannot record the run's folder");
        }
        run.error = match (folder_error, problems_text) {
            (Some(folder), Some(problems)) => Some(format!("{folder}; {problems}")),
            (folder, problems) => folder.or(problems),
        };
        files.iter_mut().for_each(|f| *f = folder.join(&*f));
        let written_to = preview_name(mail_out).map(|name| folder.join(name));
        run.status = RunStatus::Completed;
        run.finished_at = Some(finished);
        let mut unaccepted_by_severity = std::collections::BTreeMap::new();
        for severity in rows
            .iter()
            .filter(|r| !r.status.set_aside())
            .map(|r| r.severity)
        {
            *unaccepted_by_severity.entry(severity).or_insert(0) += 1;
        }
        tracing::info!(findings = rows.len(), out_dir = %folder.display(), "review completed");
        Ok(ReviewOutcome {
            run,
            out_dir: folder,
            files,
            unaccepted_by_severity,
            mail: MailOutcome {
                queued: outbox.len(),
                written: if self.request.send { 0 } else { written },
                written_to,
                delivery: None,
            },
            problems,
        })
    }

    /// What the review loop did about each organization's previous review: reminders and
    /// escalations (one query for every previous review), and the findings decided Fix in POSC
    /// that are gone now.
    async fn follow_ups(
        &self,
        previous: &[FindingRow],
        rows: &[FindingRow],
        decisions: &HashMap<String, PriorDecision>,
    ) -> anyhow::Result<HashMap<String, FollowUpCounts>> {
        let mut run_ids: Vec<String> = report::summary::previous_reviews(previous)
            .into_values()
            .map(str::to_string)
            .collect();
        run_ids.sort_unstable();
        run_ids.dedup();
        let sent = self.store.follow_ups(&run_ids).await?;
        Ok(report::summary::follow_up_counts(
            self.snapshot,
            previous,
            rows,
            decisions,
            &sent,
        ))
    }

    /// The run's trends: the scope's last [`TREND_REVIEWS`] reviews (each the sum of its
    /// organizations') and each organization's in scope, this run's own point last, computed
    /// from its classified rows in one pass; two queries for the history, whatever the number
    /// of organizations.
    async fn trends(
        &self,
        run: &RunRecord,
        rows: &[FindingRow],
        org_ids: Vec<String>,
    ) -> anyhow::Result<Trends> {
        let started = std::time::Instant::now();
        let earlier = TREND_REVIEWS - 1;
        let point = |open| TrendPoint {
            run_id: run.id.clone(),
            as_of: run.as_of,
            open,
        };
        let mut scope = self
            .store
            .scope_trend(&run.scope_key, &run.id, earlier)
            .await?;
        scope.push(point(crate::store::open_counts(rows)));
        let mut by_org = self.store.org_trends(&org_ids, &run.id, earlier).await?;
        let mut open = crate::store::open_counts_by_org(rows);
        for org_id in org_ids {
            let own = open
                .remove(org_id.as_str())
                .unwrap_or_else(crate::store::zero_counts);
            by_org.entry(org_id).or_default().push(point(own));
        }
        tracing::info!(
            organizations = by_org.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "trends read"
        );
        Ok(Trends { scope, by_org })
    }

    /// Writes the run's files into `dir` and composes its mail, each message written out as
    /// soon as it is composed (see [`MailOut`]). The csv files and the whole-run workbook are
    /// written on a thread of their own while the organizations' workbooks and messages are
    /// composed on the others.
    fn write_outputs(
        &self,
        dir: &Path,
        mail_out: MailOut,
        run: &RunRecord,
        rows: &[FindingRow],
        history: History,
    ) -> anyhow::Result<(Vec<PathBuf>, Vec<ComposedMail>, Vec<OrgProblem>)> {
        crate::files::create_dir_all(dir)?;
        let History {
            previous,
            follow_ups,
            trends,
        } = history;
        let mut summary = report::summary::Summary::new(run, rows, self.snapshot);
        summary.add_follow_ups(self.snapshot, &follow_ups);
        summary.trend = trends.scope;
        let access = report::run_access_rows(self.snapshot, self.in_scope);
        summary.user_access_left_out = report::xlsx::user_access_left_out(
            access.len(),
            self.settings.review.workbook_user_access,
        );
        let bars = indicatif::MultiProgress::new();
        let orgs = self.in_scope.iter().filter(|s| **s).count() as u64;
        // Bars only where the work takes a while (a large run on a terminal).
        let mail_bar = (orgs > 1_000)
            .then(|| bars.add(crate::progress::bar(Some(orgs), "composing the mail")));
        let span = tracing::Span::current();
        let (documents, mails) = std::thread::scope(|scope| {
            let documents = scope.spawn(|| {
                span.in_scope(|| self.write_documents(dir, run, rows, &summary, &access, &bars))
            });
            let started = std::time::Instant::now();
            let cost = crate::mail::cost::ComposeCost::default();
            let mails = crate::mail::compose::compose_run_mail(&crate::mail::compose::RunMail {
                mail: &self.settings.mail,
                zone: self.settings.review.time_zone,
                date: self.clock.now(),
                store_id: self.store_id,
                templates: self.templates,
                run,
                findings: rows,
                previous,
                follow_ups: &follow_ups,
                snapshot: self.snapshot,
                in_scope: self.in_scope,
                trends: &trends.by_org,
                dir,
                out: mail_out,
                progress: mail_bar.as_ref(),
                cost: &cost,
            });
            if let Some(bar) = &mail_bar {
                bar.finish_and_clear();
            }
            if let Ok((mails, _)) = &mails {
                tracing::info!(
                    messages = mails.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    parts = %cost.line(),
                    "mail composed"
                );
            }
            (documents.join().expect("the report writer panicked"), mails)
        });
        let mut files = documents?;
        let (mails, problems) = mails?;
        // Last, so that it names the organizations whose output could not be produced.
        report::html::write_summary(
            &dir.join("summary.html"),
            self.templates,
            &summary,
            &problems,
        )?;
        files.push(PathBuf::from("summary.html"));
        files.push(PathBuf::from("organizations"));
        files.extend(preview_name(mail_out).map(PathBuf::from));
        Ok((files, mails, problems))
    }

    /// findings.csv, access.csv (of the `access` rows) and the whole-run workbook; returns
    /// their names.
    fn write_documents(
        &self,
        dir: &Path,
        run: &RunRecord,
        rows: &[FindingRow],
        summary: &report::summary::Summary,
        access: &[u32],
        bars: &indicatif::MultiProgress,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let snapshot = self.snapshot;
        let started = std::time::Instant::now();
        report::csv::write_findings(&dir.join("findings.csv"), rows)?;
        report::csv::write_access(&dir.join("access.csv"), snapshot, access)?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "csv written"
        );

        let workbook = report::xlsx::workbook_file_name(&run.id);
        let zone = self.settings.review.time_zone;
        let rows: Vec<&FindingRow> = rows.iter().collect();
        let mut input =
            report::xlsx::WorkbookInput::new(summary, &rows, snapshot, zone).with_access(access);
        if summary.user_access_left_out.is_some() {
            input = input.without_access_sheet();
        }
        let bar = (input.progress_total() > 100_000).then(|| {
            bars.add(crate::progress::bar(
                Some(input.progress_total()),
                "writing the workbook",
            ))
        });
        if let Some(bar) = &bar {
            input = input.with_progress(bar);
        }
        let started = std::time::Instant::now();
        report::xlsx::write_workbook(&dir.join(&workbook), &input)?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "workbook written"
        );
        Ok(["findings.csv", "access.csv", &workbook]
            .iter()
            .map(PathBuf::from)
            .collect())
    }
}

/// A dry run's messages as named in the run's folder: `mail` or `mail.zip`.
fn preview_name(out: MailOut<'_>) -> Option<&std::ffi::OsStr> {
    match out {
        MailOut::Eml(path) | MailOut::Zip(path) => path.file_name(),
        MailOut::Spool(_) => None,
    }
}

/// The run's `error` for the organizations whose output could not be produced.
fn problems_text(problems: &[OrgProblem]) -> String {
    let listed: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.org_id, p.error))
        .collect();
    format!(
        "the output of {} could not be produced: {}",
        crate::output::count(problems.len(), "organization"),
        listed.join("; ")
    )
}

/// The smallest sequence of `date`'s run ids above every folder of that date in `out_dir`
/// (`<id>`, `.<id>.partial`, `.<id>.outbox`): another store, a restored backup or a person may
/// have left one there, and a run never takes the name of a folder that exists.
fn first_free_sequence(out_dir: &Path, date: NaiveDate) -> u32 {
    let prefix = format!("{}-", date.format("%Y%m%d"));
    let Ok(entries) = std::fs::read_dir(out_dir) else {
        return 1;
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let id = name
                .strip_prefix('.')
                .and_then(|n| {
                    n.strip_suffix(".partial")
                        .or_else(|| n.strip_suffix(".outbox"))
                })
                .unwrap_or(&name);
            id.strip_prefix(&prefix)?.parse::<u32>().ok()
        })
        .max()
        .map_or(1, |n| n.saturating_add(1))
}

/// How many ids a review tries when another store's run takes each one's folder first.
const RUN_ID_TRIES: u32 = 5;

/// Records the run (telling `observer`) and creates its work folder, which must be new: the
/// folder reserves the id on disk against another store's review writing into the same output
/// folder at the same moment. An id whose folder another run took is recorded as failed,
/// saying so, and the next one is tried.
async fn start_run_with_folder(
    store: &dyn Store,
    mut new_run: NewRun<'_>,
    out_dir: &Path,
    clock: &SharedClock,
    observer: &dyn ReviewObserver,
) -> anyhow::Result<RunRecord> {
    for _ in 0..RUN_ID_TRIES {
        let run = store.start_run(&new_run).await?;
        observer.reached(ReviewStage::RunStarted, &run).await;
        let work = RunFolders::new(out_dir, &run.id).work;
        // A file named like the output folder is AlreadyExists too: that one is no race.
        let taken = match crate::files::create_dir_all(out_dir) {
            Err(_) if out_dir.is_file() => format!(
                "cannot write the output folder {}: it is a file, not a folder",
                out_dir.display()
            ),
            Err(e) => format!("cannot write the output folder {}: {e}", out_dir.display()),
            Ok(()) => match crate::files::create_new_dir(&work) {
                Ok(()) => return Ok(run),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => format!(
                    "not started: another store's run took its folder {} first",
                    work.display()
                ),
                Err(e) => format!("cannot write the run's folder {}: {e}", work.display()),
            },
        };
        store.fail_run(&run.id, &taken, clock.now(), None).await?;
        if !taken.starts_with("not started") {
            anyhow::bail!("{taken}");
        }
        tracing::warn!(run_id = %run.id, "{taken}; taking the next id");
        let sequence = run
            .id
            .rsplit('-')
            .next()
            .and_then(|s| s.parse::<u32>().ok());
        new_run.first_sequence = sequence.unwrap_or(new_run.first_sequence) + 1;
    }
    anyhow::bail!(
        "other stores' runs took the folders of {RUN_ID_TRIES} run ids in a row in {}",
        out_dir.display()
    )
}

/// The folders a run writes in its output folder.
pub struct RunFolders {
    /// `.<run-id>.partial`: the run's files while they are written.
    pub work: PathBuf,
    /// `.<run-id>.outbox`: a `--send` run's messages until the outbox holds them.
    pub spool: PathBuf,
    /// `<run-id>`: the work folder, renamed once the run is complete.
    pub done: PathBuf,
}

impl RunFolders {
    pub fn new(out_dir: &Path, run_id: &str) -> RunFolders {
        RunFolders {
            work: out_dir.join(format!(".{run_id}.partial")),
            spool: out_dir.join(format!(".{run_id}.outbox")),
            done: out_dir.join(run_id),
        }
    }
}

impl RunFolders {
    /// Removes what a run that did not complete left: its work folder and its spool.
    pub fn remove_unfinished(&self) {
        for path in [&self.work, &self.spool] {
            if path.exists() {
                if let Err(e) = std::fs::remove_dir_all(path) {
                    tracing::warn!(folder = %path.display(), error = %e, "cannot remove a run's partial folder");
                }
            }
        }
    }
}

/// Renews the run's heartbeat every [`HEARTBEAT`] until dropped, so that other commands know
/// its process lives (see [`reconcile_runs`]).
fn keep_alive(store: Arc<dyn Store>, clock: SharedClock, run_id: &str, owner: &str) -> AbortOnDrop {
    let (run_id, owner) = (run_id.to_string(), owner.to_string());
    AbortOnDrop(tokio::spawn(
        async move {
            let mut ticker = tokio::time::interval(HEARTBEAT);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                match store.run_heartbeat(&run_id, &owner, clock.now()).await {
                    Ok(true) => {}
                    Ok(false) => {
                        // Let go of: released once its folder was in place (the run goes on
                        // to deliver its mail), or taken by another command.
                        if let Ok(Some(run)) = store.run(&run_id).await {
                            if run.status == RunStatus::Failed {
                                tracing::error!("another command recorded this run as failed: its heartbeat had stopped");
                            }
                        }
                        return;
                    }
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot renew the run's heartbeat"),
                }
            }
        }
        .in_current_span(),
    ))
}

/// Called first by every command that writes: a run left `running` by a process that is gone
/// (see [`crate::liveness`]) becomes `failed` with the reason, and its `.RUN.partial` and
/// `.RUN.outbox` folders are removed; a run stored just before its process ended gets its
/// folder moved to `OUT/<run-id>/`. Each change is conditional on the run being as it was
/// read, so two commands reconciling at once do each thing once.
pub async fn reconcile_runs(store: &dyn Store, now: DateTime<Utc>) -> anyhow::Result<()> {
    for held in store.held_runs().await? {
        let owner = held.owner.as_deref().and_then(|o| Owner::parse(o).ok());
        if !crate::liveness::is_gone(owner.as_ref(), held.heartbeat_at, now) {
            continue;
        }
        let folders = held
            .out_root
            .as_deref()
            .map(|root| RunFolders::new(Path::new(root), &held.id));
        match held.status {
            RunStatus::Running => {
                let reason = match &owner {
                    Some(o) if o.is_gone_from_this_host() => format!(
                        "interrupted: its process ({} on {}) ended before the run was stored",
                        o.pid(),
                        o.host()
                    ),
                    Some(o) => format!(
                        "interrupted: no heartbeat from its process ({} on {}) for more than {STALE_AFTER_SECS} s",
                        o.pid(),
                        o.host()
                    ),
                    None => "interrupted: its process ended before the run was stored".into(),
                };
                if store
                    .fail_run(&held.id, &reason, now, held.heartbeat_at)
                    .await?
                {
                    if let Some(folders) = &folders {
                        folders.remove_unfinished();
                    }
                    tracing::warn!(run_id = %held.id, reason = %reason, "run recorded as failed and its partial folders removed");
                }
            }
            RunStatus::Completed => {
                if let Some(folders) = &folders {
                    if folders.work.exists() {
                        if folders.done.exists() {
                            tracing::warn!(run_id = %held.id, folder = %folders.work.display(), "a stored run's files are not in place and another folder has its name: move them by hand");
                            continue;
                        }
                        if let Err(e) = std::fs::rename(&folders.work, &folders.done) {
                            tracing::warn!(run_id = %held.id, error = %e, folder = %folders.work.display(), "cannot move a stored run's files into place");
                            continue;
                        }
                        tracing::warn!(run_id = %held.id, folder = %folders.done.display(), "a stored run's files moved into place");
                    }
                    folders.remove_unfinished();
                }
                if let Some(owner) = &held.owner {
                    store.release_run(&held.id, owner, None, true).await?;
                }
            }
            RunStatus::Failed => {}
        }
    }
    Ok(())
}

/// How many reviews a trend shows, this one included.
pub const TREND_REVIEWS: usize = 8;

/// A run's trends, this run's point last: its scope's, and each organization's in scope.
struct Trends {
    scope: Vec<TrendPoint>,
    by_org: HashMap<String, Vec<TrendPoint>>,
}

/// What a run's outputs show of the organizations' past: their previous reviews' findings,
/// what the review loop did about those reviews, and the trends.
struct History<'a> {
    previous: &'a [FindingRow],
    follow_ups: HashMap<String, FollowUpCounts>,
    trends: Trends,
}

/// The folder of a `--send` run's composed messages, removed when the run is done with it.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Turns the rules' findings into stored rows: fingerprint, status across runs, first_seen;
/// counts what is new, open and resolved since `previous` (each organization's findings at its
/// previous review, whatever that run's scope). A finding whose latest decision
/// (`decisions`, by fingerprint) accepts the risk until a date not passed is `accepted`; the
/// latest decision, unless an expired acceptance, is carried on the row.
fn classify(
    snapshot: &Snapshot,
    run: &RunRecord,
    findings: Vec<Finding>,
    previous: &[FindingRow],
    decisions: &HashMap<String, PriorDecision>,
) -> (Vec<FindingRow>, RunCounts) {
    let seen_before: HashMap<&str, NaiveDate> = previous
        .iter()
        .map(|f| (f.fingerprint.as_str(), f.first_seen))
        .collect();
    let mut counts = RunCounts::default();
    let mut still_present = 0;
    let rows: Vec<FindingRow> = findings
        .into_iter()
        .map(|f| {
            let org_id = &snapshot.orgs[f.org as usize].org_id;
            let pidsl = f
                .pidsl
                .map(|p| snapshot.pidsl(p).pidsl.as_str())
                .unwrap_or_default();
            let user = f.user.map(|u| snapshot.user(u));
            let username = user.map(|u| u.username.as_str()).unwrap_or_default();
            let fingerprint = fingerprint(f.rule.as_str(), org_id, pidsl, username);
            let (status, first_seen) = match seen_before.get(fingerprint.as_str()) {
                Some(first_seen) => {
                    still_present += 1;
                    (FindingStatus::Open, *first_seen)
                }
                None => (FindingStatus::New, run.as_of),
            };
            let facts = facts(snapshot, &f);
            let decision = current_decision(decisions.get(&fingerprint), &facts, run.as_of);
            let status = match decision {
                Some(d) if d.accepts_on(run.as_of) => FindingStatus::Accepted,
                Some(d) if d.suppresses(&facts) => FindingStatus::Suppressed,
                _ => status,
            };
            FindingRow {
                run_id: run.id.clone(),
                fingerprint,
                rule: f.rule,
                severity: f.rule.severity(),
                status,
                org_id: org_id.clone(),
                pidsl: pidsl.to_string(),
                username: username.to_string(),
                user_name: user.map(|u| u.full_name()).unwrap_or_default(),
                detail: f.detail,
                remediation: f.remediation,
                first_seen,
                facts,
                decision: decision.cloned(),
            }
        })
        .collect();
    for row in &rows {
        counts.findings += 1;
        *counts.by_severity.entry(row.severity).or_default() += 1;
        *counts.by_rule.entry(row.rule).or_default() += 1;
        match row.status {
            FindingStatus::New => counts.new += 1,
            FindingStatus::Accepted => counts.accepted += 1,
            FindingStatus::Suppressed => counts.suppressed += 1,
            FindingStatus::Open | FindingStatus::Resolved => counts.open += 1,
        }
    }
    counts.resolved = previous.len() - still_present;
    (rows, counts)
}

/// The latest decision on a finding whose facts are `facts` now, if it still holds on `as_of`:
/// an acceptance that ran out, or a Not a problem whose facts changed since, is no decision any
/// more (the finding needs a new one). What a run carries on its rows, and what a reminder
/// pass counts as decided.
pub(crate) fn current_decision<'a>(
    decision: Option<&'a PriorDecision>,
    facts: &str,
    as_of: NaiveDate,
) -> Option<&'a PriorDecision> {
    decision.filter(|d| match d.decision {
        Decision::AcceptRisk => d.accepts_on(as_of),
        Decision::NotAProblem => d.facts.is_empty() || d.suppresses(facts),
        Decision::FixInPosc => true,
    })
}

/// The rules' thresholds and job-role profiles, from `[review]` and `[roles]`.
fn rule_context(settings: &Settings, as_of: NaiveDate) -> RuleContext<'_> {
    let r = &settings.review;
    RuleContext {
        as_of,
        stale_after_days: i64::from(r.stale_after_days),
        new_account_grace_days: i64::from(r.new_account_grace_days),
        max_pidsls_per_primary: r.max_pidsls_per_primary as usize,
        max_users_per_primary: r.max_users_per_primary as usize,
        broad_grant_threshold: r.broad_grant_threshold as usize,
        roles: &settings.roles,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_detail_s_facts_leave_out_the_days_before_the_review() {
        let at = |days: &str| {
            super::without_ages(&format!(
                "left on 2026-09-15 ({days} before the review) but active; access expired \
                 on 2026-10-01, {days} before the review"
            ))
        };
        assert_eq!(at("29 days"), at("1 day"));
        assert_eq!(
            at("30 days"),
            "left on 2026-09-15 ( before the review) but active; access expired on \
             2026-10-01,  before the review"
        );
        assert_ne!(
            super::without_ages("left on 2026-09-15, 3 days before the review"),
            super::without_ages("left on 2026-09-16, 3 days before the review")
        );
    }

    use super::*;

    #[test]
    fn fingerprints_are_stable_and_ignore_username_case() {
        let a = fingerprint("stale-user", "ORG-GP", "", "CJones");
        assert_eq!(a, fingerprint("stale-user", "ORG-GP", "", "cjones"));
        assert_ne!(
            a,
            fingerprint("stale-user", "ORG-GP", "110000001A", "cjones")
        );
        assert_eq!(a.len(), 24);
    }

    #[test]
    fn a_run_id_starts_above_every_folder_of_its_day() {
        let out = tempfile::tempdir().unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        assert_eq!(first_free_sequence(&out.path().join("missing"), day), 1);
        assert_eq!(first_free_sequence(out.path(), day), 1);
        for name in [
            "20261129-002",
            ".20261129-007.partial",
            ".20261129-004.outbox",
            "20261128-050",
            "20261129-notes",
            ".20261129-090.other",
        ] {
            std::fs::create_dir(out.path().join(name)).unwrap();
        }
        assert_eq!(first_free_sequence(out.path(), day), 8);
        std::fs::create_dir(out.path().join("20261129-1000")).unwrap();
        assert_eq!(first_free_sequence(out.path(), day), 1001);
    }
}
