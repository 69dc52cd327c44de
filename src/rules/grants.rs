//! The least-privilege rules: services beyond the job's profile, restricted services the
//! provider type does not allow, near-everything grants without a profile, and subordinates
//! without Portal Services.

use super::{active_pidsl_rows, admin_services, both, service_codes, Finding, RuleContext, RuleId};
use crate::domain::{Role, ServiceCode, Services};
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
            };
            let reasons = overbroad_reasons(s, ctx, record, not_allowed, row);
            if !reasons.is_empty() {
                out.push(finding(RuleId::OverbroadGrant, reasons.join("; ")));
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
    Services::of(&ServiceCode::ALL).minus(admin_services())
}

/// Every reason the row's grant is broader than the job needs; empty when it is not.
fn overbroad_reasons(
    s: &Snapshot,
    ctx: &RuleContext,
    record: &PidSlRecord,
    not_allowed: Services,
    row: &Access,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if row.role == Role::Subordinate {
        let job_role = s.user(row.user).job_role.as_deref();
        match job_role.and_then(|name| ctx.roles.get(name).map(|profile| (name, profile))) {
            Some((name, profile)) => {
                let mut allowed = profile.minus(admin_services());
                allowed.insert(ServiceCode::Portal);
                let outside = row.services.minus(allowed);
                if !outside.is_empty() {
                    reasons.push(format!(
                        "holds {} outside the {name} profile",
                        service_codes(outside)
                    ));
                }
            }
            None => {
                let held = both(row.services, ordinary_services()).len();
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
    let restricted = both(row.services, not_allowed);
    if !restricted.is_empty() {
        let kind = match record.provider_type.as_str() {
            "" => "no provider type".to_string(),
            kind => format!("provider type {kind}"),
        };
        reasons.push(format!(
            "holds {}, which {kind} does not allow",
            service_codes(restricted)
        ));
    }
    reasons
}
