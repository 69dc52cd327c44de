//! The account store and the review history, on SQLite (the embedded default) or PostgreSQL.
//!
//! One `Store` serves both backends through sqlx's `Any` driver: the SQL is written once with
//! `$n` placeholders (which both accept), dates are ISO text and services a bit set, and the
//! URL scheme picks the migrations folder. The few statements that differ branch on
//! [`Backend`].

mod accounts;
mod audit;
mod claims;
mod decisions;
mod history;
mod import_writer;
mod outbox;
mod sqlite_read;

pub use accounts::{AccessRow, KnownAccounts, OrgRow, PidSlRow, UserRow};
pub use audit::{AuditEvent, Member, PidSlInfo, WriteTx};
pub use claims::{ClaimOutcome, ClaimRecord, ClaimRequest, ClaimState};
pub use decisions::{DecisionRecord, NewDecision, PriorDecision, ACCEPT_RISK};
pub use history::{CompletedRun, FindingRow, HeldRun, NewRun, RunCounts, RunRecord, RunStatus};
pub(crate) use import_writer::ImportWriter;
pub use outbox::{timestamp, MessageFile, OutboxEntry, OutgoingMail, Undelivered};

use anyhow::Context;
use sqlx::any::{AnyArguments, AnyConnectOptions, AnyPoolOptions};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Row};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The database file of a SQLite store, for bulk reads outside sqlx.
    sqlite_file: Option<std::path::PathBuf>,
    /// How to reach a PostgreSQL store outside the pool: a replacing import streams its rows
    /// with `COPY`, which only a PostgreSQL connection of its own can do.
    postgres: Option<std::sync::Arc<sqlx::postgres::PgConnectOptions>>,
}

/// The most bind parameters one statement carries; below SQLite's 32,766 and PostgreSQL's
/// 65,535, and large enough that a batch of rows costs one round trip.
const MAX_BIND_PARAMETERS: usize = 30_000;

impl Store {
    /// [`Store::connect`] with the default connect timeout.
    pub async fn open(url: &str) -> anyhow::Result<Store> {
        let timeout = Duration::from_secs(crate::config::DEFAULT_CONNECT_TIMEOUT_SECS.into());
        Store::open_with(url, timeout).await
    }

    /// Connects (creating a SQLite file if missing) and applies any pending migrations.
    pub async fn connect(settings: &crate::config::DatabaseSettings) -> anyhow::Result<Store> {
        let timeout = Duration::from_secs(settings.connect_timeout_secs.into());
        Store::open_with(&settings.url, timeout).await
    }

    async fn open_with(url: &str, connect_timeout: Duration) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL {url:?}: expected sqlite://FILE or postgres://USER@HOST/DB");
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database URL {}", redact_url(&url)))?;
        let postgres = match backend {
            Backend::Postgres => {
                let options = sqlx::postgres::PgConnectOptions::from_str(&url)
                    .with_context(|| format!("invalid database URL {}", redact_url(&url)))?;
                reach_postgres(&options, connect_timeout).await?;
                Some(std::sync::Arc::new(options))
            }
            Backend::Sqlite => None,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; NORMAL is durable at each
                        // checkpoint, which is what a batch tool needs.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 30000; PRAGMA cache_size = -200000; PRAGMA temp_store = MEMORY;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
        let sqlite_file = match backend {
            Backend::Sqlite => Some(sqlite_file(&url)?),
            Backend::Postgres => None,
        };
        let store = Store {
            pool,
            backend,
            sqlite_file,
            postgres,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies pending migrations. A store that has every one is left alone: sqlx's migrator
    /// starts with `CREATE TABLE IF NOT EXISTS`, which PostgreSQL refuses to a role without
    /// CREATE on the schema even when the table exists, and the operator and reviewer roles of
    /// README "Security and data" have none.
    async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        if self.has_every_migration(&migrator).await {
            return Ok(());
        }
        let migrated = migrator.run(&self.pool).await;
        match migrated.map_err(anyhow::Error::from) {
            Err(e) if permission_denied(&e).is_some() => Err(e.context(
                "cannot migrate the database: this role may not create tables; the role that owns \
                 them runs `posc-review init` once after an upgrade",
            )),
            migrated => migrated.context("cannot migrate the database"),
        }
    }

    /// Whether every migration of this binary is applied, unmodified.
    async fn has_every_migration(&self, migrator: &sqlx::migrate::Migrator) -> bool {
        let Ok(rows) = sqlx::query("SELECT version, checksum FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
        else {
            return false;
        };
        let applied: std::collections::HashMap<i64, Vec<u8>> = rows
            .iter()
            .filter_map(|row| Some((row.try_get(0).ok()?, row.try_get(1).ok()?)))
            .collect();
        migrator
            .iter()
            .all(|m| applied.get(&m.version).is_some_and(|c| **c == *m.checksum))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
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

/// One connection to the PostgreSQL server, within `timeout`: the pool would retry a refused
/// connection until its acquire timeout (30 s) and then report only "pool timed out", without
/// the server or the cause.
async fn reach_postgres(
    options: &sqlx::postgres::PgConnectOptions,
    timeout: Duration,
) -> anyhow::Result<()> {
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

/// The file of a `sqlite:` URL (`sqlite://FILE`, `sqlite:FILE`, with or without `?options`).
pub(crate) fn sqlite_file(url: &str) -> anyhow::Result<std::path::PathBuf> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let file = rest.split('?').next().unwrap_or_default();
    anyhow::ensure!(
        !file.is_empty() && file != ":memory:",
        "{url:?}: the SQLite store must be a file"
    );
    Ok(std::path::PathBuf::from(file))
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

pub(crate) type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// Inserts `rows` with multi-row `INSERT ... VALUES` statements of as many rows as the
/// parameter limit allows. `head` is `INSERT INTO t (a, b, c)`, `tail` an optional
/// `ON CONFLICT ...` clause, `bind` binds one row's `columns` values in order.
pub(crate) async fn insert_batched<T>(
    conn: &mut AnyConnection,
    backend: Backend,
    head: &str,
    columns: usize,
    tail: &str,
    rows: &[T],
    bind: impl for<'q> Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q>,
) -> anyhow::Result<()> {
    let per_statement = (MAX_BIND_PARAMETERS / columns).max(1);
    let mut full_sql = None;
    for chunk in rows.chunks(per_statement) {
        let partial_sql;
        let sql: &str = if chunk.len() == per_statement {
            full_sql.get_or_insert_with(|| values_sql(backend, head, columns, chunk.len(), tail))
        } else {
            partial_sql = values_sql(backend, head, columns, chunk.len(), tail);
            &partial_sql
        };
        let query = chunk.iter().fold(sqlx::query(sql), &bind);
        query
            .execute(&mut *conn)
            .await
            .with_context(|| format!("cannot write: {head}"))?;
    }
    Ok(())
}

/// `head VALUES (...), (...) tail`. SQLite gets anonymous `?` placeholders: it looks a
/// numbered or named one up by a linear scan, which makes binding a 30,000-parameter statement
/// quadratic; PostgreSQL needs `$n`.
fn values_sql(backend: Backend, head: &str, columns: usize, rows: usize, tail: &str) -> String {
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
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
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

    #[test]
    fn values_sql_numbers_every_placeholder() {
        assert_eq!(
            values_sql(Backend::Sqlite, "INSERT INTO t (a, b)", 2, 2, ""),
            "INSERT INTO t (a, b) VALUES (?,?),(?,?) "
        );
        assert_eq!(
            values_sql(Backend::Postgres, "INSERT INTO t (a, b)", 2, 2, ""),
            "INSERT INTO t (a, b) VALUES ($1,$2),($3,$4) "
        );
    }
}
