//! `posc-review import`: the sample round-trips, and every kind of bad input is reported with
//! its file, line and column, exits 2, and leaves a previously imported store unchanged — on
//! SQLite and PostgreSQL.

mod common;

use common::{block_on, copy_snapshot, scenario4, stderr, stdout, Bin, TestDb};
use posc_review::snapshot::Snapshot;
use std::path::Path;

/// Everything a review could see, as text, to compare a store before and after.
fn dump(db: &TestDb) -> Vec<String> {
    let snapshot = snapshot(db);
    let mut lines: Vec<String> = snapshot.orgs.iter().map(|o| format!("{o:?}")).collect();
    lines.extend(snapshot.pidsls.iter().map(|p| format!("{p:?}")));
    lines.extend(snapshot.users.iter().map(|u| {
        format!(
            "{} {} {:?} {:?} {:?} {:?}",
            u.username, u.email, u.status, u.terminated_on, u.last_login_on, u.job_role
        )
    }));
    lines.extend(snapshot.access.iter().map(|a| format!("{a:?}")));
    lines
}

/// The store's contents, read on a runtime of its own.
fn snapshot(db: &TestDb) -> Snapshot {
    block_on(async {
        let store = db.store().await;
        let snapshot = store
            .load_snapshot(chrono_tz::America::New_York)
            .await
            .unwrap();
        store.close().await;
        snapshot
    })
}

/// Rows of organizations, PID/SLs, users and access.
fn counts(db: &TestDb) -> [i64; 4] {
    block_on(async {
        let store = db.store().await;
        let counts = store.account_counts().await.unwrap();
        store.close().await;
        [
            counts.organizations,
            counts.pidsls,
            counts.users,
            counts.access,
        ]
    })
}

fn import_ok(bin: &Bin, dir: &Path) {
    let out = bin.run(&["import", dir.to_str().unwrap()]);
    assert!(out.status.success(), "import failed: {}", stderr(&out));
}

/// Replaces the first occurrence of `from` in `dir/file`.
fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in {file}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// The 1-based line of `dir/file` that contains `needle`.
fn line_of(dir: &Path, file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in file")
        + 1
}

/// Imports the sample, then the altered copy: the second import must fail with status 2,
/// print every expected message (`{dir}` stands for the altered folder), and change nothing.
fn assert_rejected(alter: impl Fn(&Path) -> Vec<String>) {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import_ok(&bin, &scenario4());
        let before = dump(&db);

        let bad = copy_snapshot(&scenario4());
        let expected = alter(bad.path());
        let out = bin.run(&["import", bad.path().to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "[{}] expected exit 2, stderr: {err}",
            db.backend
        );
        for message in expected {
            let message = message.replace("{dir}", &bad.path().display().to_string());
            assert!(
                err.contains(&message),
                "[{}] missing {message:?} in:\n{err}",
                db.backend
            );
        }
        assert!(err.contains("nothing was imported"), "{err}");
        assert_eq!(dump(&db), before, "[{}] the store changed", db.backend);
    }
}

#[test]
fn the_sample_round_trips_into_the_store() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        let out = bin.run(&["import", scenario4().to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains("4 organizations, 17 PID/SLs, 29 users, 59 access rows"),
            "{}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains("roster.csv:3: roster row for \"nobody-here\" matches no user")
        );

        assert_eq!(counts(&db), [4, 17, 29, 59]);
        let snapshot = snapshot(&db);
        let user = |name: &str| snapshot.users.iter().find(|u| u.username == name).unwrap();
        // The roster matched Tina Termini by email.
        assert_eq!(
            user("tterm").terminated_on.unwrap().to_string(),
            "2026-09-15"
        );
        // A sign-in at 02:30 UTC is the previous day in New York.
        assert_eq!(
            user("zlate").last_login_on.unwrap().to_string(),
            "2026-07-02"
        );
        assert_eq!(user("nsmith-temp").email, "NSmith@riverbend.example");
        assert!(user("hnew").last_login_at.is_none());
        let annex = snapshot
            .pidsls
            .iter()
            .find(|p| p.pidsl.as_str() == "110000001E")
            .unwrap();
        assert!(!annex.active);
        let gp = snapshot.orgs.iter().find(|o| o.org_id == "ORG-GP").unwrap();
        assert_eq!(
            gp.management_emails,
            ["compliance@riverbend.example", "cfo@riverbend.example"]
        );
        // Display names were stored as codes.
        let gpatel = snapshot
            .users
            .iter()
            .position(|u| u.username == "gpatel")
            .unwrap() as u32;
        let row = snapshot.access.iter().find(|a| a.user == gpatel).unwrap();
        assert_eq!(row.services.to_string(), "PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL;CLAIMS;REPORTS;FINANCIAL;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE");
    }
}

#[test]
fn text_with_backslashes_and_escape_lookalikes_is_stored_exactly() {
    // PostgreSQL's replacing import streams rows in COPY's text format, where these are
    // escapes; the values must come back as they were written.
    let phone = r"617-555-0101 ext.\t12 \N desk\";
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        let dir = copy_snapshot(&scenario4());
        edit(
            dir.path(),
            "users.csv",
            ",617-555-0101,",
            &format!(",\"{phone}\","),
        );
        import_ok(&bin, dir.path());
        let stored: Vec<String> = snapshot(&db)
            .users
            .iter()
            .filter(|u| u.phone.contains("desk"))
            .map(|u| u.phone.clone())
            .collect();
        assert_eq!(stored, [phone], "[{}]", db.backend);
    }
}

#[test]
fn control_characters_are_refused_with_their_cell_on_both_backends() {
    // A NUL made PostgreSQL fail the import with exit 1; a line break in an org_id split log
    // lines; a tab or a line break inside a name is refused the same way (one rule: no cell
    // holds a control character).
    assert_rejected(|dir| {
        let gpatel = line_of(dir, "users.csv", "gpatel,");
        let mchen = line_of(dir, "users.csv", "mchen,");
        let dlee = line_of(dir, "users.csv", "dlee,");
        edit(dir, "users.csv", "gpatel,Grace,", "gpatel,Gr\0ace,");
        edit(dir, "users.csv", "mchen,Mei,", "mchen,\"Mei\tLing\",");
        edit(dir, "users.csv", "dlee,David,Lee", "dlee,David,\"Lee\nJr\"");
        edit(
            dir,
            "organizations.csv",
            "ORG-HOSP,Harborview",
            "\"ORG-HOSP\nforged log line\",Harborview",
        );
        edit(dir, "pidsls.csv", "ORG-GP", "ORG-GP\u{7f}");
        vec![
            format!("{{dir}}/users.csv:{gpatel}: first_name: control character U+0000 (NUL) at character 3"),
            format!("{{dir}}/users.csv:{mchen}: first_name: control character U+0009 (a tab) at character 4"),
            format!("{{dir}}/users.csv:{dlee}: last_name: control character U+000A (a line break)"),
            "{dir}/organizations.csv:5: org_id: control character U+000A (a line break)".into(),
            "{dir}/pidsls.csv:2: org_id: control character U+007F".into(),
            "remove it and import again".into(),
        ]
    });
}

#[test]
fn cells_longer_than_a_workbook_can_hold_are_refused() {
    assert_rejected(|dir| {
        let line = line_of(dir, "users.csv", "gpatel,");
        edit(
            dir,
            "users.csv",
            "gpatel,Grace,",
            &format!("gpatel,{},", "G".repeat(40_000)),
        );
        edit(
            dir,
            "organizations.csv",
            "ORG-BILL,",
            &format!("ORG-{},", "B".repeat(61)),
        );
        vec![
            format!("{{dir}}/users.csv:{line}: first_name: 40000 characters, more than the 1000 a cell may hold"),
            "{dir}/organizations.csv:3: org_id: 65 characters, more than the 64 a key may hold".into(),
        ]
    });
}

#[test]
fn importing_again_replaces_the_store() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import_ok(&bin, &scenario4());
        let smaller = copy_snapshot(&scenario4());
        std::fs::remove_file(smaller.path().join("access.csv")).unwrap();
        std::fs::remove_file(smaller.path().join("roster.csv")).unwrap();
        import_ok(&bin, smaller.path());
        assert_eq!(counts(&db), [4, 17, 29, 0]);
    }
}

#[test]
fn merge_upserts_by_key_and_keeps_the_rest() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import_ok(&bin, &scenario4());
        let delta = tempfile::tempdir().unwrap();
        std::fs::write(
            delta.path().join("organizations.csv"),
            "org_id,name,management_emails\nORG-NEW,New Clinic,boss@new.example\n",
        )
        .unwrap();
        std::fs::write(
            delta.path().join("pidsls.csv"),
            "pidsl,org_id\n120000001a,ORG-NEW\n",
        )
        .unwrap();
        std::fs::write(
            delta.path().join("users.csv"),
            "username,first_name,last_name,email,org_id,status\nnewbie,New,Bie,newbie@new.example,ORG-NEW,active\nAKIM,Alice,Kim,akim@riverbend.example,ORG-GP,inactive\n",
        )
        .unwrap();
        // Access rows may name users and PID/SLs that are only in the store.
        std::fs::write(
            delta.path().join("access.csv"),
            "username,pidsl,services\nnewbie,120000001A,PORTAL\ngpatel,120000001A,PORTAL;CLAIMS\n",
        )
        .unwrap();
        std::fs::write(
            delta.path().join("roster.csv"),
            "email,terminated_on\nmchen@riverbend.example,2026-11-01\n",
        )
        .unwrap();
        let out = bin.run(&["import", "--merge", delta.path().to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).starts_with("Merged"), "{}", stdout(&out));

        assert_eq!(counts(&db), [5, 18, 30, 61]);
        let snapshot = snapshot(&db);
        let user = |name: &str| {
            snapshot
                .users
                .iter()
                .find(|u| u.username.eq_ignore_ascii_case(name))
                .unwrap()
        };
        assert_eq!(user("akim").status.as_str(), "inactive");
        assert_eq!(
            user("akim").username,
            "AKIM",
            "usernames are spelt as the latest import spells them"
        );
        assert_eq!(
            user("mchen").terminated_on.unwrap().to_string(),
            "2026-11-01"
        );
    }
}

#[test]
fn a_missing_required_column_is_reported_on_the_header_line() {
    assert_rejected(|dir| {
        edit(dir, "users.csv", ",email,", ",e_mail,");
        vec!["{dir}/users.csv:1: email: missing required column".into()]
    });
}

#[test]
fn a_malformed_pidsl_is_reported_with_its_line() {
    assert_rejected(|dir| {
        let line = line_of(dir, "pidsls.csv", "110000001B");
        edit(dir, "pidsls.csv", "110000001B,ORG-GP", "11000001B,ORG-GP");
        vec![format!(
            "{{dir}}/pidsls.csv:{line}: pidsl: \"11000001B\" is not a PID/SL"
        )]
    });
}

#[test]
fn an_unknown_org_id_is_reported() {
    assert_rejected(|dir| {
        let line = line_of(dir, "pidsls.csv", "110000001C");
        edit(dir, "pidsls.csv", "110000001C,ORG-GP", "110000001C,ORG-XX");
        vec![format!(
            "{{dir}}/pidsls.csv:{line}: org_id: unknown org_id \"ORG-XX\""
        )]
    });
}

#[test]
fn a_duplicate_username_differing_in_case_is_reported() {
    assert_rejected(|dir| {
        let path = dir.join("users.csv");
        let mut text = std::fs::read_to_string(&path).unwrap();
        let lines = text.lines().count();
        text.push_str("GPatel,Grace,Patel,,grace2@riverbend.example,,ORG-GP,,active,,,,,,\n");
        std::fs::write(&path, text).unwrap();
        vec![format!(
            "{{dir}}/users.csv:{}: username: duplicate username \"GPatel\"",
            lines + 1
        )]
    });
}

#[test]
fn a_duplicate_access_pair_is_reported() {
    assert_rejected(|dir| {
        let path = dir.join("access.csv");
        let mut text = std::fs::read_to_string(&path).unwrap();
        let lines = text.lines().count();
        text.push_str("AKIM,110000001a,subordinate,PORTAL,,\n");
        std::fs::write(&path, text).unwrap();
        vec![format!(
            "{{dir}}/access.csv:{}: pidsl: duplicate access row for AKIM on 110000001A",
            lines + 1
        )]
    });
}

#[test]
fn a_bad_date_is_reported() {
    assert_rejected(|dir| {
        let line = line_of(dir, "users.csv", "mchen,");
        edit(
            dir,
            "users.csv",
            "ORG-GP,office_manager,active,2021-03-02",
            "ORG-GP,office_manager,active,2021-02-30",
        );
        vec![format!("{{dir}}/users.csv:{line}: created_on: \"2021-02-30\" is not a date: expected YYYY-MM-DD")]
    });
}

#[test]
fn a_timestamp_without_offset_is_reported() {
    assert_rejected(|dir| {
        let line = line_of(dir, "users.csv", "gpatel,");
        edit(
            dir,
            "users.csv",
            "2026-09-29T14:05:00-04:00",
            "2026-09-29T14:05:00",
        );
        vec![format!(
            "{{dir}}/users.csv:{line}: last_login_at: \"2026-09-29T14:05:00\" is not a timestamp"
        )]
    });
}

#[test]
fn a_bad_email_is_reported() {
    assert_rejected(|dir| {
        let line = line_of(dir, "users.csv", "dlee,");
        edit(dir, "users.csv", "dlee@riverbend.example", "dlee@riverbend");
        vec![format!(
            "{{dir}}/users.csv:{line}: email: \"dlee@riverbend\" is not a valid email address"
        )]
    });
}

#[test]
fn emails_the_mail_would_refuse_are_refused_at_import_with_their_lines() {
    // Each of these once imported, and then every review exited 1 composing the mail.
    let long_local = format!("{}@riverbend.example", "a".repeat(65));
    let long_label = format!("ab@{}.example", "r".repeat(64));
    let hostile = [
        ("jokafor", "a..b@riverbend.example", "the part before @"),
        ("mchen", ".ab@riverbend.example", "the part before @"),
        ("lrivera", "ab.@riverbend.example", "the part before @"),
        ("sdubois", "a:b@riverbend.example", "the part before @"),
        ("tnguyen", "ab@riverbend..example", "the domain"),
        ("akim", "ab@-riverbend.example", "the domain"),
        ("bwright", long_local.as_str(), "the part before @"),
        ("cjones", long_label.as_str(), "the domain"),
    ];
    assert_rejected(|dir| {
        let mut expected: Vec<String> = hostile
            .iter()
            .map(|(user, email, why)| {
                let line = line_of(dir, "users.csv", &format!("{user},"));
                edit(dir, "users.csv", &format!("{user}@riverbend.example"), email);
                format!("{{dir}}/users.csv:{line}: email: {email:?} is not a valid email address: {why}")
            })
            .collect();
        edit(
            dir,
            "organizations.csv",
            "cfo@riverbend.example",
            "c..fo@riverbend.example",
        );
        expected.push(
            "{dir}/organizations.csv:2: management_emails: \"c..fo@riverbend.example\" is not a valid email address".into(),
        );
        expected
    });
}

#[test]
fn dates_are_only_year_month_day_between_1900_and_9999() {
    assert_rejected(|dir| {
        let mut expected = Vec::new();
        for (user, bad, message) in [
            ("gpatel", "2026-2-3", "is not a date: expected YYYY-MM-DD"),
            (
                "jokafor",
                "+12026-07-01",
                "is not a date: expected YYYY-MM-DD",
            ),
            ("mchen", "-0001-07-01", "is not a date: expected YYYY-MM-DD"),
            (
                "sdubois",
                "1899-12-31",
                "the year must be between 1900 and 9999",
            ),
        ] {
            let line = line_of(dir, "users.csv", &format!("{user},"));
            let path = dir.join("users.csv");
            let text = std::fs::read_to_string(&path).unwrap();
            let row = text.lines().nth(line - 1).unwrap();
            // created_on is the tenth column.
            let mut cells: Vec<&str> = row.split(',').collect();
            cells[9] = bad;
            std::fs::write(&path, text.replacen(row, &cells.join(","), 1)).unwrap();
            expected.push(format!(
                "{{dir}}/users.csv:{line}: created_on: {bad:?}{}{message}",
                if message.starts_with("is") { " " } else { ": " }
            ));
        }
        let line = line_of(dir, "access.csv", "hnew,");
        edit(
            dir,
            "access.csv",
            "hnew,110000001A,subordinate,PORTAL;ELIGIBILITY,2026-09-10,",
            "hnew,110000001A,subordinate,PORTAL;ELIGIBILITY,2026-09-1,",
        );
        expected.push(format!(
            "{{dir}}/access.csv:{line}: granted_on: \"2026-09-1\" is not a date"
        ));
        expected
    });
}

#[test]
fn an_unknown_service_is_reported() {
    assert_rejected(|dir| {
        let line = line_of(dir, "access.csv", "hnew,");
        edit(
            dir,
            "access.csv",
            "hnew,110000001A,subordinate,PORTAL;ELIGIBILITY",
            "hnew,110000001A,subordinate,PORTAL;Teleportation",
        );
        vec![format!(
            "{{dir}}/access.csv:{line}: services: unknown service \"Teleportation\""
        )]
    });
}

#[test]
fn a_file_that_is_not_utf8_is_reported() {
    assert_rejected(|dir| {
        let path = dir.join("users.csv");
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(5).position(|w| w == b"Grace").unwrap();
        bytes[at + 2] = 0xff;
        std::fs::write(&path, bytes).unwrap();
        vec!["{dir}/users.csv:2: first_name: not valid UTF-8".into()]
    });
}

#[test]
fn an_empty_file_is_reported() {
    assert_rejected(|dir| {
        std::fs::write(dir.join("organizations.csv"), "").unwrap();
        vec!["{dir}/organizations.csv:1: the file is empty".into()]
    });
}

#[test]
fn a_missing_required_file_is_reported() {
    assert_rejected(|dir| {
        std::fs::remove_file(dir.join("pidsls.csv")).unwrap();
        vec!["{dir}/pidsls.csv:0: cannot open".into()]
    });
}

#[test]
fn a_quoted_line_break_is_refused_and_later_lines_keep_their_numbers() {
    assert_rejected(|dir| {
        // A phone cell spanning two lines is refused on its first line; the bad email two rows
        // later is reported on its real line, one further down.
        let phone = line_of(dir, "users.csv", ",617-555-0101,");
        edit(
            dir,
            "users.csv",
            ",617-555-0101,",
            ",\"617-555-0101\next. 12\",",
        );
        let line = line_of(dir, "users.csv", "mchen,");
        edit(
            dir,
            "users.csv",
            "mchen@riverbend.example",
            "mchen-at-riverbend",
        );
        vec![
            format!("{{dir}}/users.csv:{phone}: phone: control character U+000A (a line break)"),
            format!("{{dir}}/users.csv:{line}: email:"),
        ]
    });
}

#[test]
fn every_error_in_every_file_is_reported_up_to_a_cap() {
    assert_rejected(|dir| {
        let path = dir.join("access.csv");
        let mut text = std::fs::read_to_string(&path).unwrap();
        for i in 0..150 {
            text.push_str(&format!("ghost{i},110000001A,subordinate,PORTAL,,\n"));
        }
        std::fs::write(&path, text).unwrap();
        edit(
            dir,
            "organizations.csv",
            "ORG-LTC,Maple Grove Nursing Center,provider,semiannual",
            "ORG-LTC,Maple Grove Nursing Center,provider,monthly",
        );
        vec![
            "{dir}/organizations.csv:4: review_cadence: \"monthly\" is not a review cadence".into(),
            "unknown username \"ghost0\"".into(),
            "... and 51 more".into(),
            "nothing was imported: 151 errors".into(),
        ]
    });
}

#[test]
fn unknown_columns_are_warnings_and_the_import_goes_on() {
    let db = TestDb::sqlite();
    let dir = copy_snapshot(&scenario4());
    edit(
        dir.path(),
        "pidsls.csv",
        "pidsl,org_id,",
        "pidsl,Region,org_id,",
    );
    let text = std::fs::read_to_string(dir.path().join("pidsls.csv")).unwrap();
    let widened: String = text
        .lines()
        .skip(1)
        .map(|l| l.replacen(',', ",north,", 1) + "\n")
        .collect();
    std::fs::write(
        dir.path().join("pidsls.csv"),
        format!("{}\n{widened}", text.lines().next().unwrap()),
    )
    .unwrap();
    let out = Bin::new(&db).run(&["import", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pidsls.csv:1: region: unknown column, ignored"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_row_on_line_5_is_reported_on_line_5_with_lf_and_crlf_line_ends() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        for (name, line_end) in [("LF", "\n"), ("CRLF", "\r\n")] {
            let dir = copy_snapshot(&scenario4());
            for file in ["organizations.csv", "pidsls.csv", "users.csv", "access.csv"] {
                let path = dir.path().join(file);
                let text = std::fs::read_to_string(&path)
                    .unwrap()
                    .replace("\r\n", "\n");
                std::fs::write(&path, text.replace('\n', line_end)).unwrap();
            }
            let users = std::fs::read_to_string(dir.path().join("users.csv")).unwrap();
            let fifth = users.split(line_end).nth(4).unwrap();
            let email = fifth.split(',').nth(4).unwrap();
            assert!(email.contains('@'), "column 5 of users.csv is the email");
            let bad = fifth.replacen(email, "no-at-sign", 1);
            edit(dir.path(), "users.csv", fifth, &bad);

            let out = bin.run(&["import", dir.path().to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(2), "[{}] {name}", db.backend);
            assert!(
                stderr(&out).contains("users.csv:5: email: \"no-at-sign\""),
                "[{}] {name}: {}",
                db.backend,
                stderr(&out)
            );
        }
    }
}

#[test]
fn blank_lines_between_rows_do_not_shift_the_reported_line() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    let dir = copy_snapshot(&scenario4());
    let path = dir.path().join("users.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    // Line 3 becomes blank (the user moves to line 4), and line 6 has the bad email.
    lines.insert(2, "");
    let email = lines[5].split(',').nth(4).unwrap();
    let bad = lines[5].replacen(email, "no-at-sign", 1);
    lines[5] = &bad;
    std::fs::write(&path, lines.join("\r\n") + "\r\n").unwrap();
    let out = bin.run(&["import", dir.path().to_str().unwrap()]);
    assert!(
        stderr(&out).contains("users.csv:6: email: \"no-at-sign\""),
        "{}",
        stderr(&out)
    );
}
