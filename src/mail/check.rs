//! The templates' start check: before a review starts, the summary page and every kind of
//! message are rendered once, by the same code as a run's, from a small made-up run (one
//! organization; a PID/SL with a Primary User and one without; findings of every status, one
//! resolved). A template that compiles but fails to render (an unknown variable or filter, a
//! loop that runs out of fuel) stops the review before it starts, not halfway through a
//! statewide run's messages.

use super::compose::{compose_run_mail, MailOut, OrgProblem, RunMail};
use crate::clock::SharedClock;
use crate::config::MailSettings;
use crate::domain::{
    Cadence, FindingStatus, OrgKind, PidSl, Role, RuleId, RunStatus, Services, UserStatus,
};
use crate::error::UsageError;
use crate::records::{FindingRow, RunCounts, RunRecord, TrendPoint};
use crate::report::html::render_summary;
use crate::report::summary::Summary;
use crate::snapshot::{Access, Org, PidSlRecord, Snapshot, User};
use crate::templates::Templates;
use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// The templates of `mail.template_dir`, checked ([`check_templates`]) before anything is
/// reviewed or sent: a broken template (or, with `send`, a mail configuration that cannot
/// work: a bad from, no password) is a usage error.
pub fn checked_templates(
    settings: &crate::config::Settings,
    send: bool,
    clock: &SharedClock,
) -> anyhow::Result<Templates> {
    let template_error = |e: anyhow::Error| UsageError(format!("mail.template_dir: {e:#}"));
    let templates = Templates::load(&settings.mail.template_dir).map_err(template_error)?;
    check_templates(&templates, &settings.mail, settings.review.time_zone, clock).map_err(|e| {
        // A full disk or an unwritable temporary folder is a failure, not a bad template.
        if e.chain().any(|cause| cause.is::<std::io::Error>()) {
            e.context("the template check could not write its sample run")
        } else {
            template_error(e).into()
        }
    })?;
    if send {
        super::Smtp::new(&settings.smtp, &settings.mail.from)
            .map_err(|e| UsageError(format!("{e:#}")))?;
    }
    Ok(templates)
}

/// Renders every template against the sample run, started now; the error names the template.
pub fn check_templates(
    templates: &Templates,
    mail_settings: &MailSettings,
    zone: Tz,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let now = clock.now();
    let (snapshot, run, findings, previous) = sample(now);
    // An organization without a report, so that the page's section for them renders too.
    let problems = [OrgProblem {
        org_id: "ORG-B".into(),
        error: "a sample problem".into(),
    }];
    // A trend of two points, so that the page's chart renders; and a second organization in
    // scope, so that the per-organization table does too.
    let trend = sample_trend(&run, &findings);
    let mut summary = Summary::new(&run, &findings, &snapshot);
    summary.trend = trend.clone();
    summary.organizations = 2;
    render_summary(templates, &summary, &problems)?;
    let trends = std::collections::HashMap::from([("SAMPLE".to_string(), trend)]);
    // Every follow-up, so that each count renders.
    let follow_ups = std::collections::HashMap::from([(
        "SAMPLE".to_string(),
        crate::report::summary::FollowUpCounts {
            reminded: 1,
            escalated: true,
            remediated: 1,
        },
    )]);
    let dir = tempfile::tempdir().context("cannot create a folder for the template check")?;
    let mail = dir.path().join("mail");
    let (_, problems) = compose_run_mail(&RunMail {
        mail: mail_settings,
        zone,
        date: now,
        store_id: "0000000000000000",
        templates,
        run: &run,
        findings: &findings,
        previous: &previous,
        follow_ups: &follow_ups,
        snapshot: &snapshot,
        in_scope: &[true],
        trends: &trends,
        dir: dir.path(),
        out: MailOut::Eml(&mail),
        progress: None,
        cost: &Default::default(),
    })?;
    // A run gives an organization whose messages fail no report and goes on; here it is the
    // template's fault, for every organization alike.
    if let Some(problem) = problems.into_iter().next() {
        anyhow::bail!(problem.error);
    }
    check_follow_ups(
        templates,
        mail_settings,
        now,
        &snapshot,
        &run,
        &findings,
        &mail,
    )
}

/// Renders a reminder for each of the sample's PID/SLs (one has no Primary User, so its
/// reminder goes to management) and an escalation, as on the escalation day.
fn check_follow_ups(
    templates: &Templates,
    mail_settings: &MailSettings,
    now: DateTime<Utc>,
    snapshot: &Snapshot,
    run: &RunRecord,
    findings: &[FindingRow],
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    use crate::remind::{compose_org, OrgDue, Steps};
    let review = crate::records::OrgReview {
        org_id: "SAMPLE".into(),
        run_id: run.id.clone(),
        as_of: run.as_of,
    };
    let steps = Steps {
        remind: 14,
        escalate: 30,
    };
    let mut pidsls: Vec<(u32, Vec<&FindingRow>)> = vec![(0, Vec::new()), (1, Vec::new())];
    for f in findings {
        if let Some(p) = snapshot.pidsl_index(&f.pidsl) {
            pidsls[p as usize].1.push(f);
        }
    }
    let due = OrgDue {
        review: &review,
        org: 0,
        days: steps.escalate,
        pidsls,
    };
    let sender = super::compose::Sender {
        mail: mail_settings,
        date: now,
        store_id: "0000000000000000",
        templates,
        run_id: &run.id,
        cost: &Default::default(),
    };
    let mut writer = super::compose::MessageWriter::new(MailOut::Eml(dir), 0)?;
    let mut mails = Vec::new();
    compose_org(
        &sender,
        steps,
        snapshot,
        &due,
        &Default::default(),
        &mut writer,
        &mut mails,
    )?;
    writer.finish()
}

/// The sample's trend: a review 91 days before, then this run.
fn sample_trend(run: &RunRecord, findings: &[FindingRow]) -> Vec<TrendPoint> {
    let mut before = crate::store::open_counts(findings);
    before.values_mut().for_each(|n| *n += 1);
    vec![
        TrendPoint {
            run_id: "20260702-001".into(),
            as_of: run.as_of - chrono::Duration::days(91),
            open: before,
        },
        TrendPoint {
            run_id: run.id.clone(),
            as_of: run.as_of,
            open: crate::store::open_counts(findings),
        },
    ]
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid sample date")
}

fn user(username: &str, terminated_on: Option<NaiveDate>) -> User {
    User {
        username: username.into(),
        first_name: username.into(),
        last_name: "Sample".into(),
        middle_initial: String::new(),
        phone: String::new(),
        email: format!("{username}@sample.example"),
        org: 0,
        job_role: None,
        status: UserStatus::Active,
        created_on: Some(date(2020, 1, 1)),
        last_login_at: Some("2026-09-30".into()),
        last_login_on: Some(date(2026, 9, 30)),
        terms_accepted_on: Some(date(2020, 1, 1)),
        terminated_on,
        dob_mmdd: None,
        ssn_last4: None,
    }
}

fn pidsl(code: &str) -> PidSlRecord {
    PidSlRecord {
        pidsl: PidSl::parse(code).expect("a valid sample PID/SL"),
        org: 0,
        name: format!("Site {code}"),
        provider_type: "group_practice".into(),
        active: true,
    }
}

fn access(user: u32, pidsl: u32, role: Role) -> Access {
    Access {
        user,
        pidsl,
        role,
        services: Services::parse_list("PORTAL;ELIGIBILITY").expect("sample services"),
        granted_on: None,
        expires_on: None,
    }
}

fn finding(rule: RuleId, pidsl: &str, username: &str, status: FindingStatus) -> FindingRow {
    FindingRow {
        run_id: "20261001-001".into(),
        fingerprint: format!("{rule}:{pidsl}:{username}"),
        rule,
        severity: rule.severity(),
        status,
        org_id: "SAMPLE".into(),
        pidsl: pidsl.into(),
        username: username.into(),
        user_name: if username.is_empty() {
            String::new()
        } else {
            format!("{username} Sample")
        },
        detail: format!("sample {rule}"),
        remediation: rule.rule().remediation.to_string(),
        first_seen: date(2026, 7, 1),
        facts: String::new(),
        decision: None,
    }
}

/// The sample run, started at `now`: its snapshot, the run, its findings and the previous
/// run's.
fn sample(now: DateTime<Utc>) -> (Snapshot, RunRecord, Vec<FindingRow>, Vec<FindingRow>) {
    let snapshot = Snapshot {
        orgs: vec![Org {
            org_id: "SAMPLE".into(),
            name: "Sample Clinic".into(),
            kind: OrgKind::Provider,
            cadence: Cadence::Quarterly,
            management_emails: vec!["compliance@sample.example".into()],
            last_review_on: Some(date(2026, 7, 1)),
        }],
        pidsls: vec![pidsl("110000001A"), pidsl("110000002A")],
        users: vec![user("ann", None), user("bob", Some(date(2026, 9, 1)))],
        access: vec![
            access(0, 0, Role::Primary),
            access(1, 0, Role::Subordinate),
            access(1, 1, Role::Subordinate),
        ],
        last_run_on: vec![Some(date(2026, 7, 1))],
        ..Snapshot::default()
    };
    let run = RunRecord {
        id: "20261001-001".into(),
        as_of: date(2026, 10, 1),
        cadence: None,
        org_ids: vec![],
        scope_key: "all".into(),
        started_at: now,
        finished_at: None,
        status: RunStatus::Running,
        error: None,
        out_dir: None,
        owner: None,
        counts: RunCounts {
            resolved: 1,
            ..RunCounts::default()
        },
    };
    use FindingStatus::{Accepted, New, Open};
    let findings = vec![
        finding(RuleId::TerminatedUserAccess, "110000001A", "bob", New),
        finding(RuleId::MissingBackup, "110000001A", "", Open),
        finding(RuleId::MissingPrimary, "110000002A", "", New),
        finding(RuleId::StaleUser, "", "bob", Accepted),
        finding(RuleId::ReviewOverdue, "", "", Open),
    ];
    let previous = vec![finding(
        RuleId::MissingPortalServices,
        "110000001A",
        "ann",
        Open,
    )];
    (snapshot, run, findings, previous)
}
