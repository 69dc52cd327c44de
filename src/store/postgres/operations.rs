//! The store side of the job-aid operations (`posc-review accounts ...`): the transaction
//! that serializes a policy check with the write it allows, the reads the checks need, and
//! the audit log.
//!
//! # Atomicity
//!
//! A policy check ("at most two holders of PRIMARY_USER on a PID/SL") and the write it allows
//! must not interleave with another operation's check and write, or two concurrent grants could
//! each see one holder and together make three. Each operation runs in one READ COMMITTED
//! transaction whose first statement locks the PID/SL rows it is about with
//! `SELECT ... FROM pidsls ... FOR UPDATE`. A second operation on the same PID/SL waits for the
//! lock; each later statement of a READ COMMITTED transaction takes a fresh snapshot, so once it
//! holds the lock it reads the first's committed result. User-level operations lock every
//! PID/SL the user has access to (sorted, so two of them cannot deadlock), and `create` also
//! locks the users table against a concurrent create, because it allocates the next user id.

use super::accounts::{upsert, user_row, USER_COLUMNS};
use super::{parsed, text_date, PgStore};
use crate::domain::{PidSl, Role, Services, UserStatus};
use crate::store::{AccessRow, AccountsTx, AuditEvent, Member, PidSlInfo, UserRow};
use anyhow::Context;
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};

/// A job-aid operation's transaction; see the module comment. Dropped without `commit`, it
/// rolls back.
pub(super) struct PgAccountsTx {
    tx: Transaction<'static, Postgres>,
}

impl PgAccountsTx {
    /// A transaction for an operation that writes: the locks come from the `lock_*` methods.
    pub(super) async fn begin_write(store: &PgStore) -> anyhow::Result<PgAccountsTx> {
        let tx = store
            .pool
            .begin()
            .await
            .context("cannot start a transaction")?;
        Ok(PgAccountsTx { tx })
    }

    /// A read-only transaction (`accounts show`, `accounts list`).
    pub(super) async fn begin_read(store: &PgStore) -> anyhow::Result<PgAccountsTx> {
        let mut tx = store
            .pool
            .begin()
            .await
            .context("cannot start a transaction")?;
        sqlx::query("SET TRANSACTION READ ONLY")
            .execute(&mut *tx)
            .await
            .context("cannot start a read-only transaction")?;
        Ok(PgAccountsTx { tx })
    }

    /// One PID/SL's row by `sql` (which may lock it), or `None`; `failure` says what failed.
    async fn read_pidsl(
        &mut self,
        sql: &str,
        pidsl: &PidSl,
        failure: &'static str,
    ) -> anyhow::Result<Option<PidSlInfo>> {
        let query = sqlx::query(sql).bind(pidsl.as_str());
        let row = query.fetch_optional(&mut *self.tx).await.context(failure)?;
        row.map(|row| pidsl_info(pidsl, &row)).transpose()
    }
}

/// The access rows with their users and PID/SLs that match `filter` (`WHERE ... ORDER BY ...`).
/// The tables are named access, users, pidsls: the import's `TRUNCATE` order (accounts.rs).
fn members_sql(filter: &str) -> String {
    format!(
        "SELECT {MEMBER_COLUMNS} FROM access a JOIN users u ON u.id = a.user_id \
         JOIN pidsls p ON p.pidsl = a.pidsl {filter}"
    )
}

const MEMBER_COLUMNS: &str = "u.id AS user_id, u.username, u.first_name, u.last_name, \
     u.org_id, u.status, u.terminated_on, a.pidsl, p.org_id AS pidsl_org_id, a.role, a.services, \
     a.granted_on, a.expires_on";

fn member(row: &PgRow) -> anyhow::Result<Member> {
    Ok(from_row!(row.try_get => Member {
        user_id, username, first_name, last_name, org_id, pidsl_org_id;
        status: parsed(row, "users", "status", UserStatus::parse)?,
        terminated_on: text_date(row, "users", "terminated_on")?,
        pidsl: parsed(row, "access", "pidsl", PidSl::parse)?,
        role: parsed(row, "access", "role", Role::parse)?,
        services: Services::from_bits(row.try_get("services")?)
            .map_err(|e| anyhow::anyhow!("bad services in the access table: {e}"))?,
        granted_on: text_date(row, "access", "granted_on")?,
        expires_on: text_date(row, "access", "expires_on")?,
    }))
}

fn pidsl_info(pidsl: &PidSl, row: &PgRow) -> anyhow::Result<PidSlInfo> {
    Ok(PidSlInfo {
        pidsl: pidsl.clone(),
        org_id: row.try_get("org_id")?,
        active: row.try_get::<i64, _>("active")? != 0,
    })
}

/// A `;`-separated list of service codes in the audit log.
fn stored_services(row: &PgRow, column: &str) -> anyhow::Result<Services> {
    parsed(row, "audit_log", column, |text| match text {
        "" => Ok(Services::EMPTY),
        list => Services::parse_list(list),
    })
}

#[async_trait]
impl AccountsTx for PgAccountsTx {
    async fn lock_pidsl(&mut self, pidsl: &PidSl) -> anyhow::Result<Option<PidSlInfo>> {
        let sql = "SELECT org_id, active FROM pidsls WHERE pidsl = $1 FOR UPDATE";
        self.read_pidsl(sql, pidsl, "cannot lock the PID/SL").await
    }

    async fn lock_pidsls_of_user(&mut self, user_id: i64) -> anyhow::Result<()> {
        sqlx::query(
            "SELECT pidsl FROM pidsls WHERE pidsl IN (SELECT pidsl FROM access WHERE user_id = $1) \
             ORDER BY pidsl FOR UPDATE",
        )
        .bind(user_id)
        .fetch_all(&mut *self.tx)
        .await
        .context("cannot lock the user's PID/SLs")?;
        Ok(())
    }

    async fn lock_users(&mut self) -> anyhow::Result<()> {
        sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *self.tx)
            .await
            .context("cannot lock the users table")?;
        Ok(())
    }

    async fn user_by_name(&mut self, username: &str) -> anyhow::Result<Option<UserRow>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username_key = $1"
        ))
        .bind(username.trim().to_lowercase())
        .fetch_optional(&mut *self.tx)
        .await
        .context("cannot read the user")?;
        row.as_ref().map(user_row).transpose()
    }

    async fn org_exists(&mut self, org_id: &str) -> anyhow::Result<bool> {
        let row = sqlx::query("SELECT org_id FROM organizations WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(&mut *self.tx)
            .await
            .context("cannot read the organization")?;
        Ok(row.is_some())
    }

    async fn pidsl_info(&mut self, pidsl: &PidSl) -> anyhow::Result<Option<PidSlInfo>> {
        let sql = "SELECT org_id, active FROM pidsls WHERE pidsl = $1";
        self.read_pidsl(sql, pidsl, "cannot read the PID/SL").await
    }

    /// Ordered by role (primary, backup, subordinate), then username.
    async fn members_of_pidsl(&mut self, pidsl: &PidSl) -> anyhow::Result<Vec<Member>> {
        let rows = sqlx::query(&members_sql(
            "WHERE a.pidsl = $1 ORDER BY CASE a.role WHEN 'primary' THEN 0 \
             WHEN 'backup' THEN 1 ELSE 2 END, u.username_key",
        ))
        .bind(pidsl.as_str())
        .fetch_all(&mut *self.tx)
        .await
        .context("cannot read the PID/SL's access list")?;
        rows.iter().map(member).collect()
    }

    async fn access_of_user(&mut self, user_id: i64) -> anyhow::Result<Vec<Member>> {
        let rows = sqlx::query(&members_sql("WHERE a.user_id = $1 ORDER BY a.pidsl"))
            .bind(user_id)
            .fetch_all(&mut *self.tx)
            .await
            .context("cannot read the user's access")?;
        rows.iter().map(member).collect()
    }

    async fn admin_rows_in_org(
        &mut self,
        user_id: i64,
        org_id: &str,
    ) -> anyhow::Result<Vec<Member>> {
        let rows = sqlx::query(&members_sql(
            "WHERE a.user_id = $1 AND p.org_id = $2 AND a.role IN ('primary', 'backup') \
             ORDER BY a.pidsl",
        ))
        .bind(user_id)
        .bind(org_id)
        .fetch_all(&mut *self.tx)
        .await
        .context("cannot read the user's access")?;
        rows.iter().map(member).collect()
    }

    /// One more than the largest id.
    async fn next_user_id(&mut self) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS next_id FROM users")
            .fetch_one(&mut *self.tx)
            .await
            .context("cannot read the users")?;
        Ok(row.try_get("next_id")?)
    }

    async fn put_access(&mut self, row: &AccessRow) -> anyhow::Result<()> {
        upsert(&mut self.tx, std::slice::from_ref(row)).await
    }

    async fn delete_access(&mut self, user_id: i64, pidsl: &PidSl) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM access WHERE user_id = $1 AND pidsl = $2")
            .bind(user_id)
            .bind(pidsl.as_str())
            .execute(&mut *self.tx)
            .await
            .context("cannot remove the access row")?;
        Ok(())
    }

    async fn insert_user(&mut self, row: &UserRow) -> anyhow::Result<()> {
        upsert(&mut self.tx, std::slice::from_ref(row)).await
    }

    async fn set_user_status(&mut self, user_id: i64, status: UserStatus) -> anyhow::Result<()> {
        sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(user_id)
            .execute(&mut *self.tx)
            .await
            .context("cannot change the user's status")?;
        Ok(())
    }

    /// Inside the operation's transaction. `ran_as` is the column's default, the session's
    /// role, which the operator roles cannot write themselves (config/postgres-roles.sql).
    async fn record_audit(&mut self, event: &AuditEvent) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, username, username_key, pidsl, \
             services_before, services_after, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(event.at)
        .bind(event.actor.as_str())
        .bind(event.action.as_str())
        .bind(event.username.as_str())
        .bind(event.username.to_lowercase())
        .bind(event.pidsl.as_str())
        .bind(event.services_before.to_string())
        .bind(event.services_after.to_string())
        .bind(event.detail.as_str())
        .execute(&mut *self.tx)
        .await
        .context("cannot write the audit log")?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> anyhow::Result<()> {
        self.tx.commit().await.context("cannot commit the change")
    }
}

impl PgStore {
    /// The role this connection acts as (`current_user`).
    pub(super) async fn database_role(&self) -> anyhow::Result<String> {
        let row = sqlx::query("SELECT current_user::text AS role")
            .fetch_one(&self.pool)
            .await
            .context("cannot read the database role")?;
        Ok(row.try_get("role")?)
    }

    /// The audit log, oldest first; only events about `username` (case-insensitive) if given.
    pub(super) async fn audit_events(
        &self,
        username: Option<&str>,
    ) -> anyhow::Result<Vec<AuditEvent>> {
        let query = sqlx::query(
            "SELECT id, at, actor, action, username, pidsl, services_before, services_after, \
             detail, ran_as FROM audit_log WHERE ($1::text IS NULL OR username_key = $1) ORDER BY id",
        )
        .bind(username.map(|name| name.trim().to_lowercase()));
        self.read_all(query, "the audit log", |row| {
            Ok(from_row!(row.try_get => AuditEvent {
                id, at, actor, ran_as, action, username, pidsl, detail;
                services_before: stored_services(row, "services_before")?,
                services_after: stored_services(row, "services_after")?,
            }))
        })
        .await
    }
}
