//! summary.html across reviews: the trend chart once a scope has two reviews, the
//! per-organization table with the organizations' names, and counts with thousands
//! separators — on SQLite and PostgreSQL.

mod common;

use common::{copy_snapshot, scenario4, stderr, stdout, Bin, TestDb};
use std::path::{Path, PathBuf};

/// Reviews the store as of the fixture's date; returns the run's folder.
fn review(bin: &Bin, out: &Path) -> PathBuf {
    let result = bin.run(&[
        "review",
        "--as-of",
        "2026-10-01",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let outcome: serde_json::Value = serde_json::from_str(&stdout(&result)).unwrap();
    PathBuf::from(outcome["out_dir"].as_str().unwrap())
}

fn import(bin: &Bin, dir: &Path) {
    let out = bin.run(&["import", dir.to_str().unwrap()]);
    assert!(out.status.success(), "import failed: {}", stderr(&out));
}

fn summary_html(run: &Path) -> String {
    std::fs::read_to_string(run.join("summary.html")).unwrap()
}

/// The raw management report of Riverbend Family Health Group (ORG-GP) in a dry run.
fn management_mail(run: &Path) -> String {
    let path = std::fs::read_dir(run.join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("management-ORG-GP"))
        .expect("ORG-GP's management report");
    std::fs::read_to_string(path).unwrap()
}

/// The trend chart of the page, from `<svg` to `</svg>`.
fn chart(html: &str) -> &str {
    let start = html.find("<svg").expect("the page has the trend chart");
    let end = html[start..].find("</svg>").expect("the chart is closed") + start;
    &html[start..end + "</svg>".len()]
}

#[test]
fn the_second_review_draws_the_trend_and_lists_each_organization_by_name() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let first_run = review(&bin, out.path());
        let first = summary_html(&first_run);
        assert!(
            first.contains("The trend starts at the next review."),
            "[{}]",
            db.backend
        );
        assert!(!first.contains("<svg"), "[{}]", db.backend);
        let trend_image = "Content-Type: image/png";
        assert!(
            !management_mail(&first_run).contains(trend_image),
            "[{}] one review draws no trend in the mail",
            db.backend
        );

        // Fix one problem between the reviews: 110000001B gets a backup.
        let fixed = copy_snapshot(&scenario4());
        let path = fixed.path().join("access.csv");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("sdubois,110000001B,backup,PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL;CLAIMS;REPORTS;FINANCIAL;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE,2026-10-02,\n");
        std::fs::write(&path, text).unwrap();
        import(&bin, fixed.path());
        let second_run = review(&bin, out.path());
        let second = summary_html(&second_run);
        // The management mail carries the organization's chart as an inline image.
        let mail = management_mail(&second_run);
        assert!(mail.contains(trend_image), "[{}]", db.backend);
        assert!(
            mail.contains("Content-ID: <trend@posc-review>"),
            "[{}]",
            db.backend
        );
        assert!(mail.contains("cid:trend@posc-review"), "[{}]", db.backend);

        assert!(
            !second.contains("The trend starts at the next review."),
            "[{}]",
            db.backend
        );
        let svg = chart(&second);
        assert_eq!(second.matches("<svg").count(), 1, "[{}]", db.backend);
        // Two points of four severities, and the legend's four dots.
        assert_eq!(svg.matches("<circle").count(), 12, "[{}] {svg}", db.backend);
        assert_eq!(
            svg.matches(">\nOct 1\n</text>").count(),
            2,
            "[{}]",
            db.backend
        );
        for name in ["Critical", "High", "Medium", "Low"] {
            assert!(
                svg.contains(&format!(">\n{name}\n</text>")),
                "[{}] {name}",
                db.backend
            );
        }
        assert!(second.contains("at the last 2 reviews of this scope"));

        // The per-organization table: every organization with findings, by name and id.
        let table_start = second.find(r#"<table id="organizations">"#).unwrap();
        let table =
            &second[table_start..second[table_start..].find("</table>").unwrap() + table_start];
        for (name, id) in [
            ("Riverbend Family Health Group", "ORG-GP"),
            ("Maple Grove Nursing Center", "ORG-LTC"),
            ("Harborview Community Hospital", "ORG-HOSP"),
        ] {
            assert!(
                table.contains(&format!("<td>{name}</td><td>{id}</td>")),
                "[{}] {name} missing from {table}",
                db.backend
            );
        }
        // Names beside ids in the other lists too.
        let urgent_start = second.find(r#"<table id="urgent">"#).unwrap();
        assert!(second[urgent_start..]
            .contains(r#"Riverbend Family Health Group <span class="id">(ORG-GP)</span>"#));
    }
}

/// A whole-store review of the scenario4 fixture: a page without a chart yet, with the table
/// of its organizations, and the findings per organization adding up to the total.
#[test]
fn a_whole_store_review_of_scenario4_lists_its_organizations() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    import(&bin, &scenario4());
    let out = tempfile::tempdir().unwrap();
    let html = summary_html(&review(&bin, out.path()));
    assert!(html.contains("every organization (4 organizations)"));
    assert!(html.contains("<h2>Findings per organization</h2>"));
    let total: usize = html
        .split(r#"id="count-total">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    let table_start = html.find(r#"<table id="organizations">"#).unwrap();
    let table = &html[table_start..html[table_start..].find("</table>").unwrap() + table_start];
    let per_org: usize = table
        .split("<tr id=\"org-")
        .skip(1)
        .map(|row| {
            // The third cell: the organization's findings.
            row.split("<td class=\"num\">")
                .nth(1)
                .and_then(|s| s.split('<').next())
                .unwrap()
                .replace(',', "")
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(per_org, total);
    assert!(!html.contains("more organization"));
}

/// The text of a cell (numbers as whole numbers).
fn cell_text(cell: &calamine::Data) -> String {
    match cell {
        calamine::Data::Float(n) => format!("{n}"),
        other => other.to_string(),
    }
}

/// A written message's plain-text and HTML parts.
fn mail_parts(raw: &str) -> (String, String) {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
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

/// The management report of `org_id` in a dry run.
fn org_mail(run: &Path, org_id: &str) -> String {
    let path = std::fs::read_dir(run.join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.to_string_lossy()
                .contains(&format!("management-{org_id}"))
        })
        .unwrap_or_else(|| panic!("{org_id}'s management report"));
    std::fs::read_to_string(path).unwrap()
}

/// The number in `html` after `id="ID">`.
fn counted(html: &str, id: &str) -> String {
    html.split(&format!(r#"id="{id}">"#))
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_else(|| panic!("no {id}"))
        .to_string()
}

/// The review loop in the reports: after a review, two Fix in POSC decisions (one carried out
/// before the next review, one not), reminders to two of Riverbend's PID/SLs and its
/// escalation, and a reminder to Maple Grove that failed. The next review's summary.html,
/// Summary sheet and Riverbend's management report say the same per organization and in all;
/// Maple Grove's report carries none of Riverbend's.
#[test]
fn the_reports_show_each_organizations_decisions_and_follow_up() {
    for db in TestDb::all() {
        let tag = db.backend;
        let bin = Bin::new(&db);
        import(&bin, &scenario4());
        let out = tempfile::tempdir().unwrap();
        let first = review(&bin, out.path());
        let run_id = first.file_name().unwrap().to_str().unwrap().to_string();
        let findings = common::read_csv(&first.join("findings.csv"));
        let fingerprint = |rule: &str, pidsl: &str| {
            findings
                .iter()
                .find(|f| f["rule"] == rule && f["pidsl"] == pidsl)
                .map(|f| f["fingerprint"].clone())
                .unwrap()
        };
        let csv = out.path().join("decisions.csv");
        std::fs::write(
            &csv,
            format!(
                "run_id,fingerprint,decision,justification,reviewer,accepted_until\n\
                 {run_id},{},Fix in POSC,,carol,\n{run_id},{},Fix in POSC,,carol,\n",
                fingerprint("missing-backup", "110000001B"),
                fingerprint("missing-primary", "110000001C"),
            ),
        )
        .unwrap();
        let imported = bin.run(&["decisions", "import", csv.to_str().unwrap()]);
        assert!(imported.status.success(), "[{tag}] {}", stderr(&imported));

        // The follow-ups as the reminder step queues them (outbox kinds reminder and
        // escalation, keys <run>:<kind>:<unit>).
        let at = common::sql_time("2026-10-15T14:00:00Z".parse().unwrap());
        let mut sql = String::new();
        for (kind, unit, state) in [
            ("reminder", "110000001A", "sent"),
            ("reminder", "110000001B", "pending"),
            ("escalation", "ORG-GP", "sent"),
            ("reminder", "110000002A", "failed"),
        ] {
            let key = format!("{run_id}:{kind}:{unit}");
            sql.push_str(&format!(
                "INSERT INTO outbox (idempotency_key, run_id, kind, recipient, to_addresses, \
                 subject, state, attempts, next_attempt_at, created_at) VALUES ('{key}', \
                 '{run_id}', '{kind}', '{unit}', 'a@example.org', 'Reminder', '{state}', 1, \
                 {at}, {at});\n\
                 INSERT INTO outbox_messages (idempotency_key, message) VALUES ('{key}', 'x');\n"
            ));
        }
        db.execute(&sql);

        // The backup decided for 110000001B is in place by the next review.
        let fixed = copy_snapshot(&scenario4());
        let path = fixed.path().join("access.csv");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("sdubois,110000001B,backup,PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL;CLAIMS;REPORTS;FINANCIAL;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE,2026-10-02,\n");
        std::fs::write(&path, text).unwrap();
        import(&bin, fixed.path());
        let second = review(&bin, out.path());

        // summary.html: the totals, and Riverbend's row.
        let html = summary_html(&second);
        for (id, expected) in [
            ("count-decided", "1"),
            ("count-not-done", "1"),
            ("count-remediated", "1"),
            ("count-reminded", "2"),
            ("count-escalated", "1"),
        ] {
            assert_eq!(counted(&html, id), expected, "[{tag}] {id}");
        }
        let table_start = html.find(r#"<table id="organizations">"#).unwrap();
        let table = &html[table_start..html[table_start..].find("</table>").unwrap() + table_start];
        let row = |org_id: &str| -> Vec<String> {
            let start = table.find(&format!("<td>{org_id}</td>")).unwrap();
            let end = table[start..].find("</tr>").unwrap() + start;
            table[start..end]
                .split("<td")
                .skip(1)
                .map(|c| {
                    c.split('>')
                        .nth(1)
                        .unwrap()
                        .split('<')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .collect()
        };
        // Findings, 4 severities, decided, pending, overdue, not done, remediated, reminded,
        // escalated.
        let gp = row("ORG-GP");
        assert_eq!(gp[6], "1", "[{tag}] {gp:?}");
        assert_eq!(gp[9..], ["1", "1", "2", "yes"], "[{tag}] {gp:?}");
        assert_eq!(row("ORG-LTC")[9..], ["0", "0", "0", "no"], "[{tag}]");

        // The Summary sheet: the totals in its decisions table and Riverbend's line.
        let second_id = second.file_name().unwrap().to_str().unwrap();
        let workbook = second.join(posc_review::report::xlsx::workbook_file_name(second_id));
        let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(&workbook).unwrap();
        let sheet = calamine::Reader::worksheet_range(&mut workbook, "Summary").unwrap();
        let value = |label: &str| {
            sheet
                .rows()
                .find(|r| cell_text(&r[0]) == label)
                .map(|r| cell_text(&r[1]))
                .unwrap_or_else(|| panic!("[{tag}] no row {label}"))
        };
        assert_eq!(
            value("Decided but not done (Fix in POSC, still found)"),
            "1"
        );
        assert_eq!(value("Remediated after a decision"), "1");
        assert_eq!(value("PID/SLs reminded about the last review"), "2");
        assert_eq!(value("Organizations escalated about the last review"), "1");
        let riverbend = sheet
            .rows()
            .find(|r| cell_text(&r[0]) == "Riverbend Family Health Group (ORG-GP)")
            .map(|r| cell_text(&r[6]))
            .unwrap();
        assert!(
            riverbend
                .contains("1 decided but not done; 1 remediated; 2 PID/SLs reminded; escalated"),
            "[{tag}] {riverbend}"
        );

        // Riverbend's management report: its own counts, in both parts.
        let (text, html) = mail_parts(&org_mail(&second, "ORG-GP"));
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains("1 decided but not done")
                && text.contains(
                    "1 remediated after a decision; 2 PID/SLs reminded; escalated to management."
                ),
            "[{tag}] {text}"
        );
        assert_eq!(counted(&html, "loop-not-done"), "1");
        assert_eq!(counted(&html, "loop-remediated"), "1");
        assert_eq!(counted(&html, "loop-reminded"), "2");
        assert_eq!(counted(&html, "loop-escalated"), "yes");
        // Maple Grove's: its failed reminder does not count, and nothing of Riverbend's.
        let (text, html) = mail_parts(&org_mail(&second, "ORG-LTC"));
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains("0 remediated after a decision; 0 PID/SLs reminded; not escalated."),
            "[{tag}] {text}"
        );
        assert_eq!(counted(&html, "loop-reminded"), "0");
        assert!(!html.contains("ORG-GP") && !text.contains("Riverbend"));
    }
}
