//! `posc-review decisions`: a reviewed workbook round-trips (decisions recorded, accepted risk
//! shown as accepted in the next run until it expires, earlier decisions pre-filled in the next
//! workbook), CSV imports work, and a bad row records nothing — on SQLite and PostgreSQL.

mod common;

use calamine::{open_workbook, Data, DataType, Reader, Xlsx};
use common::{read_csv, scenario4, stderr, stdout, Bin, TestDb};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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

/// findings.csv of a run, by fingerprint.
fn findings(run_dir: &Path) -> HashMap<String, HashMap<String, String>> {
    read_csv(&run_dir.join("findings.csv"))
        .into_iter()
        .map(|r| (r["fingerprint"].clone(), r))
        .collect()
}

/// Two findings of the run to decide about: (accept-risk one, keep one), both of ORG-GP
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
                (&kept, "Keep", "Needed for month-end billing"),
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

        // The next run: the accepted finding shows as accepted, the kept one stays open with
        // its decision pre-filled.
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
            decision.starts_with("Keep (") && decision.ends_with(", alice)"),
            "{decision}"
        );
        assert_eq!(
            kept_row[col("Justification")],
            "Needed for month-end billing"
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
                (&first, "Keep", "fine"),
                (&second, "Remove access", "left the practice"),
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
            &[(&first, "Keep", "fine"), (&second, "Accept risk", "")],
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
                "fingerprint,decision,justification,reviewer\n{first},Keep,ok,bob\n{second},Maybe,?,bob\n"
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
                 {run_id},{second},change services,,,\n"
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
        assert_eq!(by_fp(&second)["decision"], "Change services");
        assert_eq!(by_fp(&second)["reviewer"], "carol");
        let text = bin.run(&["decisions", "list"]);
        assert!(stdout(&text).contains("Vendor contract ends in March"));
    }
}
