//! Bulk reads of a SQLite store through rusqlite: the snapshot's four tables are millions of
//! rows at statewide size, and sqlx's SQLite driver spends about ten times SQLite's own time per
//! row (a worker thread, a channel and an owned row each). Same SQL, same builder as the sqlx
//! path, so the two cannot drift apart.

use super::accounts::{SnapshotBuilder, UserColumns, ACCESS_SQL, ORGS_SQL, PIDSLS_SQL, USERS_SQL};
use anyhow::Context;
use chrono_tz::Tz;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

pub(super) fn load_accounts(path: &Path, zone: Tz) -> anyhow::Result<SnapshotBuilder> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {} for reading", path.display()))?;
    // One read transaction: the four tables come from the same moment.
    conn.execute_batch("BEGIN")?;
    let mut b = SnapshotBuilder::new(zone);
    let mut stmt = conn.prepare(ORGS_SQL)?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        b.org(
            r.get(0)?,
            r.get(1)?,
            r.get_ref(2)?.as_str()?,
            r.get_ref(3)?.as_str()?,
            r.get_ref(4)?.as_str()?,
            r.get_ref(5)?.as_str_or_null()?,
        )?;
    }
    let mut stmt = conn.prepare(PIDSLS_SQL)?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        b.pidsl(
            r.get_ref(0)?.as_str()?,
            r.get_ref(1)?.as_str()?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
        )?;
    }
    let mut stmt = conn.prepare(USERS_SQL)?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        b.user(UserColumns {
            id: r.get(0)?,
            username: r.get(1)?,
            first_name: r.get(2)?,
            last_name: r.get(3)?,
            middle_initial: r.get(4)?,
            phone: r.get(5)?,
            email: r.get(6)?,
            org_id: r.get_ref(7)?.as_str()?,
            job_role: r.get(8)?,
            status: r.get_ref(9)?.as_str()?,
            created_on: r.get_ref(10)?.as_str_or_null()?,
            last_login_at: r.get(11)?,
            terms_accepted_on: r.get_ref(12)?.as_str_or_null()?,
            terminated_on: r.get_ref(13)?.as_str_or_null()?,
            dob_mmdd: r.get(14)?,
            ssn_last4: r.get(15)?,
        })?;
    }
    let mut stmt = conn.prepare(ACCESS_SQL)?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        b.access(
            r.get(0)?,
            r.get_ref(1)?.as_str()?,
            r.get_ref(2)?.as_str()?,
            r.get(3)?,
            r.get_ref(4)?.as_str_or_null()?,
            r.get_ref(5)?.as_str_or_null()?,
        )?;
    }
    Ok(b)
}
