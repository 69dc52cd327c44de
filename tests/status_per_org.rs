//! A finding's status is per organization: `new` when the organization's previous completed
//! review (whatever that run's scope) did not have it, `open` with its first_seen when it did,
//! and `resolved` counts the organization's previous-review findings that are gone — through
//! the binary, on SQLite and PostgreSQL, driven by `--as-of`.

mod common;

use common::{copy_snapshot, read_csv, scenario4, stderr, stdout, Bin, TestDb};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

type Row = HashMap<String, String>;

fn import(bin: &Bin, dir: &Path) {
    let out = bin.run(&["import", dir.to_str().unwrap()]);
    assert!(out.status.success(), "import failed: {}", stderr(&out));
}

/// Reviews as of `as_of` with the scope `args` (`--org X`, `--cadence C`, or none); returns the
/// run's summary (`--format json`) and its findings.csv.
fn review(bin: &Bin, out: &Path, as_of: &str, args: &[&str]) -> (serde_json::Value, Vec<Row>) {
    let mut all = vec![
        "review",
        "--as-of",
        as_of,
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    let result = bin.run(&all);
    assert!(result.status.success(), "{args:?}: {}", stderr(&result));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&result)).unwrap();
    let dir = PathBuf::from(summary["out_dir"].as_str().unwrap());
    (summary, read_csv(&dir.join("findings.csv")))
}

fn counts(summary: &serde_json::Value) -> (u64, u64, u64) {
    let c = &summary["run"]["counts"];
    (
        c["new"].as_u64().unwrap(),
        c["open"].as_u64().unwrap(),
        c["resolved"].as_u64().unwrap(),
    )
}

/// A finding's identity: rule, org_id, PID/SL, username.
fn key(f: &Row) -> (String, String, String, String) {
    (
        f["rule"].clone(),
        f["org_id"].clone(),
        f["pidsl"].clone(),
        f["username"].clone(),
    )
}

/// Checks each of `rows` (a run as of `as_of`) against its organization's last review,
/// `last[org_id]`: open with that review's first_seen if it was there, else new and first seen
/// now. Returns how many were open.
fn check_against(tag: &str, rows: &[Row], last: &HashMap<String, Vec<Row>>, as_of: &str) -> usize {
    let mut open = 0;
    for f in rows {
        let before = last
            .get(&f["org_id"])
            .and_then(|r| r.iter().find(|p| key(p) == key(f)));
        match before {
            Some(p) => {
                open += 1;
                assert_eq!(f["status"], "open", "[{tag}] {f:?}");
                assert_eq!(f["first_seen"], p["first_seen"], "[{tag}] {f:?}");
            }
            None => {
                assert_eq!(f["status"], "new", "[{tag}] {f:?}");
                assert_eq!(f["first_seen"], as_of, "[{tag}] {f:?}");
            }
        }
    }
    open
}

/// Records `rows` as the last review of each organization in `orgs`.
fn reviewed(last: &mut HashMap<String, Vec<Row>>, orgs: &[&str], rows: &[Row]) {
    for org in orgs {
        let own = rows.iter().filter(|f| f["org_id"] == *org).cloned();
        last.insert(org.to_string(), own.collect());
    }
}

#[test]
fn a_finding_seen_at_the_organizations_last_review_is_open_whatever_that_runs_scope() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let tag = db.backend;
        let mut last = HashMap::new();

        // Maple Grove alone first: never reviewed, everything new.
        let (first, ltc) = review(&bin, out.path(), "2026-10-01", &["--org", "ORG-LTC"]);
        assert!(!ltc.is_empty());
        assert_eq!(check_against(tag, &ltc, &last, "2026-10-01"), 0);
        assert_eq!(counts(&first), (ltc.len() as u64, 0, 0), "[{tag}]");
        reviewed(&mut last, &["ORG-LTC"], &ltc);

        // The whole store: Maple Grove's grant is open from its own review; the others were
        // never reviewed, so theirs are new; Maple Grove is no longer overdue (resolved).
        let (whole, rows) = review(&bin, out.path(), "2026-10-01", &[]);
        let open = check_against(tag, &rows, &last, "2026-10-01");
        assert_eq!(open, 1, "[{tag}] Maple Grove's overbroad grant");
        assert!(!rows
            .iter()
            .any(|f| f["org_id"] == "ORG-LTC" && f["rule"] == "review-overdue"));
        assert_eq!(
            counts(&whole),
            (rows.len() as u64 - 1, 1, 1),
            "[{tag}] {whole}"
        );
        let all = ["ORG-GP", "ORG-BILL", "ORG-LTC", "ORG-HOSP"];
        reviewed(&mut last, &all, &rows);

        // Riverbend alone, two weeks later: what the whole-store review found is open, first
        // seen then (before, the first --org run showed it all as new); what turned up since is
        // new; nothing resolved.
        let (org_run, gp) = review(&bin, out.path(), "2026-10-15", &["--org", "ORG-GP"]);
        let open = check_against(tag, &gp, &last, "2026-10-15");
        assert!(
            open > 10 && open < gp.len(),
            "[{tag}] {open} of {}",
            gp.len()
        );
        assert_eq!(
            counts(&org_run),
            ((gp.len() - open) as u64, open as u64, 0),
            "[{tag}]"
        );
        reviewed(&mut last, &["ORG-GP"], &gp);

        // The quarterly cadence (Riverbend and Harborview): each against its own last review,
        // Riverbend's the --org run, Harborview's the whole-store one, whose review-overdue is
        // gone now: resolved.
        let (cadence, quarterly) =
            review(&bin, out.path(), "2026-10-15", &["--cadence", "quarterly"]);
        let open = check_against(tag, &quarterly, &last, "2026-10-15");
        assert!(quarterly.iter().any(|f| f["org_id"] == "ORG-HOSP"));
        assert_eq!(open, quarterly.len(), "[{tag}] nothing new since");
        assert_eq!(counts(&cadence), (0, open as u64, 1), "[{tag}] {cadence}");

        // Stored as shown: `findings` reads the same statuses back.
        let new = bin.run(&["findings", "--status", "new", "--format", "json"]);
        let new: serde_json::Value = serde_json::from_str(&stdout(&new)).unwrap();
        assert_eq!(new.as_array().unwrap().len(), 0, "[{tag}] {new}");
    }
}

#[test]
fn a_finding_fixed_after_a_whole_store_review_is_resolved_in_the_next_org_review() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let tag = db.backend;
        review(&bin, out.path(), "2026-10-01", &[]);

        // 110000001B (Riverbend) gets a backup.
        let fixed = copy_snapshot(&scenario4());
        let path = fixed.path().join("access.csv");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("sdubois,110000001B,backup,PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL;CLAIMS;REPORTS;FINANCIAL;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE,2026-10-02,\n");
        std::fs::write(&path, text).unwrap();
        import(&bin, fixed.path());

        let (gp, rows) = review(&bin, out.path(), "2026-10-15", &["--org", "ORG-GP"]);
        assert_eq!(counts(&gp).2, 1, "[{tag}] {gp}");
        assert!(!rows
            .iter()
            .any(|f| f["rule"] == "missing-backup" && f["pidsl"] == "110000001B"));
        let mail = std::fs::read_dir(PathBuf::from(gp["out_dir"].as_str().unwrap()).join("mail"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains("management-ORG-GP"))
            .expect("ORG-GP's management report");
        let mail = std::fs::read_to_string(mail).unwrap();
        assert!(
            mail.contains("RESOLVED SINCE THE LAST REVIEW (1)"),
            "[{tag}] {mail}"
        );

        // Nothing changed at Bay State Billing: nothing resolved, nothing new.
        let (bill, _) = review(&bin, out.path(), "2026-10-15", &["--org", "ORG-BILL"]);
        assert_eq!(counts(&bill), (0, 1, 0), "[{tag}] {bill}");
    }
}

#[test]
fn findings_can_be_listed_by_every_stored_status_and_no_other() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    import(&bin, &scenario4());
    let out = tempfile::tempdir().unwrap();
    let (_, found) = review(&bin, out.path(), "2026-10-01", &[]);
    for status in ["new", "open", "accepted", "suppressed"] {
        let listed = bin.run(&["findings", "--status", status, "--format", "json"]);
        assert!(listed.status.success(), "{status}: {}", stderr(&listed));
        let rows: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
        let expected = if status == "new" { found.len() } else { 0 };
        assert_eq!(rows.as_array().unwrap().len(), expected, "{status}");
    }
    let resolved = bin.run(&["findings", "--status", "resolved"]);
    assert_eq!(resolved.status.code(), Some(2));
    assert!(
        stderr(&resolved).contains("suppressed"),
        "{}",
        stderr(&resolved)
    );
}
