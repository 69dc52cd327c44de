//! The account-lifecycle rules: people who left, links whose justification ended, accounts not
//! used, and accounts whose owner never accepted the Terms and Conditions.

use super::{active_pidsl_rows, days, users_with_access, Finding, RuleContext, RuleId};
use crate::domain::{days_before, UserStatus};
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
    }
}

fn access_finding(s: &Snapshot, rule: RuleId, row: &Access, detail: String) -> Finding {
    Finding {
        rule,
        org: s.pidsl(row.pidsl).org,
        pidsl: Some(row.pidsl),
        user: Some(row.user),
        detail,
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
