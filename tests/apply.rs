//! `posc-review decisions apply`: a run's Fix in POSC decisions on removal findings become the
//! store's account operations, with the policy checks and the audit log of `accounts`; the next
//! review finds those findings resolved — on SQLite and PostgreSQL.

mod common;

use common::{read_csv, scenario4, stderr, stdout, Bin, TestDb};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn review(bin: &Bin, out: &Path, as_of: &str) -> PathBuf {
    let result = bin.run(&["review", "--as-of", as_of, "--out", out.to_str().unwrap()]);
    assert!(result.status.success(), "review: {}", stderr(&result));
    let text = stdout(&result);
    let folder = text
        .lines()
        .find_map(|l| l.strip_prefix("Files in "))
        .expect("the summary names the folder");
    PathBuf::from(folder.trim_end_matches(':'))
}

/// The run's findings by (rule, pidsl, username): each one's status and fingerprint.
fn findings(run_dir: &Path) -> HashMap<(String, String, String), (String, String)> {
    read_csv(&run_dir.join("findings.csv"))
        .into_iter()
        .map(|r| {
            (
                (r["rule"].clone(), r["pidsl"].clone(), r["username"].clone()),
                (r["status"].clone(), r["fingerprint"].clone()),
            )
        })
        .collect()
}

/// Records `decision` on the findings named by (rule, pidsl, username).
fn decide(
    bin: &Bin,
    dir: &Path,
    run: &HashMap<(String, String, String), (String, String)>,
    decision: &str,
    which: &[(&str, &str, &str)],
) {
    let mut csv = String::from("fingerprint,decision,justification,reviewer\n");
    for (rule, pidsl, user) in which {
        let key = (rule.to_string(), pidsl.to_string(), user.to_string());
        let (_, fingerprint) = run
            .get(&key)
            .unwrap_or_else(|| panic!("no finding {key:?}"));
        csv.push_str(&format!(
            "{fingerprint},{decision},left in June,Dana Compliance\n"
        ));
    }
    let file = dir.join("decisions.csv");
    std::fs::write(&file, csv).unwrap();
    let out = bin.run(&["decisions", "import", file.to_str().unwrap()]);
    assert!(out.status.success(), "import: {}", stderr(&out));
}

#[test]
fn fix_in_posc_on_removal_findings_is_applied_audited_and_resolved_at_the_next_review() {
    for db in TestDb::all() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("reports");
        let bin = Bin::new(&db);
        let imported = bin.run(&["import", scenario4().to_str().unwrap()]);
        assert!(imported.status.success(), "{}", stderr(&imported));
        let first = findings(&review(&bin, &out, "2026-10-01"));
        decide(
            &bin,
            dir.path(),
            &first,
            "Fix in POSC",
            &[
                ("terminated-user-access", "110000001A", "oleft"),
                ("expired-link", "110000001A", "sfox"),
                ("stale-user", "", "cjones"),
                // gpatel administers no PID/SL of ORG-BILL: refused.
                ("terminated-user-active", "", "tterm"),
                // Not a removal: left to the POSC.
                ("overbroad-grant", "110000001A", "ewalsh"),
            ],
        );
        // Another decision than Fix in POSC is not applied.
        decide(
            &bin,
            dir.path(),
            &first,
            "Not a problem",
            &[("stale-user", "", "zlate")],
        );

        // The dry run changes nothing and says what would be done.
        let dry = bin.run(&["decisions", "apply", "--by", "gpatel", "--dry-run"]);
        assert_eq!(dry.status.code(), Some(2), "{}", stderr(&dry));
        let text = stdout(&dry);
        assert!(
            text.contains("WOULD APPLY: oleft on 110000001A (terminated-user-access"),
            "{text}"
        );
        assert!(
            text.contains(
                "3 would apply, 0 already in effect, 1 refused, 1 to do in the POSC only (dry run"
            ),
            "{text}"
        );
        let history = stdout(&bin.run(&["accounts", "history"]));
        assert!(!history.contains("Fix in POSC decided by"), "{history}");

        let applied = bin.run(&["decisions", "apply", "--by", "gpatel", "--format", "json"]);
        assert_eq!(
            applied.status.code(),
            Some(2),
            "one refusal: {}",
            stderr(&applied)
        );
        assert!(
            stderr(&applied).contains("1 decision refused"),
            "{}",
            stderr(&applied)
        );
        let report: serde_json::Value = serde_json::from_str(&stdout(&applied)).unwrap();
        let effect = |user: &str, rule: &str| {
            let d = report["decisions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["username"] == user && d["rule"] == rule)
                .unwrap_or_else(|| panic!("no decision on {user}"));
            (
                d["effect"].as_str().unwrap().to_string(),
                d["reason"].as_str().unwrap_or("").to_string(),
                d["posc_steps"].to_string(),
            )
        };
        let (e, _, steps) = effect("oleft", "terminated-user-access");
        assert_eq!(e, "applied");
        assert!(
            steps.contains("choose 110000001A from the Provider dropdown")
                && steps.contains("click Remove"),
            "{steps}"
        );
        assert_eq!(effect("sfox", "expired-link").0, "applied");
        assert_eq!(effect("cjones", "stale-user").0, "applied");
        let (e, reason, _) = effect("tterm", "terminated-user-active");
        assert_eq!(e, "refused");
        assert!(
            reason.contains("gpatel is not the Primary User or backup of any PID/SL of ORG-BILL"),
            "{reason}"
        );
        let (e, _, steps) = effect("ewalsh", "overbroad-grant");
        assert_eq!(e, "in-the-posc");
        assert!(steps.contains("to Available Services"), "{steps}");
        assert!(report["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["username"] != "zlate"));

        // The store changed, and the audit log says by whom and why.
        let oleft = stdout(&bin.run(&["accounts", "show", "oleft"]));
        assert!(!oleft.contains("110000001A"), "{oleft}");
        let cjones = stdout(&bin.run(&["accounts", "show", "cjones", "--format", "json"]));
        assert!(cjones.contains("\"inactive\""), "{cjones}");
        let history = stdout(&bin.run(&["accounts", "history", "oleft"]));
        assert!(
            history.contains("gpatel")
                && history.contains(
                    "Fix in POSC decided by Dana Compliance on the terminated-user-access finding"
                ),
            "{history}"
        );

        // Again: nothing more to do.
        let again = bin.run(&["decisions", "apply", "--by", "gpatel"]);
        let text = stdout(&again);
        assert!(
            text.contains("0 applied, 3 already in effect, 1 refused"),
            "{text}"
        );
        assert!(text.contains("ALREADY IN EFFECT: oleft on 110000001A (terminated-user-access, decided by Dana Compliance): oleft has no access to 110000001A any more"), "{text}");

        // The next review finds the applied ones gone, and counts them remediated after a
        // decision.
        let second_dir = review(&bin, &out, "2026-10-02");
        let html = std::fs::read_to_string(second_dir.join("summary.html")).unwrap();
        let remediated = html
            .split(r#"id="count-remediated">"#)
            .nth(1)
            .and_then(|s| s.split('<').next())
            .expect("summary.html counts the remediated findings");
        assert_eq!(remediated, "3", "{html}");
        let second = findings(&second_dir);
        for gone in [
            ("terminated-user-access", "110000001A", "oleft"),
            ("expired-link", "110000001A", "sfox"),
            ("stale-user", "", "cjones"),
        ] {
            let key = (gone.0.to_string(), gone.1.to_string(), gone.2.to_string());
            assert!(!second.contains_key(&key), "{key:?} still found");
        }
        for kept in [
            ("terminated-user-active", "", "tterm"),
            ("overbroad-grant", "110000001A", "ewalsh"),
        ] {
            let key = (kept.0.to_string(), kept.1.to_string(), kept.2.to_string());
            assert_eq!(second[&key].0, "open", "{key:?}");
        }
    }
}

#[test]
fn apply_refuses_an_unknown_run_and_an_actor_who_is_nobody() {
    for db in TestDb::all() {
        let dir = tempfile::tempdir().unwrap();
        let bin = Bin::new(&db);
        let none = bin.run(&["decisions", "apply", "--by", "gpatel"]);
        assert_eq!(none.status.code(), Some(2));
        assert!(
            stderr(&none).contains("no completed run"),
            "{}",
            stderr(&none)
        );
        let imported = bin.run(&["import", scenario4().to_str().unwrap()]);
        assert!(imported.status.success(), "{}", stderr(&imported));
        let first = findings(&review(&bin, &dir.path().join("reports"), "2026-10-01"));
        let unknown = bin.run(&[
            "decisions",
            "apply",
            "--run",
            "20990101-001",
            "--by",
            "gpatel",
        ]);
        assert_eq!(unknown.status.code(), Some(2));
        assert!(
            stderr(&unknown).contains("no run \"20990101-001\""),
            "{}",
            stderr(&unknown)
        );
        decide(
            &bin,
            dir.path(),
            &first,
            "Fix in POSC",
            &[("expired-link", "110000001A", "sfox")],
        );
        let nobody = bin.run(&["decisions", "apply", "--by", "nobody"]);
        assert_eq!(nobody.status.code(), Some(2));
        let text = stdout(&nobody);
        assert!(text.contains("REFUSED: sfox on 110000001A (expired-link, decided by Dana Compliance): no user \"nobody\" in the store"), "{text}");
        let sfox = stdout(&bin.run(&["accounts", "show", "sfox"]));
        assert!(sfox.contains("110000001A"), "nothing changed: {sfox}");
    }
}

#[test]
fn two_applies_at_once_make_each_change_once() {
    for db in TestDb::all() {
        let dir = tempfile::tempdir().unwrap();
        let bin = Bin::new(&db);
        let imported = bin.run(&["import", scenario4().to_str().unwrap()]);
        assert!(imported.status.success(), "{}", stderr(&imported));
        let first = findings(&review(&bin, &dir.path().join("reports"), "2026-10-01"));
        decide(
            &bin,
            dir.path(),
            &first,
            "Fix in POSC",
            &[
                ("terminated-user-access", "110000001A", "oleft"),
                ("expired-link", "110000001A", "sfox"),
                ("expired-link", "110000001D", "sfox"),
                ("stale-user", "", "cjones"),
                ("stale-user", "", "iold"),
            ],
        );
        let both: Vec<_> = (0..2)
            .map(|_| bin.spawn(&["decisions", "apply", "--by", "gpatel", "--format", "json"]))
            .collect();
        let mut applied = 0;
        for child in both {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
            for d in report["decisions"].as_array().unwrap() {
                match d["effect"].as_str().unwrap() {
                    "applied" => applied += 1,
                    "already-in-effect" => {}
                    other => panic!("{other}: {d}"),
                }
            }
        }
        assert_eq!(
            applied, 5,
            "each decision applied by exactly one of the two"
        );
        let history = stdout(&bin.run(&["accounts", "history", "--format", "json"]));
        let events: serde_json::Value = serde_json::from_str(&history).unwrap();
        assert_eq!(events.as_array().unwrap().len(), 5, "{history}");
    }
}
