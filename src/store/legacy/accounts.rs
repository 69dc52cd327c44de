//! The account store's tables: bulk writes for an import, bulk reads into a [`Snapshot`].

use super::{insert_batched, Store};
use crate::domain::{timestamp_date, Cadence, OrgKind, PidSl, Role, Services, UserStatus};
use crate::snapshot::{Access, Org, Personal, PidSlRecord, Snapshot, User};
use anyhow::Context;
use chrono::NaiveDate;
use chrono_tz::Tz;
use futures_util::TryStreamExt;
use sqlx::{AnyConnection, Row};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone)]
pub struct OrgRow {
    pub org_id: String,
    pub name: String,
    pub kind: OrgKind,
    pub cadence: Cadence,
    pub management_emails: Vec<String>,
    pub last_review_on: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct PidSlRow {
    pub pidsl: PidSl,
    pub org_id: String,
    pub name: String,
    pub provider_type: String,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub middle_initial: String,
    pub phone: String,
    pub email: String,
    pub org_id: String,
    pub job_role: String,
    pub status: UserStatus,
    pub created_on: Option<NaiveDate>,
    pub last_login_at: Option<String>,
    pub terms_accepted_on: Option<NaiveDate>,
    pub terminated_on: Option<NaiveDate>,
    pub dob_mmdd: Option<Personal>,
    pub ssn_last4: Option<Personal>,
}

#[derive(Debug, Clone)]
pub struct AccessRow {
    pub user_id: i64,
    pub pidsl: PidSl,
    pub role: Role,
    pub services: Services,
    pub granted_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
}

/// One value of a row to insert, for either driver.
pub(crate) enum Cell<'a> {
    Text(&'a str),
    Owned(String),
    Int(i64),
    Null,
}

impl<'a> Cell<'a> {
    fn opt(text: Option<&'a str>) -> Cell<'a> {
        text.map_or(Cell::Null, Cell::Text)
    }

    fn date(date: Option<NaiveDate>) -> Cell<'a> {
        date.map_or(Cell::Null, |d| {
            Cell::Owned(d.format("%Y-%m-%d").to_string())
        })
    }
}

impl rusqlite::ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Cell::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Cell::Owned(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Cell::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Cell::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

/// A row of an account table: its INSERT (upserting by key) and its values in column order.
pub(crate) trait Insertable {
    const HEAD: &'static str;
    const COLUMNS: usize;
    const TAIL: &'static str;
    fn cells(&self) -> Vec<Cell<'_>>;
}

impl Insertable for OrgRow {
    const HEAD: &'static str =
        "INSERT INTO organizations (org_id, name, kind, review_cadence, management_emails, last_review_on)";
    const COLUMNS: usize = 6;
    const TAIL: &'static str =
        "ON CONFLICT (org_id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
         review_cadence = excluded.review_cadence, management_emails = excluded.management_emails, \
         last_review_on = excluded.last_review_on";
    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Text(&self.org_id),
            Cell::Text(&self.name),
            Cell::Text(self.kind.as_str()),
            Cell::Text(self.cadence.as_str()),
            Cell::Owned(self.management_emails.join(";")),
            Cell::date(self.last_review_on),
        ]
    }
}

impl Insertable for PidSlRow {
    const HEAD: &'static str = "INSERT INTO pidsls (pidsl, org_id, name, provider_type, active)";
    const COLUMNS: usize = 5;
    const TAIL: &'static str =
        "ON CONFLICT (pidsl) DO UPDATE SET org_id = excluded.org_id, name = excluded.name, \
         provider_type = excluded.provider_type, active = excluded.active";
    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Text(self.pidsl.as_str()),
            Cell::Text(&self.org_id),
            Cell::Text(&self.name),
            Cell::Text(&self.provider_type),
            Cell::Int(i64::from(self.active)),
        ]
    }
}

impl Insertable for UserRow {
    const HEAD: &'static str = "INSERT INTO users (id, username, username_key, first_name, last_name, middle_initial, \
         phone, email, org_id, job_role, status, created_on, last_login_at, terms_accepted_on, terminated_on, \
         dob_mmdd, ssn_last4)";
    const COLUMNS: usize = 17;
    const TAIL: &'static str = "ON CONFLICT (id) DO UPDATE SET username = excluded.username, \
         first_name = excluded.first_name, last_name = excluded.last_name, \
         middle_initial = excluded.middle_initial, phone = excluded.phone, email = excluded.email, \
         org_id = excluded.org_id, job_role = excluded.job_role, status = excluded.status, \
         created_on = excluded.created_on, last_login_at = excluded.last_login_at, \
         terms_accepted_on = excluded.terms_accepted_on, terminated_on = excluded.terminated_on, \
         dob_mmdd = excluded.dob_mmdd, ssn_last4 = excluded.ssn_last4";
    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Int(self.id),
            Cell::Text(&self.username),
            Cell::Owned(self.username.to_lowercase()),
            Cell::Text(&self.first_name),
            Cell::Text(&self.last_name),
            Cell::Text(&self.middle_initial),
            Cell::Text(&self.phone),
            Cell::Text(&self.email),
            Cell::Text(&self.org_id),
            Cell::Text(&self.job_role),
            Cell::Text(self.status.as_str()),
            Cell::date(self.created_on),
            Cell::opt(self.last_login_at.as_deref()),
            Cell::date(self.terms_accepted_on),
            Cell::date(self.terminated_on),
            Cell::opt(self.dob_mmdd.as_ref().map(Personal::expose)),
            Cell::opt(self.ssn_last4.as_ref().map(Personal::expose)),
        ]
    }
}

impl Insertable for AccessRow {
    const HEAD: &'static str =
        "INSERT INTO access (user_id, pidsl, role, services, granted_on, expires_on)";
    const COLUMNS: usize = 6;
    const TAIL: &'static str = "ON CONFLICT (user_id, pidsl) DO UPDATE SET role = excluded.role, \
         services = excluded.services, granted_on = excluded.granted_on, expires_on = excluded.expires_on";
    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Int(self.user_id),
            Cell::Text(self.pidsl.as_str()),
            Cell::Text(self.role.as_str()),
            Cell::Int(self.services.bits()),
            Cell::date(self.granted_on),
            Cell::date(self.expires_on),
        ]
    }
}

/// The keys already in the store, which a `--merge` import may refer to.
#[derive(Debug, Default)]
pub struct KnownAccounts {
    pub org_ids: HashSet<String>,
    pub pidsls: HashSet<String>,
    /// Lower-cased username -> user id.
    pub users: HashMap<String, i64>,
    /// Lower-cased email -> user ids, for roster matching.
    pub emails: HashMap<String, Vec<i64>>,
    pub max_user_id: i64,
}

pub(super) fn stored_date(
    column: &str,
    text: Option<impl AsRef<str>>,
) -> anyhow::Result<Option<NaiveDate>> {
    text.map(|t| {
        let t = t.as_ref();
        // `FromStr` is YYYY-MM-DD with a prebuilt format: several times faster than a format
        // string parsed again for each of millions of stored dates.
        t.parse::<NaiveDate>()
            .with_context(|| format!("bad date {t:?} in {column}"))
    })
    .transpose()
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl Store {
    /// Inserts (or, by key, updates) rows of one account table.
    pub(crate) async fn write_rows<T: Insertable>(
        &self,
        conn: &mut AnyConnection,
        rows: &[T],
    ) -> anyhow::Result<()> {
        insert_batched(
            conn,
            self.backend,
            T::HEAD,
            T::COLUMNS,
            T::TAIL,
            rows,
            |q, row| {
                row.cells().into_iter().fold(q, |q, cell| match cell {
                    Cell::Text(text) => q.bind(text),
                    Cell::Owned(text) => q.bind(text),
                    Cell::Int(n) => q.bind(n),
                    Cell::Null => q.bind(None::<String>),
                })
            },
        )
        .await
    }

    /// Sets terminated_on for users already in the store (a roster applied by `--merge`).
    pub(crate) async fn set_terminated(
        &self,
        conn: &mut AnyConnection,
        updates: &[(i64, NaiveDate)],
    ) -> anyhow::Result<()> {
        for (id, date) in updates {
            sqlx::query("UPDATE users SET terminated_on = $1 WHERE id = $2")
                .bind(date.format("%Y-%m-%d").to_string())
                .bind(*id)
                .execute(&mut *conn)
                .await
                .context("cannot apply the roster")?;
        }
        Ok(())
    }

    /// The keys a `--merge` import may refer to.
    pub async fn known_accounts(&self) -> anyhow::Result<KnownAccounts> {
        let mut known = KnownAccounts::default();
        let mut rows = sqlx::query("SELECT org_id FROM organizations").fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            known.org_ids.insert(row.try_get(0)?);
        }
        drop(rows);
        let mut rows = sqlx::query("SELECT pidsl FROM pidsls").fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            known.pidsls.insert(row.try_get(0)?);
        }
        drop(rows);
        let mut rows = sqlx::query("SELECT id, username_key, email FROM users").fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            let id: i64 = row.try_get(0)?;
            let email: String = row.try_get(2)?;
            known.users.insert(row.try_get(1)?, id);
            known
                .emails
                .entry(email.to_lowercase())
                .or_default()
                .push(id);
            known.max_user_id = known.max_user_id.max(id);
        }
        Ok(known)
    }

    /// Every org_id in the store.
    pub async fn org_ids(&self) -> anyhow::Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT org_id FROM organizations ORDER BY org_id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Counts of the account tables: organizations, PID/SLs, users, access rows.
    ///
    /// The tables are named in the order of a replacing import's `TRUNCATE` (PostgreSQL takes
    /// a statement's locks in the order it meets the tables): in any other order this count,
    /// waiting for an import, held a table the import needed, and the import died of a
    /// deadlock.
    pub async fn account_counts(&self) -> anyhow::Result<[i64; 4]> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM access) AS access, (SELECT COUNT(*) FROM users) AS users, \
             (SELECT COUNT(*) FROM pidsls) AS pidsls, (SELECT COUNT(*) FROM organizations) AS orgs",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok([
            row.try_get("orgs")?,
            row.try_get("pidsls")?,
            row.try_get("users")?,
            row.try_get("access")?,
        ])
    }

    /// Loads the whole account store into memory with four bulk queries (on SQLite read
    /// through rusqlite, see [`super::sqlite_read`]).
    pub async fn load_snapshot(&self, zone: Tz) -> anyhow::Result<Snapshot> {
        let mut builder = match &self.sqlite_file {
            Some(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || super::sqlite_read::load_accounts(&path, zone))
                    .await
                    .context("the snapshot loader stopped")??
            }
            None => self.load_accounts_sqlx(zone).await?,
        };
        for (org_id, as_of) in self.last_completed_review_per_org().await? {
            builder.last_run(&org_id, as_of);
        }
        Ok(builder.finish())
    }

    /// The four reads of a PostgreSQL store, from one moment: one `REPEATABLE READ, READ ONLY`
    /// transaction, which first locks the four tables `ACCESS SHARE`. Read one by one on the
    /// pool, a replacing import that committed between two reads gave organizations of one
    /// snapshot and access rows of the other. The lock comes first because the transaction's
    /// snapshot is taken at its first query and `TRUNCATE` is not MVCC-safe: a snapshot taken
    /// while an import waited to commit would see its tables empty. So the load waits for an
    /// import in progress, and an import waits for a load; the tables are locked in the
    /// import's `TRUNCATE` order, so neither holds one table while waiting for another.
    async fn load_accounts_sqlx(&self, zone: Tz) -> anyhow::Result<SnapshotBuilder> {
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
                row.try_get(0)?,
                row.try_get(1)?,
                &row.try_get::<String, _>(2)?,
                &row.try_get::<String, _>(3)?,
                &row.try_get::<String, _>(4)?,
                row.try_get::<Option<String>, _>(5)?.as_deref(),
            )?;
        }
        drop(rows);
        let mut rows = sqlx::query(PIDSLS_SQL).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            b.pidsl(
                &row.try_get::<String, _>(0)?,
                &row.try_get::<String, _>(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
                row.try_get(4)?,
            )?;
        }
        drop(rows);
        let mut rows = sqlx::query(USERS_SQL).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let text = |i: usize| row.try_get::<String, _>(i);
            let opt = |i: usize| row.try_get::<Option<String>, _>(i);
            b.user(UserColumns {
                id: row.try_get(0)?,
                username: text(1)?,
                first_name: text(2)?,
                last_name: text(3)?,
                middle_initial: text(4)?,
                phone: text(5)?,
                email: text(6)?,
                org_id: &text(7)?,
                job_role: text(8)?,
                status: &text(9)?,
                created_on: opt(10)?.as_deref(),
                last_login_at: opt(11)?,
                terms_accepted_on: opt(12)?.as_deref(),
                terminated_on: opt(13)?.as_deref(),
                dob_mmdd: opt(14)?,
                ssn_last4: opt(15)?,
            })?;
        }
        drop(rows);
        let mut rows = sqlx::query(ACCESS_SQL).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            b.access(
                row.try_get(0)?,
                &row.try_get::<String, _>(1)?,
                &row.try_get::<String, _>(2)?,
                row.try_get(3)?,
                row.try_get::<Option<String>, _>(4)?.as_deref(),
                row.try_get::<Option<String>, _>(5)?.as_deref(),
            )?;
        }
        drop(rows);
        tx.commit().await?;
        Ok(b)
    }
}

pub(super) const ORGS_SQL: &str =
    "SELECT org_id, name, kind, review_cadence, management_emails, last_review_on FROM organizations ORDER BY org_id";
pub(super) const PIDSLS_SQL: &str =
    "SELECT pidsl, org_id, name, provider_type, active FROM pidsls ORDER BY pidsl";
pub(super) const USERS_SQL: &str = "SELECT id, username, first_name, last_name, middle_initial, phone, email, org_id, \
     job_role, status, created_on, last_login_at, terms_accepted_on, terminated_on, dob_mmdd, ssn_last4 FROM users ORDER BY id";
pub(super) const ACCESS_SQL: &str =
    "SELECT user_id, pidsl, role, services, granted_on, expires_on FROM access";

/// One users row, as the store holds it.
pub(super) struct UserColumns<'a> {
    pub id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub middle_initial: String,
    pub phone: String,
    pub email: String,
    pub org_id: &'a str,
    pub job_role: String,
    pub status: &'a str,
    pub created_on: Option<&'a str>,
    pub last_login_at: Option<String>,
    pub terms_accepted_on: Option<&'a str>,
    pub terminated_on: Option<&'a str>,
    pub dob_mmdd: Option<String>,
    pub ssn_last4: Option<String>,
}

/// Builds a [`Snapshot`] from the store's rows, whichever driver reads them: keys become
/// dense indices, text becomes domain values.
pub(super) struct SnapshotBuilder {
    zone: Tz,
    snapshot: Snapshot,
    org_index: HashMap<String, u32>,
    pidsl_index: HashMap<String, u32>,
    user_index: HashMap<i64, u32>,
}

fn parsed<T>(result: Result<T, String>) -> anyhow::Result<T> {
    result.map_err(anyhow::Error::msg)
}

impl SnapshotBuilder {
    pub fn new(zone: Tz) -> Self {
        SnapshotBuilder {
            zone,
            snapshot: Snapshot::default(),
            org_index: HashMap::new(),
            pidsl_index: HashMap::new(),
            user_index: HashMap::new(),
        }
    }

    fn org_of(&self, org_id: &str) -> anyhow::Result<u32> {
        self.org_index
            .get(org_id)
            .copied()
            .with_context(|| format!("unknown org_id {org_id:?} in the store"))
    }

    pub fn org(
        &mut self,
        org_id: String,
        name: String,
        kind: &str,
        cadence: &str,
        emails: &str,
        last_review_on: Option<&str>,
    ) -> anyhow::Result<()> {
        self.org_index
            .insert(org_id.clone(), self.snapshot.orgs.len() as u32);
        self.snapshot.orgs.push(Org {
            org_id,
            name,
            kind: parsed(OrgKind::parse(kind))?,
            cadence: parsed(Cadence::parse(cadence))?,
            management_emails: emails
                .split(';')
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect(),
            last_review_on: stored_date("last_review_on", last_review_on)?,
        });
        Ok(())
    }

    pub fn pidsl(
        &mut self,
        pidsl: &str,
        org_id: &str,
        name: String,
        provider_type: String,
        active: i64,
    ) -> anyhow::Result<()> {
        let pidsl = parsed(PidSl::parse(pidsl))?;
        self.pidsl_index.insert(
            pidsl.as_str().to_string(),
            self.snapshot.pidsls.len() as u32,
        );
        let org = self.org_of(org_id)?;
        self.snapshot.pidsls.push(PidSlRecord {
            pidsl,
            org,
            name,
            provider_type,
            active: active != 0,
        });
        Ok(())
    }

    pub fn user(&mut self, u: UserColumns) -> anyhow::Result<()> {
        self.user_index
            .insert(u.id, self.snapshot.users.len() as u32);
        let last_login_on = u
            .last_login_at
            .as_deref()
            .map(|t| timestamp_date(t, self.zone))
            .transpose();
        let org = self.org_of(u.org_id)?;
        self.snapshot.users.push(User {
            username: u.username,
            first_name: u.first_name,
            last_name: u.last_name,
            middle_initial: u.middle_initial,
            phone: u.phone,
            email: u.email,
            org,
            job_role: non_empty(u.job_role),
            status: parsed(UserStatus::parse(u.status))?,
            created_on: stored_date("created_on", u.created_on)?,
            last_login_on: parsed(last_login_on)?,
            last_login_at: u.last_login_at,
            terms_accepted_on: stored_date("terms_accepted_on", u.terms_accepted_on)?,
            terminated_on: stored_date("terminated_on", u.terminated_on)?,
            dob_mmdd: u.dob_mmdd.map(Personal::new),
            ssn_last4: u.ssn_last4.map(Personal::new),
        });
        Ok(())
    }

    pub fn access(
        &mut self,
        user_id: i64,
        pidsl: &str,
        role: &str,
        services: i64,
        granted_on: Option<&str>,
        expires_on: Option<&str>,
    ) -> anyhow::Result<()> {
        self.snapshot.access.push(Access {
            user: *self
                .user_index
                .get(&user_id)
                .with_context(|| format!("access row for unknown user id {user_id}"))?,
            pidsl: *self
                .pidsl_index
                .get(pidsl)
                .with_context(|| format!("access row for unknown PID/SL {pidsl}"))?,
            role: parsed(Role::parse(role))?,
            services: parsed(Services::from_bits(services))?,
            granted_on: stored_date("granted_on", granted_on)?,
            expires_on: stored_date("expires_on", expires_on)?,
        });
        Ok(())
    }

    pub fn last_run(&mut self, org_id: &str, as_of: NaiveDate) {
        if let Some(&i) = self.org_index.get(org_id) {
            if self.snapshot.last_run_on.len() < self.snapshot.orgs.len() {
                self.snapshot.last_run_on = vec![None; self.snapshot.orgs.len()];
            }
            self.snapshot.last_run_on[i as usize] = Some(as_of);
        }
    }

    pub fn finish(mut self) -> Snapshot {
        self.snapshot
            .last_run_on
            .resize(self.snapshot.orgs.len(), None);
        self.snapshot.sort_access();
        // The loader's indices are the snapshot's lookups: no need to build them again.
        self.snapshot.lookup = crate::snapshot::Lookup::from_maps(self.org_index, self.pidsl_index);
        self.snapshot
    }
}
