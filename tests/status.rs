//! `posc-review status`: the verdict and its exit status (0 healthy, 1 attention) in every
//! format, on a store with a review, a failed run, a failed claim and mail that failed for
//! good — on SQLite and PostgreSQL.
//!
//! These tests need `Store::store_info` and `Undelivered::oldest_pending_at` from the store
//! backends.

mod common;

use chrono::{Duration, Utc};
use common::{scenario4, sql_time, stderr, stdout, Bin, TestDb};
use std::path::Path;

/// The sample's configuration, with an SMTP server that refuses connections (port 9).
fn config(dir: &Path) -> std::path::PathBuf {
    let roles = std::fs::read_to_string(scenario4().join("config.toml")).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "{roles}\n[smtp]\nhost = \"127.0.0.1\"\nport = 9\ntls = \"none\"\ntimeout_secs = 2\n\
             [mail]\nfrom = \"POSC Review <review@posc.example>\"\nmax_attempts = 3\n"
        ),
    )
    .unwrap();
    path
}

/// A fresh store with the sample imported and reviewed by hand (a dry run).
fn reviewed(db: &TestDb, work: &Path, extra: &[&str]) -> Bin {
    let mut bin = Bin::new(db);
    bin.config = Some(config(work));
    let out = bin.run(&["import", scenario4().to_str().unwrap()]);
    assert!(out.status.success(), "[{}] {}", db.backend, stderr(&out));
    let out_dir = work.join("out");
    let mut args = vec![
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    bin.run(&args);
    bin
}

fn status_json(bin: &Bin) -> (Option<i32>, serde_json::Value) {
    let out = bin.run(&["status", "--format", "json"]);
    let json = serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(&out), stderr(&out)));
    (out.status.code(), json)
}

#[test]
fn a_reviewed_store_is_healthy_in_every_format() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = reviewed(&db, work.path(), &[]);

        let text = bin.run(&["status"]);
        assert_eq!(
            text.status.code(),
            Some(0),
            "[{}] {}{}",
            db.backend,
            stdout(&text),
            stderr(&text)
        );
        let shown = stdout(&text);
        assert!(shown.contains(": healthy"), "[{}] {shown}", db.backend);
        assert!(
            shown.contains("4 organizations"),
            "[{}] {shown}",
            db.backend
        );
        assert!(
            shown.contains("Healthy: nothing needs attention."),
            "[{}] {shown}",
            db.backend
        );
        // A new store is not blamed for the periods that fell due before it existed.
        assert!(
            shown.contains("before the store existed"),
            "[{}] {shown}",
            db.backend
        );

        let (code, json) = status_json(&bin);
        assert_eq!(code, Some(0), "[{}] {json}", db.backend);
        assert_eq!(json["healthy"], true);
        assert_eq!(json["problems"], serde_json::json!([]));
        assert_eq!(json["store"]["counts"]["organizations"], 4);
        assert!(json["store"]["last_import_at"].is_string(), "{json}");
        assert_eq!(json["cadences"].as_array().unwrap().len(), 3);

        let metrics = bin.run(&["status", "--format", "prometheus"]);
        assert_eq!(metrics.status.code(), Some(0), "[{}]", db.backend);
        let text = stdout(&metrics);
        assert!(
            text.contains("# TYPE posc_review_healthy gauge\nposc_review_healthy 1\n"),
            "{text}"
        );
        assert!(
            text.contains("posc_review_store_rows{table=\"organizations\"} 4\n"),
            "{text}"
        );
        assert!(
            text.contains("posc_review_next_due_timestamp_seconds{cadence=\"quarterly\"} "),
            "{text}"
        );
        // The review was by hand, of no cadence: no cadence has a last run.
        assert!(!text.contains("posc_review_last_run_success"), "{text}");
    }
}

#[test]
fn a_failed_run_of_a_cadence_needs_attention_and_is_named() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = reviewed(&db, work.path(), &["--cadence", "quarterly"]);
        db.execute("UPDATE runs SET status = 'failed', error = 'the disk is full'");

        let out = bin.run(&["status"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "[{}] {}{}",
            db.backend,
            stdout(&out),
            stderr(&out)
        );
        let shown = stdout(&out);
        assert!(
            shown.contains("1 problem needs attention"),
            "[{}] {shown}",
            db.backend
        );
        assert!(shown.contains("failed: the disk is full; run `posc-review review --cadence quarterly --send` again"), "[{}] {shown}", db.backend);
        assert!(
            stderr(&out).contains("1 problem needs attention"),
            "[{}] {}",
            db.backend,
            stderr(&out)
        );

        let (code, json) = status_json(&bin);
        assert_eq!(code, Some(1));
        assert_eq!(json["healthy"], false);
        assert_eq!(json["problems"][0]["kind"], "run-failed");
        assert_eq!(json["problems"][0]["cadence"], "quarterly");

        let metrics = bin.run(&["status", "--format", "prometheus"]);
        assert_eq!(metrics.status.code(), Some(1));
        let text = stdout(&metrics);
        assert!(text.contains("posc_review_healthy 0\n"), "{text}");
        assert!(
            text.contains("posc_review_last_run_success{cadence=\"quarterly\"} 0\n"),
            "{text}"
        );

        // Reviewed again, to completion: the failed run is no longer the last one.
        let again = bin.run(&[
            "review",
            "--cadence",
            "quarterly",
            "--out",
            work.path().join("out").to_str().unwrap(),
        ]);
        assert!(again.status.success(), "{}", stderr(&again));
        let (code, json) = status_json(&bin);
        assert_eq!(code, Some(0), "[{}] {json:#}", db.backend);
        assert_eq!(json["cadences"][0]["last_run"]["status"], "completed");
    }
}

#[test]
fn a_failed_claim_needs_attention() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = reviewed(&db, work.path(), &[]);
        let due = Utc::now() - Duration::hours(1);
        db.execute(&format!(
            "INSERT INTO schedule_claims (period_key, cadence, due_at, state, owner, run_id, \
             attempts, claimed_at, heartbeat_at, finished_at, error) VALUES \
             ('annual:2026-11-29T18:00:00Z', 'annual', {due}, 'failed', 'elsewhere:1:00000001', \
             NULL, 1, {due}, {due}, {due}, 'cannot load the snapshot')",
            due = sql_time(due)
        ));
        let out = bin.run(&["status"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "[{}] {}{}",
            db.backend,
            stdout(&out),
            stderr(&out)
        );
        let shown = stdout(&out);
        assert!(
            shown.contains(
                "the annual review of annual:2026-11-29T18:00:00Z failed: cannot load the snapshot"
            ),
            "[{}] {shown}",
            db.backend
        );
        let (_, json) = status_json(&bin);
        assert_eq!(json["claims"][0]["state"], "failed");
        assert_eq!(json["problems"][0]["kind"], "claim-failed");
    }
}

#[test]
fn mail_that_failed_for_good_needs_attention_and_pending_mail_does_not_yet() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        // The server refuses connections: the run's messages stay pending.
        let bin = reviewed(&db, work.path(), &["--send"]);
        let (code, json) = status_json(&bin);
        assert_eq!(code, Some(0), "[{}] {json}", db.backend);
        assert_eq!(json["outbox"]["pending"], 9, "[{}] {json}", db.backend);
        assert!(
            json["outbox"]["oldest_pending_at"].is_string(),
            "[{}] {json}",
            db.backend
        );

        db.execute("UPDATE outbox SET state = 'failed', attempts = 3");
        let out = bin.run(&["status"]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "[{}] {}{}",
            db.backend,
            stdout(&out),
            stderr(&out)
        );
        assert!(
            stdout(&out)
                .contains("9 messages failed for good: `posc-review send --list` shows why"),
            "[{}] {}",
            db.backend,
            stdout(&out)
        );

        // Written to a file for node_exporter: the verdict is still the exit status.
        let prom = work.path().join("posc_review.prom");
        let metrics = bin.run(&[
            "status",
            "--format",
            "prometheus",
            "--output",
            prom.to_str().unwrap(),
        ]);
        assert_eq!(
            metrics.status.code(),
            Some(1),
            "[{}] {}",
            db.backend,
            stderr(&metrics)
        );
        assert_eq!(stdout(&metrics), "");
        let text = std::fs::read_to_string(&prom).unwrap();
        assert!(
            text.contains("posc_review_outbox_messages{state=\"failed\"} 9\n"),
            "{text}"
        );
        assert!(text.contains("posc_review_healthy 0\n"), "{text}");
        assert!(
            !text.contains("outbox_oldest_pending_age_seconds"),
            "{text}"
        );
    }
}
