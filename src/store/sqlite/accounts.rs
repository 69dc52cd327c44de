//! The account tables: the keys an import refers to, the snapshot a review reads, and the
//! import's writer.

use super::{SqlDate, SqlTime};
use crate::snapshot::{Personal, Snapshot};
use crate::store::snapshot_load::{ACCESS_SQL, ORGS_SQL, PIDSLS_SQL, USERS_SQL};
use crate::store::upsert::{self, Upsert};
use crate::store::{
    AccessRow, AccountCounts, ImportWriter, KnownAccounts, OrgRow, PidSlRow, SnapshotBuilder,
    UserColumns, UserRow,
};
use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rusqlite::{params, Connection, Statement};
use std::path::Path;

pub(super) fn known_accounts(conn: &mut Connection) -> anyhow::Result<KnownAccounts> {
    let tx = conn.transaction()?;
    let mut known = KnownAccounts::default();
    let mut statement = tx.prepare_cached("SELECT org_id FROM organizations")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        known.org_ids.insert(row.get("org_id")?);
    }
    drop(rows);
    drop(statement);
    let mut statement = tx.prepare_cached("SELECT pidsl FROM pidsls")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        known.pidsls.insert(row.get("pidsl")?);
    }
    drop(rows);
    drop(statement);
    let mut statement = tx.prepare_cached("SELECT id, username_key, email FROM users")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let email = row.get_ref("email")?.as_str()?;
        let (id, key) = (row.get("id")?, row.get("username_key")?);
        crate::store::add_known_user(&mut known, id, key, email);
    }
    drop(rows);
    drop(statement);
    tx.commit()?;
    Ok(known)
}

pub(super) fn org_ids(conn: &mut Connection) -> anyhow::Result<Vec<String>> {
    let mut statement = conn.prepare_cached("SELECT org_id FROM organizations ORDER BY org_id")?;
    let ids = statement
        .query_map([], |row| row.get("org_id"))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

pub(super) fn account_counts(conn: &mut Connection) -> anyhow::Result<AccountCounts> {
    Ok(conn.query_row(
        "SELECT (SELECT COUNT(*) FROM organizations) AS organizations, \
         (SELECT COUNT(*) FROM pidsls) AS pidsls, (SELECT COUNT(*) FROM users) AS users, \
         (SELECT COUNT(*) FROM access) AS access",
        [],
        |row| Ok(from_row!(row.get => AccountCounts { organizations, pidsls, users, access })),
    )?)
}

/// The indices of `names` among a statement's columns, looked up once: the snapshot's rows
/// are then read by index (a lookup by name per value costs a scan of the names, millions of
/// times at statewide size).
fn columns<const N: usize>(
    statement: &Statement<'_>,
    names: [&str; N],
) -> anyhow::Result<[usize; N]> {
    let mut indices = [0; N];
    for (index, name) in indices.iter_mut().zip(names) {
        *index = statement.column_index(name)?;
    }
    Ok(indices)
}

/// The four account tables and each organization's last completed review, in one read
/// transaction: a concurrent replacing import is seen wholly or not at all.
pub(super) fn load_snapshot(conn: &mut Connection, zone: Tz) -> anyhow::Result<Snapshot> {
    let tx = conn.transaction()?;
    let mut b = SnapshotBuilder::new(zone);

    let mut statement = tx.prepare(ORGS_SQL)?;
    let [org_id, name, kind, cadence, emails, last_review_on] = columns(
        &statement,
        [
            "org_id",
            "name",
            "kind",
            "review_cadence",
            "management_emails",
            "last_review_on",
        ],
    )?;
    let mut rows = statement.query([])?;
    while let Some(r) = rows.next()? {
        b.org(
            r.get(org_id)?,
            r.get(name)?,
            r.get_ref(kind)?.as_str()?,
            r.get_ref(cadence)?.as_str()?,
            r.get_ref(emails)?.as_str()?,
            r.get_ref(last_review_on)?.as_str_or_null()?,
        )
        .context("cannot read the organizations table")?;
    }
    drop(rows);
    drop(statement);

    let mut statement = tx.prepare(PIDSLS_SQL)?;
    let [pidsl, org_id, name, provider_type, active] = columns(
        &statement,
        ["pidsl", "org_id", "name", "provider_type", "active"],
    )?;
    let mut rows = statement.query([])?;
    while let Some(r) = rows.next()? {
        b.pidsl(
            r.get_ref(pidsl)?.as_str()?,
            r.get_ref(org_id)?.as_str()?,
            r.get(name)?,
            r.get(provider_type)?,
            r.get(active)?,
        )
        .context("cannot read the pidsls table")?;
    }
    drop(rows);
    drop(statement);

    let mut statement = tx.prepare(USERS_SQL)?;
    let [id, username, first_name, last_name, middle_initial, phone, email, org_id, job_role, status, created_on, last_login_at, terms_accepted_on, terminated_on, dob_mmdd, ssn_last4] =
        columns(
            &statement,
            [
                "id",
                "username",
                "first_name",
                "last_name",
                "middle_initial",
                "phone",
                "email",
                "org_id",
                "job_role",
                "status",
                "created_on",
                "last_login_at",
                "terms_accepted_on",
                "terminated_on",
                "dob_mmdd",
                "ssn_last4",
            ],
        )?;
    let mut rows = statement.query([])?;
    while let Some(r) = rows.next()? {
        b.user(UserColumns {
            id: r.get(id)?,
            username: r.get(username)?,
            first_name: r.get(first_name)?,
            last_name: r.get(last_name)?,
            middle_initial: r.get(middle_initial)?,
            phone: r.get(phone)?,
            email: r.get(email)?,
            org_id: r.get_ref(org_id)?.as_str()?,
            job_role: r.get(job_role)?,
            status: r.get_ref(status)?.as_str()?,
            created_on: r.get_ref(created_on)?.as_str_or_null()?,
            last_login_at: r.get(last_login_at)?,
            terms_accepted_on: r.get_ref(terms_accepted_on)?.as_str_or_null()?,
            terminated_on: r.get_ref(terminated_on)?.as_str_or_null()?,
            dob_mmdd: r.get(dob_mmdd)?,
            ssn_last4: r.get(ssn_last4)?,
        })
        .context("cannot read the users table")?;
    }
    drop(rows);
    drop(statement);

    let mut statement = tx.prepare(ACCESS_SQL)?;
    let [user_id, pidsl, role, services, granted_on, expires_on] = columns(
        &statement,
        [
            "user_id",
            "pidsl",
            "role",
            "services",
            "granted_on",
            "expires_on",
        ],
    )?;
    let mut rows = statement.query([])?;
    while let Some(r) = rows.next()? {
        b.access(
            r.get(user_id)?,
            r.get_ref(pidsl)?.as_str()?,
            r.get_ref(role)?.as_str()?,
            r.get(services)?,
            r.get_ref(granted_on)?.as_str_or_null()?,
            r.get_ref(expires_on)?.as_str_or_null()?,
        )
        .context("cannot read the access table")?;
    }
    drop(rows);
    drop(statement);

    for (org_id, as_of) in super::history::last_completed_review_per_org(&tx)? {
        b.last_run(&org_id, as_of);
    }
    tx.commit()?;
    Ok(b.finish())
}

// ---------------------------------------------------------------- the import's writer

/// An account table's upsert with numbered placeholders.
pub(super) fn upsert_sql(upsert: &Upsert) -> String {
    let values: Vec<String> = (1..=upsert.columns).map(|n| format!("?{n}")).collect();
    format!(
        "{} VALUES ({}) {}",
        upsert.head,
        values.join(", "),
        upsert.tail
    )
}

/// Inserts, or updates by id, one users row.
pub(super) fn write_user(statement: &mut Statement<'_>, u: &UserRow) -> anyhow::Result<()> {
    statement
        .execute(params![
            u.id,
            u.username,
            u.username.to_lowercase(),
            u.first_name,
            u.last_name,
            u.middle_initial,
            u.phone,
            u.email,
            u.org_id,
            u.job_role,
            u.status,
            u.created_on.map(SqlDate),
            u.last_login_at,
            u.terms_accepted_on.map(SqlDate),
            u.terminated_on.map(SqlDate),
            u.dob_mmdd.as_ref().map(Personal::expose),
            u.ssn_last4.as_ref().map(Personal::expose),
        ])
        .with_context(|| format!("cannot write user id {} to the users table", u.id))?;
    Ok(())
}

/// Inserts, or updates by (user, PID/SL), one access row.
pub(super) fn write_access(statement: &mut Statement<'_>, a: &AccessRow) -> anyhow::Result<()> {
    statement
        .execute(params![
            a.user_id,
            a.pidsl.as_str(),
            a.role,
            a.services.bits(),
            a.granted_on.map(SqlDate),
            a.expires_on.map(SqlDate),
        ])
        .with_context(|| {
            format!(
                "cannot write the access of user id {} on {} to the access table",
                a.user_id,
                a.pidsl.as_str()
            )
        })?;
    Ok(())
}

/// An import's transaction on a connection of its own, with one cached single-row statement
/// per table (five times faster than multi-row statements here). The import checked every
/// reference itself, so foreign keys stay off, as they were for this writer before.
pub(super) struct SqliteImportWriter {
    conn: Connection,
    /// Recorded as the store's last import when the import commits.
    imported_at: DateTime<Utc>,
}

impl SqliteImportWriter {
    pub(super) fn begin(
        path: &Path,
        replace: bool,
        imported_at: DateTime<Utc>,
    ) -> anyhow::Result<SqliteImportWriter> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -400000; BEGIN IMMEDIATE",
        )
        .with_context(|| format!("cannot start the import in {}", path.display()))?;
        if replace {
            conn.execute_batch(
                "DELETE FROM access; DELETE FROM users; DELETE FROM pidsls; DELETE FROM organizations;",
            )
            .context("cannot empty the account store")?;
        }
        Ok(SqliteImportWriter { conn, imported_at })
    }
}

/// Dropped without `commit`, the connection closes and SQLite rolls the import back.
impl ImportWriter for SqliteImportWriter {
    fn write_orgs(&mut self, rows: &[OrgRow]) -> anyhow::Result<()> {
        let mut statement = self.conn.prepare_cached(&upsert_sql(&upsert::ORGS))?;
        for o in rows {
            statement
                .execute(params![
                    o.org_id,
                    o.name,
                    o.kind,
                    o.cadence,
                    o.management_emails.join(";"),
                    o.last_review_on.map(SqlDate),
                ])
                .with_context(|| format!("cannot write {} to the organizations table", o.org_id))?;
        }
        Ok(())
    }

    fn write_pidsls(&mut self, rows: &[PidSlRow]) -> anyhow::Result<()> {
        let mut statement = self.conn.prepare_cached(&upsert_sql(&upsert::PIDSLS))?;
        for p in rows {
            statement
                .execute(params![
                    p.pidsl.as_str(),
                    p.org_id,
                    p.name,
                    p.provider_type,
                    p.active,
                ])
                .with_context(|| {
                    format!("cannot write {} to the pidsls table", p.pidsl.as_str())
                })?;
        }
        Ok(())
    }

    fn write_users(&mut self, rows: &[UserRow]) -> anyhow::Result<()> {
        let mut statement = self.conn.prepare_cached(&upsert_sql(&upsert::USERS))?;
        rows.iter().try_for_each(|u| write_user(&mut statement, u))
    }

    fn write_access(&mut self, rows: &[AccessRow]) -> anyhow::Result<()> {
        let mut statement = self.conn.prepare_cached(&upsert_sql(&upsert::ACCESS))?;
        rows.iter()
            .try_for_each(|a| write_access(&mut statement, a))
    }

    fn set_terminated(&mut self, updates: &[(i64, NaiveDate)]) -> anyhow::Result<()> {
        let mut statement = self
            .conn
            .prepare_cached("UPDATE users SET terminated_on = ?1 WHERE id = ?2")?;
        for (id, date) in updates {
            statement
                .execute(params![SqlDate(*date), id])
                .context("cannot apply the roster to the users table")?;
        }
        Ok(())
    }

    fn commit(self: Box<Self>) -> anyhow::Result<()> {
        self.conn
            .execute(
                "UPDATE store_info SET last_import_at = ?1 WHERE singleton = 1",
                [SqlTime(self.imported_at)],
            )
            .context("cannot record the import in the store_info table")?;
        self.conn
            .execute_batch("COMMIT")
            .context("cannot commit the import")
    }
}
