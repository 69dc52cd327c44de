//! `posc-review decisions`: a reviewed workbook round-trips (decisions recorded, accepted risk
//! shown as accepted in the next run until it expires, earlier decisions pre-filled in the next
//! workbook), CSV imports work, and a bad row records nothing — on SQLite and PostgreSQL.

mod common;

use calamine::{open_workbook, Data, DataType, Reader, Xlsx};
use common::{read_csv, scenario4, stderr, stdout, Bin, TestDb};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const AS_OF: &str = "2026-10-01";

/// Imports scenario4 and reviews it as of `AS_OF`; returns the binary and the run folder.
fn reviewed(db: &TestDb, out: &Path) -> (Bin, PathBuf) {
    let bin = Bin::new(db);
    let imported = bin.run(&["import", scenario4().to_str().unwrap()]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    let run_dir = review(&bin, out, AS_OF);
    (bin, run_dir)
}

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

fn workbook_path(run_dir: &Path) -> PathBuf {
    let id = run_dir.file_name().unwrap().to_str().unwrap();
    run_dir.join(format!("review-{id}.xlsx"))
}

fn text(cell: &Data) -> String {
    cell.as_string().unwrap_or_default()
}

/// The Findings sheet's cells as text, the header first.
fn findings_sheet(path: &Path) -> Vec<Vec<String>> {
    let mut workbook: Xlsx<_> = open_workbook(path).unwrap();
    let range = workbook.worksheet_range("Findings").unwrap();
    range
        .rows()
        .map(|row| row.iter().map(text).collect())
        .collect()
}

/// A reviewer's copy of a run's workbook: its Findings sheet rewritten with rust_xlsxwriter,
/// with `decisions` (fingerprint -> decision, justification) filled in.
fn edited_workbook(run_dir: &Path, to: &Path, decisions: &[(&str, &str, &str)]) {
    let mut rows = findings_sheet(&workbook_path(run_dir));
    let header = rows[0].clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (fingerprint, decision, justification) =
        (col("fingerprint"), col("Decision"), col("Justification"));
    for (fp, d, j) in decisions {
        let row = rows
            .iter_mut()
            .find(|r| r[fingerprint] == *fp)
            .unwrap_or_else(|| panic!("no finding {fp}"));
        row.resize(header.len(), String::new());
        row[decision] = d.to_string();
        row[justification] = j.to_string();
    }
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Findings").unwrap();
    for (r, row) in rows.iter().enumerate() {
        for (c, value) in row.iter().enumerate() {
            if !value.is_empty() {
                sheet.write_string(r as u32, c as u16, value).unwrap();
            }
        }
    }
    workbook.save(to).unwrap();
}

/// The workbook at `from` with its Findings sheet's columns in the order of `names` (the other
/// columns dropped), written to `to`: an earlier version's layout, or a reviewer's own.
fn with_columns_in_order(from: &Path, to: &Path, names: &[&str]) {
    let rows = findings_sheet(from);
    let order: Vec<usize> = names
        .iter()
        .map(|name| rows[0].iter().position(|h| h == name).unwrap())
        .collect();
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Findings").unwrap();
    for (r, row) in rows.iter().enumerate() {
        for (c, &from) in order.iter().enumerate() {
            if let Some(value) = row.get(from).filter(|v| !v.is_empty()) {
                sheet.write_string(r as u32, c as u16, value).unwrap();
            }
        }
    }
    workbook.save(to).unwrap();
}

#[test]
fn decisions_are_read_by_column_name_wherever_the_columns_stand() {
    let db = TestDb::sqlite();
    let out = tempfile::tempdir().unwrap();
    let (bin, run1) = reviewed(&db, out.path());
    let (first, second) = two_findings(&run1);
    let edited = out.path().join("reviewed.xlsx");
    edited_workbook(
        &run1,
        &edited,
        &[
            (&first, "Not a problem", "Needed for month-end billing"),
            (&second, "Fix in POSC", "Left in June"),
        ],
    );
    // The layout before Decision moved beside the user: findings.csv's columns, then the
    // reviewer's two.
    let mut old_layout: Vec<&str> = posc_review::report::csv::FINDINGS_COLUMNS.to_vec();
    old_layout.extend(["Decision", "Justification"]);
    let moved = out.path().join("old-layout.xlsx");
    with_columns_in_order(&edited, &moved, &old_layout);
    assert_eq!(findings_sheet(&moved)[0][0], "run_id");
    let imported = bin.run(&[
        "decisions",
        "import",
        moved.to_str().unwrap(),
        "--reviewer",
        "alice",
    ]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    let recorded = decisions_json(&bin, &[]);
    let decision = |fp: &str| {
        recorded
            .iter()
            .find(|d| d["fingerprint"] == fp)
            .map(|d| (d["decision"].clone(), d["justification"].clone()))
            .unwrap()
    };
    assert_eq!(
        decision(&first),
        (
            "Not a problem".into(),
            "Needed for month-end billing".into()
        )
    );
    assert_eq!(
        decision(&second),
        ("Fix in POSC".into(), "Left in June".into())
    );
}

/// findings.csv of a run, by fingerprint.
fn findings(run_dir: &Path) -> HashMap<String, HashMap<String, String>> {
    read_csv(&run_dir.join("findings.csv"))
        .into_iter()
        .map(|r| (r["fingerprint"].clone(), r))
        .collect()
}

/// Two findings of the run to decide about: (accept-risk one, fix one), both of ORG-GP
/// (quarterly: 92 days).
fn two_findings(run_dir: &Path) -> (String, String) {
    let rows = read_csv(&run_dir.join("findings.csv"));
    let gp: Vec<&HashMap<String, String>> =
        rows.iter().filter(|r| r["org_id"] == "ORG-GP").collect();
    assert!(gp.len() >= 2, "scenario4 has ORG-GP findings");
    (gp[0]["fingerprint"].clone(), gp[1]["fingerprint"].clone())
}

fn decisions_json(bin: &Bin, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["decisions", "list", "--format", "json"];
    all.extend_from_slice(args);
    let out = bin.run(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn a_reviewed_workbook_round_trips_and_accepted_risk_expires() {
    for db in TestDb::all() {
        let out = tempfile::tempdir().unwrap();
        let (bin, run1) = reviewed(&db, out.path());
        let (accepted, kept) = two_findings(&run1);
        let edited = out.path().join("reviewed.xlsx");
        edited_workbook(
            &run1,
            &edited,
            &[
                (
                    &accepted,
                    "accept RISK",
                    "Compensating control: monthly audit",
                ),
                (&kept, "fix in posc", "Remove by the end of the month"),
            ],
        );

        let imported = bin.run(&[
            "decisions",
            "import",
            edited.to_str().unwrap(),
            "--reviewer",
            "alice",
        ]);
        assert!(imported.status.success(), "{}", stderr(&imported));
        assert!(stdout(&imported).contains("Recorded 2 decisions"));

        let recorded = decisions_json(&bin, &[]);
        assert_eq!(recorded.len(), 2, "[{}] {recorded:?}", db.backend);
        let accept = recorded
            .iter()
            .find(|d| d["fingerprint"] == accepted.as_str())
            .unwrap();
        assert_eq!(accept["decision"], "Accept risk");
        assert_eq!(accept["reviewer"], "alice");
        // The next review period: as_of + 92 days for a quarterly organization.
        assert_eq!(accept["accepted_until"], "2027-01-01");
        assert_eq!(accept["org_id"], "ORG-GP");

        // The next run: the accepted finding shows as accepted, the one to fix stays open
        // with its decision pre-filled.
        let run2 = review(&bin, out.path(), "2026-10-15");
        let second = findings(&run2);
        assert_eq!(second[&accepted]["status"], "accepted", "[{}]", db.backend);
        assert_eq!(second[&kept]["status"], "open");
        let sheet = findings_sheet(&workbook_path(&run2));
        let col = |name: &str| sheet[0].iter().position(|h| h == name).unwrap();
        let kept_row = sheet
            .iter()
            .find(|r| r[col("fingerprint")] == kept)
            .unwrap();
        let decision = &kept_row[col("Decision")];
        assert!(
            decision.starts_with("Fix in POSC (") && decision.ends_with(", alice)"),
            "{decision}"
        );
        assert_eq!(
            kept_row[col("Justification")],
            "Remove by the end of the month"
        );
        let html = std::fs::read_to_string(run2.join("summary.html")).unwrap();
        assert!(html.contains("id=\"count-decided\">2<"), "decided count");
        assert!(
            html.contains("id=\"count-overdue\">0<"),
            "nothing older than a cadence"
        );
        let mut workbook: Xlsx<_> = open_workbook(workbook_path(&run2)).unwrap();
        let summary = workbook.worksheet_range("Summary").unwrap();
        let cells: Vec<String> = summary.cells().map(|(_, _, c)| text(c)).collect();
        let at = cells.iter().position(|c| c == "Decided").unwrap();
        assert_eq!(summary.cells().nth(at + 1).unwrap().2.as_f64(), Some(2.0));

        // Importing the next workbook unchanged records nothing new.
        let again = bin.run(&[
            "decisions",
            "import",
            workbook_path(&run2).to_str().unwrap(),
        ]);
        assert!(again.status.success(), "{}", stderr(&again));
        assert!(stdout(&again).contains("Recorded 0 decisions"));
        assert!(stdout(&again).contains("2 unchanged"));

        // After accepted_until, the finding is open again.
        let run3 = review(&bin, out.path(), "2027-01-02");
        assert_eq!(findings(&run3)[&accepted]["status"], "open");
        // ORG-GP is quarterly: its findings first seen 93 days ago, undecided, are overdue.
        let html = std::fs::read_to_string(run3.join("summary.html")).unwrap();
        assert!(
            !html.contains("id=\"count-overdue\">0<"),
            "overdue findings"
        );
    }
}

#[test]
fn a_tampered_fingerprint_is_refused_with_its_row_and_nothing_is_recorded() {
    for db in TestDb::all() {
        let out = tempfile::tempdir().unwrap();
        let (bin, run1) = reviewed(&db, out.path());
        let (first, second) = two_findings(&run1);
        let edited = out.path().join("reviewed.xlsx");
        edited_workbook(
            &run1,
            &edited,
            &[
                (&first, "Not a problem", "fine"),
                (&second, "Fix in POSC", "left the practice"),
            ],
        );
        // Rewrite the second decided row's fingerprint.
        let mut rows = findings_sheet(&edited);
        let fp_col = rows[0].iter().position(|h| h == "fingerprint").unwrap();
        let index = rows.iter().position(|r| r[fp_col] == second).unwrap();
        rows[index][fp_col] = "0123456789abcdef01234567".to_string();
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet().set_name("Findings").unwrap();
        for (r, row) in rows.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                sheet.write_string(r as u32, c as u16, value).unwrap();
            }
        }
        workbook.save(&edited).unwrap();

        let result = bin.run(&[
            "decisions",
            "import",
            edited.to_str().unwrap(),
            "--reviewer",
            "alice",
        ]);
        assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
        let place = format!("{}:Findings:{}:", edited.display(), index + 1);
        assert!(stderr(&result).contains(&place), "{}", stderr(&result));
        assert!(stderr(&result).contains("not a finding of run"));
        assert!(decisions_json(&bin, &[]).is_empty(), "[{}]", db.backend);
    }
}

#[test]
fn accept_risk_without_a_justification_is_refused() {
    for db in TestDb::all() {
        let out = tempfile::tempdir().unwrap();
        let (bin, run1) = reviewed(&db, out.path());
        let (first, second) = two_findings(&run1);
        let edited = out.path().join("reviewed.xlsx");
        edited_workbook(
            &run1,
            &edited,
            &[
                (&first, "Not a problem", "fine"),
                (&second, "Accept risk", ""),
            ],
        );
        let result = bin.run(&[
            "decisions",
            "import",
            edited.to_str().unwrap(),
            "--reviewer",
            "alice",
        ]);
        assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
        assert!(stderr(&result).contains("Accept risk needs a justification"));
        assert!(decisions_json(&bin, &[]).is_empty());
    }
}

#[test]
fn a_csv_of_decisions_is_recorded_and_an_unknown_decision_is_refused() {
    for db in TestDb::all() {
        let out = tempfile::tempdir().unwrap();
        let (bin, run1) = reviewed(&db, out.path());
        let run_id = run1.file_name().unwrap().to_str().unwrap().to_string();
        let (first, second) = two_findings(&run1);

        let bad = out.path().join("bad.csv");
        std::fs::write(
            &bad,
            format!(
                "fingerprint,decision,justification,reviewer\n{first},Not a problem,ok,bob\n{second},Maybe,?,bob\n"
            ),
        )
        .unwrap();
        let result = bin.run(&["decisions", "import", bad.to_str().unwrap()]);
        assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
        assert!(
            stderr(&result).contains(&format!("{}:3: unknown decision", bad.display())),
            "{}",
            stderr(&result)
        );
        assert!(decisions_json(&bin, &[]).is_empty());

        let good = out.path().join("decisions.csv");
        std::fs::write(
            &good,
            format!(
                "run_id,fingerprint,decision,justification,reviewer,accepted_until\n\
                 {run_id},{first},Accept risk,Vendor contract ends in March,bob,2027-03-31\n\
                 {run_id},{second},fix in POSC,,,\n"
            ),
        )
        .unwrap();
        // The second row has no reviewer: --reviewer fills it in.
        let result = bin.run(&["decisions", "import", good.to_str().unwrap()]);
        assert_eq!(result.status.code(), Some(2), "no reviewer for row 3");
        assert!(
            stderr(&result).contains(":3: who decided?"),
            "{}",
            stderr(&result)
        );
        let result = bin.run(&[
            "decisions",
            "import",
            good.to_str().unwrap(),
            "--reviewer",
            "carol",
        ]);
        assert!(result.status.success(), "{}", stderr(&result));
        let recorded = decisions_json(&bin, &["--run", &run_id]);
        assert_eq!(recorded.len(), 2);
        let by_fp = |fp: &str| {
            recorded
                .iter()
                .find(|d| d["fingerprint"] == fp)
                .unwrap()
                .clone()
        };
        assert_eq!(by_fp(&first)["accepted_until"], "2027-03-31");
        assert_eq!(by_fp(&first)["reviewer"], "bob");
        assert_eq!(by_fp(&second)["decision"], "Fix in POSC");
        assert_eq!(by_fp(&second)["reviewer"], "carol");
        let text = bin.run(&["decisions", "list"]);
        assert!(stdout(&text).contains("Vendor contract ends in March"));
    }
}

/// A copy of the xlsx at `from` with `rows` (column letter, text) added at the end of its
/// Findings sheet (`xl/worksheets/sheetN.xml`, N its place), every other part as it was: what
/// Excel saves after a reviewer added rows, the document properties kept.
fn with_added_rows(from: &Path, to: &Path, rows: &[Vec<(String, &str)>]) {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(from).unwrap()).unwrap();
    let mut copy = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    let first = findings_sheet(from).len() + 1;
    let workbook: Xlsx<_> = open_workbook(from).unwrap();
    let place = workbook
        .sheet_names()
        .iter()
        .position(|n| n == "Findings")
        .unwrap();
    let part = format!("xl/worksheets/sheet{}.xml", place + 1);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if name == part {
            let mut added = String::new();
            for (i, cells) in rows.iter().enumerate() {
                let r = first + i;
                added.push_str(&format!("<row r=\"{r}\">"));
                for (col, value) in cells {
                    added.push_str(&format!(
                        "<c r=\"{col}{r}\" t=\"inlineStr\"><is><t>{value}</t></is></c>"
                    ));
                }
                added.push_str("</row>");
            }
            let xml = String::from_utf8(bytes).unwrap();
            bytes = xml
                .replacen("</sheetData>", &format!("{added}</sheetData>"), 1)
                .into_bytes();
        }
        copy.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        copy.write_all(&bytes).unwrap();
    }
    copy.finish().unwrap();
}

/// The column letter of a Findings column, by its header (A to Z: the sheet has 14).
fn letter(name: &str) -> String {
    let col = posc_review::report::xlsx::FINDINGS_SHEET_COLUMNS
        .iter()
        .position(|(n, _)| *n == name)
        .unwrap();
    char::from(b'A' + col as u8).to_string()
}

/// A Findings row: its run_id, fingerprint, Decision and Justification, each in its column
/// (in column order, as a spreadsheet writes a row).
fn decided<'a>(run_id: &'a str, fingerprint: &'a str, decision: &'a str) -> Vec<(String, &'a str)> {
    let mut cells = vec![
        (letter("run_id"), run_id),
        (letter("fingerprint"), fingerprint),
        (letter("Decision"), decision),
        (
            letter("Justification"),
            "reviewed with the practice manager",
        ),
    ];
    cells.sort();
    cells
}

#[test]
fn an_organization_workbook_decides_only_its_own_organization_s_findings() {
    for db in TestDb::all() {
        let out = tempfile::tempdir().unwrap();
        let (bin, run1) = reviewed(&db, out.path());
        let run_id = run1.file_name().unwrap().to_str().unwrap().to_string();
        let (own, _) = two_findings(&run1);
        let rows = read_csv(&run1.join("findings.csv"));
        let foreign = rows
            .iter()
            .find(|r| r["org_id"] == "ORG-HOSP")
            .expect("scenario4 has ORG-HOSP findings");
        let foreign = foreign["fingerprint"].clone();
        let gp = run1
            .join("organizations")
            .join(format!("review-{run_id}-ORG-GP.xlsx"));
        let findings = findings_sheet(&gp).len();

        // ORG-GP's management adds a row deciding ORG-HOSP's finding.
        let edited = out.path().join("gp-reviewed.xlsx");
        with_added_rows(
            &gp,
            &edited,
            &[
                decided(&run_id, &own, "Not a problem"),
                decided(&run_id, &foreign, "Accept risk"),
            ],
        );
        let result = bin.run(&[
            "decisions",
            "import",
            edited.to_str().unwrap(),
            "--reviewer",
            "alice",
        ]);
        assert_eq!(
            result.status.code(),
            Some(2),
            "[{}] {}",
            db.backend,
            stderr(&result)
        );
        let place = format!("{}:Findings:{}:", edited.display(), findings + 2);
        assert!(stderr(&result).contains(&place), "{}", stderr(&result));
        assert!(
            stderr(&result).contains("organization \"ORG-HOSP\"'s")
                && stderr(&result).contains("organization \"ORG-GP\"'s workbook"),
            "{}",
            stderr(&result)
        );
        assert!(
            decisions_json(&bin, &[]).is_empty(),
            "[{}] nothing recorded",
            db.backend
        );

        // Its own finding alone is recorded.
        with_added_rows(&gp, &edited, &[decided(&run_id, &own, "Fix in POSC")]);
        let result = bin.run(&[
            "decisions",
            "import",
            edited.to_str().unwrap(),
            "--reviewer",
            "alice",
        ]);
        assert!(result.status.success(), "{}", stderr(&result));
        let recorded = decisions_json(&bin, &[]);
        assert_eq!(recorded.len(), 1, "[{}]", db.backend);
        assert_eq!(recorded[0]["org_id"], "ORG-GP");
    }
}

#[test]
fn accept_risk_holds_at_most_max_accept_days() {
    for db in TestDb::all() {
        let out = tempfile::tempdir().unwrap();
        let (mut bin, run1) = reviewed(&db, out.path());
        let run_id = run1.file_name().unwrap().to_str().unwrap().to_string();
        let (first, second) = two_findings(&run1);
        let csv = out.path().join("decisions.csv");
        std::fs::write(
            &csv,
            format!(
                "run_id,fingerprint,decision,justification,reviewer,accepted_until\n\
                 {run_id},{first},Accept risk,Never fixing this,bob,9999-12-31\n"
            ),
        )
        .unwrap();
        let result = bin.run(&["decisions", "import", csv.to_str().unwrap()]);
        assert_eq!(
            result.status.code(),
            Some(2),
            "[{}] {}",
            db.backend,
            stderr(&result)
        );
        let message = stderr(&result);
        assert!(
            message.contains(&format!("{}:2: accepted_until 9999-12-31", csv.display()))
                && message.contains("review.max_accept_days (366)")
                && message.contains("2027-10-02"),
            "{message}"
        );
        assert!(decisions_json(&bin, &[]).is_empty());

        // With a 30-day limit: the default (ORG-GP's quarter, 92 days) is shortened to 30, and
        // the limit itself is accepted.
        bin.env
            .push(("POSC_REVIEW__REVIEW__MAX_ACCEPT_DAYS".into(), "30".into()));
        std::fs::write(
            &csv,
            format!(
                "run_id,fingerprint,decision,justification,reviewer,accepted_until\n\
                 {run_id},{first},Accept risk,Backup being hired,bob,\n\
                 {run_id},{second},Accept risk,Contract ends this month,bob,2026-10-31\n"
            ),
        )
        .unwrap();
        let result = bin.run(&["decisions", "import", csv.to_str().unwrap()]);
        assert!(result.status.success(), "{}", stderr(&result));
        let recorded = decisions_json(&bin, &[]);
        assert_eq!(recorded.len(), 2, "[{}]", db.backend);
        assert!(
            recorded.iter().all(|d| d["accepted_until"] == "2026-10-31"),
            "{recorded:?}"
        );
    }
}

/// An xlsx package built by hand: a Findings sheet (`sheet`, the worksheet XML) and, when
/// given, the shared strings `xl/sharedStrings.xml` written in `chunks` pieces of `piece`.
fn hostile_workbook(path: &Path, sheet: &str, shared: Option<(&str, &[u8], usize, &str)>) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let parts = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Findings" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
        ),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    for (name, text) in parts {
        zip.start_file(name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    if let Some((start, piece, chunks, end)) = shared {
        zip.start_file("xl/sharedStrings.xml", options).unwrap();
        zip.write_all(start.as_bytes()).unwrap();
        for _ in 0..chunks {
            zip.write_all(piece).unwrap();
        }
        zip.write_all(end.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

const SHEET_START: &str = r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#;
const HEADER_ROW: &str = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>run_id</t></is></c><c r="B1" t="inlineStr"><is><t>fingerprint</t></is></c><c r="C1" t="inlineStr"><is><t>Decision</t></is></c></row>"#;

/// Runs `decisions import FILE` on a fresh store; the result and how long it took.
fn import_hostile(path: &Path) -> (std::process::Output, Duration) {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    assert!(bin.run(&["init"]).status.success());
    let started = Instant::now();
    let result = bin.run(&[
        "decisions",
        "import",
        path.to_str().unwrap(),
        "--reviewer",
        "x",
    ]);
    (result, started.elapsed())
}

#[test]
fn a_workbook_declaring_every_cell_of_a_sheet_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("every-cell.xlsx");
    let sheet = format!(
        "{SHEET_START}<dimension ref=\"A1:XFD1048576\"/><sheetData>{HEADER_ROW}\
         <row r=\"1048576\"><c r=\"XFD1048576\" t=\"inlineStr\"><is><t>Keep</t></is></c></row>\
         </sheetData></worksheet>"
    );
    hostile_workbook(&path, &sheet, None);
    assert!(
        std::fs::metadata(&path).unwrap().len() < 4096,
        "a small file"
    );
    let (result, took) = import_hostile(&path);
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    let message = stderr(&result);
    assert!(
        message.contains(&format!("{}:Findings:", path.display()))
            && message.contains("declares the cells A1:XFD1048576")
            && message.contains("64 columns (A to BL)"),
        "{message}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");

    // Declaring a sheet's size honestly and then placing a cell far away is refused too.
    let sheet = format!(
        "{SHEET_START}<dimension ref=\"A1:C1\"/><sheetData>{HEADER_ROW}\
         <row r=\"1048576\"><c r=\"XFD1048576\" t=\"inlineStr\"><is><t>Keep</t></is></c></row>\
         </sheetData></worksheet>"
    );
    hostile_workbook(&path, &sheet, None);
    let (result, took) = import_hostile(&path);
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    assert!(
        stderr(&result).contains("a cell at XFD1048576 is beyond 64 columns"),
        "{}",
        stderr(&result)
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_workbook_with_a_giant_shared_string_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("giant-string.xlsx");
    let sheet = format!(
        "{SHEET_START}<sheetData>{HEADER_ROW}<row r=\"2\"><c r=\"C2\" t=\"s\"><v>0</v></c></row>\
         </sheetData></worksheet>"
    );
    // One shared string of 1.5 GiB, in a file of about 1.5 MB.
    hostile_workbook(
        &path,
        &sheet,
        Some((
            r#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>"#,
            &[b'A'; 1 << 20],
            1536,
            "</t></si></sst>",
        )),
    );
    assert!(
        std::fs::metadata(&path).unwrap().len() < 2 << 20,
        "about 1.5 MB"
    );
    let (result, took) = import_hostile(&path);
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    let message = stderr(&result);
    assert!(
        message.contains("its part xl/sharedStrings.xml declares 1.5 GiB uncompressed, beyond the limit of 256.0 MiB"),
        "{message}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// A review of `as_of` with `args` added, as the binary answers it.
fn review_with(bin: &Bin, out: &Path, as_of: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["review", "--as-of", as_of, "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    bin.run(&all)
}

/// The run folder named by a review's summary.
fn run_folder(result: &std::process::Output) -> PathBuf {
    let text = stdout(result);
    let folder = text
        .lines()
        .find_map(|l| l.strip_prefix("Files in "))
        .expect("the summary names the folder");
    PathBuf::from(folder.trim_end_matches(':'))
}

/// The Findings sheet's rows of a workbook as maps by header.
fn findings_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let sheet = findings_sheet(path);
    let header = sheet[0].clone();
    sheet[1..]
        .iter()
        .map(|row| {
            header
                .iter()
                .cloned()
                .zip(row.iter().cloned().chain(std::iter::repeat(String::new())))
                .collect()
        })
        .collect()
}

#[test]
fn the_earlier_labels_import_from_a_csv_and_a_workbook_and_keep_needs_a_justification() {
    for db in TestDb::all() {
        let out = tempfile::tempdir().unwrap();
        let (bin, run1) = reviewed(&db, out.path());
        let run_id = run1.file_name().unwrap().to_str().unwrap().to_string();
        let (first, second) = two_findings(&run1);

        // A CSV of an earlier version: Keep without a justification is refused, named by line.
        let csv = out.path().join("old.csv");
        std::fs::write(
            &csv,
            format!(
                "fingerprint,decision,justification,reviewer\n\
                 {first},Remove access,Left in June,bob\n{second},Keep,,bob\n"
            ),
        )
        .unwrap();
        let result = bin.run(&["decisions", "import", csv.to_str().unwrap()]);
        assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
        assert!(
            stderr(&result).contains(&format!(
                "{}:3: Not a problem needs a justification",
                csv.display()
            )),
            "{}",
            stderr(&result)
        );
        assert!(decisions_json(&bin, &[]).is_empty(), "[{}]", db.backend);

        // A workbook of an earlier version, likewise: file, sheet and row.
        let old = out.path().join("old.xlsx");
        edited_workbook(
            &run1,
            &old,
            &[
                (&first, "Change services", "Fewer services"),
                (&second, "keep", ""),
            ],
        );
        let result = bin.run(&[
            "decisions",
            "import",
            old.to_str().unwrap(),
            "--reviewer",
            "alice",
        ]);
        assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
        let row = findings_sheet(&old)
            .iter()
            .position(|r| r.contains(&second))
            .unwrap();
        let place = format!(
            "{}:Findings:{}: Not a problem needs",
            old.display(),
            row + 1
        );
        assert!(stderr(&result).contains(&place), "{}", stderr(&result));
        assert!(decisions_json(&bin, &[]).is_empty(), "[{}]", db.backend);

        // With a justification, Keep is Not a problem; Change services is Fix in POSC.
        edited_workbook(
            &run1,
            &old,
            &[
                (&first, "Change services", "Fewer services"),
                (&second, "keep", "The data is wrong: she left in 2025"),
            ],
        );
        let result = bin.run(&[
            "decisions",
            "import",
            old.to_str().unwrap(),
            "--reviewer",
            "alice",
        ]);
        assert!(result.status.success(), "{}", stderr(&result));
        let recorded = decisions_json(&bin, &["--run", &run_id]);
        let label = |fp: &str| {
            recorded
                .iter()
                .find(|d| d["fingerprint"] == fp)
                .map(|d| d["decision"].as_str().unwrap().to_string())
                .unwrap()
        };
        assert_eq!(label(&first), "Fix in POSC", "[{}]", db.backend);
        assert_eq!(label(&second), "Not a problem", "[{}]", db.backend);
        let text = stdout(&bin.run(&["decisions", "list"]));
        assert!(
            text.contains("Not a problem") && !text.contains("Keep"),
            "{text}"
        );
    }
}

#[test]
fn not_a_problem_suppresses_a_finding_until_its_facts_change() {
    for db in TestDb::all() {
        let out = tempfile::tempdir().unwrap();
        let (bin, _) = reviewed(&db, out.path());
        let before = review_with(&bin, out.path(), "2026-10-14", &["--fail-on", "critical"]);
        assert_eq!(before.status.code(), Some(3), "{}", stderr(&before));
        let rows = read_csv(&run_folder(&before).join("findings.csv"));
        let critical: Vec<&HashMap<String, String>> = rows
            .iter()
            .filter(|r| r["severity"] == "critical")
            .collect();
        assert!(critical.iter().any(|r| r["username"] == "tterm"));
        let duplicate = rows
            .iter()
            .find(|r| r["rule"] == "duplicate-identity" && r["username"] == "kmorgan")
            .unwrap();
        let mut csv = String::from("fingerprint,decision,justification,reviewer\n");
        for r in critical.iter().chain([&duplicate]) {
            csv += &format!(
                "{},Not a problem,The HR feed is wrong for this user,Dana\n",
                r["fingerprint"]
            );
        }
        let file = out.path().join("not-a-problem.csv");
        std::fs::write(&file, csv).unwrap();
        let result = bin.run(&["decisions", "import", file.to_str().unwrap()]);
        assert!(result.status.success(), "{}", stderr(&result));

        // The next review: suppressed, not counted for --fail-on, not in the action lists,
        // shown with their decision.
        let result = review_with(&bin, out.path(), "2026-10-15", &["--fail-on", "critical"]);
        assert!(
            result.status.success(),
            "[{}] {}",
            db.backend,
            stderr(&result)
        );
        let run2 = run_folder(&result);
        let second = findings(&run2);
        for r in critical.iter().chain([&duplicate]) {
            assert_eq!(second[&r["fingerprint"]]["status"], "suppressed", "{r:?}");
        }
        let html = std::fs::read_to_string(run2.join("summary.html")).unwrap();
        let count = format!("id=\"count-suppressed\">{}<", critical.len() + 1);
        assert!(html.contains(&count), "{count}");
        let suppressed = bin.run(&["findings", "--status", "suppressed", "--format", "csv"]);
        assert!(suppressed.status.success(), "{}", stderr(&suppressed));
        assert!(stdout(&suppressed).contains(&duplicate["fingerprint"]));
        let sheet = findings_rows(&workbook_path(&run2));
        let row = sheet
            .iter()
            .find(|r| r["fingerprint"] == duplicate["fingerprint"])
            .unwrap();
        assert_eq!(row["status"], "suppressed");
        assert!(row["Decision"].starts_with("Not a problem ("), "{row:?}");
        assert_eq!(row["Justification"], "The HR feed is wrong for this user");
        let action = std::fs::read_to_string(run2.join("mail/action-list-110000001B.eml")).unwrap();
        let message = mail_parser::MessageParser::default()
            .parse(action.as_bytes())
            .unwrap();
        let text = message.body_text(0).unwrap();
        assert!(!text.contains("tterm"), "{text}");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains("already decided (accepted risk, or not a problem)"),
            "{text}"
        );

        // kmorgan's services change; the finding's detail does not: it needs a decision again.
        let changed = bin.run(&[
            "accounts",
            "update-services",
            "kmorgan",
            "--pidsl",
            "110000001C",
            "--services",
            "PORTAL;REFERRALS",
            "--by",
            "sdubois",
        ]);
        assert!(changed.status.success(), "{}", stderr(&changed));
        let result = review_with(&bin, out.path(), "2026-10-20", &["--fail-on", "critical"]);
        assert!(result.status.success(), "{}", stderr(&result));
        let run3 = run_folder(&result);
        let third = findings(&run3);
        let again = &third[&duplicate["fingerprint"]];
        assert_eq!(again["status"], "open", "[{}]", db.backend);
        assert_eq!(again["detail"], duplicate["detail"], "the same detail");
        let row = findings_rows(&workbook_path(&run3))
            .into_iter()
            .find(|r| r["fingerprint"] == duplicate["fingerprint"])
            .unwrap();
        assert_eq!(row["Decision"], "", "no decision any more");
        let tterm = critical.iter().find(|r| r["username"] == "tterm").unwrap();
        assert_eq!(third[&tterm["fingerprint"]]["status"], "suppressed");

        // A Not a problem recorded before facts were kept (an earlier Keep, migrated) is
        // carried, but never suppresses.
        let run3_id = run3.file_name().unwrap().to_str().unwrap();
        let iold = rows
            .iter()
            .find(|r| r["rule"] == "stale-user" && r["username"] == "iold")
            .unwrap();
        db.execute(&format!(
            "INSERT INTO decisions (run_id, fingerprint, decision, justification, reviewer, \
             decided_at, accepted_until) VALUES ('{run3_id}', '{}', 'Not a problem', \
             'needed', 'Dana', {}, NULL)",
            iold["fingerprint"],
            common::sql_time("2026-10-21T12:00:00Z".parse().unwrap())
        ));
        let run4 = review(&bin, out.path(), "2026-10-25");
        assert_eq!(findings(&run4)[&iold["fingerprint"]]["status"], "open");
        let row = findings_rows(&workbook_path(&run4))
            .into_iter()
            .find(|r| r["fingerprint"] == iold["fingerprint"])
            .unwrap();
        assert!(row["Decision"].starts_with("Not a problem ("), "{row:?}");
    }
}

/// The action list of `pidsl` a dry run wrote, parsed: its text (whitespace collapsed) and
/// its attachments (name, bytes).
fn action_list(run_dir: &Path, pidsl: &str) -> (String, Vec<(String, Vec<u8>)>) {
    let raw = std::fs::read(run_dir.join(format!("mail/action-list-{pidsl}.eml"))).unwrap();
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let text = message.body_text(0).unwrap();
    let attachments = message
        .attachments()
        .map(|a| {
            (
                mail_parser::MimeHeaders::attachment_name(a)
                    .unwrap_or_default()
                    .to_string(),
                a.contents().to_vec(),
            )
        })
        .collect();
    (
        text.split_whitespace().collect::<Vec<_>>().join(" "),
        attachments,
    )
}

/// The decision workbook `pidsl`'s action list carries, saved as `dir/<its name>`.
fn decision_workbook(run_dir: &Path, pidsl: &str, dir: &Path) -> PathBuf {
    let run_id = run_dir.file_name().unwrap().to_str().unwrap();
    let (_, attachments) = action_list(run_dir, pidsl);
    let name = format!("decide-{run_id}-{pidsl}.xlsx");
    let (_, bytes) = attachments
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("{pidsl}'s action list carries {name}"));
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The access rows of scenario4: (username, pidsl).
fn scenario4_access() -> Vec<(String, String)> {
    read_csv(&scenario4().join("access.csv"))
        .into_iter()
        .map(|r| (r["username"].clone(), r["pidsl"].clone()))
        .collect()
}

#[test]
fn each_action_list_carries_a_decision_workbook_of_its_own_pidsl_only() {
    for db in TestDb::all() {
        let out = tempfile::tempdir().unwrap();
        let (bin, run1) = reviewed(&db, out.path());
        // An accepted risk on 110000001B, shown in its next workbook though not listed.
        let rows = read_csv(&run1.join("findings.csv"));
        let backup = rows
            .iter()
            .find(|r| r["rule"] == "missing-backup" && r["pidsl"] == "110000001B")
            .unwrap();
        let csv = out.path().join("accept.csv");
        std::fs::write(
            &csv,
            format!(
                "fingerprint,decision,justification,reviewer\n{},Accept risk,Hiring one,Dana\n",
                backup["fingerprint"]
            ),
        )
        .unwrap();
        let result = bin.run(&["decisions", "import", csv.to_str().unwrap()]);
        assert!(result.status.success(), "{}", stderr(&result));
        let run2 = review(&bin, out.path(), "2026-10-15");
        let findings2 = findings(&run2);
        let access = scenario4_access();
        let mut lists = 0;
        for entry in std::fs::read_dir(run2.join("mail")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let Some(pidsl) = name
                .strip_prefix("action-list-")
                .and_then(|n| n.strip_suffix(".eml"))
            else {
                continue;
            };
            lists += 1;
            let (text, attachments) = action_list(&run2, pidsl);
            assert_eq!(attachments.len(), 1, "{name}: one workbook");
            assert!(
                text.contains("send it back to your compliance officer")
                    && text.contains("Fix in POSC: ")
                    && text.contains("Accept risk: ")
                    && text.contains("Not a problem: "),
                "{text}"
            );
            let path = decision_workbook(&run2, pidsl, out.path());
            let mut workbook: Xlsx<_> = open_workbook(&path).unwrap();
            assert_eq!(
                workbook.sheet_names(),
                ["How to decide", "Findings", "User Access"]
            );
            let property = workbook
                .workbook_properties()
                .unwrap()
                .custom_properties
                .get(posc_review::report::xlsx::PIDSL_PROPERTY)
                .cloned();
            assert_eq!(property.as_deref(), Some(pidsl));
            let members: Vec<&str> = access
                .iter()
                .filter(|(_, p)| p == pidsl)
                .map(|(u, _)| u.as_str())
                .collect();
            let sheet = findings_rows(&path);
            for row in &sheet {
                let ours = row["pidsl"] == pidsl
                    || (row["pidsl"].is_empty() && members.contains(&row["username"].as_str()));
                assert!(ours, "[{}] {pidsl}'s workbook holds {row:?}", db.backend);
                assert_eq!(
                    findings2[&row["fingerprint"]]["status"], row["status"],
                    "a finding of the run"
                );
            }
            // Every finding naming the PID/SL, and as many as the action list says it found.
            let naming = findings2.values().filter(|f| f["pidsl"] == pidsl).count();
            assert_eq!(sheet.iter().filter(|r| r["pidsl"] == pidsl).count(), naming);
            assert!(
                text.contains(&format!("found {} finding", sheet.len())),
                "{pidsl}: {} rows; {text}",
                sheet.len()
            );
            let user_access = workbook.worksheet_range("User Access").unwrap();
            let mut access_rows = user_access.rows();
            let header: Vec<String> = access_rows.next().unwrap().iter().map(text_of).collect();
            let col = header.iter().position(|h| h == "pidsl").unwrap();
            let on: Vec<String> = access_rows.map(|r| text_of(&r[col])).collect();
            assert_eq!(on.len(), members.len(), "{pidsl}: its access rows");
            assert!(on.iter().all(|p| p == pidsl), "{pidsl}: {on:?}");
            if pidsl == "110000001B" {
                let accepted = sheet
                    .iter()
                    .find(|r| r["fingerprint"] == backup["fingerprint"])
                    .expect("the accepted finding is in the workbook");
                assert_eq!(accepted["status"], "accepted");
                assert!(
                    accepted["Decision"].starts_with("Accept risk ("),
                    "{accepted:?}"
                );
            }
        }
        assert!(lists >= 4, "[{}] {lists} action lists", db.backend);
    }
}

fn text_of(cell: &Data) -> String {
    text(cell)
}

#[test]
fn a_decision_workbook_decides_only_its_own_pidsl_s_findings() {
    for db in TestDb::all() {
        let out = tempfile::tempdir().unwrap();
        let (bin, run1) = reviewed(&db, out.path());
        let run_id = run1.file_name().unwrap().to_str().unwrap().to_string();
        let path = decision_workbook(&run1, "110000001A", out.path());
        let rows = read_csv(&run1.join("findings.csv"));
        let fingerprint = |rule: &str, pidsl: &str, username: &str| {
            rows.iter()
                .find(|r| r["rule"] == rule && r["pidsl"] == pidsl && r["username"] == username)
                .map(|r| r["fingerprint"].clone())
                .unwrap_or_else(|| panic!("no {rule} {pidsl} {username}"))
        };
        let own = fingerprint("overbroad-grant", "110000001A", "ewalsh");
        // nsmith has access on 110000001A: the finding about no PID/SL is its to decide too.
        let own_user = fingerprint("duplicate-identity", "", "nsmith");
        let other_pidsl = fingerprint("missing-backup", "110000001B", "");
        // cjones has access on 110000001B only.
        let other_user = fingerprint("stale-user", "", "cjones");
        let sheet = findings_sheet(&path).len();
        let edited = out.path().join("decided.xlsx");
        with_added_rows(
            &path,
            &edited,
            &[
                decided(&run_id, &own, "Fix in POSC"),
                decided(&run_id, &other_pidsl, "Accept risk"),
                decided(&run_id, &own_user, "Not a problem"),
                decided(&run_id, &other_user, "Fix in POSC"),
            ],
        );
        let result = bin.run(&[
            "decisions",
            "import",
            edited.to_str().unwrap(),
            "--reviewer",
            "gpatel",
        ]);
        assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
        let err = stderr(&result);
        let place = |n: usize| format!("{}:Findings:{}: ", edited.display(), sheet + n);
        assert!(
            err.contains(&format!(
                "{}the finding {other_pidsl} of run {run_id} is about PID/SL 110000001B, but \
                 this is PID/SL 110000001A's decision workbook",
                place(2)
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "{}the finding {other_user} of run {run_id} is about user \"cjones\" of \
                 organization \"ORG-GP\", who has no access on PID/SL 110000001A",
                place(4)
            )),
            "{err}"
        );
        assert!(
            !err.contains(&place(1)) && !err.contains(&place(3)),
            "{err}"
        );
        assert!(decisions_json(&bin, &[]).is_empty(), "[{}]", db.backend);

        with_added_rows(
            &path,
            &edited,
            &[
                decided(&run_id, &own, "Fix in POSC"),
                decided(&run_id, &own_user, "Not a problem"),
            ],
        );
        let result = bin.run(&[
            "decisions",
            "import",
            edited.to_str().unwrap(),
            "--reviewer",
            "gpatel",
        ]);
        assert!(result.status.success(), "{}", stderr(&result));
        assert_eq!(decisions_json(&bin, &[]).len(), 2, "[{}]", db.backend);
    }
}

#[test]
fn a_decision_workbook_too_large_to_attach_is_named_and_kept_in_the_run_s_folder() {
    let db = TestDb::sqlite();
    let out = tempfile::tempdir().unwrap();
    let mut bin = Bin::new(&db);
    bin.env
        .push(("POSC_REVIEW__MAIL__MAX_ATTACHMENT_MB".into(), "0".into()));
    let imported = bin.run(&["import", scenario4().to_str().unwrap()]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    let run = review(&bin, out.path(), AS_OF);
    let run_id = run.file_name().unwrap().to_str().unwrap();
    let (text, attachments) = action_list(&run, "110000001A");
    assert!(attachments.is_empty());
    let name = format!("decide-{run_id}-110000001A.xlsx");
    assert!(
        text.contains(&format!("The workbook {name} (0.0 MB), in which you decide each finding, is too large to attach: ask your compliance officer for it")),
        "{text}"
    );
    let kept = run.join("decide").join(&name);
    assert_eq!(
        findings_rows(&kept)[0]["pidsl"].len(),
        10,
        "a workbook of findings"
    );
}
