//! What goes into the store and what comes out of it: typed records, the same for both
//! backends, and what the reports and the mail render. Times are UTC instants (`DateTime<Utc>`); a caller turns them into local time
//! only where a person reads them (files, mail, terminal).

use crate::domain::{
    Cadence, ClaimState, Decision, FindingStatus, OrgKind, OutboxState, PidSl, Role, RuleId,
    RunStatus, Services, Severity, UserStatus,
};
use crate::snapshot::Personal;
use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

// ---------------------------------------------------------------- the account tables

#[derive(Debug, Clone)]
pub struct OrgRow {
    pub org_id: String,
    pub name: String,
    pub kind: OrgKind,
    pub cadence: Cadence,
    pub management_emails: Vec<String>,
    pub last_review_on: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct PidSlRow {
    pub pidsl: PidSl,
    pub org_id: String,
    pub name: String,
    pub provider_type: String,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub middle_initial: String,
    pub phone: String,
    pub email: String,
    pub org_id: String,
    pub job_role: String,
    pub status: UserStatus,
    pub created_on: Option<NaiveDate>,
    /// As the users file gives it (the POSC's export, not a time this program keeps).
    pub last_login_at: Option<String>,
    pub terms_accepted_on: Option<NaiveDate>,
    pub terminated_on: Option<NaiveDate>,
    pub dob_mmdd: Option<Personal>,
    pub ssn_last4: Option<Personal>,
}

#[derive(Debug, Clone)]
pub struct AccessRow {
    pub user_id: i64,
    pub pidsl: PidSl,
    pub role: Role,
    pub services: Services,
    pub granted_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
}

/// The keys already in the store, which a `--merge` import may refer to.
#[derive(Debug, Default)]
pub struct KnownAccounts {
    pub org_ids: HashSet<String>,
    pub pidsls: HashSet<String>,
    /// Lower-cased username -> user id.
    pub users: HashMap<String, i64>,
    /// Lower-cased email -> user ids, for roster matching.
    pub emails: HashMap<String, Vec<i64>>,
    pub max_user_id: i64,
}

/// How many rows each account table holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AccountCounts {
    pub organizations: i64,
    pub pidsls: i64,
    pub users: i64,
    pub access: i64,
}

// ---------------------------------------------------------------- the job-aid operations

/// One accepted operation, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// 0 until stored.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The `--by` ACTOR: who the operation says is doing it (a claim the policy checks).
    pub actor: String,
    /// Who actually ran it: `user@host` of the process on SQLite, the database role on
    /// PostgreSQL (recorded by the database). Empty until stored, and for events recorded
    /// before this was (unknown).
    pub ran_as: String,
    pub action: String,
    /// The target user, spelled as the store spells it.
    pub username: String,
    /// Empty for user-level operations (deactivate, reactivate).
    pub pidsl: String,
    #[serde(serialize_with = "service_codes")]
    pub services_before: Services,
    #[serde(serialize_with = "service_codes")]
    pub services_after: Services,
    pub detail: String,
}

fn service_codes<S: serde::Serializer>(services: &Services, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(services.iter().map(|c| c.code()))
}

/// A user's access row on one PID/SL, with the user's own organization and status: what the
/// policy checks of an operation look at.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    /// The user's own organization.
    pub org_id: String,
    pub status: UserStatus,
    pub terminated_on: Option<NaiveDate>,
    pub pidsl: PidSl,
    /// The PID/SL's organization.
    pub pidsl_org_id: String,
    pub role: Role,
    pub services: Services,
    pub granted_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
}

impl Member {
    /// `status = active` and not terminated as of `today`.
    pub fn is_active(&self, today: NaiveDate) -> bool {
        crate::domain::is_active(self.status, self.terminated_on, today)
    }

    pub fn access_row(&self) -> AccessRow {
        AccessRow {
            user_id: self.user_id,
            pidsl: self.pidsl.clone(),
            role: self.role,
            services: self.services,
            granted_on: self.granted_on,
            expires_on: self.expires_on,
        }
    }
}

/// A PID/SL as an operation sees it.
#[derive(Debug, Clone)]
pub struct PidSlInfo {
    pub pidsl: PidSl,
    pub org_id: String,
    pub active: bool,
}

// ---------------------------------------------------------------- review history

/// What a run found, by severity, rule and status across runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub findings: usize,
    pub by_severity: BTreeMap<Severity, usize>,
    pub by_rule: BTreeMap<RuleId, usize>,
    pub new: usize,
    pub open: usize,
    pub accepted: usize,
    /// Findings a reviewer called Not a problem whose facts have not changed since.
    #[serde(default)]
    pub suppressed: usize,
    pub resolved: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub as_of: NaiveDate,
    /// The scheduled cadence that ran it; `None` for a run by hand.
    pub cadence: Option<Cadence>,
    /// Empty: every organization.
    pub org_ids: Vec<String>,
    #[serde(skip)]
    pub scope_key: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub out_dir: Option<String>,
    pub counts: RunCounts,
    /// The process running the run (`host:pid:tag`), until the run is done with its folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// What a new run is: when it starts, what it reviews, which process runs it and where.
pub struct NewRun<'a> {
    /// In the configured zone: the run id carries the local date.
    pub started: DateTime<chrono_tz::Tz>,
    pub as_of: NaiveDate,
    pub cadence: Option<Cadence>,
    pub org_ids: &'a [String],
    pub scope_key: &'a str,
    /// This process (see [`crate::liveness::Owner`]).
    pub owner: &'a str,
    /// The absolute folder the run's folders go in.
    pub out_root: &'a str,
    /// The smallest sequence the id may take: folders of the lower ones exist in `out_root`
    /// (left by another store, or by hand), so a run never gets an id whose folder exists.
    pub first_sequence: u32,
}

/// A run that a process still holds: running, or stored but its folder not yet in place.
#[derive(Debug, Clone)]
pub struct HeldRun {
    pub id: String,
    pub status: RunStatus,
    pub owner: Option<String>,
    /// The owner's last sign of life.
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub out_root: Option<String>,
}

/// A stored finding, as findings.csv and `posc-review findings` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingRow {
    pub run_id: String,
    pub fingerprint: String,
    pub rule: RuleId,
    pub severity: Severity,
    pub status: FindingStatus,
    pub org_id: String,
    /// Empty when the finding is about no PID/SL.
    pub pidsl: String,
    pub username: String,
    pub user_name: String,
    pub detail: String,
    /// The POSC steps that fix this finding, with its PID/SL, user and services (the rule's
    /// generic steps for a finding stored before the column existed).
    pub remediation: String,
    pub first_seen: NaiveDate,
    /// A hash of what the finding says: its detail and the services its user holds (see
    /// `review::facts`). A Not a problem decision holds while it stays the same.
    pub facts: String,
    /// The reviewer's last decision on this fingerprint, as a run carries it over from the
    /// decisions recorded before it (not stored with the finding: `None` when read back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<PriorDecision>,
}

impl FindingRow {
    /// A row read from a store written before findings had their own remediation gets its
    /// rule's generic steps.
    pub fn with_generic_remediation(mut self) -> Self {
        if self.remediation.is_empty() {
            self.remediation = self.rule.rule().remediation.to_string();
        }
        self
    }
}

/// What a completed run leaves in the store.
pub struct CompletedRun<'a> {
    pub findings: &'a [FindingRow],
    pub reviewed_org_ids: &'a [String],
    pub out_dir: &'a str,
    pub finished_at: DateTime<Utc>,
    /// Messages to queue (empty for a dry run), in the same transaction.
    pub outbox: &'a [OutgoingMail],
    /// The organizations whose output could not be produced, kept as the run's `error`.
    pub problems: Option<&'a str>,
}

// ---------------------------------------------------------------- schedule claims

/// One row of `schedule_claims`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimRecord {
    pub period_key: String,
    pub cadence: Cadence,
    /// The period's fire instant.
    pub due_at: DateTime<Utc>,
    pub state: ClaimState,
    /// The scheduler process holding (or last holding) the claim.
    pub owner: String,
    pub run_id: Option<String>,
    /// How many times the period was claimed: 1, plus one per retry.
    pub attempts: i64,
    pub claimed_at: DateTime<Utc>,
    /// The owner's last sign of life.
    pub heartbeat_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// What a scheduler asks for when it wants to review a period.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub period_key: &'a str,
    pub cadence: Cadence,
    pub due_at: DateTime<Utc>,
    pub owner: &'a str,
    /// The claim time and the new heartbeat.
    pub now: DateTime<Utc>,
    /// A claimed or running claim whose heartbeat is older than this was left by a process
    /// that died and may be taken over.
    pub stale_before: DateTime<Utc>,
}

/// The answer to a claim request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This scheduler holds the period now; `retried` names the state it took over from
    /// (failed, or a stale claimed/running), `None` for a first claim.
    Taken { retried: Option<ClaimState> },
    /// The period was reviewed already.
    Completed(ClaimRecord),
    /// Another live scheduler holds the period.
    Held(ClaimRecord),
}

// ---------------------------------------------------------------- reviewer decisions

/// A decision to record on one finding of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDecision {
    pub run_id: String,
    pub fingerprint: String,
    pub decision: Decision,
    pub justification: String,
    pub reviewer: String,
    pub decided_at: DateTime<Utc>,
    pub accepted_until: Option<NaiveDate>,
    /// The finding's facts when it was decided (its `FindingRow::facts`).
    pub facts: String,
}

/// An organization's last completed review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgReview {
    pub org_id: String,
    pub run_id: String,
    pub as_of: NaiveDate,
}

/// A reminder or escalation in the outbox: about which run's findings, to whom (a PID/SL for
/// a reminder, an org_id for an escalation), and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowUp {
    pub run_id: String,
    pub kind: String,
    pub recipient: String,
    pub state: crate::domain::OutboxState,
    pub created_at: DateTime<Utc>,
}

/// A recorded decision with the finding it is about, as `decisions list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRecord {
    pub fingerprint: String,
    pub run_id: String,
    pub rule: RuleId,
    pub org_id: String,
    pub pidsl: String,
    pub username: String,
    pub decision: Decision,
    pub justification: String,
    pub reviewer: String,
    pub decided_at: DateTime<Utc>,
    pub accepted_until: Option<NaiveDate>,
}

/// The last decision on a finding, carried into a later run's row of the same fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriorDecision {
    pub decision: Decision,
    pub justification: String,
    pub reviewer: String,
    pub decided_at: DateTime<Utc>,
    pub accepted_until: Option<NaiveDate>,
    /// The finding's facts when it was decided; empty for a decision recorded before facts
    /// were kept (it never suppresses).
    #[serde(skip)]
    pub facts: String,
}

impl PriorDecision {
    /// Whether this is an accepted risk whose date has not passed on `as_of`.
    pub fn accepts_on(&self, as_of: NaiveDate) -> bool {
        self.decision == Decision::AcceptRisk
            && self.accepted_until.is_some_and(|until| as_of <= until)
    }

    /// Whether this is a Not a problem decision on the same facts as `facts` now.
    pub fn suppresses(&self, facts: &str) -> bool {
        self.decision == Decision::NotAProblem && !self.facts.is_empty() && self.facts == facts
    }
}

// ---------------------------------------------------------------- the mail outbox

/// A message to queue.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub idempotency_key: String,
    pub run_id: String,
    pub kind: String,
    pub recipient: String,
    pub to_addresses: Vec<String>,
    pub subject: String,
    /// Where the RFC 5322 message is, exactly as it will be sent; it is read when the message
    /// is queued, so that a run's messages are never all in memory.
    pub message_file: MessageFile,
}

/// `len` bytes at `offset` in the file `path`: a whole .eml file, or one message of a spool.
#[derive(Debug, Clone)]
pub struct MessageFile {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

impl MessageFile {
    pub fn whole(path: PathBuf, len: usize) -> MessageFile {
        MessageFile {
            path,
            offset: 0,
            len: len as u64,
        }
    }

    /// The message, through `open`: the files already opened.
    pub(crate) fn read(
        &self,
        open: &mut HashMap<PathBuf, std::fs::File>,
    ) -> anyhow::Result<String> {
        let mut read = || -> std::io::Result<String> {
            let file = match open.entry(self.path.clone()) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(std::fs::File::open(&self.path)?)
                }
            };
            file.seek(SeekFrom::Start(self.offset))?;
            let mut bytes = vec![0; self.len as usize];
            file.read_exact(&mut bytes)?;
            String::from_utf8(bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        };
        read().with_context(|| {
            format!(
                "cannot read the message at {} of {}",
                self.offset,
                self.path.display()
            )
        })
    }
}

/// A queued message and its delivery state.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub idempotency_key: String,
    pub run_id: String,
    pub kind: String,
    pub recipient: String,
    pub to_addresses: Vec<String>,
    pub subject: String,
    pub state: OutboxState,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A message a sender has claimed: what to hand to SMTP.
#[derive(Debug, Clone)]
pub struct ClaimedMail {
    pub message: String,
    pub to_addresses: Vec<String>,
    /// Attempts so far, this one included.
    pub attempts: i64,
}

/// The outbox's undelivered messages by state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Undelivered {
    /// Waiting for their next attempt.
    pub pending: usize,
    /// Claimed by a sender that is still at it or stopped mid-delivery (retried once the claim
    /// is stale).
    pub sending: usize,
    /// Failed for good: refused, or out of attempts (`send --retry-failed` requeues them).
    pub failed: usize,
    /// When the oldest message still pending or sending was queued.
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

/// Open findings (new and open, not accepted) by severity at one review: a point of a trend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrendPoint {
    pub run_id: String,
    /// The review date.
    pub as_of: NaiveDate,
    /// Every severity with its count, zeros included.
    pub open: BTreeMap<crate::domain::Severity, usize>,
}

/// The store itself, made once when it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreInfo {
    /// 16 random hex digits: Message-IDs carry it, so no two stores send the same one.
    pub store_id: String,
    pub created_at: DateTime<Utc>,
    /// When the last import committed.
    pub last_import_at: Option<DateTime<Utc>>,
}

/// A queued message with a problem the operator has not been told of (operator alerts
/// themselves are never reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailProblem {
    pub idempotency_key: String,
    pub run_id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub state: crate::domain::OutboxState,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// `Failed` for a message that failed for good; `Pending` for one pending (or sending)
    /// since before the threshold.
    pub problem: crate::domain::MailAlert,
}

/// An operator alert to queue in the outbox, its whole message in memory (alerts are small).
#[derive(Debug, Clone)]
pub struct AlertMail {
    /// `alert:...`: an alert is queued once per key.
    pub idempotency_key: String,
    /// The run it concerns, or the period key of a review that never started a run.
    pub run_id: String,
    pub recipient: String,
    pub to_addresses: Vec<String>,
    pub subject: String,
    /// The RFC 5322 message, exactly as it will be sent.
    pub message: String,
}

impl Undelivered {
    pub fn total(&self) -> usize {
        self.pending + self.sending + self.failed
    }
}
