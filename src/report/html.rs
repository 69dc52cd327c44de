//! `summary.html`: the run's management summary as one self-contained page (inline CSS, no
//! external assets, a print stylesheet), rendered from `templates/summary.html.j2`, which
//! extends `_layout.html.j2` and uses the macros of `_summary.html.j2`, the same family the
//! management email builds on. Every value is HTML-escaped by the template engine.

use super::summary::Summary;
use crate::mail::compose::OrgProblem;
use crate::templates::Templates;
use anyhow::Context;
use std::path::Path;

/// The template of the summary page.
pub const SUMMARY_TEMPLATE: &str = "summary.html.j2";

/// The program's name and version, shown in the page footer.
pub fn generator() -> String {
    format!("{} {}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
}

/// How many organizations the page's per-organization table lists (most findings first); the
/// rest are counted, and the workbook has them all. A statewide run has 20,000.
pub const MAX_ORGS_LISTED: usize = 100;

/// The trend chart's title on the page.
pub const TREND_TITLE: &str = "Open findings by severity at the last reviews";

/// The summary page as HTML; `problems` are the organizations whose output could not be
/// produced.
///
/// Besides `summary`, the template gets `trend_svg`: the trend chart as an SVG document (our
/// own output, every text in it escaped by plotters) when the trend has two points or more,
/// else none; `orgs_listed`, the first [`MAX_ORGS_LISTED`] of `summary.by_org`, and
/// `orgs_more`, how many it leaves out; `org_names`, the name of each other organization the
/// page lists (critical and high findings, PID/SLs, problems), by org_id.
pub fn render_summary(
    templates: &Templates,
    summary: &Summary,
    problems: &[OrgProblem],
) -> anyhow::Result<String> {
    let trend_svg = if summary.trend.len() >= 2 {
        Some(super::trend::svg(&summary.trend, TREND_TITLE)?)
    } else {
        None
    };
    let listed = summary.by_org.len().min(MAX_ORGS_LISTED);
    // The names of the organizations the page lists, by org_id (those with findings: the
    // summary's per-organization counts carry their names).
    let on_page: std::collections::HashSet<&str> = summary
        .urgent
        .iter()
        .map(|f| f.org_id.as_str())
        .chain(summary.top_pidsls.iter().map(|p| p.org_id.as_str()))
        .chain(problems.iter().map(|p| p.org_id.as_str()))
        .collect();
    let org_names: std::collections::HashMap<&str, &str> = summary
        .by_org
        .iter()
        .filter(|o| on_page.contains(o.org_id.as_str()) && !o.name.is_empty())
        .map(|o| (o.org_id.as_str(), o.name.as_str()))
        .collect();
    templates.render(
        SUMMARY_TEMPLATE,
        serde_json::json!({
            "summary": summary,
            "problems": problems,
            "generator": generator(),
            "trend_svg": trend_svg,
            "orgs_listed": &summary.by_org[..listed],
            "orgs_more": summary.by_org.len() - listed,
            "org_names": org_names,
        }),
    )
}

/// Writes the summary page to `path`.
pub fn write_summary(
    path: &Path,
    templates: &Templates,
    summary: &Summary,
    problems: &[OrgProblem],
) -> anyhow::Result<()> {
    let html = render_summary(templates, summary, problems)?;
    crate::files::write(path, html).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FindingStatus::{Accepted, New, Open};
    use crate::domain::RuleId::{MissingBackup, MissingPrimary, StaleUser};
    use crate::domain::Severity;
    use crate::report::summary::tests::{finding, run};
    use crate::snapshot::Snapshot;

    fn render(findings: &[crate::records::FindingRow]) -> String {
        let summary = Summary::new(&run(3), findings, &Snapshot::default());
        render_summary(&Templates::load("").unwrap(), &summary, &[]).unwrap()
    }

    #[test]
    fn the_page_shows_every_count() {
        let html = render(&[
            finding(MissingPrimary, "ORG-A", "110000001A", New),
            finding(MissingBackup, "ORG-A", "110000001A", Open),
            finding(StaleUser, "ORG-A", "", Accepted),
        ]);
        for needle in [
            r#"id="count-total">3<"#,
            r#"id="count-critical">1<"#,
            r#"id="count-high">1<"#,
            r#"id="count-medium">1<"#,
            r#"id="count-low">0<"#,
            r#"id="count-new">1<"#,
            r#"id="count-open">1<"#,
            r#"id="count-accepted">1<"#,
            r#"id="count-resolved">3<"#,
            "110000001A",
            "20261001-001",
        ] {
            assert!(html.contains(needle), "{needle} missing");
        }
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = render(&[]);
        for external in ["<link", "<script", "src=", "@import", "url("] {
            assert!(!html.contains(external), "{external} in the page");
        }
        assert!(html.contains("@media print"));
    }

    #[test]
    fn data_is_escaped() {
        let mut f = finding(StaleUser, "ORG-A", "", New);
        f.user_name = "<script>alert(1)</script>".into();
        f.username = "x".into();
        f.severity = Severity::High;
        let html = render(&[f]);
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)"));
    }

    fn render_summary_of(summary: &Summary) -> String {
        render_summary(&Templates::load("").unwrap(), summary, &[]).unwrap()
    }

    fn point(run_id: &str, day: u32, critical: usize) -> crate::records::TrendPoint {
        let mut open = crate::store::zero_counts();
        open.insert(Severity::Critical, critical);
        crate::records::TrendPoint {
            run_id: run_id.into(),
            as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, day).unwrap(),
            open,
        }
    }

    #[test]
    fn the_trend_is_drawn_from_its_second_review_on() {
        let findings = [finding(MissingPrimary, "ORG-A", "110000001A", New)];
        let mut summary = Summary::new(&run(0), &findings, &Snapshot::default());
        summary.trend = vec![point("20261001-001", 1, 1)];
        let first = render_summary_of(&summary);
        assert!(first.contains("The trend starts at the next review."));
        assert!(!first.contains("<svg"));

        summary.trend.insert(0, point("20260901-001", 1, 3));
        let html = render_summary_of(&summary);
        assert!(!html.contains("The trend starts at the next review."));
        let chart = &html[html.find("<svg").unwrap()..];
        assert!(chart.contains("</svg>"));
        // Under the severity counts, before the status tables.
        let (cards, svg, status) = (
            html.find(r#"id="count-low""#).unwrap(),
            html.find("<svg").unwrap(),
            html.find(r#"<table id="status">"#).unwrap(),
        );
        assert!(cards < svg && svg < status);
        assert!(html.contains("at the last 2 reviews"));
    }

    #[test]
    fn organizations_are_listed_by_name_in_a_table_of_at_most_a_hundred() {
        let snapshot = Snapshot {
            orgs: (0..150)
                .map(|i| {
                    crate::report::summary::tests::org(
                        &format!("ORG-{i:03}"),
                        crate::domain::Cadence::Annual,
                    )
                })
                .collect(),
            ..Snapshot::default()
        };
        let findings: Vec<_> = (0..150)
            .flat_map(|i| {
                let org = format!("ORG-{i:03}");
                // ORG-000 has the most findings, so it is listed first.
                let n = if i == 0 { 3 } else { 1 };
                (0..n).map(move |_| finding(StaleUser, &org, "", New))
            })
            .collect();
        let summary = Summary::new(&run(0), &findings, &snapshot);
        let html = render_summary_of(&summary);
        let table = &html[html.find(r#"<table id="organizations">"#).unwrap()..];
        let table = &table[..table.find("</table>").unwrap()];
        assert_eq!(table.matches("<tr id=\"org-").count(), MAX_ORGS_LISTED);
        assert!(table.contains(
            r#"<tr id="org-1"><td>ORG-000 name</td><td>ORG-000</td><td class="num">3</td>"#
        ));
        assert!(html.contains("50 more organizations with findings in the workbook"));
        // One organization: no table.
        let one = Summary::new(&run(0), &findings[..1], &snapshot);
        let mut one = one;
        one.organizations = 1;
        assert!(!render_summary_of(&one).contains(r#"<table id="organizations">"#));
    }

    #[test]
    fn counts_have_thousands_separators() {
        let findings: Vec<_> = (0..1234)
            .map(|i| {
                let mut f = finding(StaleUser, "ORG-A", "", New);
                f.fingerprint = format!("f{i}");
                f
            })
            .collect();
        let html = render(&findings);
        for needle in [
            r#"id="count-total">1,234<"#,
            r#"id="count-new">1,234<"#,
            r#"id="count-pending">1,234<"#,
            r#"<td class="num">1,234</td>"#,
        ] {
            assert!(html.contains(needle), "{needle} missing");
        }
    }
}
