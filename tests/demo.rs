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

/// The findings per rule that issue 20 quotes for a finding-dense store of 100,000 PID/SLs.
const DENSE_MIX: [(&str, f64); 10] = [
    ("stale-user", 404_032.0),
    ("overbroad-grant", 81_090.0),
    ("terminated-user-access", 79_488.0),
    ("expired-link", 37_320.0),
    ("terminated-user-active", 19_654.0),
    ("terms-not-accepted", 18_769.0),
    ("backup-missing-services", 15_576.0),
    ("missing-backup", 14_075.0),
    ("missing-primary", 7_822.0),
    ("review-overdue", 6_668.0),
];

#[test]
fn the_dense_profile_finds_about_seven_problems_per_pidsl_in_the_issues_mix() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let out = demo_bin(&db, work.path()).run(&[
            "demo",
            "--scale",
            "1000",
            "--profile",
            "dense",
            "--as-of",
            "2026-10-01",
        ]);
        assert!(out.status.success(), "[{}] {}", db.backend, stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains("200 organizations, 1000 PID/SLs, 10000 users"),
            "{text}"
        );
        let folder = text
            .lines()
            .find_map(|l| l.strip_prefix("Files in "))
            .unwrap()
            .trim_end_matches(':');
        let findings = read_csv(&work.path().join(folder).join("findings.csv"));
        let per_pidsl = findings.len() as f64 / 1000.0;
        assert!(
            (6.3..=7.7).contains(&per_pidsl),
            "[{}] {per_pidsl} findings per PID/SL",
            db.backend
        );
        let mut got: std::collections::BTreeMap<&str, f64> = Default::default();
        for row in &findings {
            *got.entry(row["rule"].as_str()).or_default() += 1.0;
        }
        let total: f64 = DENSE_MIX.iter().map(|(_, n)| n).sum();
        for (rule, count) in DENSE_MIX {
            let want = count / total;
            let share = got.get(rule).copied().unwrap_or(0.0) / findings.len() as f64;
            // A quarter either way, or 0.4 points for the rare rules, which a thousand
            // PID/SLs only sample.
            assert!(
                (share - want).abs() <= (want / 4.0).max(0.004),
                "[{}] {rule}: {:.2} % of the findings, the issue's mix {:.2} %",
                db.backend,
                share * 100.0,
                want * 100.0
            );
        }
        let others: f64 = got
            .iter()
            .filter(|(rule, _)| !DENSE_MIX.iter().any(|(r, _)| r == *rule))
            .map(|(_, n)| n)
            .sum();
        assert!(
            others <= 0.002 * findings.len() as f64,
            "[{}] rules outside the mix: {got:?}",
            db.backend
        );
    }
}

#[test]
fn a_profile_without_scale_is_refused() {
    let db = TestDb::sqlite();
    let work = tempfile::tempdir().unwrap();
    let out = demo_bin(&db, work.path()).run(&["demo", "--profile", "dense"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--scale <N>"), "{}", stderr(&out));
    assert!(!work.path().join("demo").exists(), "nothing written");
}
