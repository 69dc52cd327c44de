//! The account store and the review history: one [`Store`] trait, two implementations.
//!
//! [`sqlite::SqliteStore`] (the embedded default) goes through rusqlite alone; the
//! [`postgres::PgStore`] (the shared deployment) through a typed `sqlx::PgPool`, with `COPY`
//! for a replacing import. Callers hold an `Arc<dyn Store>` from [`open`] and never see a
//! connection, a row or SQL: they pass and receive the typed [`records`], with times as UTC
//! instants. The store never reads the clock: every time it writes is a parameter.
//!
//! Each backend keeps its own migrations folder; both define the same tables and columns (a
//! test compares them).

/// A record read from a row: the fields before `;` from the columns of the same names with the
/// backend's getter (`row.try_get` for sqlx, `row.get` for rusqlite), the fields after it as
/// given.
macro_rules! from_row {
    ($row:ident.$get:ident => $record:ident {
        $($column:ident),* $(,)? $(; $($field:ident: $value:expr),* $(,)?)?
    }) => {
        $record {
            $($column: $row.$get(stringify!($column))?,)*
            $($($field: $value,)*)?
        }
    };
}

#[cfg(test)]
mod conformance;
pub mod postgres;
mod snapshot_load;
pub mod sqlite;
mod upsert;

// The store's interface speaks the records; they are re-exported for the callers that hold
// a store.
pub use crate::records::*;
pub(crate) use snapshot_load::{stored_date, SnapshotBuilder, UserColumns};

use crate::domain::{ClaimState, PidSl, UserStatus};
use crate::snapshot::Snapshot;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The default time to wait for a PostgreSQL server to answer.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the store at `url` (`sqlite://FILE`, created if missing, or
/// `postgres://USER@HOST/DB`) and applies any pending migrations.
pub async fn open(url: &str, connect_timeout: Duration) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PgStore::open(url, connect_timeout).await?,
        ))
    } else {
        anyhow::bail!(
            "unsupported database URL {}: expected sqlite://FILE or postgres://USER@HOST/DB",
            redact_url(url)
        )
    }
}

/// Everything the program keeps. Methods that change several rows do it in one transaction;
/// see each implementation for how it locks.
#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;

    /// Waits for the store's connections to close.
    async fn close(&self);

    /// The store's random id, when it was created, and when accounts were last imported.
    async fn store_info(&self) -> anyhow::Result<StoreInfo>;

    // ------------------------------------------------------------ the account tables

    /// The keys already in the store, for a `--merge` import.
    async fn known_accounts(&self) -> anyhow::Result<KnownAccounts>;

    /// Every organization id, sorted.
    async fn org_ids(&self) -> anyhow::Result<Vec<String>>;

    async fn account_counts(&self) -> anyhow::Result<AccountCounts>;

    /// The whole account store in memory, read from one moment (a concurrent replacing import
    /// is seen wholly or not at all), with each organization's last completed review.
    async fn load_snapshot(&self, zone: Tz) -> anyhow::Result<Snapshot>;

    /// Starts an import's transaction; `replace` empties the account tables first. Called on
    /// a blocking thread (the import reads its CSV files synchronously beside the writer);
    /// `handle` runs whatever async work the backend needs. Its commit records `imported_at`
    /// as the store's last import.
    fn import_writer(
        &self,
        handle: tokio::runtime::Handle,
        replace: bool,
        imported_at: DateTime<Utc>,
    ) -> anyhow::Result<Box<dyn ImportWriter>>;

    // ------------------------------------------------------------ the job-aid operations

    /// A transaction for a job-aid operation that writes: it holds SQLite's write lock from
    /// its start (`BEGIN IMMEDIATE`); on PostgreSQL the operation takes row locks through
    /// [`AccountsTx`]. Dropped without `commit`, it rolls back.
    async fn begin_write(&self) -> anyhow::Result<Box<dyn AccountsTx>>;

    /// A read-only transaction for `accounts show` and `accounts list`.
    async fn begin_read(&self) -> anyhow::Result<Box<dyn AccountsTx>>;

    /// Who the database says is connected: the role on PostgreSQL, `user@host` of this
    /// process on SQLite.
    async fn database_role(&self) -> anyhow::Result<String>;

    /// The audit log, oldest first; one user's events when `username` is given.
    async fn audit_events(&self, username: Option<&str>) -> anyhow::Result<Vec<AuditEvent>>;

    // ------------------------------------------------------------ review history

    /// Records a new running run with the next id of its local day (`YYYYMMDD-NNN`), its
    /// sequence at least `new.first_sequence`.
    async fn start_run(&self, new: &NewRun<'_>) -> anyhow::Result<RunRecord>;

    /// Renews a running run's heartbeat; false when `owner` no longer holds it.
    async fn run_heartbeat(
        &self,
        run_id: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool>;

    /// Runs that a process still holds: running, or stored but their folder not in place.
    async fn held_runs(&self) -> anyhow::Result<Vec<HeldRun>>;

    /// The run's folder is in place: the owner lets go of it. `folder_error` is kept as the
    /// run's error; `clear_error` clears a folder error kept before.
    async fn release_run(
        &self,
        run_id: &str,
        owner: &str,
        folder_error: Option<&str>,
        clear_error: bool,
    ) -> anyhow::Result<()>;

    /// Completes a run: its findings, the organizations it reviewed (each with its open
    /// findings by severity, `run_orgs.open_counts`, for the trends) and its messages, in one
    /// transaction.
    async fn complete_run(&self, run: &RunRecord, done: &CompletedRun<'_>) -> anyhow::Result<()>;

    /// Marks a running run failed; with `seen_heartbeat`, only if its heartbeat is still that
    /// one (a stale run taken over). False when nothing changed.
    async fn fail_run(
        &self,
        run_id: &str,
        error: &str,
        finished_at: DateTime<Utc>,
        seen_heartbeat: Option<DateTime<Utc>>,
    ) -> anyhow::Result<bool>;

    /// The findings of each of `org_ids` at its previous review: the last completed run before
    /// `before_run`, whatever its scope, that reviewed it (`run_orgs`), only that
    /// organization's findings of it. An organization never reviewed before has none. What a
    /// run's findings are `new`, `open` and `resolved` against.
    async fn previous_org_findings(
        &self,
        org_ids: &[String],
        before_run: &str,
    ) -> anyhow::Result<Vec<FindingRow>>;

    /// Every run, oldest first.
    async fn runs(&self) -> anyhow::Result<Vec<RunRecord>>;

    async fn run(&self, id: &str) -> anyhow::Result<Option<RunRecord>>;

    async fn latest_completed_run(&self) -> anyhow::Result<Option<RunRecord>>;

    /// A run's findings, optionally of one rule and one status.
    async fn findings(
        &self,
        run_id: &str,
        rule: Option<crate::domain::RuleId>,
        status: Option<crate::domain::FindingStatus>,
    ) -> anyhow::Result<Vec<FindingRow>>;

    /// Each of `org_ids`' open findings by severity at its last `limit` completed reviews
    /// before `before_run` (whatever their scope), oldest first; an organization never
    /// reviewed before is absent. Read from `run_orgs.open_counts`, which `complete_run`
    /// writes, so no findings are read.
    async fn org_trends(
        &self,
        org_ids: &[String],
        before_run: &str,
        limit: usize,
    ) -> anyhow::Result<HashMap<String, Vec<TrendPoint>>>;

    /// The open findings by severity of the last `limit` completed runs of `scope_key` before
    /// `before_run` (each the sum of its organizations'), oldest first.
    async fn scope_trend(
        &self,
        scope_key: &str,
        before_run: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<TrendPoint>>;

    /// Each organization's last completed review date.
    async fn last_completed_review_per_org(&self) -> anyhow::Result<Vec<(String, NaiveDate)>>;

    // ------------------------------------------------------------ schedule claims

    /// Takes the period's claim if nobody has it, if its last attempt failed, or if its holder
    /// stopped renewing the heartbeat; otherwise says who has it. A stale claim whose run
    /// completed (its process died after storing the run, e.g. while delivering its mail) is
    /// closed as completed instead of taken: the period is reviewed, and reviewing it again
    /// would send its mail twice.
    async fn try_claim(&self, request: &ClaimRequest<'_>) -> anyhow::Result<ClaimOutcome>;

    /// The claim's run is recorded; false when `owner` no longer holds the claim.
    async fn claim_running(
        &self,
        period_key: &str,
        owner: &str,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool>;

    async fn claim_heartbeat(
        &self,
        period_key: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool>;

    #[allow(clippy::too_many_arguments)]
    async fn finish_claim(
        &self,
        period_key: &str,
        owner: &str,
        state: ClaimState,
        run_id: Option<&str>,
        error: Option<&str>,
        finished_at: DateTime<Utc>,
    ) -> anyhow::Result<bool>;

    async fn claim(&self, period_key: &str) -> anyhow::Result<Option<ClaimRecord>>;

    async fn claims(&self) -> anyhow::Result<Vec<ClaimRecord>>;

    // ------------------------------------------------------------ reviewer decisions

    /// Records an import's decisions, all or none.
    async fn record_decisions(&self, decisions: &[NewDecision]) -> anyhow::Result<()>;

    /// Recorded decisions with their findings, of one run or all.
    async fn decisions(&self, run_id: Option<&str>) -> anyhow::Result<Vec<DecisionRecord>>;

    /// The latest decision per fingerprint among runs before `before_run`.
    async fn latest_decisions(
        &self,
        before_run: &str,
    ) -> anyhow::Result<HashMap<String, PriorDecision>>;

    /// Each organization's last completed review (its run and as_of), by `run_orgs`.
    async fn latest_org_reviews(&self) -> anyhow::Result<Vec<OrgReview>>;

    /// The reminders and escalations queued about the findings of `run_ids` (outbox kinds
    /// [`REMINDER_KIND`] and [`ESCALATION_KIND`], whatever their state).
    async fn follow_ups(&self, run_ids: &[String]) -> anyhow::Result<Vec<FollowUp>>;

    /// Queues each message whose idempotency key is not in the outbox yet (a reminder is never
    /// sent twice), in one transaction; returns the keys it queued.
    async fn queue_follow_ups(
        &self,
        mails: &[OutgoingMail],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<String>>;

    /// Each organization's review cadence, by org_id.
    async fn org_cadences(&self) -> anyhow::Result<HashMap<String, crate::domain::Cadence>>;

    // ------------------------------------------------------------ the mail outbox

    /// Keys of the messages due now (pending and due, or sending with a claim older than
    /// `stale_before`); all pending ones with `ignore_schedule`.
    async fn due_mail(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        ignore_schedule: bool,
    ) -> anyhow::Result<Vec<String>>;

    /// Pushes every due message to `retry_at` with `error` (the server is unreachable).
    async fn defer_due_mail(
        &self,
        now: DateTime<Utc>,
        ignore_schedule: bool,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> anyhow::Result<u64>;

    /// Claims one message for delivery (state `sending`); `None` when another sender has it.
    async fn claim_mail(
        &self,
        key: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> anyhow::Result<Option<ClaimedMail>>;

    async fn mark_sent(&self, key: &str, now: DateTime<Utc>) -> anyhow::Result<()>;

    /// A failed attempt at `now`: retried at `retry_at`, or failed for good without one (its
    /// next_attempt_at then records when it failed).
    async fn mark_failed(
        &self,
        key: &str,
        error: &str,
        now: DateTime<Utc>,
        retry_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()>;

    /// Requeues the messages that failed for good.
    async fn requeue_failed(&self, now: DateTime<Utc>) -> anyhow::Result<u64>;

    /// Deletes the texts of the messages sent before `sent_before` (`mail.keep_sent_days`) and
    /// returns how many it deleted. Their outbox rows stay, for the record (state, key,
    /// recipient, subject, when sent); pending, sending and failed messages keep their texts,
    /// and only a claim reads a text, so nothing reads a purged one. SQLite deletes in batches,
    /// each its own transaction, so that a statewide purge never holds the write lock for long.
    async fn purge_sent_texts(&self, sent_before: DateTime<Utc>) -> anyhow::Result<u64>;

    async fn undelivered_mail(&self) -> anyhow::Result<Undelivered>;

    async fn outbox(&self, run_id: Option<&str>) -> anyhow::Result<Vec<OutboxEntry>>;

    /// When the next message falls due: the earliest next attempt of a pending message, or
    /// the instant a sending message's claim turns stale (`claimed_at + stale_age`).
    async fn next_mail_due(
        &self,
        stale_age: chrono::Duration,
    ) -> anyhow::Result<Option<DateTime<Utc>>>;

    /// Up to `limit` messages (operator alerts excepted) the operator has not been told of,
    /// oldest first: failed for good (not alerted as failed), or pending or sending since
    /// before `pending_before` (not alerted at all).
    async fn unalerted_mail(
        &self,
        pending_before: DateTime<Utc>,
        limit: usize,
    ) -> anyhow::Result<Vec<MailProblem>>;

    /// Queues an operator alert (kind `alert`, pending, due at `now`) and marks each reported
    /// message alerted with its problem, in one transaction. False, with nothing written, when
    /// the alert's key is already queued or a reported message was alerted of that problem
    /// meanwhile (another process raised it): each problem is alerted once.
    async fn queue_alert(
        &self,
        alert: &AlertMail,
        reported: &[(String, crate::domain::MailAlert)],
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool>;
}

/// A transaction of the job-aid operations (`accounts ...`). The policy checks read through
/// it and the change is written through it, so a check and the write it allows are atomic.
#[async_trait]
pub trait AccountsTx: Send {
    /// Locks one PID/SL's row (PostgreSQL) and returns it, or `None` when it does not exist.
    async fn lock_pidsl(&mut self, pidsl: &PidSl) -> anyhow::Result<Option<PidSlInfo>>;
    /// Locks (PostgreSQL) every PID/SL a user has access to, in a fixed order.
    async fn lock_pidsls_of_user(&mut self, user_id: i64) -> anyhow::Result<()>;
    /// Locks the users table against concurrent writers (PostgreSQL), for a new user id.
    async fn lock_users(&mut self) -> anyhow::Result<()>;
    /// A user by username, case-insensitive.
    async fn user_by_name(&mut self, username: &str) -> anyhow::Result<Option<UserRow>>;
    async fn org_exists(&mut self, org_id: &str) -> anyhow::Result<bool>;
    async fn pidsl_info(&mut self, pidsl: &PidSl) -> anyhow::Result<Option<PidSlInfo>>;
    async fn members_of_pidsl(&mut self, pidsl: &PidSl) -> anyhow::Result<Vec<Member>>;
    async fn access_of_user(&mut self, user_id: i64) -> anyhow::Result<Vec<Member>>;
    /// The user's administrator rows (primary or backup) on PID/SLs of `org_id`.
    async fn admin_rows_in_org(
        &mut self,
        user_id: i64,
        org_id: &str,
    ) -> anyhow::Result<Vec<Member>>;
    async fn next_user_id(&mut self) -> anyhow::Result<i64>;
    /// Inserts or replaces the access row of (user, PID/SL).
    async fn put_access(&mut self, row: &AccessRow) -> anyhow::Result<()>;
    async fn delete_access(&mut self, user_id: i64, pidsl: &PidSl) -> anyhow::Result<()>;
    async fn insert_user(&mut self, row: &UserRow) -> anyhow::Result<()>;
    async fn set_user_status(&mut self, user_id: i64, status: UserStatus) -> anyhow::Result<()>;
    /// Appends an event to the audit log, recording who ran it.
    async fn record_audit(&mut self, event: &AuditEvent) -> anyhow::Result<()>;
    async fn commit(self: Box<Self>) -> anyhow::Result<()>;
}

/// The write side of an import: the whole snapshot in one transaction, synchronous (it runs
/// on a blocking thread). Dropped without `commit`, nothing is written.
pub trait ImportWriter: Send {
    /// Inserts, or updates by key, rows of each account table.
    fn write_orgs(&mut self, rows: &[OrgRow]) -> anyhow::Result<()>;
    fn write_pidsls(&mut self, rows: &[PidSlRow]) -> anyhow::Result<()>;
    fn write_users(&mut self, rows: &[UserRow]) -> anyhow::Result<()>;
    fn write_access(&mut self, rows: &[AccessRow]) -> anyhow::Result<()>;
    /// Sets terminated_on for users already in the store (a roster applied by `--merge`).
    fn set_terminated(&mut self, updates: &[(i64, NaiveDate)]) -> anyhow::Result<()>;
    fn commit(self: Box<Self>) -> anyhow::Result<()>;
}

/// The database's own words when `error` is PostgreSQL refusing a statement for want of a
/// privilege (SQLSTATE 42501), e.g. "permission denied for table access".
pub fn permission_denied(error: &anyhow::Error) -> Option<String> {
    error
        .chain()
        .find_map(|cause| match cause.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501") => {
                Some(db.message().to_string())
            }
            _ => None,
        })
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The run `start_run` records for `new`, but for its id (the local start date and the day's
/// next sequence, which the store allocates): running, held by its owner, nothing counted yet.
pub(crate) fn running_run(new: &NewRun<'_>) -> RunRecord {
    RunRecord {
        id: String::new(),
        as_of: new.as_of,
        cadence: new.cadence,
        org_ids: new.org_ids.to_vec(),
        scope_key: new.scope_key.to_string(),
        started_at: new.started.with_timezone(&Utc),
        finished_at: None,
        status: crate::domain::RunStatus::Running,
        error: None,
        out_dir: None,
        counts: RunCounts::default(),
        owner: Some(new.owner.to_string()),
    }
}

/// One message as the outbox keeps it, its row and its text: what both a run's mail and an
/// operator alert are queued as.
pub(crate) struct QueuedMessage<'a> {
    pub idempotency_key: &'a str,
    pub run_id: &'a str,
    pub kind: &'a str,
    pub recipient: &'a str,
    pub to_addresses: &'a [String],
    pub subject: &'a str,
    pub message: &'a str,
}

impl<'a> QueuedMessage<'a> {
    /// A run's message, `message` read from its file.
    pub(crate) fn mail(mail: &'a OutgoingMail, message: &'a str) -> QueuedMessage<'a> {
        QueuedMessage {
            idempotency_key: &mail.idempotency_key,
            run_id: &mail.run_id,
            kind: &mail.kind,
            recipient: &mail.recipient,
            to_addresses: &mail.to_addresses,
            subject: &mail.subject,
            message,
        }
    }

    /// An operator alert (kind `alert`).
    pub(crate) fn alert(alert: &'a AlertMail) -> QueuedMessage<'a> {
        QueuedMessage {
            idempotency_key: &alert.idempotency_key,
            run_id: &alert.run_id,
            kind: ALERT_KIND,
            recipient: &alert.recipient,
            to_addresses: &alert.to_addresses,
            subject: &alert.subject,
            message: &alert.message,
        }
    }
}

/// The outbox kind of a reminder to a PID/SL's Primary User and backup (its recipient: the
/// PID/SL).
pub const REMINDER_KIND: &str = "reminder";

/// The outbox kind of an escalation to an organization's management (its recipient: the
/// org_id).
pub const ESCALATION_KIND: &str = "escalation";

/// The outbox kind of an operator alert; `unalerted_mail` never reports one.
pub(crate) const ALERT_KIND: &str = "alert";

/// Whether a message the operator was told `alerted` of (if anything) is still to be told of
/// `problem`: a failure once, even after an alert that it waited; a wait only if nothing was
/// said of it.
pub(crate) fn still_unalerted(
    alerted: Option<crate::domain::MailAlert>,
    problem: crate::domain::MailAlert,
) -> bool {
    use crate::domain::MailAlert;
    match problem {
        MailAlert::Failed => alerted != Some(MailAlert::Failed),
        MailAlert::Pending => alerted.is_none(),
    }
}

/// Adds a stored user to the keys of a `--merge` import: its username key, its email
/// (case-insensitive) and the largest id so far.
pub(crate) fn add_known_user(
    known: &mut KnownAccounts,
    id: i64,
    username_key: String,
    email: &str,
) {
    known.users.insert(username_key, id);
    known
        .emails
        .entry(email.to_lowercase())
        .or_default()
        .push(id);
    known.max_user_id = known.max_user_id.max(id);
}

/// Open findings (new and open; accepted ones are not open) by severity, every severity
/// present, zeros included: one point of a trend, from a run's findings.
pub fn open_counts<'a>(
    findings: impl IntoIterator<Item = &'a FindingRow>,
) -> BTreeMap<crate::domain::Severity, usize> {
    let mut counts = zero_counts();
    for f in findings {
        if matches!(
            f.status,
            crate::domain::FindingStatus::New | crate::domain::FindingStatus::Open
        ) {
            *counts.entry(f.severity).or_default() += 1;
        }
    }
    counts
}

/// Every organization's [`open_counts`] in one pass over the findings; an organization with
/// no open finding is absent.
pub fn open_counts_by_org(
    findings: &[FindingRow],
) -> HashMap<&str, BTreeMap<crate::domain::Severity, usize>> {
    let mut by_org: HashMap<&str, BTreeMap<crate::domain::Severity, usize>> = HashMap::new();
    for f in findings {
        if matches!(
            f.status,
            crate::domain::FindingStatus::New | crate::domain::FindingStatus::Open
        ) {
            *by_org
                .entry(f.org_id.as_str())
                .or_insert_with(zero_counts)
                .entry(f.severity)
                .or_default() += 1;
        }
    }
    by_org
}

/// Every severity with a count of zero.
pub fn zero_counts() -> BTreeMap<crate::domain::Severity, usize> {
    crate::domain::Severity::ALL
        .iter()
        .map(|&s| (s, 0))
        .collect()
}

/// `run_orgs.open_counts` of each organization a run reviewed, in `reviewed_org_ids`' order:
/// `{"critical":n,"high":n,"medium":n,"low":n}`, as the migration's backfill writes it; an
/// organization without open findings gets zeros.
pub(crate) fn open_counts_json(
    findings: &[FindingRow],
    reviewed_org_ids: &[String],
) -> Vec<String> {
    use crate::domain::Severity;
    let by_org = open_counts_by_org(findings);
    let zeros = zero_counts();
    reviewed_org_ids
        .iter()
        .map(|org_id| {
            let c = by_org.get(org_id.as_str()).unwrap_or(&zeros);
            let n = |s: Severity| c.get(&s).copied().unwrap_or(0);
            format!(
                r#"{{"critical":{},"high":{},"medium":{},"low":{}}}"#,
                n(Severity::Critical),
                n(Severity::High),
                n(Severity::Medium),
                n(Severity::Low)
            )
        })
        .collect()
}

/// A trend point from the four counts (critical, high, medium, low) a trend query returns.
pub(crate) fn trend_point(run_id: String, as_of: NaiveDate, sums: [i64; 4]) -> TrendPoint {
    use crate::domain::Severity;
    let open = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ]
    .into_iter()
    .zip(sums)
    .map(|(s, n)| (s, usize::try_from(n).unwrap_or(0)))
    .collect();
    TrendPoint {
        run_id,
        as_of,
        open,
    }
}

/// The rows of an organizations' trend query (org_id, run_id, as_of, and the open counts
/// critical, high, medium, low; each organization's oldest first) grouped by organization.
pub(crate) fn group_org_trends(
    rows: Vec<(String, String, NaiveDate, [i64; 4])>,
) -> HashMap<String, Vec<TrendPoint>> {
    let mut trends: HashMap<String, Vec<TrendPoint>> = HashMap::new();
    for (org_id, run_id, as_of, counts) in rows {
        trends
            .entry(org_id)
            .or_default()
            .push(trend_point(run_id, as_of, counts));
    }
    trends
}

/// A run id as a number for SQL to order and compare by (`YYYYMMDD` × 10⁹ + the sequence): as
/// text, ids sort only while the day's sequence has three digits (`-1000` is below `-999`).
/// The same SQL on both backends.
pub(crate) fn run_order(column: &str) -> String {
    format!(
        "(CAST(substr({column}, 1, 8) AS BIGINT) * 1000000000 + CAST(substr({column}, 10) AS BIGINT))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://review:s3cret@db/posc"),
            "postgres://review:***@db/posc"
        );
        assert_eq!(
            redact_url("sqlite://posc-review.db"),
            "sqlite://posc-review.db"
        );
    }
}
