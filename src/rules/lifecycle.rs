//! The account-lifecycle rules: people who left, links whose justification ended, accounts not
//! used, and accounts whose owner never accepted the Terms and Conditions.

use super::{active_pidsl_rows, days, users_with_access, Finding, RuleContext, RuleId};
use crate::domain::{days_before, Services, UserStatus};
use crate::snapshot::{Access, Snapshot, User};

pub fn check(s: &Snapshot, ctx: &RuleContext, out: &mut Vec<Finding>) {
    terminated_user_active(s, ctx, out);
    for (_, rows) in active_pidsl_rows(s) {
        for row in rows {
            terminated_user_access(s, ctx, row, out);
            expired_link(s, ctx, row, out);
        }
    }
    let has_access = users_with_access(s);
    for (index, user) in s.users.iter().enumerate() {
        if has_access[index] && user.is_active(ctx.as_of) {
            stale_user(ctx, index as u32, user, out);
            terms_not_accepted(ctx, index as u32, user, out);
        }
    }
}

fn user_finding(rule: RuleId, index: u32, user: &User, detail: String) -> Finding {
    Finding {
        rule,
        org: user.org,
        pidsl: None,
        user: Some(index),
        detail,
        services: Services::EMPTY,
        remediation: String::new(),
    }
}

fn access_finding(s: &Snapshot, rule: RuleId, row: &Access, detail: String) -> Finding {
    Finding {
        rule,
        org: s.pidsl(row.pidsl).org,
        pidsl: Some(row.pidsl),
        user: Some(row.user),
        detail,
        services: Services::EMPTY,
        remediation: String::new(),
    }
}

/// Any user, with or without access: terminated but the account is still active.
fn terminated_user_active(s: &Snapshot, ctx: &RuleContext, out: &mut Vec<Finding>) {
    for (index, user) in s.users.iter().enumerate() {
        let Some(left) = user.terminated_on.filter(|day| *day <= ctx.as_of) else {
            continue;
        };
        if user.status == UserStatus::Active {
            let detail = format!(
                "left the organization on {left} ({} before the review) but the user ID is still active",
                days(days_before(left, ctx.as_of))
            );
            out.push(user_finding(
                RuleId::TerminatedUserActive,
                index as u32,
                user,
                detail,
            ));
        }
    }
}

/// Any user, active or not: terminated but still on the PID/SL's access list.
fn terminated_user_access(s: &Snapshot, ctx: &RuleContext, row: &Access, out: &mut Vec<Finding>) {
    let user = s.user(row.user);
    let Some(left) = user.terminated_on.filter(|day| *day <= ctx.as_of) else {
        return;
    };
    let mut detail = format!(
        "left the organization on {left} and still has {} access",
        row.role
    );
    if user.status == UserStatus::Inactive {
        detail.push_str(" (user ID inactive)");
    }
    if s.is_linked(row) {
        let own = &s.orgs[user.org as usize];
        detail.push_str(&format!(
            "; linked user: notify the user's own organization, {} ({})",
            own.name, own.org_id
        ));
    }
    out.push(access_finding(s, RuleId::TerminatedUserAccess, row, detail));
}

/// Any access row, any user status: the affiliation or contract behind it has ended.
fn expired_link(s: &Snapshot, ctx: &RuleContext, row: &Access, out: &mut Vec<Finding>) {
    let Some(ended) = row.expires_on.filter(|day| *day <= ctx.as_of) else {
        return;
    };
    let age = days_before(ended, ctx.as_of);
    let mut detail = if age == 0 {
        format!("access expired on {ended}, the review date")
    } else {
        format!("access expired on {ended}, {} before the review", days(age))
    };
    if s.is_linked(row) {
        let own = &s.orgs[s.user(row.user).org as usize];
        detail.push_str(&format!("; linked user of {} ({})", own.name, own.org_id));
    }
    out.push(access_finding(s, RuleId::ExpiredLink, row, detail));
}

/// An active user with access: no sign-in for too long, or never after the grace period.
fn stale_user(ctx: &RuleContext, index: u32, user: &User, out: &mut Vec<Finding>) {
    let detail = match user.last_login_on {
        Some(last) => {
            let age = days_before(last, ctx.as_of);
            if age <= ctx.stale_after_days {
                return;
            }
            format!(
                "last sign-in {last}, {} before the review (limit {})",
                days(age),
                ctx.stale_after_days
            )
        }
        None => match past_grace(ctx, user) {
            Some(created) => format!("never signed in; {created}"),
            None => return,
        },
    };
    out.push(user_finding(RuleId::StaleUser, index, user, detail));
}

/// An active user with access who never accepted the Terms and Conditions after the grace period.
fn terms_not_accepted(ctx: &RuleContext, index: u32, user: &User, out: &mut Vec<Finding>) {
    if user.terms_accepted_on.is_some() {
        return;
    }
    if let Some(created) = past_grace(ctx, user) {
        let detail = format!("never accepted the Virtual Gateway Terms and Conditions; {created}");
        out.push(user_finding(RuleId::TermsNotAccepted, index, user, detail));
    }
}

/// When the account has no creation date, or was created more than `new_account_grace_days`
/// before the review: says so, for the detail.
fn past_grace(ctx: &RuleContext, user: &User) -> Option<String> {
    match user.created_on {
        None => Some("no account creation date on record".to_string()),
        Some(created) => {
            let age = days_before(created, ctx.as_of);
            (age > ctx.new_account_grace_days).then(|| {
                format!(
                    "account created {created}, {} before the review (grace period {})",
                    days(age),
                    days(ctx.new_account_grace_days)
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, NONE};
    use crate::domain::RuleId::*;
    use crate::domain::{Role, UserStatus};

    /// A kit with PID/SL 110000001A of ORG-A and the subordinate `akim` on it.
    fn akim_with_access() -> (Kit, u32) {
        let mut kit = Kit::new();
        let pidsl = kit.pidsl("110000001A");
        let akim = kit.subordinate("akim", pidsl, "PORTAL;ELIGIBILITY");
        (kit, akim)
    }

    /// A kit where `rbaker` of ORG-BILL is linked to PID/SL 110000001A of ORG-A.
    fn linked_rbaker() -> (Kit, u32) {
        let mut kit = Kit::new();
        let bill = kit.org("ORG-BILL");
        let pidsl = kit.pidsl("110000001A");
        let rbaker = kit.subordinate("rbaker", pidsl, "PORTAL;CLAIMS");
        kit.user_mut(rbaker).org = bill;
        (kit, rbaker)
    }

    #[test]
    fn a_user_who_left_with_an_active_account_is_flagged_under_their_own_org() {
        let (mut kit, rbaker) = linked_rbaker();
        kit.user_mut(rbaker).terminated_on = Some(kit.days_ago(16));
        assert_eq!(kit.fired(TerminatedUserActive), ["rbaker"]);
        assert_eq!(kit.orgs(TerminatedUserActive), ["ORG-BILL"]);
    }

    #[test]
    fn a_user_terminated_on_the_review_date_is_terminated() {
        let (mut kit, akim) = akim_with_access();
        kit.user_mut(akim).terminated_on = Some(kit.as_of);
        assert_eq!(kit.fired(TerminatedUserActive), ["akim"]);
        assert_eq!(kit.fired(TerminatedUserAccess), ["110000001A/akim"]);
    }

    #[test]
    fn a_user_leaving_after_the_review_date_is_not_yet_terminated() {
        let (mut kit, akim) = akim_with_access();
        kit.user_mut(akim).terminated_on = kit.as_of.succ_opt();
        assert_eq!(kit.fired(TerminatedUserActive), NONE);
        assert_eq!(kit.fired(TerminatedUserAccess), NONE);
    }

    #[test]
    fn a_terminated_user_without_access_still_has_an_active_account_to_deactivate() {
        let mut kit = Kit::new();
        let oleft = kit.user("oleft");
        kit.user_mut(oleft).terminated_on = Some(kit.days_ago(100));
        assert_eq!(kit.fired(TerminatedUserActive), ["oleft"]);
        assert_eq!(kit.fired(TerminatedUserAccess), NONE);
    }

    #[test]
    fn a_deactivated_terminated_user_still_has_access_to_remove() {
        let (mut kit, akim) = akim_with_access();
        kit.user_mut(akim).terminated_on = Some(kit.days_ago(153));
        kit.user_mut(akim).status = UserStatus::Inactive;
        assert_eq!(kit.fired(TerminatedUserActive), NONE);
        assert_eq!(kit.fired(TerminatedUserAccess), ["110000001A/akim"]);
        assert_eq!(kit.orgs(TerminatedUserAccess), ["ORG-A"]);
    }

    #[test]
    fn terminated_linked_user_access_names_the_organization_to_notify() {
        let (mut kit, rbaker) = linked_rbaker();
        kit.user_mut(rbaker).terminated_on = Some(kit.days_ago(16));
        assert_eq!(kit.fired(TerminatedUserAccess), ["110000001A/rbaker"]);
        assert_eq!(kit.orgs(TerminatedUserAccess), ["ORG-A"]);
        assert!(kit
            .detail(TerminatedUserAccess)
            .ends_with("notify the user's own organization, ORG-BILL Health (ORG-BILL)"));
    }

    #[test]
    fn terminated_own_staff_access_names_no_other_organization() {
        let (mut kit, akim) = akim_with_access();
        kit.user_mut(akim).terminated_on = Some(kit.days_ago(16));
        assert!(!kit.detail(TerminatedUserAccess).contains("notify"));
    }

    #[test]
    fn access_to_an_inactive_pid_sl_is_not_reviewed() {
        let (mut kit, akim) = akim_with_access();
        kit.user_mut(akim).terminated_on = Some(kit.days_ago(16));
        kit.user_mut(akim).status = UserStatus::Inactive;
        kit.snapshot.access[0].expires_on = Some(kit.days_ago(3));
        kit.pidsl_mut(0).active = false;
        assert_eq!(kit.fired(TerminatedUserAccess), NONE);
        assert_eq!(kit.fired(ExpiredLink), NONE);
    }

    #[test]
    fn a_link_expiring_the_day_before_or_on_the_review_date_has_expired() {
        for days_ago in [1, 0] {
            let (mut kit, _) = linked_rbaker();
            kit.snapshot.access[0].expires_on = Some(kit.days_ago(days_ago));
            assert_eq!(
                kit.fired(ExpiredLink),
                ["110000001A/rbaker"],
                "expired {days_ago} days ago"
            );
        }
    }

    #[test]
    fn a_link_expiring_the_day_after_the_review_date_has_not_expired() {
        let (mut kit, _) = linked_rbaker();
        kit.snapshot.access[0].expires_on = kit.as_of.succ_opt();
        assert_eq!(kit.fired(ExpiredLink), NONE);
    }

    #[test]
    fn an_expired_link_is_flagged_for_own_staff_and_inactive_users_too() {
        let (mut kit, akim) = akim_with_access();
        kit.user_mut(akim).status = UserStatus::Inactive;
        kit.snapshot.access[0].expires_on = Some(kit.days_ago(1));
        assert_eq!(kit.fired(ExpiredLink), ["110000001A/akim"]);
        assert_eq!(
            kit.detail(ExpiredLink),
            format!(
                "access expired on {}, 1 day before the review",
                kit.days_ago(1)
            )
        );
    }

    #[test]
    fn an_expired_link_of_a_linked_user_names_their_organization() {
        let (mut kit, _) = linked_rbaker();
        kit.snapshot.access[0].expires_on = Some(kit.as_of);
        assert!(kit
            .detail(ExpiredLink)
            .ends_with("the review date; linked user of ORG-BILL Health (ORG-BILL)"));
    }

    /// Whether `akim`, with access, is stale after `change` to the account.
    fn akim_is_stale(change: impl FnOnce(&mut Kit, u32)) -> bool {
        let (mut kit, akim) = akim_with_access();
        change(&mut kit, akim);
        let fired = kit.fired(StaleUser);
        assert!(fired.is_empty() || fired == ["akim"], "{fired:?}");
        !fired.is_empty()
    }

    #[test]
    fn ninety_days_without_sign_in_is_not_stale() {
        assert!(!akim_is_stale(|kit, akim| kit
            .user_mut(akim)
            .last_login_on =
            Some(kit.days_ago(90))));
    }

    #[test]
    fn ninety_one_days_without_sign_in_is_stale() {
        assert!(akim_is_stale(|kit, akim| kit
            .user_mut(akim)
            .last_login_on =
            Some(kit.days_ago(91))));
    }

    #[test]
    fn a_stale_user_detail_says_when_they_last_signed_in() {
        let (mut kit, akim) = akim_with_access();
        let last = kit.days_ago(93);
        kit.user_mut(akim).last_login_on = Some(last);
        assert_eq!(
            kit.detail(StaleUser),
            format!("last sign-in {last}, 93 days before the review (limit 90)")
        );
    }

    #[test]
    fn an_account_created_thirty_days_ago_that_never_signed_in_is_within_its_grace_period() {
        assert!(!akim_is_stale(|kit, akim| {
            let created = kit.days_ago(30);
            let user = kit.user_mut(akim);
            user.last_login_on = None;
            user.created_on = Some(created);
        }));
    }

    #[test]
    fn an_account_created_thirty_one_days_ago_that_never_signed_in_is_stale() {
        assert!(akim_is_stale(|kit, akim| {
            let created = kit.days_ago(31);
            let user = kit.user_mut(akim);
            user.last_login_on = None;
            user.created_on = Some(created);
        }));
    }

    #[test]
    fn an_account_without_creation_date_that_never_signed_in_is_stale() {
        assert!(akim_is_stale(|kit, akim| {
            let user = kit.user_mut(akim);
            user.last_login_on = None;
            user.created_on = None;
        }));
    }

    #[test]
    fn inactive_and_terminated_users_are_not_stale() {
        assert!(!akim_is_stale(|kit, akim| {
            kit.user_mut(akim).last_login_on = Some(kit.days_ago(200));
            kit.user_mut(akim).status = UserStatus::Inactive;
        }));
        assert!(!akim_is_stale(|kit, akim| {
            kit.user_mut(akim).last_login_on = Some(kit.days_ago(200));
            kit.user_mut(akim).terminated_on = Some(kit.days_ago(100));
        }));
    }

    #[test]
    fn users_without_access_to_an_active_pid_sl_are_not_stale() {
        let mut kit = Kit::new();
        let idle = kit.user("idle");
        kit.user_mut(idle).last_login_on = Some(kit.days_ago(200));
        let closed = kit.pidsl("110000001E");
        kit.pidsl_mut(closed).active = false;
        let annex = kit.subordinate("annex", closed, "PORTAL");
        kit.user_mut(annex).last_login_on = Some(kit.days_ago(200));
        assert_eq!(kit.fired(StaleUser), NONE);
    }

    /// Whether `akim`, with access and never having accepted the terms, is flagged after
    /// `change` to the account.
    fn akim_has_not_accepted_terms(change: impl FnOnce(&mut Kit, u32)) -> bool {
        let (mut kit, akim) = akim_with_access();
        kit.user_mut(akim).terms_accepted_on = None;
        change(&mut kit, akim);
        !kit.fired(TermsNotAccepted).is_empty()
    }

    #[test]
    fn terms_not_accepted_within_thirty_days_of_creation_are_within_the_grace_period() {
        assert!(!akim_has_not_accepted_terms(|kit, akim| kit
            .user_mut(akim)
            .created_on =
            Some(kit.days_ago(30))));
    }

    #[test]
    fn terms_not_accepted_thirty_one_days_after_creation_are_flagged() {
        assert!(akim_has_not_accepted_terms(|kit, akim| kit
            .user_mut(akim)
            .created_on =
            Some(kit.days_ago(31))));
    }

    #[test]
    fn terms_not_accepted_without_a_creation_date_are_flagged() {
        assert!(akim_has_not_accepted_terms(|kit, akim| kit
            .user_mut(akim)
            .created_on =
            None));
    }

    #[test]
    fn accepted_terms_are_not_flagged() {
        assert!(!akim_has_not_accepted_terms(|kit, akim| kit
            .user_mut(akim)
            .terms_accepted_on =
            Some(kit.days_ago(5))));
    }

    #[test]
    fn terms_not_accepted_by_an_inactive_user_or_one_without_access_are_not_flagged() {
        assert!(!akim_has_not_accepted_terms(|kit, akim| kit
            .user_mut(akim)
            .status =
            UserStatus::Inactive));
        assert!(!akim_has_not_accepted_terms(|kit, _| kit
            .pidsl_mut(0)
            .active = false));
    }

    #[test]
    fn a_primary_user_is_held_to_the_same_lifecycle_rules() {
        let mut kit = Kit::new();
        let pidsl = kit.pidsl("110000001C");
        let lrivera = kit.admin("lrivera", pidsl, Role::Primary);
        kit.user_mut(lrivera).terminated_on = Some(kit.days_ago(31));
        assert_eq!(kit.fired(TerminatedUserActive), ["lrivera"]);
        assert_eq!(kit.fired(TerminatedUserAccess), ["110000001C/lrivera"]);
        assert!(kit
            .detail(TerminatedUserAccess)
            .contains("still has primary access"));
    }
}
