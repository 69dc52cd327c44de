//! The review rules of the Primary User Policy: pure functions from a [`Snapshot`] to findings.
//!
//! The rule table below is the one place that names each rule, its severity, what it checks,
//! the policy sentence it enforces and the POSC job-aid steps that fix it; reports, emails and
//! the README's rule list all read it.

mod admins;
mod cadence;
mod grants;
mod identity;
mod lifecycle;
mod remediation;
#[cfg(test)]
mod testkit;

use crate::domain::posc;
use crate::domain::{RuleId, Services, Severity};
use crate::snapshot::{Access, Snapshot};
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// The thresholds and profiles a review runs with. The review builds it from `[review]` and
/// `[roles]`; the rules never see the configuration itself.
#[derive(Debug, Clone)]
pub struct RuleContext<'a> {
    pub as_of: NaiveDate,
    pub stale_after_days: i64,
    pub new_account_grace_days: i64,
    pub max_pidsls_per_primary: usize,
    pub max_users_per_primary: usize,
    pub broad_grant_threshold: usize,
    pub roles: &'a BTreeMap<String, Services>,
}

/// One problem found by one rule, for one unit (a PID/SL, a user, a pair, or an organization).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: RuleId,
    /// Index into `Snapshot::orgs`: the PID/SL's organization when the unit has a PID/SL,
    /// otherwise the user's own, otherwise the organization reviewed.
    pub org: u32,
    pub pidsl: Option<u32>,
    pub user: Option<u32>,
    /// One line; never personal data.
    pub detail: String,
    /// The services the remediation moves (to Available Services when the user holds too
    /// many, to Assigned Services when too few); empty when it moves none or cannot say.
    pub services: Services,
    /// The steps that fix this finding, with its PID/SL, user and services filled in
    /// ([`remediation`]); `evaluate` writes it after the rules have run.
    pub remediation: String,
}

/// What a rule's finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    PidSl,
    PidSlUser,
    User,
    Organization,
}

/// A row of the rule table.
#[derive(Debug)]
pub struct Rule {
    pub id: RuleId,
    pub severity: Severity,
    pub unit: Unit,
    pub checks: &'static str,
    pub policy: PolicyQuote,
    pub remediation: &'static str,
}

/// The sentence of a source document a rule enforces, quoted, and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyQuote {
    /// The document's own words.
    pub quote: &'static str,
    /// The document and its section, e.g. "All Provider Bulletin 232, Primary User
    /// responsibilities".
    pub source: &'static str,
}

pub static RULES: [Rule; 15] = [
    Rule {
        id: RuleId::MissingPrimary,
        severity: Severity::Critical,
        unit: Unit::PidSl,
        checks: "No active user holds the role primary on the PID/SL.",
        policy: PolicyQuote {
            quote: "Ensure that both the Primary User and backup Primary User roles are filled and actively managing access to the organization’s information at all times.",
            source: "All Provider Bulletin, POSC Primary User Policy, Organization Responsibilities",
        },
        remediation: concat!("Establish a Primary User for the PID/SL: ", posc::modify_primary_user!(), "; until MassHealth has done so, the backup Primary User manages access to the PID/SL."),
    },
    Rule {
        id: RuleId::MissingBackup,
        severity: Severity::High,
        unit: Unit::PidSl,
        checks: "No active user holds the role backup on the PID/SL.",
        policy: PolicyQuote {
            quote: "Immediately assign a backup Primary User to perform Primary User responsibilities in the Primary User’s absence.",
            source: "All Provider Bulletin, POSC Primary User Policy, Primary User Responsibilities",
        },
        remediation: concat!("Assign a backup Primary User, with the Manage Subordinate role and all roles of the Primary User: ", posc::update_subordinate!("the backup designee", "move Primary Portal User, Manage Subordinate Accounts and every service the Primary User holds to Assigned Services, then click Submit"), ". A designee without a user ID gets one first: ", posc::search_results!("New Subordinate"), "."),
    },
    Rule {
        id: RuleId::ExcessPrimary,
        severity: Severity::High,
        unit: Unit::PidSl,
        checks: "More than one active primary, more than one active backup, or more than two active holders of Primary Portal User on the PID/SL.",
        policy: PolicyQuote {
            quote: "Assign a single Primary User to manage access to the organization’s information within the POSC and a single backup Primary User to manage access to the organization’s information if the Primary User is unavailable.",
            source: "All Provider Bulletin, POSC Primary User Policy, Organization Responsibilities",
        },
        remediation: concat!("Keep a single Primary User and a single backup Primary User (the Update Subordinate panel: there is a limit of two Primary users); for each other holder: ", posc::update_subordinate!("the holder", "move Primary Portal User and Manage Subordinate Accounts to Available Services, then click Submit"), ". To change which user is the Primary User, ", posc::modify_primary_user!(), "."),
    },
    Rule {
        id: RuleId::ManageSubordinatesMisassigned,
        severity: Severity::High,
        unit: Unit::PidSlUser,
        checks: "A subordinate holds Manage Subordinate Accounts or Primary Portal User.",
        policy: PolicyQuote {
            quote: "The Primary User and backup Primary User must not grant access to the “Manage Subordinates” function to any other user.",
            source: "All Provider Bulletin, POSC Primary User Policy, Primary User Responsibilities",
        },
        remediation: concat!(posc::update_subordinate!("the subordinate", "move Manage Subordinate Accounts and Primary Portal User to Available Services, then click Submit"), "."),
    },
    Rule {
        id: RuleId::BackupMissingServices,
        severity: Severity::Medium,
        unit: Unit::PidSlUser,
        checks: "An active backup lacks a service that an active Primary User of the PID/SL holds.",
        policy: PolicyQuote {
            quote: "Grant the backup Primary User access to perform all functions that the Primary User can perform.",
            source: "All Provider Bulletin, POSC Primary User Policy, Primary User Responsibilities",
        },
        remediation: concat!(posc::update_subordinate!("the backup", "move the services the Primary User holds and the backup lacks to Assigned Services, then click Submit"), "."),
    },
    Rule {
        id: RuleId::TerminatedUserActive,
        severity: Severity::Critical,
        unit: Unit::User,
        checks: "A user who has left the organization still has an active Virtual Gateway account.",
        policy: PolicyQuote {
            quote: "User IDs are inactivated on a timely basis once a staff person or affiliate has left the organization or been terminated.",
            source: "All Provider Bulletin, POSC Primary User Policy, Organization Responsibilities",
        },
        remediation: concat!("Delete the subordinate's account (Guide for the Primary User, Delete Subordinate Accounts): 1. remove the user from your account, on each PID/SL where the user has access: ", posc::update_subordinate!("the user", "click Remove"), "; ", posc::delete_subordinate_rest!(), ". If the user was a Primary User: ", posc::delete_primary_user!(), "."),
    },
    Rule {
        id: RuleId::TerminatedUserAccess,
        severity: Severity::Critical,
        unit: Unit::PidSlUser,
        checks: "A terminated user, active or not, still has access to the PID/SL.",
        policy: PolicyQuote {
            quote: "When a subordinate leaves your organization for any reason, you must remove his or her access to the POSC immediately, and ensure that all linked parties know to remove the user’s access from their accounts as well.",
            source: "Provider Online Service Center Guide for the Primary User, Delete Subordinate Accounts",
        },
        remediation: concat!("Delete the subordinate's account (Guide for the Primary User, Delete Subordinate Accounts): 1. remove the user from your account: ", posc::update_subordinate!("the user", "click Remove"), "; ", posc::delete_subordinate_rest!(), ". If the user was the Primary User: ", posc::delete_primary_user!(), "."),
    },
    Rule {
        id: RuleId::ExpiredLink,
        severity: Severity::High,
        unit: Unit::PidSlUser,
        checks: "An access row whose expires_on (the end of the affiliation or contract that justifies it) is on or before the review date.",
        policy: PolicyQuote {
            quote: "User access is modified on a timely basis once a staff person’s role has changed within the organization, or the contractual relationship with an affiliate has been modified.",
            source: "All Provider Bulletin, POSC Primary User Policy, Organization Responsibilities",
        },
        remediation: concat!("Remove the user whose affiliation or contract ended: ", posc::update_subordinate!("the user", "click Remove"), "; or, if the contract was renewed, record its new end date (expires_on in access.csv)."),
    },
    Rule {
        id: RuleId::StaleUser,
        severity: Severity::Medium,
        unit: Unit::User,
        checks: "An active user with access has not signed in within the configured number of days, or never signed in after the grace period for new accounts.",
        policy: PolicyQuote {
            quote: "Validate which users are actively performing services for the organization (staff and affiliates) and which users have left the organization or any affiliate organization.",
            source: "All Provider Bulletin, POSC Primary User Policy, Primary User Responsibilities",
        },
        remediation: concat!("Confirm with the user's manager whether the user still performs services for the organization; if not, remove the user, on each PID/SL where the user has access: ", posc::update_subordinate!("the user", "click Remove"), "; then contact ", posc::customer_service!(), " to ensure that the user's security profile has been updated (the POSC has no button to inactivate a user ID)."),
    },
    Rule {
        id: RuleId::OverloadedPrimary,
        severity: Severity::Medium,
        unit: Unit::User,
        checks: "A user is primary or backup on more PID/SLs, or for more users, than the configured limits.",
        policy: PolicyQuote {
            quote: "Organizations must ensure that there is not a single Primary User responsible for managing access to a large provider organization’s information for an excessive number of PID/SLs.",
            source: "All Provider Bulletin, POSC Primary User Policy, Organization Responsibilities",
        },
        remediation: concat!("Align the PID/SLs across multiple Primary Users: for each PID/SL to hand over, ", posc::modify_primary_user!(), " to modify its Primary User; its new Primary User then assigns a backup Primary User: ", posc::update_subordinate!("the backup designee", "move Primary Portal User, Manage Subordinate Accounts and every service the Primary User holds to Assigned Services, then click Submit"), "."),
    },
    Rule {
        id: RuleId::OverbroadGrant,
        severity: Severity::Medium,
        unit: Unit::PidSlUser,
        checks: "A subordinate holds services outside the job-role profile, a restricted service (SCO/PACE, MMQ) the provider type does not allow, or nearly every service without a profile.",
        policy: PolicyQuote {
            quote: "Validate that each active user only has access to perform the services that they are required to perform on behalf of the organization.",
            source: "All Provider Bulletin, POSC Primary User Policy, Primary User Responsibilities",
        },
        remediation: concat!(posc::update_subordinate!("the subordinate", "move the services the job does not need to Available Services, then click Submit"), "."),
    },
    Rule {
        id: RuleId::MissingPortalServices,
        severity: Severity::Low,
        unit: Unit::PidSlUser,
        checks: "A subordinate lacks Portal Services.",
        policy: PolicyQuote {
            quote: "Assign this role to all subordinates.",
            source: "Provider Online Service Center Guide for the Primary User, POSC Roles and Services: Portal Services",
        },
        remediation: concat!(posc::update_subordinate!("the subordinate", "move Portal Services to Assigned Services, then click Submit"), "."),
    },
    Rule {
        id: RuleId::TermsNotAccepted,
        severity: Severity::Low,
        unit: Unit::User,
        checks: "An active user with access never accepted the Virtual Gateway Terms and Conditions after the grace period for new accounts.",
        policy: PolicyQuote {
            quote: "Each user is prompted to agree to the VG Terms and Conditions upon initial sign-in.",
            source: "All Provider Bulletin, POSC Primary User Policy, Primary User Assignment and Maintenance",
        },
        remediation: concat!("Ask the user to sign in to the POSC, where they are prompted to agree to the VG Terms and Conditions; if the account is not needed, remove the user, on each PID/SL where the user has access: ", posc::update_subordinate!("the user", "click Remove"), "; then contact ", posc::customer_service!(), " to ensure that the user's security profile has been updated (the POSC has no button to inactivate a user ID)."),
    },
    Rule {
        id: RuleId::DuplicateIdentity,
        severity: Severity::Medium,
        unit: Unit::User,
        checks: "Two or more active users share an email address, or a name with the same day of birth and SSN digits.",
        policy: PolicyQuote {
            quote: "The Primary User within each organization must ensure that each person who requires access is assigned a unique user ID.",
            source: "Job aid: Update Subordinate Accounts, introduction",
        },
        remediation: concat!("Keep one user ID per person: link the person's remaining user ID to each PID/SL they need (", posc::search_results!("Link Subordinate"), "); remove the duplicate user ID from each PID/SL (", posc::update_subordinate!("the duplicate user ID", "click Remove"), "); then contact ", posc::customer_service!(), " to ensure that the duplicate user ID's security profile has been updated."),
    },
    Rule {
        id: RuleId::ReviewOverdue,
        severity: Severity::Medium,
        unit: Unit::Organization,
        checks: "The organization's last completed access review is older than its cadence allows (92, 183 or 366 days).",
        policy: PolicyQuote {
            quote: "Organizations must also establish and maintain a quarterly, semiannual, or annual review of all POSC user access to ensure that only those individuals who should have access to the organization's data can view, submit, or receive information on behalf of the organization.",
            source: "All Provider Bulletin, POSC Primary User Policy, Organization Responsibilities",
        },
        remediation: "Complete this review: each PID/SL's Primary User validates which users are actively performing services for the organization and that each active user only has access to the services they are required to perform, makes the changes on the action list in the POSC, and picks a Decision for each finding in the review workbook; keep the workbook, with its User Access sheet, as the report on the status of User access.",
    },
];

/// The rule table's row of each rule (the table is in [`RuleId`]'s order).
impl RuleId {
    pub fn rule(self) -> &'static Rule {
        &RULES[self as usize]
    }

    pub fn severity(self) -> Severity {
        self.rule().severity
    }
}

/// Every PID/SL under review (the active ones) with its access rows, none for a PID/SL nobody
/// has access to: it still lacks its Primary User and backup. One pass over the rows, which
/// are sorted by PID/SL.
fn active_pidsl_rows(s: &Snapshot) -> impl Iterator<Item = (u32, &[Access])> {
    let mut rest = &s.access[..];
    (0..s.pidsls.len() as u32).filter_map(move |pidsl| {
        let count = rest.iter().take_while(|a| a.pidsl == pidsl).count();
        let (rows, after) = rest.split_at(count);
        rest = after;
        s.pidsl(pidsl).active.then_some((pidsl, rows))
    })
}

/// Per user (same index as `Snapshot::users`): has at least one access row on an active PID/SL.
fn users_with_access(s: &Snapshot) -> Vec<bool> {
    let mut has_access = vec![false; s.users.len()];
    for (_, rows) in active_pidsl_rows(s) {
        for row in rows {
            has_access[row.user as usize] = true;
        }
    }
    has_access
}

/// Usernames for a detail line, at most ten of them: `a, b, c` or `a, b, ... and 3 more`.
/// `total` is the number of users `users` yields; only the first ten are read.
fn usernames(s: &Snapshot, users: impl IntoIterator<Item = u32>, total: usize) -> String {
    const MAX_NAMES_LISTED: usize = 10;
    let names: Vec<&str> = users
        .into_iter()
        .take(MAX_NAMES_LISTED)
        .map(|u| s.user(u).username.as_str())
        .collect();
    let mut text = names.join(", ");
    if total > names.len() {
        text.push_str(&format!(" and {} more", total - names.len()));
    }
    text
}

/// `CLAIMS, FINANCIAL`: service codes for a detail line.
fn service_codes(services: Services) -> String {
    services
        .iter()
        .map(|c| c.code())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 day` / `93 days`.
fn days(n: impl std::fmt::Display) -> String {
    crate::output::count(n, "day")
}

/// Runs every rule over the snapshot. Organizations outside `scope` (when given) are skipped:
/// their PID/SLs and users produce no findings.
pub fn evaluate(snapshot: &Snapshot, ctx: &RuleContext, scope: Option<&[bool]>) -> Vec<Finding> {
    let mut findings = Vec::new();
    admins::check(snapshot, ctx, &mut findings);
    lifecycle::check(snapshot, ctx, &mut findings);
    grants::check(snapshot, ctx, &mut findings);
    identity::check(snapshot, ctx, &mut findings);
    cadence::check(snapshot, ctx, &mut findings);
    if let Some(in_scope) = scope {
        findings.retain(|f| in_scope[f.org as usize]);
    }
    remediation::fill(snapshot, ctx, &mut findings);
    // Most severe first, then in a stable order so runs compare and diff cleanly.
    findings.sort_by(|a, b| {
        b.rule
            .severity()
            .cmp(&a.rule.severity())
            .then_with(|| (a.rule, a.org, a.pidsl, a.user).cmp(&(b.rule, b.org, b.pidsl, b.user)))
    });
    findings
}

#[cfg(test)]
mod tests {
    use super::testkit::{Kit, ALL_SERVICES};
    use super::*;
    use crate::domain::{Role, UserStatus};

    /// The five source documents (tests/fixtures/seeds, copied from the public MassHealth
    /// documents the product is built from).
    const SEEDS: [&str; 5] = [
        include_str!("../../tests/fixtures/seeds/000_76d9cc9d84c67861.txt"),
        include_str!("../../tests/fixtures/seeds/001_56263292421906f3.txt"),
        include_str!("../../tests/fixtures/seeds/002_7eaae03bf28de9a2.txt"),
        include_str!("../../tests/fixtures/seeds/003_b3a50134d287e543.txt"),
        include_str!("../../tests/fixtures/seeds/004_3bdecef00cfcf200.txt"),
    ];

    fn normalized(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn every_policy_quote_is_a_source_documents_own_sentence() {
        let seeds: Vec<String> = SEEDS.iter().map(|s| normalized(s)).collect();
        for rule in &RULES {
            let quote = normalized(rule.policy.quote);
            assert!(
                seeds.iter().any(|seed| seed.contains(&quote)),
                "{}: the quote is in no source document: {quote}",
                rule.id
            );
            assert!(
                rule.policy.source.contains(", "),
                "{}: the source should say \"document, section\": {:?}",
                rule.id,
                rule.policy.source
            );
        }
    }

    #[test]
    fn the_rule_table_is_indexed_by_rule_id() {
        for (i, rule) in RULES.iter().enumerate() {
            assert_eq!(rule.id as usize, i, "{} is out of place", rule.id);
        }
    }

    /// PID/SL 110000001E, closed, with a problem for most PID/SL rules: no administrator, a
    /// terminated user, an expired link, a subordinate without PORTAL, and one holding every
    /// service (SCO_PACE and MMQ included) who has neither signed in nor accepted the terms.
    fn closed_pidsl_with_every_problem() -> Kit {
        let mut kit = Kit::new();
        let closed = kit.pidsl("110000001E");
        let oleft = kit.subordinate("oleft", closed, "PORTAL;CLAIMS");
        kit.user_mut(oleft).terminated_on = Some(kit.days_ago(100));
        kit.user_mut(oleft).status = UserStatus::Inactive;
        let ewalsh = kit.subordinate("ewalsh", closed, &format!("{ALL_SERVICES};SCO_PACE;MMQ"));
        kit.user_mut(ewalsh).last_login_on = Some(kit.days_ago(200));
        kit.user_mut(ewalsh).terms_accepted_on = None;
        let (sfox, ended) = (kit.user("sfox"), kit.days_ago(5));
        kit.grant(sfox, closed, Role::Subordinate, "PORTAL;CLAIMS")
            .expires_on = Some(ended);
        kit.subordinate("cjones", closed, "ELIGIBILITY");
        kit.pidsl_mut(closed).active = false;
        kit
    }

    #[test]
    fn an_inactive_pid_sl_stays_silent() {
        let mut kit = closed_pidsl_with_every_problem();
        assert_eq!(kit.findings(), []);
    }

    #[test]
    fn the_same_pid_sl_once_active_has_findings_most_severe_first() {
        let mut kit = closed_pidsl_with_every_problem();
        kit.pidsl_mut(0).active = true;
        let mut rules: Vec<RuleId> = kit.findings().iter().map(|f| f.rule).collect();
        rules.dedup();
        use RuleId::*;
        assert_eq!(
            rules,
            [
                MissingPrimary,
                TerminatedUserAccess,
                MissingBackup,
                ManageSubordinatesMisassigned,
                ExpiredLink,
                StaleUser,
                OverbroadGrant,
                MissingPortalServices,
                TermsNotAccepted,
            ]
        );
    }

    #[test]
    fn organizations_out_of_scope_produce_no_findings() {
        let mut kit = Kit::new();
        kit.org("ORG-B");
        kit.org_mut(0).last_review_on = None;
        kit.org_mut(1).last_review_on = None;
        let findings = kit.evaluate(Some(&[false, true]));
        assert_eq!(findings.len(), 1);
        assert_eq!(
            (findings[0].rule, findings[0].org),
            (RuleId::ReviewOverdue, 1)
        );
    }
}
