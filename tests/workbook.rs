//! The review workbook and summary.html: a run writes them beside findings.csv and access.csv,
//! they hold what those files hold (read back with calamine), data that looks like a formula
//! stays text, full sheets continue on the next, no output carries personal data, and the
//! summary page renders in a real browser.

mod common;

use calamine::{open_workbook, Data, DataType, Reader, Xlsx};
use chrono::NaiveDate;
use common::{copy_snapshot, read_csv, scenario4, stderr, xlsx_part, xlsx_text, Bin, TestDb};
use posc_review::domain::{
    Cadence, FindingStatus, OrgKind, PidSl, Role, RuleId, RunStatus, Services, UserStatus,
};
use posc_review::report::csv::FINDINGS_COLUMNS;
use posc_review::report::summary::Summary;
use posc_review::report::xlsx::{self, WorkbookInput};
use posc_review::rules::RULES;
use posc_review::snapshot::{Access, Org, Personal, PidSlRecord, Snapshot, User};
use posc_review::store::{FindingRow, RunCounts, RunRecord};
use std::path::{Path, PathBuf};
use std::process::Command;

const FORMULAS: [&str; 3] = ["=HYPERLINK(\"http://x\")", "+1", "@SUM(A1)"];

fn as_of() -> String {
    std::fs::read_to_string(scenario4().join("AS_OF"))
        .unwrap()
        .trim()
        .to_string()
}

/// Imports `snapshot_dir` into a fresh SQLite store and reviews it; returns the run folder.
fn review(snapshot_dir: &Path, out: &Path) -> PathBuf {
    review_with(snapshot_dir, out, &[])
}

/// [`review`] with these environment variables (configuration overrides).
fn review_with(snapshot_dir: &Path, out: &Path, env: &[(&str, &str)]) -> PathBuf {
    let db = TestDb::sqlite();
    let mut bin = Bin::new(&db);
    bin.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let imported = bin.run(&["import", snapshot_dir.to_str().unwrap()]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    let reviewed = bin.run(&[
        "review",
        "--as-of",
        &as_of(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        reviewed.status.code() == Some(0) || reviewed.status.code() == Some(3),
        "{}",
        stderr(&reviewed)
    );
    let runs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 1, "one run folder in {}", out.display());
    runs.into_iter().next().unwrap()
}

fn open(path: &Path) -> Xlsx<std::io::BufReader<std::fs::File>> {
    open_workbook(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(cell: &Data) -> String {
    cell.as_string().unwrap_or_default()
}

fn header(workbook: &mut Xlsx<std::io::BufReader<std::fs::File>>, sheet: &str) -> Vec<String> {
    let range = workbook.worksheet_range(sheet).unwrap();
    range.rows().next().unwrap().iter().map(text).collect()
}

fn workbook_path(run_dir: &Path) -> PathBuf {
    let id = run_dir.file_name().unwrap().to_str().unwrap();
    run_dir.join(format!("review-{id}.xlsx"))
}

#[test]
fn a_run_writes_the_workbook_and_summary_beside_the_csv_files() {
    let out = tempfile::tempdir().unwrap();
    let run_dir = review(&scenario4(), out.path());
    let path = workbook_path(&run_dir);
    assert!(path.is_file(), "{} missing", path.display());
    assert!(run_dir.join("summary.html").is_file());

    let mut workbook = open(&path);
    assert_eq!(
        workbook.sheet_names(),
        ["Summary", "Findings", "User Access", "Rules"]
    );

    let mut expected: Vec<String> = FINDINGS_COLUMNS.iter().map(|c| c.to_string()).collect();
    expected.extend(["Decision".to_string(), "Justification".to_string()]);
    assert_eq!(header(&mut workbook, "Findings"), expected);
    let findings = read_csv(&run_dir.join("findings.csv"));
    let sheet = workbook.worksheet_range("Findings").unwrap();
    assert_eq!(
        sheet.height(),
        findings.len() + 1,
        "rows against findings.csv"
    );
    for (row, record) in sheet.rows().skip(1).zip(&findings) {
        assert_eq!(text(&row[1]), record["rule"]);
        assert_eq!(text(&row[11]), record["fingerprint"]);
    }

    let access = read_csv(&run_dir.join("access.csv"));
    assert!(!access.is_empty());
    let sheet = workbook.worksheet_range("User Access").unwrap();
    assert_eq!(sheet.height(), access.len() + 1, "rows against access.csv");
    let header = header(&mut workbook, "User Access");
    assert_eq!(
        header[..10],
        [
            "org_id",
            "pidsl",
            "username",
            "user_name",
            "user_org_id",
            "linked",
            "role",
            "last_login_at",
            "status",
            "terminated_on"
        ]
    );
    assert_eq!(header.len(), 10 + 14, "one column per service");
    for (row, record) in sheet.rows().skip(1).zip(&access) {
        assert_eq!(text(&row[1]), record["pidsl"]);
        assert_eq!(text(&row[2]), record["username"]);
        assert_eq!(text(&row[6]), record["role"]);
        let marked: Vec<&str> = header[10..]
            .iter()
            .zip(&row[10..])
            .filter(|(_, cell)| text(cell) == xlsx::SERVICE_MARK)
            .map(|(code, _)| code.as_str())
            .collect();
        assert_eq!(marked.join(";"), record["services"]);
    }

    let rules = workbook.worksheet_range("Rules").unwrap();
    assert_eq!(rules.height(), RULES.len() + 1);

    let summary = workbook.worksheet_range("Summary").unwrap();
    let cells: Vec<String> = summary.cells().map(|(_, _, c)| text(c)).collect();
    let id = run_dir.file_name().unwrap().to_str().unwrap();
    assert!(cells.contains(&id.to_string()));
    for rule in &RULES {
        assert!(cells.contains(&rule.id.to_string()), "{} missing", rule.id);
    }
    let html = std::fs::read_to_string(run_dir.join("summary.html")).unwrap();
    assert!(html.contains(&format!("id=\"count-total\">{}<", findings.len())));
}

#[test]
fn the_whole_run_workbook_can_leave_user_access_to_access_csv() {
    let out = tempfile::tempdir().unwrap();
    let run_dir = review_with(
        &scenario4(),
        out.path(),
        &[("POSC_REVIEW__REVIEW__WORKBOOK_USER_ACCESS", "false")],
    );
    let mut workbook = open(&workbook_path(&run_dir));
    assert_eq!(workbook.sheet_names(), ["Summary", "Findings", "Rules"]);
    let access = read_csv(&run_dir.join("access.csv"));
    assert!(!access.is_empty());
    let summary = workbook.worksheet_range("Summary").unwrap();
    assert_eq!(text(&summary[(7, 0)]), "User Access");
    assert_eq!(
        text(&summary[(7, 1)]),
        format!(
            "not in this workbook: access.csv has its {} rows",
            access.len()
        )
    );
    // Each organization's workbook keeps its own access rows.
    let org_workbook = std::fs::read_dir(run_dir.join("organizations"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(open(&org_workbook)
        .sheet_names()
        .contains(&"User Access".to_string()));
}

#[test]
fn formula_looking_names_are_stored_as_text() {
    let snapshot = copy_snapshot(&scenario4());
    let users = snapshot.path().join("users.csv");
    let mut reader = csv::Reader::from_path(&users).unwrap();
    let headers = reader.headers().unwrap().clone();
    let mut records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let first_name = headers.iter().position(|h| h == "first_name").unwrap();
    for (record, formula) in records.iter_mut().zip(FORMULAS) {
        let mut cells: Vec<String> = record.iter().map(str::to_string).collect();
        cells[first_name] = formula.to_string();
        *record = csv::StringRecord::from(cells);
    }
    let mut writer = csv::Writer::from_path(&users).unwrap();
    writer.write_record(&headers).unwrap();
    for record in &records {
        writer.write_record(record).unwrap();
    }
    writer.flush().unwrap();

    let out = tempfile::tempdir().unwrap();
    let run_dir = review(snapshot.path(), out.path());
    let path = workbook_path(&run_dir);
    let mut workbook = open(&path);
    let sheet = workbook.worksheet_range("User Access").unwrap();
    let names: Vec<String> = sheet.rows().skip(1).map(|r| text(&r[3])).collect();
    for formula in FORMULAS {
        assert!(
            names.iter().any(|n| n.starts_with(formula)),
            "{formula} not stored as text: {names:?}"
        );
    }
    for name in workbook.sheet_names() {
        let formulas = workbook.worksheet_formula(&name).unwrap();
        assert!(
            formulas.cells().all(|(_, _, f)| f.is_empty()),
            "a formula on {name}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The workbook writer on data built by hand (the rules' output does not matter here).
// ---------------------------------------------------------------------------------------

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn org(org_id: &str) -> Org {
    Org {
        org_id: org_id.into(),
        name: format!("{org_id} Health"),
        kind: OrgKind::Provider,
        cadence: Cadence::Quarterly,
        management_emails: vec![format!("boss@{}.example", org_id.to_lowercase())],
        last_review_on: None,
    }
}

fn user(username: &str, first_name: &str, org: u32) -> User {
    User {
        username: username.into(),
        first_name: first_name.into(),
        last_name: "Doe".into(),
        middle_initial: String::new(),
        phone: String::new(),
        email: format!("{username}@example.org"),
        org,
        job_role: None,
        status: UserStatus::Active,
        created_on: Some(date(2020, 1, 1)),
        last_login_at: Some("2026-09-01".into()),
        last_login_on: Some(date(2026, 9, 1)),
        terms_accepted_on: None,
        terminated_on: None,
        dob_mmdd: Some(Personal::new("04/27".into())),
        ssn_last4: Some(Personal::new("8642".into())),
    }
}

/// Two organizations, a PID/SL each, five users; ORG-B's user `linked` has access on ORG-A's
/// PID/SL.
fn snapshot() -> Snapshot {
    let pidsl = |text: &str, org: u32| PidSlRecord {
        pidsl: PidSl::parse(text).unwrap(),
        org,
        name: format!("Site {text}"),
        provider_type: String::new(),
        active: true,
    };
    let access = |user: u32, pidsl: u32, role: Role| Access {
        user,
        pidsl,
        role,
        services: Services::parse_list("PORTAL;CLAIMS").unwrap(),
        granted_on: None,
        expires_on: None,
    };
    let mut snapshot = Snapshot {
        orgs: vec![org("ORG-A"), org("ORG-B")],
        pidsls: vec![pidsl("110000001A", 0), pidsl("220000002B", 1)],
        users: vec![
            user("ann", FORMULAS[0], 0),
            user("bob", FORMULAS[1], 0),
            user("cid", FORMULAS[2], 0),
            user("linked", "Lin", 1),
            user("bea", "Bea", 1),
        ],
        access: vec![
            access(0, 0, Role::Primary),
            access(1, 0, Role::Backup),
            access(2, 0, Role::Subordinate),
            access(3, 0, Role::Subordinate),
            access(4, 1, Role::Primary),
        ],
        last_run_on: vec![None, None],
        ..Snapshot::default()
    };
    snapshot.sort_access();
    snapshot
}

fn run() -> RunRecord {
    RunRecord {
        id: "20261001-001".into(),
        as_of: date(2026, 10, 1),
        cadence: None,
        org_ids: vec![],
        scope_key: "all".into(),
        started_at: "2026-10-01T10:00:00Z".parse().unwrap(),
        finished_at: None,
        status: RunStatus::Completed,
        error: None,
        out_dir: None,
        owner: None,
        counts: RunCounts {
            resolved: 2,
            ..RunCounts::default()
        },
    }
}

fn finding(rule: RuleId, org_id: &str, pidsl: &str, username: &str, detail: &str) -> FindingRow {
    FindingRow {
        run_id: "20261001-001".into(),
        fingerprint: format!("fp-{rule}-{username}"),
        rule,
        severity: rule.severity(),
        status: FindingStatus::New,
        org_id: org_id.into(),
        pidsl: pidsl.into(),
        username: username.into(),
        user_name: format!("{username} name"),
        detail: detail.into(),
        first_seen: date(2026, 7, 4),
        decision: None,
    }
}

fn findings() -> Vec<FindingRow> {
    vec![
        finding(
            RuleId::MissingPrimary,
            "ORG-A",
            "110000001A",
            "",
            FORMULAS[0],
        ),
        finding(
            RuleId::TerminatedUserAccess,
            "ORG-A",
            "110000001A",
            "ann",
            FORMULAS[1],
        ),
        finding(
            RuleId::MissingBackup,
            "ORG-B",
            "220000002B",
            "",
            FORMULAS[2],
        ),
        finding(RuleId::StaleUser, "ORG-A", "", "bob", "-2 days"),
        finding(
            RuleId::MissingPortalServices,
            "ORG-A",
            "110000001A",
            "cid",
            "lacks PORTAL",
        ),
    ]
}

fn write(dir: &Path, rows_per_sheet: u32) -> PathBuf {
    let (run, findings, snapshot) = (run(), findings(), snapshot());
    let summary = Summary::new(&run, &findings, &snapshot);
    let path = dir.join(xlsx::workbook_file_name(&run.id));
    let input = WorkbookInput::new(&summary, &findings, &snapshot, chrono_tz::America::New_York)
        .with_rows_per_sheet(rows_per_sheet);
    xlsx::write_workbook(&path, &input).unwrap();
    path
}

#[test]
fn data_cells_that_look_like_formulas_stay_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), xlsx::EXCEL_MAX_ROWS);
    let mut workbook = open(&path);
    let findings = workbook.worksheet_range("Findings").unwrap();
    let details: Vec<String> = findings.rows().skip(1).map(|r| text(&r[8])).collect();
    assert_eq!(details[..3], FORMULAS);
    assert_eq!(details[3], "-2 days");
    let access = workbook.worksheet_range("User Access").unwrap();
    let names: Vec<String> = access.rows().skip(1).map(|r| text(&r[3])).collect();
    for formula in FORMULAS {
        assert!(names.contains(&format!("{formula} Doe")), "{names:?}");
    }
    for name in workbook.sheet_names() {
        let formulas = workbook.worksheet_formula(&name).unwrap();
        assert!(formulas.cells().all(|(_, _, f)| f.is_empty()), "{name}");
    }
}

/// The indices of styles.xml's cell formats (`cellXfs`) that carry Excel's quote prefix.
fn quote_prefixed_styles(styles: &str) -> Vec<usize> {
    let xfs = styles.split("<cellXfs").nth(1).unwrap();
    let xfs = xfs.split("</cellXfs>").next().unwrap();
    xfs.split("<xf ")
        .skip(1)
        .enumerate()
        .filter(|(_, xf)| xf.split('>').next().unwrap().contains("quotePrefix=\"1\""))
        .map(|(i, _)| i)
        .collect()
}

/// The cell format index of the cell at `reference` (e.g. `I2`) in a sheet's xml; 0 without one.
fn cell_style(sheet: &str, reference: &str) -> usize {
    let start = sheet
        .find(&format!("<c r=\"{reference}\""))
        .unwrap_or_else(|| panic!("no cell {reference}"));
    let tag = &sheet[start..start + sheet[start..].find('>').unwrap()];
    tag.split(" s=\"")
        .nth(1)
        .map_or(0, |s| s.split('"').next().unwrap().parse().unwrap())
}

#[test]
fn text_that_starts_like_a_formula_keeps_excel_s_quote_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), xlsx::EXCEL_MAX_ROWS);
    let quoted = quote_prefixed_styles(&xlsx_part(&path, "xl/styles.xml"));
    assert!(!quoted.is_empty(), "a quote-prefix format in styles.xml");
    // Findings (sheet2): the detail column I holds the three formulas, "-2 days", "lacks PORTAL".
    let findings = xlsx_part(&path, "xl/worksheets/sheet2.xml");
    for reference in ["I2", "I3", "I4", "I5"] {
        let style = cell_style(&findings, reference);
        assert!(
            quoted.contains(&style),
            "{reference}: style {style} of {quoted:?}"
        );
    }
    assert!(
        !quoted.contains(&cell_style(&findings, "I6")),
        "plain text stays plain"
    );
    // User Access (sheet3): user_name in column D.
    let mut workbook = open(&path);
    let access = workbook.worksheet_range("User Access").unwrap();
    let sheet = xlsx_part(&path, "xl/worksheets/sheet3.xml");
    for (i, row) in access.rows().enumerate().skip(1) {
        let name = text(&row[3]);
        let style = cell_style(&sheet, &format!("D{}", i + 1));
        let formula = FORMULAS.iter().any(|f| name.starts_with(f));
        assert_eq!(quoted.contains(&style), formula, "{name}: style {style}");
    }
}

#[test]
fn first_seen_is_a_real_date_and_severity_is_coloured() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), xlsx::EXCEL_MAX_ROWS);
    let mut workbook = open(&path);
    let findings = workbook.worksheet_range("Findings").unwrap();
    let cell = &findings.rows().nth(1).unwrap()[10];
    let serial = cell.get_datetime().expect("first_seen is a date").as_f64();
    let expected = (date(2026, 7, 4) - date(1899, 12, 30)).num_days() as f64;
    assert_eq!(serial, expected);

    let styles = xlsx_part(&path, "xl/styles.xml");
    assert!(styles.contains("FFC00000"), "the critical fill");
}

#[test]
fn findings_have_a_decision_drop_down_a_filter_and_a_frozen_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), xlsx::EXCEL_MAX_ROWS);
    // calamine does not read data validation: look at the sheet's xml.
    let sheet = xlsx_part(&path, "xl/worksheets/sheet2.xml");
    assert!(sheet.contains("<dataValidation type=\"list\""), "{sheet}");
    assert!(
        sheet.contains("&quot;Keep,Remove access,Change services,Accept risk&quot;")
            || sheet.contains("\"Keep,Remove access,Change services,Accept risk\"")
    );
    assert!(
        sheet.contains("sqref=\"M2:M6\""),
        "drop-down on Decision, every finding"
    );
    assert!(sheet.contains("<autoFilter ref=\"A1:N6\""));
    assert!(sheet.contains("state=\"frozen\""));
    let chart = xlsx_part(&path, "xl/charts/chart1.xml");
    assert!(
        chart.contains("Summary!$B$"),
        "the chart reads the Summary cells"
    );
}

#[test]
fn full_sheets_continue_on_the_next() {
    let dir = tempfile::tempdir().unwrap();
    // 3 rows a sheet: a header and two records.
    let path = write(dir.path(), 3);
    let mut workbook = open(&path);
    assert_eq!(
        workbook.sheet_names(),
        [
            "Summary",
            "Findings",
            "Findings (2)",
            "Findings (3)",
            "User Access",
            "User Access (2)",
            "User Access (3)",
            "Rules"
        ]
    );
    let mut findings = Vec::new();
    for name in ["Findings", "Findings (2)", "Findings (3)"] {
        let sheet = workbook.worksheet_range(name).unwrap();
        let mut rows = sheet.rows();
        assert_eq!(
            text(&rows.next().unwrap()[0]),
            "run_id",
            "{name} has a header"
        );
        findings.extend(rows.map(|r| text(&r[11])));
    }
    let expected: Vec<String> = self::findings()
        .into_iter()
        .map(|f| f.fingerprint)
        .collect();
    assert_eq!(findings, expected, "every finding once, in order");
    let mut access = 0;
    for name in ["User Access", "User Access (2)", "User Access (3)"] {
        access += workbook.worksheet_range(name).unwrap().height() - 1;
    }
    assert_eq!(access, snapshot().access.len());
}

/// Appends `lines` to the CSV file `name` of a snapshot copy.
fn append(snapshot: &Path, name: &str, lines: &str) {
    let path = snapshot.join(name);
    let mut text = std::fs::read_to_string(&path).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(lines);
    std::fs::write(path, text).unwrap();
}

#[test]
fn organization_ids_that_clean_to_one_file_name_get_a_workbook_and_message_each() {
    let snapshot = copy_snapshot(&scenario4());
    append(
        snapshot.path(),
        "organizations.csv",
        "ORG/X,Slash Clinic,provider,quarterly,boss@slash.example,\n\
         ORG_X,Underscore Clinic,provider,quarterly,boss@underscore.example,\n",
    );
    append(
        snapshot.path(),
        "pidsls.csv",
        "990000001A,ORG/X,Slash Site,group_practice,true\n\
         990000002A,ORG_X,Underscore Site,group_practice,true\n",
    );
    // A subordinate each, so that each PID/SL misses its Primary User.
    append(
        snapshot.path(),
        "users.csv",
        "slash1,Sam,Slash,,sam@slash.example,,ORG/X,,active,2026-01-05,2026-09-20,2026-01-05,,,\n\
         under1,Uma,Under,,uma@underscore.example,,ORG_X,,active,2026-01-05,2026-09-20,2026-01-05,,,\n",
    );
    append(
        snapshot.path(),
        "access.csv",
        "slash1,990000001A,subordinate,PORTAL,,\n\
         under1,990000002A,subordinate,PORTAL,,\n",
    );
    let out = tempfile::tempdir().unwrap();
    let run_dir = review(snapshot.path(), out.path());
    let run_id = run_dir.file_name().unwrap().to_str().unwrap().to_string();
    let orgs = run_dir.join("organizations");
    let plain = orgs.join(format!("review-{run_id}-ORG_X.xlsx"));
    let hashed: Vec<PathBuf> = files_under(&orgs)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.starts_with(&format!("review-{run_id}-ORG_X+"))
        })
        .collect();
    assert!(plain.is_file(), "ORG_X keeps its plain name");
    assert_eq!(
        hashed.len(),
        1,
        "ORG/X has a workbook of its own: {hashed:?}"
    );
    for (path, org_id, pidsl, other) in [
        (&plain, "ORG_X", "990000002A", "990000001A"),
        (&hashed[0], "ORG/X", "990000001A", "990000002A"),
    ] {
        let mut workbook = open(path);
        let findings = workbook.worksheet_range("Findings").unwrap();
        let rows: Vec<Vec<String>> = findings
            .rows()
            .skip(1)
            .map(|r| r.iter().map(text).collect())
            .collect();
        assert!(!rows.is_empty(), "{org_id} has findings");
        assert!(rows.iter().all(|r| r[4] == org_id), "{org_id}: {rows:?}");
        assert!(rows.iter().any(|r| r[5] == pidsl), "{rows:?}");
        assert!(rows.iter().all(|r| r[5] != other));
    }
    // Each management report goes to its own organization, with its own workbook attached.
    let mail: Vec<String> = files_under(&run_dir.join("mail"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("management-ORG_X")
        })
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(mail.len(), 2, "a message file each");
    for (to, workbook) in [
        ("boss@underscore.example", &plain),
        ("boss@slash.example", &hashed[0]),
    ] {
        let name = workbook.file_name().unwrap().to_str().unwrap();
        let message = mail
            .iter()
            .find(|m| m.contains(to))
            .unwrap_or_else(|| panic!("no message to {to}"));
        assert!(message.contains(name), "{to} gets {name}");
    }
}

#[test]
fn an_organization_workbook_holds_only_its_findings_and_access_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (run, findings, snapshot) = (run(), findings(), snapshot());
    let org_b = snapshot
        .orgs
        .iter()
        .position(|o| o.org_id == "ORG-B")
        .unwrap();
    let own: Vec<_> = findings
        .iter()
        .filter(|f| f.org_id == "ORG-B")
        .cloned()
        .collect();
    let access = posc_review::report::access_rows_by_org(&snapshot);
    let (path, bytes) = xlsx::write_org_workbook(
        dir.path(),
        &run,
        &own,
        &snapshot,
        org_b as u32,
        &access[org_b],
        0,
        chrono_tz::America::New_York,
    )
    .unwrap();
    assert_eq!(path.file_name().unwrap(), "review-20261001-001-ORG-B.xlsx");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let mut workbook = open(&path);
    let sheet = workbook.worksheet_range("Findings").unwrap();
    let orgs: Vec<String> = sheet.rows().skip(1).map(|r| text(&r[4])).collect();
    assert_eq!(orgs, ["ORG-B"]);
    let sheet = workbook.worksheet_range("User Access").unwrap();
    let rows: Vec<(String, String)> = sheet
        .rows()
        .skip(1)
        .map(|r| (text(&r[1]), text(&r[2])))
        .collect();
    // Its own PID/SL, and its user linked to ORG-A's PID/SL; nothing else of ORG-A.
    assert_eq!(
        rows,
        [
            ("110000001A".to_string(), "linked".to_string()),
            ("220000002B".to_string(), "bea".to_string())
        ]
    );
    let summary = workbook.worksheet_range("Summary").unwrap();
    let cells: Vec<String> = summary.cells().map(|(_, _, c)| text(c)).collect();
    assert!(cells.contains(&"organization ORG-B (ORG-B Health)".to_string()));
    assert!(!cells.iter().any(|c| c.contains("ORG-A")), "{cells:?}");
}

// ---------------------------------------------------------------------------------------
// Personal data.
// ---------------------------------------------------------------------------------------

/// Whether `value` occurs in `text` with no digit right before or after it.
fn occurs(text: &str, value: &str) -> bool {
    text.match_indices(value).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + value.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// The text of a markup document, tags removed.
fn strip_tags(markup: &str) -> String {
    let mut out = String::with_capacity(markup.len());
    let mut in_tag = false;
    for c in markup.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn no_output_of_a_run_contains_dob_or_ssn_values() {
    let personal: Vec<String> = read_csv(&scenario4().join("users.csv"))
        .into_iter()
        .flat_map(|u| [u["dob_mmdd"].clone(), u["ssn_last4"].clone()])
        .filter(|v| !v.is_empty())
        .collect();
    assert!(personal.len() > 20);
    // The management report lists each Primary User's and backup's work phone, contact data
    // the POSC account holds; gpatel's 617-555-0101 ends in ppark's day of birth, 0101.
    let phones: Vec<String> = read_csv(&scenario4().join("users.csv"))
        .into_iter()
        .map(|u| u["phone"].clone())
        .filter(|v| !v.is_empty())
        .collect();
    let out = tempfile::tempdir().unwrap();
    let run_dir = review(&scenario4(), out.path());

    let mut checked = 0;
    for file in files_under(&run_dir) {
        let name = file.display().to_string();
        let texts: Vec<(String, String)> = if name.ends_with(".xlsx") {
            let xml = xlsx_text(&file);
            // The run's workbook and Riverbend's own list gpatel: the cells are in the text.
            if !name.contains("-ORG-") || name.contains("-ORG-GP") {
                assert!(
                    xml.contains(">gpatel<"),
                    "the workbook's cells are in the text of {name}"
                );
            }
            vec![(name.clone(), strip_tags(&xml))]
        } else if name.ends_with(".eml") {
            // The decoded subject and both parts (the raw message is base64 and quoted-printable,
            // and its Message-ID is hex that may hold any four digits).
            let bytes = std::fs::read(&file).unwrap();
            let message = mail_parser::MessageParser::default().parse(&bytes).unwrap();
            let decoded = format!(
                "{}\n{}\n{}",
                message.subject().unwrap_or_default(),
                message.body_text(0).unwrap_or_default(),
                strip_tags(&message.body_html(0).unwrap_or_default())
            );
            let decoded = phones.iter().fold(decoded, |text, phone| {
                text.replace(phone.as_str(), "(phone)")
            });
            vec![(name.clone(), decoded)]
        } else {
            let bytes = std::fs::read(&file).unwrap();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let text = if name.ends_with(".html") {
                strip_tags(&text)
            } else {
                text
            };
            vec![(name.clone(), text)]
        };
        for (part, text) in texts {
            for value in &personal {
                assert!(!occurs(&text, value), "{value} in {part}");
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "findings.csv, access.csv, the workbook, summary.html"
    );
}

#[test]
fn the_workbook_writer_never_reads_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), xlsx::EXCEL_MAX_ROWS);
    let mut workbook = open(&path);
    for sheet in workbook.sheet_names() {
        for (_, _, c) in workbook.worksheet_range(&sheet).unwrap().cells() {
            let t = text(c);
            assert!(
                !t.contains("04/27") && !t.contains("8642"),
                "{t} on {sheet}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// summary.html in a browser.
// ---------------------------------------------------------------------------------------

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Runs `command`, killing it after `seconds`.
fn output_within(mut command: Command, seconds: u64) -> std::process::Output {
    use std::process::Stdio;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut text).unwrap();
        text
    });
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed().as_secs() > seconds {
            child.kill().unwrap();
            panic!("chromium did not finish within {seconds} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut output = child.wait_with_output().unwrap();
    output.stdout = reader.join().unwrap();
    output
}

#[test]
fn summary_html_loads_in_headless_chromium_and_shows_the_counts() {
    let Some(browser) = chromium() else {
        common::skipped("chromium is not installed (apt-get install -y chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (run, findings, snapshot) = (run(), findings(), snapshot());
    let summary = Summary::new(&run, &findings, &snapshot);
    let templates = posc_review::templates::Templates::load("").unwrap();
    let page = dir.path().join("summary.html");
    posc_review::report::html::write_summary(&page, &templates, &summary, &[]).unwrap();

    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(browser);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()));
    let output = output_within(command, 120);
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && dom.contains("</html>"),
        "chromium failed: {}\n{dom}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dom.contains("<title>Access review 20261001-001</title>"));
    for (id, count) in [
        ("count-total", 5),
        ("count-critical", 2),
        ("count-high", 1),
        ("count-medium", 1),
        ("count-low", 1),
        ("count-new", 5),
        ("count-open", 0),
        ("count-accepted", 0),
        ("count-resolved", 2),
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\">{count}<")),
            "{id} = {count} not shown:\n{dom}"
        );
    }
    // Escaped data arrives as text, not markup.
    assert!(
        dom.contains("=HYPERLINK(\"http://x\")")
            || dom.contains("=HYPERLINK(&quot;http://x&quot;)")
    );
}

#[test]
fn a_broken_template_stops_the_review_before_the_run_starts() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("summary.html.j2"), "{% if %}").unwrap();
    let config = dir.path().join("config.toml");
    let mut text = std::fs::read_to_string(scenario4().join("config.toml")).unwrap();
    text.push_str(&format!(
        "\n[mail]\ntemplate_dir = {:?}\n",
        templates.display().to_string()
    ));
    std::fs::write(&config, text).unwrap();

    let db = TestDb::sqlite();
    let mut bin = Bin::new(&db);
    bin.config = Some(config);
    let imported = bin.run(&["import", scenario4().to_str().unwrap()]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    let out = dir.path().join("out");
    let reviewed = bin.run(&[
        "review",
        "--as-of",
        &as_of(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(reviewed.status.code(), Some(2), "{}", stderr(&reviewed));
    assert!(
        stderr(&reviewed).contains("summary.html.j2"),
        "{}",
        stderr(&reviewed)
    );
    let runs = bin.run(&["runs", "--format", "json"]);
    assert_eq!(common::stdout(&runs).trim(), "[]", "no run was recorded");
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
}
