//! The PostgreSQL store (the shared deployment), through a typed `sqlx::PgPool`.
//!
//! Several processes share the database, so every method that can race another process says
//! how it is serialized: the snapshot load and a replacing import lock the account tables in
//! one order (accounts.rs), the job-aid operations lock rows (operations.rs), a scheduler's
//! claim and a sender's claim are single conditional statements (claims.rs, outbox.rs). Times
//! are `timestamptz`, bound and read as `DateTime<Utc>`; dates stay `YYYY-MM-DD` text as the
//! first migrations made them.
//!
//! The methods live in one file per concern; the [`Store`] implementation below forwards to
//! them, and binds the single-statement writes whose SQL they define.

mod accounts;
mod claims;
mod decisions;
mod history;
mod operations;
mod outbox;
#[cfg(test)]
mod tests;

use super::*;
use crate::domain::{OutboxState, RunStatus};
use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Postgres, Row};
use std::str::FromStr;

/// The migrations of this backend, embedded in the binary.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The most bind parameters one statement carries: below PostgreSQL's 65,535, and large enough
/// that a batch of rows costs one round trip.
const MAX_BIND_PARAMETERS: usize = 30_000;

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

pub struct PgStore {
    pool: PgPool,
    /// How to reach the server outside the pool: a replacing import streams its rows with
    /// `COPY` on a connection of its own.
    options: PgConnectOptions,
}

impl PgStore {
    /// Connects to `url` within `connect_timeout` and applies any pending migrations.
    pub async fn open(url: &str, connect_timeout: Duration) -> anyhow::Result<PgStore> {
        let options = PgConnectOptions::from_str(url)
            .with_context(|| format!("invalid database URL {}", redact_url(url)))?;
        reach_postgres(&options, connect_timeout).await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open the database {}", redact_url(url)))?;
        let store = PgStore { pool, options };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations. A store that has every one is left alone: sqlx's migrator
    /// starts with `CREATE TABLE IF NOT EXISTS`, which PostgreSQL refuses to a role without
    /// CREATE on the schema even when the table exists, and the operator and reviewer roles of
    /// README "Security and data" have none.
    async fn migrate(&self) -> anyhow::Result<()> {
        if self.has_every_migration().await {
            return Ok(());
        }
        match MIGRATOR.run(&self.pool).await.map_err(anyhow::Error::from) {
            Err(e) if permission_denied(&e).is_some() => Err(e.context(
                "cannot migrate the database: this role may not create tables; the role that owns \
                 them runs `posc-review init` once after an upgrade",
            )),
            migrated => migrated.context("cannot migrate the database"),
        }
    }

    /// Whether every migration of this binary is applied, unmodified.
    async fn has_every_migration(&self) -> bool {
        let Ok(rows) = sqlx::query("SELECT version, checksum FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
        else {
            return false;
        };
        let applied: HashMap<i64, Vec<u8>> = rows
            .iter()
            .filter_map(|row| Some((row.try_get("version").ok()?, row.try_get("checksum").ok()?)))
            .collect();
        MIGRATOR
            .iter()
            .all(|m| applied.get(&m.version).is_some_and(|c| **c == *m.checksum))
    }
}

/// One connection to the PostgreSQL server, within `timeout`: the pool would retry a refused
/// connection until its acquire timeout (30 s) and then report only "pool timed out", without
/// the server or the cause.
async fn reach_postgres(options: &PgConnectOptions, timeout: Duration) -> anyhow::Result<()> {
    use sqlx::ConnectOptions;
    let server = format!("{}:{}", options.get_host(), options.get_port());
    match tokio::time::timeout(timeout, options.connect()).await {
        Ok(Ok(conn)) => Ok(sqlx::Connection::close(conn).await?),
        Ok(Err(e)) => {
            Err(anyhow::Error::new(e).context(format!("cannot connect to PostgreSQL at {server}")))
        }
        Err(_) => anyhow::bail!(
            "cannot connect to PostgreSQL at {server}: no answer within {} s \
             (database.connect_timeout_secs)",
            timeout.as_secs()
        ),
    }
}

/// A text column read into a domain value with its `parse`; the error names the table and
/// the column.
fn parsed<T>(
    row: &PgRow,
    table: &str,
    column: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> anyhow::Result<T> {
    let text: String = row.try_get(column)?;
    parse(&text).map_err(|e| anyhow::anyhow!("bad {column} in the {table} table: {e}"))
}

/// A `YYYY-MM-DD` text column (the first migrations keep dates as text).
fn text_date(row: &PgRow, table: &str, column: &str) -> anyhow::Result<Option<NaiveDate>> {
    stored_date(column, row.try_get::<Option<String>, _>(column)?)
        .with_context(|| format!("in the {table} table"))
}

/// A `NOT NULL` `YYYY-MM-DD` text column.
fn required_date(row: &PgRow, table: &str, column: &str) -> anyhow::Result<NaiveDate> {
    text_date(row, table, column)?
        .with_context(|| format!("{column} is empty in the {table} table"))
}

fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Inserts `rows` with multi-row `INSERT ... VALUES` statements of as many rows as the
/// parameter limit allows. `head` is `INSERT INTO t (a, b, c)`, `tail` an optional
/// `ON CONFLICT ...` clause, `bind` binds one row's `columns` values in order. Returns how many
/// rows were written.
async fn insert_batched<T>(
    conn: &mut PgConnection,
    head: &str,
    columns: usize,
    tail: &str,
    rows: &[T],
    bind: impl for<'q> Fn(PgQuery<'q>, &'q T) -> PgQuery<'q>,
) -> anyhow::Result<u64> {
    let per_statement = (MAX_BIND_PARAMETERS / columns).max(1);
    let mut full_sql = None;
    let mut written = 0;
    for chunk in rows.chunks(per_statement) {
        let partial_sql;
        let sql: &str = if chunk.len() == per_statement {
            full_sql.get_or_insert_with(|| values_sql(head, columns, chunk.len(), tail))
        } else {
            partial_sql = values_sql(head, columns, chunk.len(), tail);
            &partial_sql
        };
        let query = chunk.iter().fold(sqlx::query(sql), &bind);
        written += query
            .execute(&mut *conn)
            .await
            .with_context(|| format!("cannot write: {head}"))?
            .rows_affected();
    }
    Ok(written)
}

/// `head VALUES ($1,...), (...) tail`.
fn values_sql(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 7);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mut n = 0;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ",(" });
        for c in 0..columns {
            n += 1;
            if c > 0 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

impl PgStore {
    /// Runs one writing statement; how many rows it changed. `what` completes "cannot ...".
    async fn write(&self, query: PgQuery<'_>, what: &str) -> anyhow::Result<u64> {
        let done = query
            .execute(&self.pool)
            .await
            .with_context(|| format!("cannot {what}"))?;
        Ok(done.rows_affected())
    }

    /// Every row `query` returns, each read by `read`. `what` completes "cannot read ...".
    async fn read_all<T>(
        &self,
        query: PgQuery<'_>,
        what: &str,
        read: impl Fn(&PgRow) -> anyhow::Result<T>,
    ) -> anyhow::Result<Vec<T>> {
        let rows = query
            .fetch_all(&self.pool)
            .await
            .with_context(|| format!("cannot read {what}"))?;
        rows.iter().map(read).collect()
    }

    /// The row `query` returns, if any, read by `read`.
    async fn read_optional<T>(
        &self,
        query: PgQuery<'_>,
        what: &str,
        read: impl FnOnce(&PgRow) -> anyhow::Result<T>,
    ) -> anyhow::Result<Option<T>> {
        let row = query
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("cannot read {what}"))?;
        row.as_ref().map(read).transpose()
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn known_accounts(&self) -> anyhow::Result<KnownAccounts> {
        PgStore::known_accounts(self).await
    }

    async fn org_ids(&self) -> anyhow::Result<Vec<String>> {
        PgStore::org_ids(self).await
    }

    async fn account_counts(&self) -> anyhow::Result<AccountCounts> {
        PgStore::account_counts(self).await
    }

    async fn load_snapshot(&self, zone: Tz) -> anyhow::Result<Snapshot> {
        PgStore::load_snapshot(self, zone).await
    }

    fn import_writer(
        &self,
        handle: tokio::runtime::Handle,
        replace: bool,
        imported_at: DateTime<Utc>,
    ) -> anyhow::Result<Box<dyn ImportWriter>> {
        Ok(Box::new(accounts::PgImportWriter::begin(
            self,
            handle,
            replace,
            imported_at,
        )?))
    }

    async fn begin_write(&self) -> anyhow::Result<Box<dyn AccountsTx>> {
        Ok(Box::new(operations::PgAccountsTx::begin_write(self).await?))
    }

    async fn begin_read(&self) -> anyhow::Result<Box<dyn AccountsTx>> {
        Ok(Box::new(operations::PgAccountsTx::begin_read(self).await?))
    }

    async fn database_role(&self) -> anyhow::Result<String> {
        PgStore::database_role(self).await
    }

    async fn audit_events(&self, username: Option<&str>) -> anyhow::Result<Vec<AuditEvent>> {
        PgStore::audit_events(self, username).await
    }

    async fn start_run(&self, new: &NewRun<'_>) -> anyhow::Result<RunRecord> {
        PgStore::start_run(self, new).await
    }

    async fn run_heartbeat(
        &self,
        run_id: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let query = sqlx::query(history::RENEW_RUN_HEARTBEAT)
            .bind(now)
            .bind(run_id)
            .bind(owner);
        Ok(self.write(query, "renew the run's heartbeat").await? == 1)
    }

    async fn held_runs(&self) -> anyhow::Result<Vec<HeldRun>> {
        PgStore::held_runs(self).await
    }

    async fn release_run(
        &self,
        run_id: &str,
        owner: &str,
        folder_error: Option<&str>,
        clear_error: bool,
    ) -> anyhow::Result<()> {
        let sql = if folder_error.is_some() || clear_error {
            history::RELEASE_RUN
        } else {
            history::RELEASE_RUN_KEEPING_ERROR
        };
        let query = sqlx::query(sql)
            .bind(folder_error.map(|_| owner))
            .bind(folder_error)
            .bind(run_id)
            .bind(owner);
        self.write(query, "record the run's folder").await?;
        Ok(())
    }

    async fn complete_run(&self, run: &RunRecord, done: &CompletedRun<'_>) -> anyhow::Result<()> {
        PgStore::complete_run(self, run, done).await
    }

    async fn fail_run(
        &self,
        run_id: &str,
        error: &str,
        finished_at: DateTime<Utc>,
        seen_heartbeat: Option<DateTime<Utc>>,
    ) -> anyhow::Result<bool> {
        let query = sqlx::query(history::FAIL_RUN)
            .bind(RunStatus::Failed.as_str())
            .bind(error)
            .bind(finished_at)
            .bind(run_id)
            .bind(seen_heartbeat);
        Ok(self.write(query, "record the failed run").await? == 1)
    }

    async fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        PgStore::runs(self).await
    }

    async fn run(&self, id: &str) -> anyhow::Result<Option<RunRecord>> {
        PgStore::run(self, id).await
    }

    async fn latest_completed_run(&self) -> anyhow::Result<Option<RunRecord>> {
        PgStore::latest_completed_run(self).await
    }

    async fn findings(
        &self,
        run_id: &str,
        rule: Option<crate::domain::RuleId>,
        status: Option<crate::domain::FindingStatus>,
    ) -> anyhow::Result<Vec<FindingRow>> {
        PgStore::findings(self, run_id, rule, status).await
    }

    async fn last_completed_review_per_org(&self) -> anyhow::Result<Vec<(String, NaiveDate)>> {
        PgStore::last_completed_review_per_org(self).await
    }

    async fn try_claim(&self, request: &ClaimRequest<'_>) -> anyhow::Result<ClaimOutcome> {
        PgStore::try_claim(self, request).await
    }

    async fn claim_running(
        &self,
        period_key: &str,
        owner: &str,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let query = sqlx::query(claims::CLAIM_RUNNING)
            .bind(ClaimState::Running.as_str())
            .bind(run_id)
            .bind(now)
            .bind(period_key)
            .bind(owner);
        Ok(self.write(query, "record the run on its claim").await? == 1)
    }

    async fn claim_heartbeat(
        &self,
        period_key: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let query = sqlx::query(claims::RENEW_CLAIM_HEARTBEAT)
            .bind(now)
            .bind(period_key)
            .bind(owner);
        Ok(self.write(query, "renew the claim's heartbeat").await? == 1)
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
        let query = sqlx::query(claims::FINISH_CLAIM)
            .bind(state.as_str())
            .bind(run_id)
            .bind(error)
            .bind(finished_at)
            .bind(period_key)
            .bind(owner);
        Ok(self.write(query, "close the claim").await? == 1)
    }

    async fn claim(&self, period_key: &str) -> anyhow::Result<Option<ClaimRecord>> {
        PgStore::claim(self, period_key).await
    }

    async fn claims(&self) -> anyhow::Result<Vec<ClaimRecord>> {
        PgStore::claims(self).await
    }

    async fn record_decisions(&self, decisions: &[NewDecision]) -> anyhow::Result<()> {
        PgStore::record_decisions(self, decisions).await
    }

    async fn decisions(&self, run_id: Option<&str>) -> anyhow::Result<Vec<DecisionRecord>> {
        PgStore::decisions(self, run_id).await
    }

    async fn latest_decisions(
        &self,
        before_run: &str,
    ) -> anyhow::Result<HashMap<String, PriorDecision>> {
        PgStore::latest_decisions(self, before_run).await
    }

    async fn previous_org_findings(
        &self,
        org_ids: &[String],
        before_run: &str,
    ) -> anyhow::Result<Vec<FindingRow>> {
        PgStore::previous_org_findings(self, org_ids, before_run).await
    }

    async fn latest_org_reviews(&self) -> anyhow::Result<Vec<OrgReview>> {
        PgStore::latest_org_reviews(self).await
    }

    async fn follow_ups(&self, run_ids: &[String]) -> anyhow::Result<Vec<FollowUp>> {
        PgStore::follow_ups(self, run_ids).await
    }

    async fn queue_follow_ups(
        &self,
        mails: &[OutgoingMail],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<String>> {
        PgStore::queue_follow_ups(self, mails, now).await
    }

    async fn org_cadences(&self) -> anyhow::Result<HashMap<String, crate::domain::Cadence>> {
        PgStore::org_cadences(self).await
    }

    async fn due_mail(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        ignore_schedule: bool,
    ) -> anyhow::Result<Vec<String>> {
        PgStore::due_mail(self, now, stale_before, ignore_schedule).await
    }

    async fn defer_due_mail(
        &self,
        now: DateTime<Utc>,
        ignore_schedule: bool,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let query = sqlx::query(outbox::DEFER_DUE_MAIL)
            .bind(error)
            .bind(retry_at)
            .bind(now)
            .bind(ignore_schedule);
        self.write(query, "defer the due mail").await
    }

    async fn claim_mail(
        &self,
        key: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> anyhow::Result<Option<ClaimedMail>> {
        PgStore::claim_mail(self, key, now, stale_before).await
    }

    async fn mark_sent(&self, key: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
        let query = sqlx::query(outbox::MARK_SENT).bind(now).bind(key);
        self.write(query, "record the message as sent").await?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        key: &str,
        error: &str,
        now: DateTime<Utc>,
        retry_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        let (state, next) =
            retry_at.map_or((OutboxState::Failed, now), |at| (OutboxState::Pending, at));
        let query = sqlx::query(outbox::MARK_FAILED)
            .bind(state.as_str())
            .bind(error)
            .bind(next)
            .bind(key);
        self.write(query, "record the failed attempt").await?;
        Ok(())
    }

    async fn requeue_failed(&self, now: DateTime<Utc>) -> anyhow::Result<u64> {
        let query = sqlx::query(outbox::REQUEUE_FAILED).bind(now);
        self.write(query, "requeue the failed messages").await
    }

    async fn purge_sent_texts(&self, sent_before: DateTime<Utc>) -> anyhow::Result<u64> {
        let query = sqlx::query(outbox::PURGE_SENT_TEXTS).bind(sent_before);
        self.write(query, "delete the texts of sent messages").await
    }

    async fn undelivered_mail(&self) -> anyhow::Result<Undelivered> {
        PgStore::undelivered_mail(self).await
    }

    async fn outbox(&self, run_id: Option<&str>) -> anyhow::Result<Vec<OutboxEntry>> {
        PgStore::outbox(self, run_id).await
    }

    async fn store_info(&self) -> anyhow::Result<StoreInfo> {
        let query = sqlx::query(
            "SELECT store_id, created_at, last_import_at FROM store_info WHERE singleton = 1",
        );
        self.read_optional(query, "the store's identity", |row| {
            Ok(from_row!(row.try_get => StoreInfo { store_id, created_at, last_import_at }))
        })
        .await?
        .context("the store_info table is empty")
    }

    async fn next_mail_due(
        &self,
        stale_age: chrono::Duration,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        PgStore::next_mail_due(self, stale_age).await
    }

    async fn unalerted_mail(
        &self,
        pending_before: DateTime<Utc>,
        limit: usize,
    ) -> anyhow::Result<Vec<MailProblem>> {
        PgStore::unalerted_mail(self, pending_before, limit).await
    }

    async fn queue_alert(
        &self,
        alert: &AlertMail,
        reported: &[(String, crate::domain::MailAlert)],
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        PgStore::queue_alert(self, alert, reported, now).await
    }

    async fn org_trends(
        &self,
        org_ids: &[String],
        before_run: &str,
        limit: usize,
    ) -> anyhow::Result<HashMap<String, Vec<TrendPoint>>> {
        PgStore::org_trends(self, org_ids, before_run, limit).await
    }

    async fn scope_trend(
        &self,
        scope_key: &str,
        before_run: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<TrendPoint>> {
        PgStore::scope_trend(self, scope_key, before_run, limit).await
    }
}

#[cfg(test)]
mod sql_tests {
    use super::*;

    #[test]
    fn values_sql_numbers_every_placeholder() {
        assert_eq!(
            values_sql("INSERT INTO t (a, b)", 2, 2, ""),
            "INSERT INTO t (a, b) VALUES ($1,$2),($3,$4) "
        );
    }
}
