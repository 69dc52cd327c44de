//! `posc-review review`: the fixtures' expected findings exactly, statuses across runs, exit
//! statuses, and the runs/findings queries — on SQLite and PostgreSQL.

mod common;

use common::{copy_snapshot, fixtures_dir, read_csv, scenario4, stderr, stdout, Bin, TestDb};
use posc_review::clock::{SharedClock, SystemClock};
use posc_review::commands;
use posc_review::review::{self, ReviewObserver, ReviewRequest, ReviewStage};
use posc_review::store::RunRecord;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

type Key = (String, String, String, String);

fn key_set(rows: &[std::collections::HashMap<String, String>]) -> BTreeSet<Key> {
    rows.iter()
        .map(|r| {
            (
                r["rule"].clone(),
                r["org_id"].clone(),
                r["pidsl"].to_uppercase(),
                r["username"].to_lowercase(),
            )
        })
        .collect()
}

/// Runs a review and returns the run folder.
fn review(bin: &Bin, out: &Path, as_of: &str) -> PathBuf {
    let result = bin.run(&["review", "--as-of", as_of, "--out", out.to_str().unwrap()]);
    assert!(
        result.status.success(),
        "review failed: {}",
        stderr(&result)
    );
    let text = stdout(&result);
    let folder = text
        .lines()
        .find_map(|l| l.strip_prefix("Files in "))
        .expect("summary names the folder");
    PathBuf::from(folder.trim_end_matches(':'))
}

fn import(bin: &Bin, dir: &Path) {
    let out = bin.run(&["import", dir.to_str().unwrap()]);
    assert!(out.status.success(), "import failed: {}", stderr(&out));
}

#[test]
fn every_fixture_produces_exactly_its_expected_findings() {
    let fixtures: Vec<_> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected_findings.csv").is_file())
        .collect();
    assert!(
        !fixtures.is_empty(),
        "no fixture with an expected_findings.csv in {}",
        fixtures_dir().display()
    );
    for sample in fixtures {
        for db in TestDb::all() {
            let mut bin = Bin::new(&db);
            bin.config = Some(sample.join("config.toml"));
            import(&bin, &sample);
            let out = tempfile::tempdir().unwrap();
            let as_of = std::fs::read_to_string(sample.join("AS_OF")).unwrap();
            let run_dir = review(&bin, out.path(), as_of.trim());
            let got = key_set(&read_csv(&run_dir.join("findings.csv")));
            let want = key_set(&read_csv(&sample.join("expected_findings.csv")));
            let missing: Vec<_> = want.difference(&got).collect();
            let extra: Vec<_> = got.difference(&want).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "[{} on {}] missing: {missing:#?}\nextra: {extra:#?}",
                sample.display(),
                db.backend
            );
        }
    }
}

#[test]
fn findings_csv_and_access_csv_have_the_specs_columns() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    import(&bin, &scenario4());
    let out = tempfile::tempdir().unwrap();
    let run_dir = review(&bin, out.path(), "2026-10-01");
    let header = |file: &str| {
        let mut reader = csv::Reader::from_path(run_dir.join(file)).unwrap();
        reader
            .headers()
            .unwrap()
            .iter()
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(
        header("findings.csv"),
        "run_id,rule,severity,status,org_id,pidsl,username,user_name,detail,remediation,first_seen,fingerprint"
    );
    assert_eq!(
        header("access.csv"),
        "org_id,pidsl,username,user_name,user_org_id,linked,role,services,last_login_at,status,terminated_on"
    );
    let access = read_csv(&run_dir.join("access.csv"));
    assert_eq!(access.len(), 59);
    let linked = access
        .iter()
        .find(|r| r["username"] == "rbaker" && r["pidsl"] == "110000001A")
        .unwrap();
    assert_eq!(linked["linked"], "yes");
    assert_eq!(linked["user_org_id"], "ORG-BILL");
    let findings = read_csv(&run_dir.join("findings.csv"));
    assert!(findings
        .iter()
        .all(|f| !f["remediation"].is_empty() && f["status"] == "new"));
    // The user-level finding carries the user's own organization.
    let stale = findings
        .iter()
        .find(|f| f["rule"] == "terminated-user-active" && f["username"] == "tterm")
        .unwrap();
    assert_eq!(stale["org_id"], "ORG-BILL");
    assert_eq!(stale["user_name"], "Tina Termini");
}

#[test]
fn no_output_contains_personal_data() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    import(&bin, &scenario4());
    let out = tempfile::tempdir().unwrap();
    let run_dir = review(&bin, out.path(), "2026-10-01");
    let users = read_csv(&scenario4().join("users.csv"));
    let secrets: Vec<String> = users
        .iter()
        .flat_map(|u| [u["dob_mmdd"].clone(), u["ssn_last4"].clone()])
        .filter(|v| !v.is_empty())
        .collect();
    for entry in std::fs::read_dir(&run_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "csv") {
            let text = std::fs::read_to_string(&path).unwrap();
            for row in text.lines() {
                for cell in row.split(',') {
                    assert!(
                        !secrets.contains(&cell.to_string()),
                        "{} holds personal data: {row}",
                        path.display()
                    );
                }
            }
        }
    }
}

#[test]
fn a_second_run_shows_findings_open_and_a_fix_shows_them_resolved() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let first = read_csv(&review(&bin, out.path(), "2026-10-01").join("findings.csv"));
        assert!(first.iter().all(|f| f["status"] == "new"));

        let second = read_csv(&review(&bin, out.path(), "2026-10-01").join("findings.csv"));
        // The first run is a completed review, so nobody is overdue any more; the rest persist.
        let not_overdue = |rows: &[std::collections::HashMap<String, String>]| {
            key_set(
                &rows
                    .iter()
                    .filter(|f| f["rule"] != "review-overdue")
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(not_overdue(&second), not_overdue(&first));
        assert!(!second.iter().any(|f| f["rule"] == "review-overdue"));
        assert!(
            second
                .iter()
                .all(|f| f["status"] == "open" && f["first_seen"] == "2026-10-01"),
            "[{}]",
            db.backend
        );

        // Fix one problem: give 110000001B a backup.
        let fixed = copy_snapshot(&scenario4());
        let path = fixed.path().join("access.csv");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("sdubois,110000001B,backup,PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL;CLAIMS;REPORTS;FINANCIAL;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE,2026-10-02,\n");
        std::fs::write(&path, text).unwrap();
        import(&bin, fixed.path());
        let result = bin.run(&[
            "review",
            "--as-of",
            "2026-10-01",
            "--out",
            out.path().to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert!(result.status.success(), "{}", stderr(&result));
        let summary: serde_json::Value = serde_json::from_str(&stdout(&result)).unwrap();
        assert_eq!(
            summary["run"]["counts"]["resolved"], 1,
            "[{}] {summary}",
            db.backend
        );
        assert_eq!(
            summary["run"]["counts"]["new"], 0,
            "[{}] {summary}",
            db.backend
        );
        let third =
            read_csv(&PathBuf::from(summary["out_dir"].as_str().unwrap()).join("findings.csv"));
        assert!(!third
            .iter()
            .any(|f| f["rule"] == "missing-backup" && f["pidsl"] == "110000001B"));

        let runs = bin.run(&["runs", "--format", "json"]);
        let runs: serde_json::Value = serde_json::from_str(&stdout(&runs)).unwrap();
        let runs = runs.as_array().unwrap();
        assert_eq!(runs.len(), 3);
        for run in runs {
            for field in [
                "id",
                "status",
                "as_of",
                "cadence",
                "org_ids",
                "started_at",
                "finished_at",
                "counts",
            ] {
                assert!(run.get(field).is_some(), "runs json lacks {field}");
            }
            assert_eq!(run["status"], "completed");
        }
        assert!(
            runs[0]["id"].as_str().unwrap() < runs[1]["id"].as_str().unwrap(),
            "run ids sort by time"
        );
    }
}

#[test]
fn fail_on_exits_3_only_when_findings_reach_the_threshold() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    import(&bin, &scenario4());
    let out = tempfile::tempdir().unwrap();
    let out = out.path().to_str().unwrap();
    let critical = bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        out,
        "--fail-on",
        "critical",
    ]);
    assert_eq!(critical.status.code(), Some(3), "{}", stderr(&critical));
    // Maple Grove alone has no critical finding.
    let ltc = bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        out,
        "--org",
        "ORG-LTC",
        "--fail-on",
        "critical",
    ]);
    assert_eq!(ltc.status.code(), Some(0), "{}", stderr(&ltc));
    let ltc_medium = bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        out,
        "--org",
        "ORG-LTC",
        "--fail-on",
        "medium",
    ]);
    assert_eq!(ltc_medium.status.code(), Some(3));
}

#[test]
fn scope_by_org_and_cadence_limits_the_findings() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    import(&bin, &scenario4());
    let out = tempfile::tempdir().unwrap();
    let result = bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        out.path().to_str().unwrap(),
        "--cadence",
        "quarterly",
    ]);
    assert!(result.status.success());
    let dir = stdout(&result)
        .lines()
        .find_map(|l| {
            l.strip_prefix("Files in ")
                .map(|s| s.trim_end_matches(':').to_string())
        })
        .unwrap();
    let findings = read_csv(&Path::new(&dir).join("findings.csv"));
    assert!(!findings.is_empty());
    assert!(
        findings
            .iter()
            .all(|f| f["org_id"] == "ORG-GP" || f["org_id"] == "ORG-HOSP"),
        "only quarterly organizations"
    );
}

#[test]
fn bad_usage_exits_2_with_a_message() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    import(&bin, &scenario4());
    let unknown = bin.run(&["review", "--org", "ORG-NOPE"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("1 unknown organization: ORG-NOPE"));
    let date = bin.run(&["review", "--as-of", "2026-13-01"]);
    assert_eq!(date.status.code(), Some(2));
    assert!(stderr(&date).contains("--as-of"));
    let rule = bin.run(&["findings", "--rule", "no-such-rule"]);
    assert_eq!(rule.status.code(), Some(2));
}

#[test]
fn findings_queries_filter_by_rule_and_status() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    import(&bin, &scenario4());
    let out = tempfile::tempdir().unwrap();
    review(&bin, out.path(), "2026-10-01");
    let csv_out = bin.run(&["findings", "--rule", "stale-user", "--format", "csv"]);
    assert!(csv_out.status.success());
    let mut reader = csv::Reader::from_reader(csv_out.stdout.as_slice());
    let users: BTreeSet<String> = reader
        .records()
        .map(|r| r.unwrap()[6].to_string())
        .collect();
    assert_eq!(
        users,
        ["cjones", "iold", "zlate"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    let json = bin.run(&["findings", "--status", "open", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(
        rows.as_array().unwrap().len(),
        0,
        "first run: nothing is open yet"
    );
}

#[test]
fn a_run_that_cannot_write_its_files_is_recorded_as_failed_without_findings() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let blocker = tempfile::NamedTempFile::new().unwrap();
        // OUT is a file, so the run folder cannot be created.
        let result = bin.run(&[
            "review",
            "--as-of",
            "2026-10-01",
            "--out",
            blocker.path().to_str().unwrap(),
        ]);
        assert_eq!(result.status.code(), Some(1), "{}", stderr(&result));
        let runs = bin.run(&["runs", "--format", "json"]);
        let runs: serde_json::Value = serde_json::from_str(&stdout(&runs)).unwrap();
        assert_eq!(runs[0]["status"], "failed");
        assert!(runs[0]["error"].as_str().unwrap().contains("cannot write"));
        let findings = bin.run(&[
            "findings",
            "--run",
            runs[0]["id"].as_str().unwrap(),
            "--format",
            "json",
        ]);
        let rows: serde_json::Value = serde_json::from_str(&stdout(&findings)).unwrap();
        assert_eq!(
            rows.as_array().unwrap().len(),
            0,
            "[{}] a failed run keeps no findings",
            db.backend
        );
    }
}

#[test]
fn as_of_is_only_a_year_month_day_between_1900_and_9999() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    import(&bin, &scenario4());
    let out = tempfile::tempdir().unwrap();
    for (bad, message) in [
        ("2026-2-3", "is not a date: expected YYYY-MM-DD"),
        ("+12026-07-01", "is not a date: expected YYYY-MM-DD"),
        ("-0001-07-01", "is not a date: expected YYYY-MM-DD"),
        // Once accepted: the next decision without accepted_until panicked (exit 101).
        ("+262142-12-31", "is not a date: expected YYYY-MM-DD"),
        ("1899-12-31", "the year must be between 1900 and 9999"),
    ] {
        let as_of = format!("--as-of={bad}");
        let result = bin.run(&["review", &as_of, "--out", out.path().to_str().unwrap()]);
        assert_eq!(result.status.code(), Some(2), "{bad}: {}", stderr(&result));
        assert!(
            stderr(&result).contains(&format!("--as-of: {bad:?}"))
                && stderr(&result).contains(message),
            "{bad}: {}",
            stderr(&result)
        );
    }
    review(&bin, out.path(), "9999-12-31");
}

#[test]
fn one_organizations_bad_data_costs_its_report_not_the_run() {
    let ltc_pidsls: Vec<String> = read_csv(&scenario4().join("pidsls.csv"))
        .into_iter()
        .filter(|p| p["org_id"] == "ORG-LTC")
        .map(|p| p["pidsl"].clone())
        .collect();
    assert!(!ltc_pidsls.is_empty());
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        // An address lettre refuses, as an older import let in.
        db.execute(
            "UPDATE organizations SET management_emails = 'a..b@maplegrove.example' WHERE org_id = 'ORG-LTC'",
        );
        let out = tempfile::tempdir().unwrap();
        let result = bin.run(&[
            "review",
            "--as-of",
            "2026-10-01",
            "--out",
            out.path().to_str().unwrap(),
        ]);
        let err = stderr(&result);
        assert_eq!(result.status.code(), Some(1), "[{}] {err}", db.backend);
        assert!(
            err.contains("warning: ORG-LTC: no workbook or messages:")
                && err.contains("\"a..b@maplegrove.example\" is not a valid email address")
                && err.contains("the output of 1 organization could not be produced"),
            "[{}] {err}",
            db.backend
        );
        let run_dir = PathBuf::from(
            stdout(&result)
                .lines()
                .find_map(|l| l.strip_prefix("Files in "))
                .expect("the summary names the folder")
                .trim_end_matches(':'),
        );
        let run_id = run_dir.file_name().unwrap().to_str().unwrap().to_string();

        // The others' workbooks and messages are there; none of ORG-LTC's.
        let names = |folder: &str| -> BTreeSet<String> {
            std::fs::read_dir(run_dir.join(folder))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        let workbooks = names("organizations");
        for org in ["ORG-GP", "ORG-BILL", "ORG-HOSP"] {
            assert!(
                workbooks.contains(&format!("review-{run_id}-{org}.xlsx")),
                "{workbooks:?}"
            );
            assert!(names("mail").contains(&format!("management-{org}.eml")));
        }
        assert_eq!(workbooks.len(), 3, "{workbooks:?}");
        let mail = names("mail");
        assert!(!mail.iter().any(|m| m.contains("ORG-LTC")
            || ltc_pidsls.iter().any(|p| m.contains(p.as_str()))), "{mail:?}");
        assert!(
            mail.iter().any(|m| m.starts_with("action-list-")),
            "{mail:?}"
        );

        // Its findings are kept with the run's; the summary page and the run name the problem.
        let findings = read_csv(&run_dir.join("findings.csv"));
        assert!(findings.iter().any(|f| f["org_id"] == "ORG-LTC"));
        let page = std::fs::read_to_string(run_dir.join("summary.html")).unwrap();
        assert!(page.contains("Organizations without a report (1)") && page.contains("ORG-LTC"));
        let runs = bin.run(&["runs", "--format", "json"]);
        let runs: serde_json::Value = serde_json::from_str(&stdout(&runs)).unwrap();
        assert_eq!(runs[0]["status"], "completed", "[{}]", db.backend);
        assert!(
            runs[0]["error"].as_str().unwrap().contains("ORG-LTC: "),
            "{}",
            runs[0]
        );
    }
}

/// Runs a review as of 2026-10-01 with `--format json` and returns its summary.
fn review_json(bin: &Bin, out: &Path) -> serde_json::Value {
    let result = bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(
        result.status.success(),
        "review failed: {}",
        stderr(&result)
    );
    serde_json::from_str(&stdout(&result)).unwrap()
}

#[test]
fn the_thousandth_run_of_a_day_follows_the_999th_and_the_next_ones_too() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let first = review_json(&bin, out.path());
        let first_id = first["run"]["id"].as_str().unwrap().to_string();
        let day = first_id
            .strip_suffix("-001")
            .expect("the day's first run is -001");
        // As if the day had had 999 runs: the 999th completed, reviewing the same
        // organizations, without findings.
        db.execute(&format!(
            "INSERT INTO runs (id, as_of, cadence, org_ids, scope_key, started_at, finished_at, \
             status, error, out_dir, counts) SELECT '{day}-999', as_of, cadence, org_ids, scope_key, \
             started_at, finished_at, status, error, out_dir, counts FROM runs WHERE id = '{first_id}'; \
             INSERT INTO run_orgs (run_id, org_id, open_counts) SELECT '{day}-999', org_id, \
             open_counts FROM run_orgs WHERE run_id = '{first_id}'"
        ));

        let thousandth = review_json(&bin, out.path());
        assert_eq!(
            thousandth["run"]["id"],
            format!("{day}-1000"),
            "[{}]",
            db.backend
        );
        // Compared with the 999th run, which has no findings: everything is new.
        assert_eq!(
            thousandth["run"]["counts"]["new"], thousandth["run"]["counts"]["findings"],
            "[{}] {thousandth}",
            db.backend
        );
        let next = review_json(&bin, out.path());
        assert_eq!(next["run"]["id"], format!("{day}-1001"), "[{}]", db.backend);
        // Compared with the 1000th run: nothing is new.
        assert_eq!(next["run"]["counts"]["new"], 0, "[{}] {next}", db.backend);

        let runs = bin.run(&["runs", "--format", "json"]);
        let runs: serde_json::Value = serde_json::from_str(&stdout(&runs)).unwrap();
        let ids: Vec<&str> = runs
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        let want = ["001", "999", "1000", "1001"].map(|n| format!("{day}-{n}"));
        assert_eq!(ids, want, "[{}] runs are listed in order", db.backend);
        let latest = bin.run(&["findings", "--format", "json"]);
        let latest: serde_json::Value = serde_json::from_str(&stdout(&latest)).unwrap();
        assert_eq!(
            latest[0]["run_id"], want[3],
            "[{}] findings shows the latest run",
            db.backend
        );
    }
}

/// A copy of scenario4 in which 110000001A is inactive and 110000002A has lost its primary:
/// PID/SLs of one and access rows of the other give findings that neither gives.
fn scenario4_changed() -> tempfile::TempDir {
    let dir = copy_snapshot(&scenario4());
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    };
    edit(
        "pidsls.csv",
        "Main Office,group_practice,true",
        "Main Office,group_practice,false",
    );
    edit(
        "access.csv",
        "ppark,110000002A,primary",
        "ppark,110000002A,subordinate",
    );
    dir
}

/// Waits until `n` lock requests in the test's database wait for a lock.
async fn wait_for_lock_waiters(conn: &mut sqlx::PgConnection, n: i64, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE d.datname = current_database() AND NOT l.granted",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if waiting >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never waited for a lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[test]
fn a_review_during_a_replacing_import_reads_one_snapshot_or_the_other() {
    use sqlx::Connection;
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let bin = Bin::new(&db);
    let out = tempfile::tempdir().unwrap();
    let other = scenario4_changed();
    let findings_of = |folder: PathBuf| key_set(&read_csv(&folder.join("findings.csv")));
    // A first review, so that no later one finds an organization overdue.
    import(&bin, &scenario4());
    review(&bin, out.path(), "2026-10-01");
    import(&bin, other.path());
    let want_other = findings_of(review(&bin, out.path(), "2026-10-01"));
    import(&bin, &scenario4());
    let want_scenario4 = findings_of(review(&bin, out.path(), "2026-10-01"));
    assert_ne!(want_scenario4, want_other);

    // An import holds the users table, the third one a review reads, while it writes: the
    // review starts, then a replacing import of the other snapshot, then the table is let go.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (review, replacing) = runtime.block_on(async {
        let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            .execute(&mut holder)
            .await
            .unwrap();
        let review = bin.spawn(&[
            "review",
            "--as-of",
            "2026-10-01",
            "--out",
            out.path().to_str().unwrap(),
        ]);
        wait_for_lock_waiters(&mut holder, 1, "the review").await;
        let replacing = bin.spawn(&["import", other.path().to_str().unwrap()]);
        wait_for_lock_waiters(&mut holder, 2, "the import").await;
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
        (review, replacing)
    });
    let review = review.wait_with_output().unwrap();
    let replacing = replacing.wait_with_output().unwrap();
    assert!(replacing.status.success(), "import: {}", stderr(&replacing));
    assert!(review.status.success(), "review: {}", stderr(&review));
    let folder = stdout(&review)
        .lines()
        .find_map(|l| {
            l.strip_prefix("Files in ")
                .map(|f| PathBuf::from(f.trim_end_matches(':')))
        })
        .expect("the summary names the folder");
    let got = findings_of(folder);
    assert!(
        got == want_scenario4 || got == want_other,
        "the review mixed the two snapshots: {} findings where either alone gives {} or {}; \
         not from the first alone: {:#?}\nnot from the second alone: {:#?}",
        got.len(),
        want_scenario4.len(),
        want_other.len(),
        got.difference(&want_scenario4).collect::<Vec<_>>(),
        got.difference(&want_other).collect::<Vec<_>>(),
    );
}

/// A Bin whose mail goes nowhere (a port nobody listens on: reviews are killed before they
/// deliver) and whose review folders go to `out`.
fn send_config(db: &TestDb, work: &Path) -> Bin {
    let roles = std::fs::read_to_string(scenario4().join("config.toml")).unwrap();
    let config = work.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "{roles}\n[smtp]\nhost = \"127.0.0.1\"\nport = 9\ntls = \"none\"\ntimeout_secs = 2\n\
             [mail]\nfrom = \"POSC Review <review@posc.example>\"\n"
        ),
    )
    .unwrap();
    let mut bin = Bin::new(db);
    bin.config = Some(config);
    bin
}

/// What `kill_review_at` tells the process it starts: the stage to stop at (as `{:?}`
/// prints it), and the database, configuration and output folder of the review.
const PAUSE_AT: &str = "PAUSED_REVIEW_STAGE";
const PAUSED_DATABASE_URL: &str = "PAUSED_REVIEW_DATABASE_URL";
const PAUSED_CONFIG: &str = "PAUSED_REVIEW_CONFIG";
const PAUSED_OUT: &str = "PAUSED_REVIEW_OUT";
/// The line the process writes to stderr where it stops, followed by the run id.
const PAUSED_MARKER: &str = "paused review: run ";

/// Starts `review --send` in a process of its own (this test executable, running
/// [`paused_review_process`]), waits until the run reaches `stage` and kills the process there
/// with SIGKILL; returns the run id.
fn kill_review_at(bin: &Bin, out: &Path, stage: ReviewStage) -> String {
    use std::io::BufRead;
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            "paused_review_process",
            "--nocapture",
        ])
        .env(PAUSE_AT, format!("{stage:?}"))
        .env(PAUSED_DATABASE_URL, &bin.db_url)
        .env(PAUSED_OUT, out)
        .env_remove(PAUSED_CONFIG)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if let Some(config) = &bin.config {
        command.env(PAUSED_CONFIG, config);
    }
    let mut child = command.spawn().unwrap();
    let mut said = Vec::new();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let run_id = loop {
        let Some(line) = lines.next().map(Result::unwrap) else {
            child.wait().unwrap();
            panic!("the review ended before {stage:?}:\n{}", said.join("\n"));
        };
        if let Some(id) = line.strip_prefix(PAUSED_MARKER) {
            break id.to_string();
        }
        said.push(line);
    };
    child.kill().unwrap();
    child.wait().unwrap();
    run_id
}

/// Stops a run at one stage for as long as it takes `kill_review_at` to kill its process.
struct PauseAt(ReviewStage);

#[async_trait::async_trait]
impl ReviewObserver for PauseAt {
    async fn reached(&self, stage: ReviewStage, run: &RunRecord) {
        if stage == self.0 {
            eprintln!("{PAUSED_MARKER}{}", run.id);
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
    }
}

/// The process `kill_review_at` starts and kills: `review --as-of 2026-10-01 --send` as the
/// binary runs it, stopped at the stage it is given.
#[test]
#[ignore = "only run by kill_review_at, in a process of its own"]
fn paused_review_process() {
    let stage = std::env::var(PAUSE_AT).unwrap_or_else(|_| {
        panic!("{PAUSE_AT} is not set: this test is only run by kill_review_at, which kills it")
    });
    let stage = [
        ReviewStage::RunStarted,
        ReviewStage::OutputsWritten,
        ReviewStage::RunStored,
    ]
    .into_iter()
    .find(|s| format!("{s:?}") == stage)
    .unwrap_or_else(|| panic!("{PAUSE_AT}={stage} is no review stage"));
    let given = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let config = std::env::var_os(PAUSED_CONFIG).map(PathBuf::from);
    let settings = commands::settings(config.as_deref(), Some(given(PAUSED_DATABASE_URL))).unwrap();
    let request = ReviewRequest {
        as_of: "2026-10-01".parse().unwrap(),
        cadence: None,
        org_ids: Vec::new(),
        out_dir: given(PAUSED_OUT).into(),
        send: true,
    };
    let clock: SharedClock = std::sync::Arc::new(SystemClock);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(async {
        let store = commands::open_for_writing(&settings, &clock).await?;
        review::run_review_observed(&store, &settings, &request, &clock, &PauseAt(stage)).await
    });
    match outcome {
        Ok(_) => panic!("the review went on past {stage:?}, where kill_review_at kills it"),
        Err(e) => panic!("the review failed before {stage:?}: {e:#}"),
    }
}

fn run_json(bin: &Bin, id: &str) -> serde_json::Value {
    let out = bin.run(&["runs", id, "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn hidden_folders(out: &Path) -> Vec<String> {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect()
}

#[test]
fn a_killed_review_is_recorded_as_failed_by_the_next_command_and_its_partial_folders_go() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = send_config(&db, work.path());
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let scenario = scenario4();
        let next_commands: [&[&str]; 2] = [
            &["import", scenario.to_str().unwrap()],
            &[
                "accounts",
                "reset-password",
                "akim",
                "--pidsl",
                "110000001A",
                "--by",
                "gpatel",
            ],
        ];
        for (stage, next) in [ReviewStage::RunStarted, ReviewStage::OutputsWritten]
            .into_iter()
            .zip(next_commands)
        {
            let id = kill_review_at(&bin, out.path(), stage);
            assert_eq!(
                run_json(&bin, &id)["status"],
                "running",
                "[{}] {stage:?}",
                db.backend
            );
            if stage == ReviewStage::OutputsWritten {
                let mut left = hidden_folders(out.path());
                left.sort();
                assert_eq!(left, [format!(".{id}.outbox"), format!(".{id}.partial")]);
            }

            let result = bin.run(next);
            assert!(result.status.success(), "{next:?}: {}", stderr(&result));
            let run = run_json(&bin, &id);
            assert_eq!(
                run["status"], "failed",
                "[{}] killed at {stage:?}: {run}",
                db.backend
            );
            let error = run["error"].as_str().unwrap();
            assert!(error.contains("interrupted: its process ("), "{error}");
            assert!(run["finished_at"].is_string());
            assert!(
                hidden_folders(out.path()).is_empty() && !out.path().join(&id).exists(),
                "[{}] killed at {stage:?}, left: {:?}",
                db.backend,
                hidden_folders(out.path())
            );
            let text = stdout(&bin.run(&["runs"]));
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&id) && l.contains("failed")),
                "{text}"
            );
        }
    }
}

#[test]
fn a_review_killed_once_stored_gets_its_folder_from_the_next_command() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = send_config(&db, work.path());
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let id = kill_review_at(&bin, out.path(), ReviewStage::RunStored);
        assert!(hidden_folders(out.path()).contains(&format!(".{id}.partial")));
        assert!(!out.path().join(&id).exists());

        import(&bin, &scenario4());
        let run = run_json(&bin, &id);
        assert_eq!(run["status"], "completed", "[{}] {run}", db.backend);
        assert!(run["error"].is_null(), "{run}");
        assert!(hidden_folders(out.path()).is_empty());
        let findings = read_csv(&out.path().join(&id).join("findings.csv"));
        assert_eq!(
            findings.len(),
            run["counts"]["findings"].as_u64().unwrap() as usize
        );
    }
}

#[test]
fn a_run_of_another_host_is_failed_once_its_heartbeat_is_stale_and_not_before() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let now = chrono::Utc::now();
        let counts = serde_json::to_string(&posc_review::store::RunCounts::default()).unwrap();
        let stale = now - chrono::Duration::seconds(600);
        for (id, heartbeat) in [("20200101-001", stale), ("20200101-002", now)] {
            db.execute(&format!(
                "INSERT INTO runs (id, as_of, cadence, org_ids, scope_key, started_at, status, \
                 counts, owner, heartbeat_at, out_root) VALUES ('{id}', '2020-01-01', NULL, '', \
                 'all', {started}, 'running', '{counts}', 'elsewhere.example:42:0000abcd', \
                 {heartbeat}, '{out_root}')",
                started = common::sql_time("2020-01-01T11:00:00Z".parse().unwrap()),
                heartbeat = common::sql_time(heartbeat),
                out_root = out.path().display(),
            ));
        }
        std::fs::create_dir(out.path().join(".20200101-001.partial")).unwrap();
        std::fs::create_dir(out.path().join(".20200101-002.partial")).unwrap();

        import(&bin, &scenario4());
        let stale = run_json(&bin, "20200101-001");
        assert_eq!(stale["status"], "failed", "[{}] {stale}", db.backend);
        assert!(
            stale["error"].as_str().unwrap().contains(
                "no heartbeat from its process (42 on elsewhere.example) for more than 120 s"
            ),
            "{stale}"
        );
        assert_eq!(run_json(&bin, "20200101-002")["status"], "running");
        assert_eq!(hidden_folders(out.path()), [".20200101-002.partial"]);
    }
}

/// Gives the run's folder name to somebody else (a folder with a file of theirs) when the run
/// reaches `stage`: a folder that appears while the run writes.
struct TakeFolderAt(ReviewStage, PathBuf);

#[async_trait::async_trait]
impl ReviewObserver for TakeFolderAt {
    async fn reached(&self, stage: ReviewStage, run: &RunRecord) {
        if stage == self.0 {
            let folder = self.1.join(&run.id);
            std::fs::create_dir(&folder).unwrap();
            std::fs::write(folder.join("notes.txt"), "mine").unwrap();
        }
    }
}

#[test]
fn a_run_whose_folder_cannot_take_its_name_says_where_its_files_are_until_a_command_moves_them() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let settings = commands::settings(bin.config.as_deref(), Some(db.url.clone())).unwrap();
        let request = ReviewRequest {
            as_of: "2026-10-01".parse().unwrap(),
            cadence: None,
            org_ids: Vec::new(),
            out_dir: out.path().to_path_buf(),
            send: false,
        };
        let clock: SharedClock = std::sync::Arc::new(SystemClock);
        let taker = TakeFolderAt(ReviewStage::RunStored, out.path().to_path_buf());
        let outcome = common::block_on(async {
            let store = commands::open_for_writing(&settings, &clock).await.unwrap();
            let outcome = review::run_review_observed(&store, &settings, &request, &clock, &taker)
                .await
                .unwrap();
            store.close().await;
            outcome
        });
        let id = outcome.run.id.clone();
        let partial = out.path().join(format!(".{id}.partial"));
        let error = outcome.run.error.clone().unwrap_or_default();
        assert!(
            error.contains(&format!("its files are still in {}", partial.display())),
            "{error}"
        );
        assert_eq!(outcome.out_dir, partial);
        let run = run_json(&bin, &id);
        assert_eq!(run["status"], "completed", "[{}] {run}", db.backend);
        assert!(
            run["error"]
                .as_str()
                .unwrap()
                .contains("cannot move them to"),
            "{run}"
        );
        assert!(partial.join("findings.csv").is_file());

        std::fs::remove_dir_all(out.path().join(&id)).unwrap();
        // The review ran in this test's process, which lives on: make its owner one that is
        // gone, as when the review's own process has exited.
        db.execute(&format!(
            "UPDATE runs SET owner = 'elsewhere.example:42:0000abcd', heartbeat_at = {} \
             WHERE id = '{id}'",
            common::sql_time("2020-01-01T11:00:00Z".parse().unwrap())
        ));
        import(&bin, &scenario4());
        let run = run_json(&bin, &id);
        assert!(run["error"].is_null(), "[{}] {run}", db.backend);
        assert!(out.path().join(&id).join("findings.csv").is_file());
        assert!(hidden_folders(out.path()).is_empty());
    }
}

/// Every Message-ID of the dry-run messages in a run folder.
fn message_ids(run_dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(run_dir.join("mail"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .map(|eml| {
            eml.lines()
                .find_map(|l| l.strip_prefix("Message-ID: "))
                .expect("every message has a Message-ID")
                .to_string()
        })
        .collect()
}

#[test]
fn stores_sharing_an_output_folder_never_share_a_run_id_or_a_message_id() {
    let out = tempfile::tempdir().unwrap();
    let zone: chrono_tz::Tz = "America/New_York".parse().unwrap();
    let today = chrono::Utc::now()
        .with_timezone(&zone)
        .format("%Y%m%d")
        .to_string();
    // A folder somebody left with the id the first run would take: it is skipped, not touched.
    let left = out.path().join(format!("{today}-001"));
    std::fs::create_dir(&left).unwrap();
    std::fs::write(left.join("notes.txt"), "kept").unwrap();

    let (first, second) = (TestDb::sqlite(), TestDb::sqlite());
    let mut folders = Vec::new();
    for db in [&first, &second] {
        let bin = Bin::new(db);
        import(&bin, &scenario4());
        folders.push(review(&bin, out.path(), "2026-10-01"));
    }
    let names: Vec<String> = folders
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [format!("{today}-002"), format!("{today}-003")],
        "each store's run takes an id whose folder does not exist"
    );
    assert_eq!(
        std::fs::read_to_string(left.join("notes.txt")).unwrap(),
        "kept"
    );
    let (a, b) = (message_ids(&folders[0]), message_ids(&folders[1]));
    assert!(!a.is_empty() && a.len() == b.len(), "{a:?} {b:?}");
    assert!(
        a.is_disjoint(&b),
        "the same snapshot reviewed in two stores gives different Message-IDs: {:?}",
        a.intersection(&b).collect::<Vec<_>>()
    );
    // The store's own runs number on from there.
    let bin = Bin::new(&first);
    let again = review(&bin, out.path(), "2026-10-01");
    assert_eq!(
        again.file_name().unwrap().to_string_lossy(),
        format!("{today}-004")
    );
}
