use super::*;
use crate::domain::CronExpr;
use crate::store::RunCounts;

fn zone() -> Tz {
    "America/New_York".parse().unwrap()
}

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The default schedule: 06:00 local on the first day of each quarter, half and year.
fn schedules() -> Vec<CadenceSchedule> {
    [
        (Cadence::Quarterly, "0 0 6 1 1,4,7,10 *"),
        (Cadence::Semiannual, "0 0 6 1 1,7 *"),
        (Cadence::Annual, "0 0 6 1 1 *"),
    ]
    .into_iter()
    .map(|(c, e)| CadenceSchedule::new(c, CronExpr::parse(e).unwrap(), zone()))
    .collect()
}

/// quarterly:2026-Q4 fell due at 2026-10-01 06:00 EDT, semiannual:2026-H2 at 2026-07-01 06:00
/// EDT, annual:2026 at 2026-01-01 06:00 EST.
const NOW: &str = "2026-11-29T14:00:00Z";
const Q4_DUE: &str = "2026-10-01T10:00:00Z";
const H2_DUE: &str = "2026-07-01T10:00:00Z";
const YEAR_DUE: &str = "2026-01-01T11:00:00Z";

fn run(id: &str, cadence: Cadence, started: &str, status: RunStatus) -> RunRecord {
    RunRecord {
        id: id.into(),
        as_of: t(started).date_naive(),
        cadence: Some(cadence),
        org_ids: Vec::new(),
        scope_key: format!("cadence:{cadence}"),
        started_at: t(started),
        finished_at: (status != RunStatus::Running)
            .then(|| t(started) + chrono::Duration::minutes(2)),
        status,
        error: (status == RunStatus::Failed).then(|| "disk full".to_string()),
        out_dir: None,
        counts: RunCounts::default(),
        owner: None,
    }
}

fn claim(key: &str, cadence: Cadence, due: &str, state: ClaimState, run_id: &str) -> ClaimRecord {
    ClaimRecord {
        period_key: key.into(),
        cadence,
        due_at: t(due),
        state,
        owner: "reviewhost:4242:0000abcd".into(),
        run_id: Some(run_id.into()),
        attempts: 1,
        claimed_at: t(due),
        heartbeat_at: t(due) + chrono::Duration::minutes(2),
        finished_at: (state == ClaimState::Completed || state == ClaimState::Failed)
            .then(|| t(due) + chrono::Duration::minutes(2)),
        error: (state == ClaimState::Failed).then(|| "disk full".to_string()),
    }
}

/// A store made at the start of 2025 whose scheduler reviewed each current period on time.
fn healthy() -> Observed {
    Observed {
        now: t(NOW),
        info: StoreInfo {
            store_id: "0123456789abcdef".into(),
            created_at: t("2025-01-01T00:00:00Z"),
            last_import_at: Some(t("2026-11-29T12:00:00Z")),
        },
        counts: AccountCounts {
            organizations: 4,
            pidsls: 6,
            users: 30,
            access: 41,
        },
        runs: vec![
            run(
                "20261001-001",
                Cadence::Quarterly,
                Q4_DUE,
                RunStatus::Completed,
            ),
            run(
                "20260701-001",
                Cadence::Semiannual,
                H2_DUE,
                RunStatus::Completed,
            ),
            run(
                "20260101-001",
                Cadence::Annual,
                YEAR_DUE,
                RunStatus::Completed,
            ),
        ],
        claims: vec![
            claim(
                "quarterly:2026-Q4",
                Cadence::Quarterly,
                Q4_DUE,
                ClaimState::Completed,
                "20261001-001",
            ),
            claim(
                "semiannual:2026-H2",
                Cadence::Semiannual,
                H2_DUE,
                ClaimState::Completed,
                "20260701-001",
            ),
            claim(
                "annual:2026",
                Cadence::Annual,
                YEAR_DUE,
                ClaimState::Completed,
                "20260101-001",
            ),
        ],
        mail: Undelivered::default(),
    }
}

fn assess_it(observed: &Observed) -> Status {
    assess(observed, &schedules(), 24, zone())
}

fn kinds(status: &Status) -> Vec<ProblemKind> {
    status.problems.iter().map(|p| p.kind).collect()
}

fn quarterly(status: &Status) -> &CadenceStatus {
    &status.cadences[0]
}

#[test]
fn a_store_whose_periods_were_all_reviewed_is_healthy() {
    let status = assess_it(&healthy());
    assert!(status.healthy, "{:?}", status.problems);
    assert!(status.problems.is_empty());
    let q = quarterly(&status);
    assert_eq!(q.last_run.as_ref().unwrap().id, "20261001-001");
    let period = q.period.as_ref().unwrap();
    assert_eq!(period.key, "quarterly:2026-Q4");
    assert_eq!(period.state, PeriodState::Reviewed);
    assert_eq!(q.next_due_at, Some(t("2027-01-01T11:00:00Z")));
}

#[test]
fn a_failed_last_run_needs_attention_and_names_its_period_and_the_command() {
    let mut observed = healthy();
    observed.runs.insert(
        0,
        run(
            "20261129-001",
            Cadence::Quarterly,
            "2026-11-29T13:00:00Z",
            RunStatus::Failed,
        ),
    );
    observed.claims[0] = claim(
        "quarterly:2026-Q4",
        Cadence::Quarterly,
        Q4_DUE,
        ClaimState::Failed,
        "20261129-001",
    );
    let status = assess_it(&observed);
    // The failed claim of the same run is said once.
    assert_eq!(kinds(&status), [ProblemKind::RunFailed]);
    let message = &status.problems[0].message;
    assert!(
        message.starts_with(
            "the quarterly review of quarterly:2026-Q4 (run 20261129-001) failed: disk full;"
        ),
        "{message}"
    );
    assert!(
        message.contains("`posc-review review --cadence quarterly --send`"),
        "{message}"
    );
    assert!(!status.healthy);
}

#[test]
fn a_failed_run_followed_by_a_completed_one_is_not_a_problem() {
    let mut observed = healthy();
    observed.runs.insert(
        0,
        run(
            "20261001-001",
            Cadence::Quarterly,
            Q4_DUE,
            RunStatus::Failed,
        ),
    );
    observed.runs.insert(
        0,
        run(
            "20261001-002",
            Cadence::Quarterly,
            "2026-10-01T11:00:00Z",
            RunStatus::Completed,
        ),
    );
    assert!(assess_it(&observed).healthy);
}

#[test]
fn a_failed_manual_run_of_a_cadence_names_the_command_to_run_again() {
    let mut observed = healthy();
    observed.runs.insert(
        0,
        run(
            "20261129-002",
            Cadence::Annual,
            "2026-11-29T13:00:00Z",
            RunStatus::Failed,
        ),
    );
    let status = assess_it(&observed);
    assert_eq!(kinds(&status), [ProblemKind::RunFailed]);
    assert!(status.problems[0].message.starts_with("the last annual review (run 20261129-002, started 2026-11-29 08:00:00 EST) failed: disk full"));
}

#[test]
fn a_period_due_more_than_fifteen_minutes_ago_without_a_review_is_overdue() {
    let mut observed = healthy();
    observed.claims.remove(0);
    observed.runs.remove(0);
    let status = assess_it(&observed);
    assert_eq!(kinds(&status), [ProblemKind::PeriodOverdue]);
    assert_eq!(
        quarterly(&status).period.as_ref().unwrap().state,
        PeriodState::Overdue
    );
    let message = &status.problems[0].message;
    assert!(
        message.starts_with("the quarterly review of quarterly:2026-Q4 was due at 2026-10-01 06:00:00 EDT (59 d ago) and has not completed"),
        "{message}"
    );
}

#[test]
fn a_period_due_ten_minutes_ago_is_not_overdue_yet() {
    let mut observed = healthy();
    observed.claims.remove(0);
    observed.runs.remove(0);
    observed.now = t(Q4_DUE) + chrono::Duration::minutes(10);
    let status = assess_it(&observed);
    assert!(status.healthy, "{:?}", status.problems);
    assert_eq!(
        quarterly(&status).period.as_ref().unwrap().state,
        PeriodState::Due
    );
    observed.now = t(Q4_DUE) + chrono::Duration::minutes(16);
    assert_eq!(kinds(&assess_it(&observed)), [ProblemKind::PeriodOverdue]);
}

#[test]
fn a_new_store_is_not_blamed_for_periods_before_it_existed() {
    let mut observed = healthy();
    observed.info.created_at = t("2026-11-28T00:00:00Z");
    observed.claims.clear();
    observed.runs.clear();
    let status = assess_it(&observed);
    assert!(status.healthy, "{:?}", status.problems);
    assert!(status
        .cadences
        .iter()
        .all(|c| c.period.as_ref().unwrap().state == PeriodState::BeforeStore));
}

#[test]
fn a_completed_run_of_the_cadence_after_the_due_instant_reviews_the_period() {
    let mut observed = healthy();
    observed.claims.remove(0);
    observed.runs[0] = run(
        "20261002-001",
        Cadence::Quarterly,
        "2026-10-02T12:00:00Z",
        RunStatus::Completed,
    );
    let status = assess_it(&observed);
    assert!(status.healthy, "{:?}", status.problems);
    let period = quarterly(&status).period.clone().unwrap();
    assert_eq!(
        (period.state, period.run_id.as_deref()),
        (PeriodState::Reviewed, Some("20261002-001"))
    );
    // One started before the period fell due does not.
    observed.runs[0] = run(
        "20260930-001",
        Cadence::Quarterly,
        "2026-09-30T12:00:00Z",
        RunStatus::Completed,
    );
    assert_eq!(kinds(&assess_it(&observed)), [ProblemKind::PeriodOverdue]);
}

#[test]
fn a_live_running_claim_is_in_progress_and_a_dead_one_needs_attention() {
    let mut observed = healthy();
    observed.runs[0] = run(
        "20261129-001",
        Cadence::Quarterly,
        "2026-11-29T13:58:00Z",
        RunStatus::Running,
    );
    let mut running = claim(
        "quarterly:2026-Q4",
        Cadence::Quarterly,
        Q4_DUE,
        ClaimState::Running,
        "20261129-001",
    );
    running.heartbeat_at = t(NOW) - chrono::Duration::seconds(20);
    observed.claims[0] = running.clone();
    let status = assess_it(&observed);
    assert!(status.healthy, "{:?}", status.problems);
    assert_eq!(
        quarterly(&status).period.as_ref().unwrap().state,
        PeriodState::InProgress
    );
    assert!(!status.claims[0].stale);

    running.heartbeat_at = t(NOW) - chrono::Duration::minutes(10);
    observed.claims[0] = running;
    let status = assess_it(&observed);
    // The dead claim is named once, not again as an overdue period.
    assert_eq!(kinds(&status), [ProblemKind::ClaimStale]);
    assert!(status.claims[0].stale);
    let message = &status.problems[0].message;
    assert!(message.contains("quarterly:2026-Q4 (run 20261129-001) has had no heartbeat since 2026-11-29 08:50:00 EST (10 min ago)"), "{message}");
    assert!(message.contains("reviewhost:4242:0000abcd"), "{message}");
    assert_eq!(
        quarterly(&status).period.as_ref().unwrap().state,
        PeriodState::Overdue
    );
}

#[test]
fn a_failed_claim_needs_attention_until_a_later_review_of_its_cadence_completes() {
    let mut observed = healthy();
    observed.claims.push(claim(
        "quarterly:2026-Q3",
        Cadence::Quarterly,
        "2026-07-01T10:00:00Z",
        ClaimState::Failed,
        "20260701-009",
    ));
    // Its period was superseded: quarterly:2026-Q4 completed since.
    let status = assess_it(&observed);
    assert!(status.healthy, "{:?}", status.problems);
    assert!(status.claims[0].superseded);

    // The current period's claim failed before a run was recorded.
    let mut failed = claim(
        "quarterly:2026-Q4",
        Cadence::Quarterly,
        Q4_DUE,
        ClaimState::Failed,
        "x",
    );
    failed.run_id = None;
    failed.error = Some("cannot load the snapshot".into());
    observed.claims[0] = failed;
    observed.runs.remove(0);
    let status = assess_it(&observed);
    assert_eq!(kinds(&status), [ProblemKind::ClaimFailed]);
    assert!(status.problems[0].message.starts_with("the quarterly review of quarterly:2026-Q4 failed: cannot load the snapshot; the scheduler retries it at its next start, or run `posc-review review --cadence quarterly --send`"));
}

#[test]
fn mail_failed_for_good_needs_attention() {
    let mut observed = healthy();
    observed.mail.failed = 2;
    let status = assess_it(&observed);
    assert_eq!(kinds(&status), [ProblemKind::MailFailed]);
    assert!(status.problems[0]
        .message
        .starts_with("2 messages failed for good"));
    assert!(status.problems[0]
        .message
        .contains("posc-review send --retry-failed"));
    observed.mail.failed = 0;
    assert!(assess_it(&observed).healthy);
}

#[test]
fn mail_pending_past_the_alert_threshold_needs_attention_and_younger_mail_does_not() {
    let mut observed = healthy();
    observed.mail.pending = 3;
    observed.mail.oldest_pending_at = Some(t(NOW) - chrono::Duration::hours(23));
    let status = assess_it(&observed);
    assert!(status.healthy, "{:?}", status.problems);
    assert_eq!(status.outbox.oldest_pending_age_secs, Some(23 * 3600));

    observed.mail.oldest_pending_at = Some(t(NOW) - chrono::Duration::hours(25));
    let status = assess_it(&observed);
    assert_eq!(kinds(&status), [ProblemKind::MailPending]);
    let message = &status.problems[0].message;
    assert!(message.starts_with("3 messages are undelivered, the oldest queued at 2026-11-28 08:00:00 EST (25 h ago), more than mail.alert_pending_hours (24 h) ago"), "{message}");
}

#[test]
fn ages_are_rounded_down_to_a_readable_unit() {
    let now = t(NOW);
    let secs = chrono::Duration::seconds;
    assert_eq!(age(now, now), "now");
    assert_eq!(age(now - secs(42), now), "42 s ago");
    assert_eq!(age(now - secs(3 * 3600 + 59), now), "3 h ago");
    assert_eq!(age(now + secs(33 * 86_400 + 5), now), "in 33 d");
    assert_eq!(age(now - secs(150), now), "2 min ago");
}

#[test]
fn the_text_shows_local_times_with_ages_and_the_verdict() {
    let mut observed = healthy();
    observed.mail.failed = 1;
    let text = text(&assess_it(&observed), zone(), "sqlite://posc-review.db");
    assert!(
        text.starts_with(
            "posc-review status at 2026-11-29 09:00:00 EST: 1 problem needs attention"
        ),
        "{text}"
    );
    assert!(
        text.contains("last import  2026-11-29 07:00:00 EST (2 h ago)"),
        "{text}"
    );
    assert!(
        text.contains("next due   2027-01-01 06:00:00 EST (in 32 d)"),
        "{text}"
    );
    assert!(text.contains("  - 1 message failed for good"), "{text}");
}

#[test]
fn json_shows_the_instants_in_the_zone() {
    let status = assess_it(&healthy());
    let json: serde_json::Value =
        serde_json::from_str(&crate::output::json_in_zone(&status, zone()).unwrap()).unwrap();
    assert_eq!(json["healthy"], true);
    assert_eq!(json["checked_at"], "2026-11-29T09:00:00-05:00");
    assert_eq!(
        json["cadences"][0]["period"]["due_at"],
        "2026-10-01T06:00:00-04:00"
    );
    assert_eq!(json["cadences"][0]["period"]["state"], "reviewed");
    assert_eq!(json["store"]["last_import_at"], "2026-11-29T07:00:00-05:00");
}

// ---------------------------------------------------------------- Prometheus

#[test]
fn every_metric_family_has_help_and_type_and_the_prefix() {
    let text = prometheus(&assess_it(&healthy()));
    let mut declared = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            declared.push(rest.split(' ').next().unwrap().to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            assert_eq!(rest, format!("{} gauge", declared.last().unwrap()));
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(name.starts_with("posc_review_"), "{line}");
            assert_eq!(
                Some(name),
                declared.last().map(String::as_str),
                "{line}: sample before its HELP"
            );
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok_and(f64::is_finite), "{line}");
        }
    }
    assert!(text.ends_with('\n'));
    assert!(text.contains("posc_review_healthy 1\n"), "{text}");
    assert!(text.contains("posc_review_problems 0\n"), "{text}");
    assert!(
        text.contains("posc_review_store_rows{table=\"access\"} 41\n"),
        "{text}"
    );
    assert!(
        text.contains("posc_review_last_run_success{cadence=\"quarterly\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("posc_review_last_run_timestamp_seconds{cadence=\"quarterly\"} 1790848800\n"),
        "{text}"
    );
    assert!(
        text.contains("posc_review_next_due_timestamp_seconds{cadence=\"annual\"} 1798801200\n"),
        "{text}"
    );
    assert!(
        text.contains("posc_review_period_overdue{cadence=\"semiannual\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("posc_review_claims{state=\"completed\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("posc_review_outbox_messages{state=\"failed\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("posc_review_last_import_timestamp_seconds 1795953600\n"),
        "{text}"
    );
}

#[test]
fn a_metric_without_a_value_is_left_out_not_written_as_zero() {
    let mut observed = healthy();
    observed.info.last_import_at = None;
    observed.runs.retain(|r| r.cadence != Some(Cadence::Annual));
    observed.runs.insert(
        0,
        run(
            "20261129-001",
            Cadence::Quarterly,
            "2026-11-29T13:59:00Z",
            RunStatus::Running,
        ),
    );
    let text = prometheus(&assess_it(&observed));
    assert!(
        !text.contains("posc_review_last_import_timestamp_seconds"),
        "{text}"
    );
    assert!(
        !text.contains("last_run_timestamp_seconds{cadence=\"annual\"}"),
        "{text}"
    );
    assert!(
        !text.contains("last_run_success{cadence=\"annual\"}"),
        "{text}"
    );
    // A run in progress has no success yet.
    assert!(
        !text.contains("last_run_success{cadence=\"quarterly\"}"),
        "{text}"
    );
    assert!(
        text.contains("last_run_success{cadence=\"semiannual\"} 1"),
        "{text}"
    );
    // Nothing waits in the outbox: no oldest age, not 0 or NaN.
    assert!(
        !text.contains("outbox_oldest_pending_age_seconds"),
        "{text}"
    );
    assert!(!text.contains("NaN"), "{text}");
}

#[test]
fn attention_shows_in_the_metrics() {
    let mut observed = healthy();
    observed.claims.remove(0);
    observed.runs.remove(0);
    observed.mail.pending = 1;
    observed.mail.oldest_pending_at = Some(t(NOW) - chrono::Duration::seconds(90));
    let text = prometheus(&assess_it(&observed));
    assert!(text.contains("posc_review_healthy 0\n"), "{text}");
    assert!(text.contains("posc_review_problems 1\n"), "{text}");
    assert!(
        text.contains("posc_review_period_overdue{cadence=\"quarterly\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("posc_review_outbox_oldest_pending_age_seconds 90\n"),
        "{text}"
    );
    assert!(
        !text.contains("last_run_timestamp_seconds{cadence=\"quarterly\"}"),
        "{text}"
    );
}

#[test]
fn label_values_escape_backslash_quote_and_line_feed() {
    assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
    assert_eq!(escape_label("two\nlines"), "two\\nlines");
    assert_eq!(escape_label("plain"), "plain");
    let mut out = String::new();
    family(
        &mut out,
        "test",
        "Help with a \\ and a\nline feed.",
        vec![
            (vec![("name", "say \"hi\"\n".to_string())], Some(1.5)),
            (vec![("name", "none".into())], None),
        ],
    );
    assert_eq!(
        out,
        "# HELP posc_review_test Help with a \\\\ and a\\nline feed.\n# TYPE posc_review_test gauge\nposc_review_test{name=\"say \\\"hi\\\"\\n\"} 1.5\n"
    );
    let mut empty = String::new();
    family(&mut empty, "nothing", "No samples.", vec![(vec![], None)]);
    assert_eq!(empty, "");
}

#[test]
fn the_metrics_file_is_replaced_whole_and_readable_by_the_collector() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("posc_review.prom");
    std::fs::write(&path, "old").unwrap();
    write_atomically(&path, "posc_review_healthy 1\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "posc_review_healthy 1\n"
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file is left behind");
}
