//! `decisions apply`: a run's Fix in POSC decisions on removal findings become the account
//! operations that remove the access in this store, through the same policy checks and audit
//! log as `posc-review accounts` (each in a transaction of its own, so one refusal leaves the
//! others applied). The next review then finds the access gone: the findings are resolved.

use crate::accounts::{self, Mode, Operation, OperationTime};
use crate::domain::{Decision, PidSl, RuleId, RunStatus, UserStatus};
use crate::error::UsageError;
use crate::records::{DecisionRecord, RunRecord};
use crate::store::Store;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// What became of one Fix in POSC decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// The operation was performed and audited.
    Applied,
    /// `--dry-run`: every check passed; the operation would be performed.
    WouldApply,
    /// The store already shows the change (done before, or by another decision of the run).
    AlreadyInEffect,
    /// The policy refused the operation; `reason` says why.
    Refused,
    /// Not a removal: the Primary User makes the change in the POSC (the steps say how).
    InThePosc,
}

impl Effect {
    fn label(self) -> &'static str {
        match self {
            Effect::Applied => "applied",
            Effect::WouldApply => "would apply",
            Effect::AlreadyInEffect => "already in effect",
            Effect::Refused => "refused",
            Effect::InThePosc => "in the POSC",
        }
    }
}

/// One decision and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedDecision {
    pub fingerprint: String,
    pub rule: RuleId,
    pub org_id: String,
    pub pidsl: String,
    pub username: String,
    pub reviewer: String,
    /// The store operation: "remove" (from the PID/SL) or "deactivate"; empty when none.
    pub operation: &'static str,
    pub effect: Effect,
    /// Why it was refused, or why it is already in effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What to do in the POSC.
    pub posc_steps: Vec<String>,
}

/// What `decisions apply` did to a run's decisions.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub run_id: String,
    pub dry_run: bool,
    pub decisions: Vec<AppliedDecision>,
}

impl ApplyReport {
    pub fn count(&self, effect: Effect) -> usize {
        self.decisions.iter().filter(|d| d.effect == effect).count()
    }
}

/// The store operation that carries out Fix in POSC on a finding of `rule`, if it is a
/// removal: a terminated user's or an expired link's access leaves the PID/SL; a terminated
/// user still active, or a stale one, is deactivated.
fn removal(decision: &DecisionRecord) -> Option<Result<Operation, String>> {
    let username = decision.username.clone();
    match decision.rule {
        RuleId::TerminatedUserAccess | RuleId::ExpiredLink => Some(
            PidSl::parse(&decision.pidsl)
                .map(|pidsl| Operation::Remove { username, pidsl })
                .map_err(|e| e.to_string()),
        ),
        RuleId::TerminatedUserActive | RuleId::StaleUser => {
            Some(Ok(Operation::Deactivate { username }))
        }
        _ => None,
    }
}

/// Applies the Fix in POSC decisions recorded on `run_id` (the latest completed run when
/// `None`) as `actor`; with `dry_run`, checks them and changes nothing.
pub async fn apply_decisions(
    store: &dyn Store,
    run_id: Option<&str>,
    actor: &str,
    time: &OperationTime,
    dry_run: bool,
) -> anyhow::Result<ApplyReport> {
    let run = run_to_apply(store, run_id).await?;
    let mut decisions: Vec<DecisionRecord> = store
        .decisions(Some(&run.id))
        .await?
        .into_iter()
        .filter(|d| d.decision == Decision::FixInPosc)
        .collect();
    decisions.sort_by(|a, b| {
        (&a.org_id, &a.pidsl, &a.username, a.rule).cmp(&(&b.org_id, &b.pidsl, &b.username, b.rule))
    });
    let remediation: HashMap<String, String> = match decisions.is_empty() {
        true => HashMap::new(),
        false => store
            .findings(&run.id, None, None)
            .await?
            .into_iter()
            .map(|f| {
                let f = f.with_generic_remediation();
                (f.fingerprint, f.remediation)
            })
            .collect(),
    };
    // An operation two decisions ask for (a terminated, stale user) is done once.
    let mut done: HashSet<(&'static str, String, String)> = HashSet::new();
    let mut report = ApplyReport {
        run_id: run.id.clone(),
        dry_run,
        decisions: Vec::with_capacity(decisions.len()),
    };
    for d in decisions {
        let steps = vec![remediation.get(&d.fingerprint).cloned().unwrap_or_default()];
        let mut entry = AppliedDecision {
            fingerprint: d.fingerprint.clone(),
            rule: d.rule,
            org_id: d.org_id.clone(),
            pidsl: d.pidsl.clone(),
            username: d.username.clone(),
            reviewer: d.reviewer.clone(),
            operation: "",
            effect: Effect::InThePosc,
            reason: None,
            posc_steps: steps,
        };
        let operation = match removal(&d) {
            None => {
                report.decisions.push(entry);
                continue;
            }
            Some(Err(e)) => {
                entry.effect = Effect::Refused;
                entry.reason = Some(format!("the finding's PID/SL {:?}: {e}", d.pidsl));
                report.decisions.push(entry);
                continue;
            }
            Some(Ok(operation)) => operation,
        };
        let (name, pidsl) = match &operation {
            Operation::Remove { pidsl, .. } => ("remove", pidsl.as_str().to_string()),
            _ => ("deactivate", String::new()),
        };
        entry.operation = name;
        let key = (name, d.username.to_lowercase(), pidsl.clone());
        if let Some(reason) = in_effect(store, &operation).await? {
            entry.effect = Effect::AlreadyInEffect;
            entry.reason = Some(reason);
        } else if done.contains(&key) {
            entry.effect = Effect::AlreadyInEffect;
            entry.reason = Some("done for another decision above".into());
        } else {
            let because = format!(
                "Fix in POSC decided by {} on the {} finding of run {}",
                d.reviewer, d.rule, run.id
            );
            let mode = Mode {
                rehearse: dry_run,
                because: Some(&because),
            };
            match accounts::perform_as(store, actor, operation.clone(), time, mode).await {
                Ok(outcome) => {
                    entry.effect = if dry_run {
                        Effect::WouldApply
                    } else {
                        Effect::Applied
                    };
                    entry.posc_steps = outcome.next_steps;
                    done.insert(key);
                }
                Err(e) => match e.downcast::<UsageError>() {
                    // Another `decisions apply` (or `accounts`) may have made the change
                    // between the look and the operation.
                    Ok(refusal) => match in_effect(store, &operation).await? {
                        Some(reason) => {
                            entry.effect = Effect::AlreadyInEffect;
                            entry.reason = Some(reason);
                        }
                        None => {
                            entry.effect = Effect::Refused;
                            let reason = refusal.0;
                            entry.reason = Some(
                                reason
                                    .strip_prefix("refused: ")
                                    .unwrap_or(&reason)
                                    .to_string(),
                            );
                        }
                    },
                    Err(e) => return Err(e),
                },
            }
        }
        report.decisions.push(entry);
    }
    Ok(report)
}

async fn run_to_apply(store: &dyn Store, run_id: Option<&str>) -> anyhow::Result<RunRecord> {
    let run = match run_id {
        Some(id) => store.run(id).await?,
        None => store.latest_completed_run().await?,
    };
    match run {
        Some(run) if run.status == RunStatus::Completed => Ok(run),
        Some(run) => Err(UsageError(format!(
            "run {} is {}, not completed: only a completed run's decisions apply",
            run.id, run.status
        ))
        .into()),
        None => Err(UsageError(match run_id {
            Some(id) => format!("no run {id:?}; `posc-review runs` lists them"),
            None => "no completed run: `posc-review review` makes one".into(),
        })
        .into()),
    }
}

/// Why the store already shows what `operation` would do, if it does: the user has no access
/// to the PID/SL any more, or the user ID is inactive. Read in a transaction of its own, so
/// that it sees what the decisions before it changed.
async fn in_effect(store: &dyn Store, operation: &Operation) -> anyhow::Result<Option<String>> {
    let mut tx = store.begin_read().await?;
    let reason = match operation {
        Operation::Remove { username, pidsl } => match tx.user_by_name(username).await? {
            None => Some(format!("no user {username:?} in the store any more")),
            Some(user) => {
                let members = tx.members_of_pidsl(pidsl).await?;
                (!members.iter().any(|m| m.user_id == user.id))
                    .then(|| format!("{} has no access to {pidsl} any more", user.username))
            }
        },
        Operation::Deactivate { username } => match tx.user_by_name(username).await? {
            None => Some(format!("no user {username:?} in the store any more")),
            Some(user) => (user.status == UserStatus::Inactive)
                .then(|| format!("{}'s user ID is inactive already", user.username)),
        },
        _ => None,
    };
    Ok(reason)
}

/// The report as text: a line per decision, its POSC steps under it, then the totals.
pub fn report_text(report: &ApplyReport) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    for d in &report.decisions {
        let subject = match (d.pidsl.as_str(), d.username.as_str()) {
            ("", user) => user.to_string(),
            (pidsl, "") => pidsl.to_string(),
            (pidsl, user) => format!("{user} on {pidsl}"),
        };
        let _ = write!(
            text,
            "{}: {} ({}, decided by {})",
            d.effect.label().to_uppercase(),
            subject,
            d.rule,
            d.reviewer
        );
        if let Some(reason) = &d.reason {
            let _ = write!(text, ": {reason}");
        }
        text.push('\n');
        if matches!(
            d.effect,
            Effect::Applied | Effect::WouldApply | Effect::InThePosc
        ) {
            for step in d.posc_steps.iter().filter(|s| !s.is_empty()) {
                let _ = writeln!(text, "  In the POSC: {step}");
            }
        }
    }
    let applied = if report.dry_run {
        format!("{} would apply", report.count(Effect::WouldApply))
    } else {
        format!("{} applied", report.count(Effect::Applied))
    };
    let _ = writeln!(
        text,
        "Run {}: {} Fix in POSC; {applied}, {} already in effect, {} refused, {} to do in the POSC only{}",
        report.run_id,
        crate::output::count(report.decisions.len(), "decision"),
        report.count(Effect::AlreadyInEffect),
        report.count(Effect::Refused),
        report.count(Effect::InThePosc),
        if report.dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        }
    );
    text
}
