//! Mail through a real SMTP server (aiosmtpd on a loopback port): the management reports and
//! action lists of a run, the outbox's retries and exactly-once delivery, and STARTTLS with a
//! self-signed certificate.

mod common;

use common::smtp::{free_port, self_signed_ca_cert, self_signed_cert, Received, SmtpServer};
use common::{read_csv, scenario4, stderr, stdout, Bin, TestDb};
use mail_parser::MimeHeaders;
use std::path::Path;
use std::process::Command;

/// The sample's configuration plus an SMTP section pointing at `port`.
fn config(dir: &Path, port: u16, smtp_extra: &str) -> std::path::PathBuf {
    let roles = std::fs::read_to_string(scenario4().join("config.toml")).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "{roles}\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_secs = 5\n{smtp_extra}\n\
             [mail]\nfrom = \"POSC Review <review@posc.example>\"\nmax_attempts = 3\n"
        ),
    )
    .unwrap();
    path
}

fn setup(db: &TestDb, work: &Path, port: u16, smtp_extra: &str) -> Bin {
    let mut bin = Bin::new(db);
    bin.config = Some(config(work, port, smtp_extra));
    let out = bin.run(&["import", scenario4().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    bin
}

fn review_send(bin: &Bin, work: &Path) -> std::process::Output {
    bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--send",
        "--out",
        work.join("out").to_str().unwrap(),
    ])
}

fn text_of(m: &Received) -> (String, String, String) {
    let parsed = m.parsed();
    (
        parsed.subject().unwrap_or_default().to_string(),
        parsed.body_text(0).unwrap_or_default().to_string(),
        parsed.body_html(0).unwrap_or_default().to_string(),
    )
}

fn outbox(bin: &Bin) -> Vec<serde_json::Value> {
    let out = bin.run(&["send", "--list", "--format", "json"]);
    serde_json::from_str::<serde_json::Value>(&stdout(&out))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_review_with_send_delivers_each_organizations_report_and_each_action_list() {
    for db in TestDb::all() {
        let server = SmtpServer::start();
        let work = tempfile::tempdir().unwrap();
        let bin = setup(&db, work.path(), server.port, "");
        let out = review_send(&bin, work.path());
        assert!(out.status.success(), "[{}] {}", db.backend, stderr(&out));
        assert!(stdout(&out).contains("sent"), "{}", stdout(&out));
        // The run's folder and nothing else: no .eml copies, no spool left behind.
        let left: Vec<String> = std::fs::read_dir(work.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 1, "[{}] {left:?}", db.backend);
        assert!(!work.path().join("out").join(&left[0]).join("mail").exists());

        let messages = server.messages();
        // Four organizations, and the PID/SLs with findings: 1A, 1B, 1C, 1D and 2A.
        assert_eq!(messages.len(), 4 + 5, "[{}]", db.backend);
        let management = messages
            .iter()
            .find(|m| {
                m.rcpt_to
                    .contains(&"compliance@riverbend.example".to_string())
            })
            .expect("Riverbend's report");
        assert_eq!(
            management.rcpt_to,
            ["compliance@riverbend.example", "cfo@riverbend.example"]
        );
        let (subject, text, html) = text_of(management);
        assert!(
            subject.contains("Riverbend Family Health Group") && subject.contains("critical"),
            "{subject}"
        );
        assert!(
            text.contains("terminated-user-access") && html.contains("<table"),
            "both parts carry the findings"
        );
        assert!(
            !text.contains("Harborview") && !html.contains("ORG-HOSP"),
            "no other organization's data"
        );
        let parsed = management.parsed();
        let attachment = parsed
            .attachments()
            .next()
            .expect("the organization's workbook");
        assert_eq!(
            attachment.attachment_name(),
            Some("review-".to_string() + &run_id(work.path()) + "-ORG-GP.xlsx").as_deref()
        );

        // 110000001B's action list goes to mchen, its only administrator.
        let action = messages
            .iter()
            .find(|m| text_of(m).0.contains("110000001B"))
            .unwrap();
        assert_eq!(action.rcpt_to, ["mchen@riverbend.example"]);
        let (_, text, _) = text_of(action);
        assert!(
            text.contains("missing-backup")
                && text.contains("1.  Administer Account\n      2.  Manage Subordinate Accounts")
        );

        // Nothing personal anywhere.
        let users = read_csv(&scenario4().join("users.csv"));
        for m in &messages {
            let (_, text, html) = text_of(m);
            for u in &users {
                for field in ["dob_mmdd", "ssn_last4"] {
                    let value = &u[field];
                    if !value.is_empty() {
                        assert!(
                            !text.contains(&format!(" {value}"))
                                && !html.contains(&format!(">{value}<")),
                            "{field} leaked"
                        );
                    }
                }
            }
        }
        assert!(outbox(&bin).iter().all(|m| m["state"] == "sent"));
    }
}

fn run_id(work: &Path) -> String {
    std::fs::read_dir(work.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| !n.starts_with('.'))
        .unwrap()
}

/// Checks a `review --send` whose delivery pass stopped at its first message for a reason of the
/// server's, named by `reason` on stderr: exit 1, all nine messages pending, the first after one
/// attempt, the other eight not tried and no attempt counted against them. Returns the outbox.
fn assert_stopped_after_one_try(
    out: &std::process::Output,
    bin: &Bin,
    reason: &str,
) -> Vec<serde_json::Value> {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    assert!(
        stderr(out).contains("8 other messages not tried: 127.0.0.1:")
            && stderr(out).contains(reason),
        "{}",
        stderr(out)
    );
    let queued = outbox(bin);
    assert_eq!(queued.len(), 9);
    assert!(queued.iter().all(|m| m["state"] == "pending"), "{queued:?}");
    assert_eq!(queued.iter().filter(|m| m["attempts"] == 1).count(), 1);
    let untried: Vec<_> = queued.iter().filter(|m| m["attempts"] == 0).collect();
    assert_eq!(untried.len(), 8, "{queued:?}");
    assert!(
        untried
            .iter()
            .all(|m| m["last_error"].as_str().unwrap().starts_with("not tried: ")),
        "{untried:?}"
    );
    queued
}

#[test]
fn with_the_server_down_mail_stays_pending_and_a_later_send_delivers_each_once() {
    for db in TestDb::all() {
        let port = free_port();
        let work = tempfile::tempdir().unwrap();
        let bin = setup(&db, work.path(), port, "");
        let out = review_send(&bin, work.path());
        // The first refused connection ends the pass: the rest are not tried one by one.
        let queued = assert_stopped_after_one_try(
            &out,
            &bin,
            "the review completed, but 9 messages were not delivered",
        );
        assert!(
            queued.iter().all(|m| !m["last_error"].is_null()),
            "[{}]",
            db.backend
        );

        // Without --now the retry schedule holds the messages back: still undelivered.
        let early = bin.run(&["send"]);
        assert_eq!(early.status.code(), Some(1), "{}", stderr(&early));
        assert!(
            stdout(&early).contains("Sent 0 messages; undelivered in the outbox: 9 to retry"),
            "{}",
            stdout(&early)
        );

        let server = SmtpServer::start_on(port, None);
        let first = bin.run(&["send", "--now"]);
        assert!(first.status.success(), "{}", stderr(&first));
        assert!(
            stdout(&first).contains("Sent 9 messages"),
            "{}",
            stdout(&first)
        );
        let again = bin.run(&["send", "--now"]);
        assert!(stdout(&again).contains("Sent 0 messages"));
        assert_eq!(
            server.messages().len(),
            9,
            "[{}] each message exactly once",
            db.backend
        );
        let queued = outbox(&bin);
        assert!(queued.iter().all(|m| m["state"] == "sent"));
        // One attempt each, and one more for the message the first pass tried.
        let attempts: i64 = queued.iter().map(|m| m["attempts"].as_i64().unwrap()).sum();
        assert_eq!(attempts, 10, "[{}] {queued:?}", db.backend);
    }
}

#[test]
fn with_the_server_down_only_the_message_tried_uses_up_its_attempts() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = setup(&db, work.path(), free_port(), "");
        let out = review_send(&bin, work.path());
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        // max_attempts = 3: after the third pass the message each pass tried has failed for
        // good; the other eight were never tried and have all their attempts left.
        let second = bin.run(&["send", "--now"]);
        assert!(
            stdout(&second).contains(
                "Sent 0 messages; undelivered in the outbox: 9 to retry, 0 failed for good"
            ),
            "[{}] {}",
            db.backend,
            stdout(&second)
        );
        let third = bin.run(&["send", "--now"]);
        assert_eq!(third.status.code(), Some(1), "{}", stderr(&third));
        assert!(
            stdout(&third).contains(
                "Sent 0 messages; undelivered in the outbox: 8 to retry, 1 failed for good"
            ),
            "[{}] {}",
            db.backend,
            stdout(&third)
        );
        let queued = outbox(&bin);
        let failed: Vec<_> = queued.iter().filter(|m| m["state"] == "failed").collect();
        assert_eq!(failed.len(), 1, "[{}] {queued:?}", db.backend);
        assert_eq!(failed[0]["attempts"], 3);
        assert!(failed[0]["last_error"]
            .as_str()
            .unwrap()
            .ends_with("(after 3 attempts)"));
        let waiting: Vec<_> = queued.iter().filter(|m| m["state"] == "pending").collect();
        assert_eq!(waiting.len(), 8, "[{}] {queued:?}", db.backend);
        assert!(waiting
            .iter()
            .all(|m| m["attempts"] == 0
                && m["last_error"].as_str().unwrap().starts_with("not tried: ")));
    }
}

#[test]
fn a_message_the_server_stalls_fails_alone_and_the_others_are_delivered() {
    for db in TestDb::all() {
        // Riverbend's management report never gets its answer after the data.
        let server = SmtpServer::start_stalling("compliance@riverbend.example");
        let work = tempfile::tempdir().unwrap();
        let mut bin = setup(&db, work.path(), server.port, "");
        bin.env
            .push(("POSC_REVIEW__SMTP__TIMEOUT_SECS".into(), "1".into()));
        let out = review_send(&bin, work.path());
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(
            server.messages().len(),
            8,
            "[{}] {}",
            db.backend,
            stderr(&out)
        );
        // The stalled message; every other one is sent after one attempt.
        let stalled = |queued: Vec<serde_json::Value>| {
            let (stalled, others): (Vec<_>, Vec<_>) = queued
                .into_iter()
                .partition(|m| m["to_addresses"][0] == "compliance@riverbend.example");
            assert!(others
                .iter()
                .all(|m| m["state"] == "sent" && m["attempts"] == 1));
            stalled.into_iter().next().unwrap()
        };
        let first = stalled(outbox(&bin));
        assert_eq!(
            (&first["state"], &first["attempts"]),
            (&"pending".into(), &1.into())
        );
        assert!(
            first["last_error"]
                .as_str()
                .unwrap()
                .contains("no answer within 1s during this message"),
            "{first:?}"
        );
        // Each later pass tries it again, alone, until it is out of attempts.
        bin.run(&["send", "--now"]);
        bin.run(&["send", "--now"]);
        let last = stalled(outbox(&bin));
        assert_eq!(last["state"], "failed", "[{}] {last:?}", db.backend);
        assert!(last["last_error"]
            .as_str()
            .unwrap()
            .ends_with("(after 3 attempts)"));
        assert_eq!(server.messages().len(), 8);
    }
}

#[test]
fn send_counts_and_exits_1_on_mail_that_failed_for_good_earlier_or_was_left_sending() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = setup(&db, work.path(), free_port(), "");
        review_send(&bin, work.path());
        // The nine failed for good earlier (a down server now uses up the attempts of one
        // message a pass: see with_the_server_down_only_the_message_tried_uses_up_its_attempts).
        db.execute("UPDATE outbox SET state = 'failed', attempts = 3");

        // A later pass tries nothing, and the nine are still not delivered.
        let later = bin.run(&["send", "--now"]);
        assert_eq!(later.status.code(), Some(1), "[{}]", db.backend);
        assert!(
            stdout(&later).contains(
                "Sent 0 messages; undelivered in the outbox: 0 to retry, 9 failed for good, 0 claimed"
            ),
            "[{}] {}",
            db.backend,
            stdout(&later)
        );
        assert!(
            stderr(&later).contains("9 messages were not delivered"),
            "[{}] {}",
            db.backend,
            stderr(&later)
        );

        // A sender that died mid-delivery left one message claimed (state sending).
        db.execute(&format!(
            "UPDATE outbox SET state = 'sending', claimed_at = {} \
             WHERE idempotency_key = (SELECT MIN(idempotency_key) FROM outbox)",
            common::sql_time(chrono::Utc::now())
        ));
        let stuck = bin.run(&["send", "--now"]);
        assert_eq!(stuck.status.code(), Some(1), "[{}]", db.backend);
        assert!(
            stdout(&stuck).contains(
                "0 to retry, 8 failed for good, 1 claimed by a sender that has not finished"
            ),
            "[{}] {}",
            db.backend,
            stdout(&stuck)
        );
    }
}

#[test]
fn a_refused_login_keeps_every_message_pending_after_one_try() {
    let db = TestDb::sqlite();
    let server = SmtpServer::start_refusing_logins();
    let work = tempfile::tempdir().unwrap();
    let mut bin = setup(&db, work.path(), server.port, "username = \"review\"");
    bin.env
        .push(("POSC_REVIEW_SMTP_PASSWORD".into(), "wrong".into()));
    let out = review_send(&bin, work.path());
    // Not failed for good: the login is the problem, not the messages.
    assert_stopped_after_one_try(&out, &bin, "535");
}

#[test]
fn a_server_that_never_answers_costs_one_timeout_per_pass_not_one_per_message() {
    let db = TestDb::sqlite();
    // Accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    // Holds every connection open, unanswered, until the test process ends.
    std::thread::spawn(move || silent.incoming().collect::<Vec<_>>());
    let work = tempfile::tempdir().unwrap();
    let mut bin = setup(&db, work.path(), port, "");
    bin.env
        .push(("POSC_REVIEW__SMTP__TIMEOUT_SECS".into(), "1".into()));
    let out = review_send(&bin, work.path());
    let queued = assert_stopped_after_one_try(&out, &bin, "no answer within 1s");
    assert!(queued
        .iter()
        .all(|m| m["last_error"].as_str().unwrap().contains("no answer")));
}

#[test]
fn without_send_the_messages_are_written_as_eml_files_and_nothing_is_queued() {
    let db = TestDb::sqlite();
    let work = tempfile::tempdir().unwrap();
    let bin = setup(&db, work.path(), free_port(), "");
    let out = bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        work.path().join("out").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mail_dir = work
        .path()
        .join("out")
        .join(run_id(work.path()))
        .join("mail");
    let mut names: Vec<String> = std::fs::read_dir(&mail_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 9);
    assert!(
        names.contains(&"management-ORG-GP.eml".to_string())
            && names.contains(&"action-list-110000001B.eml".to_string())
    );
    // At or below 1,000 messages: the folder, and the output names it.
    assert!(!mail_dir.with_file_name("mail.zip").exists());
    assert!(
        stdout(&out).contains(&format!(
            "Mail: 9 messages written to {}",
            mail_dir.display()
        )),
        "{}",
        stdout(&out)
    );
    assert!(outbox(&bin).is_empty());
}

#[test]
fn a_dry_run_of_more_than_1000_messages_writes_them_into_one_uncompressed_mail_zip() {
    let work = tempfile::tempdir().unwrap();
    let snapshot = work.path().join("snapshot");
    let demo = Command::new(env!("CARGO_BIN_EXE_posc-review"))
        .args([
            "demo",
            "--scale",
            "2000",
            "--no-import",
            "--as-of",
            "2026-10-01",
        ])
        .arg("--snapshot")
        .arg(&snapshot)
        .output()
        .unwrap();
    assert!(demo.status.success(), "{}", stderr(&demo));
    // Two stores of the same snapshot, each reviewed once: a dry run, and --send delivering to
    // a port nothing listens on (the messages stay queued).
    let port = free_port().to_string();
    let store = |db: &TestDb| {
        let mut bin = Bin::new(db);
        bin.config = None;
        bin.env = [
            ("POSC_REVIEW__SMTP__HOST", "127.0.0.1"),
            ("POSC_REVIEW__SMTP__PORT", port.as_str()),
            ("POSC_REVIEW__SMTP__TLS", "none"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        let imported = bin.run(&["import", snapshot.to_str().unwrap()]);
        assert!(imported.status.success(), "{}", stderr(&imported));
        bin
    };
    let (dry_db, send_db) = (TestDb::sqlite(), TestDb::sqlite());
    let out_dir = work.path().join("out");
    let review = |bin: &Bin, send: bool| {
        let mut args = vec!["review", "--as-of", "2026-10-01", "--format", "json"];
        args.extend(["--out", out_dir.to_str().unwrap()]);
        if send {
            args.push("--send");
        }
        let out = bin.run(&args);
        // --send exits 1: its messages could not be delivered.
        assert!(out.status.success() || send, "{}", stderr(&out));
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()
    };

    let dry = review(&store(&dry_db), false);
    let run_dir = Path::new(dry["out_dir"].as_str().unwrap());
    let zip_path = run_dir.join("mail.zip");
    assert_eq!(dry["mail"]["written_to"], zip_path.to_str().unwrap());
    assert!(dry["files"]
        .as_array()
        .unwrap()
        .contains(&zip_path.to_str().unwrap().into()));
    assert!(!run_dir.join("mail").exists());
    let written = dry["mail"]["written"].as_u64().unwrap() as usize;
    assert!(written > 1000, "{written}");

    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    assert_eq!(zip.len(), written);
    let mut subjects = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        assert_eq!(entry.compression(), zip::CompressionMethod::Stored);
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut raw).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let to: Vec<String> = parsed
            .to()
            .unwrap()
            .iter()
            .map(|a| a.address().unwrap().to_string())
            .collect();
        subjects.insert(
            entry.name().unwrap().to_string(),
            (parsed.subject().unwrap().to_string(), to),
        );
    }

    // The same messages as --send composes and queues: names, subjects and recipients.
    let send = store(&send_db);
    review(&send, true);
    let queued: std::collections::BTreeMap<String, (String, Vec<String>)> = outbox(&send)
        .iter()
        .map(|m| {
            let to = m["to_addresses"].as_array().unwrap();
            (
                format!(
                    "{}-{}.eml",
                    m["kind"].as_str().unwrap(),
                    m["recipient"].as_str().unwrap()
                ),
                (
                    m["subject"].as_str().unwrap().to_string(),
                    to.iter().map(|a| a.as_str().unwrap().to_string()).collect(),
                ),
            )
        })
        .collect();
    assert_eq!(subjects, queued);
}

/// A store holding only the snapshot given as the texts of organizations.csv, pidsls.csv,
/// users.csv and access.csv.
fn store_of(db: &TestDb, work: &Path, port: u16, files: [&str; 4]) -> Bin {
    let snapshot = work.join("snapshot");
    std::fs::create_dir(&snapshot).unwrap();
    for (name, text) in ["organizations.csv", "pidsls.csv", "users.csv", "access.csv"]
        .iter()
        .zip(files)
    {
        std::fs::write(snapshot.join(name), text).unwrap();
    }
    let mut bin = Bin::new(db);
    bin.config = Some(config(work, port, ""));
    let out = bin.run(&["import", snapshot.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    bin
}

#[test]
fn a_clean_review_still_sends_the_management_report() {
    let db = TestDb::sqlite();
    let server = SmtpServer::start();
    let work = tempfile::tempdir().unwrap();
    let bin = store_of(
        &db,
        work.path(),
        server.port,
        [
            "org_id,name,management_emails,last_review_on\nTIDY,Tidy Clinic,boss@tidy.example,2026-09-01\n",
            "pidsl,org_id,provider_type\n123456789A,TIDY,group_practice\n",
            "username,first_name,last_name,email,org_id,job_role,created_on,last_login_at,terms_accepted_on\n\
         ann,Ann,Able,ann@tidy.example,TIDY,office_manager,2020-01-01,2026-09-30,2020-01-01\n\
         bob,Bob,Best,bob@tidy.example,TIDY,office_manager,2020-01-01,2026-09-30,2020-01-01\n",
            "username,pidsl,role,services\nann,123456789A,primary,PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL\nbob,123456789A,backup,PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL\n",
        ],
    );
    let out = review_send(&bin, work.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "the report, and no action list");
    let (subject, text, _) = text_of(&messages[0]);
    assert!(subject.ends_with("no findings"), "{subject}");
    assert!(text.contains("No findings"));
    assert!(
        text.contains("Reviewed: 1 active PID/SL, 2 users and 2 access rows."),
        "a clean review says what was reviewed: {text}"
    );
}

#[test]
fn long_lists_are_cut_and_a_large_workbook_is_named_not_attached() {
    let db = TestDb::sqlite();
    let server = SmtpServer::start();
    let work = tempfile::tempdir().unwrap();
    let mut bin = setup(&db, work.path(), server.port, "");
    bin.env
        .push(("POSC_REVIEW__MAIL__MAX_FINDINGS_LISTED".into(), "2".into()));
    bin.env
        .push(("POSC_REVIEW__MAIL__MAX_ATTACHMENT_MB".into(), "0".into()));
    let out = review_send(&bin, work.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let messages = server.messages();
    let management = messages
        .iter()
        .find(|m| {
            m.rcpt_to
                .contains(&"compliance@riverbend.example".to_string())
        })
        .unwrap();
    let (_, text, _) = text_of(management);
    assert!(
        text.contains("... and 8 more in the workbook"),
        "critical and high: {text}"
    );
    assert!(
        text.contains("... and 11 more in the workbook"),
        "new medium and low: {text}"
    );
    assert!(
        text.contains("- [critical] missing-primary, 110000001C (new)\n  no active Primary User"),
        "{text}"
    );
    assert!(text.replace('\n', " ").contains("too large to attach"));
    assert_eq!(management.parsed().attachments().count(), 0);
    let action = messages
        .iter()
        .find(|m| text_of(m).0.contains("110000001D"))
        .unwrap();
    assert!(text_of(action)
        .1
        .contains("more in the organization's review workbook"));
}

#[test]
fn starttls_works_with_a_trusted_self_signed_certificate_and_fails_clearly_without() {
    let db = TestDb::sqlite();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_cert(certs.path());
    let server = SmtpServer::start_tls(&cert, &key);
    let work = tempfile::tempdir().unwrap();

    let untrusted = setup(&db, work.path(), server.port, "");
    let mut untrusted = untrusted;
    untrusted
        .env
        .push(("POSC_REVIEW__SMTP__TLS".into(), "starttls".into()));
    untrusted
        .env
        .push(("POSC_REVIEW__SMTP__HOST".into(), "localhost".into()));
    let out = review_send(&untrusted, work.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out).to_lowercase();
    assert!(
        err.contains("certificate"),
        "the cause names the certificate: {err}"
    );
    assert!(server.messages().is_empty());

    let mut trusted = untrusted;
    trusted.env.push((
        "POSC_REVIEW__SMTP__CA_FILE".into(),
        cert.to_str().unwrap().into(),
    ));
    let out = trusted.run(&["send", "--now"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.messages().len(), 9);
}

#[test]
fn a_pidsl_without_an_active_primary_or_backup_has_its_action_list_sent_to_management() {
    let db = TestDb::sqlite();
    let server = SmtpServer::start();
    let work = tempfile::tempdir().unwrap();
    let bin = store_of(
        &db,
        work.path(),
        server.port,
        [
            "org_id,name,management_emails,last_review_on\nLONE,Lone Clinic,boss@lone.example;audit@lone.example,2026-09-01\n",
            "pidsl,org_id,provider_type\n123456789A,LONE,group_practice\n",
            "username,first_name,last_name,email,org_id,job_role,created_on,last_login_at,terms_accepted_on\n\
         cal,Cal,Clerk,cal@lone.example,LONE,front_desk,2020-01-01,2026-09-30,2020-01-01\n",
            "username,pidsl,role,services\ncal,123456789A,subordinate,PORTAL;ELIGIBILITY\n",
        ],
    );
    let out = review_send(&bin, work.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let messages = server.messages();
    let action = messages
        .iter()
        .find(|m| text_of(m).0.contains("to fix on 123456789A"))
        .expect("an action list");
    assert_eq!(action.rcpt_to, ["boss@lone.example", "audit@lone.example"]);
    let (_, text, html) = text_of(action);
    let text = text.replace("\r\n", " ").replace('\n', " ");
    assert!(text.contains("has no active Primary User or backup, so this action list goes to the organization's management"), "{text}");
    assert!(text.contains("missing-primary") && text.contains("missing-backup"));
    assert!(html.contains("has no active Primary User or backup"));
}

/// `bin` with STARTTLS (or implicit TLS with `implicit`) to `localhost`, trusting `ca_file`.
fn with_tls(mut bin: Bin, implicit: bool, ca_file: &Path) -> Bin {
    let mode = if implicit { "tls" } else { "starttls" };
    for (key, value) in [
        ("POSC_REVIEW__SMTP__TLS", mode),
        ("POSC_REVIEW__SMTP__HOST", "localhost"),
        ("POSC_REVIEW__SMTP__CA_FILE", ca_file.to_str().unwrap()),
    ] {
        bin.env.push((key.into(), value.into()));
    }
    bin
}

#[test]
fn implicit_tls_works_with_a_trusted_self_signed_certificate() {
    let db = TestDb::sqlite();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_cert(certs.path());
    let server = SmtpServer::start_implicit_tls(&cert, &key);
    let work = tempfile::tempdir().unwrap();
    let bin = with_tls(setup(&db, work.path(), server.port, ""), true, &cert);
    let out = review_send(&bin, work.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.messages().len(), 9);
}

#[test]
fn a_ca_file_that_is_not_pem_stops_the_review_naming_the_key() {
    let db = TestDb::sqlite();
    let certs = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed_cert(certs.path());
    // The same certificate in DER, as some tools export it.
    let der = certs.path().join("cert.der");
    let status = std::process::Command::new("openssl")
        .args(["x509", "-outform", "der", "-in"])
        .arg(&cert)
        .arg("-out")
        .arg(&der)
        .status()
        .unwrap();
    assert!(status.success());
    let work = tempfile::tempdir().unwrap();
    let bin = with_tls(setup(&db, work.path(), free_port(), ""), false, &der);
    let out = review_send(&bin, work.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("smtp.ca_file") && err.contains("cert.der") && err.contains("PEM"),
        "{err}"
    );
    assert!(
        !work.path().join("out").exists(),
        "the review did not start"
    );
}

#[test]
fn a_ca_certificate_as_the_servers_own_is_refused_saying_how_to_make_one_that_is_accepted() {
    let db = TestDb::sqlite();
    let certs = tempfile::tempdir().unwrap();
    // What `openssl req -x509` makes without more options: CA:TRUE.
    let (cert, key) = self_signed_ca_cert(certs.path());
    let server = SmtpServer::start_tls(&cert, &key);
    let work = tempfile::tempdir().unwrap();
    let bin = with_tls(setup(&db, work.path(), server.port, ""), false, &cert);
    let out = review_send(&bin, work.path());
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("CA:TRUE") && err.contains("README"),
        "the cause says what to do: {err}"
    );
    assert!(server.messages().is_empty());
}

#[test]
fn a_template_check_that_cannot_write_is_a_failure_not_a_bad_template() {
    let db = TestDb::sqlite();
    let work = tempfile::tempdir().unwrap();
    let mut bin = setup(&db, work.path(), free_port(), "");
    // The check composes its sample run in a temporary folder: here there is none to be had,
    // as on a full disk.
    bin.env.push((
        "TMPDIR".into(),
        work.path().join("gone").to_str().unwrap().into(),
    ));
    let out = bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        work.path().join("out").to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the template check could not write its sample run")
            && !err.contains("mail.template_dir"),
        "{err}"
    );
}

#[test]
fn a_template_that_fails_to_render_stops_the_review_before_it_starts() {
    let db = TestDb::sqlite();
    let work = tempfile::tempdir().unwrap();
    let mut bin = setup(&db, work.path(), free_port(), "");
    for (template, source, cause) in [
        // Compiles, but names a variable no message has.
        ("action_list.txt.j2", "{{ no_such_variable }}", "undefined"),
        // Compiles, and would write ten million dots into every management report.
        (
            "management.html.j2",
            "{% for a in range(10000) %}{% for b in range(1000) %}.{% endfor %}{% endfor %}",
            "fuel",
        ),
    ] {
        let templates = work.path().join(format!("templates-{template}"));
        std::fs::create_dir(&templates).unwrap();
        std::fs::write(templates.join(template), source).unwrap();
        bin.env.push((
            "POSC_REVIEW__MAIL__TEMPLATE_DIR".into(),
            templates.to_str().unwrap().into(),
        ));
        let out = bin.run(&[
            "review",
            "--as-of",
            "2026-10-01",
            "--out",
            work.path().join("out").to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{template}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("mail.template_dir") && err.contains(template) && err.contains(cause),
            "{err}"
        );
        assert!(
            !work.path().join("out").exists(),
            "the review did not start"
        );
        bin.env.pop();
    }
    let runs = bin.run(&["runs", "--format", "json"]);
    assert_eq!(stdout(&runs).trim(), "[]", "no run was recorded");
}

#[test]
fn send_alerts_the_operator_once_of_a_message_that_failed_for_good() {
    for db in TestDb::all() {
        let server = SmtpServer::start();
        let work = tempfile::tempdir().unwrap();
        let bin = setup(&db, work.path(), server.port, "");
        // [mail] is the configuration's last section.
        let config = bin.config.clone().unwrap();
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str("operator = [\"ops@example.org\", \"oncall@example.org\"]\n");
        std::fs::write(&config, text).unwrap();
        let out = bin.run(&[
            "review",
            "--as-of",
            "2026-10-01",
            "--out",
            work.path().join("out").to_str().unwrap(),
            "--send",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let sent = server.messages().len();
        assert!(sent > 0);
        // One message failed for good (as a refused recipient leaves it).
        db.execute(
            "UPDATE outbox SET state = 'failed', sent_at = NULL, last_error = '550 5.1.1 mailbox unavailable' \
             WHERE idempotency_key = (SELECT MIN(idempotency_key) FROM outbox)",
        );
        let first = bin.run(&["send"]);
        assert!(
            stdout(&first).contains("Queued 1 operator alert to mail.operator"),
            "[{}] {}",
            db.backend,
            stdout(&first)
        );
        assert_eq!(first.status.code(), Some(1), "one message is still failed");
        let again = bin.run(&["send"]);
        assert!(
            !stdout(&again).contains("operator alert"),
            "{}",
            stdout(&again)
        );

        let messages = server.messages();
        assert_eq!(
            messages.len(),
            sent + 1,
            "[{}] one alert, sent once",
            db.backend
        );
        let alert = messages.last().unwrap();
        assert_eq!(alert.rcpt_to, ["ops@example.org", "oncall@example.org"]);
        let (subject, body, _) = text_of(alert);
        assert_eq!(subject, "posc-review: 1 message failed for good");
        for words in [
            "550 5.1.1 mailbox unavailable",
            "posc-review send --retry-failed",
            "by run ",
        ] {
            assert!(body.contains(words), "{words:?} in:\n{body}");
        }
        let listed = outbox(&bin);
        assert!(listed
            .iter()
            .any(|m| m["kind"] == "alert" && m["state"] == "sent"));
    }
}

/// A dry run of the scenario4 fixture as of 2026-10-01: the run's folder.
fn dry_run(work: &Path) -> std::path::PathBuf {
    let db = TestDb::sqlite();
    let bin = setup(&db, work, free_port(), "");
    let out = bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        work.join("out").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    work.join("out").join(run_id(work))
}

/// The plain-text and HTML parts of a written message.
fn parts_of(eml: &Path) -> (String, String) {
    let raw = std::fs::read(eml).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    (
        parsed
            .body_text(0)
            .unwrap_or_default()
            .replace("\r\n", "\n"),
        parsed
            .body_html(0)
            .unwrap_or_default()
            .replace("\r\n", "\n"),
    )
}

#[test]
fn the_management_report_lists_each_finding_once_and_who_administers_each_pidsl() {
    let work = tempfile::tempdir().unwrap();
    let run = dry_run(work.path());
    let (text, html) = parts_of(&run.join("mail/management-ORG-GP.eml"));
    // On a first run every finding is new: the critical and high ones are listed once, not
    // again under what is new.
    for line in [
        "- [critical] terminated-user-access, 110000001A, oleft (new)",
        "- [high] missing-backup, 110000001B (new)",
        "- [medium] stale-user, cjones",
    ] {
        assert_eq!(text.matches(line).count(), 1, "{line:?} once in:\n{text}");
    }
    assert_eq!(html.matches("(oleft)").count(), 1, "{html}");
    // Who administers what: 110000001B has no backup, 110000001C no Primary User.
    assert!(
        text.contains("110000001B (Riverbend North Site)\n  Primary User: Mei Chen (mchen), mchen@riverbend.example\n  Backup:       none"),
        "{text}"
    );
    assert!(
        text.contains("110000001C (Riverbend South Site)\n  Primary User: none"),
        "{text}"
    );
    assert!(
        text.contains("Grace Patel (gpatel), gpatel@riverbend.example, 617-555-0101"),
        "email and phone: {text}"
    );
    assert!(
        html.contains("id=\"admins\"") && html.contains(">none</td>"),
        "{html}"
    );
    assert!(text.contains("Reviewed: 4 active PID/SLs, 21 users and 34 access rows."));
}

/// Each row of summary.html's "PID/SLs with the most findings": (PID/SL, findings).
fn summary_pidsl_counts(summary: &str) -> Vec<(String, usize)> {
    let table = &summary[summary.find("id=\"top-pidsls\"").expect("the PID/SL table")..];
    let table = &table[..table.find("</table>").unwrap()];
    table
        .split("<tr>")
        .filter_map(|row| {
            let cells: Vec<&str> = row
                .split("<td")
                .skip(1)
                .map(|c| {
                    let c = &c[c.find('>').unwrap() + 1..];
                    &c[..c.find("</td>").unwrap()]
                })
                .collect();
            (cells.len() >= 4).then(|| (cells[0].to_string(), cells[3].trim().parse().unwrap()))
        })
        .collect()
}

#[test]
fn each_action_list_counts_the_findings_the_summary_counts_for_its_pidsl() {
    let work = tempfile::tempdir().unwrap();
    let run = dry_run(work.path());
    let summary = std::fs::read_to_string(run.join("summary.html")).unwrap();
    let counts = summary_pidsl_counts(&summary);
    assert!(counts.len() >= 5, "{counts:?}");
    let mut lists = 0;
    for (pidsl, count) in &counts {
        let eml = run.join(format!("mail/action-list-{pidsl}.eml"));
        if !eml.exists() {
            continue;
        }
        lists += 1;
        let (text, html) = parts_of(&eml);
        let found = format!("found {count} finding");
        assert!(
            text.replace('\n', " ").contains(&found),
            "{pidsl}: the summary counts {count}:\n{text}"
        );
        assert!(html.replace('\n', " ").contains(&found), "{pidsl}: {html}");
        // Nobody asks the Primary User to write in a workbook they do not receive.
        for part in [&text, &html] {
            assert!(!part.contains("record why"), "{pidsl}: {part}");
        }
        assert!(
            text.contains("(new)"),
            "each says whether it is new: {text}"
        );
        assert!(
            text.lines().all(|l| l.chars().count() <= 76),
            "{pidsl}: lines of at most 76 characters:\n{text}"
        );
    }
    assert_eq!(lists, 5, "1A, 1B, 1C, 1D and 2A have action lists");
}

#[test]
fn the_mail_html_carries_its_colours_in_style_attributes_not_in_a_style_block() {
    let work = tempfile::tempdir().unwrap();
    let run = dry_run(work.path());
    for name in ["management-ORG-GP.eml", "action-list-110000001C.eml"] {
        let (text, html) = parts_of(&run.join("mail").join(name));
        assert!(!html.contains("var("), "{name}: no custom properties");
        assert!(
            !html.contains("<style"),
            "{name}: no <style> block to ignore"
        );
        assert!(!html.contains("class=\"card"), "{name}: no flex cards");
        assert!(
            html.contains("background-color:#c00000") || html.contains("background-color: #c00000"),
            "{name}: critical in its colour, inline: {html}"
        );
        assert!(html.contains("bgcolor=\"#c00000\""), "{name}: for Outlook");
        for tag in ["<td", "<p>", "<br", "&amp;", "&lt;", "</"] {
            assert!(
                !text.contains(tag),
                "{name}: no HTML in the plain text: {tag}"
            );
        }
    }
}

#[test]
fn the_mail_html_shows_the_severity_colours_in_chromium() {
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs chromium (apt-get install chromium)"
        );
        eprintln!("skipped: no chromium (apt-get install chromium)");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let run = dry_run(work.path());
    for name in ["management-ORG-GP.eml", "action-list-110000001C.eml"] {
        let (_, html) = parts_of(&run.join("mail").join(name));
        // The page writes each severity cell's computed colours into the DOM Chromium dumps.
        let probe = "<script>document.body.setAttribute('data-colours', \
            Array.from(document.querySelectorAll('td.sev')).map(function (td) { \
            var s = getComputedStyle(td); return td.textContent + '=' + s.backgroundColor + '/' + s.color; \
            }).join(';'));</script>";
        let page = work.path().join(format!("{name}.html"));
        std::fs::write(&page, html.replace("</body>", &format!("{probe}</body>"))).unwrap();
        let out = std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--virtual-time-budget=2000",
                "--dump-dom",
            ])
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&out.stdout);
        assert!(
            dom.contains("CRITICAL=rgb(192, 0, 0)/rgb(255, 255, 255)"),
            "{name}: the critical cell is red with white text: {}",
            dom.lines()
                .find(|l| l.contains("data-colours"))
                .unwrap_or(&dom)
        );
    }
}

#[test]
fn send_deletes_the_texts_of_mail_sent_before_keep_sent_days_and_keeps_the_rows() {
    for db in TestDb::all() {
        let work = tempfile::tempdir().unwrap();
        let bin = setup(&db, work.path(), free_port(), "");
        review_send(&bin, work.path());
        let mut keys = db.column("SELECT idempotency_key FROM outbox");
        keys.sort();
        assert_eq!(keys.len(), 9, "[{}]", db.backend);
        let now = chrono::Utc::now();
        let ago = |days| common::sql_time(now - chrono::Duration::days(days));
        // Sent 91 and 89 days ago (the default keeps 90); failed for good 200 days ago; pending
        // since then and due in a year (this `send` does not try it); the rest sent yesterday.
        db.execute(&format!(
            "UPDATE outbox SET state = 'sent', sent_at = {} WHERE idempotency_key = '{}';
             UPDATE outbox SET state = 'sent', sent_at = {} WHERE idempotency_key = '{}';
             UPDATE outbox SET state = 'failed', created_at = {old} WHERE idempotency_key = '{}';
             UPDATE outbox SET state = 'pending', created_at = {old}, next_attempt_at = {} \
             WHERE idempotency_key = '{}';
             UPDATE outbox SET state = 'sent', sent_at = {} \
             WHERE idempotency_key NOT IN ('{}', '{}', '{}', '{}')",
            ago(91),
            keys[0],
            ago(89),
            keys[1],
            keys[2],
            ago(-365),
            keys[3],
            ago(1),
            keys[0],
            keys[1],
            keys[2],
            keys[3],
            old = ago(200),
        ));

        let sent = bin.run(&["send"]);
        assert!(
            stdout(&sent).contains("Deleted the texts of 1 message sent more than 90 days ago"),
            "[{}] {}",
            db.backend,
            stdout(&sent)
        );
        let (kept, purged) = db.outbox_texts();
        assert_eq!(purged, [keys[0].clone()], "[{}]", db.backend);
        assert_eq!(kept, keys[1..], "[{}]", db.backend);
        // The row stays, for the record, and the outbox lists it as before.
        let listed = outbox(&bin);
        let row = listed
            .iter()
            .find(|r| r["idempotency_key"] == keys[0].as_str())
            .unwrap();
        assert_eq!(row["state"], "sent", "[{}] {row}", db.backend);
        assert!(row["sent_at"].is_string() && row["subject"].is_string());

        // A shorter keep_sent_days deletes the texts of everything sent before it, and a
        // second pass finds nothing more to delete.
        let config = bin.config.clone().unwrap();
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{text}keep_sent_days = 30\n")).unwrap();
        let again = bin.run(&["send"]);
        assert!(
            stdout(&again).contains("Deleted the texts of 1 message sent more than 30 days ago"),
            "[{}] {}",
            db.backend,
            stdout(&again)
        );
        let (kept, _) = db.outbox_texts();
        assert_eq!(kept, keys[2..], "[{}]", db.backend);
        let quiet = bin.run(&["send"]);
        assert!(!stdout(&quiet).contains("Deleted"), "{}", stdout(&quiet));
    }
}
