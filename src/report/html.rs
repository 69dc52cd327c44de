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

/// The summary page as HTML; `problems` are the organizations whose output could not be
/// produced.
pub fn render_summary(
    templates: &Templates,
    summary: &Summary,
    problems: &[OrgProblem],
) -> anyhow::Result<String> {
    templates.render(
        SUMMARY_TEMPLATE,
        serde_json::json!({ "summary": summary, "problems": problems, "generator": generator() }),
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
}
