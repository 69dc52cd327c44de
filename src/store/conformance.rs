//! Scenarios every [`Store`] must pass, whichever backend: each backend's tests call them
//! with a store of their own.

use super::*;
use crate::domain::Cadence;
use chrono::TimeZone;
use std::path::Path;

pub(super) fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

pub(super) fn claim_request<'a>(owner: &'a str, now: DateTime<Utc>) -> ClaimRequest<'a> {
    ClaimRequest {
        period_key: "quarterly:2026-Q4",
        cadence: Cadence::Quarterly,
        due_at: utc("2026-10-01T10:00:00Z"),
        owner,
        now,
        stale_before: now - chrono::Duration::minutes(2),
    }
}

/// Of two schedulers claiming one period at once (through `first` and `second`, which may be
/// one store), exactly one takes it; once its heartbeat is stale, a third takes it over.
pub(super) async fn a_period_is_claimed_once(first: &dyn Store, second: &dyn Store) {
    let now = utc("2026-10-01T10:00:05Z");
    let (request_a, request_b) = (
        claim_request("host-a:1:schedule", now),
        claim_request("host-b:2:schedule", now),
    );
    let (a, b) = tokio::join!(first.try_claim(&request_a), second.try_claim(&request_b));
    let outcomes = [a.unwrap(), b.unwrap()];
    let taken = outcomes
        .iter()
        .filter(|o| **o == ClaimOutcome::Taken { retried: None })
        .count();
    assert_eq!(taken, 1, "{outcomes:?}");
    assert!(
        outcomes.iter().any(|o| matches!(o, ClaimOutcome::Held(_))),
        "{outcomes:?}"
    );
    let claim = first.claim("quarterly:2026-Q4").await.unwrap().unwrap();
    assert_eq!(claim.attempts, 1);
    assert_eq!(claim.heartbeat_at, now);

    let later = now + chrono::Duration::minutes(10);
    let retried = second
        .try_claim(&claim_request("host-c:3:schedule", later))
        .await
        .unwrap();
    assert_eq!(
        retried,
        ClaimOutcome::Taken {
            retried: Some(ClaimState::Claimed)
        }
    );
    let claim = first.claim("quarterly:2026-Q4").await.unwrap().unwrap();
    assert_eq!(
        (claim.owner.as_str(), claim.attempts),
        ("host-c:3:schedule", 2)
    );
    assert_eq!(claim.heartbeat_at, later);
}

/// A completed run's message is claimed by one sender only, and once sent is delivered.
/// `dir` holds the message file.
pub(super) async fn a_message_is_claimed_once(store: &dyn Store, dir: &Path) {
    let zone: Tz = "America/New_York".parse().unwrap();
    let started = zone.with_ymd_and_hms(2026, 10, 1, 6, 0, 0).unwrap();
    let run = store
        .start_run(&NewRun {
            started,
            as_of: started.date_naive(),
            cadence: None,
            org_ids: &[],
            scope_key: "all",
            owner: "host:1:review",
            out_root: "/out",
            first_sequence: 1,
        })
        .await
        .unwrap();
    assert_eq!(run.id, "20261001-001");
    assert_eq!(run.started_at, utc("2026-10-01T10:00:00Z"));

    let message = "Subject: Review\r\n\r\nPlease review.\r\n";
    let path = dir.join("m.eml");
    std::fs::write(&path, message).unwrap();
    let finished_at = utc("2026-10-01T10:05:00Z");
    let outbox = [OutgoingMail {
        idempotency_key: "k1".into(),
        run_id: run.id.clone(),
        kind: "org".into(),
        recipient: "ORG1".into(),
        to_addresses: vec!["a@example.org".into(), "b@example.org".into()],
        subject: "Review".into(),
        message_file: MessageFile::whole(path, message.len()),
    }];
    let done = CompletedRun {
        findings: &[],
        reviewed_org_ids: &["ORG1".to_string()],
        out_dir: "/out/20261001-001",
        finished_at,
        outbox: &outbox,
        problems: None,
    };
    store.complete_run(&run, &done).await.unwrap();

    let now = utc("2026-10-01T10:06:00Z");
    let stale_before = now - chrono::Duration::minutes(10);
    let due = store.due_mail(now, stale_before, false).await.unwrap();
    assert_eq!(due, ["k1"]);
    let claimed = store
        .claim_mail("k1", now, stale_before)
        .await
        .unwrap()
        .expect("the first claim takes the message");
    assert_eq!(claimed.message, message);
    assert_eq!(claimed.to_addresses, ["a@example.org", "b@example.org"]);
    assert_eq!(claimed.attempts, 1);
    let again = store.claim_mail("k1", now, stale_before).await.unwrap();
    assert!(again.is_none());
    assert_eq!(store.undelivered_mail().await.unwrap().sending, 1);

    store.mark_sent("k1", now).await.unwrap();
    let entry = &store.outbox(Some(&run.id)).await.unwrap()[0];
    assert_eq!(entry.sent_at, Some(now));
    assert_eq!(store.undelivered_mail().await.unwrap().total(), 0);
}

/// Starts a run at `started` (New York time) with the day's next id.
async fn start(store: &dyn Store, started: DateTime<Utc>, first_sequence: u32) -> RunRecord {
    let zone: Tz = "America/New_York".parse().unwrap();
    let started = started.with_timezone(&zone);
    store
        .start_run(&NewRun {
            started,
            as_of: started.date_naive(),
            cadence: None,
            org_ids: &[],
            scope_key: "all",
            owner: "host:1:review",
            out_root: "/out",
            first_sequence,
        })
        .await
        .unwrap()
}

/// Completes `run` at `finished_at`, queueing a message of kind `org` for each key (written
/// to a file in `dir`).
async fn complete(
    store: &dyn Store,
    run: &RunRecord,
    finished_at: DateTime<Utc>,
    keys: &[&str],
    dir: &Path,
) {
    let outbox: Vec<OutgoingMail> = keys
        .iter()
        .map(|key| {
            let message = format!("Subject: {key}\r\n\r\nPlease review.\r\n");
            let path = dir.join(format!("{key}.eml"));
            std::fs::write(&path, &message).unwrap();
            OutgoingMail {
                idempotency_key: key.to_string(),
                run_id: run.id.clone(),
                kind: "org".into(),
                recipient: "ORG1".into(),
                to_addresses: vec!["a@example.org".into()],
                subject: format!("Review {key}"),
                message_file: MessageFile::whole(path, message.len()),
            }
        })
        .collect();
    let out_dir = format!("/out/{}", run.id);
    let done = CompletedRun {
        findings: &[],
        reviewed_org_ids: &[],
        out_dir: &out_dir,
        finished_at,
        outbox: &outbox,
        problems: None,
    };
    store.complete_run(run, &done).await.unwrap();
}

/// A run completed at `finished_at` with a message for each key.
async fn queue(store: &dyn Store, finished_at: DateTime<Utc>, keys: &[&str], dir: &Path) {
    let run = start(store, finished_at - chrono::Duration::minutes(1), 1).await;
    complete(store, &run, finished_at, keys, dir).await;
}

fn alert(key: &str) -> AlertMail {
    AlertMail {
        idempotency_key: key.to_string(),
        run_id: "20261001-001".into(),
        recipient: "operator".into(),
        to_addresses: vec!["ops@example.org".into(), "oncall@example.org".into()],
        subject: format!("posc-review: {key}"),
        message: format!("Subject: {key}\r\n\r\nMail is stuck.\r\n"),
    }
}

/// The keys and problems of what `unalerted_mail` reports.
async fn unalerted(
    store: &dyn Store,
    pending_before: DateTime<Utc>,
    limit: usize,
) -> Vec<(String, crate::domain::MailAlert)> {
    store
        .unalerted_mail(pending_before, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.idempotency_key, p.problem))
        .collect()
}

fn reported(keys: &[(&str, crate::domain::MailAlert)]) -> Vec<(String, crate::domain::MailAlert)> {
    keys.iter().map(|(k, p)| (k.to_string(), *p)).collect()
}

/// The store's identity is 16 hex digits made when it was created; its last import is the
/// commit time of the last import, and an import dropped without committing records nothing.
/// Needs a multi-threaded runtime: an import writer runs on a blocking thread.
pub(super) async fn the_store_knows_its_identity_and_last_import(store: &dyn Store) {
    let info = store.store_info().await.unwrap();
    assert_eq!(info.store_id.len(), 16, "{info:?}");
    assert!(
        info.store_id
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{info:?}"
    );
    assert_eq!(info.last_import_at, None);
    let age = Utc::now() - info.created_at;
    assert!(age.num_seconds().abs() < 600, "{info:?}");

    let handle = tokio::runtime::Handle::current();
    let first = utc("2026-10-01T10:00:00Z");
    tokio::task::block_in_place(|| {
        let writer = store.import_writer(handle.clone(), true, first).unwrap();
        drop(writer);
    });
    assert_eq!(store.store_info().await.unwrap().last_import_at, None);

    tokio::task::block_in_place(|| {
        let writer = store.import_writer(handle.clone(), false, first).unwrap();
        writer.commit().unwrap();
    });
    assert_eq!(
        store.store_info().await.unwrap().last_import_at,
        Some(first)
    );

    let second = utc("2026-10-02T11:30:00Z");
    tokio::task::block_in_place(|| {
        let mut writer = store.import_writer(handle.clone(), true, second).unwrap();
        writer.write_orgs(&[]).unwrap();
        writer.commit().unwrap();
    });
    let after = store.store_info().await.unwrap();
    assert_eq!(after.last_import_at, Some(second));
    assert_eq!(
        (after.store_id, after.created_at),
        (info.store_id, info.created_at)
    );
}

/// Two stores never share an identity.
pub(super) async fn two_stores_have_different_identities(first: &dyn Store, second: &dyn Store) {
    let (a, b) = (
        first.store_info().await.unwrap(),
        second.store_info().await.unwrap(),
    );
    assert_ne!(a.store_id, b.store_id);
}

/// A run's sequence is the day's next one, or `first_sequence` when that is higher.
pub(super) async fn run_ids_skip_to_the_first_free_sequence(store: &dyn Store) {
    let at = utc("2026-10-01T10:00:00Z");
    assert_eq!(start(store, at, 1).await.id, "20261001-001");
    assert_eq!(start(store, at, 5).await.id, "20261001-005");
    assert_eq!(start(store, at, 1).await.id, "20261001-006");
    assert_eq!(start(store, at, 3).await.id, "20261001-007");
    assert_eq!(start(store, at, 1000).await.id, "20261001-1000");
    assert_eq!(start(store, at, 1).await.id, "20261001-1001");
    // Another day starts from its own sequence.
    let next_day = utc("2026-10-02T10:00:00Z");
    assert_eq!(start(store, next_day, 2).await.id, "20261002-002");
}

/// When the next message falls due, and since when the oldest undelivered one waits.
pub(super) async fn the_outbox_says_when_mail_is_due(store: &dyn Store, dir: &Path) {
    let stale_age = chrono::Duration::minutes(10);
    assert_eq!(store.next_mail_due(stale_age).await.unwrap(), None);
    assert_eq!(
        store.undelivered_mail().await.unwrap().oldest_pending_at,
        None
    );

    let t0 = utc("2026-10-01T10:00:00Z");
    queue(store, t0, &["k1", "k2"], dir).await;
    queue(store, t0 + chrono::Duration::hours(1), &["k3"], dir).await;
    assert_eq!(store.next_mail_due(stale_age).await.unwrap(), Some(t0));
    assert_eq!(
        store.undelivered_mail().await.unwrap().oldest_pending_at,
        Some(t0)
    );

    // k1 waits for a retry; k2 is claimed by a sender; k3 is sent.
    let retry_at = t0 + chrono::Duration::hours(3);
    store
        .mark_failed(
            "k1",
            "refused",
            t0 + chrono::Duration::minutes(1),
            Some(retry_at),
        )
        .await
        .unwrap();
    let claimed_at = t0 + chrono::Duration::hours(2);
    let stale_before = claimed_at - stale_age;
    assert!(store
        .claim_mail("k2", claimed_at, stale_before)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .claim_mail("k3", claimed_at, stale_before)
        .await
        .unwrap()
        .is_some());
    store.mark_sent("k3", claimed_at).await.unwrap();
    // The sending claim turns stale before the retry.
    assert_eq!(
        store.next_mail_due(stale_age).await.unwrap(),
        Some(claimed_at + stale_age)
    );
    assert_eq!(
        store
            .next_mail_due(chrono::Duration::hours(2))
            .await
            .unwrap(),
        Some(retry_at)
    );
    let undelivered = store.undelivered_mail().await.unwrap();
    assert_eq!((undelivered.pending, undelivered.sending), (1, 1));
    assert_eq!(undelivered.oldest_pending_at, Some(t0));

    // Once k2 is sent only k1's retry is due; once k1 fails for good nothing is.
    store.mark_sent("k2", claimed_at).await.unwrap();
    assert_eq!(
        store.next_mail_due(stale_age).await.unwrap(),
        Some(retry_at)
    );
    assert_eq!(
        store.undelivered_mail().await.unwrap().oldest_pending_at,
        Some(t0)
    );
    store
        .mark_failed("k1", "refused", retry_at, None)
        .await
        .unwrap();
    assert_eq!(store.next_mail_due(stale_age).await.unwrap(), None);
    let undelivered = store.undelivered_mail().await.unwrap();
    assert_eq!(
        (undelivered.failed, undelivered.oldest_pending_at),
        (1, None)
    );
}

/// Messages waiting past the threshold, then failed for good, are each reported once per
/// problem; operator alerts themselves never are; an alert is queued with its marks, or not
/// at all.
pub(super) async fn each_mail_problem_is_alerted_once(store: &dyn Store, dir: &Path) {
    use crate::domain::{MailAlert, OutboxState};
    let (pending, failed) = (MailAlert::Pending, MailAlert::Failed);
    let t0 = utc("2026-10-01T10:00:00Z");
    let hour = chrono::Duration::hours(1);
    // An alert queued before everything, still pending: never reported.
    assert!(store
        .queue_alert(&alert("alert:0"), &[], t0 - hour)
        .await
        .unwrap());
    queue(store, t0, &["k-old1", "k-old2"], dir).await;
    queue(store, t0 + hour * 2, &["k-new"], dir).await;

    assert_eq!(
        unalerted(store, t0 + hour, 10).await,
        reported(&[("k-old1", pending), ("k-old2", pending)])
    );
    assert_eq!(
        unalerted(store, t0 + hour, 1).await,
        reported(&[("k-old1", pending)])
    );
    // Waiting since exactly the threshold is not past it.
    assert_eq!(unalerted(store, t0, 10).await, []);
    let problem = &store.unalerted_mail(t0 + hour, 1).await.unwrap()[0];
    assert_eq!(
        problem,
        &MailProblem {
            idempotency_key: "k-old1".into(),
            run_id: problem.run_id.clone(),
            kind: "org".into(),
            recipient: "ORG1".into(),
            subject: "Review k-old1".into(),
            state: OutboxState::Pending,
            attempts: 0,
            last_error: None,
            created_at: t0,
            problem: pending,
        }
    );

    // The alert is queued, and its messages are not reported again.
    let now = t0 + hour;
    let old = reported(&[("k-old1", pending), ("k-old2", pending)]);
    assert!(store
        .queue_alert(&alert("alert:1"), &old, now)
        .await
        .unwrap());
    assert_eq!(
        unalerted(store, t0 + hour * 3, 10).await,
        reported(&[("k-new", pending)])
    );
    let queued = store.outbox(Some("20261001-001")).await.unwrap();
    let entry = queued
        .iter()
        .find(|e| e.idempotency_key == "alert:1")
        .expect("the alert is queued");
    assert_eq!(
        (
            entry.kind.as_str(),
            entry.recipient.as_str(),
            entry.subject.as_str()
        ),
        ("alert", "operator", "posc-review: alert:1")
    );
    assert_eq!(
        entry.to_addresses,
        ["ops@example.org", "oncall@example.org"]
    );
    assert_eq!(
        (entry.state, entry.attempts, entry.next_attempt_at),
        (OutboxState::Pending, 0, now)
    );
    assert!(store
        .due_mail(now, now - hour, false)
        .await
        .unwrap()
        .contains(&"alert:1".to_string()));
    let claimed = store
        .claim_mail("alert:1", now, now - hour)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.message, alert("alert:1").message);

    // Another process raised one of them meanwhile: nothing is written, k-new is not marked.
    let raced = reported(&[("k-new", pending), ("k-old1", pending)]);
    assert!(!store
        .queue_alert(&alert("alert:2"), &raced, now)
        .await
        .unwrap());
    // The alert's key is queued already: nothing is written either.
    let again = reported(&[("k-new", pending)]);
    assert!(!store
        .queue_alert(&alert("alert:1"), &again, now)
        .await
        .unwrap());
    let keys: Vec<String> = store
        .outbox(None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.idempotency_key)
        .collect();
    assert!(!keys.contains(&"alert:2".to_string()), "{keys:?}");
    assert_eq!(
        unalerted(store, t0 + hour * 3, 10).await,
        reported(&[("k-new", pending)])
    );
    // An unknown message is not reported.
    let unknown = reported(&[("k-none", failed)]);
    assert!(!store
        .queue_alert(&alert("alert:5"), &unknown, now)
        .await
        .unwrap());

    // k-old1 fails for good: alerted again, once, as failed; k-new fails without having been
    // alerted as pending, whatever the threshold.
    store
        .mark_failed("k-old1", "refused", now, None)
        .await
        .unwrap();
    store
        .mark_failed("k-new", "refused", now, None)
        .await
        .unwrap();
    assert_eq!(
        unalerted(store, t0 - hour, 10).await,
        reported(&[("k-old1", failed), ("k-new", failed)])
    );
    let failures = reported(&[("k-old1", failed), ("k-new", failed)]);
    assert!(store
        .queue_alert(&alert("alert:3"), &failures, now)
        .await
        .unwrap());
    assert_eq!(unalerted(store, t0 + hour * 3, 10).await, []);
    let again = reported(&[("k-old1", failed)]);
    assert!(!store
        .queue_alert(&alert("alert:4"), &again, now)
        .await
        .unwrap());
    // A message alerted as failed is not alerted as pending either.
    let as_pending = reported(&[("k-new", pending)]);
    assert!(!store
        .queue_alert(&alert("alert:4"), &as_pending, now)
        .await
        .unwrap());
    // The alerts themselves, pending or sending for hours, are never reported.
    assert_eq!(unalerted(store, t0 + hour * 10, 10).await, []);

    // Requeued (`send --retry-failed`), the failed messages count as queued anew: not pending
    // too long yet, and alerted again if they fail again.
    let requeued_at = now + hour;
    assert_eq!(store.requeue_failed(requeued_at).await.unwrap(), 2);
    assert_eq!(unalerted(store, requeued_at, 10).await, []);
    store
        .mark_failed("k-new", "refused again", requeued_at, None)
        .await
        .unwrap();
    assert_eq!(
        unalerted(store, requeued_at, 10).await,
        reported(&[("k-new", failed)])
    );
}

/// A stale claim whose run completed is closed as completed (its period is reviewed), not
/// taken over; one whose run is still running, or failed, is taken over as before.
pub(super) async fn a_stale_claim_of_a_completed_run_is_closed(store: &dyn Store) {
    let now = utc("2026-10-01T10:00:05Z");
    let later = now + chrono::Duration::minutes(10);
    let request = |period_key: &'static str, owner: &'static str, at| ClaimRequest {
        period_key,
        ..claim_request(owner, at)
    };
    // Each period claimed, and its run recorded on the claim, by a process that then stops.
    let mut runs = Vec::new();
    for period in ["p:completed", "p:running", "p:failed", "p:fresh"] {
        let outcome = store
            .try_claim(&request(period, "host-a:1:schedule", now))
            .await
            .unwrap();
        assert_eq!(outcome, ClaimOutcome::Taken { retried: None });
        let run = start(store, now, 1).await;
        assert!(store
            .claim_running(period, "host-a:1:schedule", &run.id, now)
            .await
            .unwrap());
        runs.push(run);
    }
    let dir = tempfile::tempdir().unwrap();
    complete(store, &runs[0], now, &[], dir.path()).await;
    complete(store, &runs[3], now, &[], dir.path()).await;
    assert!(store
        .fail_run(&runs[2].id, "stopped", now, None)
        .await
        .unwrap());

    let closed = store
        .try_claim(&request("p:completed", "host-c:3:schedule", later))
        .await
        .unwrap();
    let ClaimOutcome::Completed(claim) = closed else {
        panic!("{closed:?}");
    };
    assert_eq!(claim.state, ClaimState::Completed);
    assert_eq!(claim.run_id.as_deref(), Some(runs[0].id.as_str()));
    assert_eq!(claim.attempts, 1);
    assert_eq!(claim.finished_at, Some(later));
    assert_eq!(claim.error, None);
    assert_eq!(claim.owner, "host-a:1:schedule");
    assert_eq!(
        store.claim("p:completed").await.unwrap(),
        Some(claim.clone())
    );
    // Asked again, it stays completed.
    assert_eq!(
        store
            .try_claim(&request("p:completed", "host-d:4:schedule", later))
            .await
            .unwrap(),
        ClaimOutcome::Completed(claim)
    );

    for (period, run) in [("p:running", &runs[1]), ("p:failed", &runs[2])] {
        let outcome = store
            .try_claim(&request(period, "host-c:3:schedule", later))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            ClaimOutcome::Taken {
                retried: Some(ClaimState::Running)
            },
            "{period} of {}",
            run.id
        );
        let claim = store.claim(period).await.unwrap().unwrap();
        assert_eq!(
            (claim.owner.as_str(), claim.attempts, claim.run_id),
            ("host-c:3:schedule", 2, None)
        );
    }

    // Not stale yet: held, though its run completed.
    let soon = now + chrono::Duration::minutes(1);
    let held = store
        .try_claim(&request("p:fresh", "host-c:3:schedule", soon))
        .await
        .unwrap();
    assert!(matches!(held, ClaimOutcome::Held(_)), "{held:?}");
}

/// A run of `scope_key` started at `started` (New York time), completed at once with
/// `findings` (org_id, severity, status), having reviewed `reviewed`.
async fn review_with(
    store: &dyn Store,
    started: DateTime<Utc>,
    scope_key: &str,
    reviewed: &[&str],
    findings: &[(&str, crate::domain::Severity, crate::domain::FindingStatus)],
) -> RunRecord {
    let zone: Tz = "America/New_York".parse().unwrap();
    let local = started.with_timezone(&zone);
    let run = store
        .start_run(&NewRun {
            started: local,
            as_of: local.date_naive(),
            cadence: None,
            org_ids: &[],
            scope_key,
            owner: "host:1:review",
            out_root: "/out",
            first_sequence: 1,
        })
        .await
        .unwrap();
    let rows: Vec<FindingRow> = findings
        .iter()
        .enumerate()
        .map(|(i, (org_id, severity, status))| FindingRow {
            run_id: run.id.clone(),
            fingerprint: format!("fp-{i}"),
            rule: crate::domain::RuleId::StaleUser,
            severity: *severity,
            status: *status,
            org_id: org_id.to_string(),
            pidsl: String::new(),
            username: format!("user{i}"),
            user_name: format!("User {i}"),
            detail: "not signed in".into(),
            remediation: String::new(),
            first_seen: run.as_of,
            facts: String::new(),
            decision: None,
        })
        .collect();
    let reviewed: Vec<String> = reviewed.iter().map(|s| s.to_string()).collect();
    let out_dir = format!("/out/{}", run.id);
    store
        .complete_run(
            &run,
            &CompletedRun {
                findings: &rows,
                reviewed_org_ids: &reviewed,
                out_dir: &out_dir,
                finished_at: started + chrono::Duration::minutes(1),
                outbox: &[],
                problems: None,
            },
        )
        .await
        .unwrap();
    run
}

/// critical, high, medium, low as a trend point's counts.
pub(super) fn open(
    counts: [usize; 4],
) -> std::collections::BTreeMap<crate::domain::Severity, usize> {
    use crate::domain::Severity::*;
    [Critical, High, Medium, Low]
        .into_iter()
        .zip(counts)
        .collect()
}

/// Each point's run and counts.
pub(super) fn points(trend: &[TrendPoint]) -> Vec<(&str, [usize; 4])> {
    use crate::domain::Severity::*;
    trend
        .iter()
        .map(|p| {
            (
                p.run_id.as_str(),
                [Critical, High, Medium, Low].map(|s| p.open[&s]),
            )
        })
        .collect()
}

/// `complete_run` records each reviewed organization's open findings (new and open, not
/// accepted; zeros for one without findings); `org_trends` returns each organization's last
/// reviews before a run, whatever their scope, oldest first, and `scope_trend` the sums of one
/// scope's runs. A failed run is no point of either.
pub(super) async fn trends_count_open_findings_of_the_last_reviews(store: &dyn Store) {
    use crate::domain::FindingStatus::{Accepted, New, Open};
    use crate::domain::Severity::{Critical, High, Low, Medium};
    let run1 = review_with(
        store,
        utc("2026-10-01T12:00:00Z"),
        "all",
        &["ORG-A", "ORG-B"],
        &[
            ("ORG-A", Critical, New),
            ("ORG-A", High, Open),
            ("ORG-A", Low, Accepted),
        ],
    )
    .await;
    let run2 = review_with(
        store,
        utc("2026-10-01T13:00:00Z"),
        "org:ORG-A",
        &["ORG-A"],
        &[("ORG-A", Medium, New)],
    )
    .await;
    let failed = start(store, utc("2026-10-01T13:30:00Z"), 1).await;
    store
        .fail_run(&failed.id, "interrupted", utc("2026-10-01T13:31:00Z"), None)
        .await
        .unwrap();
    let run3 = review_with(
        store,
        utc("2026-10-01T14:00:00Z"),
        "all",
        &["ORG-A", "ORG-B"],
        &[
            ("ORG-A", High, Open),
            ("ORG-A", High, New),
            ("ORG-B", Low, New),
            // Not reviewed (its report could not be made): no point for ORG-C.
            ("ORG-C", Critical, New),
        ],
    )
    .await;
    let run4 = start(store, utc("2026-10-01T15:00:00Z"), 1).await;
    let orgs = ["ORG-A", "ORG-B", "ORG-C"].map(String::from);

    let trends = store.org_trends(&orgs, &run4.id, 7).await.unwrap();
    assert_eq!(
        points(&trends["ORG-A"]),
        [
            (run1.id.as_str(), [1, 1, 0, 0]),
            (run2.id.as_str(), [0, 0, 1, 0]),
            (run3.id.as_str(), [0, 2, 0, 0]),
        ]
    );
    assert_eq!(
        points(&trends["ORG-B"]),
        [
            (run1.id.as_str(), [0, 0, 0, 0]),
            (run3.id.as_str(), [0, 0, 0, 1])
        ]
    );
    assert!(!trends.contains_key("ORG-C"), "{trends:?}");
    assert_eq!(trends["ORG-A"][0].as_of, run1.as_of);
    assert_eq!(trends["ORG-A"][0].open, open([1, 1, 0, 0]));

    let last_two = store.org_trends(&orgs[..1], &run4.id, 2).await.unwrap();
    assert_eq!(
        points(&last_two["ORG-A"]),
        [
            (run2.id.as_str(), [0, 0, 1, 0]),
            (run3.id.as_str(), [0, 2, 0, 0])
        ]
    );
    let before_run3 = store.org_trends(&orgs, &run3.id, 7).await.unwrap();
    assert_eq!(before_run3["ORG-A"].len(), 2);
    assert_eq!(before_run3["ORG-B"].len(), 1);
    assert!(store.org_trends(&[], &run4.id, 7).await.unwrap().is_empty());

    let all = store.scope_trend("all", &run4.id, 7).await.unwrap();
    assert_eq!(
        points(&all),
        [
            (run1.id.as_str(), [1, 1, 0, 0]),
            (run3.id.as_str(), [0, 2, 0, 1])
        ]
    );
    assert_eq!(all[1].as_of, run3.as_of);
    assert_eq!(
        points(&store.scope_trend("all", &run4.id, 1).await.unwrap()),
        [(run3.id.as_str(), [0, 2, 0, 1])]
    );
    assert_eq!(
        points(&store.scope_trend("org:ORG-A", &run4.id, 7).await.unwrap()),
        [(run2.id.as_str(), [0, 0, 1, 0])]
    );
    assert!(store
        .scope_trend("all", &run1.id, 7)
        .await
        .unwrap()
        .is_empty());
}

/// The trend queries over 20,000 organizations and 8 reviews of them all stay one query each:
/// returns how long `org_trends` and `scope_trend` took.
pub(super) async fn trends_of_twenty_thousand_organizations(
    store: &dyn Store,
) -> (std::time::Duration, std::time::Duration) {
    use crate::domain::FindingStatus::New;
    use crate::domain::Severity::High;
    let orgs: Vec<String> = (0..20_000).map(|i| format!("ORG-{i:05}")).collect();
    let reviewed: Vec<&str> = orgs.iter().map(String::as_str).collect();
    let findings: Vec<(&str, crate::domain::Severity, crate::domain::FindingStatus)> = reviewed
        .iter()
        .step_by(10)
        .map(|o| (*o, High, New))
        .collect();
    for hour in 0..8 {
        review_with(
            store,
            utc("2026-10-01T04:00:00Z") + chrono::Duration::hours(hour),
            "all",
            &reviewed,
            &findings,
        )
        .await;
    }
    let next = start(store, utc("2026-10-01T15:00:00Z"), 1).await;
    let started = std::time::Instant::now();
    let trends = store.org_trends(&orgs, &next.id, 7).await.unwrap();
    let org_time = started.elapsed();
    assert_eq!(trends.len(), 20_000);
    assert!(trends.values().all(|t| t.len() == 7));
    assert_eq!(trends["ORG-00010"][6].open, open([0, 1, 0, 0]));
    let started = std::time::Instant::now();
    let scope = store.scope_trend("all", &next.id, 7).await.unwrap();
    let scope_time = started.elapsed();
    assert_eq!(scope.len(), 7);
    assert_eq!(scope[6].open, open([0, 2_000, 0, 0]));
    (org_time, scope_time)
}

/// What the trends migration made of the history in `BEFORE_TRENDS` (both backends' tests
/// insert it): ORG-A's two runs in run order (`-999` before `-1000`), ORG-B's zeros, and the
/// scope's sums.
pub(super) async fn history_from_before_trends_is_counted(store: &dyn Store) {
    let orgs = ["ORG-A", "ORG-B"].map(String::from);
    let trends = store.org_trends(&orgs, "20261002-001", 8).await.unwrap();
    assert_eq!(
        points(&trends["ORG-A"]),
        [
            ("20261001-999", [1, 0, 1, 0]),
            ("20261001-1000", [0, 1, 0, 2])
        ]
    );
    assert_eq!(points(&trends["ORG-B"]), [("20261001-999", [0, 0, 0, 0])]);
    assert_eq!(
        points(&store.scope_trend("all", "20261002-001", 8).await.unwrap()),
        [
            ("20261001-999", [1, 0, 1, 0]),
            ("20261001-1000", [0, 1, 0, 2])
        ]
    );
}

/// Two completed runs of scope `all` (one of ORG-A and ORG-B, one of ORG-A only, the 1,000th
/// of its day) and their findings, as a store before the trends migration held them.
pub(super) const BEFORE_TRENDS: &str = "
    INSERT INTO runs (id, as_of, cadence, org_ids, scope_key, started_at, finished_at, status,
                      error, out_dir, counts)
    VALUES ('20261001-999', '2026-10-01', NULL, '', 'all', '2026-10-01T12:00:00.000000Z',
            '2026-10-01T12:01:00.000000Z', 'completed', NULL, '/out/20261001-999', '{}'),
           ('20261001-1000', '2026-10-01', NULL, '', 'all', '2026-10-01T13:00:00.000000Z',
            '2026-10-01T13:01:00.000000Z', 'completed', NULL, '/out/20261001-1000', '{}');
    INSERT INTO run_orgs (run_id, org_id)
    VALUES ('20261001-999', 'ORG-A'), ('20261001-999', 'ORG-B'), ('20261001-1000', 'ORG-A');
    INSERT INTO findings (run_id, fingerprint, rule, severity, status, org_id, pidsl, username,
                          user_name, detail, first_seen)
    VALUES ('20261001-999', 'f1', 'missing-primary', 'critical', 'new', 'ORG-A', '', '', '', '', '2026-10-01'),
           ('20261001-999', 'f2', 'stale-user', 'medium', 'open', 'ORG-A', '', 'u', 'U', '', '2026-10-01'),
           ('20261001-999', 'f3', 'stale-user', 'medium', 'accepted', 'ORG-A', '', 'v', 'V', '', '2026-10-01'),
           ('20261001-1000', 'f4', 'missing-backup', 'high', 'open', 'ORG-A', '', '', '', '', '2026-10-01'),
           ('20261001-1000', 'f5', 'stale-user', 'low', 'new', 'ORG-A', '', 'w', 'W', '', '2026-10-01'),
           ('20261001-1000', 'f6', 'stale-user', 'low', 'new', 'ORG-A', '', 'x', 'X', '', '2026-10-01');
";

/// Each organization's previous review is its last completed run before the given one that
/// reviewed it (`run_orgs`), whatever that run's scope; only its own findings of that run come
/// back. A failed run, a run that stored an organization's findings without reviewing it (its
/// report could not be made) and an organization never reviewed give nothing.
pub(super) async fn previous_org_findings_are_each_organizations_last_review(store: &dyn Store) {
    use crate::domain::FindingStatus::New;
    use crate::domain::Severity::{Critical, High, Low, Medium};
    let run1 = review_with(
        store,
        utc("2026-10-01T12:00:00Z"),
        "all",
        &["ORG-A", "ORG-B"],
        &[("ORG-A", High, New), ("ORG-B", Low, New)],
    )
    .await;
    let run2 = review_with(
        store,
        utc("2026-10-01T13:00:00Z"),
        "org:ORG-A",
        &["ORG-A"],
        &[("ORG-A", Medium, New)],
    )
    .await;
    let failed = start(store, utc("2026-10-01T13:30:00Z"), 1).await;
    store
        .fail_run(&failed.id, "interrupted", utc("2026-10-01T13:31:00Z"), None)
        .await
        .unwrap();
    let run3 = review_with(
        store,
        utc("2026-10-01T14:00:00Z"),
        "all",
        &["ORG-A"],
        &[("ORG-C", Critical, New)],
    )
    .await;
    let run4 = start(store, utc("2026-10-01T15:00:00Z"), 1).await;
    let orgs = ["ORG-A", "ORG-B", "ORG-C"].map(String::from);
    let previous = |before: &RunRecord| {
        let before = before.id.clone();
        let orgs = orgs.clone();
        async move {
            let mut found: Vec<(String, String, crate::domain::Severity)> = store
                .previous_org_findings(&orgs, &before)
                .await
                .unwrap()
                .into_iter()
                .map(|f| (f.org_id, f.run_id, f.severity))
                .collect();
            found.sort();
            found
        }
    };
    // ORG-A's last review (run3) found nothing of it; ORG-B's is the whole-store run1.
    assert_eq!(
        previous(&run4).await,
        [("ORG-B".into(), run1.id.clone(), Low)]
    );
    assert_eq!(
        previous(&run3).await,
        [
            ("ORG-A".into(), run2.id.clone(), Medium),
            ("ORG-B".into(), run1.id.clone(), Low)
        ]
    );
    assert_eq!(
        previous(&run2).await,
        [
            ("ORG-A".into(), run1.id.clone(), High),
            ("ORG-B".into(), run1.id.clone(), Low)
        ]
    );
    assert!(previous(&run1).await.is_empty());
    let only_b = store
        .previous_org_findings(&["ORG-B".to_string()], &run4.id)
        .await
        .unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].username, "user1");
    assert_eq!(only_b[0].first_seen, run1.as_of);
    assert!(store
        .previous_org_findings(&[], &run4.id)
        .await
        .unwrap()
        .is_empty());
}

/// `previous_org_findings` for 20,000 organizations, each last reviewed by one of two runs, is
/// one query: returns how long it took.
pub(super) async fn previous_findings_of_twenty_thousand_organizations(
    store: &dyn Store,
) -> std::time::Duration {
    use crate::domain::FindingStatus::New;
    use crate::domain::Severity::High;
    let orgs: Vec<String> = (0..20_000).map(|i| format!("ORG-{i:05}")).collect();
    let all: Vec<&str> = orgs.iter().map(String::as_str).collect();
    let findings: Vec<(&str, crate::domain::Severity, crate::domain::FindingStatus)> =
        all.iter().map(|o| (*o, High, New)).collect();
    review_with(store, utc("2026-10-01T04:00:00Z"), "all", &all, &findings).await;
    // The second half is reviewed again, by a run of its own scope.
    let half = &all[10_000..];
    let last = review_with(
        store,
        utc("2026-10-01T05:00:00Z"),
        "org:half",
        half,
        &findings[10_000..],
    )
    .await;
    let next = start(store, utc("2026-10-01T15:00:00Z"), 1).await;
    let started = std::time::Instant::now();
    let previous = store.previous_org_findings(&orgs, &next.id).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(previous.len(), 20_000);
    assert_eq!(
        previous.iter().filter(|f| f.run_id == last.id).count(),
        10_000
    );
    elapsed
}

/// The reminders and escalations of the given runs, whatever their state; not another run's,
/// not a management report.
pub(super) async fn follow_ups_are_read_by_run(store: &dyn Store, dir: &Path) {
    let mail = |run: &RunRecord, kind: &str, recipient: &str| {
        let key = format!("{}:{kind}:{recipient}", run.id);
        let message = format!("Subject: {key}\r\n\r\nPlease decide.\r\n");
        let path = dir.join(format!("{key}.eml").replace(':', "_"));
        std::fs::write(&path, &message).unwrap();
        OutgoingMail {
            idempotency_key: key,
            run_id: run.id.clone(),
            kind: kind.into(),
            recipient: recipient.into(),
            to_addresses: vec!["a@example.org".into()],
            subject: "Reminder".into(),
            message_file: MessageFile::whole(path, message.len()),
        }
    };
    let finished = utc("2026-10-01T12:01:00Z");
    let run1 = start(store, utc("2026-10-01T12:00:00Z"), 1).await;
    let run2 = start(store, utc("2026-10-01T12:00:30Z"), 1).await;
    for (run, outbox) in [
        (
            &run1,
            vec![
                mail(&run1, "management", "ORG-A"),
                mail(&run1, REMINDER_KIND, "110000001A"),
                mail(&run1, ESCALATION_KIND, "ORG-A"),
            ],
        ),
        (&run2, vec![mail(&run2, REMINDER_KIND, "110000002A")]),
    ] {
        let out_dir = format!("/out/{}", run.id);
        let done = CompletedRun {
            findings: &[],
            reviewed_org_ids: &[],
            out_dir: &out_dir,
            finished_at: finished,
            outbox: &outbox,
            problems: None,
        };
        store.complete_run(run, &done).await.unwrap();
    }
    let reminder = format!("{}:{REMINDER_KIND}:110000001A", run1.id);
    store
        .mark_failed(&reminder, "mailbox unavailable", finished, None)
        .await
        .unwrap();
    let mut ups = store
        .follow_ups(std::slice::from_ref(&run1.id))
        .await
        .unwrap();
    ups.sort_by(|a, b| a.kind.cmp(&b.kind));
    let seen: Vec<(&str, &str, &str, crate::domain::OutboxState)> = ups
        .iter()
        .map(|u| {
            (
                u.run_id.as_str(),
                u.kind.as_str(),
                u.recipient.as_str(),
                u.state,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                run1.id.as_str(),
                ESCALATION_KIND,
                "ORG-A",
                crate::domain::OutboxState::Pending
            ),
            (
                run1.id.as_str(),
                REMINDER_KIND,
                "110000001A",
                crate::domain::OutboxState::Failed
            ),
        ]
    );
    assert_eq!(ups[0].created_at, finished);
    let both = store
        .follow_ups(&[run1.id.clone(), run2.id.clone()])
        .await
        .unwrap();
    assert_eq!(both.len(), 3);
    assert!(store.follow_ups(&[]).await.unwrap().is_empty());
}

/// History as the binary before status per organization stored it: a whole-store run of ORG-A
/// and ORG-B (10-01), an `--org ORG-A` run (10-15) that compared with no earlier run of its
/// scope (everything `new`, first seen 10-15, f2 fixed but not counted resolved), a failed run,
/// and a whole-store run (11-01) compared with the first one only (f4 and f6 new to it, f2
/// resolved), which also stored ORG-C's finding without reviewing it.
pub(super) const BEFORE_STATUS_PER_ORG: &str = r#"
    INSERT INTO runs (id, as_of, cadence, org_ids, scope_key, started_at, finished_at, status,
                      error, out_dir, counts)
    VALUES ('20261001-001', '2026-10-01', NULL, '', 'all', '2026-10-01T12:00:00.000000Z',
            '2026-10-01T12:01:00.000000Z', 'completed', NULL, '/out/20261001-001',
            '{"findings":3,"by_severity":{},"by_rule":{},"new":3,"open":0,"accepted":0,"resolved":0}'),
           ('20261015-001', '2026-10-15', NULL, 'ORG-A', 'org:ORG-A', '2026-10-15T12:00:00.000000Z',
            '2026-10-15T12:01:00.000000Z', 'completed', NULL, '/out/20261015-001',
            '{"findings":3,"by_severity":{},"by_rule":{},"new":2,"open":0,"accepted":1,"resolved":0}'),
           ('20261020-001', '2026-10-20', NULL, '', 'all', '2026-10-20T12:00:00.000000Z',
            '2026-10-20T12:01:00.000000Z', 'failed', 'interrupted', NULL,
            '{"findings":0,"by_severity":{},"by_rule":{},"new":0,"open":0,"accepted":0,"resolved":0}'),
           ('20261101-001', '2026-11-01', NULL, '', 'all', '2026-11-01T12:00:00.000000Z',
            '2026-11-01T12:01:00.000000Z', 'completed', NULL, '/out/20261101-001',
            '{"findings":6,"by_severity":{},"by_rule":{},"new":3,"open":2,"accepted":1,"resolved":1}');
    INSERT INTO run_orgs (run_id, org_id, open_counts)
    VALUES ('20261001-001', 'ORG-A', NULL), ('20261001-001', 'ORG-B', NULL),
           ('20261015-001', 'ORG-A', NULL),
           ('20261101-001', 'ORG-A', NULL), ('20261101-001', 'ORG-B', NULL);
    INSERT INTO findings (run_id, fingerprint, rule, severity, status, org_id, pidsl, username,
                          user_name, detail, first_seen)
    VALUES ('20261001-001', 'f1', 'stale-user', 'medium', 'new', 'ORG-A', '', 'a1', 'A1', '', '2026-10-01'),
           ('20261001-001', 'f2', 'stale-user', 'medium', 'new', 'ORG-A', '', 'a2', 'A2', '', '2026-10-01'),
           ('20261001-001', 'f3', 'stale-user', 'medium', 'new', 'ORG-B', '', 'b3', 'B3', '', '2026-10-01'),
           ('20261015-001', 'f1', 'stale-user', 'medium', 'new', 'ORG-A', '', 'a1', 'A1', '', '2026-10-15'),
           ('20261015-001', 'f4', 'stale-user', 'medium', 'new', 'ORG-A', '', 'a4', 'A4', '', '2026-10-15'),
           ('20261015-001', 'f6', 'stale-user', 'medium', 'accepted', 'ORG-A', '', 'a6', 'A6', '', '2026-10-15'),
           ('20261101-001', 'f1', 'stale-user', 'medium', 'open', 'ORG-A', '', 'a1', 'A1', '', '2026-10-01'),
           ('20261101-001', 'f4', 'stale-user', 'medium', 'new', 'ORG-A', '', 'a4', 'A4', '', '2026-11-01'),
           ('20261101-001', 'f6', 'stale-user', 'medium', 'accepted', 'ORG-A', '', 'a6', 'A6', '', '2026-11-01'),
           ('20261101-001', 'f3', 'stale-user', 'medium', 'open', 'ORG-B', '', 'b3', 'B3', '', '2026-10-01'),
           ('20261101-001', 'f5', 'stale-user', 'medium', 'new', 'ORG-B', '', 'b5', 'B5', '', '2026-11-01'),
           ('20261101-001', 'f7', 'stale-user', 'medium', 'new', 'ORG-C', '', 'c7', 'C7', '', '2026-11-01');
"#;

/// What the status migration made of [`BEFORE_STATUS_PER_ORG`]: each finding against its
/// organization's previous review, its first_seen from when it was first seen in a row of its
/// organization's reviews, and each run's counts to match.
pub(super) async fn history_from_before_status_per_org_is_recomputed(store: &dyn Store) {
    let statuses = |run_id: &'static str| async move {
        let mut rows: Vec<(String, &'static str, String)> = store
            .findings(run_id, None, None)
            .await
            .unwrap()
            .into_iter()
            .map(|f| (f.fingerprint, f.status.as_str(), f.first_seen.to_string()))
            .collect();
        rows.sort();
        rows
    };
    let row = |fp: &str, status: &'static str, first_seen: &str| {
        (fp.to_string(), status, first_seen.to_string())
    };
    assert_eq!(
        statuses("20261001-001").await,
        [
            row("f1", "new", "2026-10-01"),
            row("f2", "new", "2026-10-01"),
            row("f3", "new", "2026-10-01")
        ]
    );
    // ORG-A's previous review is the whole-store run: f1 was there.
    assert_eq!(
        statuses("20261015-001").await,
        [
            row("f1", "open", "2026-10-01"),
            row("f4", "new", "2026-10-15"),
            row("f6", "accepted", "2026-10-15")
        ]
    );
    // ORG-A's previous review is the --org run, ORG-B's the first whole-store run; ORG-C was
    // never reviewed.
    assert_eq!(
        statuses("20261101-001").await,
        [
            row("f1", "open", "2026-10-01"),
            row("f3", "open", "2026-10-01"),
            row("f4", "open", "2026-10-15"),
            row("f5", "new", "2026-11-01"),
            row("f6", "accepted", "2026-10-15"),
            row("f7", "new", "2026-11-01")
        ]
    );
    let counts = |run: RunRecord| {
        let c = run.counts;
        (c.findings, c.new, c.open, c.accepted, c.resolved)
    };
    let run = |id: &'static str| async move { store.run(id).await.unwrap().unwrap() };
    assert_eq!(counts(run("20261001-001").await), (3, 3, 0, 0, 0));
    // f2, fixed before the --org run, is resolved there.
    assert_eq!(counts(run("20261015-001").await), (3, 1, 1, 1, 1));
    assert_eq!(counts(run("20261101-001").await), (6, 2, 3, 1, 0));
    assert_eq!(run("20261020-001").await.counts.new, 0);
}

/// Each organization's latest review is its last completed run by `run_orgs`, whatever the
/// run's scope (a failed run later does not count); follow-ups are queued once per key, and
/// `queue_follow_ups` says which keys it queued. `dir` holds the message files.
pub(super) async fn follow_ups_are_queued_once_per_key(store: &dyn Store, dir: &Path) {
    use crate::domain::FindingStatus::New;
    use crate::domain::OutboxState;
    use crate::domain::Severity::High;
    let run1 = review_with(
        store,
        utc("2026-10-01T12:00:00Z"),
        "all",
        &["ORG-A", "ORG-B"],
        &[("ORG-A", High, New), ("ORG-B", High, New)],
    )
    .await;
    let run2 = review_with(
        store,
        utc("2026-10-02T13:00:00Z"),
        "org:ORG-A",
        &["ORG-A"],
        &[("ORG-A", High, New)],
    )
    .await;
    let failed = start(store, utc("2026-10-03T13:30:00Z"), 1).await;
    store
        .fail_run(&failed.id, "interrupted", utc("2026-10-03T13:31:00Z"), None)
        .await
        .unwrap();
    let reviews = store.latest_org_reviews().await.unwrap();
    let review = |org_id: &str, run: &RunRecord| OrgReview {
        org_id: org_id.into(),
        run_id: run.id.clone(),
        as_of: run.as_of,
    };
    assert_eq!(reviews, [review("ORG-A", &run2), review("ORG-B", &run1)]);

    let mail = |kind: &str, unit: &str| {
        let key = format!("{}:{kind}:{unit}", run1.id);
        let message = format!("Subject: {key}\r\n\r\nPlease decide.\r\n");
        let path = dir.join(format!("{kind}-{unit}.eml"));
        std::fs::write(&path, &message).unwrap();
        OutgoingMail {
            idempotency_key: key,
            run_id: run1.id.clone(),
            kind: kind.into(),
            recipient: unit.into(),
            to_addresses: vec!["pu@example.org".into()],
            subject: format!("Reminder {unit}"),
            message_file: MessageFile::whole(path, message.len()),
        }
    };
    let now = utc("2026-10-15T05:00:00Z");
    let first = [
        mail(REMINDER_KIND, "110000001A"),
        mail(REMINDER_KIND, "110000002A"),
    ];
    let queued = store.queue_follow_ups(&first, now).await.unwrap();
    assert_eq!(
        queued,
        [
            format!("{}:reminder:110000001A", run1.id),
            format!("{}:reminder:110000002A", run1.id)
        ]
    );
    let again = [
        mail(REMINDER_KIND, "110000001A"),
        mail(REMINDER_KIND, "110000002A"),
        mail(ESCALATION_KIND, "ORG-B"),
    ];
    let later = now + chrono::Duration::days(16);
    let queued = store.queue_follow_ups(&again, later).await.unwrap();
    assert_eq!(queued, [format!("{}:escalation:ORG-B", run1.id)]);
    assert_eq!(
        store.queue_follow_ups(&again, later).await.unwrap(),
        Vec::<String>::new()
    );
    let outbox = store.outbox(Some(&run1.id)).await.unwrap();
    let kinds: Vec<(&str, &str, OutboxState)> = outbox
        .iter()
        .map(|e| (e.kind.as_str(), e.recipient.as_str(), e.state))
        .collect();
    assert_eq!(
        kinds,
        [
            (REMINDER_KIND, "110000001A", OutboxState::Pending),
            (REMINDER_KIND, "110000002A", OutboxState::Pending),
            (ESCALATION_KIND, "ORG-B", OutboxState::Pending),
        ]
    );
    // The message text is queued with its row.
    let key = format!("{}:escalation:ORG-B", run1.id);
    let claimed = store
        .claim_mail(&key, later, later - chrono::Duration::minutes(5))
        .await
        .unwrap()
        .unwrap();
    assert!(
        claimed.message.contains("Please decide."),
        "{}",
        claimed.message
    );
}
