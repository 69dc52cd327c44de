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
            services: crate::domain::Services::EMPTY,
            remediation: String::new(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, NONE};
    use crate::domain::Cadence;
    use crate::domain::RuleId::*;

    /// Whether ORG-A, on `cadence`, is overdue when its last review was `days_ago`.
    fn overdue(cadence: Cadence, days_ago: u64) -> bool {
        let mut kit = Kit::new();
        let last = Some(kit.days_ago(days_ago));
        kit.org_mut(0).cadence = cadence;
        kit.org_mut(0).last_review_on = last;
        !kit.fired(ReviewOverdue).is_empty()
    }

    #[test]
    fn a_quarterly_review_92_days_ago_is_on_time_and_93_is_overdue() {
        assert!(!overdue(Cadence::Quarterly, 92));
        assert!(overdue(Cadence::Quarterly, 93));
    }

    #[test]
    fn a_semiannual_review_183_days_ago_is_on_time_and_184_is_overdue() {
        assert!(!overdue(Cadence::Semiannual, 183));
        assert!(overdue(Cadence::Semiannual, 184));
    }

    #[test]
    fn an_annual_review_366_days_ago_is_on_time_and_367_is_overdue() {
        assert!(!overdue(Cadence::Annual, 366));
        assert!(overdue(Cadence::Annual, 367));
    }

    #[test]
    fn an_organization_never_reviewed_is_overdue_even_without_pid_sls() {
        let mut kit = Kit::new();
        kit.org_mut(0).last_review_on = None;
        kit.org_mut(0).cadence = Cadence::Semiannual;
        assert_eq!(kit.fired(ReviewOverdue), ["ORG-A"]);
        assert_eq!(
            kit.detail(ReviewOverdue),
            "no access review on record (semiannual cadence)"
        );
    }

    #[test]
    fn a_recent_completed_run_makes_an_old_recorded_review_current() {
        let mut kit = Kit::new();
        kit.org_mut(0).last_review_on = Some(kit.days_ago(400));
        kit.snapshot.last_run_on[0] = Some(kit.days_ago(30));
        assert_eq!(kit.fired(ReviewOverdue), NONE);
    }

    #[test]
    fn a_recent_recorded_review_makes_an_old_run_current() {
        let mut kit = Kit::new();
        kit.org_mut(0).last_review_on = Some(kit.days_ago(30));
        kit.snapshot.last_run_on[0] = Some(kit.days_ago(400));
        assert_eq!(kit.fired(ReviewOverdue), NONE);
    }

    #[test]
    fn an_old_run_alone_is_overdue_and_the_detail_says_by_how_much() {
        let mut kit = Kit::new();
        let last = kit.days_ago(93);
        kit.org_mut(0).last_review_on = None;
        kit.snapshot.last_run_on[0] = Some(last);
        assert_eq!(
            kit.detail(ReviewOverdue),
            format!("last access review {last}, 93 days before the review (quarterly cadence: at most 92 days apart)")
        );
    }

    #[test]
    fn each_organization_is_judged_on_its_own_review() {
        let mut kit = Kit::new();
        let stale = kit.org("ORG-HOSP");
        kit.org_mut(stale).last_review_on = Some(kit.days_ago(93));
        assert_eq!(kit.fired(ReviewOverdue), ["ORG-HOSP"]);
    }
}
