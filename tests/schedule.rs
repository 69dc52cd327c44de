//! `posc-review schedule`: fast schedules run reviews, each period is reviewed once (also by two
//! schedulers on one PostgreSQL database), missed periods are caught up at start, shutdown
//! during a review records it as failed with no findings, a scheduler killed (SIGKILL) mid-review
//! or mid-delivery reviews the period once more at most and sends each message once, and every
//! cadence firing at once beside manual reviews, `send` and account changes never meets a lock
//! error — on SQLite and PostgreSQL.

mod common;

use chrono::{DateTime, Utc};
use common::smtp::SmtpServer;
use common::{block_on, scenario4, stderr, stdout, Bin, TestDb};
use posc_review::clock::ManualClock;
use posc_review::config::Settings;
use posc_review::domain::{Cadence, ClaimState};
use posc_review::schedule::{self, Signals};
use posc_review::store::{ClaimOutcome, ClaimRecord, ClaimRequest};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A scheduler running as a child process, its JSON log lines collected as they come.
struct Scheduler {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Scheduler {
    fn start(bin: &Bin, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Scheduler {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_posc-review"));
        if let Some(config) = &bin.config {
            cmd.arg("--config").arg(config);
        }
        cmd.arg("--database-url")
            .arg(&bin.db_url)
            .args(["--log-format", "json", "schedule", "--out"])
            .arg(out)
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("POSC_REVIEW_NOW")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Scheduler { child, lines }
    }

    /// Every log line, parsed: each must be one JSON object.
    fn events(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))
            })
            .collect()
    }

    /// The log events whose message contains `text`.
    fn logged(&self, text: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| message(e).contains(text))
            .collect()
    }

    fn wait_for(&self, what: &str, done: impl Fn(&Scheduler) -> bool, timeout: Duration) {
        let start = Instant::now();
        while !done(self) {
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}; log:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                start.elapsed() < timeout,
                "the scheduler did not stop; log:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL (what `Child::kill` sends): the process records nothing.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        // Let the reader thread take the last lines.
        std::thread::sleep(Duration::from_millis(100));
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn stop(&mut self) {
        self.terminate();
        let status = self.wait_exit(Duration::from_secs(120));
        assert!(
            status.success(),
            "exit {status:?}; log:\n{}",
            self.lines.lock().unwrap().join("\n")
        );
        assert!(!self.logged("scheduler stopped").is_empty());
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn message(event: &Value) -> &str {
    event["fields"]["message"].as_str().unwrap_or_default()
}

fn field<'a>(event: &'a Value, name: &str) -> &'a str {
    event["fields"][name].as_str().unwrap_or_default()
}

fn import(bin: &Bin, dir: &Path) {
    let out = bin.run(&["import", dir.to_str().unwrap()]);
    assert!(out.status.success(), "import failed: {}", stderr(&out));
}

fn runs(bin: &Bin) -> Vec<Value> {
    let out = bin.run(&["runs", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn claims(db: &TestDb) -> Vec<ClaimRecord> {
    block_on(async {
        let store = db.store().await;
        let claims = store.claims().await.unwrap();
        store.close().await;
        claims
    })
}

fn finding_count(db: &TestDb, run_id: &str) -> usize {
    let run_id = run_id.to_string();
    block_on(async move {
        let store = db.store().await;
        let n = store.findings(&run_id, None, None).await.unwrap().len();
        store.close().await;
        n
    })
}

const EVERY_TWO_SECONDS: (&str, &str) = ("POSC_REVIEW__SCHEDULE__QUARTERLY", "*/2 * * * * *");
/// Schedules that never fire around the tests' dates (no catch-up either).
const NO_SEMIANNUAL: (&str, &str) = ("POSC_REVIEW__SCHEDULE__SEMIANNUAL", "0 0 6 1 1 * 2099");
const NO_ANNUAL: (&str, &str) = ("POSC_REVIEW__SCHEDULE__ANNUAL", "0 0 6 1 1 * 2099");
/// The scheduler's reminder pass (at start and each midnight) sends nothing for a review of
/// 2026-10-01 before 2027-10-02: for a test that counts the review's own messages.
const NO_REMINDERS: (&str, &str) = ("POSC_REVIEW__REVIEW__REMIND_AFTER_DAYS", "366");
const NO_ESCALATION: (&str, &str) = ("POSC_REVIEW__REVIEW__ESCALATE_AFTER_DAYS", "366");

fn reviewed_periods(s: &Scheduler, prefix: &str) -> usize {
    s.logged("period reviewed")
        .iter()
        .filter(|e| field(e, "period").starts_with(prefix))
        .count()
}

#[test]
fn a_schedule_of_every_few_seconds_runs_reviews() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let mut s = Scheduler::start(
            &bin,
            out.path(),
            &[],
            &[EVERY_TWO_SECONDS, NO_SEMIANNUAL, NO_ANNUAL],
        );
        s.wait_for(
            "two quarterly reviews",
            |s| reviewed_periods(s, "quarterly:") >= 2,
            Duration::from_secs(90),
        );
        s.stop();

        let claims = claims(&db);
        let runs = runs(&bin);
        assert!(claims.len() >= 2, "[{}] {claims:#?}", db.backend);
        for claim in &claims {
            assert!(
                claim.period_key.starts_with("quarterly:20") && claim.period_key.ends_with('Z'),
                "a seconds-level schedule keys each fire by its instant: {}",
                claim.period_key
            );
            assert_eq!(claim.state, ClaimState::Completed, "{claim:#?}");
            let run_id = claim.run_id.as_deref().unwrap();
            let run = runs.iter().find(|r| r["id"] == run_id).unwrap();
            assert_eq!(run["status"], "completed");
            assert_eq!(run["cadence"], "quarterly");
            assert!(out.path().join(run_id).join("findings.csv").is_file());
        }
        assert_eq!(
            runs.len(),
            claims.len(),
            "[{}] one run per period",
            db.backend
        );
        // Each log line is JSON; the run's lines carry its run id in their spans.
        let reviewed = s.logged("period reviewed");
        assert!(
            reviewed[0]["span"]["run_id"].as_str().is_some(),
            "{}",
            reviewed[0]
        );
        assert!(s
            .events()
            .iter()
            .any(|e| e["spans"].as_array().is_some_and(|spans| spans
                .iter()
                .any(|sp| sp["name"] == "review" && sp["run_id"].is_string()))));
    }
}

/// Runs the scheduler in this process on `clock` until `done` holds for the claims, then
/// stops it as SIGTERM would, the reviews in progress given time to finish.
fn schedule_in_process(
    bin: &Bin,
    db: &TestDb,
    out: &Path,
    clock: Arc<ManualClock>,
    done: impl Fn(&[ClaimRecord]) -> bool + Sync,
) {
    let mut settings = Settings::load(bin.config.as_deref()).unwrap();
    settings.database.url = db.url.clone();
    block_on(async {
        let store = db.store().await;
        let (stop, signals) = Signals::sent();
        let options = schedule::Options {
            out_dir: out.to_path_buf(),
            grace: Duration::from_secs(120),
        };
        let scheduler = tokio::spawn(schedule::run(
            store.clone(),
            Arc::new(settings),
            clock,
            options,
            signals,
        ));
        let start = Instant::now();
        loop {
            let claims = store.claims().await.unwrap();
            if done(&claims) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "[{}] {claims:#?}",
                db.backend
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.send("SIGTERM").unwrap();
        scheduler.await.unwrap().unwrap();
        store.close().await;
    });
}

/// Whether every one of `keys` has a completed claim.
fn completed(claims: &[ClaimRecord], keys: &[&str]) -> bool {
    keys.iter().all(|key| {
        claims
            .iter()
            .any(|c| c.period_key == *key && c.state == ClaimState::Completed)
    })
}

#[test]
fn a_missed_period_is_caught_up_at_start_and_never_repeated() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let clock = ManualClock::new("2026-12-15T17:00:00Z".parse().unwrap());

        // Down since before 1 October: the quarter, the half and the year are all due, and each
        // is reviewed once.
        let due = ["annual:2026", "semiannual:2026-H2", "quarterly:2026-Q4"];
        schedule_in_process(&bin, &db, out.path(), clock.clone(), |c| completed(c, &due));
        let first = claims(&db);
        let keys: Vec<&str> = first.iter().map(|c| c.period_key.as_str()).collect();
        assert_eq!(keys, due, "[{}]", db.backend);
        assert!(first.iter().all(|c| c.attempts == 1), "{first:#?}");
        let runs_then = runs(&bin);
        assert_eq!(runs_then.len(), 3);
        assert!(runs_then
            .iter()
            .all(|r| r["status"] == "completed" && r["as_of"] == "2026-12-15"));

        // Restarted the same day: the periods are found reviewed at start (before the stop is
        // read), and nothing is repeated.
        clock.advance(chrono::Duration::hours(1));
        schedule_in_process(&bin, &db, out.path(), clock.clone(), |_| true);
        assert_eq!(claims(&db), first, "[{}] a claim changed", db.backend);
        assert_eq!(
            runs(&bin).len(),
            3,
            "[{}] a completed period repeated",
            db.backend
        );

        // Down through two quarters: one catch-up run for the latest, none for 2027-Q1.
        clock.set("2027-05-02T16:00:00Z".parse().unwrap());
        let due = ["quarterly:2027-Q2", "semiannual:2027-H1", "annual:2027"];
        schedule_in_process(&bin, &db, out.path(), clock.clone(), |c| completed(c, &due));
        let keys: Vec<String> = claims(&db).into_iter().map(|c| c.period_key).collect();
        assert!(!keys.contains(&"quarterly:2027-Q1".to_string()), "{keys:?}");
        assert_eq!(runs(&bin).len(), 6);
    }
}

/// `unix` seconds as an instant.
fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap()
}

fn request<'a>(key: &'a str, owner: &'a str, now: DateTime<Utc>) -> ClaimRequest<'a> {
    ClaimRequest {
        period_key: key,
        cadence: Cadence::Quarterly,
        due_at: "2026-10-01T10:00:00Z".parse().unwrap(),
        owner,
        now,
        stale_before: now - chrono::Duration::seconds(120),
    }
}

#[test]
fn a_claim_is_taken_once_and_taken_over_only_when_failed_or_abandoned() {
    for db in TestDb::all() {
        block_on(async {
            let store = db.store().await;
            let key = "quarterly:2026-Q4";
            let t = |seconds: i64| at(1_790_000_000 + seconds);
            let first = store.try_claim(&request(key, "a", t(0))).await.unwrap();
            assert_eq!(first, ClaimOutcome::Taken { retried: None });
            assert!(store
                .claim_running(key, "a", "20261001-001", t(10))
                .await
                .unwrap());
            // Alive: another scheduler leaves it.
            let second = store.try_claim(&request(key, "b", t(60))).await.unwrap();
            assert!(
                matches!(second, ClaimOutcome::Held(ref c) if c.owner == "a"),
                "{second:?}"
            );
            // Silent for longer than the stale limit: taken over.
            let third = store.try_claim(&request(key, "b", t(500))).await.unwrap();
            assert_eq!(
                third,
                ClaimOutcome::Taken {
                    retried: Some(ClaimState::Running)
                }
            );
            // The old owner can no longer write the claim.
            assert!(!store.claim_heartbeat(key, "a", t(501)).await.unwrap());
            // Failed: the next attempt retries it at once.
            assert!(store
                .finish_claim(key, "b", ClaimState::Failed, None, Some("boom"), t(501))
                .await
                .unwrap());
            let fourth = store.try_claim(&request(key, "c", t(502))).await.unwrap();
            assert_eq!(
                fourth,
                ClaimOutcome::Taken {
                    retried: Some(ClaimState::Failed)
                }
            );
            // Completed: never again.
            assert!(store
                .finish_claim(key, "c", ClaimState::Completed, Some("r"), None, t(503))
                .await
                .unwrap());
            let fifth = store
                .try_claim(&request(key, "d", t(99_999)))
                .await
                .unwrap();
            assert!(matches!(fifth, ClaimOutcome::Completed(_)), "{fifth:?}");
            let claim = store.claim(key).await.unwrap().unwrap();
            assert_eq!(claim.attempts, 3);
            assert_eq!(claim.run_id.as_deref(), Some("r"));
            store.close().await;
        });
    }
}

#[test]
fn claims_left_failed_or_by_a_dead_scheduler_are_retried_at_start() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let long_ago = at(1_700_000_000);
        block_on(async {
            let store = db.store().await;
            let mut dead = request("quarterly:2026-Q4", "dead-host:1:0", long_ago);
            store.try_claim(&dead).await.unwrap();
            dead.period_key = "semiannual:2026-H2";
            dead.cadence = Cadence::Semiannual;
            store.try_claim(&dead).await.unwrap();
            store
                .finish_claim(
                    "semiannual:2026-H2",
                    "dead-host:1:0",
                    ClaimState::Failed,
                    None,
                    Some("smtp down"),
                    long_ago,
                )
                .await
                .unwrap();
            dead.period_key = "annual:2026";
            dead.cadence = Cadence::Annual;
            store.try_claim(&dead).await.unwrap();
            store
                .finish_claim(
                    "annual:2026",
                    "dead-host:1:0",
                    ClaimState::Completed,
                    Some("20260101-001"),
                    None,
                    long_ago,
                )
                .await
                .unwrap();
            store.close().await;
        });
        // The quarter's claim was left claimed by a dead scheduler, the half's failed: both
        // are retried; the year's completed claim is left alone.
        let clock = ManualClock::new("2026-12-15T17:00:00Z".parse().unwrap());
        let retried = ["quarterly:2026-Q4", "semiannual:2026-H2"];
        schedule_in_process(&bin, &db, out.path(), clock, |c| completed(c, &retried));
        for claim in claims(&db) {
            assert_eq!(claim.state, ClaimState::Completed, "{claim:#?}");
            if claim.period_key == "annual:2026" {
                assert_eq!(
                    (claim.attempts, claim.run_id.as_deref()),
                    (1, Some("20260101-001")),
                    "{claim:#?}"
                );
            } else {
                assert_eq!(claim.attempts, 2, "{claim:#?}");
                assert_ne!(claim.owner, "dead-host:1:0", "{claim:#?}");
            }
        }
        assert_eq!(runs(&bin).len(), 2, "[{}]", db.backend);
    }
}

/// A demo snapshot large enough (`--scale 2000`) that a review takes seconds, and so does the
/// delivery of its mail: a signal or a kill can land in the middle of either.
fn large_snapshot() -> tempfile::TempDir {
    let snapshot = tempfile::tempdir().unwrap();
    let written = Command::new(env!("CARGO_BIN_EXE_posc-review"))
        .args([
            "demo",
            "--scale",
            "2000",
            "--no-import",
            "--as-of",
            "2026-10-01",
            "--snapshot",
        ])
        .arg(snapshot.path())
        .output()
        .unwrap();
    assert!(written.status.success(), "{}", stderr(&written));
    snapshot
}

#[test]
fn shutdown_during_a_review_records_it_failed_with_no_findings_and_the_next_start_retries_it() {
    let snapshot = large_snapshot();
    for db in TestDb::all() {
        let mut bin = Bin::new(&db);
        bin.config = None;
        import(&bin, snapshot.path());
        let out = tempfile::tempdir().unwrap();
        let now = ["--now", "2026-10-01T06:00:30-04:00", "--grace-period", "0"];
        let mut s = Scheduler::start(&bin, out.path(), &now, &[NO_SEMIANNUAL, NO_ANNUAL]);
        // Wait until the review is recorded on its claim, then stop at once.
        let start = Instant::now();
        let run_id = loop {
            let claims = claims(&db);
            if let Some(id) = claims.first().and_then(|c| c.run_id.clone()) {
                break id;
            }
            assert!(start.elapsed() < Duration::from_secs(120), "no run started");
            std::thread::sleep(Duration::from_millis(20));
        };
        s.terminate();
        let status = s.wait_exit(Duration::from_secs(120));
        assert!(status.success(), "{status:?}");
        assert_eq!(
            s.logged("review abandoned").len(),
            1,
            "[{}] the run finished first",
            db.backend
        );

        let run = runs(&bin)
            .into_iter()
            .find(|r| r["id"] == run_id.as_str())
            .unwrap();
        assert_eq!(run["status"], "failed", "{run}");
        assert!(
            run["error"].as_str().unwrap().contains("interrupted"),
            "{run}"
        );
        assert_eq!(finding_count(&db, &run_id), 0, "no half-written findings");
        let leftovers: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
        assert!(leftovers.is_empty(), "partial output left: {leftovers:?}");
        let claim = &claims(&db)[0];
        assert_eq!(
            (claim.period_key.as_str(), claim.state),
            ("quarterly:2026-Q4", ClaimState::Failed)
        );

        // The next start reviews the period again, to completion.
        let mut s = Scheduler::start(
            &bin,
            out.path(),
            &["--now", "2026-10-01T07:00:00-04:00"],
            &[NO_SEMIANNUAL, NO_ANNUAL],
        );
        s.wait_for(
            "the retried review",
            |s| !s.logged("period reviewed").is_empty(),
            Duration::from_secs(300),
        );
        s.stop();
        let claim = &claims(&db)[0];
        assert_eq!(claim.state, ClaimState::Completed);
        assert_eq!(claim.attempts, 2);
        let retried = claim.run_id.clone().unwrap();
        assert_ne!(retried, run_id);
        assert!(finding_count(&db, &retried) > 0);
    }
}

#[test]
fn two_schedulers_on_one_postgres_database_review_each_period_once() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let bin = Bin::new(&db);
    import(&bin, &scenario4());
    let out = tempfile::tempdir().unwrap();
    let env = [EVERY_TWO_SECONDS];
    let mut a = Scheduler::start(&bin, out.path(), &[], &env);
    let mut b = Scheduler::start(&bin, out.path(), &[], &env);
    let both = |a: &Scheduler, b: &Scheduler| {
        reviewed_periods(a, "quarterly:") + reviewed_periods(b, "quarterly:")
    };
    let start = Instant::now();
    while both(&a, &b) < 4 {
        assert!(start.elapsed() < Duration::from_secs(90), "too few reviews");
        std::thread::sleep(Duration::from_millis(100));
    }
    a.stop();
    b.stop();

    let claims = claims(&db);
    let runs = runs(&bin);
    // Every run belongs to exactly one period, and every reviewed period has one run.
    let mut claimed_runs: Vec<&str> = claims.iter().filter_map(|c| c.run_id.as_deref()).collect();
    claimed_runs.sort();
    let mut run_ids: Vec<&str> = runs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    run_ids.sort();
    assert_eq!(claimed_runs, run_ids);
    for cadence in ["annual", "semiannual"] {
        assert_eq!(
            runs.iter().filter(|r| r["cadence"] == cadence).count(),
            1,
            "{cadence}"
        );
    }
    // Both schedulers saw the same periods come due; each period ran once.
    let seen = |s: &Scheduler| -> std::collections::BTreeSet<String> {
        s.events()
            .iter()
            .map(|e| field(e, "period").to_string())
            .filter(|p| p.starts_with("quarterly:"))
            .collect()
    };
    let common: Vec<String> = seen(&a).intersection(&seen(&b)).cloned().collect();
    assert!(!common.is_empty(), "the schedulers never met");
    for key in &common {
        let claim = claims.iter().find(|c| &c.period_key == key).unwrap();
        assert_eq!(claim.attempts, 1, "{claim:#?}");
    }
}

// ------------------------------------------------ mail, SIGKILL and load (issue 17)

/// A configuration file in `dir`: the keys of `base` (if any), mail through the SMTP server on
/// loopback `port` and, with `operator`, alerts to ops@example.org. `timeout_secs = 5` leaves a
/// message's claim stale after the floor of 300 s (`mail::stale_claim_age`).
fn smtp_config(dir: &Path, base: Option<&Path>, port: u16, operator: bool) -> PathBuf {
    let base = base
        .map(|b| std::fs::read_to_string(b).unwrap())
        .unwrap_or_default();
    let operator = if operator {
        "operator = [\"ops@example.org\"]\n"
    } else {
        ""
    };
    let path = dir.join("config.toml");
    // The default 30 s: with 5 s, a server that answers the end of a message late (aiosmtpd on
    // a machine loaded by CI) made the client give up after the server had the message, and
    // the retry delivered it twice: SMTP's one window (README, Mail), not a lock.
    std::fs::write(
        &path,
        format!(
            "{base}\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_secs = 30\n\n\
             [mail]\nfrom = \"POSC Review <review@posc.example>\"\n{operator}"
        ),
    )
    .unwrap();
    path
}

/// The sample's configuration with SMTP on `port` and, with `operator`, alerts to
/// ops@example.org.
fn mail_config(dir: &Path, port: u16, operator: bool) -> PathBuf {
    smtp_config(dir, Some(&scenario4().join("config.toml")), port, operator)
}

/// The outbox as `send --list --format json` shows it.
fn outbox(bin: &Bin) -> Vec<Value> {
    let out = bin.run(&["send", "--list", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// The outbox read through the store, in the same JSON: no command runs (a command that
/// writes would first record the runs of dead processes as failed, which is the restarted
/// scheduler's job in these tests).
fn outbox_rows(db: &TestDb) -> Vec<Value> {
    block_on(async {
        let store = db.store().await;
        let rows = store.outbox(None).await.unwrap();
        store.close().await;
        serde_json::to_value(rows).unwrap()
    })
    .as_array()
    .unwrap()
    .clone()
}

/// The Message-IDs the rows' messages carry (without the angle brackets, as `received_ids`
/// gives them): derived from each row's key and the store's id.
fn message_ids(db: &TestDb, rows: &[Value]) -> BTreeSet<String> {
    let store_id = block_on(async {
        let store = db.store().await;
        let info = store.store_info().await.unwrap();
        store.close().await;
        info.store_id
    });
    rows.iter()
        .map(|r| {
            let id =
                posc_review::mail::message_id(r["idempotency_key"].as_str().unwrap(), &store_id);
            id.trim_matches(['<', '>']).to_string()
        })
        .collect()
}

/// Checks that the server received exactly the messages `expected` names, each once, except at
/// most `duplicates_allowed` of them twice; returns those received twice.
fn assert_received(
    backend: &str,
    got: &BTreeMap<String, usize>,
    expected: &BTreeSet<String>,
    duplicates_allowed: usize,
) -> Vec<String> {
    let unexpected: Vec<&String> = got.keys().filter(|id| !expected.contains(*id)).collect();
    assert!(
        unexpected.is_empty(),
        "[{backend}] messages no outbox row of these runs names: {unexpected:?}"
    );
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !got.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "[{backend}] {} of {} messages never received: {missing:?}",
        missing.len(),
        expected.len()
    );
    let twice: Vec<(&String, &usize)> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.len() <= duplicates_allowed && twice.iter().all(|(_, n)| **n == 2),
        "[{backend}] received more than once (at most {duplicates_allowed} allowed, twice): {twice:?}"
    );
    twice.into_iter().map(|(id, _)| id.clone()).collect()
}

/// Runs `test` on every backend at once, each in a thread of its own, so that a long test
/// takes the time of its slowest backend, not their sum; prints each backend's time, and fails
/// once all are done if any failed (its panic is printed where it happened).
fn on_every_backend(test: impl Fn(&TestDb) + Sync) {
    let name = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let (test, name) = (&test, &name);
    let failed: Vec<&str> = std::thread::scope(|s| {
        let running: Vec<_> = TestDb::all()
            .into_iter()
            .map(|db| {
                let backend = db.backend;
                let thread = s.spawn(move || {
                    let start = Instant::now();
                    test(&db);
                    println!("{name} [{}]: {:.1?}", db.backend, start.elapsed());
                });
                (backend, thread)
            })
            .collect();
        running
            .into_iter()
            .filter_map(|(backend, thread)| thread.join().is_err().then_some(backend))
            .collect()
    });
    assert!(
        failed.is_empty(),
        "failed on {failed:?} (the panic is printed above)"
    );
}

/// Polls `probe` every 20 ms until it gives a value; fails after `timeout`, printing the
/// scheduler's log.
fn poll<T>(
    what: &str,
    s: &Scheduler,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {what}; log:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the outbox holds messages and all of them are sent; returns its rows.
fn wait_all_sent(db: &TestDb, s: &Scheduler, timeout: Duration) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let rows = outbox_rows(db);
        if !rows.is_empty() && rows.iter().all(|r| r["state"] == "sent") {
            return rows;
        }
        if start.elapsed() > timeout {
            let mut states: BTreeMap<String, usize> = BTreeMap::new();
            for r in &rows {
                *states.entry(r["state"].to_string()).or_insert(0) += 1;
            }
            panic!(
                "[{}] the outbox was not all sent within {timeout:?}: {states:?}; log:\n{}",
                db.backend,
                s.log()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn run_status(runs: &[Value], id: &str) -> String {
    runs.iter()
        .find(|r| r["id"] == id)
        .map(|r| r["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no run {id}: {runs:#?}"))
}

const QUARTERLY_ONLY: [(&str, &str); 2] = [NO_SEMIANNUAL, NO_ANNUAL];

#[test]
fn a_scheduler_killed_mid_review_reviews_the_period_once_more_and_sends_each_message_once() {
    let snapshot = large_snapshot();
    on_every_backend(|db| {
        let b = db.backend;
        let server = SmtpServer::start();
        let work = tempfile::tempdir().unwrap();
        let mut bin = Bin::new(db);
        bin.config = Some(smtp_config(work.path(), None, server.port, false));
        import(&bin, snapshot.path());
        let out = work.path().join("out");
        let mut s = Scheduler::start(
            &bin,
            &out,
            &["--now", "2026-10-01T06:00:30-04:00"],
            &QUARTERLY_ONLY,
        );
        // SIGKILL as soon as the review is recorded on its claim: mid-review.
        let killed = poll("the run on the claim", &s, Duration::from_secs(300), || {
            claims(db).first().and_then(|c| c.run_id.clone())
        });
        s.kill();
        let status = run_status(&runs(&bin), &killed);
        assert_eq!(status, "running", "[{b}] the review ended before the kill");
        assert!(
            outbox_rows(db).is_empty(),
            "[{b}] mail queued before the kill"
        );

        // Restarted ten minutes later (the dead scheduler's claim is stale by then): the
        // killed run is recorded as failed and the period reviewed once more.
        let mut s = Scheduler::start(
            &bin,
            &out,
            &["--now", "2026-10-01T06:10:00-04:00"],
            &QUARTERLY_ONLY,
        );
        s.wait_for(
            "the period reviewed again",
            |s| !s.logged("period reviewed").is_empty(),
            Duration::from_secs(600),
        );
        let rows = wait_all_sent(db, &s, Duration::from_secs(300));
        s.stop();

        let claims = claims(db);
        assert_eq!(claims.len(), 1, "[{b}] {claims:#?}");
        let claim = &claims[0];
        assert_eq!(
            (claim.period_key.as_str(), claim.state, claim.attempts),
            ("quarterly:2026-Q4", ClaimState::Completed, 2),
            "[{b}] {claim:#?}"
        );
        let retried = claim.run_id.clone().unwrap();
        assert_ne!(retried, killed, "[{b}]");
        let runs = runs(&bin);
        assert_eq!(runs.len(), 2, "[{b}] reviewed exactly once more: {runs:#?}");
        assert_eq!(run_status(&runs, &killed), "failed", "[{b}]");
        assert_eq!(run_status(&runs, &retried), "completed", "[{b}]");
        assert_eq!(s.logged("period reviewed").len(), 1, "[{b}]");

        // The killed run queued nothing, so nothing of it can be sent; every message of the
        // new run went, each once.
        assert!(
            rows.iter().all(|r| r["run_id"] == retried.as_str()),
            "[{b}] a row of another run than {retried}"
        );
        let got = received_ids(&server);
        assert_received(b, &got, &message_ids(db, &rows), 0);
        assert_eq!(server.messages().len(), rows.len(), "[{b}]");
        println!(
            "[{b}] killed run {killed}; run {retried}: {} messages, each received once",
            rows.len()
        );
    });
}

#[test]
fn a_scheduler_killed_mid_delivery_sends_the_rest_after_restart_and_reviews_nothing_again() {
    let snapshot = large_snapshot();
    on_every_backend(|db| {
        let b = db.backend;
        let server = SmtpServer::start();
        let work = tempfile::tempdir().unwrap();
        let mut bin = Bin::new(db);
        bin.config = Some(smtp_config(work.path(), None, server.port, false));
        import(&bin, snapshot.path());
        let out = work.path().join("out");
        let mut s = Scheduler::start(
            &bin,
            &out,
            &["--now", "2026-10-01T06:00:30-04:00"],
            &QUARTERLY_ONLY,
        );
        // SIGKILL once the server has a few of the run's messages: mid-delivery.
        poll("the first messages", &s, Duration::from_secs(600), || {
            (server.messages().len() >= 3).then_some(())
        });
        s.kill();
        let before = server.messages().len();
        let rows = outbox_rows(db);
        assert!(
            before < rows.len(),
            "[{b}] the delivery ended before the kill: {before} of {} received",
            rows.len()
        );
        let runs_then = runs(&bin);
        assert_eq!(runs_then.len(), 1, "[{b}] {runs_then:#?}");
        let run_id = runs_then[0]["id"].as_str().unwrap().to_string();
        assert_eq!(run_status(&runs_then, &run_id), "completed", "[{b}]");
        let claim = claims(db)[0].clone();
        assert_ne!(
            claim.state,
            ClaimState::Completed,
            "[{b}] the claim was closed before the kill: {claim:#?}"
        );
        let in_flight: Vec<Value> = rows
            .iter()
            .filter(|r| r["state"] == "sending")
            .cloned()
            .collect();
        assert!(
            in_flight.len() <= 1,
            "[{b}] messages in flight at the kill: {in_flight:#?}"
        );

        // Restarted twenty minutes later, past the stale-claim age of the message in flight
        // (300 s): the period's stale claim is closed as completed (its run completed), no
        // new run, and the outbox's remaining mail goes out.
        let mut s = Scheduler::start(
            &bin,
            &out,
            &["--now", "2026-10-01T06:20:00-04:00"],
            &QUARTERLY_ONLY,
        );
        let rows = wait_all_sent(db, &s, Duration::from_secs(300));
        s.stop();
        let runs = runs(&bin);
        assert_eq!(runs.len(), 1, "[{b}] reviewed again: {runs:#?}");
        assert!(
            s.logged("catching up").is_empty() && s.logged("period reviewed").is_empty(),
            "[{b}] log:\n{}",
            s.log()
        );
        let claims = claims(db);
        assert_eq!(claims.len(), 1, "[{b}] {claims:#?}");
        assert_eq!(
            (
                claims[0].state,
                claims[0].attempts,
                claims[0].run_id.as_deref()
            ),
            (ClaimState::Completed, 1, Some(run_id.as_str())),
            "[{b}] {:#?}",
            claims[0]
        );
        assert!(rows.iter().all(|r| r["run_id"] == run_id.as_str()), "[{b}]");
        // Every message delivered; only the one in flight at the kill may have come twice.
        let got = received_ids(&server);
        let twice = assert_received(b, &got, &message_ids(db, &rows), 1);
        assert_eq!(server.messages().len(), rows.len() + twice.len(), "[{b}]");
        if !twice.is_empty() {
            assert_eq!(
                twice.iter().collect::<BTreeSet<_>>(),
                message_ids(db, &in_flight).iter().collect(),
                "[{b}] a message received twice that was not in flight at the kill"
            );
        }
        println!(
            "[{b}] run {run_id}: {} messages, {before} received before the kill, {} in flight, {} received twice",
            rows.len(),
            in_flight.len(),
            twice.len()
        );
    });
}

/// One command the load ran, and what came of it.
struct Ran {
    args: String,
    output: std::process::Output,
}

/// Runs the binary like `Bin::run`, but gives up after `timeout`: kills it (by its process id)
/// and fails, so a command stuck on a lock cannot hang the test.
fn run_bounded(bin: &Bin, args: &[&str], timeout: Duration) -> std::process::Output {
    let child = bin.spawn(args);
    let pid = child.id();
    let (done, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match output.recv_timeout(timeout) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("`{}` did not finish within {timeout:?}", args.join(" "));
        }
    }
}

/// The words of a lock error on either backend: SQLite's "database is locked" (SQLITE_BUSY) and
/// "database table is locked", PostgreSQL's "could not obtain lock" and deadlocks.
fn mentions_a_lock(text: &str) -> bool {
    let text = text.to_lowercase();
    ["locked", "busy", "could not obtain lock", "deadlock"]
        .iter()
        .any(|w| text.contains(w))
}

/// What a `send --now` run beside other senders may say on exit 1, and nothing else: the whole
/// outbox is not yet delivered because other senders (the scheduler's courier, the reviews) hold
/// messages claimed, or a review queued mail after this pass looked (README, Mail: `send` reports
/// the whole outbox and exits 1 while anything is undelivered). Not one message of its own pass
/// may have failed, and none may have failed for good: its stderr holds INFO lines and that one
/// error.
fn only_others_mail_undelivered(ran: &Ran) -> bool {
    let (out, err) = (stdout(&ran.output), stderr(&ran.output));
    ran.args == "send --now"
        && ran.output.status.code() == Some(1)
        && out.contains(" 0 failed for good, ")
        && err.lines().all(|line| {
            line.contains(" INFO ")
                || (line.starts_with("error: ")
                    && line
                        .ends_with(" not delivered (`posc-review send --list` shows the outbox)"))
        })
        && err
            .lines()
            .filter(|line| line.starts_with("error: "))
            .count()
            == 1
}

#[test]
fn every_cadence_at_once_beside_reviews_sends_and_account_changes_never_meets_a_lock() {
    on_every_backend(|db| {
        let b = db.backend;
        let server = SmtpServer::start();
        let work = tempfile::tempdir().unwrap();
        let mut bin = Bin::new(db);
        bin.config = Some(mail_config(work.path(), server.port, false));
        import(&bin, &scenario4());
        let out = work.path().join("out");
        let every = "*/2 * * * * *";
        let mut s = Scheduler::start(
            &bin,
            &out,
            &[],
            &[
                ("POSC_REVIEW__SCHEDULE__QUARTERLY", every),
                ("POSC_REVIEW__SCHEDULE__SEMIANNUAL", every),
                ("POSC_REVIEW__SCHEDULE__ANNUAL", every),
            ],
        );
        // `findings` needs a completed run.
        s.wait_for(
            "a first scheduled review",
            |s| !s.logged("period reviewed").is_empty(),
            Duration::from_secs(120),
        );

        let out_dir = out.to_str().unwrap();
        let review = vec!["review", "--send", "--out", out_dir];
        let update = |user: &'static str, pidsl: &'static str, services, by| {
            vec![
                "accounts",
                "update-services",
                user,
                "--pidsl",
                pidsl,
                "--services",
                services,
                "--by",
                by,
            ]
        };
        // Each thread runs its commands in turn, again and again; each command succeeds
        // whatever the others do (a policy refusal would be exit 2).
        let threads: Vec<Vec<Vec<&str>>> = vec![
            vec![review.clone()],
            vec![review],
            vec![vec!["send", "--now"]],
            vec![
                update("bwright", "110000001A", "PORTAL;CLAIMS", "jokafor"),
                update(
                    "bwright",
                    "110000001A",
                    "PORTAL;CLAIMS;BATCH;ELIGIBILITY;REPORTS",
                    "jokafor",
                ),
                vec![
                    "accounts",
                    "reset-password",
                    "akim",
                    "--pidsl",
                    "110000001A",
                    "--by",
                    "gpatel",
                ],
            ],
            vec![
                update("uvance", "110000002A", "PORTAL;MMQ;ELIGIBILITY", "qquinn"),
                update(
                    "uvance",
                    "110000002A",
                    "PORTAL;MMQ;ELIGIBILITY;SCO_PACE",
                    "qquinn",
                ),
                vec![
                    "accounts",
                    "reset-password",
                    "dlee",
                    "--pidsl",
                    "110000001C",
                    "--by",
                    "sdubois",
                ],
            ],
            vec![
                vec!["accounts", "list", "--pidsl", "110000001A"],
                vec!["runs"],
                vec!["findings"],
            ],
        ];
        let load = Duration::from_secs(30);
        let until = Instant::now() + load;
        let ran: Vec<Ran> = std::thread::scope(|t| {
            let running: Vec<_> = threads
                .iter()
                .map(|commands| {
                    let bin = &bin;
                    t.spawn(move || {
                        let mut ran = Vec::new();
                        for args in commands.iter().cycle() {
                            if Instant::now() >= until {
                                break;
                            }
                            let output = run_bounded(bin, args, Duration::from_secs(120));
                            ran.push(Ran {
                                args: args.join(" "),
                                output,
                            });
                        }
                        ran
                    })
                })
                .collect();
            running
                .into_iter()
                .flat_map(|thread| thread.join().unwrap())
                .collect()
        });
        s.stop();
        // What the load left in the outbox: every message goes now.
        let last = bin.run(&["send", "--now"]);

        // No lock error anywhere: not in any command's output, not in the scheduler's log.
        for r in ran.iter().chain([&Ran {
            args: "send --now (the last)".into(),
            output: last.clone(),
        }]) {
            let text = stdout(&r.output) + &stderr(&r.output);
            let locks: Vec<&str> = text.lines().filter(|l| mentions_a_lock(l)).collect();
            assert!(locks.is_empty(), "[{b}] `{}`: {locks:#?}", r.args);
        }
        let lines = s.lines.lock().unwrap().clone();
        let locks: Vec<&String> = lines.iter().filter(|l| mentions_a_lock(l)).collect();
        assert!(locks.is_empty(), "[{b}] in the scheduler's log: {locks:#?}");
        let errors: Vec<&String> = lines.iter().filter(|l| l.contains("\"ERROR\"")).collect();
        assert!(
            errors.is_empty(),
            "[{b}] errors in the scheduler's log: {errors:#?}"
        );
        assert!(
            last.status.success()
                && stdout(&last).contains(
                    "undelivered in the outbox: 0 to retry, 0 failed for good, 0 claimed"
                ),
            "[{b}] the last send: {}{}",
            stdout(&last),
            stderr(&last)
        );

        // Every command succeeded; a `send` may only say that other senders' mail is not
        // delivered yet.
        let mut sends_behind_others = 0;
        for r in &ran {
            if r.output.status.success() {
                continue;
            }
            assert!(
                only_others_mail_undelivered(r),
                "[{b}] `{}` exited {:?}: {}{}",
                r.args,
                r.output.status.code(),
                stdout(&r.output),
                stderr(&r.output)
            );
            sends_behind_others += 1;
        }

        // Every run completed, each period's claim too; every message sent, each received
        // once.
        let runs = runs(&bin);
        let failed: Vec<&Value> = runs.iter().filter(|r| r["status"] != "completed").collect();
        assert!(failed.is_empty(), "[{b}] runs not completed: {failed:#?}");
        let claims = claims(db);
        for claim in &claims {
            assert_eq!(claim.state, ClaimState::Completed, "[{b}] {claim:#?}");
            let run_id = claim.run_id.as_deref().unwrap();
            assert!(runs.iter().any(|r| r["id"] == run_id), "[{b}] {claim:#?}");
        }
        let rows = outbox(&bin);
        let unsent: Vec<&Value> = rows.iter().filter(|r| r["state"] != "sent").collect();
        assert!(unsent.is_empty(), "[{b}] not sent: {unsent:#?}");
        let got = received_ids(&server);
        assert_received(b, &got, &message_ids(db, &rows), 0);
        assert_eq!(server.messages().len(), rows.len(), "[{b}]");

        let mut by_command: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &ran {
            let words: Vec<&str> = r.args.split(' ').collect();
            let name = if words[0] == "accounts" {
                words[1]
            } else {
                words[0]
            };
            *by_command.entry(name).or_insert(0) += 1;
        }
        println!(
            "[{b}] in {load:?}: {} runs ({} scheduled: {} periods claimed), {} messages sent and received once each; {} commands {by_command:?}, {sends_behind_others} `send`s exited 1 with only other senders' mail undelivered",
            runs.len(),
            runs.len() - ran.iter().filter(|r| r.args.starts_with("review")).count(),
            claims.len(),
            rows.len(),
            ran.len(),
        );
        assert!(
            runs.len() >= 20,
            "[{b}] only {} runs: too little load to mean anything",
            runs.len()
        );
    });
}

/// How many times each Message-ID reached the server.
fn received_ids(server: &common::smtp::SmtpServer) -> std::collections::BTreeMap<String, usize> {
    let mut ids = std::collections::BTreeMap::new();
    for m in server.messages() {
        let id = m.parsed().message_id().unwrap_or_default().to_string();
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

fn subjects(server: &common::smtp::SmtpServer) -> Vec<String> {
    server
        .messages()
        .iter()
        .map(|m| m.parsed().subject().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn mail_queued_while_the_server_was_down_goes_out_from_the_same_scheduler_once_it_is_up() {
    std::thread::scope(|scope| {
        for db in TestDb::all() {
            scope.spawn(move || {
                let work = tempfile::tempdir().unwrap();
                let port = common::smtp::free_port();
                let mut bin = Bin::new(&db);
                bin.config = Some(mail_config(work.path(), port, false));
                import(&bin, &scenario4());
                let out = work.path().join("out");
                let now = ["--now", "2026-10-01T06:00:30-04:00"];
                let mut s = Scheduler::start(&bin, &out, &now, &[NO_SEMIANNUAL, NO_ANNUAL]);
                s.wait_for(
                    "the review",
                    |s| !s.logged("period reviewed").is_empty(),
                    Duration::from_secs(120),
                );
                let queued = outbox(&bin);
                assert!(!queued.is_empty());
                assert!(
                    queued.iter().all(|m| m["state"] == "pending"),
                    "[{}] the server is down: {queued:#?}",
                    db.backend
                );
                // The server comes up; nobody runs `send` or restarts the scheduler.
                let server = common::smtp::SmtpServer::start_on(port, None);
                let start = Instant::now();
                while server.messages().len() < queued.len() {
                    assert!(
                        start.elapsed() < Duration::from_secs(150),
                        "[{}] {} of {} delivered; log:\n{}",
                        db.backend,
                        server.messages().len(),
                        queued.len(),
                        s.lines.lock().unwrap().join("\n")
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                // A later pass must not send any of them again.
                std::thread::sleep(Duration::from_secs(3));
                s.stop();
                let ids = received_ids(&server);
                assert_eq!(ids.len(), queued.len(), "[{}] {ids:#?}", db.backend);
                assert!(ids.values().all(|&n| n == 1), "[{}] {ids:#?}", db.backend);
                assert!(outbox(&bin).iter().all(|m| m["state"] == "sent"));
                assert!(!s.logged("outbox delivery pass").is_empty());
            });
        }
    });
}

#[test]
fn a_failed_scheduled_review_is_alerted_to_the_operator_once_per_attempt() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let server = common::smtp::SmtpServer::start();
        let mut bin = Bin::new(&db);
        bin.config = Some(mail_config(work.path(), server.port, true));
        import(&bin, &scenario4());
        // The output folder cannot be made: every review fails.
        let out = work.path().join("out");
        std::fs::write(&out, "a file where the folder should be").unwrap();
        let now = ["--now", "2026-10-01T06:00:30-04:00"];
        for attempt in 1..=2 {
            let mut s = Scheduler::start(&bin, &out, &now, &[NO_SEMIANNUAL, NO_ANNUAL]);
            s.wait_for(
                "the alert",
                |_| server.messages().len() >= attempt,
                Duration::from_secs(60),
            );
            // Later passes of the courier raise nothing more.
            std::thread::sleep(Duration::from_secs(2));
            s.stop();
            assert_eq!(server.messages().len(), attempt, "[{}]", db.backend);
        }
        let alerts = server.messages();
        let subjects = subjects(&server);
        assert_eq!(
            subjects,
            [
                "posc-review: the scheduled quarterly review of quarterly:2026-Q4 failed",
                "posc-review: the scheduled quarterly review of quarterly:2026-Q4 failed again (attempt 2)",
            ],
            "[{}]",
            db.backend
        );
        assert_eq!(alerts[0].rcpt_to, ["ops@example.org"]);
        let body = alerts[1].parsed().body_text(0).unwrap().to_string();
        for words in [
            "cannot write the output folder",
            "posc-review review --cadence quarterly --send",
            "systemctl restart posc-review",
            "posc-review status",
        ] {
            assert!(
                body.contains(words),
                "[{}] {words:?} in:\n{body}",
                db.backend
            );
        }
    }
}

#[test]
fn mail_undelivered_past_the_threshold_is_alerted_once_then_delivered() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let port = common::smtp::free_port();
        let mut bin = Bin::new(&db);
        bin.config = Some(mail_config(work.path(), port, true));
        import(&bin, &scenario4());
        let out = work.path().join("out");
        let review = bin.run(&[
            "review",
            "--as-of",
            "2026-10-01",
            "--send",
            "--out",
            out.to_str().unwrap(),
        ]);
        let queued = outbox(&bin).len();
        assert!(queued > 0, "{}", stderr(&review));
        // A day and more later the server is up, and a scheduler (every review off) starts.
        let server = common::smtp::SmtpServer::start_on(port, None);
        let later = (chrono::Utc::now() + chrono::Duration::hours(25)).to_rfc3339();
        let never = ("POSC_REVIEW__SCHEDULE__QUARTERLY", "0 0 6 1 1 * 2099");
        let mut s = Scheduler::start(
            &bin,
            &out,
            &["--now", &later],
            &[never, NO_SEMIANNUAL, NO_ANNUAL, NO_REMINDERS, NO_ESCALATION],
        );
        s.wait_for(
            "the messages and the alert",
            |_| server.messages().len() > queued,
            Duration::from_secs(60),
        );
        std::thread::sleep(Duration::from_secs(2));
        s.stop();
        let subjects = subjects(&server);
        let alerts: Vec<&String> = subjects
            .iter()
            .filter(|s| s.starts_with("posc-review:"))
            .collect();
        assert_eq!(
            alerts,
            [&format!(
                "posc-review: {queued} messages undelivered for more than 24 hours"
            )],
            "[{}]",
            db.backend
        );
        assert_eq!(subjects.len(), queued + 1);
        let ids = received_ids(&server);
        assert!(ids.values().all(|&n| n == 1), "{ids:#?}");
        assert!(outbox(&bin).iter().all(|m| m["state"] == "sent"));
    }
}

#[test]
fn the_courier_deletes_the_texts_of_mail_sent_before_keep_sent_days() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let now: DateTime<Utc> = "2026-12-15T17:00:00Z".parse().unwrap();
        let ago = |days| common::sql_time(now - chrono::Duration::days(days));
        let mut sql = String::new();
        // Sent 91 and 89 days ago (the default keeps 90), and never sent: pending (due in a
        // year, so the courier does not try it) and failed for good, both queued long ago.
        for (key, state, sent_at, due) in [
            ("sent-91-days-ago", "sent", ago(91), ago(91)),
            ("sent-89-days-ago", "sent", ago(89), ago(89)),
            ("pending", "pending", "NULL".to_string(), ago(-365)),
            ("failed", "failed", "NULL".to_string(), ago(200)),
        ] {
            sql.push_str(&format!(
                "INSERT INTO outbox (idempotency_key, run_id, kind, recipient, to_addresses, \
                 subject, state, attempts, next_attempt_at, sent_at, created_at) VALUES \
                 ('{key}', 'r', 'action-list', 'u', 'a@example.org', 'Review', '{state}', 1, \
                 {due}, {sent_at}, {old});\n\
                 INSERT INTO outbox_messages (idempotency_key, message) VALUES ('{key}', 'x');\n",
                old = ago(200),
            ));
        }
        db.execute(&sql);

        let due = ["annual:2026", "semiannual:2026-H2", "quarterly:2026-Q4"];
        let clock = ManualClock::new(now);
        schedule_in_process(&bin, &db, out.path(), clock, |c| completed(c, &due));
        let (kept, purged) = db.outbox_texts();
        assert_eq!(purged, ["sent-91-days-ago"], "[{}]", db.backend);
        for key in ["sent-89-days-ago", "pending", "failed"] {
            assert!(kept.iter().any(|k| k == key), "[{}] {key}", db.backend);
        }
        let rows = outbox_rows(&db);
        let row = rows
            .iter()
            .find(|r| r["idempotency_key"] == "sent-91-days-ago")
            .unwrap();
        assert_eq!(
            row["state"], "sent",
            "[{}] the row stays: {row}",
            db.backend
        );
    }
}
