//! Reading one input CSV file: header mapping (case-insensitive, any order), trimmed cells,
//! and problems reported as `FILE:LINE: column: message`.
//!
//! Every cell of a known column is checked here, before any parsing, for what no column may
//! hold: a control character (U+0000–U+001F, U+007F–U+009F: tab, line break, NUL ...), which
//! PostgreSQL refuses (NUL) or which splits log lines and CSV rows downstream, and more than
//! [`MAX_CELL_CHARS`] characters, which once made every review fail on Excel's 32,767-character
//! cell limit. Ignored (unknown) columns are not stored and not checked.
//!
//! The line is the one a text editor shows. The csv crate takes a record's position before it
//! has read the line end left over from the record before: in a CRLF file (what Excel's "CSV"
//! save writes) the `\n` of the previous line's `\r\n`, and in any file the blank lines before
//! the record. Its line is then one (or more) too low, so [`LineEnds`] notes where the line-end
//! bytes are as the file is read, and [`CsvFile::line_of`] counts the newlines that sit at the
//! record's start.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The longest cell of any column, in characters. A finding's text joins a few cells (a full
/// name, up to ten usernames), so this keeps every workbook cell far below Excel's 32,767.
pub const MAX_CELL_CHARS: usize = 1_000;

/// One problem with the input, where a user can find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub file: String,
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(
                f,
                "{}:{}: {}: {}",
                self.file, self.line, column, self.message
            ),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

/// Collects issues, keeping the first `cap` and counting the rest.
#[derive(Debug, Default)]
pub struct Issues {
    pub kept: Vec<Issue>,
    pub total: usize,
    cap: usize,
}

impl Issues {
    pub fn with_cap(cap: usize) -> Self {
        Issues {
            kept: Vec::new(),
            total: 0,
            cap,
        }
    }

    pub fn push(&mut self, issue: Issue) {
        self.total += 1;
        if self.kept.len() < self.cap {
            self.kept.push(issue);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The kept issues one per line, then how many more there were.
    pub fn render(&self) -> String {
        let mut text = self
            .kept
            .iter()
            .map(Issue::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        if self.total > self.kept.len() {
            text.push_str(&format!("\n... and {} more", self.total - self.kept.len()));
        }
        text
    }
}

/// A column the file may have.
pub struct ColumnSpec {
    pub name: &'static str,
    pub required: bool,
}

pub const fn required(name: &'static str) -> ColumnSpec {
    ColumnSpec {
        name,
        required: true,
    }
}

pub const fn optional(name: &'static str) -> ColumnSpec {
    ColumnSpec {
        name,
        required: false,
    }
}

/// An open input file with its header mapped to the known columns.
pub struct CsvFile {
    pub display: String,
    reader: csv::Reader<LineEnds<File>>,
    /// The line-end bytes read ahead of the parser (see [`LineEnds`]).
    line_ends: LineEndQueue,
    /// For each column of `spec`, its index in the file.
    positions: Vec<Option<usize>>,
    spec: &'static [ColumnSpec],
    headers: csv::StringRecord,
    record: csv::StringRecord,
}

/// One data row with its line number.
pub struct Row<'f> {
    pub line: u64,
    record: &'f csv::StringRecord,
    file: &'f CsvFile,
}

impl Row<'_> {
    /// The trimmed cell of a known column; `None` when the column is absent or the cell empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        let index = self
            .file
            .spec
            .iter()
            .position(|c| c.name == column)
            .expect("column is in the spec");
        self.file.positions[index]
            .and_then(|i| self.record.get(i))
            .map(str::trim)
            .filter(|cell| !cell.is_empty())
    }

    /// A problem with one cell of this row.
    pub fn issue(&self, column: &str, message: impl Into<String>) -> Issue {
        Issue {
            file: self.file.display.clone(),
            line: self.line,
            column: Some(column.to_string()),
            message: message.into(),
        }
    }
}

impl CsvFile {
    /// Opens `dir/name` and maps its header. Problems with the header are pushed to `issues`
    /// (errors) or `warnings`; `None` when the file cannot be read at all.
    pub fn open(
        dir: &Path,
        name: &str,
        spec: &'static [ColumnSpec],
        issues: &mut Issues,
        warnings: &mut Vec<String>,
    ) -> Option<CsvFile> {
        let path: PathBuf = dir.join(name);
        let display = path.display().to_string();
        let file_issue = |line, column: Option<&str>, message: String| Issue {
            file: display.clone(),
            line,
            column: column.map(str::to_string),
            message,
        };
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) => {
                issues.push(file_issue(0, None, format!("cannot open: {e}")));
                return None;
            }
        };
        let line_ends = LineEndQueue::default();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .buffer_capacity(1 << 20)
            .from_reader(LineEnds {
                inner: file,
                offset: 0,
                queue: line_ends.clone(),
            });
        let headers = match reader.headers() {
            Ok(h) if h.iter().any(|c| !c.trim().is_empty()) => h.clone(),
            Ok(_) => {
                let expected = spec.iter().map(|c| c.name).collect::<Vec<_>>().join(",");
                issues.push(file_issue(
                    1,
                    None,
                    format!("the file is empty: expected a header row such as {expected}"),
                ));
                return None;
            }
            Err(e) => {
                let line = e.position().map_or(1, |p| p.line());
                issues.push(file_issue(line, None, csv_error_message(&e)));
                return None;
            }
        };
        let mut positions = vec![None; spec.len()];
        for (i, header) in headers.iter().enumerate() {
            let header = header.trim().to_ascii_lowercase();
            match spec.iter().position(|c| c.name == header) {
                Some(known) if positions[known].is_some() => {
                    issues.push(file_issue(1, Some(&header), "column appears twice".into()));
                }
                Some(known) => positions[known] = Some(i),
                None => warnings.push(format!("{display}:1: {header}: unknown column, ignored")),
            }
        }
        for (column, position) in spec.iter().zip(&positions) {
            if column.required && position.is_none() {
                issues.push(file_issue(
                    1,
                    Some(column.name),
                    "missing required column".into(),
                ));
            }
        }
        Some(CsvFile {
            display,
            reader,
            line_ends,
            positions,
            spec,
            headers,
            record: csv::StringRecord::new(),
        })
    }

    pub fn has_column(&self, column: &str) -> bool {
        self.spec
            .iter()
            .zip(&self.positions)
            .any(|(c, p)| c.name == column && p.is_some())
    }

    /// Calls `each` for every well-formed row (see [`CsvFile::next_row`]).
    pub fn for_each_row(&mut self, issues: &mut Issues, mut each: impl FnMut(&Row)) {
        while let Some(row) = self.next_row(issues) {
            each(&row);
        }
    }

    /// The next well-formed row; malformed rows (bad UTF-8, wrong number of fields) become
    /// issues and are skipped. `None` at the end, or at an I/O error (also an issue).
    pub fn next_row(&mut self, issues: &mut Issues) -> Option<Row<'_>> {
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => {
                    let line = self.record.position().map_or(0, |p| self.line_of(p));
                    self.check_cells(line, issues);
                    return Some(Row {
                        line,
                        record: &self.record,
                        file: self,
                    });
                }
                Err(e) => {
                    let fatal = matches!(e.kind(), csv::ErrorKind::Io(_));
                    issues.push(Issue {
                        file: self.display.clone(),
                        line: e.position().map_or(0, |p| self.line_of(p)),
                        column: utf8_column(&e, &self.headers),
                        message: csv_error_message(&e),
                    });
                    if fatal {
                        return None;
                    }
                }
            }
        }
    }
}

impl CsvFile {
    /// Pushes an issue for each cell of a known column that no column may hold (see the
    /// module documentation). The row is still returned, so that its keys are known and rows
    /// that refer to it raise no further errors.
    fn check_cells(&self, line: u64, issues: &mut Issues) {
        for (column, position) in self.spec.iter().zip(&self.positions) {
            let Some(cell) = position.and_then(|i| self.record.get(i)) else {
                continue;
            };
            if let Some(message) = cell_problem(cell) {
                issues.push(Issue {
                    file: self.display.clone(),
                    line,
                    column: Some(column.name.to_string()),
                    message,
                });
            }
        }
    }

    /// The line of a record that starts at `position`: csv's line, plus the newlines at its
    /// start that csv had not read yet when it took the position.
    fn line_of(&self, position: &csv::Position) -> u64 {
        let start = position.byte();
        let mut queue = self.line_ends.lock().expect("line-end queue");
        while queue.front().is_some_and(|&(at, _)| at < start) {
            queue.pop_front();
        }
        let leading_newlines = queue
            .iter()
            .zip(start..)
            .take_while(|((at, _), expected)| at == expected)
            .filter(|((_, byte), _)| *byte == b'\n')
            .count();
        position.line() + leading_newlines as u64
    }
}

/// Why a cell cannot be imported whatever its column, if it cannot. The value is not repeated:
/// it may be personal data, or very long.
fn cell_problem(cell: &str) -> Option<String> {
    // Most cells are plain ASCII: one pass over the bytes (0xC2 starts U+0080..U+00BF).
    if cell.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) {
        if let Some((at, c)) = cell.chars().enumerate().find(|(_, c)| c.is_control()) {
            let name = match c {
                '\t' => " (a tab)",
                '\n' | '\r' => " (a line break)",
                '\0' => " (NUL)",
                _ => "",
            };
            return Some(format!(
                "control character U+{:04X}{name} at character {}: cells may not hold tabs, line breaks or other control characters; remove it and import again",
                c as u32,
                at + 1
            ));
        }
    }
    let trimmed = cell.trim();
    if trimmed.len() > MAX_CELL_CHARS && trimmed.chars().count() > MAX_CELL_CHARS {
        return Some(format!(
            "{} characters, more than the {MAX_CELL_CHARS} a cell may hold",
            trimmed.chars().count()
        ));
    }
    None
}

/// The offsets of the `\r` and `\n` bytes read from the file and not yet passed by the parser.
type LineEndQueue = Arc<Mutex<VecDeque<(u64, u8)>>>;

/// The file, read through: notes each line-end byte's offset in the queue. The parser reads
/// at most its buffer (1 MiB) ahead of the record it returns, so the queue stays that small.
struct LineEnds<R> {
    inner: R,
    offset: u64,
    queue: LineEndQueue,
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut queue = self.queue.lock().expect("line-end queue");
        queue.extend(
            memchr::memchr2_iter(b'\r', b'\n', &buf[..n]).map(|i| (self.offset + i as u64, buf[i])),
        );
        self.offset += n as u64;
        Ok(n)
    }
}

fn utf8_column(e: &csv::Error, headers: &csv::StringRecord) -> Option<String> {
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => headers.get(err.field()).map(|h| h.trim().to_string()),
        _ => None,
    }
}

fn csv_error_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "not valid UTF-8: save the file as UTF-8 and import again".into()
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
        _ => e.to_string(),
    }
}
