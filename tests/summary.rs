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
