//! The management summary of a run: the numbers behind the workbook's Summary sheet, the
//! `summary.html` page and the management email.
//!
//! A [`Summary`] is plain, serializable data: templates read it as it is (`summary.total`,
//! `summary.by_severity`, ...), and the workbook writes it cell by cell. It is built from a
//! run's findings, so the same code makes the whole run's summary and one organization's (give
//! it only that organization's findings and a [`SummaryOptions::for_org`]).

use crate::domain::{Cadence, Decision, FindingStatus, OutboxState, RuleId, Severity};
use crate::records::{FindingRow, FollowUp, PriorDecision, RunRecord};
use crate::rules::RULES;
use crate::snapshot::Snapshot;
use crate::store::{ESCALATION_KIND, REMINDER_KIND};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// How many PID/SLs the "most findings" list holds.
pub const TOP_PIDSLS: usize = 10;

/// How many critical and high findings are listed by default (`mail.max_findings_listed`).
pub const DEFAULT_MAX_LISTED: usize = 50;

/// The severities from the most to the least serious, the order every summary lists them in.
pub const SEVERITIES: [Severity; 4] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
];

/// The rules whose findings name a user but no PID/SL and still belong to PID/SLs: those of
/// the user's organization where the user has access, whose Primary User can act on them
/// (remove the user, or fix the account). The others that name no PID/SL (overloaded-primary,
/// review-overdue) are for management.
pub const USER_RULES_ON_PIDSLS: [RuleId; 4] = [
    RuleId::StaleUser,
    RuleId::TerminatedUserActive,
    RuleId::TermsNotAccepted,
    RuleId::DuplicateIdentity,
];

/// The PID/SLs (indices into `snapshot.pidsls`) a finding belongs to, the one definition the
/// summary's per-PID/SL counts and the Primary User action lists share: the PID/SL it names;
/// or, for a finding of [`USER_RULES_ON_PIDSLS`] that names none, every active PID/SL of the
/// finding's organization on which its user has access. Findings of every status count.
pub fn pidsls_of_finding(snapshot: &Snapshot, f: &FindingRow) -> Vec<u32> {
    if !f.pidsl.is_empty() {
        return snapshot.pidsl_index(&f.pidsl).into_iter().collect();
    }
    if f.username.is_empty() || !USER_RULES_ON_PIDSLS.contains(&f.rule) {
        return Vec::new();
    }
    let Some(org) = snapshot.org_index(&f.org_id) else {
        return Vec::new();
    };
    snapshot
        .pidsls_of_user(&f.username)
        .iter()
        .copied()
        .filter(|&p| {
            let record = snapshot.pidsl(p);
            record.active && record.org == org
        })
        .collect()
}

/// What a summary covers and how much it lists, when it is not the whole run's.
#[derive(Debug, Clone)]
pub struct SummaryOptions {
    /// The scope shown; `None`: described from the run (its cadence and organizations).
    pub scope: Option<String>,
    /// How many organizations the summary covers; `None`: counted from the run's scope.
    pub organizations: Option<usize>,
    /// Findings of the previous run that are gone; `None`: the run's own count.
    pub resolved: Option<usize>,
    /// The longest list of critical and high findings; the rest are counted in `urgent_more`.
    pub max_listed: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            scope: None,
            organizations: None,
            resolved: None,
            max_listed: DEFAULT_MAX_LISTED,
        }
    }
}

impl SummaryOptions {
    /// One organization's summary: its scope line and the resolved count for it alone (the
    /// run's own count covers every organization). The findings given to [`Summary::build`]
    /// must be that organization's only.
    pub fn for_org(snapshot: &Snapshot, org_id: &str, resolved: usize) -> SummaryOptions {
        let name = snapshot
            .org_index(org_id)
            .map(|i| snapshot.orgs[i as usize].name.as_str())
            .unwrap_or_default();
        let scope = if name.is_empty() {
            format!("organization {org_id}")
        } else {
            format!("organization {org_id} ({name})")
        };
        SummaryOptions {
            scope: Some(scope),
            organizations: Some(1),
            resolved: Some(resolved),
            ..SummaryOptions::default()
        }
    }
}

/// The management summary of a run (or of one organization in it).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub run_id: String,
    /// The review date.
    pub as_of: NaiveDate,
    /// The run's cadence, if it reviewed one cadence.
    pub cadence: Option<Cadence>,
    /// What was reviewed, in words: "every organization (4 organizations)".
    pub scope: String,
    pub organizations: usize,
    /// Number of findings.
    pub total: usize,
    /// Every severity, most serious first, zeros included.
    pub by_severity: Vec<SeverityCount>,
    /// Every rule of the rule table, in its order, zeros included.
    pub by_rule: Vec<RuleCount>,
    /// Findings by status across runs, and the previous run's findings now gone.
    pub status: StatusCounts,
    /// The PID/SLs with the most findings (at most [`TOP_PIDSLS`]), most first.
    pub top_pidsls: Vec<PidSlCount>,
    /// The critical and high findings, most serious first, at most `max_listed` of them.
    pub urgent: Vec<ListedFinding>,
    /// How many critical and high findings there are in all.
    pub urgent_total: usize,
    /// How many of them `urgent` leaves out.
    pub urgent_more: usize,
    /// Reviewer decisions on these findings and what the review loop did (see
    /// [`DecisionCounts`]); the follow-ups once [`Summary::add_follow_ups`] added them.
    pub decisions: DecisionCounts,
    /// Every organization with findings or follow-ups, most findings first (then by org_id).
    pub by_org: Vec<OrgCount>,
    /// Open findings (new and open) by severity at the scope's last reviews, oldest first,
    /// this run last; empty until the review fills it in (`Summary::build` has no history).
    pub trend: Vec<crate::records::TrendPoint>,
    /// Why the whole-run workbook leaves User Access out (see
    /// [`crate::report::xlsx::user_access_left_out`]); `None` when it has the sheet.
    pub user_access_left_out: Option<String>,
}

/// The review loop's counts (README, "The review loop"). Of the findings: those carrying a
/// reviewer decision (`decided`: a decision carried from an earlier import, or accepted or
/// suppressed by one), those without one (`pending`), those of `pending` first seen more than
/// the organization's cadence length (92, 183 or 366 days) before as_of (`overdue`), and those
/// of `decided` whose decision is Fix in POSC (`not_done`: decided but not done). Of the
/// organizations' previous reviews: the findings decided Fix in POSC that are gone now
/// (`remediated`), the PID/SLs whose Primary User was reminded (`reminded`) and the
/// organizations whose management got the escalation (`escalated`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DecisionCounts {
    pub decided: usize,
    pub pending: usize,
    pub overdue: usize,
    pub not_done: usize,
    pub remediated: usize,
    pub reminded: usize,
    pub escalated: usize,
}

impl DecisionCounts {
    /// Counts one finding; `cadence_days` is its organization's cadence length, if known.
    fn add(&mut self, f: &FindingRow, cadence_days: Option<i64>, as_of: NaiveDate) {
        if f.decision.is_some()
            || matches!(
                f.status,
                FindingStatus::Accepted | FindingStatus::Suppressed
            )
        {
            self.decided += 1;
            if f.decision
                .as_ref()
                .is_some_and(|d| d.decision == Decision::FixInPosc)
            {
                self.not_done += 1;
            }
            return;
        }
        self.pending += 1;
        if cadence_days.is_some_and(|days| (as_of - f.first_seen).num_days() > days) {
            self.overdue += 1;
        }
    }

    /// Adds what the loop did about one organization's previous review.
    fn add_follow_up(&mut self, f: &FollowUpCounts) {
        self.remediated += f.remediated;
        self.reminded += f.reminded;
        self.escalated += usize::from(f.escalated);
    }
}

/// What the review loop did about one organization's previous review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FollowUpCounts {
    /// Its PID/SLs whose Primary User and backup got a reminder.
    pub reminded: usize,
    /// Its management got the escalation.
    pub escalated: bool,
    /// Its findings whose latest decision is Fix in POSC and that are gone now.
    pub remediated: usize,
}

/// Each organization's [`FollowUpCounts`] (those with something to count), from its previous
/// review's findings (`previous`, see `Store::previous_org_findings`), this run's `current`
/// findings, the latest decisions before this run by fingerprint, and the reminders and
/// escalations about the previous reviews (`Store::follow_ups`): a reminder's PID/SL counts
/// for its organization in `snapshot`, and a follow-up counts only if it is about that
/// organization's previous review and was not given up on (state failed). One pass over each.
pub fn follow_up_counts(
    snapshot: &Snapshot,
    previous: &[FindingRow],
    current: &[FindingRow],
    decisions: &HashMap<String, PriorDecision>,
    follow_ups: &[FollowUp],
) -> HashMap<String, FollowUpCounts> {
    let reviews = previous_reviews(previous);
    let present: HashSet<&str> = current.iter().map(|f| f.fingerprint.as_str()).collect();
    let mut counts: HashMap<String, FollowUpCounts> = HashMap::new();
    for f in previous {
        let fixed = decisions
            .get(&f.fingerprint)
            .is_some_and(|d| d.decision == Decision::FixInPosc);
        if fixed && !present.contains(f.fingerprint.as_str()) {
            counts.entry(f.org_id.clone()).or_default().remediated += 1;
        }
    }
    let mut reminded: HashSet<(&str, &str)> = HashSet::new();
    for up in follow_ups.iter().filter(|u| u.state != OutboxState::Failed) {
        let org_id = match up.kind.as_str() {
            REMINDER_KIND => snapshot
                .pidsl_index(&up.recipient)
                .map(|p| snapshot.org_of_pidsl(p).org_id.as_str()),
            ESCALATION_KIND => Some(up.recipient.as_str()),
            _ => None,
        };
        let Some(org_id) = org_id.filter(|o| reviews.get(o) == Some(&up.run_id.as_str())) else {
            continue;
        };
        let entry = counts.entry(org_id.to_string()).or_default();
        if up.kind == ESCALATION_KIND {
            entry.escalated = true;
        } else if reminded.insert((org_id, up.recipient.as_str())) {
            entry.reminded += 1;
        }
    }
    counts
}

/// Each organization's previous review (its run id), as its previous findings name it: an
/// organization whose previous review found nothing had nothing to follow up.
pub fn previous_reviews(previous: &[FindingRow]) -> HashMap<&str, &str> {
    previous
        .iter()
        .map(|f| (f.org_id.as_str(), f.run_id.as_str()))
        .collect()
}

/// One organization's findings in a run: by severity (most serious first) and by decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgCount {
    pub org_id: String,
    /// The organization's name in the store (may be empty).
    pub name: String,
    pub total: usize,
    /// Every severity, most serious first, zeros included.
    pub by_severity: Vec<SeverityCount>,
    pub decisions: DecisionCounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeverityCount {
    pub severity: Severity,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleCount {
    pub rule: RuleId,
    pub severity: Severity,
    /// What the rule checks, from the rule table.
    pub checks: &'static str,
    pub count: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub new: usize,
    pub open: usize,
    pub accepted: usize,
    pub suppressed: usize,
    pub resolved: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PidSlCount {
    pub pidsl: String,
    /// The PID/SL's name in the store (may be empty).
    pub name: String,
    pub org_id: String,
    pub findings: usize,
}

/// A finding as the summary lists it (never personal data: the same fields as findings.csv).
#[derive(Debug, Clone, Serialize)]
pub struct ListedFinding {
    pub severity: Severity,
    pub rule: RuleId,
    pub status: FindingStatus,
    pub org_id: String,
    pub pidsl: String,
    pub username: String,
    pub user_name: String,
    pub detail: String,
    pub first_seen: NaiveDate,
}

impl From<&FindingRow> for ListedFinding {
    fn from(f: &FindingRow) -> Self {
        ListedFinding {
            severity: f.severity,
            rule: f.rule,
            status: f.status,
            org_id: f.org_id.clone(),
            pidsl: f.pidsl.clone(),
            username: f.username.clone(),
            user_name: f.user_name.clone(),
            detail: f.detail.clone(),
            first_seen: f.first_seen,
        }
    }
}

impl Summary {
    /// The whole run's summary, from all its findings.
    pub fn new(run: &RunRecord, findings: &[FindingRow], snapshot: &Snapshot) -> Summary {
        Summary::build(run, findings, snapshot, &SummaryOptions::default())
    }

    /// A summary of `findings` (all of a run's, or a part of them as `options` says, owned or
    /// borrowed).
    pub fn build<F: std::borrow::Borrow<FindingRow>>(
        run: &RunRecord,
        findings: &[F],
        snapshot: &Snapshot,
        options: &SummaryOptions,
    ) -> Summary {
        let mut by_severity: HashMap<Severity, usize> = HashMap::new();
        let mut by_rule: HashMap<RuleId, usize> = HashMap::new();
        let mut by_pidsl: HashMap<u32, usize> = HashMap::new();
        let mut status = StatusCounts::default();
        let mut decisions = DecisionCounts::default();
        // Per organization: its cadence length (looked up once per organization met: a
        // per-organization summary is made for each of thousands), counts and decisions.
        let mut orgs: HashMap<&str, (Option<i64>, [usize; 4], DecisionCounts)> = HashMap::new();
        for f in findings {
            let f = f.borrow();
            let org = orgs.entry(f.org_id.as_str()).or_insert_with(|| {
                let days = snapshot
                    .org_index(&f.org_id)
                    .map(|i| snapshot.orgs[i as usize].cadence.max_days_between_reviews());
                (days, [0; 4], DecisionCounts::default())
            });
            org.1[SEVERITIES
                .iter()
                .position(|&s| s == f.severity)
                .unwrap_or(3)] += 1;
            org.2.add(f, org.0, run.as_of);
            decisions.add(f, org.0, run.as_of);
            *by_severity.entry(f.severity).or_default() += 1;
            *by_rule.entry(f.rule).or_default() += 1;
            for p in pidsls_of_finding(snapshot, f) {
                *by_pidsl.entry(p).or_default() += 1;
            }
            match f.status {
                FindingStatus::New => status.new += 1,
                FindingStatus::Accepted => status.accepted += 1,
                FindingStatus::Suppressed => status.suppressed += 1,
                FindingStatus::Open | FindingStatus::Resolved => status.open += 1,
            }
        }
        status.resolved = options.resolved.unwrap_or(run.counts.resolved);

        let mut top: Vec<(&str, u32, usize)> = by_pidsl
            .into_iter()
            .map(|(p, count)| (snapshot.pidsl(p).pidsl.as_str(), p, count))
            .collect();
        top.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
        top.truncate(TOP_PIDSLS);
        let top_pidsls = top
            .into_iter()
            .map(|(pidsl, p, count)| PidSlCount {
                pidsl: pidsl.to_string(),
                name: snapshot.pidsl(p).name.clone(),
                org_id: snapshot.org_of_pidsl(p).org_id.clone(),
                findings: count,
            })
            .collect();

        let is_urgent = |f: &&FindingRow| matches!(f.severity, Severity::Critical | Severity::High);
        let mut urgent: Vec<&FindingRow> =
            findings.iter().map(F::borrow).filter(is_urgent).collect();
        let urgent_total = urgent.len();
        // Critical before high; otherwise the findings' own (stable) order.
        urgent.sort_by_key(|f| f.severity != Severity::Critical);
        urgent.truncate(options.max_listed);
        let urgent: Vec<ListedFinding> = urgent.into_iter().map(ListedFinding::from).collect();

        let mut by_org: Vec<OrgCount> = orgs
            .into_iter()
            .map(|(org_id, (_, counts, decisions))| OrgCount {
                org_id: org_id.to_string(),
                name: org_name(snapshot, org_id),
                total: counts.iter().sum(),
                by_severity: SEVERITIES
                    .iter()
                    .zip(counts)
                    .map(|(&severity, count)| SeverityCount { severity, count })
                    .collect(),
                decisions,
            })
            .collect();
        sort_orgs(&mut by_org);

        Summary {
            run_id: run.id.clone(),
            as_of: run.as_of,
            cadence: run.cadence,
            scope: options
                .scope
                .clone()
                .unwrap_or_else(|| describe_scope(run, snapshot)),
            organizations: options
                .organizations
                .unwrap_or_else(|| orgs_in_scope(run, snapshot)),
            total: findings.len(),
            by_severity: SEVERITIES
                .iter()
                .map(|&s| SeverityCount {
                    severity: s,
                    count: by_severity.get(&s).copied().unwrap_or(0),
                })
                .collect(),
            by_rule: RULES
                .iter()
                .map(|r| RuleCount {
                    rule: r.id,
                    severity: r.severity,
                    checks: r.checks,
                    count: by_rule.get(&r.id).copied().unwrap_or(0),
                })
                .collect(),
            status,
            top_pidsls,
            urgent_more: urgent_total - urgent.len(),
            urgent,
            urgent_total,
            decisions,
            by_org,
            trend: Vec::new(),
            user_access_left_out: None,
        }
    }

    /// The count of one severity.
    pub fn severity_count(&self, severity: Severity) -> usize {
        self.by_severity
            .iter()
            .find(|c| c.severity == severity)
            .map_or(0, |c| c.count)
    }

    /// Adds what the review loop did about the previous reviews of the organizations given,
    /// to their rows (an organization without findings now gets one, after those with
    /// findings) and to the totals. Give only the organizations this summary covers.
    pub fn add_follow_ups<'a>(
        &mut self,
        snapshot: &Snapshot,
        follow_ups: impl IntoIterator<Item = (&'a String, &'a FollowUpCounts)>,
    ) {
        let mut position: HashMap<String, usize> = self
            .by_org
            .iter()
            .enumerate()
            .map(|(i, o)| (o.org_id.clone(), i))
            .collect();
        for (org_id, counts) in follow_ups {
            let i = *position.entry(org_id.clone()).or_insert_with(|| {
                self.by_org.push(OrgCount {
                    org_id: org_id.clone(),
                    name: org_name(snapshot, org_id),
                    total: 0,
                    by_severity: SEVERITIES
                        .iter()
                        .map(|&severity| SeverityCount { severity, count: 0 })
                        .collect(),
                    decisions: DecisionCounts::default(),
                });
                self.by_org.len() - 1
            });
            self.by_org[i].decisions.add_follow_up(counts);
            self.decisions.add_follow_up(counts);
        }
        sort_orgs(&mut self.by_org);
    }
}

/// Most findings first, then by org_id.
fn sort_orgs(orgs: &mut [OrgCount]) {
    orgs.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.org_id.cmp(&b.org_id)));
}

/// The organization's name in the store (empty when it has none or is unknown).
fn org_name(snapshot: &Snapshot, org_id: &str) -> String {
    snapshot
        .org_index(org_id)
        .map(|i| snapshot.orgs[i as usize].name.clone())
        .unwrap_or_default()
}

fn run_covers(run: &RunRecord, org: &crate::snapshot::Org) -> bool {
    run.cadence.is_none_or(|c| c == org.cadence)
        && (run.org_ids.is_empty() || run.org_ids.contains(&org.org_id))
}

fn orgs_in_scope(run: &RunRecord, snapshot: &Snapshot) -> usize {
    snapshot.orgs.iter().filter(|o| run_covers(run, o)).count()
}

/// "every organization (4 organizations)", "organizations ORG-A, ORG-B on the quarterly
/// cadence (1 organization)".
fn describe_scope(run: &RunRecord, snapshot: &Snapshot) -> String {
    // Each organization named as the organization's own summary names it: "ORG-B (name)".
    let named = |org_id: &String| match snapshot
        .org_index(org_id)
        .map(|i| snapshot.orgs[i as usize].name.as_str())
    {
        Some(name) if !name.is_empty() => format!("{org_id} ({name})"),
        _ => org_id.clone(),
    };
    let mut text = match run.org_ids.as_slice() {
        [] => "every organization".to_string(),
        [one] => format!("organization {}", named(one)),
        many => format!(
            "organizations {}",
            many.iter().map(named).collect::<Vec<_>>().join(", ")
        ),
    };
    if let Some(cadence) = &run.cadence {
        text.push_str(&format!(" on the {cadence} cadence"));
    }
    let n = orgs_in_scope(run, snapshot);
    text.push_str(&format!(
        " ({n} organization{})",
        if n == 1 { "" } else { "s" }
    ));
    text
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{OrgKind, PidSl, RunStatus};
    use crate::records::{PriorDecision, RunCounts};
    use crate::snapshot::{Org, PidSlRecord};
    use FindingStatus::{Accepted, New, Open};
    use RuleId::{MissingBackup, MissingPrimary, StaleUser};

    pub(crate) fn org(org_id: &str, cadence: Cadence) -> Org {
        Org {
            org_id: org_id.into(),
            name: format!("{org_id} name"),
            kind: OrgKind::Provider,
            cadence,
            management_emails: vec![],
            last_review_on: None,
        }
    }

    pub(crate) fn run(resolved: usize) -> RunRecord {
        RunRecord {
            id: "20261001-001".into(),
            as_of: NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
            cadence: None,
            org_ids: vec![],
            scope_key: "all".into(),
            started_at: "2026-10-01T10:00:00Z".parse().unwrap(),
            finished_at: None,
            status: RunStatus::Running,
            error: None,
            out_dir: None,
            owner: None,
            counts: RunCounts {
                resolved,
                ..RunCounts::default()
            },
        }
    }

    pub(crate) fn finding(
        rule: RuleId,
        org_id: &str,
        pidsl: &str,
        status: FindingStatus,
    ) -> FindingRow {
        FindingRow {
            run_id: "20261001-001".into(),
            fingerprint: format!("{rule}{org_id}{pidsl}"),
            rule,
            severity: rule.severity(),
            status,
            org_id: org_id.into(),
            pidsl: pidsl.into(),
            username: String::new(),
            user_name: String::new(),
            detail: "detail".into(),
            remediation: rule.rule().remediation.into(),
            first_seen: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
            facts: String::new(),
            decision: None,
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            orgs: vec![
                org("ORG-A", Cadence::Quarterly),
                org("ORG-B", Cadence::Annual),
            ],
            pidsls: vec![PidSlRecord {
                pidsl: PidSl::parse("110000001A").unwrap(),
                org: 0,
                name: "Main office".into(),
                provider_type: String::new(),
                active: true,
            }],
            ..Snapshot::default()
        }
    }

    #[test]
    fn every_severity_and_rule_is_counted_zeros_included() {
        let findings = vec![
            finding(MissingBackup, "ORG-A", "110000001A", New),
            finding(MissingBackup, "ORG-A", "110000002A", Open),
            finding(StaleUser, "ORG-B", "", Accepted),
        ];
        let summary = Summary::new(&run(4), &findings, &snapshot());
        assert_eq!(summary.total, 3);
        let severities: Vec<(&str, usize)> = summary
            .by_severity
            .iter()
            .map(|c| (c.severity.as_str(), c.count))
            .collect();
        assert_eq!(
            severities,
            [("critical", 0), ("high", 2), ("medium", 1), ("low", 0)]
        );
        assert_eq!(summary.by_rule.len(), RULES.len());
        let backup = summary
            .by_rule
            .iter()
            .find(|r| r.rule == MissingBackup)
            .unwrap();
        assert_eq!((backup.severity, backup.count), (Severity::High, 2));
        assert_eq!(
            summary.status,
            StatusCounts {
                new: 1,
                open: 1,
                accepted: 1,
                suppressed: 0,
                resolved: 4
            }
        );
        assert_eq!(summary.scope, "every organization (2 organizations)");
    }

    #[test]
    fn a_user_level_finding_belongs_to_the_active_pidsls_of_its_organization_where_the_user_has_access(
    ) {
        use crate::domain::{Role, Services, UserStatus};
        use crate::snapshot::{Access, User};
        let pidsl = |code: &str, org: u32, active: bool| PidSlRecord {
            pidsl: PidSl::parse(code).unwrap(),
            org,
            name: String::new(),
            provider_type: String::new(),
            active,
        };
        let mut snapshot = snapshot();
        snapshot.pidsls = vec![
            pidsl("110000001A", 0, true),
            pidsl("110000002A", 0, false),
            pidsl("110000003A", 1, true),
            pidsl("110000004A", 0, true),
        ];
        snapshot.users = vec![User {
            username: "ann".into(),
            first_name: "Ann".into(),
            last_name: "Able".into(),
            middle_initial: String::new(),
            phone: String::new(),
            email: "ann@a.example".into(),
            org: 0,
            job_role: None,
            status: UserStatus::Active,
            created_on: None,
            last_login_at: None,
            last_login_on: None,
            terms_accepted_on: None,
            terminated_on: None,
            dob_mmdd: None,
            ssn_last4: None,
        }];
        snapshot.access = (0..3)
            .map(|p| Access {
                user: 0,
                pidsl: p,
                role: Role::Subordinate,
                services: Services::parse_list("PORTAL").unwrap(),
                granted_on: None,
                expires_on: None,
            })
            .collect();
        let mut stale = finding(StaleUser, "ORG-A", "", Open);
        stale.username = "Ann".into();
        // Not the inactive 2A, not ORG-B's 3A, not 4A where she has no access.
        assert_eq!(pidsls_of_finding(&snapshot, &stale), [0]);
        let mut overloaded = finding(RuleId::OverloadedPrimary, "ORG-A", "", Open);
        overloaded.username = "ann".into();
        assert!(pidsls_of_finding(&snapshot, &overloaded).is_empty());
        let named = finding(MissingBackup, "ORG-A", "110000002A", Open);
        assert_eq!(pidsls_of_finding(&snapshot, &named), [1]);
        let summary = Summary::new(&run(0), &[stale, named], &snapshot);
        let counts: Vec<(&str, usize)> = summary
            .top_pidsls
            .iter()
            .map(|p| (p.pidsl.as_str(), p.findings))
            .collect();
        assert_eq!(counts, [("110000001A", 1), ("110000002A", 1)]);
    }

    #[test]
    fn top_pidsls_are_the_ten_with_most_findings_with_their_names() {
        let mut findings = Vec::new();
        for i in 1..=12u32 {
            let pidsl = format!("1100000{i:02}A");
            for _ in 0..i {
                findings.push(finding(MissingBackup, "ORG-A", &pidsl, New));
            }
        }
        for _ in 0..20 {
            findings.push(finding(StaleUser, "ORG-A", "", New));
        }
        findings.push(finding(MissingBackup, "ORG-A", "110000001A", New));
        let mut snapshot = snapshot();
        snapshot.pidsls = (1..=12u32)
            .map(|i| PidSlRecord {
                pidsl: PidSl::parse(&format!("1100000{i:02}A")).unwrap(),
                org: 0,
                name: format!("Office {i}"),
                provider_type: String::new(),
                active: true,
            })
            .collect();
        let summary = Summary::new(&run(0), &findings, &snapshot);
        assert_eq!(summary.top_pidsls.len(), TOP_PIDSLS);
        assert_eq!(summary.top_pidsls[0].pidsl, "110000012A");
        assert_eq!(summary.top_pidsls[0].findings, 12);
        assert_eq!(summary.top_pidsls[0].name, "Office 12");
        assert_eq!(summary.top_pidsls[0].org_id, "ORG-A");
        assert!(summary.top_pidsls.iter().all(|p| !p.pidsl.is_empty()));
        assert!(summary
            .top_pidsls
            .iter()
            .all(|p| p.pidsl != "110000001A" && p.pidsl != "110000002A"));
    }

    #[test]
    fn critical_and_high_findings_are_capped_and_the_rest_counted() {
        let mut findings: Vec<FindingRow> = (0..5)
            .map(|i| finding(MissingBackup, "ORG-A", &format!("11000000{i}A"), New))
            .collect();
        findings.push(finding(MissingPrimary, "ORG-A", "110000009A", New));
        findings.push(finding(StaleUser, "ORG-A", "", New));
        let options = SummaryOptions {
            max_listed: 3,
            ..SummaryOptions::default()
        };
        let summary = Summary::build(&run(0), &findings, &snapshot(), &options);
        assert_eq!(summary.urgent_total, 6);
        assert_eq!(summary.urgent.len(), 3);
        assert_eq!(summary.urgent_more, 3);
        assert_eq!(summary.urgent[0].rule, MissingPrimary);
    }

    #[test]
    fn an_organization_summary_names_it_and_takes_its_own_resolved_count() {
        let options = SummaryOptions::for_org(&snapshot(), "ORG-B", 2);
        let summary = Summary::build::<FindingRow>(&run(9), &[], &snapshot(), &options);
        assert_eq!(summary.scope, "organization ORG-B (ORG-B name)");
        assert_eq!(summary.organizations, 1);
        assert_eq!(summary.status.resolved, 2);
    }

    #[test]
    fn the_scope_of_a_run_of_named_organizations_gives_their_names() {
        let mut r = run(0);
        r.org_ids = vec!["ORG-A".into(), "ORG-B".into()];
        let summary = Summary::new(&r, &[], &snapshot());
        assert_eq!(
            summary.scope,
            "organizations ORG-A (ORG-A name), ORG-B (ORG-B name) (2 organizations)"
        );
    }

    fn prior(decision: crate::domain::Decision) -> PriorDecision {
        PriorDecision {
            decision,
            justification: "why".into(),
            reviewer: "carol".into(),
            decided_at: "2026-10-02T10:00:00Z".parse().unwrap(),
            accepted_until: None,
            facts: String::new(),
        }
    }

    fn follow_up(run_id: &str, kind: &str, recipient: &str, state: OutboxState) -> FollowUp {
        FollowUp {
            run_id: run_id.into(),
            kind: kind.into(),
            recipient: recipient.into(),
            state,
            created_at: "2026-10-15T10:00:00Z".parse().unwrap(),
        }
    }

    /// Remediated: gone now and decided Fix in POSC; reminded: the organization's PID/SLs
    /// reminded about its own previous review, once each, a failed reminder not; escalated.
    #[test]
    fn follow_ups_count_for_each_organization_its_own_previous_review() {
        use crate::domain::Decision::{AcceptRisk, FixInPosc};
        let mut snapshot = snapshot();
        snapshot.pidsls.push(PidSlRecord {
            pidsl: PidSl::parse("110000002A").unwrap(),
            org: 1,
            name: String::new(),
            provider_type: String::new(),
            active: true,
        });
        let mut previous = vec![
            finding(MissingBackup, "ORG-A", "110000001A", Open),
            finding(MissingPrimary, "ORG-A", "110000001A", Open),
            finding(StaleUser, "ORG-A", "", Open),
            finding(MissingBackup, "ORG-B", "110000002A", New),
        ];
        previous[3].run_id = "20260901-001".into();
        let current = vec![finding(MissingPrimary, "ORG-A", "110000001A", Open)];
        let decisions = HashMap::from([
            (previous[0].fingerprint.clone(), prior(FixInPosc)),
            (previous[1].fingerprint.clone(), prior(FixInPosc)),
            (previous[2].fingerprint.clone(), prior(AcceptRisk)),
            (previous[3].fingerprint.clone(), prior(FixInPosc)),
        ]);
        let ups = [
            follow_up(
                "20261001-001",
                REMINDER_KIND,
                "110000001A",
                OutboxState::Sent,
            ),
            follow_up(
                "20261001-001",
                REMINDER_KIND,
                "110000001A",
                OutboxState::Pending,
            ),
            follow_up("20261001-001", ESCALATION_KIND, "ORG-A", OutboxState::Sent),
            // ORG-B's previous review is another run; a failed reminder was not received.
            follow_up("20261001-001", ESCALATION_KIND, "ORG-B", OutboxState::Sent),
            follow_up(
                "20260901-001",
                REMINDER_KIND,
                "110000002A",
                OutboxState::Failed,
            ),
            follow_up(
                "20260901-001",
                REMINDER_KIND,
                "110099999A",
                OutboxState::Sent,
            ),
        ];
        let counts = follow_up_counts(&snapshot, &previous, &current, &decisions, &ups);
        assert_eq!(
            counts["ORG-A"],
            FollowUpCounts {
                reminded: 1,
                escalated: true,
                remediated: 1
            }
        );
        assert_eq!(
            counts["ORG-B"],
            FollowUpCounts {
                reminded: 0,
                escalated: false,
                remediated: 1
            }
        );
        assert_eq!(counts.len(), 2);

        // Added to the summary: ORG-A's row and the totals; ORG-B, without findings now, gets
        // a row after it.
        let mut now = current.clone();
        now[0].decision = Some(prior(FixInPosc));
        let mut summary = Summary::new(&run(0), &now, &snapshot);
        summary.add_follow_ups(&snapshot, &counts);
        let d = &summary.decisions;
        assert_eq!(
            (
                d.decided,
                d.pending,
                d.not_done,
                d.remediated,
                d.reminded,
                d.escalated
            ),
            (1, 0, 1, 2, 1, 1)
        );
        let orgs: Vec<(&str, usize, usize, usize)> = summary
            .by_org
            .iter()
            .map(|o| {
                (
                    o.org_id.as_str(),
                    o.total,
                    o.decisions.remediated,
                    o.decisions.escalated,
                )
            })
            .collect();
        assert_eq!(orgs, [("ORG-A", 1, 1, 1), ("ORG-B", 0, 1, 0)]);
        assert_eq!(summary.by_org[1].name, "ORG-B name");
    }

    #[test]
    fn the_scope_of_a_cadence_run_counts_its_organizations() {
        let mut r = run(0);
        r.cadence = Some(Cadence::Quarterly);
        let summary = Summary::new(&r, &[], &snapshot());
        assert_eq!(
            summary.scope,
            "every organization on the quarterly cadence (1 organization)"
        );
    }
}
