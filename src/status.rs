//! `posc-review status`: what an operator or a monitoring system needs to know of unattended
//! operation, read from the store in a handful of queries: the account store (counts, last
//! import), per cadence its last run and its current and next period, the claims that failed
//! or are in progress, the outbox, and a verdict.
//!
//! [`gather`] reads the store; [`assess`] is a pure function of what was read, the schedules
//! and the clock's instant, so every problem it can name is unit-tested at a fixed instant.
//! Healthy means no problem. A problem is one of:
//!
//! - the last run of a cadence failed;
//! - a cadence's current period is overdue: its due instant is more than [`GRACE`] past, it fell
//!   due after the store was created (a new store is not blamed for periods before it existed),
//!   and neither a completed claim of its period key, nor a completed run of the cadence started
//!   at or after the due instant, nor a live claim (heartbeat fresh) is there;
//! - a claim failed, or is claimed or running with a stale heartbeat (its scheduler died), unless
//!   it was superseded: a later period of its cadence was claimed (the scheduler only retries
//!   the latest), or a run of the cadence started at or after its due instant completed;
//! - messages failed for good;
//! - the oldest undelivered message was queued more than `mail.alert_pending_hours` ago.
//!
//! Each problem is a sentence that says what is wrong and what to run. The Prometheus rendering
//! ([`prometheus`]) writes the text exposition format for node_exporter's textfile collector:
//! gauges only, a metric with no value (no run yet) left out rather than written as 0 or NaN.

use crate::config::Settings;
use crate::domain::{Cadence, ClaimState, RunStatus};
use crate::output::{count, local_instant};
use crate::schedule::CadenceSchedule;
use crate::store::{AccountCounts, ClaimRecord, RunRecord, Store, StoreInfo, Undelivered};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use std::fmt::Write as _;

/// How long after its due instant a period may still be unreviewed without being overdue: the
/// scheduler's review of a statewide store takes minutes.
pub const GRACE: chrono::Duration = chrono::Duration::minutes(15);

/// Everything `status` reports, in every format.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The instant the store was looked at.
    pub checked_at: DateTime<Utc>,
    pub healthy: bool,
    pub problems: Vec<Problem>,
    pub store: StoreStatus,
    pub cadences: Vec<CadenceStatus>,
    /// Claims failed, claimed or running (completed ones are the normal case and not listed).
    pub claims: Vec<ClaimStatus>,
    /// How many claims are in each state, completed included.
    pub claim_counts: ClaimCounts,
    pub outbox: OutboxStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreStatus {
    pub store_id: String,
    pub created_at: DateTime<Utc>,
    pub last_import_at: Option<DateTime<Utc>>,
    pub counts: AccountCounts,
}

/// One cadence: its schedule, its last run, the period due now and the next due instant.
#[derive(Debug, Clone, Serialize)]
pub struct CadenceStatus {
    pub cadence: Cadence,
    pub schedule: String,
    pub last_run: Option<LastRun>,
    /// The latest period whose due instant has passed, if the schedule ever fired.
    pub period: Option<PeriodStatus>,
    pub next_due_at: Option<DateTime<Utc>>,
}

/// The newest run of a cadence.
#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub id: String,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodStatus {
    /// The claim key, e.g. `quarterly:2026-Q4`.
    pub key: String,
    pub due_at: DateTime<Utc>,
    pub state: PeriodState,
    /// The run that reviewed it, or reviews it now, when known.
    pub run_id: Option<String>,
}

/// Where the period due now stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeriodState {
    /// A completed claim, or a completed run of the cadence started at or after the due instant.
    Reviewed,
    /// A claim whose holder is alive.
    InProgress,
    /// Due less than [`GRACE`] ago.
    Due,
    /// Due before the store was created: not this store's to review.
    BeforeStore,
    /// None of the above.
    Overdue,
}

impl PeriodState {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodState::Reviewed => "reviewed",
            PeriodState::InProgress => "in progress",
            PeriodState::Due => "due",
            PeriodState::BeforeStore => "before the store existed",
            PeriodState::Overdue => "OVERDUE",
        }
    }
}

/// A claim that is not completed, and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct ClaimStatus {
    #[serde(flatten)]
    pub claim: ClaimRecord,
    /// Claimed or running with a heartbeat older than the liveness limit: its owner died.
    pub stale: bool,
    /// A later period of its cadence was claimed, or a run of the cadence completed since it
    /// fell due: nothing is left to do for it.
    pub superseded: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClaimCounts {
    pub claimed: usize,
    pub running: usize,
    pub completed: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboxStatus {
    pub pending: usize,
    pub sending: usize,
    pub failed: usize,
    /// When the oldest message still pending or sending was queued.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    pub oldest_pending_age_secs: Option<i64>,
    /// `mail.alert_pending_hours`: an undelivered message older than this is a problem.
    pub alert_pending_hours: u32,
}

/// Something that needs attention: a kind for scripts, and a sentence for people that says
/// what is wrong and what to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub cadence: Option<Cadence>,
    /// The period it concerns (a claim key such as `quarterly:2026-Q4`), when known.
    pub period_key: Option<String>,
    pub run_id: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    RunFailed,
    ClaimFailed,
    ClaimStale,
    PeriodOverdue,
    MailFailed,
    MailPending,
}

/// What [`assess`] judges: the store as read at one instant.
#[derive(Debug, Clone)]
pub struct Observed {
    pub now: DateTime<Utc>,
    pub info: StoreInfo,
    pub counts: AccountCounts,
    /// Newest first ([`Store::runs`] returns them oldest first).
    pub runs: Vec<RunRecord>,
    pub claims: Vec<ClaimRecord>,
    pub mail: Undelivered,
}

/// Reads what `status` needs from the store (read only) and assesses it.
pub async fn gather(
    store: &dyn Store,
    settings: &Settings,
    now: DateTime<Utc>,
) -> anyhow::Result<Status> {
    let observed = Observed {
        now,
        info: store.store_info().await?,
        counts: store.account_counts().await?,
        runs: store.runs().await?.into_iter().rev().collect(),
        claims: store.claims().await?,
        mail: store.undelivered_mail().await?,
    };
    Ok(assess(
        &observed,
        &CadenceSchedule::from_settings(settings),
        settings.mail.alert_pending_hours,
        settings.review.time_zone,
    ))
}

/// The status of what was observed, with its problems (see the module documentation). Pure:
/// `zone` is only for the times the sentences name.
pub fn assess(
    observed: &Observed,
    schedules: &[CadenceSchedule],
    alert_pending_hours: u32,
    zone: Tz,
) -> Status {
    let now = observed.now;
    let stale_before = crate::liveness::stale_before(now);
    let is_stale = |c: &ClaimRecord| {
        matches!(c.state, ClaimState::Claimed | ClaimState::Running)
            && c.heartbeat_at < stale_before
    };
    // A claim is superseded by a later claim of its cadence (which carries any alarm of its
    // own; the scheduler only ever retries the latest period) or by a completed run of the
    // cadence started at or after its due instant.
    let superseded = |claim: &ClaimRecord| {
        observed
            .claims
            .iter()
            .any(|c| c.cadence == claim.cadence && c.due_at > claim.due_at)
            || observed.runs.iter().any(|r| {
                r.cadence == Some(claim.cadence)
                    && r.status == RunStatus::Completed
                    && r.started_at >= claim.due_at
            })
    };

    let mut problems = Vec::new();
    let mut cadences = Vec::new();
    for schedule in schedules {
        let cadence = schedule.cadence;
        let last_run = observed
            .runs
            .iter()
            .find(|r| r.cadence == Some(cadence))
            .map(|r| LastRun {
                id: r.id.clone(),
                status: r.status,
                started_at: r.started_at,
                finished_at: r.finished_at,
                error: r.error.clone(),
            });
        let period = schedule.latest_due(now).map(|due| {
            let period = schedule.period(due);
            let due_at = due.with_timezone(&Utc);
            let claim = observed.claims.iter().find(|c| c.period_key == period.key);
            let completed_run = observed.runs.iter().find(|r| {
                r.cadence == Some(cadence)
                    && r.status == RunStatus::Completed
                    && r.started_at >= due_at
            });
            let (state, run_id) = match claim {
                Some(c) if c.state == ClaimState::Completed => {
                    (PeriodState::Reviewed, c.run_id.clone())
                }
                _ if completed_run.is_some() => {
                    (PeriodState::Reviewed, completed_run.map(|r| r.id.clone()))
                }
                Some(c)
                    if matches!(c.state, ClaimState::Claimed | ClaimState::Running)
                        && !is_stale(c) =>
                {
                    (PeriodState::InProgress, c.run_id.clone())
                }
                other => {
                    let state = if due_at < observed.info.created_at {
                        PeriodState::BeforeStore
                    } else if now - due_at <= GRACE {
                        PeriodState::Due
                    } else {
                        PeriodState::Overdue
                    };
                    (state, other.and_then(|c| c.run_id.clone()))
                }
            };
            PeriodStatus {
                key: period.key,
                due_at,
                state,
                run_id,
            }
        });
        if let Some(run) = last_run.as_ref().filter(|r| r.status == RunStatus::Failed) {
            let error = run.error.as_deref().unwrap_or("no error was recorded");
            let claim = observed
                .claims
                .iter()
                .find(|c| c.run_id.as_deref() == Some(&run.id));
            let message = match claim {
                Some(claim) => format!(
                    "the {cadence} review of {} (run {}) failed: {error}; the scheduler retries it at its next start, or run `posc-review review --cadence {cadence} --send`",
                    claim.period_key, run.id
                ),
                None => format!(
                    "the last {cadence} review (run {}, started {}) failed: {error}; run `posc-review review --cadence {cadence} --send` again",
                    run.id,
                    local_instant(run.started_at, zone)
                ),
            };
            problems.push(Problem {
                kind: ProblemKind::RunFailed,
                cadence: Some(cadence),
                period_key: claim.map(|c| c.period_key.clone()),
                run_id: Some(run.id.clone()),
                message,
            });
        }
        cadences.push(CadenceStatus {
            cadence,
            schedule: schedule.expr.to_string(),
            last_run,
            period,
            next_due_at: schedule.next_after(now).map(|t| t.with_timezone(&Utc)),
        });
    }

    // Claims left failed or by a dead scheduler, unless a later review made them moot.
    let mut claims = Vec::new();
    let mut claim_counts = ClaimCounts::default();
    for claim in &observed.claims {
        match claim.state {
            ClaimState::Claimed => claim_counts.claimed += 1,
            ClaimState::Running => claim_counts.running += 1,
            ClaimState::Completed => claim_counts.completed += 1,
            ClaimState::Failed => claim_counts.failed += 1,
        }
        if claim.state == ClaimState::Completed {
            continue;
        }
        let stale = is_stale(claim);
        let superseded = superseded(claim);
        claims.push(ClaimStatus {
            claim: claim.clone(),
            stale,
            superseded,
        });
        if superseded {
            continue;
        }
        let cadence = claim.cadence;
        let run = claim
            .run_id
            .as_deref()
            .map(|id| format!(" (run {id})"))
            .unwrap_or_default();
        if claim.state == ClaimState::Failed {
            // Said once: the failed run of the same claim is named already.
            let named = problems.iter().any(|p| {
                p.kind == ProblemKind::RunFailed
                    && p.period_key.as_deref() == Some(&claim.period_key)
            });
            if !named {
                problems.push(Problem {
                    kind: ProblemKind::ClaimFailed,
                    cadence: Some(cadence),
                    period_key: Some(claim.period_key.clone()),
                    run_id: claim.run_id.clone(),
                    message: format!(
                        "the {cadence} review of {}{run} failed: {}; the scheduler retries it at its next start, or run `posc-review review --cadence {cadence} --send`",
                        claim.period_key,
                        claim.error.as_deref().unwrap_or("no error was recorded")
                    ),
                });
            }
        } else if stale {
            problems.push(Problem {
                kind: ProblemKind::ClaimStale,
                cadence: Some(cadence),
                period_key: Some(claim.period_key.clone()),
                run_id: claim.run_id.clone(),
                message: format!(
                    "the {cadence} review of {}{run} has had no heartbeat since {} ({}): its scheduler ({}) stopped without recording it; check that `posc-review schedule` runs (`systemctl status posc-review`), which retries it at its start",
                    claim.period_key,
                    local_instant(claim.heartbeat_at, zone),
                    age(claim.heartbeat_at, now),
                    claim.owner
                ),
            });
        }
    }

    for c in &cadences {
        let Some(period) = c
            .period
            .as_ref()
            .filter(|p| p.state == PeriodState::Overdue)
        else {
            continue;
        };
        // A failed or dead claim of the period is named already, with its cause.
        let named = problems
            .iter()
            .any(|p| p.period_key.as_deref() == Some(&period.key));
        if named {
            continue;
        }
        let cadence = c.cadence;
        problems.push(Problem {
            kind: ProblemKind::PeriodOverdue,
            cadence: Some(cadence),
            period_key: Some(period.key.clone()),
            run_id: None,
            message: format!(
                "the {cadence} review of {} was due at {} ({}) and has not completed: check that `posc-review schedule` runs (`systemctl status posc-review`), or run `posc-review review --cadence {cadence} --send`",
                period.key,
                local_instant(period.due_at, zone),
                age(period.due_at, now)
            ),
        });
    }

    let mail = &observed.mail;
    if mail.failed > 0 {
        problems.push(Problem {
            kind: ProblemKind::MailFailed,
            cadence: None,
            period_key: None,
            run_id: None,
            message: format!(
                "{} failed for good: `posc-review send --list` shows why; fix the cause, then run `posc-review send --retry-failed`",
                count(mail.failed, "message")
            ),
        });
    }
    let oldest_pending_at = mail
        .oldest_pending_at
        .filter(|_| mail.pending + mail.sending > 0);
    if let Some(oldest) = oldest_pending_at {
        if now - oldest > chrono::Duration::hours(alert_pending_hours.into()) {
            let waiting = match mail.pending + mail.sending {
                1 => "1 message is undelivered".to_string(),
                n => format!("{n} messages are undelivered"),
            };
            problems.push(Problem {
                kind: ProblemKind::MailPending,
                cadence: None,
                period_key: None,
                run_id: None,
                message: format!(
                    "{waiting}, the oldest queued at {} ({}), more than mail.alert_pending_hours ({} h) ago: `posc-review send --list` shows the last errors; fix the SMTP settings or the server, then run `posc-review send --now`",
                    local_instant(oldest, zone),
                    age(oldest, now),
                    alert_pending_hours
                ),
            });
        }
    }

    Status {
        checked_at: now,
        healthy: problems.is_empty(),
        problems,
        store: StoreStatus {
            store_id: observed.info.store_id.clone(),
            created_at: observed.info.created_at,
            last_import_at: observed.info.last_import_at,
            counts: observed.counts,
        },
        cadences,
        claims,
        claim_counts,
        outbox: OutboxStatus {
            pending: mail.pending,
            sending: mail.sending,
            failed: mail.failed,
            oldest_pending_at,
            oldest_pending_age_secs: oldest_pending_at.map(|t| (now - t).num_seconds()),
            alert_pending_hours,
        },
    }
}

/// "1 problem needs attention", "2 problems need attention".
pub fn needs_attention(problems: usize) -> String {
    match problems {
        1 => "1 problem needs attention".into(),
        n => format!("{n} problems need attention"),
    }
}

/// How long ago `t` was, or how long until it comes, roughly: `3 h ago`, `in 33 d`, `now`.
pub fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let magnitude = secs.unsigned_abs();
    let amount = match magnitude {
        0 => return "now".into(),
        1..=119 => format!("{magnitude} s"),
        120..=7_199 => format!("{} min", magnitude / 60),
        7_200..=172_799 => format!("{} h", magnitude / 3_600),
        _ => format!("{} d", magnitude / 86_400),
    };
    if secs > 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

// ---------------------------------------------------------------- text

/// The status for people: times in `zone` with their ages, then the verdict.
pub fn text(status: &Status, zone: Tz, database: &str) -> String {
    let now = status.checked_at;
    let at = |t: DateTime<Utc>| format!("{} ({})", local_instant(t, zone), age(t, now));
    let mut out = String::new();
    let verdict = if status.healthy {
        "healthy".to_string()
    } else {
        needs_attention(status.problems.len())
    };
    let _ = writeln!(
        out,
        "posc-review status at {}: {verdict}",
        local_instant(now, zone)
    );
    let _ = writeln!(out);
    let s = &status.store;
    let _ = writeln!(out, "Store {database} (id {})", s.store_id);
    let _ = writeln!(out, "  created      {}", at(s.created_at));
    let _ = writeln!(
        out,
        "  last import  {}",
        s.last_import_at.map_or_else(|| "never".into(), at)
    );
    let _ = writeln!(
        out,
        "  holds        {}, {}, {}, {}",
        count(s.counts.organizations, "organization"),
        count(s.counts.pidsls, "PID/SL"),
        count(s.counts.users, "user"),
        count(s.counts.access, "access row")
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Schedule");
    for c in &status.cadences {
        let _ = writeln!(out, "  {} ({})", c.cadence, c.schedule);
        let last = match &c.last_run {
            Some(r) => format!("{} {}, started {}", r.id, r.status, at(r.started_at)),
            None => "none yet".into(),
        };
        let _ = writeln!(out, "    last run   {last}");
        if let Some(error) = c.last_run.as_ref().and_then(|r| r.error.as_deref()) {
            let _ = writeln!(out, "               error: {error}");
        }
        let period = match &c.period {
            Some(p) => format!(
                "{} due {}: {}{}",
                p.key,
                at(p.due_at),
                p.state.as_str(),
                p.run_id
                    .as_deref()
                    .map(|id| format!(" (run {id})"))
                    .unwrap_or_default()
            ),
            None => "none yet".into(),
        };
        let _ = writeln!(out, "    period     {period}");
        let _ = writeln!(
            out,
            "    next due   {}",
            c.next_due_at.map_or_else(|| "never".into(), at)
        );
    }
    let _ = writeln!(out);
    if status.claims.is_empty() {
        let _ = writeln!(out, "Claims failed or in progress: none");
    } else {
        let _ = writeln!(out, "Claims failed or in progress");
        for c in &status.claims {
            let note = if c.superseded {
                ", superseded by a later review"
            } else if c.stale {
                ", its scheduler stopped"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {} {}{} (attempt {}, heartbeat {}, run {}){}",
                c.claim.period_key,
                c.claim.state,
                note,
                c.claim.attempts,
                at(c.claim.heartbeat_at),
                c.claim.run_id.as_deref().unwrap_or("-"),
                c.claim
                    .error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
    }
    let _ = writeln!(out);
    let o = &status.outbox;
    let _ = writeln!(
        out,
        "Outbox: {} pending, {} sending, {} failed for good; oldest undelivered {}",
        o.pending,
        o.sending,
        o.failed,
        o.oldest_pending_at.map_or_else(|| "-".into(), at)
    );
    let _ = writeln!(out);
    if status.healthy {
        let _ = writeln!(out, "Healthy: nothing needs attention.");
    } else {
        let _ = writeln!(
            out,
            "Needs attention ({}):",
            count(status.problems.len(), "problem")
        );
        for p in &status.problems {
            let _ = writeln!(out, "  - {}", p.message);
        }
    }
    out
}

// ---------------------------------------------------------------- Prometheus

/// The status in Prometheus's text exposition format (version 0.0.4), for node_exporter's
/// textfile collector: every metric a gauge named `posc_review_*`, each family with its `# HELP`
/// and `# TYPE` lines, a sample without a value (no run yet) left out, a family without samples
/// left out whole.
pub fn prometheus(status: &Status) -> String {
    let mut out = String::new();
    let seconds = |t: DateTime<Utc>| t.timestamp_millis() as f64 / 1000.0;
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let s = &status.store;
    let o = &status.outbox;
    family(
        &mut out,
        "healthy",
        "1 when nothing needs attention, 0 when something does (posc-review status lists it).",
        vec![(vec![], Some(flag(status.healthy)))],
    );
    family(
        &mut out,
        "problems",
        "How many problems need attention.",
        vec![(vec![], Some(status.problems.len() as f64))],
    );
    family(
        &mut out,
        "store_rows",
        "Rows in each account table.",
        [
            ("organizations", s.counts.organizations),
            ("pidsls", s.counts.pidsls),
            ("users", s.counts.users),
            ("access", s.counts.access),
        ]
        .into_iter()
        .map(|(table, n)| (vec![("table", table.to_string())], Some(n as f64)))
        .collect(),
    );
    family(
        &mut out,
        "last_import_timestamp_seconds",
        "When the accounts were last imported, in seconds since the Unix epoch.",
        vec![(vec![], s.last_import_at.map(seconds))],
    );
    let per_cadence = |value: &dyn Fn(&CadenceStatus) -> Option<f64>| -> Vec<Sample> {
        status
            .cadences
            .iter()
            .map(|c| (vec![("cadence", c.cadence.to_string())], value(c)))
            .collect()
    };
    family(
        &mut out,
        "last_run_timestamp_seconds",
        "When the cadence's last run started, in seconds since the Unix epoch.",
        per_cadence(&|c| c.last_run.as_ref().map(|r| seconds(r.started_at))),
    );
    family(
        &mut out,
        "last_run_success",
        "1 when the cadence's last run completed, 0 when it failed (absent while it runs).",
        per_cadence(&|c| {
            c.last_run.as_ref().and_then(|r| match r.status {
                RunStatus::Completed => Some(1.0),
                RunStatus::Failed => Some(0.0),
                RunStatus::Running => None,
            })
        }),
    );
    family(
        &mut out,
        "next_due_timestamp_seconds",
        "When the cadence's next period falls due, in seconds since the Unix epoch.",
        per_cadence(&|c| c.next_due_at.map(seconds)),
    );
    family(
        &mut out,
        "period_overdue",
        "1 when the cadence's current period is overdue: due more than 15 minutes ago, with no completed or live review.",
        per_cadence(&|c| {
            Some(flag(
                c.period
                    .as_ref()
                    .is_some_and(|p| p.state == PeriodState::Overdue),
            ))
        }),
    );
    let k = &status.claim_counts;
    family(
        &mut out,
        "claims",
        "Scheduler period claims in each state.",
        [
            ("claimed", k.claimed),
            ("running", k.running),
            ("completed", k.completed),
            ("failed", k.failed),
        ]
        .into_iter()
        .map(|(state, n)| (vec![("state", state.to_string())], Some(n as f64)))
        .collect(),
    );
    family(
        &mut out,
        "outbox_messages",
        "Undelivered messages in the outbox by state (failed: failed for good).",
        [
            ("pending", o.pending),
            ("sending", o.sending),
            ("failed", o.failed),
        ]
        .into_iter()
        .map(|(state, n)| (vec![("state", state.to_string())], Some(n as f64)))
        .collect(),
    );
    family(
        &mut out,
        "outbox_oldest_pending_age_seconds",
        "Seconds since the oldest undelivered message was queued (absent when none waits).",
        vec![(vec![], o.oldest_pending_age_secs.map(|s| s as f64))],
    );
    out
}

/// One sample: its labels and its value, `None` when it has none.
type Sample = (Vec<(&'static str, String)>, Option<f64>);

/// Writes one gauge family: HELP, TYPE and the samples that have a value; nothing when none has.
fn family(out: &mut String, name: &str, help: &str, samples: Vec<Sample>) {
    let samples: Vec<_> = samples
        .into_iter()
        .filter_map(|(labels, value)| value.map(|v| (labels, v)))
        .collect();
    if samples.is_empty() {
        return;
    }
    let name = format!("posc_review_{name}");
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in samples {
        let labels = if labels.is_empty() {
            String::new()
        } else {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            format!("{{{}}}", pairs.join(","))
        };
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// A label value as the exposition format quotes it: backslash, double quote and line feed
/// escaped.
pub fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Writes `text` to `path` atomically: into a temporary file in the same folder, then renamed
/// over it, so a reader (node_exporter's textfile collector) never sees half a file. The file
/// is readable by all (`0644`), as the collector runs as a user of its own: it holds counts and
/// times, no account data.
pub fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("--output {}: not a file name", path.display()))?;
    let mut file = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(folder)
        .with_context(|| format!("cannot create a temporary file in {}", folder.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .and_then(|()| {
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
        })
        .with_context(|| format!("cannot write {}", file.path().display()))?;
    file.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests;
