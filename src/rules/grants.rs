//! The least-privilege rules: services beyond the job's profile, restricted services the
//! provider type does not allow, near-everything grants without a profile, and subordinates
//! without Portal Services.

use super::{active_pidsl_rows, service_codes, Finding, RuleContext, RuleId};
use crate::domain::{Role, ServiceCode, Services, ADMIN_SERVICES};
use crate::snapshot::{Access, PidSlRecord, Snapshot};

pub fn check(s: &Snapshot, ctx: &RuleContext, out: &mut Vec<Finding>) {
    for (pidsl, rows) in active_pidsl_rows(s) {
        let record = s.pidsl(pidsl);
        let not_allowed = restricted_services(record);
        for row in rows.iter().filter(|a| s.user(a.user).is_active(ctx.as_of)) {
            let finding = |rule, detail| Finding {
                rule,
                org: record.org,
                pidsl: Some(pidsl),
                user: Some(row.user),
                detail,
                services: Services::EMPTY,
                remediation: String::new(),
            };
            let (reasons, to_remove) = overbroad_reasons(s, ctx, record, not_allowed, row);
            if !reasons.is_empty() {
                out.push(Finding {
                    services: to_remove,
                    ..finding(RuleId::OverbroadGrant, reasons.join("; "))
                });
            }
            if row.role == Role::Subordinate && !row.services.contains(ServiceCode::Portal) {
                let detail = "subordinate lacks PORTAL (Portal Services), which every user holds"
                    .to_string();
                out.push(finding(RuleId::MissingPortalServices, detail));
            }
        }
    }
}

/// The restricted services this PID/SL's provider type does not allow: SCO_PACE outside `pace`
/// and `sco`, MMQ outside `ltc` (an empty provider type allows neither).
fn restricted_services(record: &PidSlRecord) -> Services {
    let kind = record.provider_type.as_str();
    let mut not_allowed = Services::EMPTY;
    if !kind.eq_ignore_ascii_case("pace") && !kind.eq_ignore_ascii_case("sco") {
        not_allowed.insert(ServiceCode::ScoPace);
    }
    if !kind.eq_ignore_ascii_case("ltc") {
        not_allowed.insert(ServiceCode::Mmq);
    }
    not_allowed
}

/// The ordinary services: all but PRIMARY_USER and MANAGE_SUBORDINATES (12 of them).
fn ordinary_services() -> Services {
    Services::of(&ServiceCode::ALL).minus(ADMIN_SERVICES)
}

/// Every reason the row's grant is broader than the job needs (empty when it is not), and the
/// services to move to Available Services (empty when the job has no profile to say which).
fn overbroad_reasons(
    s: &Snapshot,
    ctx: &RuleContext,
    record: &PidSlRecord,
    not_allowed: Services,
    row: &Access,
) -> (Vec<String>, Services) {
    let mut reasons = Vec::new();
    let mut to_remove = Services::EMPTY;
    if row.role == Role::Subordinate {
        let job_role = s.user(row.user).job_role.as_deref();
        match job_role.and_then(|name| ctx.roles.get(name).map(|profile| (name, profile))) {
            Some((name, profile)) => {
                let mut allowed = profile.minus(ADMIN_SERVICES);
                allowed.insert(ServiceCode::Portal);
                let outside = row.services.minus(allowed);
                if !outside.is_empty() {
                    to_remove = to_remove.union(outside);
                    reasons.push(format!(
                        "holds {} outside the {name} profile",
                        service_codes(outside)
                    ));
                }
            }
            None => {
                let held = row.services.intersection(ordinary_services()).len();
                if held >= ctx.broad_grant_threshold {
                    let why = match job_role {
                        Some(name) => format!("job role {name} has no profile"),
                        None => "no job role".to_string(),
                    };
                    reasons.push(format!(
                        "holds {held} of the 12 ordinary services with {why} (threshold {})",
                        ctx.broad_grant_threshold
                    ));
                }
            }
        }
    }
    let restricted = row.services.intersection(not_allowed);
    if !restricted.is_empty() {
        to_remove = to_remove.union(restricted);
        let kind = match record.provider_type.as_str() {
            "" => "no provider type".to_string(),
            kind => format!("provider type {kind}"),
        };
        reasons.push(format!(
            "holds {}, which {kind} does not allow",
            service_codes(restricted)
        ));
    }
    (reasons, to_remove)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, ALL_SERVICES, NONE};
    use crate::domain::RuleId::*;
    use crate::domain::{Role, UserStatus};

    /// The units overbroad-grant fires for when `username`, with `job_role`, holds `list` as a
    /// subordinate of PID/SL 110000001A of `provider_type`.
    fn overbroad(provider_type: &str, job_role: Option<&str>, list: &str) -> Vec<String> {
        let mut kit = Kit::new();
        let pidsl = kit.pidsl("110000001A");
        kit.pidsl_mut(pidsl).provider_type = provider_type.to_string();
        let sub = kit.subordinate("sub", pidsl, list);
        kit.user_mut(sub).job_role = job_role.map(String::from);
        kit.fired(OverbroadGrant)
    }

    const FLAGGED: [&str; 1] = ["110000001A/sub"];

    /// The ten ordinary services of an office manager.
    const TEN: &str = "PORTAL;CLAIMS;REPORTS;FINANCIAL;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE";

    #[test]
    fn a_subordinate_within_their_profile_is_not_overbroad() {
        assert_eq!(
            overbroad("group_practice", Some("biller"), "PORTAL;CLAIMS;BATCH"),
            NONE
        );
    }

    #[test]
    fn a_service_outside_the_profile_is_overbroad() {
        assert_eq!(
            overbroad("group_practice", Some("biller"), "PORTAL;CLAIMS;FINANCIAL"),
            FLAGGED
        );
    }

    #[test]
    fn manage_subordinates_is_outside_every_profile() {
        assert_eq!(
            overbroad(
                "group_practice",
                Some("front_desk"),
                "PORTAL;MANAGE_SUBORDINATES"
            ),
            FLAGGED
        );
    }

    #[test]
    fn portal_services_are_allowed_whatever_the_profile() {
        let mut kit = Kit::new();
        kit.role("records", "REPORTS");
        let pidsl = kit.pidsl("110000001A");
        let sub = kit.subordinate("sub", pidsl, "PORTAL;REPORTS");
        kit.user_mut(sub).job_role = Some("records".into());
        assert_eq!(kit.fired(OverbroadGrant), NONE);
    }

    #[test]
    fn the_detail_names_the_services_outside_the_profile() {
        let mut kit = Kit::new();
        let pidsl = kit.pidsl("110000001B");
        let bwright = kit.subordinate("bwright", pidsl, "PORTAL;CLAIMS;FINANCIAL;CONTRACTS");
        kit.user_mut(bwright).job_role = Some("biller".into());
        assert_eq!(
            kit.detail(OverbroadGrant),
            "holds FINANCIAL, CONTRACTS outside the biller profile"
        );
    }

    #[test]
    fn the_primary_and_backup_are_not_held_to_a_profile() {
        let mut kit = Kit::new();
        let pidsl = kit.pidsl("110000001A");
        let gpatel = kit.admin("gpatel", pidsl, Role::Primary);
        kit.user_mut(gpatel).job_role = Some("front_desk".into());
        assert_eq!(kit.fired(OverbroadGrant), NONE);
    }

    #[test]
    fn sco_pace_is_allowed_only_for_pace_and_sco_providers() {
        assert_eq!(overbroad("pace", None, "PORTAL;SCO_PACE"), NONE);
        assert_eq!(overbroad("sco", None, "PORTAL;SCO_PACE"), NONE);
        assert_eq!(overbroad("ltc", None, "PORTAL;SCO_PACE"), FLAGGED);
        assert_eq!(
            overbroad("group_practice", None, "PORTAL;SCO_PACE"),
            FLAGGED
        );
    }

    #[test]
    fn mmq_is_allowed_only_for_long_term_care() {
        assert_eq!(overbroad("ltc", None, "PORTAL;MMQ"), NONE);
        assert_eq!(overbroad("hospital", None, "PORTAL;MMQ"), FLAGGED);
        assert_eq!(overbroad("pace", None, "PORTAL;MMQ"), FLAGGED);
    }

    #[test]
    fn an_empty_provider_type_allows_neither_restricted_service() {
        assert_eq!(overbroad("", None, "PORTAL;SCO_PACE"), FLAGGED);
        assert_eq!(overbroad("", None, "PORTAL;MMQ"), FLAGGED);
    }

    #[test]
    fn restricted_services_apply_to_the_primary_user_too() {
        let mut kit = Kit::new();
        let pidsl = kit.pidsl("110000001A");
        let gpatel = kit.user("gpatel");
        kit.grant(gpatel, pidsl, Role::Primary, &format!("{ALL_SERVICES};MMQ"));
        assert_eq!(kit.fired(OverbroadGrant), ["110000001A/gpatel"]);
        assert_eq!(
            kit.detail(OverbroadGrant),
            "holds MMQ, which provider type group_practice does not allow"
        );
    }

    #[test]
    fn an_inactive_users_restricted_service_is_not_reviewed() {
        let mut kit = Kit::new();
        let pidsl = kit.pidsl("110000001B");
        let winactive = kit.subordinate("winactive", pidsl, "PORTAL;SCO_PACE");
        kit.user_mut(winactive).status = UserStatus::Inactive;
        assert_eq!(kit.fired(OverbroadGrant), NONE);
    }

    #[test]
    fn every_reason_goes_into_one_finding() {
        let mut kit = Kit::new();
        let pidsl = kit.pidsl("110000002A");
        kit.pidsl_mut(pidsl).provider_type = "ltc".into();
        kit.role("ltc_admin", "PORTAL;MMQ;ELIGIBILITY;CLAIMS;SERVICE_AUTH");
        let uvance = kit.subordinate("uvance", pidsl, "PORTAL;MMQ;ELIGIBILITY;SCO_PACE");
        kit.user_mut(uvance).job_role = Some("ltc_admin".into());
        assert_eq!(kit.fired(OverbroadGrant), ["110000002A/uvance"]);
        assert_eq!(
            kit.detail(OverbroadGrant),
            "holds SCO_PACE outside the ltc_admin profile; holds SCO_PACE, which provider type ltc does not allow"
        );
    }

    #[test]
    fn ten_ordinary_services_without_a_job_role_are_overbroad() {
        assert_eq!(overbroad("group_practice", None, TEN), FLAGGED);
    }

    #[test]
    fn nine_ordinary_services_without_a_job_role_are_below_the_threshold() {
        assert_eq!(
            overbroad("group_practice", None, &TEN.replace(";PROFILE", "")),
            NONE
        );
    }

    #[test]
    fn the_administrator_services_do_not_count_towards_the_threshold() {
        let nine_and_admin = format!(
            "PRIMARY_USER;MANAGE_SUBORDINATES;{}",
            TEN.replace(";PROFILE", "")
        );
        assert_eq!(overbroad("group_practice", None, &nine_and_admin), NONE);
    }

    #[test]
    fn a_job_role_without_a_profile_counts_as_no_profile() {
        assert_eq!(
            overbroad("group_practice", Some("office_manager"), TEN),
            FLAGGED
        );
        assert_eq!(
            overbroad("group_practice", Some("office_manager"), "PORTAL;CLAIMS"),
            NONE
        );
    }

    #[test]
    fn a_subordinate_without_portal_services_is_flagged() {
        let mut kit = Kit::new();
        let pidsl = kit.pidsl("110000001B");
        kit.subordinate("cjones", pidsl, "ELIGIBILITY;REFERRALS");
        kit.subordinate("akim", pidsl, "PORTAL;ELIGIBILITY");
        assert_eq!(kit.fired(MissingPortalServices), ["110000001B/cjones"]);
    }

    #[test]
    fn only_active_subordinates_need_portal_services() {
        let mut kit = Kit::new();
        let pidsl = kit.pidsl("110000001B");
        let gone = kit.subordinate("gone", pidsl, "ELIGIBILITY");
        kit.user_mut(gone).status = UserStatus::Inactive;
        let backup = kit.user("jokafor");
        kit.grant(
            backup,
            pidsl,
            Role::Backup,
            "PRIMARY_USER;MANAGE_SUBORDINATES;CLAIMS",
        );
        assert_eq!(kit.fired(MissingPortalServices), NONE);
    }
}
