//! The snapshot a review reads: the four account tables in one pass each, turned into a
//! [`Snapshot`] by one builder whichever backend reads the rows. Keys become dense indices,
//! text becomes domain values.

use crate::domain::{timestamp_date, Cadence, OrgKind, PidSl, Role, Services, UserStatus};
use crate::snapshot::{Access, Org, Personal, PidSlRecord, Snapshot, User};
use anyhow::Context;
use chrono::NaiveDate;
use chrono_tz::Tz;
use std::collections::HashMap;

/// A stored `YYYY-MM-DD` date.
pub(crate) fn stored_date(
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

pub(crate) const ORGS_SQL: &str =
    "SELECT org_id, name, kind, review_cadence, management_emails, last_review_on FROM organizations ORDER BY org_id";
pub(crate) const PIDSLS_SQL: &str =
    "SELECT pidsl, org_id, name, provider_type, active FROM pidsls ORDER BY pidsl";
pub(crate) const USERS_SQL: &str = "SELECT id, username, first_name, last_name, middle_initial, phone, email, org_id, \
     job_role, status, created_on, last_login_at, terms_accepted_on, terminated_on, dob_mmdd, ssn_last4 FROM users ORDER BY id";
pub(crate) const ACCESS_SQL: &str =
    "SELECT user_id, pidsl, role, services, granted_on, expires_on FROM access";

/// One users row, as the store holds it.
pub(crate) struct UserColumns<'a> {
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
pub(crate) struct SnapshotBuilder {
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
