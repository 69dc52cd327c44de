//! `posc-review remind` and the scheduler's reminder pass: from day 14 after a review the
//! Primary User and backup of each PID/SL with undecided findings get one reminder (none for a
//! PID/SL decided meanwhile), from day 30 management gets one escalation, nothing is sent twice,
//! a dry run writes .eml previews and queues nothing — on SQLite and PostgreSQL, delivered to a
//! real SMTP server.

mod common;

use common::smtp::{Received, SmtpServer};
use common::{block_on, scenario4, stderr, stdout, Bin, TestDb};
use posc_review::clock::ManualClock;
use posc_review::config::Settings;
use posc_review::schedule::{self, Signals};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REVIEWED: &str = "2026-10-01";

/// scenario4's configuration with SMTP on `port`, and schedules that never fire (the
/// scheduler test wants its reminder pass, not a catch-up review).
fn config(dir: &Path, port: u16) -> PathBuf {
    let base = std::fs::read_to_string(scenario4().join("config.toml")).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "{base}\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\n\n\
             [mail]\nfrom = \"POSC Review <review@posc.example>\"\n\n\
             [schedule]\nquarterly = \"0 0 6 1 1 * 2099\"\nsemiannual = \"0 0 6 1 1 * 2099\"\n\
             annual = \"0 0 6 1 1 * 2099\"\n"
        ),
    )
    .unwrap();
    path
}

/// scenario4 imported and reviewed as of [`REVIEWED`] (a dry run: no mail queued); the run id.
fn reviewed(bin: &Bin, out: &Path) -> String {
    let imported = bin.run(&["import", scenario4().to_str().unwrap()]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    let review = bin.run(&[
        "review",
        "--as-of",
        REVIEWED,
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(review.status.success(), "{}", stderr(&review));
    let outcome: Value = serde_json::from_str(&stdout(&review)).unwrap();
    outcome["run"]["id"].as_str().unwrap().to_string()
}

/// `remind --as-of DATE [--send] --format json`, which must succeed; its outcome.
fn remind(bin: &Bin, out: &Path, as_of: &str, send: bool) -> Value {
    let mut args = vec![
        "remind",
        "--as-of",
        as_of,
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ];
    if send {
        args.push("--send");
    }
    let result = bin.run(&args);
    assert!(
        result.status.success(),
        "remind {as_of}: {}",
        stderr(&result)
    );
    serde_json::from_str(&stdout(&result)).unwrap()
}

/// The hidden entries of `out`: a `.partial` preview folder or a spool left behind.
fn hidden(out: &Path) -> Vec<String> {
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// (kind, recipient) of each message of an outcome, sorted.
fn sent(outcome: &Value) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = outcome["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().to_string(),
                m["recipient"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    list.sort();
    list
}

fn pair(kind: &str, recipient: &str) -> (String, String) {
    (kind.to_string(), recipient.to_string())
}

/// The follow-ups in the outbox: (kind, recipient, state), sorted.
fn follow_ups(bin: &Bin) -> Vec<(String, String, String)> {
    let out = bin.run(&["send", "--list", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let mut list: Vec<(String, String, String)> = rows
        .iter()
        .filter(|r| r["kind"] == "reminder" || r["kind"] == "escalation")
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["recipient"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    list.sort();
    list
}

/// A received message's subject and plain-text part, each run of white space one space (the
/// text is wrapped at 76 columns).
fn text_of(message: &Received) -> (String, String) {
    let parsed = message.parsed();
    let flat = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    (
        flat(parsed.subject().unwrap_or_default()),
        flat(&parsed.body_text(0).unwrap_or_default()),
    )
}

/// The received message whose subject contains `needle`.
fn received<'a>(messages: &'a [Received], needle: &str) -> &'a Received {
    messages
        .iter()
        .find(|m| text_of(m).0.contains(needle))
        .unwrap_or_else(|| panic!("no message about {needle}"))
}

/// Waits until the server has received `n` messages.
fn wait_received(smtp: &SmtpServer, n: usize) -> Vec<Received> {
    let start = Instant::now();
    loop {
        let messages = smtp.messages();
        if messages.len() >= n || start.elapsed() > Duration::from_secs(30) {
            return messages;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The fingerprint of scenario4's one finding on ORG-LTC's PID/SL 110000002A, and of the
/// missing-backup finding on ORG-GP's 110000001B.
fn fingerprints(bin: &Bin, run_id: &str) -> (String, String) {
    let out = bin.run(&["findings", "--run", run_id, "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    let find = |pidsl: &str, rule: &str| {
        let matching: Vec<&Value> = rows
            .iter()
            .filter(|r| r["pidsl"] == pidsl && (rule.is_empty() || r["rule"] == rule))
            .collect();
        assert_eq!(matching.len(), 1, "{pidsl} {rule}: {matching:?}");
        matching[0]["fingerprint"].as_str().unwrap().to_string()
    };
    (find("110000002A", ""), find("110000001B", "missing-backup"))
}

#[test]
fn reminders_from_day_14_escalation_from_day_30_each_once_and_none_for_decided_pidsls() {
    for db in TestDb::all() {
        let smtp = SmtpServer::start();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut bin = Bin::new(&db);
        bin.config = Some(config(dir.path(), smtp.port));
        let run_id = reviewed(&bin, &out);
        let backend = db.backend;

        // Day 13: nothing is due.
        let day13 = remind(&bin, &out, "2026-10-14", true);
        assert_eq!(sent(&day13), [], "[{backend}]");
        assert_eq!(day13["queued"], 0);

        // Between: ORG-LTC's one PID/SL is decided wholly, and one finding of 110000001B.
        let (ltc, gp_backup) = fingerprints(&bin, &run_id);
        let csv = dir.path().join("decisions.csv");
        std::fs::write(
            &csv,
            format!(
                "run_id,fingerprint,decision,justification,reviewer\n\
                 {run_id},{ltc},Fix in POSC,,pat\n\
                 {run_id},{gp_backup},Not a problem,The backup was named on 2 October,pat\n"
            ),
        )
        .unwrap();
        let imported = bin.run(&["decisions", "import", csv.to_str().unwrap()]);
        assert!(imported.status.success(), "{}", stderr(&imported));

        // Day 14, a dry run: previews of the four reminders due, nothing queued.
        let gp = [
            pair("reminder", "110000001A"),
            pair("reminder", "110000001B"),
            pair("reminder", "110000001C"),
            pair("reminder", "110000001D"),
        ];
        let preview = remind(&bin, &out, "2026-10-15", false);
        assert_eq!(sent(&preview), gp, "[{backend}]");
        let folder = PathBuf::from(preview["preview_dir"].as_str().unwrap());
        assert_eq!(folder, out.join("reminders-2026-10-15-001"));
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "reminder-110000001A.eml",
                "reminder-110000001B.eml",
                "reminder-110000001C.eml",
                "reminder-110000001D.eml"
            ]
        );
        assert_eq!(hidden(&out), Vec::<String>::new());
        assert_eq!(follow_ups(&bin), [], "[{backend}] a dry run queued mail");
        assert!(smtp.messages().is_empty());

        // Day 14 for real: the reminders go to each PID/SL's Primary User and backup.
        let day14 = remind(&bin, &out, "2026-10-15", true);
        assert_eq!(sent(&day14), gp, "[{backend}]");
        assert_eq!(hidden(&out), Vec::<String>::new(), "the spool is removed");
        assert_eq!(day14["queued"], 4);
        assert_eq!(day14["delivery"]["sent"], 4, "[{backend}] {day14}");
        let messages = wait_received(&smtp, 4);
        assert_eq!(messages.len(), 4, "[{backend}]");
        let main = received(&messages, "on 110000001A");
        let mut to = main.rcpt_to.clone();
        to.sort();
        assert_eq!(
            to,
            ["gpatel@riverbend.example", "jokafor@riverbend.example"]
        );
        let (subject, text) = text_of(main);
        assert!(
            subject.starts_with("Reminder: 6 findings on 110000001A awaiting your decision"),
            "{subject}"
        );
        assert!(
            text.contains(&format!("decide-{run_id}-110000001A.xlsx")),
            "{text}"
        );
        assert!(text.contains("Administer Account"), "{text}");
        assert!(
            text.contains("reported to your organization's management"),
            "{text}"
        );
        let (subject, text) = text_of(received(&messages, "on 110000001B"));
        assert!(subject.starts_with("Reminder: 4 findings"), "{subject}");
        assert!(
            !text.contains("missing-backup"),
            "a decided finding: {text}"
        );
        for m in &messages {
            let (_, text) = text_of(m);
            for other in ["Maple Grove", "Harborview", "110000002A"] {
                assert!(!text.contains(other), "{other} in {text}");
            }
        }

        // Day 14 again and day 20: nothing new.
        for day in ["2026-10-15", "2026-10-21"] {
            let again = remind(&bin, &out, day, true);
            assert_eq!(sent(&again), [], "[{backend}] {day}");
            assert_eq!(again["queued"], 0);
        }

        // Day 30: one escalation to ORG-GP's management; ORG-LTC, all decided, gets none.
        let day30 = remind(&bin, &out, "2026-10-31", true);
        assert_eq!(sent(&day30), [pair("escalation", "ORG-GP")], "[{backend}]");
        let messages = wait_received(&smtp, 5);
        assert_eq!(messages.len(), 5, "[{backend}]");
        let escalation = received(&messages, "Escalation");
        let mut to = escalation.rcpt_to.clone();
        to.sort();
        assert_eq!(
            to,
            ["cfo@riverbend.example", "compliance@riverbend.example"]
        );
        let (subject, text) = text_of(escalation);
        assert!(
            subject.starts_with("Escalation: 4 PID/SLs of Riverbend Family Health Group"),
            "{subject}"
        );
        for needle in [
            "110000001A (Riverbend Main Office): 6 undecided findings",
            "110000001B (Riverbend North Site): 4 undecided findings",
            "Grace Patel (gpatel), gpatel@riverbend.example, 617-555-0101",
            "James Okafor (jokafor)",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert!(!text.contains("110000002A"), "{text}");
        // The HTML part's table: a row per undecided PID/SL, with how to reach its Primary User.
        let html = escalation.parsed().body_html(0).unwrap().into_owned();
        let table = &html[html.find("id=\"undecided\"").expect("the table")..];
        let table = &table[..table.find("</table>").unwrap()];
        assert_eq!(table.matches("<tr valign").count(), 4, "{table}");
        assert!(table.contains("617-555-0101"), "{table}");

        // Day 31: nothing more; the outbox holds each follow-up once, sent.
        assert_eq!(sent(&remind(&bin, &out, "2026-11-01", true)), []);
        assert_eq!(smtp.messages().len(), 5);
        let sent_state =
            |kind: &str, unit: &str| (kind.to_string(), unit.to_string(), "sent".to_string());
        assert_eq!(
            follow_ups(&bin),
            [
                sent_state("escalation", "ORG-GP"),
                sent_state("reminder", "110000001A"),
                sent_state("reminder", "110000001B"),
                sent_state("reminder", "110000001C"),
                sent_state("reminder", "110000001D"),
            ],
            "[{backend}]"
        );
    }
}

#[test]
fn a_first_pass_past_the_escalation_day_sends_both_steps() {
    for db in TestDb::all() {
        let smtp = SmtpServer::start();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut bin = Bin::new(&db);
        bin.config = Some(config(dir.path(), smtp.port));
        reviewed(&bin, &out);
        let day31 = remind(&bin, &out, "2026-11-01", true);
        assert_eq!(
            sent(&day31),
            [
                pair("escalation", "ORG-GP"),
                pair("escalation", "ORG-LTC"),
                pair("reminder", "110000001A"),
                pair("reminder", "110000001B"),
                pair("reminder", "110000001C"),
                pair("reminder", "110000001D"),
                pair("reminder", "110000002A"),
            ],
            "[{}]",
            db.backend
        );
        assert_eq!(wait_received(&smtp, 7).len(), 7);
        let text = text_of(received(&smtp.messages(), "on 110000002A")).1;
        assert!(
            text.contains("management has been told"),
            "the reminder says the escalation is made: {text}"
        );
    }
}

#[test]
fn the_schedulers_midnight_pass_queues_the_reminders_due_that_day() {
    for db in TestDb::all() {
        let smtp = SmtpServer::start();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut bin = Bin::new(&db);
        bin.config = Some(config(dir.path(), smtp.port));
        reviewed(&bin, &out);
        let mut settings = Settings::load(bin.config.as_deref()).unwrap();
        settings.database.url = db.url.clone();

        // Two seconds before midnight of day 13, New York time: the pass at start finds
        // nothing due; the one at midnight queues the reminders, which the courier delivers.
        let clock = ManualClock::new("2026-10-15T03:59:58Z".parse().unwrap());
        let delivered = block_on(async {
            let store = db.store().await;
            let (stop, signals) = Signals::sent();
            let options = schedule::Options {
                out_dir: out.clone(),
                grace: Duration::from_secs(60),
            };
            let scheduler = tokio::spawn(schedule::run(
                store.clone(),
                Arc::new(settings),
                clock.clone(),
                options,
                signals,
            ));
            // The pass at start takes milliseconds when nothing is due; then the task naps
            // towards midnight, re-reading the clock.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let before = store.outbox(None).await.unwrap();
            clock.advance(chrono::Duration::seconds(3));
            let start = Instant::now();
            let delivered = loop {
                let rows = store.outbox(None).await.unwrap();
                if rows.len() == 5 && rows.iter().all(|r| r.sent_at.is_some()) {
                    break rows;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "[{}] {rows:#?}",
                    db.backend
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            stop.send("SIGTERM").unwrap();
            scheduler.await.unwrap().unwrap();
            store.close().await;
            assert!(before.is_empty(), "queued before midnight: {before:#?}");
            delivered
        });
        let mut units: Vec<(String, String)> = delivered
            .iter()
            .map(|r| (r.kind.clone(), r.recipient.clone()))
            .collect();
        units.sort();
        assert_eq!(
            units,
            [
                pair("reminder", "110000001A"),
                pair("reminder", "110000001B"),
                pair("reminder", "110000001C"),
                pair("reminder", "110000001D"),
                pair("reminder", "110000002A"),
            ],
            "[{}]",
            db.backend
        );
        assert_eq!(wait_received(&smtp, 5).len(), 5);
    }
}
