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
