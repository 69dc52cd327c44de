//! The store side of the job-aid operations (`posc-review accounts ...`): write transactions
//! that serialize the policy check with the write, the row reads the checks need, and the
//! audit log.
//!
//! # Atomicity
//!
//! A policy check ("at most two holders of PRIMARY_USER on a PID/SL") and the write it allows
//! must not interleave with another operation's check and write, or two concurrent grants could
//! each see one holder and together make three. Every operation therefore runs in one
//! transaction that first takes a lock, then reads, checks and writes:
//!
//! - **SQLite** starts the transaction with `BEGIN IMMEDIATE`, which takes the database's write
//!   lock at once (a plain `BEGIN` would take it only at the first write, after the reads). A
//!   second writer waits (busy_timeout) until the first commits, and its reads then see the
//!   first's result. SQLite has one writer at a time anyway, so this costs nothing.
//! - **PostgreSQL** (READ COMMITTED) locks the PID/SL rows the operation is about with
//!   `SELECT ... FROM pidsls ... FOR UPDATE` as its first statement. A second operation on the
//!   same PID/SL waits for the lock; each later statement of a READ COMMITTED transaction takes
//!   a fresh snapshot, so once it holds the lock it reads the first's committed result. User-level
//!   operations lock every PID/SL the user has access to (sorted, so two of them cannot
//!   deadlock), and `create` also locks the users table against a concurrent create, because it
//!   allocates the next user id.

use super::accounts::stored_date;
use super::{AccessRow, Backend, Store, UserRow};
use crate::domain::{PidSl, Role, Services, UserStatus};
use crate::snapshot::Personal;
use anyhow::Context;
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

/// One accepted operation, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// 0 until stored.
    pub id: i64,
    /// RFC 3339 in the configured time zone.
    pub at: String,
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

/// A write transaction of the job-aid operations; see the module comment.
pub type WriteTx = Transaction<'static, Any>;

const MEMBER_COLUMNS: &str = "u.id, u.username, u.first_name, u.last_name, u.org_id, u.status, \
     u.terminated_on, a.pidsl, p.org_id, a.role, a.services, a.granted_on, a.expires_on";

fn member(row: &AnyRow) -> anyhow::Result<Member> {
    Ok(Member {
        user_id: row.try_get(0)?,
        username: row.try_get(1)?,
        first_name: row.try_get(2)?,
        last_name: row.try_get(3)?,
        org_id: row.try_get(4)?,
        status: UserStatus::parse(&row.try_get::<String, _>(5)?).map_err(anyhow::Error::msg)?,
        terminated_on: stored_date("terminated_on", row.try_get::<Option<String>, _>(6)?)?,
        pidsl: PidSl::parse(&row.try_get::<String, _>(7)?).map_err(anyhow::Error::msg)?,
        pidsl_org_id: row.try_get(8)?,
        role: Role::parse(&row.try_get::<String, _>(9)?).map_err(anyhow::Error::msg)?,
        services: Services::from_bits(row.try_get(10)?).map_err(anyhow::Error::msg)?,
        granted_on: stored_date("granted_on", row.try_get::<Option<String>, _>(11)?)?,
        expires_on: stored_date("expires_on", row.try_get::<Option<String>, _>(12)?)?,
    })
}

const USER_COLUMNS: &str = "id, username, first_name, last_name, middle_initial, phone, email, \
     org_id, job_role, status, created_on, last_login_at, terms_accepted_on, terminated_on, dob_mmdd, ssn_last4";

fn user_row(row: &AnyRow) -> anyhow::Result<UserRow> {
    Ok(UserRow {
        id: row.try_get(0)?,
        username: row.try_get(1)?,
        first_name: row.try_get(2)?,
        last_name: row.try_get(3)?,
        middle_initial: row.try_get(4)?,
        phone: row.try_get(5)?,
        email: row.try_get(6)?,
        org_id: row.try_get(7)?,
        job_role: row.try_get(8)?,
        status: UserStatus::parse(&row.try_get::<String, _>(9)?).map_err(anyhow::Error::msg)?,
        created_on: stored_date("created_on", row.try_get::<Option<String>, _>(10)?)?,
        last_login_at: row.try_get(11)?,
        terms_accepted_on: stored_date("terms_accepted_on", row.try_get::<Option<String>, _>(12)?)?,
        terminated_on: stored_date("terminated_on", row.try_get::<Option<String>, _>(13)?)?,
        dob_mmdd: row.try_get::<Option<String>, _>(14)?.map(Personal::new),
        ssn_last4: row.try_get::<Option<String>, _>(15)?.map(Personal::new),
    })
}

/// The OS user (from the process's effective uid, not the environment) and host running this
/// process: `user@host`.
fn os_identity() -> String {
    let user = whoami::fallible::username()
        .unwrap_or_else(|_| format!("uid {}", rustix::process::geteuid().as_raw()));
    let host = whoami::fallible::hostname().unwrap_or_else(|_| "unknown-host".into());
    format!("{user}@{host}")
}

fn stored_services(column: &str, text: &str) -> anyhow::Result<Services> {
    if text.is_empty() {
        return Ok(Services::EMPTY);
    }
    Services::parse_list(text).map_err(|e| anyhow::anyhow!("bad {column} in the audit log: {e}"))
}

impl Store {
    /// Starts a write transaction that holds the database's write lock (SQLite) from its first
    /// statement. On PostgreSQL the caller locks rows with the `lock_*` methods next.
    pub async fn begin_write(&self) -> anyhow::Result<WriteTx> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.context("cannot start a transaction")
    }

    /// Locks one PID/SL's row (PostgreSQL) and returns it, or `None` when it does not exist.
    pub async fn lock_pidsl(
        &self,
        tx: &mut AnyConnection,
        pidsl: &PidSl,
    ) -> anyhow::Result<Option<PidSlInfo>> {
        let sql = match self.backend {
            Backend::Postgres => {
                "SELECT pidsl, org_id, active FROM pidsls WHERE pidsl = $1 FOR UPDATE"
            }
            Backend::Sqlite => "SELECT pidsl, org_id, active FROM pidsls WHERE pidsl = $1",
        };
        let row = sqlx::query(sql)
            .bind(pidsl.as_str())
            .fetch_optional(&mut *tx)
            .await
            .context("cannot lock the PID/SL")?;
        row.map(|row| {
            Ok(PidSlInfo {
                pidsl: pidsl.clone(),
                org_id: row.try_get(1)?,
                active: row.try_get::<i64, _>(2)? != 0,
            })
        })
        .transpose()
    }

    /// Locks (PostgreSQL) every PID/SL a user has access to, in a fixed order.
    pub async fn lock_pidsls_of_user(
        &self,
        tx: &mut AnyConnection,
        user_id: i64,
    ) -> anyhow::Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query(
                "SELECT pidsl FROM pidsls WHERE pidsl IN (SELECT pidsl FROM access WHERE user_id = $1) \
                 ORDER BY pidsl FOR UPDATE",
            )
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await
            .context("cannot lock the user's PID/SLs")?;
        }
        Ok(())
    }

    /// Locks the users table against concurrent writers (PostgreSQL), for allocating a user id.
    pub async fn lock_users(&self, tx: &mut AnyConnection) -> anyhow::Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .context("cannot lock the users table")?;
        }
        Ok(())
    }

    /// A user by username, compared case-insensitively.
    pub async fn user_by_name(
        &self,
        conn: &mut AnyConnection,
        username: &str,
    ) -> anyhow::Result<Option<UserRow>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username_key = $1"
        ))
        .bind(username.trim().to_lowercase())
        .fetch_optional(&mut *conn)
        .await
        .context("cannot read the user")?;
        row.as_ref().map(user_row).transpose()
    }

    pub async fn org_exists(&self, conn: &mut AnyConnection, org_id: &str) -> anyhow::Result<bool> {
        let row = sqlx::query("SELECT org_id FROM organizations WHERE org_id = $1")
            .bind(org_id)
            .fetch_optional(&mut *conn)
            .await
            .context("cannot read the organization")?;
        Ok(row.is_some())
    }

    pub async fn pidsl_info(
        &self,
        conn: &mut AnyConnection,
        pidsl: &PidSl,
    ) -> anyhow::Result<Option<PidSlInfo>> {
        let row = sqlx::query("SELECT org_id, active FROM pidsls WHERE pidsl = $1")
            .bind(pidsl.as_str())
            .fetch_optional(&mut *conn)
            .await
            .context("cannot read the PID/SL")?;
        row.map(|row| {
            Ok(PidSlInfo {
                pidsl: pidsl.clone(),
                org_id: row.try_get(0)?,
                active: row.try_get::<i64, _>(1)? != 0,
            })
        })
        .transpose()
    }

    /// A PID/SL's access list, ordered by role (primary, backup, subordinate) then username.
    pub async fn members_of_pidsl(
        &self,
        conn: &mut AnyConnection,
        pidsl: &PidSl,
    ) -> anyhow::Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM access a JOIN users u ON u.id = a.user_id \
             JOIN pidsls p ON p.pidsl = a.pidsl WHERE a.pidsl = $1 \
             ORDER BY CASE a.role WHEN 'primary' THEN 0 WHEN 'backup' THEN 1 ELSE 2 END, u.username_key"
        ))
        .bind(pidsl.as_str())
        .fetch_all(&mut *conn)
        .await
        .context("cannot read the PID/SL's access list")?;
        rows.iter().map(member).collect()
    }

    /// Every access row of one user, by PID/SL.
    pub async fn access_of_user(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
    ) -> anyhow::Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM access a JOIN users u ON u.id = a.user_id \
             JOIN pidsls p ON p.pidsl = a.pidsl WHERE a.user_id = $1 ORDER BY a.pidsl"
        ))
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await
        .context("cannot read the user's access")?;
        rows.iter().map(member).collect()
    }

    /// The access rows with role primary or backup that a user holds on PID/SLs of `org_id`.
    pub async fn admin_rows_in_org(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        org_id: &str,
    ) -> anyhow::Result<Vec<Member>> {
        let rows = sqlx::query(&format!(
            "SELECT {MEMBER_COLUMNS} FROM access a JOIN users u ON u.id = a.user_id \
             JOIN pidsls p ON p.pidsl = a.pidsl \
             WHERE a.user_id = $1 AND p.org_id = $2 AND a.role IN ('primary', 'backup') ORDER BY a.pidsl"
        ))
        .bind(user_id)
        .bind(org_id)
        .fetch_all(&mut *conn)
        .await
        .context("cannot read the user's access")?;
        rows.iter().map(member).collect()
    }

    /// The id a new user gets: one more than the largest.
    pub async fn next_user_id(&self, conn: &mut AnyConnection) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM users")
            .fetch_one(&mut *conn)
            .await
            .context("cannot read the users")?;
        Ok(row.try_get::<i64, _>(0)? + 1)
    }

    /// Inserts or updates one access row.
    pub async fn put_access(&self, conn: &mut AnyConnection, row: AccessRow) -> anyhow::Result<()> {
        self.write_rows(conn, &[row]).await
    }

    pub async fn delete_access(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        pidsl: &PidSl,
    ) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM access WHERE user_id = $1 AND pidsl = $2")
            .bind(user_id)
            .bind(pidsl.as_str())
            .execute(&mut *conn)
            .await
            .context("cannot remove the access row")?;
        Ok(())
    }

    pub async fn insert_user(&self, conn: &mut AnyConnection, row: UserRow) -> anyhow::Result<()> {
        self.write_rows(conn, &[row]).await
    }

    pub async fn set_user_status(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        status: UserStatus,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .context("cannot change the user's status")?;
        Ok(())
    }

    /// Appends an event to the audit log (inside the operation's transaction), with who ran
    /// it: on PostgreSQL the column's default, the session's role, which the operator roles
    /// cannot write themselves; on SQLite the process's OS user and host.
    pub async fn record_audit(
        &self,
        conn: &mut AnyConnection,
        event: &AuditEvent,
    ) -> anyhow::Result<()> {
        const COLUMNS: &str = "at, actor, action, username, username_key, pidsl, services_before, \
                               services_after, detail";
        const VALUES: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9";
        let sql = match self.backend {
            Backend::Postgres => format!("INSERT INTO audit_log ({COLUMNS}) VALUES ({VALUES})"),
            Backend::Sqlite => {
                format!("INSERT INTO audit_log ({COLUMNS}, ran_as) VALUES ({VALUES}, $10)")
            }
        };
        let query = sqlx::query(&sql)
            .bind(event.at.as_str())
            .bind(event.actor.as_str())
            .bind(event.action.as_str())
            .bind(event.username.as_str())
            .bind(event.username.to_lowercase())
            .bind(event.pidsl.as_str())
            .bind(event.services_before.to_string())
            .bind(event.services_after.to_string())
            .bind(event.detail.as_str());
        let query = match self.backend {
            Backend::Postgres => query,
            Backend::Sqlite => query.bind(os_identity()),
        };
        query
            .execute(&mut *conn)
            .await
            .context("cannot write the audit log")?;
        Ok(())
    }

    /// The role this connection acts as (`current_user`); the OS user on SQLite.
    pub async fn database_role(&self) -> anyhow::Result<String> {
        match self.backend {
            Backend::Postgres => Ok(sqlx::query("SELECT current_user::text")
                .fetch_one(&self.pool)
                .await
                .context("cannot read the database role")?
                .try_get(0)?),
            Backend::Sqlite => Ok(os_identity()),
        }
    }

    /// The audit log, oldest first; only events about `username` (case-insensitive) if given.
    pub async fn audit_events(&self, username: Option<&str>) -> anyhow::Result<Vec<AuditEvent>> {
        let select = "SELECT id, at, actor, action, username, pidsl, services_before, services_after, detail, \
                      ran_as FROM audit_log";
        let rows = match username {
            Some(name) => {
                sqlx::query(&format!("{select} WHERE username_key = $1 ORDER BY id"))
                    .bind(name.trim().to_lowercase())
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query(&format!("{select} ORDER BY id"))
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .context("cannot read the audit log")?;
        rows.iter()
            .map(|row| {
                Ok(AuditEvent {
                    id: row.try_get(0)?,
                    at: row.try_get(1)?,
                    actor: row.try_get(2)?,
                    action: row.try_get(3)?,
                    username: row.try_get(4)?,
                    pidsl: row.try_get(5)?,
                    services_before: stored_services(
                        "services_before",
                        &row.try_get::<String, _>(6)?,
                    )?,
                    services_after: stored_services(
                        "services_after",
                        &row.try_get::<String, _>(7)?,
                    )?,
                    detail: row.try_get(8)?,
                    ran_as: row.try_get(9)?,
                })
            })
            .collect()
    }
}
