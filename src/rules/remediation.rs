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
use crate::domain::{Role, RuleId};
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
            services.insert(crate::domain::ServiceCode::PrimaryUser);
            services.insert(crate::domain::ServiceCode::ManageSubordinates);
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
                    a.role != Role::Subordinate
                        || a.services.contains(crate::domain::ServiceCode::PrimaryUser)
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
            let services = if f.services.is_empty() {
                "the services the job does not need".to_string()
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
