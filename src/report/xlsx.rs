//! The review workbook, `review-<run-id>.xlsx`: what a compliance officer opens and keeps as
//! the record of the review.
//!
//! Sheets: Summary (the run's numbers, a chart of them on the first screen, the trend, the
//! organizations with most findings), How to decide (what each Decision means and what happens
//! next, written from [`Decision`] so that it follows the drop-down), Findings (one row per
//! finding: whose access it is, then the reviewer's Decision and Justification, then the
//! rest), Administrators (an organization's workbook only: who administers each of its active
//! PID/SLs), User Access (one row per user and PID/SL, one column per service) and Rules (what
//! each rule checks and the policy it enforces). A PID/SL's decision workbook, which its action
//! list carries, is the same writer with How to decide, Findings and User Access only
//! ([`decision_workbook`]). Findings and User Access are written in
//! constant-memory mode, row by row, so a statewide run does not hold the sheets in memory; a
//! sheet that would pass Excel's row limit continues on "Findings (2)", "User Access (2)" and
//! so on.
//!
//! Laid out for deciding: the Findings panes freeze the header row and the columns that say
//! whose access a row is, so the reviewer on row 500 still sees them; every sheet prints
//! landscape, one page wide, the header row repeated. Neither Excel nor LibreOffice sizes a row
//! to wrapped text it did not lay out itself (Excel keeps the height the file gives), so each
//! row with wrapped text gets a height computed here from its text and column widths
//! ([`wrapped_lines`]): words wrapped at spaces, one character per unit of column width, which
//! errs on the tall side for ordinary text in Calibri 11. Label columns are as wide as their
//! longest label. Even in constant-memory mode rust_xlsxwriter keeps each row height it is
//! given until the workbook is saved (its row options, about 250 bytes with the map's share):
//! as the remediation wraps, every finding has one, some 70 MB for the 269,263 findings of a
//! statewide run (estimated from the struct sizes, not measured on a full run).
//!
//! Every cell that comes from data is written with `write_string`, `write_number` or
//! `write_date`: never a formula, whatever the text looks like (`=HYPERLINK(...)` stays text),
//! and text that starts like a formula carries Excel's quote prefix, so that editing the cell
//! in Excel does not turn it into one.
//! Personal data (dob_mmdd, ssn_last4) is never read here.

use super::summary::{Summary, SEVERITIES};
use super::PidSlAdmins;
use crate::config::WorkbookUserAccess;
use crate::domain::{Decision, RuleId, ServiceCode, Severity};
use crate::records::{FindingRow, RunRecord};
use crate::rules::RULES;
use crate::snapshot::Snapshot;
use anyhow::Context;
use chrono_tz::Tz;
use indicatif::ProgressBar;
use rust_xlsxwriter::{
    Chart, ChartAxis, ChartFormat, ChartLine, ChartMarker, ChartMarkerType, ChartPoint,
    ChartSolidFill, Color, DataValidation, DocProperties, Format, FormatAlign, FormatBorder,
    Workbook, Worksheet,
};
use std::path::{Path, PathBuf};

/// Why the whole-run workbook leaves User Access out, for a run of `rows` access rows under
/// `review.workbook_user_access`; `None`: it writes the sheet. `auto` leaves it out only when
/// the rows would need more than one sheet: more sheets cost a third of a statewide review's
/// time and open slowly, and access.csv has every row anyway.
pub fn user_access_left_out(rows: usize, setting: WorkbookUserAccess) -> Option<String> {
    let one_sheet = EXCEL_MAX_ROWS as usize - 1;
    match setting {
        WorkbookUserAccess::Always => None,
        WorkbookUserAccess::Auto if rows <= one_sheet => None,
        WorkbookUserAccess::Auto => Some(format!(
            "User Access left out of this workbook: the run has {}, more than one sheet holds; \
             access.csv has every row",
            crate::output::count(thousands(rows), "access row")
        )),
        WorkbookUserAccess::Never => Some(format!(
            "User Access left out of this workbook by review.workbook_user_access = false; \
             access.csv has every row ({})",
            crate::output::count(thousands(rows), "access row")
        )),
    }
}

/// Above this many rows a data sheet is written in constant-memory mode.
const CONSTANT_MEMORY_ROWS: usize = 50_000;

/// Rows in an Excel sheet, the header included.
pub const EXCEL_MAX_ROWS: u32 = 1_048_576;

/// The choices of the Findings sheet's Decision column: "Fix in POSC, Accept risk or Not a
/// problem".
fn decision_choices() -> String {
    let labels: Vec<&str> = Decision::ALL.iter().map(|d| d.as_str()).collect();
    let (last, first) = labels.split_last().expect("decisions");
    format!("{} or {last}", first.join(", "))
}

/// What [`write_workbook`] writes: one run's summary and findings (already chosen by the
/// caller), and the snapshot's access rows that `access` keeps.
pub struct WorkbookInput<'a> {
    /// The Summary sheet's numbers; `None`: a PID/SL's decision workbook, which holds How to
    /// decide, Findings and User Access only (no Summary, no Rules).
    pub summary: Option<&'a Summary>,
    /// By reference: an organization's and a PID/SL's findings are picked from the run's.
    pub findings: &'a [&'a FindingRow],
    pub snapshot: &'a Snapshot,
    /// Indices into `snapshot.access` of the rows User Access holds; `None`: every row.
    pub access: Option<&'a [u32]>,
    /// Rows per sheet, header included; [`EXCEL_MAX_ROWS`] except in tests.
    pub rows_per_sheet: u32,
    /// Advanced by one per finding and per access row of the snapshot (kept or not).
    pub progress: Option<&'a ProgressBar>,
    /// Whether the User Access sheet is written; without it the Summary says where the rows
    /// are (access.csv).
    pub access_sheet: bool,
    /// The configured time zone, for the dates of the earlier decisions a row carries.
    pub zone: Tz,
    /// Who administers each active PID/SL: an organization's workbook has an Administrators
    /// sheet of them; `None`: no such sheet (the whole-run workbook).
    pub administrators: Option<&'a [PidSlAdmins]>,
}

impl<'a> WorkbookInput<'a> {
    /// A workbook of these findings and every access row of the snapshot.
    pub fn new(
        summary: &'a Summary,
        findings: &'a [&'a FindingRow],
        snapshot: &'a Snapshot,
        zone: Tz,
    ) -> WorkbookInput<'a> {
        WorkbookInput {
            summary: Some(summary),
            findings,
            snapshot,
            zone,
            access: None,
            rows_per_sheet: EXCEL_MAX_ROWS,
            progress: None,
            access_sheet: true,
            administrators: None,
        }
    }

    /// Adds the Administrators sheet, of these PID/SLs (an organization's own).
    pub fn with_administrators(mut self, administrators: &'a [PidSlAdmins]) -> Self {
        self.administrators = Some(administrators);
        self
    }

    /// Leaves the User Access sheet out (see [`user_access_left_out`]); the Summary sheet
    /// says why when the summary carries the reason.
    pub fn without_access_sheet(mut self) -> Self {
        self.access_sheet = false;
        self
    }

    fn access_rows(&self) -> usize {
        self.access.map_or(self.snapshot.access.len(), <[u32]>::len)
    }

    /// Only these access rows (see [`super::run_access_rows`], [`super::access_rows_by_org`]).
    pub fn with_access(mut self, rows: &'a [u32]) -> Self {
        self.access = Some(rows);
        self
    }

    pub fn with_rows_per_sheet(mut self, rows: u32) -> Self {
        self.rows_per_sheet = rows.clamp(2, EXCEL_MAX_ROWS);
        self
    }

    pub fn with_progress(mut self, bar: &'a ProgressBar) -> Self {
        self.progress = Some(bar);
        self
    }

    /// The progress total that `progress` is advanced to: findings plus access rows written.
    pub fn progress_total(&self) -> u64 {
        let access = if self.access_sheet {
            self.access_rows()
        } else {
            0
        };
        (self.findings.len() + access) as u64
    }
}

/// The custom document property that names the organization whose workbook this is (Excel
/// shows it under File > Info > Properties > Advanced > Custom: no cell holds it).
/// `decisions import` accepts from such a workbook only that organization's findings.
pub const ORG_PROPERTY: &str = "posc-review organization";

/// `review-<run-id>.xlsx`.
pub fn workbook_file_name(run_id: &str) -> String {
    format!("review-{run_id}.xlsx")
}

/// `review-<run-id>-<org_id>.xlsx`, the org_id made [file-safe](super::file_safe) (unique
/// per organization).
pub fn org_workbook_file_name(run_id: &str, org_id: &str) -> String {
    format!("review-{run_id}-{}.xlsx", super::file_safe(org_id))
}

/// Writes one organization's workbook, `dir/review-<run-id>-<org_id>.xlsx`: its own findings
/// (`findings` must be that organization's only), the access rows on its PID/SLs or of its
/// users (`access_rows`, from [`super::access_rows_by_org`]), its own `summary` (see
/// [`super::summary::SummaryOptions::for_org`]), and an Administrators sheet of its active
/// PID/SLs. Returns the file and its bytes, for the management report to attach without
/// reading the file back.
#[allow(clippy::too_many_arguments)]
pub fn write_org_workbook(
    dir: &Path,
    run: &RunRecord,
    findings: &[&FindingRow],
    snapshot: &Snapshot,
    org: u32,
    access_rows: &[u32],
    summary: &Summary,
    zone: Tz,
) -> anyhow::Result<(PathBuf, Vec<u8>)> {
    let org_id = &snapshot.orgs[org as usize].org_id;
    let path = dir.join(org_workbook_file_name(&run.id, org_id));
    let administrators = super::administrators_of_org(snapshot, org, run.as_of);
    let input = WorkbookInput::new(summary, findings, snapshot, zone)
        .with_access(access_rows)
        .with_administrators(&administrators);
    let write = || -> anyhow::Result<Vec<u8>> {
        let mut workbook = build(&input, None)?;
        workbook.set_properties(
            &DocProperties::new().set_custom_property(ORG_PROPERTY, org_id.as_str()),
        );
        let bytes = workbook.save_to_buffer()?;
        crate::files::write(&path, &bytes)?;
        Ok(bytes)
    };
    let bytes = write().with_context(|| format!("cannot write the workbook {}", path.display()))?;
    Ok((path, bytes))
}

/// The custom document property that names the PID/SL whose decision workbook this is (as
/// [`ORG_PROPERTY`] names an organization): `decisions import` accepts from such a workbook
/// only that PID/SL's findings.
pub const PIDSL_PROPERTY: &str = "posc-review PID/SL";

/// `decide-<run-id>-<pidsl>.xlsx`, the PID/SL made [file-safe](super::file_safe).
pub fn decision_workbook_file_name(run_id: &str, pidsl: &str) -> String {
    format!("decide-{run_id}-{}.xlsx", super::file_safe(pidsl))
}

/// A PID/SL's decision workbook, which its action list carries: How to decide, the findings
/// the action list is about (`findings`, whatever their status, earlier decisions pre-filled),
/// and User Access of the access rows on the PID/SL only; [`PIDSL_PROPERTY`] names the PID/SL.
/// Returns its bytes (the message holds it; no file is written).
pub fn decision_workbook(
    findings: &[&FindingRow],
    snapshot: &Snapshot,
    pidsl: u32,
    zone: Tz,
) -> anyhow::Result<Vec<u8>> {
    let access: Vec<u32> = snapshot.access_range_on(pidsl).map(|i| i as u32).collect();
    let input = WorkbookInput {
        summary: None,
        findings,
        snapshot,
        zone,
        access: Some(&access),
        rows_per_sheet: EXCEL_MAX_ROWS,
        progress: None,
        access_sheet: true,
        administrators: None,
    };
    let name = snapshot.pidsl(pidsl).pidsl.as_str();
    let mut workbook = build(&input, None)?;
    workbook.set_properties(&DocProperties::new().set_custom_property(PIDSL_PROPERTY, name));
    Ok(workbook.save_to_buffer()?)
}

/// Writes the workbook to `path` (replacing it).
pub fn write_workbook(path: &Path, input: &WorkbookInput) -> anyhow::Result<()> {
    write(path, input).with_context(|| format!("cannot write the workbook {}", path.display()))
}

fn write(path: &Path, input: &WorkbookInput) -> anyhow::Result<()> {
    // The constant-memory sheets' temporary files go beside the workbook, not in a /tmp that
    // may be small or in memory.
    let mut workbook = build(input, path.parent().filter(|d| !d.as_os_str().is_empty()))?;
    // The zip writer writes to an unbuffered file in small pieces otherwise.
    let mut file = std::io::BufWriter::with_capacity(1 << 20, crate::files::create(path)?);
    workbook.save_to_writer(&mut file)?;
    std::io::Write::flush(&mut file)?;
    if let Some(bar) = input.progress {
        bar.finish_and_clear();
    }
    Ok(())
}

/// The workbook of `input`, ready to save; constant-memory sheets keep their rows in
/// temporary files in `tempdir` (the system's by default).
fn build(input: &WorkbookInput, tempdir: Option<&Path>) -> anyhow::Result<Workbook> {
    let formats = &*FORMATS;
    let mut workbook = Workbook::new();
    if let Some(dir) = tempdir {
        workbook.set_tempdir(dir)?;
    }
    // Compressing the XML at the default level (6) took a quarter of a statewide run, in the
    // whole-run workbook and in the ten thousand attached to mail alike; level 1 saves a
    // third of a workbook's time for a file 60 % larger.
    workbook.set_zip_compression_level(1);
    if let Some(summary) = input.summary {
        write_summary_sheet(workbook.add_worksheet(), summary, formats)?;
    }
    write_instructions_sheet(workbook.add_worksheet(), formats)?;
    write_findings_sheets(&mut workbook, input, formats)?;
    if let Some(administrators) = input.administrators {
        write_administrators_sheet(workbook.add_worksheet(), administrators, formats)?;
    }
    if input.access_sheet {
        write_access_sheets(&mut workbook, input, formats)?;
    }
    if input.summary.is_some() {
        write_rules_sheet(workbook.add_worksheet(), formats)?;
    }
    Ok(workbook)
}

/// The cell formats, made once: a run writes a workbook per organization and per action list.
static FORMATS: std::sync::LazyLock<Formats> = std::sync::LazyLock::new(Formats::new);

/// The cell formats. Data cells are aligned to the top, so that a row
/// made taller by one wrapped cell still reads across.
struct Formats {
    title: Format,
    header: Format,
    /// The header of a column of counts, aligned with them.
    header_count: Format,
    /// The header of a text column right of counts, indented as its cells.
    header_indented: Format,
    label: Format,
    /// A section's title on the Summary.
    section: Format,
    date: Format,
    /// Text in a data cell.
    text: Format,
    wrap: Format,
    /// Wrapped text right of a column of counts, set off from them.
    wrap_indented: Format,
    /// Text that looks like a formula: Excel keeps it text when the cell is edited.
    quoted: Format,
    quoted_wrap: Format,
    /// A count, with thousands separators.
    count: Format,
    /// A value the data does not hold ("not on file").
    missing: Format,
    critical: Format,
    high: Format,
    medium: Format,
    low: Format,
}

impl Formats {
    fn new() -> Formats {
        let severity = |fill: u32, font: u32| {
            Format::new()
                .set_background_color(Color::RGB(fill))
                .set_font_color(Color::RGB(font))
                .set_bold()
                .set_align(FormatAlign::Top)
        };
        let top = || Format::new().set_align(FormatAlign::Top);
        let header = Format::new()
            .set_bold()
            .set_background_color(Color::RGB(0x1F4E78))
            .set_font_color(Color::White)
            .set_border_bottom(FormatBorder::Thin)
            .set_align(FormatAlign::Top);
        Formats {
            title: Format::new().set_bold().set_font_size(16),
            header_count: header.clone().set_align(FormatAlign::Right),
            header_indented: header.clone().set_align(FormatAlign::Left).set_indent(1),
            header,
            label: Format::new().set_bold().set_align(FormatAlign::Top),
            section: Format::new()
                .set_bold()
                .set_font_size(13)
                .set_font_color(Color::RGB(0x1F4E78)),
            date: top()
                .set_align(FormatAlign::Left)
                .set_num_format("yyyy-mm-dd"),
            text: top(),
            wrap: top().set_text_wrap(),
            wrap_indented: top()
                .set_align(FormatAlign::Left)
                .set_text_wrap()
                .set_indent(1),
            quoted: top().set_quote_prefix(),
            quoted_wrap: top().set_quote_prefix().set_text_wrap(),
            count: top().set_num_format("#,##0"),
            missing: top().set_italic().set_font_color(Color::RGB(0x808080)),
            critical: severity(0xC00000, 0xFFFFFF),
            high: severity(0xF8CBAD, 0x833C0B),
            medium: severity(0xFFEB9C, 0x7F6000),
            low: severity(0xDDEBF7, 0x1F4E78),
        }
    }

    /// The colour of a severity.
    fn severity(&self, severity: Severity) -> &Format {
        match severity {
            Severity::Critical => &self.critical,
            Severity::High => &self.high,
            Severity::Medium => &self.medium,
            Severity::Low => &self.low,
        }
    }
}

/// The chart colour of each severity, matching the cell colours.
fn severity_colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "#C00000",
        Severity::High => "#ED7D31",
        Severity::Medium => "#FFC000",
        Severity::Low => "#5B9BD5",
    }
}

/// A severity as its table heading: "Critical".
fn severity_heading(severity: Severity) -> String {
    let name = severity.as_str();
    name[..1].to_ascii_uppercase() + &name[1..]
}

fn write_severity(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    severity: Severity,
    formats: &Formats,
) -> anyhow::Result<()> {
    sheet.write_string_with_format(row, col, severity.as_str(), formats.severity(severity))?;
    Ok(())
}

/// Writes text as a string cell. A string is never a formula, but Excel turns one that starts
/// with `=`, `+`, `-` or `@` into a live formula as soon as the cell is edited: such text gets
/// the quote-prefix format (the apostrophe Excel shows and keeps), so it stays text.
fn write_text(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    text: impl AsRef<str>,
    formats: &Formats,
) -> anyhow::Result<()> {
    let text = text.as_ref();
    if super::looks_like_formula(text) {
        sheet.write_string_with_format(row, col, text, &formats.quoted)?;
    } else {
        sheet.write_string(row, col, text)?;
    }
    Ok(())
}

/// [`write_text`] aligned to the top, wrapped when `wrap`.
fn write_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    text: &str,
    wrap: bool,
    formats: &Formats,
) -> anyhow::Result<()> {
    let format = match (super::looks_like_formula(text), wrap) {
        (false, false) => &formats.text,
        (false, true) => &formats.wrap,
        (true, false) => &formats.quoted,
        (true, true) => &formats.quoted_wrap,
    };
    sheet.write_string_with_format(row, col, text, format)?;
    Ok(())
}

fn write_count(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    count: usize,
    formats: &Formats,
) -> anyhow::Result<()> {
    sheet.write_number_with_format(row, col, count as f64, &formats.count)?;
    Ok(())
}

fn write_header(
    sheet: &mut Worksheet,
    columns: &[(&str, f64)],
    formats: &Formats,
) -> anyhow::Result<()> {
    for (col, (name, width)) in columns.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *name, &formats.header)?;
        sheet.set_column_width(col as u16, *width)?;
    }
    Ok(())
}

/// Landscape, one page wide (as many long as it takes), the header row on every page.
fn print_setup(sheet: &mut Worksheet, header_row: Option<u32>) -> anyhow::Result<()> {
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    if let Some(row) = header_row {
        sheet.set_repeat_rows(row, row)?;
    }
    Ok(())
}

/// Characters of ordinary text in Calibri 11 that one unit of column width (the width of a
/// digit) holds, at the least: an average lower-case letter is about 0.85 of a digit, a space
/// less; text in capitals fills more, and takes a line more than counted.
const CHARACTERS_PER_WIDTH: f64 = 1.1;

/// The points of one line of text in Calibri 11, the workbook's font.
const LINE_POINTS: f64 = 15.0;

/// Excel's tallest row, in points.
const MAX_ROW_POINTS: f64 = 409.0;

/// How many lines `text` takes in a wrapped cell `width` characters wide (Excel's column width
/// unit, the width of a digit): words are wrapped at spaces onto lines of
/// [`CHARACTERS_PER_WIDTH`] characters a unit, less one for the cell's margins; a longer word
/// is broken, and a newline starts a line. The spreadsheets also break after hyphens, so this
/// errs on the tall side rather than the cut one.
fn wrapped_lines(text: &str, width: f64) -> usize {
    let capacity = (width * CHARACTERS_PER_WIDTH - 1.0).floor().max(1.0) as usize;
    let mut lines = 0;
    for paragraph in text.split('\n') {
        let mut line = 0usize;
        lines += 1;
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            let len = word.chars().count();
            let needed = if line == 0 { len } else { line + 1 + len };
            if needed <= capacity {
                line = needed;
                continue;
            }
            if line > 0 {
                lines += 1;
            }
            // A word longer than a line is broken over as many as it takes.
            lines += (len - 1) / capacity;
            line = (len - 1) % capacity + 1;
        }
    }
    lines
}

/// The height of a row whose tallest cell takes `lines` lines, within Excel's limit.
fn row_points(lines: usize) -> f64 {
    (lines as f64 * LINE_POINTS).min(MAX_ROW_POINTS)
}

/// Gives `row` the height of its tallest wrapped cell, `(text, width)` each; a row of one line
/// keeps the default.
fn fit_row<'t>(
    sheet: &mut Worksheet,
    row: u32,
    cells: impl IntoIterator<Item = (&'t str, f64)>,
) -> anyhow::Result<()> {
    let lines = cells
        .into_iter()
        .map(|(text, width)| wrapped_lines(text, width))
        .max()
        .unwrap_or(1);
    if lines > 1 {
        sheet.set_row_height(row, row_points(lines))?;
    }
    Ok(())
}

/// The width of a column that holds these texts: the longest, and a margin, between `min` and
/// `max` (a longer text wraps).
fn fitted_width<'t>(texts: impl IntoIterator<Item = &'t str>, min: f64, max: f64) -> f64 {
    let longest = texts
        .into_iter()
        .map(|t| t.chars().count())
        .max()
        .unwrap_or(0);
    (longest as f64 + 2.0).clamp(min, max)
}

/// "Riverbend Health (ORG-RIV)", or the org_id alone when the organization has no name.
fn org_label(org_id: &str, name: &str) -> String {
    if name.is_empty() {
        org_id.to_string()
    } else {
        format!("{name} ({org_id})")
    }
}

/// How many organizations the Summary lists with their findings.
pub const TOP_ORGS: usize = 20;

/// The Summary's columns: A holds the labels, names and rule ids (as wide as the longest), B
/// to F counts and short values, G (and D to G merged) longer text.
const SUMMARY_NUMBER_WIDTH: f64 = 12.0;
const SUMMARY_TEXT_WIDTH: f64 = 60.0;
/// What an indent of one level takes from a column's width.
const INDENT_WIDTH: f64 = 2.0;
/// The width of D to G merged.
const SUMMARY_WIDE_WIDTH: f64 = 3.0 * SUMMARY_NUMBER_WIDTH + SUMMARY_TEXT_WIDTH;

/// The Summary's labels in column A: those written by [`write_summary_sheet`] itself.
const SUMMARY_LABELS: [&str; 16] = [
    "Critical and high findings",
    SINCE_LAST_REVIEW,
    "Open (seen before)",
    RESOLVED_SINCE,
    "Reviewer decisions",
    "Pending (no decision)",
    "Overdue (no decision, older than the cadence)",
    NOT_DONE,
    REMEDIATED,
    REMINDED,
    ESCALATED,
    "Open findings at the last reviews",
    "Findings per organization",
    "Findings per rule",
    "PID/SLs with the most findings",
    "Organization",
];

/// The Summary's status table and the review loop's counts (see `DecisionCounts`).
const SINCE_LAST_REVIEW: &str = "Since each organization's last review";
const RESOLVED_SINCE: &str = "Resolved (gone since the organization's last review)";
const NOT_DONE: &str = "Decided but not done (Fix in POSC, still found)";
const REMEDIATED: &str = "Remediated after a decision";
const REMINDED: &str = "PID/SLs reminded about the last review";
const ESCALATED: &str = "Organizations escalated about the last review";

/// Summary: the run, its counts beside a chart of the findings per severity (the first
/// screen), the trend of open findings, the organizations and the PID/SLs with the most
/// findings, and the findings per rule; why User Access is left out, when it is.
fn write_summary_sheet(
    sheet: &mut Worksheet,
    summary: &Summary,
    formats: &Formats,
) -> anyhow::Result<()> {
    sheet.set_name("Summary")?;
    let top_orgs = &summary.by_org[..summary.by_org.len().min(TOP_ORGS)];
    let org_labels: Vec<String> = top_orgs
        .iter()
        .map(|o| org_label(&o.org_id, &o.name))
        .collect();
    let label_width = fitted_width(
        SUMMARY_LABELS
            .iter()
            .copied()
            .chain(summary.by_rule.iter().map(|r| r.rule.as_str()))
            .chain(org_labels.iter().map(String::as_str))
            .chain(summary.top_pidsls.iter().map(|p| p.name.as_str())),
        30.0,
        60.0,
    );
    sheet.set_column_width(0, label_width)?;
    for col in 1..=5 {
        sheet.set_column_width(col, SUMMARY_NUMBER_WIDTH)?;
    }
    sheet.set_column_width(6, SUMMARY_TEXT_WIDTH)?;

    sheet.write_string_with_format(
        0,
        0,
        format!("Access review {}", summary.run_id),
        &formats.title,
    )?;
    sheet.set_row_height(0, 21)?;
    sheet.write_string_with_format(
        1,
        0,
        format!(
            "To decide: pick a Decision for each row of the Findings sheet and say why under \
             Justification; the sheet \"{INSTRUCTIONS_SHEET}\" says what each decision means."
        ),
        &formats.text,
    )?;

    sheet.write_string_with_format(2, 0, "Run", &formats.label)?;
    write_cell(sheet, 2, 1, &summary.run_id, false, formats)?;
    sheet.write_string_with_format(3, 0, "As of", &formats.label)?;
    sheet.write_date_with_format(3, 1, summary.as_of, &formats.date)?;
    sheet.write_string_with_format(4, 0, "Scope", &formats.label)?;
    write_cell(sheet, 4, 1, &summary.scope, false, formats)?;
    sheet.write_string_with_format(5, 0, "Findings", &formats.label)?;
    write_count(sheet, 5, 1, summary.total, formats)?;
    sheet.write_string_with_format(6, 0, "Critical and high findings", &formats.label)?;
    write_count(sheet, 6, 1, summary.urgent_total, formats)?;
    if let Some(reason) = &summary.user_access_left_out {
        sheet.write_string_with_format(7, 0, "User Access", &formats.label)?;
        sheet.write_string_with_format(7, 1, reason, &formats.text)?;
    }

    // The first screen: three small tables in A and B, the chart of the severities beside them.
    let mut row = 9;
    let chart_row = row;
    sheet.write_string_with_format(row, 0, SINCE_LAST_REVIEW, &formats.header)?;
    sheet.write_string_with_format(row, 1, "Findings", &formats.header_count)?;
    let status = &summary.status;
    for (label, count) in [
        ("New", status.new),
        ("Open (seen before)", status.open),
        ("Accepted", status.accepted),
        ("Suppressed (Not a problem)", status.suppressed),
        (RESOLVED_SINCE, status.resolved),
    ] {
        row += 1;
        sheet.write_string_with_format(row, 0, label, &formats.text)?;
        write_count(sheet, row, 1, count, formats)?;
    }
    row = write_decision_counts(sheet, row + 2, summary, formats)?;

    row += 2;
    sheet.write_string_with_format(row, 0, "Severity", &formats.header)?;
    sheet.write_string_with_format(row, 1, "Findings", &formats.header_count)?;
    let first_severity_row = row + 1;
    for count in &summary.by_severity {
        row += 1;
        write_severity(sheet, row, 0, count.severity, formats)?;
        write_count(sheet, row, 1, count.count, formats)?;
    }
    let last_severity_row = row;

    // A plain column chart of the severity table, right of the tables: Excel and LibreOffice
    // both draw it from the cells (numbers, not formulas).
    let points: Vec<ChartPoint> = summary
        .by_severity
        .iter()
        .map(|c| {
            ChartPoint::new().set_format(
                ChartFormat::new()
                    .set_solid_fill(ChartSolidFill::new().set_color(severity_colour(c.severity))),
            )
        })
        .collect();
    let mut chart = Chart::new_column();
    chart
        .add_series()
        .set_name("Findings")
        .set_categories(("Summary", first_severity_row, 0, last_severity_row, 0))
        .set_values(("Summary", first_severity_row, 1, last_severity_row, 1))
        .set_points(&points);
    chart.title().set_name("Findings per severity");
    chart.legend().set_hidden();
    count_axis(
        chart.y_axis().set_name("Findings"),
        summary.by_severity.iter().map(|c| c.count),
    );
    chart.set_width(520).set_height(300);
    sheet.insert_chart_with_offset(chart_row, 2, &chart, 12, 0)?;

    row = write_trend(sheet, row + 2, summary, formats)?;
    if summary.by_org.len() > 1 || summary.organizations > 1 {
        row = write_org_counts(sheet, row + 2, summary, &org_labels, label_width, formats)?;
    }

    row += 2;
    sheet.write_string_with_format(row, 0, "Findings per rule", &formats.section)?;
    row += 1;
    sheet.write_string_with_format(row, 0, "Rule", &formats.header)?;
    sheet.write_string_with_format(row, 1, "Severity", &formats.header)?;
    sheet.write_string_with_format(row, 2, "Findings", &formats.header_count)?;
    sheet.merge_range(row, 3, row, 6, "What it checks", &formats.header_indented)?;
    for count in &summary.by_rule {
        row += 1;
        write_cell(sheet, row, 0, count.rule.as_str(), true, formats)?;
        write_severity(sheet, row, 1, count.severity, formats)?;
        write_count(sheet, row, 2, count.count, formats)?;
        sheet.merge_range(row, 3, row, 6, count.checks, &formats.wrap_indented)?;
        fit_row(
            sheet,
            row,
            [
                (count.rule.as_str(), label_width),
                (count.checks, SUMMARY_WIDE_WIDTH - INDENT_WIDTH),
            ],
        )?;
    }

    row += 2;
    sheet.write_string_with_format(row, 0, "PID/SLs with the most findings", &formats.section)?;
    row += 1;
    sheet.write_string_with_format(row, 0, "Name", &formats.header)?;
    sheet.write_string_with_format(row, 1, "PID/SL", &formats.header)?;
    sheet.write_string_with_format(row, 2, "Findings", &formats.header_count)?;
    sheet.merge_range(row, 3, row, 6, "Organization", &formats.header_indented)?;
    if summary.top_pidsls.is_empty() {
        row += 1;
        sheet.write_string_with_format(row, 0, "No finding concerns a PID/SL.", &formats.text)?;
    }
    for top in &summary.top_pidsls {
        row += 1;
        write_cell(sheet, row, 0, &top.name, true, formats)?;
        write_cell(sheet, row, 1, &top.pidsl, false, formats)?;
        write_count(sheet, row, 2, top.findings, formats)?;
        let org = summary
            .by_org
            .iter()
            .find(|o| o.org_id == top.org_id)
            .map_or_else(|| top.org_id.clone(), |o| org_label(&o.org_id, &o.name));
        let format = if super::looks_like_formula(&org) {
            &formats.quoted_wrap
        } else {
            &formats.wrap_indented
        };
        sheet.merge_range(row, 3, row, 6, &org, format)?;
        fit_row(
            sheet,
            row,
            [
                (top.name.as_str(), label_width),
                (org.as_str(), SUMMARY_WIDE_WIDTH - INDENT_WIDTH),
            ],
        )?;
    }
    print_setup(sheet, None)?;
    Ok(())
}

/// A chart's axis of counts: whole numbers with thousands separators, and for small counts a
/// step of one and a step of headroom (a scale of 0 to 1 in fifths would label 0, 0, 0, 1, 1).
fn count_axis(axis: &mut ChartAxis, counts: impl Iterator<Item = usize>) {
    axis.set_num_format("#,##0").set_min(0);
    let max = counts.max().unwrap_or(0);
    if max < 10 {
        axis.set_max((max + 1) as f64).set_major_unit(1);
    }
}

/// The open findings by severity at the last reviews, a table and a line chart of it, from
/// `row` on; returns the last row used. Fewer than two reviews make no line: a sentence says
/// when it starts.
fn write_trend(
    sheet: &mut Worksheet,
    mut row: u32,
    summary: &Summary,
    formats: &Formats,
) -> anyhow::Result<u32> {
    sheet.write_string_with_format(
        row,
        0,
        "Open findings at the last reviews",
        &formats.section,
    )?;
    if summary.trend.len() < 2 {
        row += 1;
        sheet.write_string_with_format(
            row,
            0,
            "The trend starts at the next review: it needs two reviews of this scope.",
            &formats.text,
        )?;
        return Ok(row);
    }
    row += 1;
    let header_row = row;
    for (col, name) in ["Review date", "Run"].iter().enumerate() {
        sheet.write_string_with_format(row, col as u16, *name, &formats.header)?;
    }
    for (i, &severity) in SEVERITIES.iter().enumerate() {
        sheet.write_string_with_format(
            row,
            2 + i as u16,
            severity_heading(severity),
            &formats.header_count,
        )?;
    }
    for point in &summary.trend {
        row += 1;
        // The dates are the chart's categories: as text, so that two reviews on one day are
        // two points and neither spreadsheet turns the axis into a calendar.
        let date = point.as_of.format("%Y-%m-%d").to_string();
        sheet.write_string_with_format(row, 0, date, &formats.text)?;
        write_cell(sheet, row, 1, &point.run_id, false, formats)?;
        for (i, severity) in SEVERITIES.iter().enumerate() {
            let count = point.open.get(severity).copied().unwrap_or(0);
            write_count(sheet, row, 2 + i as u16, count, formats)?;
        }
    }
    let (first, last) = (header_row + 1, row);
    let mut chart = Chart::new_line();
    for (i, &severity) in SEVERITIES.iter().enumerate() {
        let col = 2 + i as u16;
        chart
            .add_series()
            .set_name(("Summary", header_row, col))
            .set_categories(("Summary", first, 0, last, 0))
            .set_values(("Summary", first, col, last, col))
            .set_format(
                ChartFormat::new().set_line(
                    ChartLine::new()
                        .set_color(severity_colour(severity))
                        .set_width(2.25),
                ),
            )
            .set_marker(
                ChartMarker::new()
                    .set_type(ChartMarkerType::Circle)
                    .set_size(6)
                    .set_format(ChartFormat::new().set_solid_fill(
                        ChartSolidFill::new().set_color(severity_colour(severity)),
                    )),
            );
    }
    chart.title().set_name("Open findings at the last reviews");
    count_axis(
        chart.y_axis().set_name("Open findings"),
        summary.trend.iter().flat_map(|p| p.open.values().copied()),
    );
    chart
        .legend()
        .set_position(rust_xlsxwriter::ChartLegendPosition::Bottom);
    chart.set_width(640).set_height(300);
    // Below the table, from column A: the chart takes the next 16 rows.
    sheet.insert_chart_with_offset(row + 2, 0, &chart, 0, 0)?;
    Ok(row + 2 + 16)
}

/// The organizations with the most findings (at most [`TOP_ORGS`]), by severity, decision and
/// follow-up, from `row` on; returns the last row used.
fn write_org_counts(
    sheet: &mut Worksheet,
    mut row: u32,
    summary: &Summary,
    labels: &[String],
    label_width: f64,
    formats: &Formats,
) -> anyhow::Result<u32> {
    let title = if summary.by_org.len() > TOP_ORGS {
        format!(
            "Findings per organization (the {TOP_ORGS} with most of the {})",
            summary.by_org.len()
        )
    } else {
        "Findings per organization".to_string()
    };
    sheet.write_string_with_format(row, 0, title, &formats.section)?;
    row += 1;
    sheet.write_string_with_format(row, 0, "Organization", &formats.header)?;
    sheet.write_string_with_format(row, 1, "Findings", &formats.header_count)?;
    for (i, &severity) in SEVERITIES.iter().enumerate() {
        sheet.write_string_with_format(
            row,
            2 + i as u16,
            severity_heading(severity),
            &formats.header_count,
        )?;
    }
    sheet.write_string_with_format(row, 6, "Reviewer decisions", &formats.header_indented)?;
    if summary.by_org.is_empty() {
        row += 1;
        sheet.write_string_with_format(row, 0, "No findings.", &formats.text)?;
    }
    for (org, label) in summary.by_org.iter().zip(labels) {
        row += 1;
        write_cell(sheet, row, 0, label, true, formats)?;
        write_count(sheet, row, 1, org.total, formats)?;
        for (i, severity) in SEVERITIES.iter().enumerate() {
            let count = org
                .by_severity
                .iter()
                .find(|c| c.severity == *severity)
                .map_or(0, |c| c.count);
            write_count(sheet, row, 2 + i as u16, count, formats)?;
        }
        let decisions = org_decisions(&org.decisions);
        sheet.write_string_with_format(row, 6, &decisions, &formats.wrap_indented)?;
        fit_row(
            sheet,
            row,
            [
                (label.as_str(), label_width),
                (decisions.as_str(), SUMMARY_TEXT_WIDTH - INDENT_WIDTH),
            ],
        )?;
    }
    Ok(row)
}

/// An organization's reviewer decisions and follow-up in words: "3 decided, 2 pending (1
/// overdue); 1 decided but not done; 2 remediated; 1 PID/SL reminded; escalated".
fn org_decisions(d: &crate::report::summary::DecisionCounts) -> String {
    let mut text = format!(
        "{} decided, {} pending ({} overdue); {} decided but not done; {} remediated; {} reminded",
        thousands(d.decided),
        thousands(d.pending),
        thousands(d.overdue),
        thousands(d.not_done),
        thousands(d.remediated),
        crate::output::count(thousands(d.reminded), "PID/SL"),
    );
    text.push_str(if d.escalated > 0 {
        "; escalated"
    } else {
        "; not escalated"
    });
    text
}

/// `1234567` as "1,234,567", for counts inside text.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(c);
    }
    text
}

/// The reviewer-decision counts from `row` on; returns the last row written.
fn write_decision_counts(
    sheet: &mut Worksheet,
    mut row: u32,
    summary: &Summary,
    formats: &Formats,
) -> anyhow::Result<u32> {
    sheet.write_string_with_format(row, 0, "Reviewer decisions", &formats.header)?;
    sheet.write_string_with_format(row, 1, "Findings", &formats.header_count)?;
    let decisions = &summary.decisions;
    for (label, count) in [
        ("Decided", decisions.decided),
        ("Pending (no decision)", decisions.pending),
        (
            "Overdue (no decision, older than the cadence)",
            decisions.overdue,
        ),
        (NOT_DONE, decisions.not_done),
        (REMEDIATED, decisions.remediated),
        (REMINDED, decisions.reminded),
        (ESCALATED, decisions.escalated),
    ] {
        row += 1;
        sheet.write_string_with_format(row, 0, label, &formats.text)?;
        write_count(sheet, row, 1, count, formats)?;
    }
    Ok(row)
}

/// How to decide: the steps, then each [`Decision`] with what it means and what happens next,
/// in the drop-down's order (a decision added to the enum appears here by itself).
fn write_instructions_sheet(sheet: &mut Worksheet, formats: &Formats) -> anyhow::Result<()> {
    sheet.set_name(INSTRUCTIONS_SHEET)?;
    let widths = [20.0, 55.0, 75.0];
    for (col, width) in widths.iter().enumerate() {
        sheet.set_column_width(col as u16, *width)?;
    }
    let all: f64 = widths.iter().sum();
    sheet.write_string_with_format(0, 0, "How to decide", &formats.title)?;
    sheet.set_row_height(0, 21)?;
    let steps = [
        "1. Go down the Findings sheet (filter it by pidsl or org_id). Its first columns say \
         whose access a row is: severity, rule, PID/SL and user; detail says what was found.",
        "2. Pick a Decision in the row's drop-down, and write why under Justification: who \
         decided, the ticket or contract, the date the fix was made.",
        "3. Give the workbook back to the compliance officer, who imports it \
         (posc-review decisions import). A row without a decision stays pending; it is \
         overdue once it is older than the organization's review cadence. A decision made \
         earlier is filled in already: leave it, or choose again.",
        "4. The steps that fix a finding are in its remediation column and on the Rules sheet.",
    ];
    let mut row = 1;
    for step in steps {
        row += 1;
        sheet.merge_range(row, 0, row, 2, step, &formats.wrap)?;
        fit_row(sheet, row, [(step, all)])?;
    }
    row += 2;
    for (col, name) in ["Decision", "What it means", "What happens next"]
        .iter()
        .enumerate()
    {
        sheet.write_string_with_format(row, col as u16, *name, &formats.header)?;
    }
    for decision in Decision::ALL {
        row += 1;
        sheet.write_string_with_format(row, 0, decision.as_str(), &formats.label)?;
        sheet.write_string_with_format(row, 1, decision.meaning(), &formats.wrap)?;
        sheet.write_string_with_format(row, 2, decision.next_step(), &formats.wrap)?;
        fit_row(
            sheet,
            row,
            [
                (decision.as_str(), widths[0]),
                (decision.meaning(), widths[1]),
                (decision.next_step(), widths[2]),
            ],
        )?;
    }
    print_setup(sheet, None)?;
    Ok(())
}

/// The name of the sheet that says what each decision means.
pub const INSTRUCTIONS_SHEET: &str = "How to decide";

/// The Administrators sheet's columns.
const ADMINISTRATORS_COLUMNS: [(&str, f64); 8] = [
    ("PID/SL", 12.0),
    ("PID/SL name", 28.0),
    ("Primary User", 26.0),
    ("Primary User email", 30.0),
    ("Primary User phone", 20.0),
    ("Backup", 26.0),
    ("Backup email", 30.0),
    ("Backup phone", 20.0),
];

/// What an Administrators cell says of a PID/SL without an active Primary User or backup.
pub const NO_ADMINISTRATOR: &str = "none";

/// What an Administrators cell says of an email or phone the account does not hold.
pub const NOT_ON_FILE: &str = "not on file";

/// Administrators: for each active PID/SL of the organization, its Primary User and backup
/// (name and username, email, phone), or "none" in the colour of the finding that is.
fn write_administrators_sheet(
    sheet: &mut Worksheet,
    administrators: &[PidSlAdmins],
    formats: &Formats,
) -> anyhow::Result<()> {
    sheet.set_name("Administrators")?;
    write_header(sheet, &ADMINISTRATORS_COLUMNS, formats)?;
    sheet.set_freeze_panes(1, 2)?;
    let mut row = 0;
    for pidsl in administrators {
        row += 1;
        // (column, text) of the row's wrapped cells, to fit its height to.
        let mut wrapped: Vec<(u16, String)> = vec![(1, pidsl.name.clone())];
        for (col, admin, missing) in [
            (2u16, &pidsl.primary, RuleId::MissingPrimary),
            (5, &pidsl.backup, RuleId::MissingBackup),
        ] {
            let Some(admin) = admin else {
                // In the colour of the finding the gap is.
                let format = formats.severity(missing.severity());
                sheet.write_string_with_format(row, col, NO_ADMINISTRATOR, format)?;
                continue;
            };
            wrapped.push((col, format!("{} ({})", admin.name, admin.username)));
            for (offset, contact) in [(1, &admin.email), (2, &admin.phone)] {
                if contact.is_empty() {
                    sheet.write_string_with_format(
                        row,
                        col + offset,
                        NOT_ON_FILE,
                        &formats.missing,
                    )?;
                } else {
                    wrapped.push((col + offset, contact.clone()));
                }
            }
        }
        write_cell(sheet, row, 0, &pidsl.pidsl, false, formats)?;
        for (col, text) in &wrapped {
            write_cell(sheet, row, *col, text, true, formats)?;
        }
        fit_row(
            sheet,
            row,
            wrapped
                .iter()
                .map(|(col, text)| (text.as_str(), ADMINISTRATORS_COLUMNS[*col as usize].1)),
        )?;
    }
    if administrators.is_empty() {
        sheet.write_string(1, 0, "The organization has no active PID/SL.")?;
    } else {
        sheet.autofilter(0, 0, row, ADMINISTRATORS_COLUMNS.len() as u16 - 1)?;
    }
    print_setup(sheet, Some(0))?;
    Ok(())
}

/// A sheet family in constant-memory mode that continues on "Name (2)", "Name (3)", ... when
/// a sheet is full.
struct PagedSheet<'c> {
    base: &'static str,
    /// Rows go to disk as they are written (large sheets); small sheets stay in memory, which
    /// is much faster for the thousands of small per-organization workbooks.
    constant_memory: bool,
    columns: &'c [(&'c str, f64)],
    /// The columns frozen at the left, with the header row: those that say whose row it is.
    frozen_columns: u16,
    rows_per_sheet: u32,
    /// The workbook index of the current sheet.
    index: usize,
    pages: u32,
    next_row: u32,
}

impl<'c> PagedSheet<'c> {
    fn start(
        workbook: &mut Workbook,
        base: &'static str,
        (columns, frozen_columns): (&'c [(&'c str, f64)], u16),
        rows_per_sheet: u32,
        formats: &Formats,
        rows: usize,
    ) -> anyhow::Result<Self> {
        let mut paged = PagedSheet {
            base,
            constant_memory: rows > CONSTANT_MEMORY_ROWS,
            columns,
            frozen_columns,
            rows_per_sheet,
            index: 0,
            pages: 0,
            next_row: 0,
        };
        paged.add_sheet(workbook, formats)?;
        Ok(paged)
    }

    fn add_sheet(&mut self, workbook: &mut Workbook, formats: &Formats) -> anyhow::Result<()> {
        self.pages += 1;
        let name = if self.pages == 1 {
            self.base.to_string()
        } else {
            format!("{} ({})", self.base, self.pages)
        };
        let sheet = if self.constant_memory {
            workbook.add_worksheet_with_constant_memory()?
        } else {
            workbook.add_worksheet()
        };
        sheet.set_name(name)?;
        sheet.set_freeze_panes(1, self.frozen_columns)?;
        print_setup(sheet, Some(0))?;
        write_header(sheet, self.columns, formats)?;
        self.index = workbook.worksheets().len() - 1;
        self.next_row = 1;
        Ok(())
    }

    /// The sheet and row to write the next record on; a full sheet is finished with `finish`
    /// and a new one started.
    fn next<'w>(
        &mut self,
        workbook: &'w mut Workbook,
        formats: &Formats,
        finish: &dyn Fn(&mut Worksheet, u32) -> anyhow::Result<()>,
    ) -> anyhow::Result<(&'w mut Worksheet, u32)> {
        if self.next_row >= self.rows_per_sheet {
            self.finish(workbook, finish)?;
            self.add_sheet(workbook, formats)?;
        }
        let row = self.next_row;
        self.next_row += 1;
        Ok((workbook.worksheet_from_index(self.index)?, row))
    }

    /// Applies `finish(sheet, last_row)` to the current sheet: autofilter, validation.
    fn finish(
        &self,
        workbook: &mut Workbook,
        finish: &dyn Fn(&mut Worksheet, u32) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let sheet = workbook.worksheet_from_index(self.index)?;
        let last_row = self.next_row - 1;
        sheet.autofilter(0, 0, last_row, self.columns.len() as u16 - 1)?;
        finish(sheet, last_row)
    }
}

fn tick(progress: Option<&ProgressBar>, done: u64) {
    if let Some(bar) = progress {
        if done.is_multiple_of(4096) {
            bar.set_position(done);
        }
    }
}

/// The Findings sheet's columns, in order, with their widths: whose access a row is (severity,
/// rule, PID/SL, user), then the reviewer's Decision and Justification, then the rest of
/// findings.csv's columns. `decisions import` finds its columns by these names, wherever they
/// stand.
pub const FINDINGS_SHEET_COLUMNS: [(&str, f64); 14] = [
    ("severity", 10.0),
    ("rule", 33.0),
    ("pidsl", 12.0),
    ("username", 14.0),
    ("user_name", 22.0),
    ("Decision", 20.0),
    ("Justification", 40.0),
    ("detail", 60.0),
    ("remediation", 70.0),
    ("status", 10.0),
    ("first_seen", 12.0),
    ("org_id", 14.0),
    ("run_id", 14.0),
    ("fingerprint", 26.0),
];

/// The Findings columns frozen at the left with the header row: severity, rule, pidsl,
/// username, user_name.
pub const FINDINGS_FROZEN_COLUMNS: u16 = 5;

/// The index of a Findings column.
fn findings_column(name: &str) -> u16 {
    FINDINGS_SHEET_COLUMNS
        .iter()
        .position(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no Findings column {name}")) as u16
}

/// The Decision column's drop-down, made once.
static DECISION_CHOICES: std::sync::LazyLock<DataValidation> = std::sync::LazyLock::new(|| {
    DataValidation::new()
        .allow_list_strings(&Decision::ALL.iter().map(|d| d.as_str()).collect::<Vec<_>>())
        .and_then(|v| v.set_input_title("Decision"))
        .and_then(|v| {
            v.set_input_message(format!(
                "{}; explain it under Justification.",
                decision_choices()
            ))
        })
        .and_then(|v| v.set_error_title("Not a decision"))
        .and_then(|v| v.set_error_message(format!("Choose {}.", decision_choices())))
        .expect("the decision labels fit a drop-down")
});

fn write_findings_sheets(
    workbook: &mut Workbook,
    input: &WorkbookInput,
    formats: &Formats,
) -> anyhow::Result<()> {
    let col = findings_column;
    let width = |name: &str| FINDINGS_SHEET_COLUMNS[col(name) as usize].1;
    let decision_col = col("Decision");
    let decision = &*DECISION_CHOICES;
    let finish = |sheet: &mut Worksheet, last_row: u32| -> anyhow::Result<()> {
        if last_row >= 1 {
            sheet.add_data_validation(1, decision_col, last_row, decision_col, decision)?;
        }
        Ok(())
    };

    let mut paged = PagedSheet::start(
        workbook,
        "Findings",
        (&FINDINGS_SHEET_COLUMNS, FINDINGS_FROZEN_COLUMNS),
        input.rows_per_sheet,
        formats,
        input.findings.len(),
    )?;
    let remediation_width = width("remediation");
    let wrapped = [
        ("username", col("username"), width("username")),
        ("user_name", col("user_name"), width("user_name")),
        ("Decision", decision_col, width("Decision")),
        (
            "Justification",
            col("Justification"),
            width("Justification"),
        ),
        ("detail", col("detail"), width("detail")),
        ("org_id", col("org_id"), width("org_id")),
    ];
    for (i, f) in input.findings.iter().enumerate() {
        let (sheet, row) = paged.next(workbook, formats, &finish)?;
        let remediation = f.remediation.as_str();
        let stamp = f
            .decision
            .as_ref()
            .map(|prior| crate::decisions::stamp(prior, input.zone));
        let justification = f.decision.as_ref().map(|p| p.justification.as_str());
        write_severity(sheet, row, col("severity"), f.severity, formats)?;
        write_cell(sheet, row, col("rule"), f.rule.as_str(), false, formats)?;
        write_cell(sheet, row, col("pidsl"), &f.pidsl, false, formats)?;
        let mut lines = wrapped_lines(remediation, remediation_width);
        for (name, c, w) in wrapped {
            let text = match name {
                "username" => Some(f.username.as_str()),
                "user_name" => Some(f.user_name.as_str()),
                // The last decision, stamped so that importing it unchanged records nothing
                // new, and its justification.
                "Decision" => stamp.as_deref(),
                "Justification" => justification,
                "detail" => Some(f.detail.as_str()),
                _ => Some(f.org_id.as_str()),
            };
            if let Some(text) = text {
                write_cell(sheet, row, c, text, true, formats)?;
                lines = lines.max(wrapped_lines(text, w));
            }
        }
        write_cell(sheet, row, col("remediation"), remediation, true, formats)?;
        write_cell(sheet, row, col("status"), f.status.as_str(), false, formats)?;
        sheet.write_date_with_format(row, col("first_seen"), f.first_seen, &formats.date)?;
        write_cell(sheet, row, col("run_id"), &f.run_id, false, formats)?;
        write_cell(
            sheet,
            row,
            col("fingerprint"),
            &f.fingerprint,
            false,
            formats,
        )?;
        if lines > 1 {
            sheet.set_row_height(row, row_points(lines))?;
        }
        tick(input.progress, i as u64 + 1);
    }
    paged.finish(workbook, &finish)
}

/// The access report's columns, then one per service.
const ACCESS_COLUMNS: [(&str, f64); 10] = [
    ("org_id", 16.0),
    ("pidsl", 12.0),
    ("username", 16.0),
    ("user_name", 22.0),
    ("user_org_id", 16.0),
    ("linked", 8.0),
    ("role", 12.0),
    ("last_login_at", 14.0),
    ("status", 10.0),
    ("terminated_on", 14.0),
];

/// The mark in a service column of a user who holds the service.
pub const SERVICE_MARK: &str = "x";

fn write_access_sheets(
    workbook: &mut Workbook,
    input: &WorkbookInput,
    formats: &Formats,
) -> anyhow::Result<()> {
    let mut columns: Vec<(&str, f64)> = ACCESS_COLUMNS.to_vec();
    columns.extend(
        ServiceCode::ALL
            .iter()
            .map(|s| (s.code(), s.code().len().max(5) as f64 + 2.0)),
    );
    let finish = |_: &mut Worksheet, _: u32| Ok(());
    let mut paged = PagedSheet::start(
        workbook,
        "User Access",
        (&columns, 4),
        input.rows_per_sheet,
        formats,
        input
            .access
            .map_or(input.snapshot.access.len(), <[u32]>::len),
    )?;
    let snapshot = input.snapshot;
    let first_service_col = ACCESS_COLUMNS.len() as u16;
    let done_before = input.findings.len() as u64;
    let all: Vec<u32>;
    let rows = match input.access {
        Some(rows) => rows,
        None => {
            all = (0..snapshot.access.len() as u32).collect();
            &all
        }
    };
    for (i, &index) in rows.iter().enumerate() {
        tick(input.progress, done_before + i as u64 + 1);
        let access = &snapshot.access[index as usize];
        let (sheet, row) = paged.next(workbook, formats, &finish)?;
        let user = snapshot.user(access.user);
        let pidsl = snapshot.pidsl(access.pidsl);
        write_text(
            sheet,
            row,
            0,
            &snapshot.orgs[pidsl.org as usize].org_id,
            formats,
        )?;
        sheet.write_string(row, 1, pidsl.pidsl.as_str())?;
        write_text(sheet, row, 2, &user.username, formats)?;
        write_text(sheet, row, 3, user.full_name(), formats)?;
        write_text(
            sheet,
            row,
            4,
            &snapshot.orgs[user.org as usize].org_id,
            formats,
        )?;
        sheet.write_string(
            row,
            5,
            if snapshot.is_linked(access) {
                "yes"
            } else {
                "no"
            },
        )?;
        sheet.write_string(row, 6, access.role.as_str())?;
        // The sign-in's calendar date in the configured time zone, as a real date.
        if let Some(date) = user.last_login_on {
            sheet.write_date_with_format(row, 7, date, &formats.date)?;
        }
        sheet.write_string(row, 8, user.status.as_str())?;
        if let Some(date) = user.terminated_on {
            sheet.write_date_with_format(row, 9, date, &formats.date)?;
        }
        for service in access.services.iter() {
            sheet.write_string(row, first_service_col + service as u16, SERVICE_MARK)?;
        }
    }
    paged.finish(workbook, &finish)
}

/// Rules: the rule table, as the policy reads.
fn write_rules_sheet(sheet: &mut Worksheet, formats: &Formats) -> anyhow::Result<()> {
    sheet.set_name("Rules")?;
    let columns: [(&str, f64); 6] = [
        ("Rule", 33.0),
        ("Severity", 10.0),
        ("What it checks", 60.0),
        ("Policy", 60.0),
        ("Remediation (POSC job aid)", 80.0),
        ("Policy source (document, section)", 40.0),
    ];
    let width = |col: usize| columns[col].1;
    write_header(sheet, &columns, formats)?;
    sheet.set_freeze_panes(1, 0)?;
    for (i, rule) in RULES.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string_with_format(row, 0, rule.id.as_str(), &formats.wrap)?;
        write_severity(sheet, row, 1, rule.severity, formats)?;
        sheet.write_string_with_format(row, 2, rule.checks, &formats.wrap)?;
        sheet.write_string_with_format(row, 3, rule.policy.quote, &formats.wrap)?;
        sheet.write_string_with_format(row, 4, rule.remediation, &formats.wrap)?;
        sheet.write_string_with_format(row, 5, rule.policy.source, &formats.wrap)?;
        fit_row(
            sheet,
            row,
            [
                (rule.id.as_str(), width(0)),
                (rule.checks, width(2)),
                (rule.policy.quote, width(3)),
                (rule.remediation, width(4)),
                (rule.policy.source, width(5)),
            ],
        )?;
    }
    print_setup(sheet, Some(0))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_leaves_user_access_out_only_past_one_sheet() {
        let one_sheet = 1_048_575;
        assert_eq!(
            user_access_left_out(one_sheet, WorkbookUserAccess::Auto),
            None
        );
        assert_eq!(
            user_access_left_out(one_sheet + 1, WorkbookUserAccess::Auto).as_deref(),
            Some(
                "User Access left out of this workbook: the run has 1,048,576 access rows, more \
                 than one sheet holds; access.csv has every row"
            )
        );
        assert_eq!(
            user_access_left_out(4_082_846, WorkbookUserAccess::Always),
            None
        );
        assert_eq!(
            user_access_left_out(12, WorkbookUserAccess::Never).as_deref(),
            Some(
                "User Access left out of this workbook by review.workbook_user_access = false; \
                 access.csv has every row (12 access rows)"
            )
        );
    }

    #[test]
    fn short_text_takes_one_line_and_long_text_wraps_at_spaces() {
        assert_eq!(wrapped_lines("", 10.0), 1);
        assert_eq!(wrapped_lines("remove the access", 20.0), 1);
        // 10 units hold 10 characters: "aaaa bbbb" fits, "cccc" goes on.
        assert_eq!(wrapped_lines("aaaa bbbb cccc", 10.0), 2);
        assert_eq!(wrapped_lines("one\ntwo\nthree", 40.0), 3);
    }

    #[test]
    fn a_word_longer_than_a_line_is_broken() {
        assert_eq!(wrapped_lines(&"x".repeat(25), 10.0), 3);
        assert_eq!(wrapped_lines(&format!("ab {}", "x".repeat(20)), 10.0), 3);
    }

    #[test]
    fn a_row_is_never_taller_than_excel_allows() {
        assert_eq!(row_points(2), 30.0);
        assert_eq!(row_points(1000), MAX_ROW_POINTS);
    }

    #[test]
    fn counts_in_text_have_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(4_000_000), "4,000,000");
    }

    #[test]
    fn the_findings_sheet_has_findings_csv_s_columns_and_the_reviewer_s_two() {
        let mut sheet: Vec<&str> = FINDINGS_SHEET_COLUMNS.iter().map(|c| c.0).collect();
        let mut expected: Vec<&str> = super::super::csv::FINDINGS_COLUMNS.to_vec();
        expected.extend(["Decision", "Justification"]);
        sheet.sort_unstable();
        expected.sort_unstable();
        assert_eq!(sheet, expected);
        assert_eq!(findings_column("Decision"), FINDINGS_FROZEN_COLUMNS);
    }

    #[test]
    fn every_rule_id_fits_its_column() {
        let width = FINDINGS_SHEET_COLUMNS[findings_column("rule") as usize].1;
        for rule in RuleId::ALL {
            assert!(rule.as_str().len() as f64 + 1.0 <= width, "{rule}");
        }
    }
}
