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
