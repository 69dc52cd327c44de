//! The command line as a user meets it: a closed pipe, an empty store, an unreachable
//! database, the order and filters of `findings`, what `--fail-on` says, counted nouns, times
//! in the configured zone, aligned tables, and one meaning per flag — on SQLite and PostgreSQL.

mod common;

use common::smtp::free_port;
use common::{copy_snapshot, scenario4, stderr, stdout, Bin, TestDb};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A username longer than any column the tables used to pad to (16 characters).
const LONG_USERNAME: &str = "tina.termini.of.bay-state-billing";

/// The sample with the user `tterm` renamed to [`LONG_USERNAME`], imported and reviewed.
fn reviewed(db: &TestDb, work: &Path) -> Bin {
    let snapshot = copy_snapshot(&scenario4());
    for file in ["users.csv", "access.csv", "roster.csv"] {
        let path = snapshot.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("tterm", LONG_USERNAME)).unwrap();
    }
    let bin = Bin::new(db);
    let out = bin.run(&["import", snapshot.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        work.join("out").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    bin
}

fn ok(bin: &Bin, args: &[&str]) -> String {
    let out = bin.run(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

fn json(bin: &Bin, args: &[&str]) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&ok(bin, args))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn field(value: &serde_json::Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

fn severity_rank(severity: &str) -> u8 {
    ["low", "medium", "high", "critical"]
        .iter()
        .position(|s| *s == severity)
        .unwrap() as u8
}

/// Runs the command with its stdout's reader gone before it writes anything (`| head -0`).
fn with_closed_stdout(bin: &Bin, args: &[&str]) -> std::process::Output {
    let mut child = bin
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_ends_findings_and_send_list_quietly_with_status_0() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = reviewed(&db, work.path());
        for args in [
            &["findings"][..],
            &["findings", "--format", "csv"],
            &["send", "--list"],
            &["runs"],
        ] {
            let out = with_closed_stdout(&bin, args);
            assert!(
                !stderr(&out).contains("panicked"),
                "[{}] {args:?}: {}",
                db.backend,
                stderr(&out)
            );
            assert_eq!(out.status.code(), Some(0), "[{}] {args:?}", db.backend);
        }
        // The exit status still says what the output would have: findings at or above high.
        let out_dir = work.path().join("out");
        let out = with_closed_stdout(
            &bin,
            &[
                "review",
                "--as-of",
                "2026-10-01",
                "--fail-on",
                "high",
                "--out",
                out_dir.to_str().unwrap(),
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(3),
            "[{}] {}",
            db.backend,
            stderr(&out)
        );
    }
}

#[test]
fn a_review_of_an_empty_store_is_refused_with_status_2() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = Bin::new(&db);
        let out = bin.run(&["review", "--out", work.path().to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "[{}]", db.backend);
        assert!(
            stderr(&out)
                .contains("the store is empty: import a snapshot first (posc-review import DIR)"),
            "[{}] {}",
            db.backend,
            stderr(&out)
        );
        assert!(
            ok(&bin, &["runs"]).contains("No runs yet"),
            "no run recorded"
        );
    }
}

#[test]
fn an_unreachable_postgresql_fails_within_seconds_naming_host_port_and_cause() {
    let port = free_port();
    let bin = Bin {
        db_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        config: None,
        cwd: None,
        env: Vec::new(),
    };
    let started = Instant::now();
    let out = bin.run(&["init"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
}

#[test]
fn a_missing_postgresql_database_is_named_once() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let base = db.url.rsplit_once('/').unwrap().0;
    let bin = Bin {
        db_url: format!("{base}/posc_no_such_database"),
        config: None,
        cwd: None,
        env: Vec::new(),
    };
    let out = bin.run(&["init"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert_eq!(
        text.matches("database \"posc_no_such_database\" does not exist")
            .count(),
        1,
        "{text}"
    );
}

#[test]
fn findings_list_most_severe_first_then_by_organization_pidsl_and_user() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = reviewed(&db, work.path());
        let all = json(&bin, &["findings", "--format", "json"]);
        assert!(all.len() > 20, "{}", all.len());
        let keys: Vec<(u8, String, String, String)> = all
            .iter()
            .map(|f| {
                (
                    3 - severity_rank(&field(f, "severity")),
                    field(f, "org_id"),
                    field(f, "pidsl"),
                    field(f, "username").to_lowercase(),
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "[{}]", db.backend);
    }
}

#[test]
fn findings_filter_by_organization_pidsl_user_and_severity_at_or_above() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = reviewed(&db, work.path());
        let all = json(&bin, &["findings", "--format", "json"]);
        let expect = |keep: &dyn Fn(&serde_json::Value) -> bool| -> Vec<String> {
            all.iter()
                .filter(|f| keep(f))
                .map(|f| field(f, "fingerprint"))
                .collect()
        };
        let got = |args: &[&str]| -> Vec<String> {
            let mut full = vec!["findings", "--format", "json"];
            full.extend_from_slice(args);
            json(&bin, &full)
                .iter()
                .map(|f| field(f, "fingerprint"))
                .collect()
        };
        for (args, keep) in [
            (
                vec!["--org", "ORG-BILL"],
                Box::new(|f: &serde_json::Value| field(f, "org_id") == "ORG-BILL")
                    as Box<dyn Fn(&serde_json::Value) -> bool>,
            ),
            (
                vec!["--pidsl", "110000001b"],
                Box::new(|f: &serde_json::Value| field(f, "pidsl") == "110000001B"),
            ),
            (
                vec!["--user", &LONG_USERNAME.to_uppercase()],
                Box::new(|f: &serde_json::Value| field(f, "username") == LONG_USERNAME),
            ),
            (
                vec!["--severity", "high"],
                Box::new(|f: &serde_json::Value| severity_rank(&field(f, "severity")) >= 2),
            ),
            (
                vec!["--org", "ORG-GP", "--severity", "critical"],
                Box::new(|f: &serde_json::Value| {
                    field(f, "org_id") == "ORG-GP" && field(f, "severity") == "critical"
                }),
            ),
        ] {
            let expected = expect(&*keep);
            assert!(!expected.is_empty(), "{args:?} keeps something");
            assert!(expected.len() < all.len(), "{args:?} drops something");
            assert_eq!(got(&args), expected, "[{}] {args:?}", db.backend);
        }
        let bad = bin.run(&["findings", "--pidsl", "12345"]);
        assert_eq!(bad.status.code(), Some(2));
        assert!(stderr(&bad).contains("--pidsl"), "{}", stderr(&bad));
    }
}

#[test]
fn fail_on_prints_one_line_saying_how_many_findings_are_at_or_above() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = reviewed(&db, work.path());
        let high = json(
            &bin,
            &["findings", "--format", "json", "--severity", "high"],
        )
        .len();
        let out = bin.run(&[
            "review",
            "--as-of",
            "2026-10-01",
            "--out",
            work.path().join("out").to_str().unwrap(),
            "--fail-on",
            "high",
        ]);
        assert_eq!(out.status.code(), Some(3), "[{}]", db.backend);
        // The last line, after the run's log lines; no error.
        let text = stderr(&out);
        assert_eq!(
            text.lines().last(),
            Some(format!("{high} findings at or above high").as_str()),
            "[{}] {text}",
            db.backend
        );
        assert!(!text.contains("error"), "{text}");
    }
}

/// `1 findings`, `1 messages`, `finding(s)`: a count that disagrees with its noun.
fn bad_plurals(text: &str) -> Vec<String> {
    let mut bad: Vec<String> = text
        .match_indices("(s)")
        .map(|(i, _)| text[i.saturating_sub(30)..i + 3].to_string())
        .collect();
    for noun in [
        "findings",
        "messages",
        "problems",
        "errors",
        "users",
        "events",
        "rows",
        "PID/SLs",
        "decisions",
    ] {
        for (i, _) in text.match_indices(&format!(" 1 {noun}")) {
            bad.push(text[i..(i + noun.len() + 3)].to_string());
        }
    }
    bad
}

#[test]
fn one_is_singular_and_other_counts_plural_in_the_output_and_the_mail() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = reviewed(&db, work.path());
        let run = json(&bin, &["runs", "--format", "json"])[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let folder = work.path().join("out").join(&run);
        let mut texts = vec![std::fs::read_to_string(folder.join("summary.html")).unwrap()];
        for entry in std::fs::read_dir(folder.join("mail")).unwrap() {
            texts.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
        // A PID/SL with one finding: its action list says so in the singular.
        assert!(
            texts.iter().any(|t| t.contains("found 1 finding on")),
            "[{}] no action list with exactly one finding",
            db.backend
        );
        ok(
            &bin,
            &[
                "accounts",
                "remove",
                "hnew",
                "--pidsl",
                "110000001A",
                "--by",
                "gpatel",
            ],
        );
        let history = ok(&bin, &["accounts", "history"]);
        assert!(history.contains("\n1 event\n"), "{history}");
        texts.push(history);
        texts.push(ok(&bin, &["findings", "--user", "gpatel"]));
        texts.push(ok(&bin, &["runs", &run]));
        for text in &texts {
            assert_eq!(bad_plurals(text), Vec::<String>::new(), "[{}]", db.backend);
        }
    }
}

/// `2026-10-01 09:30:05 EDT`: to the second, in America/New_York (the fixture's zone).
fn is_local_time(text: &str) -> bool {
    let parts: Vec<&str> = text.split(' ').collect();
    parts.len() == 3
        && chrono::NaiveDateTime::parse_from_str(
            &format!("{} {}", parts[0], parts[1]),
            "%Y-%m-%d %H:%M:%S",
        )
        .is_ok()
        && (parts[2] == "EDT" || parts[2] == "EST")
}

#[test]
fn people_read_times_to_the_second_in_the_time_zone_and_json_keeps_rfc3339() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let mut bin = reviewed(&db, work.path());
        // Mail queued for a server that is not there: the outbox has next attempts to show.
        let roles = std::fs::read_to_string(scenario4().join("config.toml")).unwrap();
        let config = work.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "{roles}\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n",
                free_port()
            ),
        )
        .unwrap();
        bin.config = Some(config);
        let out = bin.run(&[
            "review",
            "--as-of",
            "2026-10-01",
            "--send",
            "--out",
            work.path().join("out").to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

        let runs = json(&bin, &["runs", "--format", "json"]);
        let run = field(&runs[0], "id");
        for key in ["started_at", "finished_at"] {
            chrono::DateTime::parse_from_rfc3339(&field(&runs[0], key)).unwrap();
        }
        let shown = ok(&bin, &["runs", &run]);
        let line = shown
            .lines()
            .find_map(|l| l.trim().strip_prefix("started "))
            .unwrap();
        let (started, finished) = line.split_once(", finished ").unwrap();
        assert!(is_local_time(started), "{shown}");
        assert!(is_local_time(finished), "{shown}");
        let list = ok(&bin, &["runs"]);
        assert!(
            list.lines()
                .skip(1)
                .all(|l| l.split("  ").any(|cell| is_local_time(cell.trim()))),
            "{list}"
        );

        let shown = ok(&bin, &["accounts", "show", "gpatel"]);
        assert!(
            shown.contains("last sign-in       2026-09-29 14:05:00 EDT"),
            "{shown}"
        );
        ok(
            &bin,
            &[
                "accounts",
                "remove",
                "hnew",
                "--pidsl",
                "110000001A",
                "--by",
                "gpatel",
            ],
        );
        let history = ok(&bin, &["accounts", "history"]);
        let event = history.lines().nth(1).unwrap();
        assert!(is_local_time(&event[..23]), "{history}");

        let outbox = json(&bin, &["send", "--list", "--format", "json"]);
        assert!(!outbox.is_empty());
        for m in &outbox {
            chrono::DateTime::parse_from_rfc3339(&field(m, "next_attempt_at")).unwrap();
        }
        let listed = ok(&bin, &["send", "--list"]);
        let head = listed.lines().next().unwrap();
        let at = head.find("NEXT ATTEMPT").unwrap();
        for line in listed.lines().skip(1) {
            let cell: String = line.chars().skip(at).take(23).collect();
            assert!(
                is_local_time(&cell),
                "[{}] {cell:?} in\n{listed}",
                db.backend
            );
        }
    }
}

/// Every cell of `rows` starts where its column's header starts.
fn assert_aligned(table: &str, columns: &[&str], rows: &[Vec<String>]) {
    let mut lines = table.lines();
    let head = lines.next().unwrap();
    let starts: Vec<usize> = columns
        .iter()
        .map(|c| {
            head.match_indices(c)
                .map(|(i, _)| i)
                .find(|&i| i == 0 || head.as_bytes()[i - 1] == b' ')
                .unwrap_or_else(|| panic!("no {c} in {head}"))
        })
        .collect();
    let lines: Vec<&str> = lines.take(rows.len()).collect();
    assert_eq!(lines.len(), rows.len(), "{table}");
    for (line, row) in lines.iter().zip(rows) {
        for ((column, start), cell) in columns.iter().zip(&starts).zip(row) {
            assert!(
                line.get(*start..)
                    .unwrap_or_default()
                    .starts_with(cell.as_str())
                    && (*start == 0 || line.as_bytes()[start - 1] == b' '),
                "{column} {cell:?} is not at {start} in\n{table}"
            );
        }
    }
}

#[test]
fn tables_keep_their_columns_aligned_whatever_the_lengths() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = reviewed(&db, work.path());

        let columns = [
            "SEVERITY", "STATUS", "RULE", "ORG", "PID/SL", "USERNAME", "DETAIL",
        ];
        let keys = [
            "severity", "status", "rule", "org_id", "pidsl", "username", "detail",
        ];
        let rows: Vec<Vec<String>> = json(&bin, &["findings", "--format", "json"])
            .iter()
            .map(|f| keys.iter().map(|k| field(f, k)).collect())
            .collect();
        assert!(rows.iter().any(|r| r[5] == LONG_USERNAME));
        assert_aligned(&ok(&bin, &["findings"]), &columns, &rows);

        let listed = ok(&bin, &["accounts", "list", "--pidsl", "110000001B"]);
        let table = listed.split_once('\n').unwrap().1;
        assert!(table.contains(LONG_USERNAME), "{listed}");
        let rows: Vec<Vec<String>> = json(
            &bin,
            &[
                "accounts",
                "list",
                "--pidsl",
                "110000001B",
                "--format",
                "json",
            ],
        )
        .iter()
        .map(|r| vec![field(r, "username"), field(r, "name"), field(r, "role")])
        .collect();
        assert_aligned(table, &["USERNAME", "NAME", "ROLE"], &rows);

        // A scope longer than its old column (28 characters).
        let out = bin.run(&[
            "review",
            "--as-of",
            "2026-10-01",
            "--org",
            "ORG-GP",
            "--org",
            "ORG-BILL",
            "--org",
            "ORG-HOSP",
            "--out",
            work.path().join("out").to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let runs = json(&bin, &["runs", "--format", "json"]);
        let rows: Vec<Vec<String>> = runs
            .iter()
            .map(|r| vec![field(r, "id"), field(r, "status"), field(r, "as_of")])
            .collect();
        assert_aligned(&ok(&bin, &["runs"]), &["RUN", "STATUS", "AS OF"], &rows);
    }
}

#[test]
fn demo_names_its_snapshot_folder_with_snapshot_and_refuses_out() {
    let db = TestDb::sqlite();
    let work = tempfile::tempdir().unwrap();
    let mut bin = Bin::new(&db);
    bin.config = None;
    bin.cwd = Some(work.path().to_path_buf());
    let out = bin.run(&[
        "demo",
        "--snapshot",
        "tour",
        "--no-import",
        "--as-of",
        "2026-10-01",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(work.path().join("tour/organizations.csv").is_file());
    let out = bin.run(&["demo", "--out", "tour", "--no-import"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--out"), "{}", stderr(&out));
}
