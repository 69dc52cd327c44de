//! The in-memory snapshot of the account store that a review runs on: plain vectors indexed by
//! dense ids, loaded once per run with a few bulk queries.

use crate::domain::{Cadence, OrgKind, PidSl, Role, Services, UserStatus};
use chrono::NaiveDate;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// A value that is personal data (dob_mmdd, ssn_last4). It can be compared, never printed: its
/// `Debug` is redacted and it has no `Display` or `Serialize`, so it cannot reach a report, an
/// email or a log by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Personal(String);

impl Personal {
    pub fn new(value: String) -> Self {
        Personal(value)
    }

    /// The raw value, for the store and the identity comparison only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Shows only the shape, e.g. `**/**` or `****`, for `accounts show`.
    pub fn masked(&self) -> String {
        self.0
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { '*' } else { c })
            .collect()
    }
}

impl fmt::Debug for Personal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[personal data]")
    }
}

#[derive(Debug, Clone)]
pub struct Org {
    pub org_id: String,
    pub name: String,
    pub kind: OrgKind,
    pub cadence: Cadence,
    pub management_emails: Vec<String>,
    pub last_review_on: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct PidSlRecord {
    pub pidsl: PidSl,
    /// Index into `Snapshot::orgs`.
    pub org: u32,
    pub name: String,
    pub provider_type: String,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct User {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub middle_initial: String,
    pub phone: String,
    pub email: String,
    /// Index into `Snapshot::orgs`: the user's own organization.
    pub org: u32,
    pub job_role: Option<String>,
    pub status: UserStatus,
    pub created_on: Option<NaiveDate>,
    /// As imported (a date or RFC 3339), for the access report.
    pub last_login_at: Option<String>,
    /// `last_login_at`'s calendar date in the configured time zone.
    pub last_login_on: Option<NaiveDate>,
    pub terms_accepted_on: Option<NaiveDate>,
    pub terminated_on: Option<NaiveDate>,
    pub dob_mmdd: Option<Personal>,
    pub ssn_last4: Option<Personal>,
}

impl User {
    /// `status = active` and not terminated as of the review date.
    pub fn is_active(&self, as_of: NaiveDate) -> bool {
        crate::domain::is_active(self.status, self.terminated_on, as_of)
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

#[derive(Debug, Clone)]
pub struct Access {
    /// Index into `Snapshot::users`.
    pub user: u32,
    /// Index into `Snapshot::pidsls`.
    pub pidsl: u32,
    pub role: Role,
    pub services: Services,
    pub granted_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub orgs: Vec<Org>,
    pub pidsls: Vec<PidSlRecord>,
    pub users: Vec<User>,
    /// Sorted by PID/SL, then user.
    pub access: Vec<Access>,
    /// Per organization (same index as `orgs`): the as_of of its last completed review run.
    pub last_run_on: Vec<Option<NaiveDate>>,
    /// Indices by org_id and by PID/SL, built on first use (the reports look rows up by the
    /// text they carry; a linear search per lookup was quadratic at statewide scale).
    /// Snapshots built field by field leave it `Default::default()`.
    pub lookup: Lookup,
}

/// See [`Snapshot::org_index`] and [`Snapshot::pidsls_of`].
#[derive(Debug, Clone, Default)]
pub struct Lookup(
    OnceLock<LookupMaps>,
    OnceLock<Vec<Vec<u32>>>,
    OnceLock<UserPidsls>,
);

/// Users by lower-case username, and each user's PID/SLs.
type UserPidsls = (HashMap<String, u32>, Vec<Vec<u32>>);

impl Lookup {
    /// The indices a loader already built, by org_id and by PID/SL text.
    pub(crate) fn from_maps(orgs: HashMap<String, u32>, pidsls: HashMap<String, u32>) -> Lookup {
        Lookup(
            OnceLock::from(LookupMaps { orgs, pidsls }),
            OnceLock::new(),
            OnceLock::new(),
        )
    }
}

#[derive(Debug, Clone)]
struct LookupMaps {
    orgs: HashMap<String, u32>,
    pidsls: HashMap<String, u32>,
}

impl Snapshot {
    fn lookup(&self) -> &LookupMaps {
        self.lookup.0.get_or_init(|| LookupMaps {
            orgs: (0..)
                .zip(&self.orgs)
                .map(|(i, o)| (o.org_id.clone(), i))
                .collect(),
            pidsls: (0..)
                .zip(&self.pidsls)
                .map(|(i, p)| (p.pidsl.as_str().to_string(), i))
                .collect(),
        })
    }

    /// The index in `orgs` of this org_id. The snapshot must be complete when this is first
    /// called: the index is not rebuilt.
    pub fn org_index(&self, org_id: &str) -> Option<u32> {
        self.lookup().orgs.get(org_id).copied()
    }

    /// The index in `pidsls` of this PID/SL (as stored: upper case); see [`Self::org_index`].
    pub fn pidsl_index(&self, pidsl: &str) -> Option<u32> {
        self.lookup().pidsls.get(pidsl).copied()
    }

    /// The indices in `pidsls` of one organization's PID/SLs, in index order; built for every
    /// organization on first use (an organization's workbook asks for its own, thousands of
    /// times a run), see [`Self::org_index`].
    pub fn pidsls_of(&self, org: u32) -> &[u32] {
        let by_org = self.lookup.1.get_or_init(|| {
            let mut by_org = vec![Vec::new(); self.orgs.len()];
            for (i, p) in self.pidsls.iter().enumerate() {
                if let Some(pidsls) = by_org.get_mut(p.org as usize) {
                    pidsls.push(i as u32);
                }
            }
            by_org
        });
        by_org.get(org as usize).map_or(&[], Vec::as_slice)
    }

    /// The PID/SLs (indices, ascending) on which the user named `username` (any letter case)
    /// has access; see [`Self::org_index`]. Built on first use in one pass over the access rows.
    pub fn pidsls_of_user(&self, username: &str) -> &[u32] {
        let (names, pidsls) = self.lookup.2.get_or_init(|| {
            let names = (0..)
                .zip(&self.users)
                .map(|(i, u)| (u.username.to_lowercase(), i))
                .collect();
            let mut pidsls = vec![Vec::new(); self.users.len()];
            for a in &self.access {
                pidsls[a.user as usize].push(a.pidsl);
            }
            (names, pidsls)
        });
        names
            .get(&username.to_lowercase())
            .map(|&u| pidsls[u as usize].as_slice())
            .unwrap_or_default()
    }

    pub fn org_of_pidsl(&self, pidsl: u32) -> &Org {
        &self.orgs[self.pidsls[pidsl as usize].org as usize]
    }

    pub fn user(&self, index: u32) -> &User {
        &self.users[index as usize]
    }

    pub fn pidsl(&self, index: u32) -> &PidSlRecord {
        &self.pidsls[index as usize]
    }

    /// A user is linked to a PID/SL when their own organization differs from the PID/SL's.
    pub fn is_linked(&self, access: &Access) -> bool {
        self.user(access.user).org != self.pidsl(access.pidsl).org
    }

    /// The access rows grouped by PID/SL (relies on the sort order).
    pub fn access_by_pidsl(&self) -> impl Iterator<Item = (u32, &[Access])> {
        self.access
            .chunk_by(|a, b| a.pidsl == b.pidsl)
            .map(|rows| (rows[0].pidsl, rows))
    }

    /// The access rows on one PID/SL (relies on the sort order).
    pub fn access_on(&self, pidsl: u32) -> &[Access] {
        &self.access[self.access_range_on(pidsl)]
    }

    /// The positions in `access` of the rows on a PID/SL (they are sorted by PID/SL).
    pub fn access_range_on(&self, pidsl: u32) -> std::ops::Range<usize> {
        let start = self.access.partition_point(|a| a.pidsl < pidsl);
        let end = self.access.partition_point(|a| a.pidsl <= pidsl);
        start..end
    }

    /// Puts the access rows in the order the rules and reports rely on.
    pub fn sort_access(&mut self) {
        self.access.sort_unstable_by_key(|a| (a.pidsl, a.user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::tests::org;

    #[test]
    fn organizations_and_pidsls_are_found_by_their_text() {
        let pidsl = |code: &str, org: u32| PidSlRecord {
            pidsl: PidSl::parse(code).unwrap(),
            org,
            name: String::new(),
            provider_type: String::new(),
            active: true,
        };
        let snapshot = Snapshot {
            orgs: vec![org("ORG-A", Cadence::Annual), org("ORG-B", Cadence::Annual)],
            pidsls: vec![pidsl("110000001A", 1), pidsl("110000001B", 0)],
            ..Snapshot::default()
        };
        assert_eq!(snapshot.org_index("ORG-B"), Some(1));
        assert_eq!(snapshot.org_index("org-b"), None);
        assert_eq!(snapshot.pidsl_index("110000001B"), Some(1));
        assert_eq!(snapshot.pidsl_index("110000001C"), None);
        // Cloning keeps the built index valid: it is the same data.
        assert_eq!(snapshot.clone().pidsl_index("110000001A"), Some(0));
    }
}
