//! The administrator rules: each PID/SL has one Primary User and one backup holding the same
//! services, only they hold the administrator services, and no one administers more PID/SLs or
//! users than one person can keep under review.

use super::{active_pidsl_rows, service_codes, usernames, Finding, RuleContext, RuleId};
use crate::domain::{Role, ServiceCode, Services, ADMIN_SERVICES, MAX_PRIMARY_USER_HOLDERS};
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
        services: Services::EMPTY,
        remediation: String::new(),
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
        out.push(Finding {
            services: primaries
                .iter()
                .fold(Services::EMPTY, |all, a| all.union(a.services)),
            ..finding(RuleId::MissingBackup, None, detail)
        });
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
    if holders.len() > MAX_PRIMARY_USER_HOLDERS {
        excess.push(format!(
            "{} active holders of PRIMARY_USER ({}), at most {MAX_PRIMARY_USER_HOLDERS} allowed",
            holders.len(),
            names(s, &holders)
        ));
    }
    if !excess.is_empty() {
        out.push(finding(RuleId::ExcessPrimary, None, excess.join("; ")));
    }

    for sub in active.iter().filter(|a| a.role == Role::Subordinate) {
        let held = sub.services.intersection(ADMIN_SERVICES);
        if !held.is_empty() {
            let detail = format!(
                "subordinate holds {}, reserved for the Primary User and the backup",
                service_codes(held)
            );
            out.push(Finding {
                services: held,
                ..finding(
                    RuleId::ManageSubordinatesMisassigned,
                    Some(sub.user),
                    detail,
                )
            });
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
            out.push(Finding {
                services: missing,
                ..finding(RuleId::BackupMissingServices, Some(backup.user), detail)
            });
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
                "{users} distinct users have access to the {} administered (limit {})",
                crate::output::count(pidsls, "PID/SL"),
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
                services: Services::EMPTY,
                remediation: String::new(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, ALL_SERVICES, NONE};
    use crate::domain::RuleId::*;
    use crate::domain::{Role, UserStatus};

    /// A kit with PID/SL 110000001A and nobody on it yet.
    fn one_pidsl() -> (Kit, u32) {
        let mut kit = Kit::new();
        let pidsl = kit.pidsl("110000001A");
        (kit, pidsl)
    }

    /// A kit with PID/SL 110000001A administered by `gpatel` (primary) and `jokafor` (backup),
    /// both holding every service.
    fn administered() -> (Kit, u32) {
        let (mut kit, pidsl) = one_pidsl();
        kit.admin("gpatel", pidsl, Role::Primary);
        kit.admin("jokafor", pidsl, Role::Backup);
        (kit, pidsl)
    }

    #[test]
    fn a_pid_sl_with_an_active_primary_and_backup_is_not_missing_either() {
        let (mut kit, _) = administered();
        assert_eq!(kit.fired(MissingPrimary), NONE);
        assert_eq!(kit.fired(MissingBackup), NONE);
    }

    #[test]
    fn a_pid_sl_nobody_administers_misses_its_primary_and_backup() {
        let (mut kit, pidsl) = one_pidsl();
        kit.subordinate("akim", pidsl, "PORTAL");
        assert_eq!(kit.fired(MissingPrimary), ["110000001A"]);
        assert_eq!(kit.fired(MissingBackup), ["110000001A"]);
        assert_eq!(kit.orgs(MissingPrimary), ["ORG-A"]);
    }

    #[test]
    fn an_active_pid_sl_without_any_access_row_misses_its_primary_and_backup() {
        let (mut kit, _) = one_pidsl();
        let closed = kit.pidsl("110000001E");
        kit.pidsl_mut(closed).active = false;
        assert_eq!(kit.fired(MissingPrimary), ["110000001A"]);
        assert_eq!(kit.fired(MissingBackup), ["110000001A"]);
        assert!(kit
            .detail(MissingPrimary)
            .starts_with("no active Primary User"));
    }

    #[test]
    fn a_terminated_primary_leaves_the_pid_sl_without_one() {
        let (mut kit, _) = administered();
        let left = kit.days_ago(31);
        kit.user_mut(0).terminated_on = Some(left);
        assert_eq!(kit.fired(MissingPrimary), ["110000001A"]);
        assert!(kit
            .detail(MissingPrimary)
            .contains(&format!("gpatel (terminated on {left})")));
    }

    #[test]
    fn an_inactive_backup_leaves_the_pid_sl_without_one() {
        let (mut kit, _) = administered();
        kit.user_mut(1).status = UserStatus::Inactive;
        assert_eq!(kit.fired(MissingBackup), ["110000001A"]);
        assert!(kit
            .detail(MissingBackup)
            .contains("jokafor (account inactive)"));
    }

    #[test]
    fn a_primary_terminated_after_the_review_date_still_counts() {
        let (mut kit, _) = administered();
        kit.user_mut(0).terminated_on = Some(kit.as_of.succ_opt().unwrap());
        assert_eq!(kit.fired(MissingPrimary), NONE);
    }

    #[test]
    fn two_active_primaries_are_one_excess_primary_finding() {
        let (mut kit, pidsl) = administered();
        kit.admin("tnguyen", pidsl, Role::Primary);
        assert_eq!(kit.fired(ExcessPrimary), ["110000001A"]);
        let detail = kit.detail(ExcessPrimary);
        assert!(
            detail.contains("2 active Primary Users (gpatel, tnguyen)"),
            "{detail}"
        );
        assert!(
            detail.contains("3 active holders of PRIMARY_USER"),
            "{detail}"
        );
    }

    #[test]
    fn two_active_backups_are_an_excess() {
        let (mut kit, pidsl) = administered();
        let sdubois = kit.user("sdubois");
        kit.grant(sdubois, pidsl, Role::Backup, "PORTAL");
        assert_eq!(kit.fired(ExcessPrimary), ["110000001A"]);
        assert!(kit
            .detail(ExcessPrimary)
            .starts_with("2 active backups (jokafor, sdubois)"));
    }

    #[test]
    fn a_third_holder_of_primary_portal_user_is_an_excess() {
        let (mut kit, pidsl) = administered();
        kit.subordinate("fgarcia", pidsl, "PORTAL;PRIMARY_USER");
        assert_eq!(kit.fired(ExcessPrimary), ["110000001A"]);
    }

    #[test]
    fn an_inactive_second_primary_is_not_an_excess() {
        let (mut kit, pidsl) = administered();
        let extra = kit.admin("tnguyen", pidsl, Role::Primary);
        kit.user_mut(extra).status = UserStatus::Inactive;
        assert_eq!(kit.fired(ExcessPrimary), NONE);
    }

    #[test]
    fn a_subordinate_holding_either_administrator_service_is_misassigned() {
        let (mut kit, pidsl) = administered();
        kit.subordinate("fgarcia", pidsl, "PORTAL;MANAGE_SUBORDINATES");
        kit.subordinate("hpark", pidsl, "PORTAL;PRIMARY_USER");
        kit.subordinate("akim", pidsl, "PORTAL;ELIGIBILITY");
        assert_eq!(
            kit.fired(ManageSubordinatesMisassigned),
            ["110000001A/fgarcia", "110000001A/hpark"]
        );
    }

    #[test]
    fn the_primary_and_backup_may_hold_the_administrator_services() {
        let (mut kit, _) = administered();
        assert_eq!(kit.fired(ManageSubordinatesMisassigned), NONE);
    }

    #[test]
    fn an_inactive_subordinate_holding_manage_subordinates_is_not_reviewed() {
        let (mut kit, pidsl) = administered();
        let sub = kit.subordinate("fgarcia", pidsl, "PORTAL;MANAGE_SUBORDINATES");
        kit.user_mut(sub).status = UserStatus::Inactive;
        assert_eq!(kit.fired(ManageSubordinatesMisassigned), NONE);
    }

    #[test]
    fn a_backup_lacking_a_service_of_the_primary_is_listed_with_what_it_lacks() {
        let (mut kit, pidsl) = one_pidsl();
        kit.admin("gpatel", pidsl, Role::Primary);
        let backup = kit.user("jokafor");
        kit.grant(
            backup,
            pidsl,
            Role::Backup,
            &ALL_SERVICES.replace("FINANCIAL;", "").replace("BATCH;", ""),
        );
        assert_eq!(kit.fired(BackupMissingServices), ["110000001A/jokafor"]);
        assert!(kit
            .detail(BackupMissingServices)
            .starts_with("backup lacks FINANCIAL, BATCH"));
    }

    #[test]
    fn a_backup_holding_more_than_the_primary_lacks_nothing() {
        let (mut kit, pidsl) = one_pidsl();
        let primary = kit.user("gpatel");
        kit.grant(
            primary,
            pidsl,
            Role::Primary,
            "PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL",
        );
        kit.admin("jokafor", pidsl, Role::Backup);
        assert_eq!(kit.fired(BackupMissingServices), NONE);
    }

    #[test]
    fn the_services_of_an_inactive_primary_are_not_required_of_the_backup() {
        let (mut kit, pidsl) = one_pidsl();
        let primary = kit.admin("gpatel", pidsl, Role::Primary);
        kit.user_mut(primary).status = UserStatus::Inactive;
        let backup = kit.user("jokafor");
        kit.grant(backup, pidsl, Role::Backup, "PORTAL");
        assert_eq!(kit.fired(BackupMissingServices), NONE);
    }

    /// `user` becomes primary on `count` new PID/SLs.
    fn administer(kit: &mut Kit, user: u32, count: u32) {
        for i in 0..count {
            let pidsl = kit.pidsl(&format!("{:09}A", 120_000_000 + i));
            kit.grant(user, pidsl, Role::Primary, ALL_SERVICES);
        }
    }

    #[test]
    fn ten_pid_sls_per_primary_are_within_the_limit() {
        let mut kit = Kit::new();
        let hadmin = kit.user("hadmin");
        administer(&mut kit, hadmin, 10);
        assert_eq!(kit.fired(OverloadedPrimary), NONE);
    }

    #[test]
    fn a_backup_on_eleven_pid_sls_is_overloaded_and_reported_under_their_own_org() {
        let mut kit = Kit::new();
        let other = kit.org("ORG-BILL");
        let hback = kit.user("hback");
        kit.user_mut(hback).org = other;
        for i in 0..11 {
            let pidsl = kit.pidsl(&format!("{:09}B", 120_000_000 + i));
            kit.grant(hback, pidsl, Role::Backup, ALL_SERVICES);
        }
        assert_eq!(kit.fired(OverloadedPrimary), ["hback"]);
        assert_eq!(kit.orgs(OverloadedPrimary), ["ORG-BILL"]);
        assert!(kit
            .detail(OverloadedPrimary)
            .starts_with("primary or backup on 11 active PID/SLs (limit 10)"));
    }

    #[test]
    fn inactive_pid_sls_do_not_count_towards_the_limit() {
        let mut kit = Kit::new();
        let hadmin = kit.user("hadmin");
        administer(&mut kit, hadmin, 11);
        kit.pidsl_mut(3).active = false;
        assert_eq!(kit.fired(OverloadedPrimary), NONE);
    }

    #[test]
    fn an_inactive_user_listed_as_primary_is_not_overloaded() {
        let mut kit = Kit::new();
        let hadmin = kit.user("hadmin");
        administer(&mut kit, hadmin, 11);
        kit.user_mut(hadmin).status = UserStatus::Inactive;
        assert_eq!(kit.fired(OverloadedPrimary), NONE);
    }

    /// `hadmin` is primary on two PID/SLs that share the subordinates `akim` and `bwright`;
    /// the second also has `oleft`, inactive. Distinct users: hadmin, akim, bwright, oleft.
    fn two_pid_sls_with_four_distinct_users() -> Kit {
        let mut kit = Kit::new();
        let hadmin = kit.user("hadmin");
        administer(&mut kit, hadmin, 2);
        for name in ["akim", "bwright"] {
            let sub = kit.user(name);
            kit.grant(sub, 0, Role::Subordinate, "PORTAL");
            kit.grant(sub, 1, Role::Subordinate, "PORTAL");
        }
        let oleft = kit.subordinate("oleft", 1, "PORTAL");
        kit.user_mut(oleft).status = UserStatus::Inactive;
        kit
    }

    #[test]
    fn distinct_users_of_any_status_including_the_primary_count_towards_the_user_limit() {
        let mut kit = two_pid_sls_with_four_distinct_users();
        kit.max_users_per_primary = 3;
        assert_eq!(kit.fired(OverloadedPrimary), ["hadmin"]);
        assert!(kit
            .detail(OverloadedPrimary)
            .starts_with("4 distinct users have access to the 2 PID/SLs"));
    }

    #[test]
    fn users_on_several_pid_sls_count_once_towards_the_user_limit() {
        let mut kit = two_pid_sls_with_four_distinct_users();
        kit.max_users_per_primary = 4;
        assert_eq!(kit.fired(OverloadedPrimary), NONE);
    }
}
