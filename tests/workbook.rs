//! The review workbook and summary.html: a run writes them beside findings.csv and access.csv,
//! they hold what those files hold (read back with calamine), data that looks like a formula
//! stays text, full sheets continue on the next, no output carries personal data, and the
//! summary page renders in a real browser.

mod common;

use calamine::{open_workbook, Data, DataType, Reader, Xlsx};
use chrono::NaiveDate;
use common::{copy_snapshot, read_csv, scenario4, stderr, xlsx_part, xlsx_text, Bin, TestDb};
use posc_review::domain::{
    Cadence, Decision, FindingStatus, OrgKind, PidSl, Role, RuleId, RunStatus, Services, Severity,
    UserStatus,
};
use posc_review::report::csv::FINDINGS_COLUMNS;
use posc_review::report::summary::{Summary, SummaryOptions};
use posc_review::report::xlsx::{self, WorkbookInput};
use posc_review::rules::RULES;
use posc_review::snapshot::{Access, Org, Personal, PidSlRecord, Snapshot, User};
use posc_review::store::{FindingRow, RunCounts, RunRecord, TrendPoint};
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

/// The index of a Findings column, by its header.
fn col(name: &str) -> usize {
    xlsx::FINDINGS_SHEET_COLUMNS
        .iter()
        .position(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no Findings column {name}"))
}

/// The xml part of the sheet called `name` (`xl/worksheets/sheetN.xml`, N its place).
fn sheet_part(path: &Path, name: &str) -> String {
    let names = open(path).sheet_names();
    let n = names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no sheet {name} in {names:?}"));
    xlsx_part(path, &format!("xl/worksheets/sheet{}.xml", n + 1))
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
        [
            "Summary",
            "How to decide",
            "Findings",
            "User Access",
            "Rules"
        ]
    );

    // findings.csv's columns, and the reviewer's two, whose access first.
    let findings_header = header(&mut workbook, "Findings");
    let mut expected: Vec<String> = FINDINGS_COLUMNS.iter().map(|c| c.to_string()).collect();
    expected.extend(["Decision".to_string(), "Justification".to_string()]);
    let mut sorted = findings_header.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected);
    assert_eq!(
        findings_header[..7],
        [
            "severity",
            "rule",
            "pidsl",
            "username",
            "user_name",
            "Decision",
            "Justification"
        ]
    );
    let findings = read_csv(&run_dir.join("findings.csv"));
    let sheet = workbook.worksheet_range("Findings").unwrap();
    assert_eq!(
        sheet.height(),
        findings.len() + 1,
        "rows against findings.csv"
    );
    for (row, record) in sheet.rows().skip(1).zip(&findings) {
        for name in FINDINGS_COLUMNS {
            let cell = &row[col(name)];
            let value = match cell.get_datetime() {
                Some(serial) => {
                    (date(1899, 12, 30) + chrono::Days::new(serial.as_f64() as u64)).to_string()
                }
                None => text(cell),
            };
            assert_eq!(value, record[name], "{name}");
        }
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
    assert_eq!(
        workbook.sheet_names(),
        ["Summary", "How to decide", "Findings", "Rules"]
    );
    let access = read_csv(&run_dir.join("access.csv"));
    assert!(!access.is_empty());
    let reason = format!(
        "User Access left out of this workbook by review.workbook_user_access = false; \
         access.csv has every row ({} access rows)",
        access.len()
    );
    let summary = workbook.worksheet_range("Summary").unwrap();
    assert_eq!(text(&summary[(7, 0)]), "User Access");
    assert_eq!(text(&summary[(7, 1)]), reason);
    let html = std::fs::read_to_string(run_dir.join("summary.html")).unwrap();
    assert!(
        html.contains(&format!(
            "<p class=\"note\" id=\"user-access\">{reason}.</p>"
        )),
        "{html}"
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
fn auto_keeps_user_access_when_the_run_s_rows_fit_one_sheet() {
    let out = tempfile::tempdir().unwrap();
    let run_dir = review_with(
        &scenario4(),
        out.path(),
        &[("POSC_REVIEW__REVIEW__WORKBOOK_USER_ACCESS", "auto")],
    );
    let mut workbook = open(&workbook_path(&run_dir));
    let sheet = workbook.worksheet_range("User Access").unwrap();
    let access = read_csv(&run_dir.join("access.csv"));
    assert_eq!(sheet.height(), access.len() + 1);
    let summary = workbook.worksheet_range("Summary").unwrap();
    assert!(summary.cells().all(|(_, _, c)| text(c) != "User Access"));
    let html = std::fs::read_to_string(run_dir.join("summary.html")).unwrap();
    assert!(!html.contains("id=\"user-access\""));
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
        remediation: rule.rule().remediation.into(),
        first_seen: date(2026, 7, 4),
        facts: String::new(),
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
    let findings: Vec<&FindingRow> = findings.iter().collect();
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
    let details: Vec<String> = findings
        .rows()
        .skip(1)
        .map(|r| text(&r[col("detail")]))
        .collect();
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
    // Findings: the detail column H holds the three formulas, "-2 days", "lacks PORTAL".
    assert_eq!(col("detail"), 7);
    let findings = sheet_part(&path, "Findings");
    for reference in ["H2", "H3", "H4", "H5"] {
        let style = cell_style(&findings, reference);
        assert!(
            quoted.contains(&style),
            "{reference}: style {style} of {quoted:?}"
        );
    }
    assert!(
        !quoted.contains(&cell_style(&findings, "H6")),
        "plain text stays plain"
    );
    // User Access: user_name in column D.
    let mut workbook = open(&path);
    let access = workbook.worksheet_range("User Access").unwrap();
    let sheet = sheet_part(&path, "User Access");
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
    let cell = &findings.rows().nth(1).unwrap()[col("first_seen")];
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
    let sheet = sheet_part(&path, "Findings");
    assert!(sheet.contains("<dataValidation type=\"list\""), "{sheet}");
    assert!(
        sheet.contains("&quot;Fix in POSC,Accept risk,Not a problem&quot;")
            || sheet.contains("\"Fix in POSC,Accept risk,Not a problem\"")
    );
    assert_eq!(col("Decision"), 5);
    assert!(
        sheet.contains("sqref=\"F2:F6\""),
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
            "How to decide",
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
            text(&rows.next().unwrap()[col("fingerprint")]),
            "fingerprint",
            "{name} has a header"
        );
        findings.extend(rows.map(|r| text(&r[col("fingerprint")])));
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
        let (org, pidsls) = (col("org_id"), col("pidsl"));
        assert!(rows.iter().all(|r| r[org] == org_id), "{org_id}: {rows:?}");
        assert!(rows.iter().any(|r| r[pidsls] == pidsl), "{rows:?}");
        assert!(rows.iter().all(|r| r[pidsls] != other));
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
        &own.iter().collect::<Vec<_>>(),
        &snapshot,
        org_b as u32,
        &access[org_b],
        &Summary::build(
            &run,
            &own,
            &snapshot,
            &SummaryOptions::for_org(&snapshot, "ORG-B", 0),
        ),
        chrono_tz::America::New_York,
    )
    .unwrap();
    assert_eq!(path.file_name().unwrap(), "review-20261001-001-ORG-B.xlsx");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let mut workbook = open(&path);
    let sheet = workbook.worksheet_range("Findings").unwrap();
    let orgs: Vec<String> = sheet
        .rows()
        .skip(1)
        .map(|r| text(&r[col("org_id")]))
        .collect();
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
// Laid out for deciding: what a reviewer sees on screen and on paper.
// ---------------------------------------------------------------------------------------

/// Writes the whole-run workbook of the hand-made data with this summary.
fn write_with_summary(dir: &Path, summary: &Summary) -> PathBuf {
    let (findings, snapshot) = (findings(), snapshot());
    let path = dir.join(xlsx::workbook_file_name(&summary.run_id));
    let findings: Vec<&FindingRow> = findings.iter().collect();
    let input = WorkbookInput::new(summary, &findings, &snapshot, chrono_tz::America::New_York);
    xlsx::write_workbook(&path, &input).unwrap();
    path
}

/// Writes the organization workbook of `org_id` (the hand-made data); returns its path.
fn write_org(dir: &Path, snapshot: &Snapshot, org_id: &str) -> PathBuf {
    let org = snapshot.org_index(org_id).unwrap();
    let own: Vec<FindingRow> = findings()
        .into_iter()
        .filter(|f| f.org_id == org_id)
        .collect();
    let access = posc_review::report::access_rows_by_org(snapshot);
    let (path, _) = xlsx::write_org_workbook(
        dir,
        &run(),
        &own.iter().collect::<Vec<_>>(),
        snapshot,
        org,
        &access[org as usize],
        &Summary::build(
            &run(),
            &own,
            snapshot,
            &SummaryOptions::for_org(snapshot, org_id, 0),
        ),
        chrono_tz::America::New_York,
    )
    .unwrap();
    path
}

/// The value of attribute `name` in the first tag of `xml` (`r="3" ht="45">`, what follows
/// `<row ` once split on it).
fn attr<'x>(xml: &'x str, name: &str) -> Option<&'x str> {
    let tag = &xml[..xml.find('>').unwrap_or(xml.len())];
    let pattern = format!("{name}=\"");
    let start = tag
        .match_indices(&pattern)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || tag[..i].ends_with(char::is_whitespace))?
        + pattern.len();
    Some(&tag[start..start + tag[start..].find('"')?])
}

/// A cell reference's (row, column), both from 0: `D40` is (39, 3).
fn position(reference: &str) -> (u32, u32) {
    let letters: String = reference
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let col = letters
        .bytes()
        .fold(0u32, |n, b| n * 26 + u32::from(b - b'A' + 1))
        - 1;
    let row: u32 = reference[letters.len()..].parse().unwrap();
    (row - 1, col)
}

/// How a sheet is laid out, as its xml says: column widths, row heights, merged ranges, and
/// which cells wrap their text.
struct Layout {
    /// (first column, last column, width), from 0.
    widths: Vec<(u32, u32, f64)>,
    heights: std::collections::HashMap<u32, f64>,
    /// (row, first column, last column) of each merged range (one row each here).
    merged: Vec<(u32, u32, u32)>,
    wrapped: std::collections::HashSet<(u32, u32)>,
}

impl Layout {
    fn of(path: &Path, sheet: &str) -> Layout {
        let xml = sheet_part(path, sheet);
        let styles = xlsx_part(path, "xl/styles.xml");
        let xfs = styles.split("<cellXfs").nth(1).unwrap();
        let xfs = xfs.split("</cellXfs>").next().unwrap();
        let wraps: Vec<bool> = xfs
            .split("<xf ")
            .skip(1)
            .map(|xf| xf.contains("wrapText=\"1\""))
            .collect();
        let widths = xml
            .split("<col ")
            .skip(1)
            .map(|c| {
                let n = |name| attr(c, name).unwrap().parse::<u32>().unwrap() - 1;
                (
                    n("min"),
                    n("max"),
                    attr(c, "width").unwrap().parse().unwrap(),
                )
            })
            .collect();
        let heights = xml
            .split("<row ")
            .skip(1)
            .filter_map(|r| {
                let row: u32 = attr(r, "r")?.parse().ok()?;
                Some((row - 1, attr(r, "ht")?.parse().ok()?))
            })
            .collect();
        let merged = xml
            .split("<mergeCell ")
            .skip(1)
            .map(|m| {
                let range = attr(m, "ref").unwrap();
                let (first, last) = range.split_once(':').unwrap();
                let ((row, from), (_, to)) = (position(first), position(last));
                (row, from, to)
            })
            .collect();
        let wrapped = xml
            .split("<c ")
            .skip(1)
            .filter(|c| attr(c, "s").is_some_and(|s| wraps[s.parse::<usize>().unwrap()]))
            .map(|c| position(attr(c, "r").unwrap()))
            .collect();
        Layout {
            widths,
            heights,
            merged,
            wrapped,
        }
    }

    /// A column's width: as set, else the default 8.43.
    fn width(&self, col: u32) -> f64 {
        self.widths
            .iter()
            .find(|(from, to, _)| (*from..=*to).contains(&col))
            .map_or(8.43, |w| w.2)
    }

    /// The columns the cell at (row, col) spans: itself, or its merged range.
    fn span(&self, row: u32, col: u32) -> (u32, u32) {
        self.merged
            .iter()
            .find(|(r, from, to)| *r == row && (*from..=*to).contains(&col))
            .map_or((col, col), |m| (m.1, m.2))
    }

    fn height(&self, row: u32) -> f64 {
        self.heights.get(&row).copied().unwrap_or(15.0)
    }
}

/// Asserts that no text of the sheet is cut or runs into another: a wrapping cell's row is at
/// least as tall as the lines its text needs (1.2 characters of Calibri per unit of width at
/// the most, 15 points a line), and a cell that does not wrap, with a value right of it, is at
/// most one character per unit of its width.
fn assert_no_text_is_cut(path: &Path, sheet: &str) {
    let layout = Layout::of(path, sheet);
    let mut workbook = open(path);
    let range = workbook.worksheet_range(sheet).unwrap();
    let (top, left) = range.start().unwrap();
    let filled: std::collections::HashSet<(u32, u32)> = range
        .cells()
        .filter(|(_, _, c)| !c.is_empty())
        .map(|(r, c, _)| (top + r as u32, left + c as u32))
        .collect();
    let mut checked = 0;
    for (r, c, cell) in range.cells() {
        let Data::String(text) = cell else { continue };
        let (row, col) = (top + r as u32, left + c as u32);
        let (first, last) = layout.span(row, col);
        let width: f64 = (first..=last).map(|c| layout.width(c)).sum();
        let chars = text.chars().count() as f64;
        let place = format!(
            "{sheet}!{}{} {text:?}",
            char::from(b'A' + col as u8),
            row + 1
        );
        if layout.wrapped.contains(&(row, col)) {
            let lines = (chars / (1.2 * width)).ceil().max(1.0);
            assert!(
                layout.height(row) >= (15.0 * lines).min(409.0),
                "{place}: {lines} lines in a row of {} points",
                layout.height(row)
            );
        } else if filled.contains(&(row, last + 1)) {
            assert!(chars <= width, "{place}: cut at width {width}");
        }
        checked += 1;
    }
    assert!(checked > 0, "{sheet} has text");
}

#[test]
fn findings_show_whose_access_it_is_beside_the_decision_and_keep_it_in_view() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), xlsx::EXCEL_MAX_ROWS);
    let mut workbook = open(&path);
    assert_eq!(
        header(&mut workbook, "Findings")[..7],
        [
            "severity",
            "rule",
            "pidsl",
            "username",
            "user_name",
            "Decision",
            "Justification"
        ]
    );
    // The header row and the five columns left of Decision stay in view while scrolling.
    let sheet = sheet_part(&path, "Findings");
    assert!(
        sheet.contains("<pane xSplit=\"5\" ySplit=\"1\" topLeftCell=\"F2\""),
        "{sheet}"
    );
    assert!(sheet.contains("state=\"frozen\""));
    // Each finding's values are in the columns their headers name.
    let findings = workbook.worksheet_range("Findings").unwrap();
    let first = findings.rows().nth(1).unwrap();
    assert_eq!(text(&first[col("severity")]), "critical");
    assert_eq!(text(&first[col("rule")]), "missing-primary");
    assert_eq!(text(&first[col("pidsl")]), "110000001A");
    assert_eq!(text(&first[col("fingerprint")]), "fp-missing-primary-");
    let second = findings.rows().nth(2).unwrap();
    assert_eq!(text(&second[col("username")]), "ann");
    assert_eq!(text(&second[col("user_name")]), "ann name");
}

#[test]
fn every_sheet_prints_landscape_one_page_wide_with_its_header_row_on_each_page() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_org(dir.path(), &snapshot(), "ORG-A");
    let names = open(&path).sheet_names();
    assert_eq!(
        names,
        [
            "Summary",
            "How to decide",
            "Findings",
            "Administrators",
            "User Access",
            "Rules"
        ]
    );
    for name in &names {
        let sheet = sheet_part(&path, name);
        let setup = sheet.split("<pageSetup").nth(1).expect(name);
        assert!(setup.contains("orientation=\"landscape\""), "{name}");
        // One page wide (fitToWidth is 1 unless it says otherwise), as many pages long as it
        // takes.
        assert!(setup.contains("fitToHeight=\"0\""), "{name}: {setup}");
        assert!(!setup.contains("fitToWidth=") || setup.contains("fitToWidth=\"1\""));
        assert!(sheet.contains("<pageSetUpPr fitToPage=\"1\"/>"), "{name}");
    }
    let book = xlsx_part(&path, "xl/workbook.xml");
    for titles in [
        "Findings!$1:$1",
        "Administrators!$1:$1",
        "'User Access'!$1:$1",
        "Rules!$1:$1",
    ] {
        assert!(
            book.contains(&format!("\">{titles}</definedName>"))
                && book.contains("_xlnm.Print_Titles"),
            "{titles} repeated on every page: {book}"
        );
    }
}

#[test]
fn wrapped_text_gets_a_row_tall_enough_and_labels_are_not_cut() {
    // The hand-made data with a long detail, and scenario4's own workbooks.
    let dir = tempfile::tempdir().unwrap();
    let (run, mut findings, snapshot) = (run(), findings(), snapshot());
    findings[4].detail = "lacks PORTAL; ".repeat(30);
    let summary = Summary::new(&run, &findings, &snapshot);
    let path = dir.path().join("long.xlsx");
    let findings: Vec<&FindingRow> = findings.iter().collect();
    let input = WorkbookInput::new(&summary, &findings, &snapshot, chrono_tz::America::New_York);
    xlsx::write_workbook(&path, &input).unwrap();
    let layout = Layout::of(&path, "Findings");
    assert!(
        layout.wrapped.contains(&(5, col("detail") as u32)),
        "detail wraps"
    );
    assert!(layout.height(5) >= 6.0 * 15.0, "{}", layout.height(5));
    assert_no_text_is_cut(&path, "Findings");

    let out = tempfile::tempdir().unwrap();
    let run_dir = review(&scenario4(), out.path());
    let org = files_under(&run_dir.join("organizations"))
        .into_iter()
        .find(|p| p.to_str().unwrap().ends_with("-ORG-GP.xlsx"))
        .unwrap();
    for path in [workbook_path(&run_dir), org.clone()] {
        for sheet in open(&path).sheet_names() {
            if sheet != "User Access" {
                assert_no_text_is_cut(&path, &sheet);
            }
        }
    }
    // The label column is as wide as its longest label.
    let layout = Layout::of(&org, "Summary");
    assert!(layout.width(0) >= "Overdue (no decision, older than the cadence)".len() as f64);
}

#[test]
fn counts_show_thousands_separators() {
    let dir = tempfile::tempdir().unwrap();
    let (run, findings, snapshot) = (run(), findings(), snapshot());
    let mut summary = Summary::new(&run, &findings, &snapshot);
    summary.total = 1_234_567;
    summary.status.new = 25_000;
    let path = write_with_summary(dir.path(), &summary);
    let mut workbook = open(&path);
    let sheet = workbook.worksheet_range("Summary").unwrap();
    assert_eq!(text(&sheet[(5, 0)]), "Findings");
    assert_eq!(sheet[(5, 1)], Data::Float(1_234_567.0));
    // The cell's format is #,##0: 1,234,567.
    let styles = xlsx_part(&path, "xl/styles.xml");
    let xml = sheet_part(&path, "Summary");
    let xfs = styles.split("<cellXfs").nth(1).unwrap();
    let formats: Vec<&str> = xfs.split("<xf ").skip(1).collect();
    for reference in ["B6", "B11"] {
        let xf = formats[cell_style(&xml, reference)];
        let id = attr(xf, "numFmtId").unwrap();
        assert!(
            id == "3" || styles.contains(&format!("numFmtId=\"{id}\" formatCode=\"#,##0\"")),
            "{reference}: format {id}"
        );
    }
}

#[test]
fn the_summary_chart_is_on_the_first_screen() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), xlsx::EXCEL_MAX_ROWS);
    assert!(xlsx_part(&path, "xl/charts/chart1.xml").contains("<c:barChart>"));
    let drawing = xlsx_part(&path, "xl/drawings/drawing1.xml");
    let from = drawing.split("<xdr:from>").nth(1).unwrap();
    let cell = |tag: &str| -> u32 {
        let start = from.find(&format!("<xdr:{tag}>")).unwrap() + tag.len() + 6;
        from[start..start + from[start..].find('<').unwrap()]
            .parse()
            .unwrap()
    };
    let (col, row) = (cell("col"), cell("row"));
    assert!(col <= 2 && row <= 12, "anchored at column {col}, row {row}");
    // Its left edge, in pixels (a column of width w is 7w + 5), leaves its 520 on a 1280-pixel
    // screen.
    let layout = Layout::of(&path, "Summary");
    let left: f64 = (0..col).map(|c| layout.width(c) * 7.0 + 5.0).sum();
    assert!(left + 520.0 <= 1280.0, "the chart starts at {left} px");
}

fn trend_point(run_id: &str, as_of: NaiveDate, counts: [usize; 4]) -> TrendPoint {
    let severities = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];
    TrendPoint {
        run_id: run_id.into(),
        as_of,
        open: severities.into_iter().zip(counts).collect(),
    }
}

#[test]
fn the_trend_is_a_line_chart_of_summary_cells_from_the_second_review_on() {
    let dir = tempfile::tempdir().unwrap();
    let (run, findings, snapshot) = (run(), findings(), snapshot());
    let mut summary = Summary::new(&run, &findings, &snapshot);
    summary.trend = vec![trend_point("20260701-001", date(2026, 7, 1), [4, 3, 9, 1])];
    let path = write_with_summary(dir.path(), &summary);
    let mut workbook = open(&path);
    let cells: Vec<String> = workbook
        .worksheet_range("Summary")
        .unwrap()
        .cells()
        .map(|(_, _, c)| text(c))
        .collect();
    assert!(cells
        .iter()
        .any(|c| c.starts_with("The trend starts at the next review")));
    assert!(!xlsx_text(&path).contains("<c:lineChart>"), "no line yet");

    summary.trend.push(trend_point(
        "20261001-001",
        date(2026, 10, 1),
        [2, 1, 1_200, 1],
    ));
    let path = write_with_summary(dir.path(), &summary);
    let mut workbook = open(&path);
    let sheet = workbook.worksheet_range("Summary").unwrap();
    let row = sheet
        .rows()
        .position(|r| text(&r[0]) == "2026-10-01")
        .expect("the trend's table");
    assert_eq!(text(&sheet[(row, 1)]), "20261001-001");
    assert_eq!(sheet[(row, 4)], Data::Float(1200.0), "medium");
    assert_eq!(text(&sheet[(row - 2, 2)]), "Critical");
    let chart = xlsx_part(&path, "xl/charts/chart2.xml");
    assert!(chart.contains("<c:lineChart>"));
    assert_eq!(chart.matches("<c:ser>").count(), 4, "a line per severity");
    assert!(
        chart.contains(&format!("Summary!$E${}:$E${}", row, row + 1)),
        "{chart}"
    );
}

#[test]
fn the_summary_lists_the_twenty_organizations_with_most_findings() {
    let dir = tempfile::tempdir().unwrap();
    let (run, findings, snapshot) = (run(), findings(), snapshot());
    let mut summary = Summary::new(&run, &findings, &snapshot);
    let template = summary.by_org[0].clone();
    summary.by_org = (0..25)
        .map(|i| {
            let mut org = template.clone();
            org.org_id = format!("ORG-{i:02}");
            org.name = format!("Clinic {i:02}");
            org.total = 2000 - i;
            org
        })
        .collect();
    let path = write_with_summary(dir.path(), &summary);
    let mut workbook = open(&path);
    let sheet = workbook.worksheet_range("Summary").unwrap();
    let title = sheet
        .rows()
        .position(|r| text(&r[0]).starts_with("Findings per organization"))
        .unwrap();
    assert_eq!(
        text(&sheet[(title, 0)]),
        "Findings per organization (the 20 with most of the 25)"
    );
    let header: Vec<String> = sheet.rows().nth(title + 1).unwrap()[..7]
        .iter()
        .map(text)
        .collect();
    assert_eq!(
        header,
        [
            "Organization",
            "Findings",
            "Critical",
            "High",
            "Medium",
            "Low",
            "Reviewer decisions"
        ]
    );
    let listed: Vec<String> = sheet
        .rows()
        .skip(title + 2)
        .take_while(|r| !text(&r[0]).is_empty())
        .map(|r| text(&r[0]))
        .collect();
    assert_eq!(listed.len(), 20);
    assert_eq!(listed[0], "Clinic 00 (ORG-00)");
    assert_eq!(sheet[(title + 2, 1)], Data::Float(2000.0));
    assert!(text(&sheet[(title + 2, 6)]).contains("pending"));
}

#[test]
fn how_to_decide_says_what_each_decision_means_and_what_happens_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), xlsx::EXCEL_MAX_ROWS);
    let mut workbook = open(&path);
    let sheet = workbook.worksheet_range(xlsx::INSTRUCTIONS_SHEET).unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(text).collect()).collect();
    // The drop-down's choices, each once, in its order, with its meaning and next step.
    let listed: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| Decision::ALL.iter().any(|d| r[0] == d.as_str()))
        .collect();
    assert_eq!(listed.len(), Decision::ALL.len());
    for (row, decision) in listed.iter().zip(Decision::ALL) {
        assert_eq!(row[0], decision.as_str());
        assert_eq!(row[1], decision.meaning());
        assert_eq!(row[2], decision.next_step());
    }
    assert!(rows
        .iter()
        .any(|r| r[0].contains("posc-review decisions import")));
}

#[test]
fn an_organization_workbook_lists_who_administers_each_of_its_pidsls() {
    let dir = tempfile::tempdir().unwrap();
    let mut snapshot = snapshot();
    snapshot.users[1].phone = "+1 617 555 0100".into();
    let path = write_org(dir.path(), &snapshot, "ORG-A");
    let mut workbook = open(&path);
    let sheet = workbook.worksheet_range("Administrators").unwrap();
    let rows: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(text).collect()).collect();
    assert_eq!(
        rows[0],
        [
            "PID/SL",
            "PID/SL name",
            "Primary User",
            "Primary User email",
            "Primary User phone",
            "Backup",
            "Backup email",
            "Backup phone"
        ]
    );
    assert_eq!(
        rows[1],
        [
            "110000001A",
            "Site 110000001A",
            &format!("{} Doe (ann)", FORMULAS[0]),
            "ann@example.org",
            xlsx::NOT_ON_FILE,
            &format!("{} Doe (bob)", FORMULAS[1]),
            "bob@example.org",
            "+1 617 555 0100"
        ]
    );
    assert_eq!(rows.len(), 2, "ORG-A's one PID/SL");

    let path = write_org(dir.path(), &snapshot, "ORG-B");
    let mut workbook = open(&path);
    let sheet = workbook.worksheet_range("Administrators").unwrap();
    let row: Vec<String> = sheet.rows().nth(1).unwrap().iter().map(text).collect();
    assert_eq!(row[..3], ["220000002B", "Site 220000002B", "Bea Doe (bea)"]);
    assert_eq!(row[5], xlsx::NO_ADMINISTRATOR, "no backup");
    // The whole-run workbook has no such sheet: every organization's would be too long.
    let whole = write(dir.path(), xlsx::EXCEL_MAX_ROWS);
    assert!(!open(&whole)
        .sheet_names()
        .contains(&"Administrators".to_string()));
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
    let users = read_csv(&scenario4().join("users.csv"));
    let personal: Vec<String> = users
        .iter()
        .flat_map(|u| [u["dob_mmdd"].clone(), u["ssn_last4"].clone()])
        .filter(|v| !v.is_empty())
        .collect();
    assert!(personal.len() > 20);
    // Phone numbers are contact details an organization's Administrators sheet shows on
    // purpose; one's last four digits may be another user's ssn_last4 (617-555-0101, 0101).
    let phones: Vec<String> = users
        .iter()
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
        for (part, mut text) in texts {
            for phone in &phones {
                text = text.replace(phone.as_str(), "(phone)");
            }
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
