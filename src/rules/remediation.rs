//! Each finding's own remediation: the rule table's steps with the finding's PID/SL, its user
//! as the Subordinates Search Results panel lists them (`Erin Walsh (ewalsh)`) and the
//! services to move, so that the action list, findings.csv and the workbook tell the Primary
//! User exactly what to click. The words are the job aids' and the Guide's (see
//! [`crate::domain::posc`]); the rule table holds the same steps for a user named generically.
//!
//! The findings about a user rather than an access row (terminated-user-active, stale-user,
//! terms-not-accepted, overloaded-primary, duplicate-identity) name the user's PID/SLs: one
//! pass over the access rows collects them, for those users only.

use super::{active_pidsl_rows, Finding, RuleContext};
use crate::domain::posc::{self, Column};
use crate::domain::{Role, RuleId, ServiceCode, Services, ADMIN_SERVICES};
use crate::snapshot::Snapshot;
use std::collections::HashMap;

/// At most this many PID/SLs are named in one remediation; the rest are counted.
const MAX_PIDSLS_NAMED: usize = 10;

/// Fills in every finding's `remediation`.
pub(super) fn fill(s: &Snapshot, ctx: &RuleContext, findings: &mut [Finding]) {
    let access_of = users_access(s, findings);
    for f in findings.iter_mut() {
        f.remediation = text(s, ctx, f, &access_of);
    }
}

/// The active PID/SLs and roles of each user a user-level finding is about.
fn users_access(s: &Snapshot, findings: &[Finding]) -> HashMap<u32, Vec<(u32, Role)>> {
    let mut access_of: HashMap<u32, Vec<(u32, Role)>> = findings
        .iter()
        .filter(|f| f.pidsl.is_none())
        .filter_map(|f| f.user)
        .map(|u| (u, Vec::new()))
        .collect();
    if access_of.is_empty() {
        return access_of;
    }
    for (pidsl, rows) in active_pidsl_rows(s) {
        for row in rows {
            if let Some(list) = access_of.get_mut(&row.user) {
                list.push((pidsl, row.role));
            }
        }
    }
    access_of
}

/// `Erin Walsh (ewalsh)`.
fn who(s: &Snapshot, user: u32) -> String {
    let user = s.user(user);
    format!("{} ({})", user.full_name(), user.username)
}

/// `110000001A`, or `each of 110000001A, 110000001B` for the PID/SL dropdown.
/// `the PID/SL` when there is none.
fn pidsl_choice(s: &Snapshot, pidsls: &[u32]) -> String {
    if pidsls.is_empty() {
        return "the PID/SL".to_string();
    }
    let names: Vec<&str> = pidsls
        .iter()
        .take(MAX_PIDSLS_NAMED)
        .map(|p| s.pidsl(*p).pidsl.as_str())
        .collect();
    let mut text = names.join(", ");
    if pidsls.len() > names.len() {
        text.push_str(&format!(" and {} more", pidsls.len() - names.len()));
    }
    if pidsls.len() > 1 {
        format!("each of {text}")
    } else {
        text
    }
}

fn update(s: &Snapshot, pidsl: u32, user: u32, panel: &str) -> String {
    posc::update_path(s.pidsl(pidsl).pidsl.as_str(), &who(s, user), panel)
}

/// The finding's remediation; the rule table's generic text where the finding has nothing to
/// add.
fn text(
    s: &Snapshot,
    ctx: &RuleContext,
    f: &Finding,
    access_of: &HashMap<u32, Vec<(u32, Role)>>,
) -> String {
    let rule = f.rule.rule();
    let no_access = Vec::new();
    let user_pidsls = |user: u32| -> Vec<u32> {
        access_of
            .get(&user)
            .unwrap_or(&no_access)
            .iter()
            .map(|(p, _)| *p)
            .collect()
    };
    match (f.rule, f.pidsl, f.user) {
        (RuleId::MissingPrimary, Some(p), _) => format!(
            "Establish a Primary User for {}: {}; until MassHealth has done so, the backup \
             Primary User manages access to {0}.",
            s.pidsl(p).pidsl,
            posc::MODIFY_PRIMARY_USER
        ),
        (RuleId::MissingBackup, Some(p), _) => {
            let pidsl = s.pidsl(p).pidsl.as_str();
            let mut services = f.services;
            services.insert(ServiceCode::PrimaryUser);
            services.insert(ServiceCode::ManageSubordinates);
            format!(
                "Assign a backup Primary User of {pidsl}, with the Manage Subordinate role and all \
                 roles of the Primary User: {}. A designee without a user ID gets one first: {}.",
                posc::update_path(
                    pidsl,
                    "the backup designee",
                    &posc::move_services(&services.display_names(), Column::Assigned)
                ),
                posc::search_results_button(pidsl, "New Subordinate")
            )
        }
        (RuleId::ExcessPrimary, Some(p), _) => {
            let pidsl = s.pidsl(p).pidsl.as_str();
            let holders: Vec<String> = s
                .access_on(p)
                .iter()
                .filter(|a| s.user(a.user).is_active(ctx.as_of))
                .filter(|a| {
                    a.role != Role::Subordinate || a.services.contains(ServiceCode::PrimaryUser)
                })
                .map(|a| who(s, a.user))
                .collect();
            format!(
                "Keep a single Primary User and a single backup Primary User of {pidsl} (the \
                 Update Subordinate panel: there is a limit of two Primary users) among {}; for \
                 each other holder: {}. To change which user is the Primary User, {}.",
                holders.join(", "),
                posc::update_path(
                    pidsl,
                    "the holder",
                    &posc::move_services(
                        "Primary Portal User and Manage Subordinate Accounts",
                        Column::Available
                    )
                ),
                posc::MODIFY_PRIMARY_USER
            )
        }
        (RuleId::ManageSubordinatesMisassigned, Some(p), Some(u)) => format!(
            "{}.",
            update(
                s,
                p,
                u,
                &posc::move_services(&f.services.display_names(), Column::Available)
            )
        ),
        (RuleId::BackupMissingServices, Some(p), Some(u)) => format!(
            "{}.",
            update(
                s,
                p,
                u,
                &posc::move_services(&f.services.display_names(), Column::Assigned)
            )
        ),
        (RuleId::TerminatedUserActive, None, Some(u)) => {
            let rows = access_of.get(&u).unwrap_or(&no_access);
            let pidsls = user_pidsls(u);
            let step1 = if pidsls.is_empty() {
                format!("1. remove the user from your account: {} has no access left on an active PID/SL", who(s, u))
            } else {
                format!(
                    "1. remove the user from your account: {}",
                    posc::update_path(&pidsl_choice(s, &pidsls), &who(s, u), "click Remove")
                )
            };
            let mut text = format!(
                "Delete the subordinate's account (Guide for the Primary User, Delete Subordinate \
                 Accounts): {step1}; {}.",
                posc::DELETE_SUBORDINATE_REST
            );
            let primary_of: Vec<u32> = rows
                .iter()
                .filter(|(_, role)| *role == Role::Primary)
                .map(|(p, _)| *p)
                .collect();
            if !primary_of.is_empty() {
                text.push_str(&format!(
                    " {} was the Primary User of {}: {}.",
                    who(s, u),
                    pidsl_choice(s, &primary_of).trim_start_matches("each of "),
                    posc::DELETE_PRIMARY_USER
                ));
            }
            text
        }
        (RuleId::TerminatedUserAccess, Some(p), Some(u)) => {
            let user = s.user(u);
            let linked = s.orgs[user.org as usize].org_id != s.orgs[s.pidsl(p).org as usize].org_id;
            let mut text = format!(
                "Delete the subordinate's account (Guide for the Primary User, Delete Subordinate \
                 Accounts): 1. remove the user from your account: {}; {}",
                update(s, p, u, "click Remove"),
                posc::DELETE_SUBORDINATE_REST
            );
            if linked {
                let own = &s.orgs[user.org as usize];
                text.push_str(&format!(
                    " ({} is a linked user of {} ({}), which must be told as well)",
                    user.username, own.name, own.org_id
                ));
            }
            text.push('.');
            let role = s.access_on(p).iter().find(|a| a.user == u).map(|a| a.role);
            if role == Some(Role::Primary) {
                text.push_str(&format!(
                    " {} was the Primary User of {}: {}.",
                    who(s, u),
                    s.pidsl(p).pidsl,
                    posc::DELETE_PRIMARY_USER
                ));
            }
            text
        }
        (RuleId::ExpiredLink, Some(p), Some(u)) => format!(
            "Remove {} whose affiliation or contract ended: {}; or, if the contract was renewed, \
             record its new end date (expires_on in access.csv).",
            who(s, u),
            update(s, p, u, "click Remove")
        ),
        (RuleId::StaleUser | RuleId::TermsNotAccepted, None, Some(u)) => {
            let first = if f.rule == RuleId::StaleUser {
                format!(
                    "Confirm with the manager of {} whether the user still performs services for \
                     the organization; if not",
                    who(s, u)
                )
            } else {
                format!(
                    "Ask {} to sign in to the POSC, where they are prompted to agree to the VG \
                     Terms and Conditions; if the account is not needed",
                    who(s, u)
                )
            };
            format!(
                "{first}, remove the user: {}; then contact {} to ensure that the user's security \
                 profile has been updated (the POSC has no button to inactivate a user ID).",
                posc::update_path(
                    &pidsl_choice(s, &user_pidsls(u)),
                    &who(s, u),
                    "click Remove"
                ),
                posc::CUSTOMER_SERVICE
            )
        }
        (RuleId::OverloadedPrimary, None, Some(u)) => {
            let administered: Vec<u32> = access_of
                .get(&u)
                .unwrap_or(&no_access)
                .iter()
                .filter(|(_, role)| *role != Role::Subordinate)
                .map(|(p, _)| *p)
                .collect();
            format!(
                "Align the PID/SLs {} administers ({}) across multiple Primary Users: for each \
                 PID/SL to hand over, {} to modify its Primary User; its new Primary User then \
                 assigns a backup Primary User: {}.",
                who(s, u),
                pidsl_choice(s, &administered).trim_start_matches("each of "),
                posc::MODIFY_PRIMARY_USER,
                posc::update_path(
                    "the PID/SL",
                    "the backup designee",
                    &posc::move_services(
                        "Primary Portal User, Manage Subordinate Accounts and every service the \
                         Primary User holds",
                        Column::Assigned
                    )
                )
            )
        }
        (RuleId::OverbroadGrant, Some(p), Some(u)) => {
            // Without a profile the rule cannot say which services the job needs: the
            // Primary User chooses among those held.
            let services = if f.services.is_empty() {
                let held = s
                    .access_on(p)
                    .iter()
                    .find(|a| a.user == u)
                    .map_or(Services::EMPTY, |a| a.services)
                    .minus(ADMIN_SERVICES)
                    .minus(Services::of(&[ServiceCode::Portal]));
                format!(
                    "those of {} that the job does not need",
                    held.display_names()
                )
            } else {
                f.services.display_names()
            };
            format!(
                "{}.",
                update(s, p, u, &posc::move_services(&services, Column::Available))
            )
        }
        (RuleId::MissingPortalServices, Some(p), Some(u)) => format!(
            "{}.",
            update(
                s,
                p,
                u,
                &posc::move_services("Portal Services", Column::Assigned)
            )
        ),
        (RuleId::DuplicateIdentity, None, Some(u)) => format!(
            "Keep one user ID per person: if {} is the duplicate, link the person's remaining user \
             ID to each PID/SL they need ({}); remove the duplicate from {} ({}); then contact {} \
             to ensure that the duplicate user ID's security profile has been updated.",
            who(s, u),
            posc::search_results_button("the PID/SL", "Link Subordinate"),
            pidsl_choice(s, &user_pidsls(u)).trim_start_matches("each of "),
            posc::update_path(
                &pidsl_choice(s, &user_pidsls(u)),
                &who(s, u),
                "click Remove"
            ),
            posc::CUSTOMER_SERVICE
        ),
        _ => rule.remediation.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, ALL_SERVICES};
    use super::super::{Finding, RULES};
    use crate::domain::{Role, RuleId, UserStatus};

    const SUBMIT: &str = "then click Submit";
    const CLOSE: &str =
        "on the Confirmation panel, click Close after verifying that your update has been performed";
    const REMOVE: &str = "on the Update Subordinate panel, click Remove";
    const PHONE: &str = "MassHealth Customer Service at 1-800-841-2900";
    const FORM: &str = "Existing Provider Modification Data Collection Form";

    /// The Guide for the Primary User, Delete Subordinate Accounts: "To delete a subordinate's
    /// account, you must".
    const GUIDE_SUBORDINATE: [&str; 3] = [
        "1. remove the user from your account",
        "2. inform other organizations and entities that are linked to the terminated user so \
         that they can remove access to that user's account",
        "3. contact MassHealth Customer Service at 1-800-841-2900 to ensure that the user's \
         security profile has been updated",
    ];

    /// The Guide for the Primary User, Delete Primary Users: "the departing user must".
    const GUIDE_PRIMARY: [&str; 3] = [
        "establish another primary user within the organization",
        "establish a new backup primary user or ensure that the new primary establishes a \
         backup primary user",
        "notify MassHealth Customer Service at 1-800-841-2900 of the change so its security \
         profile can be updated",
    ];

    /// Words no remediation may use: buttons the POSC does not have.
    const BANNED: [&str; 4] = ["> Save", "Save", "Deactivate User ID", "Reactivate User ID"];

    /// The words each rule's remediation must contain, generic or specific.
    fn required(rule: RuleId) -> Vec<&'static str> {
        use RuleId::*;
        let mut words = match rule {
            MissingPrimary => vec![FORM],
            MissingBackup => vec!["to Assigned Services", SUBMIT, CLOSE, "New Subordinate"],
            ExcessPrimary => vec!["to Available Services", SUBMIT, CLOSE, FORM],
            ManageSubordinatesMisassigned => vec![
                "Manage Subordinate Accounts",
                "to Available Services",
                SUBMIT,
                CLOSE,
            ],
            BackupMissingServices => vec!["to Assigned Services", SUBMIT, CLOSE],
            TerminatedUserActive | TerminatedUserAccess => vec![REMOVE, CLOSE],
            ExpiredLink => vec![REMOVE, CLOSE],
            StaleUser => vec![REMOVE, CLOSE, PHONE],
            OverloadedPrimary => vec![FORM, "to Assigned Services", SUBMIT, CLOSE],
            OverbroadGrant => vec!["to Available Services", SUBMIT, CLOSE],
            MissingPortalServices => {
                vec!["move Portal Services to Assigned Services", SUBMIT, CLOSE]
            }
            TermsNotAccepted => vec!["VG Terms and Conditions", REMOVE, CLOSE, PHONE],
            DuplicateIdentity => vec!["Link Subordinate", REMOVE, CLOSE, PHONE],
            ReviewOverdue => vec!["Decision", "review workbook", "User Access"],
        };
        if matches!(rule, TerminatedUserActive | TerminatedUserAccess) {
            words.extend(GUIDE_SUBORDINATE);
        }
        words
    }

    fn assert_words(what: &str, text: &str, words: &[&str]) {
        for word in words {
            assert!(text.contains(word), "{what} lacks {word:?}:\n{text}");
        }
        for word in BANNED {
            assert!(!text.contains(word), "{what} says {word:?}:\n{text}");
        }
    }

    /// One organization, never reviewed, where every rule fires: 110000001A (Primary User
    /// gpatel, no backup) with Erin Walsh (ewalsh), a biller holding View Financial Data and
    /// Manage MMQ too, and subordinates with each lifecycle problem; 110000001B with two backups
    /// and no Primary User; 110000001C, also gpatel's, with a backup lacking services; gpatel
    /// administers more PID/SLs than the limit of one.
    fn every_rule_fires() -> Kit {
        let mut kit = Kit::new();
        kit.org_mut(0).last_review_on = None;
        kit.max_pidsls_per_primary = 1;
        let a = kit.pidsl("110000001A");
        let b = kit.pidsl("110000001B");
        let c = kit.pidsl("110000001C");
        let gpatel = kit.admin("gpatel", a, Role::Primary);
        kit.grant(gpatel, c, Role::Primary, ALL_SERVICES);
        kit.admin("bone", b, Role::Backup);
        kit.admin("btwo", b, Role::Backup);
        let bback = kit.user("bback");
        kit.grant(
            bback,
            c,
            Role::Backup,
            "PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL;CLAIMS",
        );
        let ewalsh = kit.subordinate("ewalsh", a, "PORTAL;CLAIMS;FINANCIAL;MMQ");
        let erin = kit.user_mut(ewalsh);
        (erin.first_name, erin.last_name) = ("Erin".into(), "Walsh".into());
        erin.job_role = Some("biller".into());
        kit.subordinate("fgarcia", a, "PORTAL;MANAGE_SUBORDINATES");
        kit.subordinate("cjones", a, "ELIGIBILITY");
        let tterm = kit.subordinate("tterm", a, "PORTAL;CLAIMS");
        kit.user_mut(tterm).terminated_on = Some(kit.days_ago(10));
        let sfox = kit.subordinate("sfox", a, "PORTAL;CLAIMS");
        let ended = kit.days_ago(5);
        kit.snapshot.access.last_mut().unwrap().expires_on = Some(ended);
        let iold = kit.subordinate("iold", a, "PORTAL");
        kit.user_mut(iold).last_login_on = Some(kit.days_ago(200));
        let nterms = kit.subordinate("nterms", a, "PORTAL");
        kit.user_mut(nterms).terms_accepted_on = None;
        let dup = kit.subordinate("ewalsh2", a, "PORTAL");
        kit.user_mut(dup).email = "ewalsh@example.org".into();
        let _ = sfox;
        kit
    }

    fn first(findings: &[Finding], rule: RuleId) -> &Finding {
        findings
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("no {rule} finding"))
    }

    #[test]
    fn every_rules_generic_remediation_names_the_posc_buttons_and_steps() {
        for rule in &RULES {
            assert_words(rule.id.as_str(), rule.remediation, &required(rule.id));
        }
        for rule in [RuleId::TerminatedUserActive, RuleId::TerminatedUserAccess] {
            assert_words(rule.as_str(), rule.rule().remediation, &GUIDE_PRIMARY);
        }
    }

    #[test]
    fn every_findings_remediation_names_its_pid_sl_user_and_services() {
        let mut kit = every_rule_fires();
        let findings = kit.findings();
        let s = &kit.snapshot;
        for rule in &RULES {
            let f = first(&findings, rule.id);
            let mut words = required(rule.id);
            let who = f
                .user
                .map(|u| format!("{} ({})", s.user(u).full_name(), s.user(u).username));
            let pidsl = match (f.pidsl, rule.id) {
                (Some(p), _) => Some(s.pidsl(p).pidsl.to_string()),
                (None, RuleId::ReviewOverdue) => None,
                // A user's findings name the user's PID/SLs: all of them are on 110000001A.
                (None, _) => Some("110000001A".to_string()),
            };
            if rule.id != RuleId::OverloadedPrimary {
                words.extend(who.as_deref());
            }
            words.extend(pidsl.as_deref());
            assert_words(rule.id.as_str(), &f.remediation, &words);
        }
    }

    #[test]
    fn an_overbroad_grant_lists_the_services_to_move_to_available_services() {
        let mut kit = every_rule_fires();
        let findings = kit.findings();
        let ewalsh = findings
            .iter()
            .find(|f| f.rule == RuleId::OverbroadGrant)
            .unwrap();
        assert_eq!(
            ewalsh.remediation,
            "Administer Account > Manage Subordinate Accounts > choose 110000001A from the \
             Provider dropdown > Search > click the name of Erin Walsh (ewalsh) > on the Update \
             Subordinate panel, move View Financial Data, Manage MMQ to Available Services, then \
             click Submit > on the Confirmation panel, click Close after verifying that your \
             update has been performed."
        );
    }

    #[test]
    fn a_terminated_subordinate_gets_the_guides_three_steps_and_a_departed_primary_user_its_own() {
        let mut kit = Kit::new();
        let a = kit.pidsl("110000001A");
        let gpatel = kit.admin("gpatel", a, Role::Primary);
        kit.user_mut(gpatel).terminated_on = Some(kit.days_ago(3));
        kit.admin("jokafor", a, Role::Backup);
        let tterm = kit.subordinate("tterm", a, "PORTAL");
        kit.user_mut(tterm).terminated_on = Some(kit.days_ago(3));
        kit.user_mut(tterm).status = UserStatus::Inactive;
        let findings = kit.findings();
        let of = |rule: RuleId, user: u32| {
            findings
                .iter()
                .find(|f| f.rule == rule && f.user == Some(user))
                .unwrap()
                .remediation
                .clone()
        };
        let sub = of(RuleId::TerminatedUserAccess, tterm);
        assert_words("tterm", &sub, &GUIDE_SUBORDINATE);
        assert!(!sub.contains(GUIDE_PRIMARY[0]), "{sub}");
        for rule in [RuleId::TerminatedUserAccess, RuleId::TerminatedUserActive] {
            let text = of(rule, gpatel);
            assert_words("gpatel", &text, &GUIDE_SUBORDINATE);
            assert_words("gpatel", &text, &GUIDE_PRIMARY);
            assert!(
                text.contains("gpatel Tester (gpatel) was the Primary User of 110000001A"),
                "{text}"
            );
        }
    }

    #[test]
    fn without_a_profile_the_services_held_are_listed_to_choose_from() {
        let mut kit = Kit::new();
        let a = kit.pidsl("110000001A");
        kit.subordinate(
            "ewalsh",
            a,
            ALL_SERVICES
                .replace("PRIMARY_USER;MANAGE_SUBORDINATES;", "")
                .as_str(),
        );
        let findings = kit.findings();
        let text = &first(&findings, RuleId::OverbroadGrant).remediation;
        assert!(
            text.contains(
                "move those of Claims Submission and Status, View Provider Reports, View Financial \
                 Data, Manage Referrals Information, Batch File Submit and Download, Service \
                 Authorizations, View Provider Contracts, Manage Member Eligibility, Manage \
                 Business Partner Profile that the job does not need to Available Services, then \
                 click Submit"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_linked_terminated_user_names_the_organization_to_inform() {
        let mut kit = Kit::new();
        let other = kit.org("ORG-B");
        let a = kit.pidsl("110000001A");
        let rbaker = kit.subordinate("rbaker", a, "PORTAL;CLAIMS");
        kit.user_mut(rbaker).org = other;
        kit.user_mut(rbaker).terminated_on = Some(kit.days_ago(1));
        let findings = kit.findings();
        let text = &first(&findings, RuleId::TerminatedUserAccess).remediation;
        assert!(
            text.contains("rbaker is a linked user of ORG-B Health (ORG-B), which must be told"),
            "{text}"
        );
    }
}
