//! review-overdue: every organization reviews its users' access as often as its cadence says.
//! The previous review is the later of the one recorded before this tool (last_review_on) and
//! the tool's last completed run; none at all counts as overdue.

use super::{days, Finding, RuleContext, RuleId};
use crate::domain::days_before;
use crate::snapshot::Snapshot;

pub fn check(s: &Snapshot, ctx: &RuleContext, out: &mut Vec<Finding>) {
    for (index, org) in s.orgs.iter().enumerate() {
        let last_run_on = s.last_run_on.get(index).copied().flatten();
        let previous = org.last_review_on.max(last_run_on);
        let limit = org.cadence.max_days_between_reviews();
        let detail = match previous {
            None => format!("no access review on record ({} cadence)", org.cadence),
            Some(day) => {
                let age = days_before(day, ctx.as_of);
                if age <= limit {
                    continue;
                }
                format!(
                    "last access review {day}, {} before the review ({} cadence: at most {limit} days apart)",
                    days(age),
                    org.cadence
                )
            }
        };
        out.push(Finding {
            rule: RuleId::ReviewOverdue,
            org: index as u32,
            pidsl: None,
            user: None,
            detail,
        });
    }
}
