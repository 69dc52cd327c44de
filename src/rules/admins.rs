//! The administrator rules: each PID/SL has one Primary User and one backup holding the same
//! services, only they hold the administrator services, and no one administers more PID/SLs or
//! users than one person can keep under review.

use super::{
    active_pidsl_rows, admin_services, both, service_codes, usernames, Finding, RuleContext, RuleId,
};
use crate::domain::{Role, ServiceCode, Services};
use crate::snapshot::{Access, Snapshot, User};
use chrono::NaiveDate;

pub fn check(s: &Snapshot, ctx: &RuleContext, out: &mut Vec<Finding>) {
    for (pidsl, rows) in active_pidsl_rows(s) {
        check_pidsl(s, ctx, pidsl, rows, out);
    }
    overloaded_primary(s, ctx, out);
}

/// missing-primary, missing-backup, excess-primary, manage-subordinates-misassigned and
/// backup-missing-services for one active PID/SL.
fn check_pidsl(
    s: &Snapshot,
    ctx: &RuleContext,
    pidsl: u32,
    rows: &[Access],
    out: &mut Vec<Finding>,
) {
    let org = s.pidsl(pidsl).org;
    let finding = |rule, user, detail| Finding {
        rule,
        org,
        pidsl: Some(pidsl),
        user,
        detail,
    };
    let active: Vec<&Access> = rows
        .iter()
        .filter(|a| s.user(a.user).is_active(ctx.as_of))
        .collect();
    let with_role = |role: Role| -> Vec<&Access> {
        active.iter().copied().filter(|a| a.role == role).collect()
    };
    let primaries = with_role(Role::Primary);
    let backups = with_role(Role::Backup);

    if primaries.is_empty() {
        let detail = missing_admin_detail(s, ctx.as_of, rows, Role::Primary);
        out.push(finding(RuleId::MissingPrimary, None, detail));
    }
    if backups.is_empty() {
        let detail = missing_admin_detail(s, ctx.as_of, rows, Role::Backup);
        out.push(finding(RuleId::MissingBackup, None, detail));
    }

    let mut excess = Vec::new();
    if primaries.len() > 1 {
        excess.push(format!(
            "{} active Primary Users ({})",
            primaries.len(),
            names(s, &primaries)
        ));
    }
    if backups.len() > 1 {
        excess.push(format!(
            "{} active backups ({})",
            backups.len(),
            names(s, &backups)
        ));
    }
    let holders: Vec<&Access> = active
        .iter()
        .copied()
        .filter(|a| a.services.contains(ServiceCode::PrimaryUser))
        .collect();
    if holders.len() > 2 {
        excess.push(format!(
            "{} active holders of PRIMARY_USER ({}), at most 2 allowed",
            holders.len(),
            names(s, &holders)
        ));
    }
    if !excess.is_empty() {
        out.push(finding(RuleId::ExcessPrimary, None, excess.join("; ")));
    }

    for sub in active.iter().filter(|a| a.role == Role::Subordinate) {
        let held = both(sub.services, admin_services());
        if !held.is_empty() {
            let detail = format!(
                "subordinate holds {}, reserved for the Primary User and the backup",
                service_codes(held)
            );
            out.push(finding(
                RuleId::ManageSubordinatesMisassigned,
                Some(sub.user),
                detail,
            ));
        }
    }

    let primary_services = primaries
        .iter()
        .fold(Services::EMPTY, |all, a| all.union(a.services));
    for backup in &backups {
        let missing = primary_services.minus(backup.services);
        if !missing.is_empty() {
            let detail = format!(
                "backup lacks {}, held by the Primary User ({})",
                service_codes(missing),
                names(s, &primaries)
            );
            out.push(finding(
                RuleId::BackupMissingServices,
                Some(backup.user),
                detail,
            ));
        }
    }
}

fn names(s: &Snapshot, rows: &[&Access]) -> String {
    usernames(s, rows.iter().map(|a| a.user), rows.len())
}

/// Why no active user holds `role`: says who holds it but is no longer active, if anyone.
fn missing_admin_detail(s: &Snapshot, as_of: NaiveDate, rows: &[Access], role: Role) -> String {
    let title = match role {
        Role::Primary => "Primary User",
        _ => "backup",
    };
    let holders: Vec<String> = rows
        .iter()
        .filter(|a| a.role == role)
        .map(|a| {
            let user = s.user(a.user);
            format!("{} ({})", user.username, why_not_active(user, as_of))
        })
        .collect();
    if holders.is_empty() {
        format!("no active {title}: no user holds the role {role}")
    } else {
        format!(
            "no active {title}: the role {role} is held only by {}",
            holders.join(", ")
        )
    }
}

fn why_not_active(user: &User, as_of: NaiveDate) -> String {
    match user.terminated_on {
        Some(day) if day <= as_of => format!("terminated on {day}"),
        _ => "account inactive".to_string(),
    }
}

/// overloaded-primary: per active user, the active PID/SLs where they are primary or backup and
/// the distinct users with access rows on those PID/SLs. Linear in the access rows times the
/// number of administrators per PID/SL: each PID/SL's rows are read once per administrator.
fn overloaded_primary(s: &Snapshot, ctx: &RuleContext, out: &mut Vec<Finding>) {
    let mut rows_of: Vec<&[Access]> = vec![&[]; s.pidsls.len()];
    let mut administered: Vec<(u32, u32)> = Vec::new();
    for (pidsl, rows) in active_pidsl_rows(s) {
        rows_of[pidsl as usize] = rows;
        administered.extend(
            rows.iter()
                .filter(|a| matches!(a.role, Role::Primary | Role::Backup))
                .filter(|a| s.user(a.user).is_active(ctx.as_of))
                .map(|a| (a.user, a.pidsl)),
        );
    }
    administered.sort_unstable();
    administered.dedup();

    // `seen[u] == admin` once user u was counted for that administrator: no clearing needed.
    let mut seen = vec![u32::MAX; s.users.len()];
    for group in administered.chunk_by(|a, b| a.0 == b.0) {
        let admin = group[0].0;
        let pidsls = group.len();
        let mut users = 0usize;
        for &(_, pidsl) in group {
            for row in rows_of[pidsl as usize] {
                if seen[row.user as usize] != admin {
                    seen[row.user as usize] = admin;
                    users += 1;
                }
            }
        }
        let mut reasons = Vec::new();
        if pidsls > ctx.max_pidsls_per_primary {
            reasons.push(format!(
                "primary or backup on {pidsls} active PID/SLs (limit {})",
                ctx.max_pidsls_per_primary
            ));
        }
        if users > ctx.max_users_per_primary {
            reasons.push(format!(
                "{users} distinct users have access to the {pidsls} PID/SLs administered (limit {})",
                ctx.max_users_per_primary
            ));
        }
        if !reasons.is_empty() {
            out.push(Finding {
                rule: RuleId::OverloadedPrimary,
                org: s.user(admin).org,
                pidsl: None,
                user: Some(admin),
                detail: reasons.join("; "),
            });
        }
    }
}
