//! A small builder for the rules' unit tests: a snapshot with one organization, a review date
//! and the default thresholds, to which a test adds just the PID/SLs, users and access rows its
//! case is about, then asks which units a rule fired for.

use super::{evaluate, Finding, RuleContext, RuleId};
use crate::domain::{Cadence, OrgKind, PidSl, Role, Services, UserStatus};
use crate::snapshot::{Access, Org, PidSlRecord, Snapshot, User};
use chrono::{Days, NaiveDate};
use std::collections::BTreeMap;

/// The review date every test runs on, unless it changes `Kit::as_of`.
pub const AS_OF: &str = "2026-10-01";

/// Every service a Primary User usually holds.
pub const ALL_SERVICES: &str = "PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL;CLAIMS;REPORTS;FINANCIAL;\
                                REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE";

pub fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

pub fn services(list: &str) -> Services {
    Services::parse_list(list).unwrap()
}

pub struct Kit {
    pub snapshot: Snapshot,
    pub as_of: NaiveDate,
    pub roles: BTreeMap<String, Services>,
    pub stale_after_days: i64,
    pub new_account_grace_days: i64,
    pub max_pidsls_per_primary: usize,
    pub max_users_per_primary: usize,
    pub broad_grant_threshold: usize,
}

impl Kit {
    /// One quarterly organization `ORG-A`, reviewed 10 days ago; the default thresholds; the
    /// roles `front_desk` and `biller` of the default configuration.
    pub fn new() -> Self {
        let mut kit = Kit {
            snapshot: Snapshot::default(),
            as_of: date(AS_OF),
            roles: BTreeMap::new(),
            stale_after_days: 90,
            new_account_grace_days: 30,
            max_pidsls_per_primary: 10,
            max_users_per_primary: 200,
            broad_grant_threshold: 10,
        };
        kit.org("ORG-A");
        kit.role("front_desk", "PORTAL;ELIGIBILITY;REFERRALS");
        kit.role("biller", "PORTAL;CLAIMS;BATCH;ELIGIBILITY;REPORTS");
        kit
    }

    /// The date `n` days before the review date.
    pub fn days_ago(&self, n: u64) -> NaiveDate {
        self.as_of.checked_sub_days(Days::new(n)).unwrap()
    }

    pub fn role(&mut self, name: &str, list: &str) {
        self.roles.insert(name.to_string(), services(list));
    }

    /// Adds a quarterly organization reviewed 10 days ago.
    pub fn org(&mut self, org_id: &str) -> u32 {
        let last_review_on = Some(self.days_ago(10));
        self.snapshot.orgs.push(Org {
            org_id: org_id.to_string(),
            name: format!("{org_id} Health"),
            kind: OrgKind::Provider,
            cadence: Cadence::Quarterly,
            management_emails: vec![format!("compliance@{}.example", org_id.to_lowercase())],
            last_review_on,
        });
        self.snapshot.last_run_on.push(None);
        (self.snapshot.orgs.len() - 1) as u32
    }

    pub fn org_mut(&mut self, org: u32) -> &mut Org {
        &mut self.snapshot.orgs[org as usize]
    }

    /// Adds an active group-practice PID/SL of the first organization.
    pub fn pidsl(&mut self, code: &str) -> u32 {
        self.snapshot.pidsls.push(PidSlRecord {
            pidsl: PidSl::parse(code).unwrap(),
            org: 0,
            name: format!("Site {code}"),
            provider_type: "group_practice".to_string(),
            active: true,
        });
        (self.snapshot.pidsls.len() - 1) as u32
    }

    pub fn pidsl_mut(&mut self, pidsl: u32) -> &mut PidSlRecord {
        &mut self.snapshot.pidsls[pidsl as usize]
    }

    /// Adds an active user of the first organization, created years ago, who signed in
    /// yesterday and accepted the Terms and Conditions; no job role, no personal data.
    pub fn user(&mut self, username: &str) -> u32 {
        let (created, signed_in) = (self.days_ago(2000), self.days_ago(1));
        self.snapshot.users.push(User {
            username: username.to_string(),
            first_name: username.to_string(),
            last_name: "Tester".to_string(),
            middle_initial: String::new(),
            phone: String::new(),
            email: format!("{username}@example.org"),
            org: 0,
            job_role: None,
            status: UserStatus::Active,
            created_on: Some(created),
            last_login_at: Some(signed_in.to_string()),
            last_login_on: Some(signed_in),
            terms_accepted_on: Some(created),
            terminated_on: None,
            dob_mmdd: None,
            ssn_last4: None,
        });
        (self.snapshot.users.len() - 1) as u32
    }

    pub fn user_mut(&mut self, user: u32) -> &mut User {
        &mut self.snapshot.users[user as usize]
    }

    /// Gives `user` an access row on `pidsl`; the row can be adjusted through the result.
    pub fn grant(&mut self, user: u32, pidsl: u32, role: Role, list: &str) -> &mut Access {
        self.snapshot.access.push(Access {
            user,
            pidsl,
            role,
            services: services(list),
            granted_on: None,
            expires_on: None,
        });
        self.snapshot.access.last_mut().unwrap()
    }

    /// A new user holding every service as `role` on `pidsl`.
    pub fn admin(&mut self, username: &str, pidsl: u32, role: Role) -> u32 {
        let user = self.user(username);
        self.grant(user, pidsl, role, ALL_SERVICES);
        user
    }

    /// A new subordinate on `pidsl` with `list`.
    pub fn subordinate(&mut self, username: &str, pidsl: u32, list: &str) -> u32 {
        let user = self.user(username);
        self.grant(user, pidsl, Role::Subordinate, list);
        user
    }

    /// Every finding of the whole rule set.
    pub fn findings(&mut self) -> Vec<Finding> {
        self.evaluate(None)
    }

    /// `rules::evaluate` on the snapshot, for the organizations in `scope` if given.
    pub fn evaluate(&mut self, scope: Option<&[bool]>) -> Vec<Finding> {
        self.snapshot.sort_access();
        let ctx = RuleContext {
            as_of: self.as_of,
            stale_after_days: self.stale_after_days,
            new_account_grace_days: self.new_account_grace_days,
            max_pidsls_per_primary: self.max_pidsls_per_primary,
            max_users_per_primary: self.max_users_per_primary,
            broad_grant_threshold: self.broad_grant_threshold,
            roles: &self.roles,
        };
        evaluate(&self.snapshot, &ctx, scope)
    }

    /// The units `rule` fired for, in the order of `evaluate`: `110000001A/akim` for a PID/SL
    /// and a user, `akim` for a user, `110000001A` for a PID/SL, `ORG-A` for an organization.
    pub fn fired(&mut self, rule: RuleId) -> Vec<String> {
        let findings = self.findings();
        findings
            .iter()
            .filter(|f| f.rule == rule)
            .map(|f| self.unit(f))
            .collect()
    }

    /// The org_id each finding of `rule` carries, in the same order as `fired`.
    pub fn orgs(&mut self, rule: RuleId) -> Vec<String> {
        let findings = self.findings();
        let orgs = &self.snapshot.orgs;
        findings
            .iter()
            .filter(|f| f.rule == rule)
            .map(|f| orgs[f.org as usize].org_id.clone())
            .collect()
    }

    /// The details of the findings of `rule`, in the same order as `fired`.
    pub fn details(&mut self, rule: RuleId) -> Vec<String> {
        self.findings()
            .into_iter()
            .filter(|f| f.rule == rule)
            .map(|f| f.detail)
            .collect()
    }

    /// The detail of the one finding of `rule`.
    pub fn detail(&mut self, rule: RuleId) -> String {
        let found: Vec<Finding> = self
            .findings()
            .into_iter()
            .filter(|f| f.rule == rule)
            .collect();
        assert_eq!(found.len(), 1, "expected one {rule} finding, got {found:?}");
        found[0].detail.clone()
    }

    fn unit(&self, f: &Finding) -> String {
        let s = &self.snapshot;
        let parts: Vec<&str> = match (f.pidsl, f.user) {
            (Some(p), Some(u)) => vec![s.pidsl(p).pidsl.as_str(), &s.user(u).username],
            (Some(p), None) => vec![s.pidsl(p).pidsl.as_str()],
            (None, Some(u)) => vec![&s.user(u).username],
            (None, None) => vec![&s.orgs[f.org as usize].org_id],
        };
        parts.join("/")
    }
}

/// `fired` for no unit.
pub const NONE: [&str; 0] = [];
