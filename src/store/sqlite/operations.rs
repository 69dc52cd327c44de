//! The store side of the job-aid operations (`posc-review accounts ...`) and their audit log.
//!
//! A policy check ("at most two holders of PRIMARY_USER on a PID/SL") and the write it allows
//! must not interleave with another operation's check and write, or two concurrent grants could
//! each see one holder and together make three. On SQLite a write operation's transaction
//! starts with `BEGIN IMMEDIATE`, which takes the database's write lock at once (a plain
//! `BEGIN` would take it only at the first write, after the reads): a second writer waits
//! (busy_timeout) until the first commits, and its reads then see the first's result. SQLite
//! has one writer at a time anyway, so this costs nothing, and the IMMEDIATE lock is the lock:
//! the row locks PostgreSQL takes (`lock_*`) have nothing to do here.

use super::accounts::{upsert_sql, write_access, write_user};
use super::{all_rows, first_row, Pool, SqlTime};
use crate::domain::{PidSl, Services, UserStatus};
use crate::snapshot::Personal;
use crate::store::upsert;
use crate::store::{AccessRow, AccountsTx, AuditEvent, Member, PidSlInfo, UserRow};
use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};
use std::sync::Arc;

/// A transaction of the job-aid operations on a connection of its own. Each call moves the
/// connection to a blocking thread and back; dropped without `commit`, it rolls back.
pub(super) struct SqliteTx {
    pool: Arc<Pool>,
    conn: Option<Connection>,
}

impl SqliteTx {
    /// `begin` is `BEGIN IMMEDIATE` for an operation that writes, `BEGIN` for one that reads.
    pub(super) async fn begin(
        pool: Arc<Pool>,
        begin: &'static str,
    ) -> anyhow::Result<Box<dyn AccountsTx>> {
        let taken = Arc::clone(&pool);
        let conn = tokio::task::spawn_blocking(move || -> anyhow::Result<Connection> {
            let conn = taken.take()?;
            conn.execute_batch(begin)
                .context("cannot start a transaction")?;
            Ok(conn)
        })
        .await
        .context("a database call stopped")??;
        Ok(Box::new(SqliteTx {
            pool,
            conn: Some(conn),
        }))
    }

    async fn with<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&Connection) -> anyhow::Result<R> + Send + 'static,
    ) -> anyhow::Result<R> {
        let conn = self
            .conn
            .take()
            .context("the transaction's connection was lost to an earlier failure")?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = f(&conn);
            (conn, result)
        })
        .await
        .context("a database call stopped")?;
        self.conn = Some(conn);
        result
    }

    /// Runs one writing statement in the transaction; `params` owns its values (they cross to
    /// a blocking thread).
    async fn write(
        &mut self,
        sql: &'static str,
        params: impl rusqlite::Params + Send + 'static,
        failure: &'static str,
    ) -> anyhow::Result<()> {
        self.with(move |conn| {
            conn.prepare_cached(sql)?.execute(params).context(failure)?;
            Ok(())
        })
        .await
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if !conn.is_autocommit() {
                // A rollback releases the lock at once, without waiting on anything.
                if let Err(e) = conn.execute_batch("ROLLBACK") {
                    tracing::warn!(error = %e, "cannot roll back an operation's transaction");
                }
            }
            self.pool.give_back(conn);
        }
    }
}

const MEMBER_SELECT: &str = "SELECT u.id AS user_id, u.username AS username, \
     u.first_name AS first_name, u.last_name AS last_name, u.org_id AS org_id, \
     u.status AS status, u.terminated_on AS terminated_on, a.pidsl AS pidsl, \
     p.org_id AS pidsl_org_id, a.role AS role, a.services AS services, \
     a.granted_on AS granted_on, a.expires_on AS expires_on \
     FROM access a JOIN users u ON u.id = a.user_id JOIN pidsls p ON p.pidsl = a.pidsl";

/// A date column that may be empty.
fn date(row: &Row<'_>, column: &str) -> rusqlite::Result<Option<chrono::NaiveDate>> {
    Ok(row.get::<_, Option<super::SqlDate>>(column)?.map(|d| d.0))
}

fn member(row: &Row<'_>) -> anyhow::Result<Member> {
    Ok(from_row!(row.get => Member {
        user_id, username, first_name, last_name, org_id, status, pidsl, pidsl_org_id, role,
        services;
        terminated_on: date(row, "terminated_on")?,
        granted_on: date(row, "granted_on")?,
        expires_on: date(row, "expires_on")?,
    }))
}

const USER_SELECT: &str = "SELECT id, username, first_name, last_name, middle_initial, phone, \
     email, org_id, job_role, status, created_on, last_login_at, terms_accepted_on, terminated_on, \
     dob_mmdd, ssn_last4 FROM users";

fn user_row(row: &Row<'_>) -> anyhow::Result<UserRow> {
    Ok(from_row!(row.get => UserRow {
        id, username, first_name, last_name, middle_initial, phone, email, org_id, job_role,
        status, last_login_at;
        created_on: date(row, "created_on")?,
        terms_accepted_on: date(row, "terms_accepted_on")?,
        terminated_on: date(row, "terminated_on")?,
        dob_mmdd: row.get::<_, Option<String>>("dob_mmdd")?.map(Personal::new),
        ssn_last4: row.get::<_, Option<String>>("ssn_last4")?.map(Personal::new),
    }))
}

fn pidsl_info(conn: &Connection, pidsl: PidSl) -> anyhow::Result<Option<PidSlInfo>> {
    first_row(
        conn,
        "SELECT org_id, active FROM pidsls WHERE pidsl = ?1",
        [&pidsl],
        |row| {
            Ok(PidSlInfo {
                pidsl: pidsl.clone(),
                org_id: row.get("org_id")?,
                active: row.get("active")?,
            })
        },
    )
    .context("cannot read the PID/SL from the pidsls table")
}

#[async_trait]
impl AccountsTx for SqliteTx {
    /// The IMMEDIATE lock already serializes the operation: this reads the row.
    async fn lock_pidsl(&mut self, pidsl: &PidSl) -> anyhow::Result<Option<PidSlInfo>> {
        self.pidsl_info(pidsl).await
    }

    async fn lock_pidsls_of_user(&mut self, _user_id: i64) -> anyhow::Result<()> {
        Ok(())
    }

    async fn lock_users(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn user_by_name(&mut self, username: &str) -> anyhow::Result<Option<UserRow>> {
        let key = username.trim().to_lowercase();
        self.with(move |conn| {
            first_row(
                conn,
                &format!("{USER_SELECT} WHERE username_key = ?1"),
                [&key],
                user_row,
            )
            .context("cannot read the user from the users table")
        })
        .await
    }

    async fn org_exists(&mut self, org_id: &str) -> anyhow::Result<bool> {
        let org_id = org_id.to_string();
        self.with(move |conn| {
            let found = first_row(
                conn,
                "SELECT org_id FROM organizations WHERE org_id = ?1",
                [&org_id],
                |_| Ok(()),
            )
            .context("cannot read the organizations table")?;
            Ok(found.is_some())
        })
        .await
    }

    async fn pidsl_info(&mut self, pidsl: &PidSl) -> anyhow::Result<Option<PidSlInfo>> {
        let pidsl = pidsl.clone();
        self.with(move |conn| pidsl_info(conn, pidsl)).await
    }

    /// Ordered by role (primary, backup, subordinate) then username.
    async fn members_of_pidsl(&mut self, pidsl: &PidSl) -> anyhow::Result<Vec<Member>> {
        let pidsl = pidsl.clone();
        self.with(move |conn| {
            all_rows(
                conn,
                &format!(
                    "{MEMBER_SELECT} WHERE a.pidsl = ?1 ORDER BY CASE a.role WHEN 'primary' THEN 0 \
                     WHEN 'backup' THEN 1 ELSE 2 END, u.username_key"
                ),
                [&pidsl],
                member,
            )
            .context("cannot read the PID/SL's access list")
        })
        .await
    }

    /// By PID/SL.
    async fn access_of_user(&mut self, user_id: i64) -> anyhow::Result<Vec<Member>> {
        self.with(move |conn| {
            all_rows(
                conn,
                &format!("{MEMBER_SELECT} WHERE a.user_id = ?1 ORDER BY a.pidsl"),
                [user_id],
                member,
            )
            .context("cannot read the user's access")
        })
        .await
    }

    async fn admin_rows_in_org(
        &mut self,
        user_id: i64,
        org_id: &str,
    ) -> anyhow::Result<Vec<Member>> {
        let org_id = org_id.to_string();
        self.with(move |conn| {
            all_rows(
                conn,
                &format!(
                    "{MEMBER_SELECT} WHERE a.user_id = ?1 AND p.org_id = ?2 \
                     AND a.role IN ('primary', 'backup') ORDER BY a.pidsl"
                ),
                params![user_id, org_id],
                member,
            )
            .context("cannot read the user's access")
        })
        .await
    }

    /// One more than the largest.
    async fn next_user_id(&mut self) -> anyhow::Result<i64> {
        self.with(|conn| {
            let largest: i64 = conn
                .query_row(
                    "SELECT COALESCE(MAX(id), 0) AS largest FROM users",
                    [],
                    |row| row.get("largest"),
                )
                .context("cannot read the users table")?;
            Ok(largest + 1)
        })
        .await
    }

    async fn put_access(&mut self, row: &AccessRow) -> anyhow::Result<()> {
        let (row, sql) = (row.clone(), upsert_sql(&upsert::ACCESS));
        self.with(move |conn| write_access(&mut *conn.prepare_cached(&sql)?, &row))
            .await
    }

    async fn delete_access(&mut self, user_id: i64, pidsl: &PidSl) -> anyhow::Result<()> {
        let sql = "DELETE FROM access WHERE user_id = ?1 AND pidsl = ?2";
        let failure = "cannot remove the row from the access table";
        self.write(sql, (user_id, pidsl.clone()), failure).await
    }

    async fn insert_user(&mut self, row: &UserRow) -> anyhow::Result<()> {
        let (row, sql) = (row.clone(), upsert_sql(&upsert::USERS));
        self.with(move |conn| write_user(&mut *conn.prepare_cached(&sql)?, &row))
            .await
    }

    async fn set_user_status(&mut self, user_id: i64, status: UserStatus) -> anyhow::Result<()> {
        let sql = "UPDATE users SET status = ?1 WHERE id = ?2";
        let failure = "cannot change the user's status in the users table";
        self.write(sql, (status, user_id), failure).await
    }

    /// Appends the event inside the operation's transaction, with the OS user and host of this
    /// process as who ran it.
    async fn record_audit(&mut self, event: &AuditEvent) -> anyhow::Result<()> {
        let event = event.clone();
        self.with(move |conn| {
            conn.prepare_cached(
                "INSERT INTO audit_log (at, actor, action, username, username_key, pidsl, \
                 services_before, services_after, detail, ran_as) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                SqlTime(event.at),
                event.actor,
                event.action,
                event.username,
                event.username.to_lowercase(),
                event.pidsl,
                event.services_before.to_string(),
                event.services_after.to_string(),
                event.detail,
                os_identity(),
            ])
            .context("cannot write the audit_log table")?;
            Ok(())
        })
        .await
    }

    async fn commit(mut self: Box<Self>) -> anyhow::Result<()> {
        self.with(|conn| {
            conn.execute_batch("COMMIT")
                .context("cannot commit the operation")
        })
        .await
        // Drop gives the connection back, rolling back a transaction that failed to commit.
    }
}

/// The OS user (from the process's effective uid, not the environment) and host running this
/// process: `user@host`.
pub(super) fn os_identity() -> String {
    let user = whoami::fallible::username()
        .unwrap_or_else(|_| format!("uid {}", rustix::process::geteuid().as_raw()));
    let host = whoami::fallible::hostname().unwrap_or_else(|_| "unknown-host".into());
    format!("{user}@{host}")
}

/// A `;`-separated list of service codes as the audit log keeps them; empty: none.
fn stored_services(row: &Row<'_>, column: &str) -> anyhow::Result<Services> {
    let text = row.get_ref(column)?.as_str()?;
    if text.is_empty() {
        return Ok(Services::EMPTY);
    }
    Services::parse_list(text)
        .map_err(|e| anyhow::anyhow!("bad {column} in the audit_log table: {e}"))
}

/// The audit log, oldest first; only events about `username` (case-insensitive) if given.
pub(super) fn audit_events(
    conn: &mut Connection,
    username: Option<&str>,
) -> anyhow::Result<Vec<AuditEvent>> {
    const SELECT: &str = "SELECT id, at, actor, action, username, pidsl, services_before, \
                          services_after, detail, ran_as FROM audit_log";
    // Two statements, so that one user's events are found by the audit_log_by_user index.
    let key = username.map(|name| name.trim().to_lowercase());
    let sql = match key {
        Some(_) => format!("{SELECT} WHERE username_key = ?1 ORDER BY id"),
        None => format!("{SELECT} ORDER BY id"),
    };
    all_rows(conn, &sql, rusqlite::params_from_iter(key.iter()), |row| {
        Ok(from_row!(row.get => AuditEvent {
            id, actor, ran_as, action, username, pidsl, detail;
            at: row.get::<_, SqlTime>("at")?.0,
            services_before: stored_services(row, "services_before")?,
            services_after: stored_services(row, "services_after")?,
        }))
    })
    .context("cannot read the audit_log table")
}
