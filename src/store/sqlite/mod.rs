//! The SQLite store (the embedded default), through rusqlite alone.
//!
//! rusqlite is synchronous: the store keeps a few open connections and runs each call on a
//! blocking thread of the runtime with one of them ([`SqliteStore::call`]). sqlx's SQLite driver
//! spent about ten times SQLite's own time per row on the snapshot's bulk reads (a worker
//! thread, a channel and an owned row each), and its multi-row inserts were five times slower
//! than one prepared single-row statement for an import.
//!
//! Locking: SQLite has one writer at a time. A transaction that reads and then writes starts
//! with `BEGIN IMMEDIATE`, which takes the write lock at once (waiting up to busy_timeout for
//! another writer): a deferred `BEGIN` would upgrade its read lock at the first write and fail
//! with SQLITE_BUSY, without waiting, whenever another writer committed in between.
//!
//! Times are fixed-width RFC 3339 UTC text with six decimals ([`SqlTime`]), which sort as text;
//! dates are `YYYY-MM-DD` ([`SqlDate`]); the domain enums are their text.

mod accounts;
mod claims;
mod decisions;
mod history;
mod migrate;
mod operations;
mod outbox;
#[cfg(test)]
mod tests;

use super::*;
use crate::domain::{
    Cadence, Decision, FindingStatus, MailAlert, OrgKind, OutboxState, Role, RuleId, RunStatus,
    Services, Severity,
};
use anyhow::Context;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, Row, ToSql};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Connections kept open between calls; more are opened while all are busy, and closed when
/// returned beyond this.
const IDLE_CONNECTIONS: usize = 4;

pub struct SqliteStore {
    pool: Arc<Pool>,
}

/// The store's file and its idle connections.
struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    fn take(&self) -> anyhow::Result<Connection> {
        let idle = self.idle.lock().expect("pool lock").pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_connection(&self.path),
        }
    }

    /// Keeps `conn` for a later call, unless a transaction was left open on it.
    fn give_back(&self, conn: Connection) {
        if conn.is_autocommit() {
            let mut idle = self.idle.lock().expect("pool lock");
            if idle.len() < IDLE_CONNECTIONS {
                idle.push(conn);
            }
        }
    }
}

/// Opens a connection with the store's settings. WAL lets readers run beside the writer;
/// NORMAL is durable at each checkpoint, which is what a batch tool needs; foreign keys are
/// enforced as sqlx did for the stores it wrote.
fn open_connection(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 30000; \
         PRAGMA cache_size = -200000; PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = ON;",
    )
    .with_context(|| format!("cannot set up the database {}", path.display()))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The file of a `sqlite:` URL (`sqlite://FILE`, `sqlite:FILE`, with or without `?options`).
pub(crate) fn sqlite_file(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let file = rest.split('?').next().unwrap_or_default();
    anyhow::ensure!(
        !file.is_empty() && file != ":memory:",
        "{url:?}: the SQLite store must be a file"
    );
    Ok(PathBuf::from(file))
}

impl SqliteStore {
    /// Opens (creating it if missing) the store at a `sqlite:` URL and applies any pending
    /// migrations.
    pub async fn open(url: &str) -> anyhow::Result<SqliteStore> {
        let path = sqlite_file(url)?;
        let pool = Arc::new(Pool {
            path,
            idle: Mutex::new(Vec::new()),
        });
        let opening = Arc::clone(&pool);
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut conn = open_connection(&opening.path)?;
            migrate::run(&mut conn, migrate::MIGRATOR.iter()).with_context(|| {
                format!("cannot migrate the database {}", opening.path.display())
            })?;
            opening.give_back(conn);
            Ok(())
        })
        .await
        .context("the database opener stopped")??;
        Ok(SqliteStore { pool })
    }

    /// Runs `f` with a connection of the pool on a blocking thread.
    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> anyhow::Result<R> + Send + 'static,
    ) -> anyhow::Result<R> {
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.take()?;
            let result = f(&mut conn);
            pool.give_back(conn);
            result
        })
        .await
        .context("a database call stopped")?
    }

    /// Runs one writing statement on a blocking thread; how many rows it changed. The
    /// parameters are owned: they cross to that thread. `what` completes "cannot ...".
    async fn write(
        &self,
        sql: &'static str,
        params: impl rusqlite::Params + Send + 'static,
        what: &'static str,
    ) -> anyhow::Result<usize> {
        self.call(move |conn| {
            let mut statement = conn.prepare_cached(sql)?;
            statement
                .execute(params)
                .with_context(|| format!("cannot {what}"))
        })
        .await
    }
}

// ---------------------------------------------------------------- stored values

/// An instant as the store keeps it: `YYYY-MM-DDTHH:MM:SS.ffffffZ`, UTC, fixed width, so that
/// text order is time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SqlTime(pub DateTime<Utc>);

impl SqlTime {
    fn text(self) -> String {
        self.0.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

impl ToSql for SqlTime {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.text()))
    }
}

impl FromSql for SqlTime {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        DateTime::parse_from_rfc3339(text)
            .map(|t| SqlTime(t.with_timezone(&Utc)))
            .map_err(|e| FromSqlError::Other(format!("bad time {text:?}: {e}").into()))
    }
}

/// `t` as the store gives it back: to the microsecond.
fn stored_instant(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// A date as the store keeps it: `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SqlDate(pub NaiveDate);

impl ToSql for SqlDate {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        // NaiveDate's Display is YYYY-MM-DD, without a format string to interpret.
        Ok(ToSqlOutput::from(self.0.to_string()))
    }
}

impl FromSql for SqlDate {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        text.parse()
            .map(SqlDate)
            .map_err(|e| FromSqlError::Other(format!("bad date {text:?}: {e}").into()))
    }
}

/// The domain enums are stored as their text.
macro_rules! stored_as_text {
    ($($name:ty),+ $(,)?) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                <$name>::parse(value.as_str()?).map_err(|e| FromSqlError::Other(e.into()))
            }
        }
    )+};
}

stored_as_text!(
    OrgKind,
    Cadence,
    Role,
    UserStatus,
    Severity,
    RuleId,
    FindingStatus,
    Decision,
    RunStatus,
    ClaimState,
    OutboxState,
    MailAlert,
);

impl ToSql for PidSl {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for PidSl {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        PidSl::parse(value.as_str()?).map_err(|e| FromSqlError::Other(e.into()))
    }
}

/// Services are a bit set.
impl ToSql for Services {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.bits()))
    }
}

impl FromSql for Services {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Services::from_bits(value.as_i64()?).map_err(|e| FromSqlError::Other(e.into()))
    }
}

/// Every row `sql` returns, each read by `read`.
fn all_rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    mut read: impl FnMut(&Row<'_>) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut all = Vec::new();
    while let Some(row) = rows.next()? {
        all.push(read(row)?);
    }
    Ok(all)
}

/// The first row `sql` returns, read by `read`.
fn first_row<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&Row<'_>) -> anyhow::Result<T>,
) -> anyhow::Result<Option<T>> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    rows.next()?.map(read).transpose()
}

/// A `;`-separated list as the store keeps it (emails, addresses, org ids); empty: none.
fn split_list(text: &str) -> Vec<String> {
    text.split(';')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    /// Closes the idle connections; one in use closes when its call returns it.
    async fn close(&self) {
        self.pool.idle.lock().expect("pool lock").clear();
    }

    async fn known_accounts(&self) -> anyhow::Result<KnownAccounts> {
        self.call(accounts::known_accounts).await
    }

    async fn org_ids(&self) -> anyhow::Result<Vec<String>> {
        self.call(accounts::org_ids).await
    }

    async fn account_counts(&self) -> anyhow::Result<AccountCounts> {
        self.call(accounts::account_counts).await
    }

    async fn load_snapshot(&self, zone: Tz) -> anyhow::Result<Snapshot> {
        let path = self.pool.path.clone();
        tokio::task::spawn_blocking(move || {
            // A connection of its own with a small page cache: the load reads each page once,
            // and a pooled connection would keep up to 200 MB of them for the rest of the
            // review, at its peak of memory.
            let mut conn = open_connection(&path)?;
            conn.execute_batch("PRAGMA cache_size = -2000")?;
            accounts::load_snapshot(&mut conn, zone)
        })
        .await
        .context("the snapshot loader stopped")?
    }

    fn import_writer(
        &self,
        _handle: tokio::runtime::Handle,
        replace: bool,
        imported_at: DateTime<Utc>,
    ) -> anyhow::Result<Box<dyn ImportWriter>> {
        Ok(Box::new(accounts::SqliteImportWriter::begin(
            &self.pool.path,
            replace,
            imported_at,
        )?))
    }

    async fn begin_write(&self) -> anyhow::Result<Box<dyn AccountsTx>> {
        operations::SqliteTx::begin(Arc::clone(&self.pool), "BEGIN IMMEDIATE").await
    }

    async fn begin_read(&self) -> anyhow::Result<Box<dyn AccountsTx>> {
        operations::SqliteTx::begin(Arc::clone(&self.pool), "BEGIN").await
    }

    async fn database_role(&self) -> anyhow::Result<String> {
        Ok(operations::os_identity())
    }

    async fn audit_events(&self, username: Option<&str>) -> anyhow::Result<Vec<AuditEvent>> {
        let username = username.map(str::to_string);
        self.call(move |conn| operations::audit_events(conn, username.as_deref()))
            .await
    }

    async fn start_run(&self, new: &NewRun<'_>) -> anyhow::Result<RunRecord> {
        let mut run = running_run(new);
        run.started_at = stored_instant(run.started_at);
        let (prefix, out_root, first_sequence) = (
            new.started.format("%Y%m%d").to_string(),
            new.out_root.to_string(),
            new.first_sequence,
        );
        self.call(move |conn| history::start_run(conn, run, &prefix, &out_root, first_sequence))
            .await
    }

    async fn run_heartbeat(
        &self,
        run_id: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let params = (SqlTime(now), run_id.to_string(), owner.to_string());
        let what = "renew the run's heartbeat";
        Ok(self
            .write(history::RENEW_RUN_HEARTBEAT, params, what)
            .await?
            == 1)
    }

    async fn held_runs(&self) -> anyhow::Result<Vec<HeldRun>> {
        self.call(history::held_runs).await
    }

    async fn release_run(
        &self,
        run_id: &str,
        owner: &str,
        folder_error: Option<&str>,
        clear_error: bool,
    ) -> anyhow::Result<()> {
        let (run_id, owner) = (run_id.to_string(), owner.to_string());
        let folder_error = folder_error.map(str::to_string);
        self.call(move |conn| {
            history::release_run(conn, &run_id, &owner, folder_error.as_deref(), clear_error)
        })
        .await
    }

    async fn complete_run(&self, run: &RunRecord, done: &CompletedRun<'_>) -> anyhow::Result<()> {
        // Written from where the findings are, on this thread: a blocking task would need its
        // own copy of them, a gigabyte for a statewide run, at the run's peak. On a connection
        // of its own with a page cache of 64 MB (the indexes' pages): a pooled one would fill
        // its 200 MB with the findings' pages, also at the peak.
        let mut conn = open_connection(&self.pool.path)?;
        conn.execute_batch("PRAGMA cache_size = -64000")?;
        history::complete_run(&mut conn, run, done)
    }

    async fn fail_run(
        &self,
        run_id: &str,
        error: &str,
        finished_at: DateTime<Utc>,
        seen_heartbeat: Option<DateTime<Utc>>,
    ) -> anyhow::Result<bool> {
        let params = (
            RunStatus::Failed,
            error.to_string(),
            SqlTime(finished_at),
            run_id.to_string(),
            seen_heartbeat.map(SqlTime),
        );
        let what = "record the failed run in the runs table";
        Ok(self.write(history::FAIL_RUN, params, what).await? == 1)
    }

    async fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        self.call(history::runs).await
    }

    async fn run(&self, id: &str) -> anyhow::Result<Option<RunRecord>> {
        let id = id.to_string();
        self.call(move |conn| history::run(conn, &id)).await
    }

    async fn latest_completed_run(&self) -> anyhow::Result<Option<RunRecord>> {
        self.call(history::latest_completed_run).await
    }

    async fn findings(
        &self,
        run_id: &str,
        rule: Option<RuleId>,
        status: Option<FindingStatus>,
    ) -> anyhow::Result<Vec<FindingRow>> {
        let run_id = run_id.to_string();
        self.call(move |conn| history::findings(conn, &run_id, rule, status))
            .await
    }

    async fn last_completed_review_per_org(&self) -> anyhow::Result<Vec<(String, NaiveDate)>> {
        self.call(|conn| history::last_completed_review_per_org(conn))
            .await
    }

    async fn try_claim(&self, request: &ClaimRequest<'_>) -> anyhow::Result<ClaimOutcome> {
        let request = claims::OwnedClaimRequest::from(request);
        self.call(move |conn| claims::try_claim(conn, &request))
            .await
    }

    async fn claim_running(
        &self,
        period_key: &str,
        owner: &str,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let params = (
            ClaimState::Running,
            run_id.to_string(),
            SqlTime(now),
            period_key.to_string(),
            owner.to_string(),
        );
        let what = "record the run on its claim in the schedule_claims table";
        Ok(self.write(claims::CLAIM_RUNNING, params, what).await? == 1)
    }

    async fn claim_heartbeat(
        &self,
        period_key: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let params = (SqlTime(now), period_key.to_string(), owner.to_string());
        let what = "renew the claim's heartbeat in the schedule_claims table";
        Ok(self
            .write(claims::RENEW_CLAIM_HEARTBEAT, params, what)
            .await?
            == 1)
    }

    async fn finish_claim(
        &self,
        period_key: &str,
        owner: &str,
        state: ClaimState,
        run_id: Option<&str>,
        error: Option<&str>,
        finished_at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        debug_assert!(matches!(state, ClaimState::Completed | ClaimState::Failed));
        let params = (
            state,
            run_id.map(str::to_string),
            error.map(str::to_string),
            SqlTime(finished_at),
            period_key.to_string(),
            owner.to_string(),
        );
        let what = "close the claim in the schedule_claims table";
        Ok(self.write(claims::FINISH_CLAIM, params, what).await? == 1)
    }

    async fn claim(&self, period_key: &str) -> anyhow::Result<Option<ClaimRecord>> {
        let period_key = period_key.to_string();
        self.call(move |conn| claims::claim(conn, &period_key))
            .await
    }

    async fn claims(&self) -> anyhow::Result<Vec<ClaimRecord>> {
        self.call(claims::claims).await
    }

    async fn record_decisions(&self, decisions: &[NewDecision]) -> anyhow::Result<()> {
        let decisions = decisions.to_vec();
        self.call(move |conn| decisions::record_decisions(conn, &decisions))
            .await
    }

    async fn decisions(&self, run_id: Option<&str>) -> anyhow::Result<Vec<DecisionRecord>> {
        let run_id = run_id.map(str::to_string);
        self.call(move |conn| decisions::decisions(conn, run_id.as_deref()))
            .await
    }

    async fn latest_decisions(
        &self,
        before_run: &str,
    ) -> anyhow::Result<HashMap<String, PriorDecision>> {
        let before_run = before_run.to_string();
        self.call(move |conn| decisions::latest_decisions(conn, &before_run))
            .await
    }

    async fn previous_org_findings(
        &self,
        org_ids: &[String],
        before_run: &str,
    ) -> anyhow::Result<Vec<FindingRow>> {
        let (org_ids, before_run) = (org_ids.to_vec(), before_run.to_string());
        self.call(move |conn| history::previous_org_findings(conn, &org_ids, &before_run))
            .await
    }

    async fn latest_org_reviews(&self) -> anyhow::Result<Vec<OrgReview>> {
        self.call(|conn| history::latest_org_reviews(conn)).await
    }

    async fn follow_ups(&self, run_ids: &[String]) -> anyhow::Result<Vec<FollowUp>> {
        let run_ids = run_ids.to_vec();
        self.call(move |conn| outbox::follow_ups(conn, &run_ids))
            .await
    }

    async fn queue_follow_ups(
        &self,
        mails: &[OutgoingMail],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<String>> {
        let mails = mails.to_vec();
        self.call(move |conn| outbox::queue_follow_ups(conn, &mails, now))
            .await
    }

    async fn org_cadences(&self) -> anyhow::Result<HashMap<String, Cadence>> {
        self.call(decisions::org_cadences).await
    }

    async fn due_mail(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        ignore_schedule: bool,
    ) -> anyhow::Result<Vec<String>> {
        self.call(move |conn| outbox::due_mail(conn, now, stale_before, ignore_schedule))
            .await
    }

    async fn defer_due_mail(
        &self,
        now: DateTime<Utc>,
        ignore_schedule: bool,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let error = error.to_string();
        self.call(move |conn| outbox::defer_due_mail(conn, now, ignore_schedule, &error, retry_at))
            .await
    }

    async fn claim_mail(
        &self,
        key: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> anyhow::Result<Option<ClaimedMail>> {
        let key = key.to_string();
        self.call(move |conn| outbox::claim_mail(conn, &key, now, stale_before))
            .await
    }

    async fn mark_sent(&self, key: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
        let params = (OutboxState::Sent, SqlTime(now), key.to_string());
        let what = "mark a message sent in the outbox table";
        self.write(outbox::MARK_SENT, params, what).await?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        key: &str,
        error: &str,
        now: DateTime<Utc>,
        retry_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        // Failed for good, its next_attempt_at records when.
        let (state, next) = match retry_at {
            Some(at) => (OutboxState::Pending, at),
            None => (OutboxState::Failed, now),
        };
        let params = (state, error.to_string(), SqlTime(next), key.to_string());
        let what = "record a failed attempt in the outbox table";
        self.write(outbox::MARK_FAILED, params, what).await?;
        Ok(())
    }

    async fn requeue_failed(&self, now: DateTime<Utc>) -> anyhow::Result<u64> {
        let params = (OutboxState::Pending, SqlTime(now), OutboxState::Failed);
        let what = "requeue the failed messages in the outbox table";
        Ok(self.write(outbox::REQUEUE_FAILED, params, what).await? as u64)
    }

    async fn purge_sent_texts(&self, sent_before: DateTime<Utc>) -> anyhow::Result<u64> {
        let what = "delete the texts of sent messages from the outbox_messages table";
        let mut purged = 0;
        loop {
            let params = (SqlTime(sent_before), outbox::PURGE_BATCH);
            let deleted = self.write(outbox::PURGE_SENT_TEXTS, params, what).await?;
            purged += deleted as u64;
            if deleted < outbox::PURGE_BATCH {
                return Ok(purged);
            }
        }
    }

    async fn undelivered_mail(&self) -> anyhow::Result<Undelivered> {
        self.call(outbox::undelivered_mail).await
    }

    async fn outbox(&self, run_id: Option<&str>) -> anyhow::Result<Vec<OutboxEntry>> {
        let run_id = run_id.map(str::to_string);
        self.call(move |conn| outbox::outbox(conn, run_id.as_deref()))
            .await
    }

    async fn store_info(&self) -> anyhow::Result<StoreInfo> {
        self.call(|conn| {
            first_row(
                conn,
                "SELECT store_id, created_at, last_import_at FROM store_info WHERE singleton = 1",
                [],
                |row| {
                    Ok(from_row!(row.get => StoreInfo {
                        store_id;
                        created_at: row.get::<_, SqlTime>("created_at")?.0,
                        last_import_at: row
                            .get::<_, Option<SqlTime>>("last_import_at")?
                            .map(|t| t.0),
                    }))
                },
            )
            .context("cannot read the store_info table")?
            .context("the store_info table is empty")
        })
        .await
    }

    async fn next_mail_due(
        &self,
        stale_age: chrono::Duration,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        self.call(move |conn| outbox::next_mail_due(conn, stale_age))
            .await
    }

    async fn unalerted_mail(
        &self,
        pending_before: DateTime<Utc>,
        limit: usize,
    ) -> anyhow::Result<Vec<MailProblem>> {
        self.call(move |conn| outbox::unalerted_mail(conn, pending_before, limit))
            .await
    }

    async fn queue_alert(
        &self,
        alert: &AlertMail,
        reported: &[(String, MailAlert)],
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let (alert, reported) = (alert.clone(), reported.to_vec());
        self.call(move |conn| outbox::queue_alert(conn, &alert, &reported, now))
            .await
    }

    async fn org_trends(
        &self,
        org_ids: &[String],
        before_run: &str,
        limit: usize,
    ) -> anyhow::Result<HashMap<String, Vec<TrendPoint>>> {
        let (org_ids, before_run) = (org_ids.to_vec(), before_run.to_string());
        self.call(move |conn| history::org_trends(conn, &org_ids, &before_run, limit))
            .await
    }

    async fn scope_trend(
        &self,
        scope_key: &str,
        before_run: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<TrendPoint>> {
        let (scope_key, before_run) = (scope_key.to_string(), before_run.to_string());
        self.call(move |conn| history::scope_trend(conn, &scope_key, &before_run, limit))
            .await
    }
}
