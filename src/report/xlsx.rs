//! The review workbook, `review-<run-id>.xlsx`: what a compliance officer opens and keeps as
//! the record of the review.
//!
//! Sheets: Summary (the run's numbers and a chart), Findings (one row per finding, with a
//! Decision drop-down and a Justification column for the reviewer), User Access (one row per
//! user and PID/SL, one column per service) and Rules (what each rule checks and the policy it
//! enforces). Findings and User Access are written in constant-memory mode, row by row, so a
//! statewide run does not hold the sheets in memory; a sheet that would pass Excel's row limit
//! continues on "Findings (2)", "User Access (2)" and so on.
//!
//! Every cell that comes from data is written with `write_string`, `write_number` or
//! `write_date`: never a formula, whatever the text looks like (`=HYPERLINK(...)` stays text),
//! and text that starts like a formula carries Excel's quote prefix, so that editing the cell
//! in Excel does not turn it into one.
//! Personal data (dob_mmdd, ssn_last4) is never read here.

use super::csv::FINDINGS_COLUMNS;
use super::summary::{Summary, SummaryOptions};
use crate::domain::{Decision, ServiceCode, Severity};
use crate::records::{FindingRow, RunRecord};
use crate::rules::RULES;
use crate::snapshot::Snapshot;
use anyhow::Context;
use chrono_tz::Tz;
use indicatif::ProgressBar;
use rust_xlsxwriter::{
    Chart, ChartFormat, ChartPoint, ChartSolidFill, Color, DataValidation, DocProperties, Format,
    FormatAlign, FormatBorder, Workbook, Worksheet,
};
use std::path::{Path, PathBuf};

/// Above this many rows a data sheet is written in constant-memory mode.
const CONSTANT_MEMORY_ROWS: usize = 50_000;

/// Rows in an Excel sheet, the header included.
pub const EXCEL_MAX_ROWS: u32 = 1_048_576;

/// The choices of the Findings sheet's Decision column: "Keep, Remove access, Change services
/// or Accept risk".
fn decision_choices() -> String {
    let labels: Vec<&str> = Decision::ALL.iter().map(|d| d.as_str()).collect();
    let (last, first) = labels.split_last().expect("decisions");
    format!("{} or {last}", first.join(", "))
}

/// What [`write_workbook`] writes: one run's summary and findings (already chosen by the
/// caller), and the snapshot's access rows that `access` keeps.
pub struct WorkbookInput<'a> {
    pub summary: &'a Summary,
    pub findings: &'a [FindingRow],
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
}

impl<'a> WorkbookInput<'a> {
    /// A workbook of these findings and every access row of the snapshot.
    pub fn new(
        summary: &'a Summary,
        findings: &'a [FindingRow],
        snapshot: &'a Snapshot,
        zone: Tz,
    ) -> WorkbookInput<'a> {
        WorkbookInput {
            summary,
            findings,
            snapshot,
            zone,
            access: None,
            rows_per_sheet: EXCEL_MAX_ROWS,
            progress: None,
            access_sheet: true,
        }
    }

    /// Leaves the User Access sheet out (`review.workbook_user_access = false`).
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
/// users (`access_rows`, from [`super::access_rows_by_org`]), and a summary of its own, with
/// `resolved` as its count of resolved findings. Returns the file and its bytes, for the
/// management report to attach without reading the file back.
#[allow(clippy::too_many_arguments)]
pub fn write_org_workbook(
    dir: &Path,
    run: &RunRecord,
    findings: &[FindingRow],
    snapshot: &Snapshot,
    org: u32,
    access_rows: &[u32],
    resolved: usize,
    zone: Tz,
) -> anyhow::Result<(PathBuf, Vec<u8>)> {
    let org_id = &snapshot.orgs[org as usize].org_id;
    let summary = Summary::build(
        run,
        findings,
        snapshot,
        &SummaryOptions::for_org(snapshot, org_id, resolved),
    );
    let path = dir.join(org_workbook_file_name(&run.id, org_id));
    let input = WorkbookInput::new(&summary, findings, snapshot, zone).with_access(access_rows);
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
    let formats = Formats::new();
    let mut workbook = Workbook::new();
    if let Some(dir) = tempdir {
        workbook.set_tempdir(dir)?;
    }
    // Compressing the XML at the default level (6) took a quarter of a statewide run, in the
    // whole-run workbook and in the ten thousand attached to mail alike; level 1 saves a
    // third of a workbook's time for a file 60 % larger.
    workbook.set_zip_compression_level(1);
    let access_elsewhere = (!input.access_sheet).then(|| input.access_rows());
    write_summary_sheet(
        workbook.add_worksheet(),
        input.summary,
        access_elsewhere,
        &formats,
    )?;
    write_findings_sheets(&mut workbook, input, &formats)?;
    if input.access_sheet {
        write_access_sheets(&mut workbook, input, &formats)?;
    }
    write_rules_sheet(workbook.add_worksheet(), &formats)?;
    Ok(workbook)
}

/// The cell formats, made once per workbook.
struct Formats {
    title: Format,
    header: Format,
    label: Format,
    date: Format,
    wrap: Format,
    /// Text that looks like a formula: Excel keeps it text when the cell is edited.
    quoted: Format,
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
        };
        Formats {
            title: Format::new().set_bold().set_font_size(16),
            header: Format::new()
                .set_bold()
                .set_background_color(Color::RGB(0x1F4E78))
                .set_font_color(Color::White)
                .set_border_bottom(FormatBorder::Thin)
                .set_align(FormatAlign::Top),
            label: Format::new().set_bold(),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
            quoted: Format::new().set_quote_prefix(),
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

/// The chart fill of each severity, matching the cell colours.
fn severity_fill(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "#C00000",
        Severity::High => "#ED7D31",
        Severity::Medium => "#FFC000",
        Severity::Low => "#5B9BD5",
    }
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

/// Summary: the run, its counts, the PID/SLs with most findings, and a chart per severity;
/// `access_elsewhere`: the number of access rows when User Access is left out.
fn write_summary_sheet(
    sheet: &mut Worksheet,
    summary: &Summary,
    access_elsewhere: Option<usize>,
    formats: &Formats,
) -> anyhow::Result<()> {
    sheet.set_name("Summary")?;
    sheet.set_column_width(0, 34)?;
    sheet.set_column_width(1, 16)?;
    sheet.set_column_width(2, 12)?;
    sheet.set_column_width(3, 70)?;
    sheet.write_string_with_format(
        0,
        0,
        format!("Access review {}", summary.run_id),
        &formats.title,
    )?;

    sheet.write_string_with_format(2, 0, "Run", &formats.label)?;
    write_text(sheet, 2, 1, &summary.run_id, formats)?;
    sheet.write_string_with_format(3, 0, "As of", &formats.label)?;
    sheet.write_date_with_format(3, 1, summary.as_of, &formats.date)?;
    sheet.write_string_with_format(4, 0, "Scope", &formats.label)?;
    write_text(sheet, 4, 1, &summary.scope, formats)?;
    sheet.write_string_with_format(5, 0, "Findings", &formats.label)?;
    sheet.write_number(5, 1, summary.total as f64)?;
    sheet.write_string_with_format(6, 0, "Critical and high findings", &formats.label)?;
    sheet.write_number(6, 1, summary.urgent_total as f64)?;
    if let Some(rows) = access_elsewhere {
        sheet.write_string_with_format(7, 0, "User Access", &formats.label)?;
        sheet.write_string(
            7,
            1,
            format!(
                "not in this workbook: access.csv has its {}",
                crate::output::count(rows, "row")
            ),
        )?;
    }

    let mut row = 8;
    sheet.write_string_with_format(row, 0, "Since the previous run", &formats.header)?;
    sheet.write_string_with_format(row, 1, "Findings", &formats.header)?;
    let status = &summary.status;
    for (label, count) in [
        ("New", status.new),
        ("Open (seen before)", status.open),
        ("Accepted", status.accepted),
        ("Resolved (gone since the previous run)", status.resolved),
    ] {
        row += 1;
        sheet.write_string(row, 0, label)?;
        sheet.write_number(row, 1, count as f64)?;
    }
    row = write_decision_counts(sheet, row + 2, summary, formats)?;

    row += 2;
    sheet.write_string_with_format(row, 0, "Severity", &formats.header)?;
    sheet.write_string_with_format(row, 1, "Findings", &formats.header)?;
    let first_severity_row = row + 1;
    for count in &summary.by_severity {
        row += 1;
        write_severity(sheet, row, 0, count.severity, formats)?;
        sheet.write_number(row, 1, count.count as f64)?;
    }
    let last_severity_row = row;

    row += 2;
    for (col, name) in ["Rule", "Severity", "Findings", "What it checks"]
        .iter()
        .enumerate()
    {
        sheet.write_string_with_format(row, col as u16, *name, &formats.header)?;
    }
    for count in &summary.by_rule {
        row += 1;
        sheet.write_string(row, 0, count.rule.as_str())?;
        write_severity(sheet, row, 1, count.severity, formats)?;
        sheet.write_number(row, 2, count.count as f64)?;
        sheet.write_string_with_format(row, 3, count.checks, &formats.wrap)?;
    }

    row += 2;
    sheet.write_string_with_format(row, 0, "PID/SLs with the most findings", &formats.label)?;
    row += 1;
    for (col, name) in ["PID/SL", "Name", "Organization", "Findings"]
        .iter()
        .enumerate()
    {
        sheet.write_string_with_format(row, col as u16, *name, &formats.header)?;
    }
    if summary.top_pidsls.is_empty() {
        row += 1;
        sheet.write_string(row, 0, "No finding concerns a PID/SL.")?;
    }
    for top in &summary.top_pidsls {
        row += 1;
        write_text(sheet, row, 0, &top.pidsl, formats)?;
        write_text(sheet, row, 1, &top.name, formats)?;
        write_text(sheet, row, 2, &top.org_id, formats)?;
        sheet.write_number(row, 3, top.findings as f64)?;
    }

    // A plain column chart of the severity table: Excel and LibreOffice both draw it from the
    // cells (numbers, not formulas).
    let points: Vec<ChartPoint> = summary
        .by_severity
        .iter()
        .map(|c| {
            ChartPoint::new().set_format(
                ChartFormat::new()
                    .set_solid_fill(ChartSolidFill::new().set_color(severity_fill(c.severity))),
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
    chart.y_axis().set_name("Findings");
    sheet.insert_chart(2, 5, &chart)?;
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}

/// The reviewer-decision counts from `row` on; returns the last row written.
fn write_decision_counts(
    sheet: &mut Worksheet,
    mut row: u32,
    summary: &Summary,
    formats: &Formats,
) -> anyhow::Result<u32> {
    sheet.write_string_with_format(row, 0, "Reviewer decisions", &formats.header)?;
    sheet.write_string_with_format(row, 1, "Findings", &formats.header)?;
    let decisions = &summary.decisions;
    for (label, count) in [
        ("Decided", decisions.decided),
        ("Pending (no decision)", decisions.pending),
        (
            "Overdue (no decision, older than the cadence)",
            decisions.overdue,
        ),
    ] {
        row += 1;
        sheet.write_string(row, 0, label)?;
        sheet.write_number(row, 1, count as f64)?;
    }
    Ok(row)
}

/// A sheet family in constant-memory mode that continues on "Name (2)", "Name (3)", ... when
/// a sheet is full.
struct PagedSheet<'c> {
    base: &'static str,
    /// Rows go to disk as they are written (large sheets); small sheets stay in memory, which
    /// is much faster for the thousands of small per-organization workbooks.
    constant_memory: bool,
    columns: &'c [(&'c str, f64)],
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
        columns: &'c [(&'c str, f64)],
        rows_per_sheet: u32,
        formats: &Formats,
        rows: usize,
    ) -> anyhow::Result<Self> {
        let mut paged = PagedSheet {
            base,
            constant_memory: rows > CONSTANT_MEMORY_ROWS,
            columns,
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
        sheet.set_freeze_panes(1, 0)?;
        sheet.set_landscape();
        sheet.set_repeat_rows(0, 0)?;
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

/// The findings.csv columns, then the reviewer's Decision and Justification.
const FINDINGS_WIDTHS: [f64; 12] = [
    13.0, 30.0, 10.0, 10.0, 16.0, 12.0, 16.0, 22.0, 70.0, 50.0, 12.0, 26.0,
];

fn write_findings_sheets(
    workbook: &mut Workbook,
    input: &WorkbookInput,
    formats: &Formats,
) -> anyhow::Result<()> {
    let mut columns: Vec<(&str, f64)> = FINDINGS_COLUMNS
        .iter()
        .copied()
        .zip(FINDINGS_WIDTHS)
        .collect();
    columns.push(("Decision", 18.0));
    columns.push(("Justification", 50.0));
    let decision_col = FINDINGS_COLUMNS.len() as u16;
    let decision = DataValidation::new()
        .allow_list_strings(&Decision::ALL.iter().map(|d| d.as_str()).collect::<Vec<_>>())?
        .set_input_title("Decision")?
        .set_input_message(format!(
            "{}; explain it under Justification.",
            decision_choices()
        ))?
        .set_error_title("Not a decision")?
        .set_error_message(format!("Choose {}.", decision_choices()))?;
    let finish = |sheet: &mut Worksheet, last_row: u32| -> anyhow::Result<()> {
        if last_row >= 1 {
            sheet.add_data_validation(1, decision_col, last_row, decision_col, &decision)?;
        }
        Ok(())
    };

    let mut paged = PagedSheet::start(
        workbook,
        "Findings",
        &columns,
        input.rows_per_sheet,
        formats,
        input.findings.len(),
    )?;
    for (i, f) in input.findings.iter().enumerate() {
        let (sheet, row) = paged.next(workbook, formats, &finish)?;
        let remediation = &f.remediation;
        write_text(sheet, row, 0, &f.run_id, formats)?;
        write_text(sheet, row, 1, f.rule.as_str(), formats)?;
        write_severity(sheet, row, 2, f.severity, formats)?;
        write_text(sheet, row, 3, f.status.as_str(), formats)?;
        write_text(sheet, row, 4, &f.org_id, formats)?;
        write_text(sheet, row, 5, &f.pidsl, formats)?;
        write_text(sheet, row, 6, &f.username, formats)?;
        write_text(sheet, row, 7, &f.user_name, formats)?;
        write_text(sheet, row, 8, &f.detail, formats)?;
        write_text(sheet, row, 9, remediation, formats)?;
        sheet.write_date_with_format(row, 10, f.first_seen, &formats.date)?;
        write_text(sheet, row, 11, &f.fingerprint, formats)?;
        if let Some(prior) = &f.decision {
            // The last decision, stamped so that importing it unchanged records nothing new.
            let stamp = crate::decisions::stamp(prior, input.zone);
            write_text(sheet, row, decision_col, stamp, formats)?;
            write_text(sheet, row, decision_col + 1, &prior.justification, formats)?;
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
        &columns,
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
        ("Rule", 30.0),
        ("Severity", 10.0),
        ("What it checks", 60.0),
        ("Policy", 60.0),
        ("Remediation (POSC job aid)", 80.0),
        ("Policy source (document, section)", 40.0),
    ];
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
    }
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}
