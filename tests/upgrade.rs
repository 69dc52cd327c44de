//! A store written by the binary before times were stored as UTC instants (commit 91a0707:
//! local RFC 3339 text for runs, the audit log and decisions, `%.6fZ` in the outbox), opened by
//! this one: the migration converts it, and every command shows the same instants as before.
//! The fixture came from `import tests/fixtures/scenario4`, `review --as-of 2026-10-01 --send`
//! (the server refused, so the mail is pending), `accounts set-backup bwright --pidsl
//! 110000001A --by gpatel` and a decisions CSV accepting one finding, at 13:15 EST.

mod common;

use common::{stdout, Bin};
use serde_json::Value;
use std::path::Path;

fn upgraded_store() -> (tempfile::TempDir, Bin) {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-before-utc-times");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture.join("posc-review.db"),
        dir.path().join("posc-review.db"),
    )
    .unwrap();
    let bin = Bin {
        db_url: format!("sqlite://{}", dir.path().join("posc-review.db").display()),
        config: Some(fixture.join("posc-review.toml")),
        cwd: None,
        env: vec![],
    };
    (dir, bin)
}

fn json(bin: &Bin, args: &[&str]) -> Value {
    let out = bin.run(args);
    assert!(out.status.success(), "{args:?}: {}", common::stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn an_older_store_keeps_its_instants_after_the_upgrade() {
    let (_dir, bin) = upgraded_store();
    let runs = json(&bin, &["runs", "--format", "json"]);
    assert_eq!(runs[0]["id"], "20261129-001");
    // Nanoseconds were kept before; microseconds are now.
    assert_eq!(runs[0]["started_at"], "2026-11-29T13:15:27.830634-05:00");
    assert_eq!(runs[0]["finished_at"], "2026-11-29T13:15:27.878876-05:00");
    assert_eq!(runs[0]["counts"]["findings"], 29);

    let history = json(&bin, &["accounts", "history", "--format", "json"]);
    assert_eq!(history[0]["at"], "2026-11-29T13:15:27-05:00");
    assert_eq!(history[0]["actor"], "gpatel");

    let decisions = json(&bin, &["decisions", "list", "--format", "json"]);
    assert_eq!(decisions[0]["decided_at"], "2026-11-29T13:15:27-05:00");
    assert_eq!(decisions[0]["decision"], "Accept risk");

    let outbox = json(&bin, &["send", "--list", "--format", "json"]);
    assert!(outbox.as_array().unwrap().len() > 1);
    for entry in outbox.as_array().unwrap() {
        assert_eq!(entry["state"], "pending");
        // Stored as 2026-11-29T18:16:27.886xxxZ: a minute after the refused attempt.
        let next = entry["next_attempt_at"].as_str().unwrap();
        assert!(
            next.starts_with("2026-11-29T13:16:27.886") && next.ends_with("-05:00"),
            "{next}"
        );
    }

    let table = stdout(&bin.run(&["runs"]));
    assert!(table.contains("2026-11-29 13:15:27 EST"), "{table}");
}

#[test]
fn an_upgraded_store_reviews_with_its_history() {
    let (dir, bin) = upgraded_store();
    let out = dir.path().join("out");
    let review = bin.run(&[
        "review",
        "--as-of",
        "2026-10-15",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(review.status.success(), "{}", common::stderr(&review));
    // The accepted risk of the first run carries over; the other findings are open now.
    let accepted = json(
        &bin,
        &["findings", "--status", "accepted", "--format", "json"],
    );
    assert_eq!(accepted.as_array().unwrap().len(), 1, "{accepted}");
    assert_eq!(accepted[0]["rule"], "missing-backup");
}

#[test]
fn an_upgraded_store_gets_an_identity() {
    let (_dir, bin) = upgraded_store();
    json(&bin, &["runs", "--format", "json"]);
    let info = common::block_on(async {
        let store =
            posc_review::store::open(&bin.db_url, posc_review::store::DEFAULT_CONNECT_TIMEOUT)
                .await
                .unwrap();
        let info = store.store_info().await.unwrap();
        store.close().await;
        info
    });
    assert_eq!(info.store_id.len(), 16, "{info:?}");
    assert!(
        info.store_id.chars().all(|c| c.is_ascii_hexdigit()),
        "{info:?}"
    );
    // Made when the store was migrated; the fixture's import was before this version.
    assert_eq!(info.last_import_at, None);
}
