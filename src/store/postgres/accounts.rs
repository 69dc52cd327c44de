//! The account tables: the keys a `--merge` import refers to, the counts, the snapshot load
//! and the import's writer.
//!
//! # Lock order
//!
//! A replacing import empties the tables with `TRUNCATE access, users, pidsls, organizations`
//! and a snapshot load locks them `ACCESS SHARE` in that same order; any statement that names
//! several of these tables names them in that order too. PostgreSQL takes a statement's locks
//! in the order it meets the tables, so in any other order a reader waiting for an import held
//! a table the import needed, and the import died of a deadlock.

use super::{date_text, insert_batched, parsed, PgQuery, PgStore};
use crate::domain::UserStatus;
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
use futures_util::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Postgres, Row, Transaction};
use tokio::runtime::Handle;

impl PgStore {
    pub(super) async fn known_accounts(&self) -> anyhow::Result<KnownAccounts> {
        let mut known = KnownAccounts::default();
        let mut rows = sqlx::query("SELECT org_id FROM organizations").fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            known.org_ids.insert(row.try_get("org_id")?);
        }
        drop(rows);
        let mut rows = sqlx::query("SELECT pidsl FROM pidsls").fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            known.pidsls.insert(row.try_get("pidsl")?);
        }
        drop(rows);
        let mut rows = sqlx::query("SELECT id, username_key, email FROM users").fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            let email: String = row.try_get("email")?;
            let (id, key) = (row.try_get("id")?, row.try_get("username_key")?);
            crate::store::add_known_user(&mut known, id, key, &email);
        }
        Ok(known)
    }

    pub(super) async fn org_ids(&self) -> anyhow::Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT org_id FROM organizations ORDER BY org_id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The tables are named in the import's `TRUNCATE` order (see the module comment).
    pub(super) async fn account_counts(&self) -> anyhow::Result<AccountCounts> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM access) AS access, (SELECT COUNT(*) FROM users) AS users, \
             (SELECT COUNT(*) FROM pidsls) AS pidsls, (SELECT COUNT(*) FROM organizations) AS orgs",
        )
        .fetch_one(&self.pool)
        .await
        .context("cannot count the account tables")?;
        Ok(from_row!(row.try_get => AccountCounts {
            pidsls, users, access;
            organizations: row.try_get("orgs")?,
        }))
    }

    /// The four reads from one moment: one `REPEATABLE READ, READ ONLY` transaction, which
    /// first locks the four tables `ACCESS SHARE`. Read one by one on the pool, a replacing
    /// import that committed between two reads gave organizations of one snapshot and access
    /// rows of the other. The lock comes first because the transaction's snapshot is taken at
    /// its first query and `TRUNCATE` is not MVCC-safe: a snapshot taken while an import waited
    /// to commit would see its tables empty. So the load waits for an import in progress, and
    /// an import waits for a load; the tables are locked in the import's `TRUNCATE` order, so
    /// neither holds one table while waiting for another.
    pub(super) async fn load_snapshot(&self, zone: Tz) -> anyhow::Result<Snapshot> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        sqlx::query("LOCK TABLE access, users, pidsls, organizations IN ACCESS SHARE MODE")
            .execute(&mut *tx)
            .await
            .context("cannot lock the account tables for reading")?;
        let mut b = SnapshotBuilder::new(zone);
        let mut rows = sqlx::query(ORGS_SQL).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            b.org(
                row.try_get("org_id")?,
                row.try_get("name")?,
                row.try_get("kind")?,
                row.try_get("review_cadence")?,
                row.try_get("management_emails")?,
                row.try_get("last_review_on")?,
            )
            .context("in the organizations table")?;
        }
        drop(rows);
        let mut rows = sqlx::query(PIDSLS_SQL).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            b.pidsl(
                row.try_get("pidsl")?,
                row.try_get("org_id")?,
                row.try_get("name")?,
                row.try_get("provider_type")?,
                row.try_get("active")?,
            )
            .context("in the pidsls table")?;
        }
        drop(rows);
        let mut rows = sqlx::query(USERS_SQL).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            b.user(UserColumns {
                id: row.try_get("id")?,
                username: row.try_get("username")?,
                first_name: row.try_get("first_name")?,
                last_name: row.try_get("last_name")?,
                middle_initial: row.try_get("middle_initial")?,
                phone: row.try_get("phone")?,
                email: row.try_get("email")?,
                org_id: row.try_get("org_id")?,
                job_role: row.try_get("job_role")?,
                status: row.try_get("status")?,
                created_on: row.try_get("created_on")?,
                last_login_at: row.try_get("last_login_at")?,
                terms_accepted_on: row.try_get("terms_accepted_on")?,
                terminated_on: row.try_get("terminated_on")?,
                dob_mmdd: row.try_get("dob_mmdd")?,
                ssn_last4: row.try_get("ssn_last4")?,
            })
            .context("in the users table")?;
        }
        drop(rows);
        let mut rows = sqlx::query(ACCESS_SQL).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            b.access(
                row.try_get("user_id")?,
                row.try_get("pidsl")?,
                row.try_get("role")?,
                row.try_get("services")?,
                row.try_get("granted_on")?,
                row.try_get("expires_on")?,
            )
            .context("in the access table")?;
        }
        drop(rows);
        tx.commit().await?;
        for (org_id, as_of) in self.last_completed_review_per_org().await? {
            b.last_run(&org_id, as_of);
        }
        Ok(b.finish())
    }
}

/// A users row as the operations read it.
pub(super) const USER_COLUMNS: &str = "id, username, first_name, last_name, middle_initial, \
     phone, email, org_id, job_role, status, created_on, last_login_at, terms_accepted_on, \
     terminated_on, dob_mmdd, ssn_last4";

pub(super) fn user_row(row: &PgRow) -> anyhow::Result<UserRow> {
    Ok(from_row!(row.try_get => UserRow {
        id, username, first_name, last_name, middle_initial, phone, email, org_id, job_role,
        last_login_at;
        status: parsed(row, "users", "status", UserStatus::parse)?,
        created_on: super::text_date(row, "users", "created_on")?,
        terms_accepted_on: super::text_date(row, "users", "terms_accepted_on")?,
        terminated_on: super::text_date(row, "users", "terminated_on")?,
        dob_mmdd: row
            .try_get::<Option<String>, _>("dob_mmdd")?
            .map(Personal::new),
        ssn_last4: row
            .try_get::<Option<String>, _>("ssn_last4")?
            .map(Personal::new),
    }))
}

/// A row of an account table: its upserting INSERT, its values bound in column order, and
/// the same values as a line of `COPY`'s text format.
pub(super) trait AccountTable: Sync {
    const UPSERT: Upsert;
    fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q>;
    fn copy_line(&self, line: &mut CopyLine);
}

impl AccountTable for OrgRow {
    const UPSERT: Upsert = upsert::ORGS;

    fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query
            .bind(self.org_id.as_str())
            .bind(self.name.as_str())
            .bind(self.kind.as_str())
            .bind(self.cadence.as_str())
            .bind(self.management_emails.join(";"))
            .bind(self.last_review_on.map(date_text))
    }

    fn copy_line(&self, line: &mut CopyLine) {
        line.text(&self.org_id)
            .text(&self.name)
            .text(self.kind.as_str())
            .text(self.cadence.as_str())
            .text(&self.management_emails.join(";"))
            .date(self.last_review_on);
    }
}

impl AccountTable for PidSlRow {
    const UPSERT: Upsert = upsert::PIDSLS;

    fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query
            .bind(self.pidsl.as_str())
            .bind(self.org_id.as_str())
            .bind(self.name.as_str())
            .bind(self.provider_type.as_str())
            .bind(i64::from(self.active))
    }

    fn copy_line(&self, line: &mut CopyLine) {
        line.text(self.pidsl.as_str())
            .text(&self.org_id)
            .text(&self.name)
            .text(&self.provider_type)
            .int(i64::from(self.active));
    }
}

impl AccountTable for UserRow {
    const UPSERT: Upsert = upsert::USERS;

    fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query
            .bind(self.id)
            .bind(self.username.as_str())
            .bind(self.username.to_lowercase())
            .bind(self.first_name.as_str())
            .bind(self.last_name.as_str())
            .bind(self.middle_initial.as_str())
            .bind(self.phone.as_str())
            .bind(self.email.as_str())
            .bind(self.org_id.as_str())
            .bind(self.job_role.as_str())
            .bind(self.status.as_str())
            .bind(self.created_on.map(date_text))
            .bind(self.last_login_at.as_deref())
            .bind(self.terms_accepted_on.map(date_text))
            .bind(self.terminated_on.map(date_text))
            .bind(self.dob_mmdd.as_ref().map(Personal::expose))
            .bind(self.ssn_last4.as_ref().map(Personal::expose))
    }

    fn copy_line(&self, line: &mut CopyLine) {
        line.int(self.id)
            .text(&self.username)
            .text(&self.username.to_lowercase())
            .text(&self.first_name)
            .text(&self.last_name)
            .text(&self.middle_initial)
            .text(&self.phone)
            .text(&self.email)
            .text(&self.org_id)
            .text(&self.job_role)
            .text(self.status.as_str())
            .date(self.created_on)
            .opt(self.last_login_at.as_deref())
            .date(self.terms_accepted_on)
            .date(self.terminated_on)
            .opt(self.dob_mmdd.as_ref().map(Personal::expose))
            .opt(self.ssn_last4.as_ref().map(Personal::expose));
    }
}

impl AccountTable for AccessRow {
    const UPSERT: Upsert = upsert::ACCESS;

    fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query
            .bind(self.user_id)
            .bind(self.pidsl.as_str())
            .bind(self.role.as_str())
            .bind(self.services.bits())
            .bind(self.granted_on.map(date_text))
            .bind(self.expires_on.map(date_text))
    }

    fn copy_line(&self, line: &mut CopyLine) {
        line.int(self.user_id)
            .text(self.pidsl.as_str())
            .text(self.role.as_str())
            .int(self.services.bits())
            .date(self.granted_on)
            .date(self.expires_on);
    }
}

/// Inserts `rows` of one account table, updating by key the rows already there.
pub(super) async fn upsert<T: AccountTable>(
    conn: &mut PgConnection,
    rows: &[T],
) -> anyhow::Result<()> {
    insert_batched(
        conn,
        T::UPSERT.head,
        T::UPSERT.columns,
        T::UPSERT.tail,
        rows,
        |q, row| row.bind(q),
    )
    .await?;
    Ok(())
}

/// One row in `COPY`'s text format: tab-separated, `\N` for NULL, and backslash, tab, newline
/// and carriage return escaped (bytes of multi-byte UTF-8 characters never match those).
pub(super) struct CopyLine<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> CopyLine<'a> {
    /// Writes one row with `fill`, then its line end.
    fn write(out: &'a mut Vec<u8>, fill: impl FnOnce(&mut CopyLine)) {
        let mut line = CopyLine { out, first: true };
        fill(&mut line);
        line.out.push(b'\n');
    }

    fn separate(&mut self) {
        if !self.first {
            self.out.push(b'\t');
        }
        self.first = false;
    }

    fn text(&mut self, text: &str) -> &mut Self {
        self.separate();
        copy_text(self.out, text);
        self
    }

    fn opt(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.text(text),
            None => self.null(),
        }
    }

    fn date(&mut self, date: Option<NaiveDate>) -> &mut Self {
        self.opt(date.map(date_text).as_deref())
    }

    fn int(&mut self, n: i64) -> &mut Self {
        self.separate();
        self.out.extend_from_slice(n.to_string().as_bytes());
        self
    }

    fn null(&mut self) -> &mut Self {
        self.separate();
        self.out.extend_from_slice(b"\\N");
        self
    }
}

fn copy_text(out: &mut Vec<u8>, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(byte),
        }
    }
}

/// The write side of an import, on a blocking thread. A replacing import streams each table
/// with `COPY ... FROM STDIN` on a connection of its own (multi-row INSERTs took 97 s for a
/// statewide snapshot); a `--merge` import updates by key, which `COPY` cannot, through
/// multi-row `INSERT ... ON CONFLICT` statements in a pool transaction.
pub(super) struct PgImportWriter {
    target: ImportTarget,
    handle: Handle,
    /// Recorded as the store's last import when the import commits.
    imported_at: DateTime<Utc>,
}

enum ImportTarget {
    /// Inside a `BEGIN` on a connection of its own: closing it without `commit` rolls back.
    /// The statements recreate, at commit, the keys and indexes dropped after the `TRUNCATE`.
    Copy(PgConnection, Vec<String>),
    Merge(Transaction<'static, Postgres>),
}

impl PgImportWriter {
    pub(super) fn begin(
        store: &PgStore,
        handle: Handle,
        replace: bool,
        imported_at: DateTime<Utc>,
    ) -> anyhow::Result<PgImportWriter> {
        let target = if replace {
            let mut conn = handle
                .block_on(PgConnection::connect_with(&store.options))
                .context("cannot connect for the import")?;
            // A review's snapshot load locks the tables in this order too (module comment).
            handle
                .block_on(
                    sqlx::raw_sql("BEGIN; TRUNCATE access, users, pidsls, organizations")
                        .execute(&mut conn),
                )
                .context("cannot empty the account store")?;
            let rebuild = handle
                .block_on(drop_keys(&mut conn))
                .context("cannot set the account tables' keys aside for the import")?;
            ImportTarget::Copy(conn, rebuild)
        } else {
            let tx = handle
                .block_on(store.pool.begin())
                .context("cannot start the import transaction")?;
            ImportTarget::Merge(tx)
        };
        Ok(PgImportWriter {
            target,
            handle,
            imported_at,
        })
    }

    fn write<T: AccountTable>(&mut self, rows: &[T]) -> anyhow::Result<()> {
        let handle = &self.handle;
        match &mut self.target {
            ImportTarget::Copy(conn, _) => {
                let target = T::UPSERT
                    .head
                    .strip_prefix("INSERT INTO ")
                    .context("an insert that names no table")?;
                let mut text = Vec::with_capacity(rows.len() * 128);
                for row in rows {
                    CopyLine::write(&mut text, |line| row.copy_line(line));
                }
                handle
                    .block_on(async {
                        let mut copy = conn
                            .copy_in_raw(&format!("COPY {target} FROM STDIN"))
                            .await?;
                        copy.send(text).await?;
                        copy.finish().await
                    })
                    .with_context(|| format!("cannot write: {}", T::UPSERT.head))?;
                Ok(())
            }
            ImportTarget::Merge(tx) => handle.block_on(upsert(tx, rows)),
        }
    }
}

/// The account tables' keys, unique constraints and indexes as the migrations made them, read
/// from the catalog: `(create, drop)` statements, the foreign keys first. Read rather than
/// written out here so that the import restores exactly what the migrations define.
const ACCOUNT_KEYS_SQL: &str = "\
    WITH tables AS (SELECT unnest(ARRAY['organizations', 'pidsls', 'users', 'access'])::regclass AS t) \
    SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, \
                  pg_get_constraintdef(oid)) AS create_sql, \
           format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) AS drop_sql, \
           CASE contype WHEN 'f' THEN 0 ELSE 1 END AS step \
    FROM pg_constraint WHERE conrelid IN (SELECT t FROM tables) AND contype IN ('p', 'u', 'f') \
    UNION ALL \
    SELECT pg_get_indexdef(indexrelid), format('DROP INDEX %s', indexrelid::regclass), 2 \
    FROM pg_index WHERE indrelid IN (SELECT t FROM tables) \
      AND NOT EXISTS (SELECT 1 FROM pg_constraint \
                      WHERE conindid = indexrelid AND contype IN ('p', 'u', 'x')) \
    ORDER BY step, drop_sql";

/// Drops the account tables' keys and indexes inside the import's transaction and returns the
/// statements that recreate them, in the reverse order (indexes and keys, then the foreign keys
/// that need them). Built once over the loaded rows, each index is one sort instead of a
/// million insertions, and each foreign key is checked by one join instead of per row; a
/// snapshot that breaks one fails the commit, which rolls back the drop with everything else.
async fn drop_keys(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let keys: Vec<(String, String)> = sqlx::query_as(ACCOUNT_KEYS_SQL)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(create, drop, _step): (String, String, i32)| (create, drop))
        .collect();
    for (_, drop) in &keys {
        sqlx::raw_sql(drop).execute(&mut *conn).await?;
    }
    Ok(keys.into_iter().rev().map(|(create, _)| create).collect())
}

/// Records the import's time in its transaction, so that it is the store's last import once
/// the import commits.
const RECORD_IMPORT: &str = "UPDATE store_info SET last_import_at = $1 WHERE singleton = 1";

impl ImportWriter for PgImportWriter {
    fn write_orgs(&mut self, rows: &[OrgRow]) -> anyhow::Result<()> {
        self.write(rows)
    }

    fn write_pidsls(&mut self, rows: &[PidSlRow]) -> anyhow::Result<()> {
        self.write(rows)
    }

    fn write_users(&mut self, rows: &[UserRow]) -> anyhow::Result<()> {
        self.write(rows)
    }

    fn write_access(&mut self, rows: &[AccessRow]) -> anyhow::Result<()> {
        self.write(rows)
    }

    fn set_terminated(&mut self, updates: &[(i64, NaiveDate)]) -> anyhow::Result<()> {
        match &mut self.target {
            // A replacing import's roster only matches users of its own files, all written.
            ImportTarget::Copy(..) => {
                anyhow::ensure!(
                    updates.is_empty(),
                    "a replacing import cannot update users outside its files"
                );
                Ok(())
            }
            ImportTarget::Merge(tx) => self.handle.block_on(async {
                for (id, date) in updates {
                    sqlx::query("UPDATE users SET terminated_on = $1 WHERE id = $2")
                        .bind(date_text(*date))
                        .bind(*id)
                        .execute(&mut **tx)
                        .await
                        .context("cannot apply the roster")?;
                }
                Ok(())
            }),
        }
    }

    fn commit(self: Box<Self>) -> anyhow::Result<()> {
        let PgImportWriter {
            target,
            handle,
            imported_at,
        } = *self;
        let record = sqlx::query(RECORD_IMPORT).bind(imported_at);
        match target {
            ImportTarget::Copy(mut conn, rebuild) => handle
                .block_on(async {
                    for statement in &rebuild {
                        sqlx::raw_sql(statement)
                            .execute(&mut conn)
                            .await
                            .with_context(|| format!("cannot restore a key: {statement}"))?;
                    }
                    record.execute(&mut conn).await?;
                    sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
                    conn.close().await?;
                    anyhow::Ok(())
                })
                .context("cannot commit the import"),
            ImportTarget::Merge(mut tx) => handle
                .block_on(async {
                    record.execute(&mut *tx).await?;
                    tx.commit().await
                })
                .context("cannot commit the import"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_lines_escape_what_the_text_format_reserves() {
        let mut out = Vec::new();
        CopyLine::write(&mut out, |line| {
            line.int(42)
                .text("O\\Brien\tJr\r\nline")
                .null()
                .text("José");
        });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "42\tO\\\\Brien\\tJr\\r\\nline\t\\N\tJosé\n"
        );
    }
}
