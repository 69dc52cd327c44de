//! `posc-review demo`: the tour imports, reviews, and fires every rule exactly as planted.

mod common;

use common::{read_csv, stderr, stdout, Bin, TestDb};
use posc_review::demo::TOUR_PLANTED;
use posc_review::rules::RULES;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn demo_bin(db: &TestDb, cwd: &std::path::Path) -> Bin {
    let mut bin = Bin::new(db);
    bin.config = None;
    bin.cwd = Some(cwd.to_path_buf());
    bin
}

#[test]
fn the_tour_fires_every_rule_exactly_as_planted() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let out = demo_bin(&db, work.path()).run(&["demo", "--as-of", "2026-10-01"]);
        assert!(out.status.success(), "[{}] {}", db.backend, stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("Wrote a demo snapshot to demo"), "{text}");
        let folder = text
            .lines()
            .find_map(|l| l.strip_prefix("Files in "))
            .unwrap()
            .trim_end_matches(':');
        let findings = read_csv(&work.path().join(PathBuf::from(folder)).join("findings.csv"));
        let got: BTreeSet<(String, String, String, String)> = findings
            .iter()
            .map(|r| {
                (
                    r["rule"].clone(),
                    r["org_id"].clone(),
                    r["pidsl"].clone(),
                    r["username"].clone(),
                )
            })
            .collect();
        let want: BTreeSet<(String, String, String, String)> = TOUR_PLANTED
            .iter()
            .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
            .collect();
        assert_eq!(got, want, "[{}]", db.backend);
        let rules: BTreeSet<&str> = findings.iter().map(|r| r["rule"].as_str()).collect();
        assert_eq!(rules.len(), RULES.len(), "every rule fires");
    }
}

#[test]
fn the_demo_will_not_replace_someone_elses_store_without_force() {
    let db = TestDb::sqlite();
    let work = tempfile::tempdir().unwrap();
    let bin = demo_bin(&db, work.path());
    let theirs = tempfile::tempdir().unwrap();
    std::fs::write(
        theirs.path().join("organizations.csv"),
        "org_id,name,management_emails\nACME,Acme Clinic,it@acme.example\n",
    )
    .unwrap();
    std::fs::write(
        theirs.path().join("pidsls.csv"),
        "pidsl,org_id\n123456789A,ACME\n",
    )
    .unwrap();
    std::fs::write(
        theirs.path().join("users.csv"),
        "username,first_name,last_name,email,org_id\n",
    )
    .unwrap();
    assert!(bin
        .run(&["import", theirs.path().to_str().unwrap()])
        .status
        .success());
    let refused = bin.run(&["demo"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("already holds other organizations"),
        "{}",
        stderr(&refused)
    );
    let forced = bin.run(&["demo", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
}

#[test]
fn scale_snapshots_are_deterministic_for_a_seed() {
    let db = TestDb::sqlite();
    let work = tempfile::tempdir().unwrap();
    let bin = demo_bin(&db, work.path());
    for (dir, seed) in [("a", "7"), ("b", "7"), ("c", "8")] {
        let out = bin.run(&[
            "demo",
            "--scale",
            "30",
            "--seed",
            seed,
            "--snapshot",
            dir,
            "--no-import",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("30 PID/SLs, 300 users"),
            "{}",
            stdout(&out)
        );
    }
    let read = |dir: &str| std::fs::read(work.path().join(dir).join("access.csv")).unwrap();
    assert_eq!(read("a"), read("b"));
    assert_ne!(read("a"), read("c"));
}
