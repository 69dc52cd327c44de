//! Reading a reviewed workbook back, within the limits of a real review workbook.
//!
//! An xlsx is a zip of XML parts, and calamine believes what they say: a 1,976-byte file
//! declaring the cells `A1:XFD1048576`, with one cell at XFD1048576, had it allocate a
//! rectangle of 17 billion cells (23.8 GB before it was killed), and a 1.5 MB file holding one
//! 1.5 GB shared string passed 3.3 GB. So before calamine opens a file, every part is read
//! through once as it decompresses (the sizes a zip declares can lie) and lexed by the same XML
//! reader calamine uses: a part may not pass [`MAX_PART_BYTES`] (the shared strings, which
//! calamine holds whole, [`MAX_SHARED_STRINGS_BYTES`]), all parts together [`MAX_TOTAL_BYTES`],
//! one tag or text [`MAX_EVENT_BYTES`], and the shared-string count calamine reserves room for
//! [`MAX_SHARED_STRINGS`]. Then each Findings sheet is read cell by cell, never as a rectangle:
//! a declared dimension or a cell beyond [`MAX_COLUMNS`] or Excel's last row is refused, and
//! only the columns the import uses are kept, for the rows with a decision. Each refusal names
//! the limit and exits 2 before anything is recorded. A real review workbook is well inside
//! every limit: written by the workbook bench, 269,263 findings make a 264 MB Findings sheet and
//! a full User Access sheet (1,048,575 rows) is 759 MB, so a statewide whole-run workbook (four
//! of those) is about 3.3 GB of XML; its shared strings are a few kB (large sheets hold their
//! text inline; Excel, saving the file again, moves the text there: by estimate some 100 MB
//! for a statewide workbook, from its 2 to 3 million distinct names and details), and no cell
//! passes Excel's 32,767 characters. The check reads every part, the User Access sheets the
//! import never needs included, so that no part calamine might read escapes it: on the bench's
//! 1.0 GB workbook it took 8.1 s of a 10.4 s import (release, two loaded cores), in 22 MB.

use super::{cell_text, is_findings_sheet, Columns, RawRow, ReviewedFile};
use crate::error::UsageError;
use crate::report::xlsx::{EXCEL_MAX_ROWS, ORG_PROPERTY, PIDSL_PROPERTY};
use calamine::{Data, Reader, Xlsx};
use quick_xml::events::Event;
use std::io::{BufReader, Read};
use std::path::Path;

/// The largest part, uncompressed (a full User Access sheet is 759 MB).
pub const MAX_PART_BYTES: u64 = 2 << 30;
/// The shared strings, which calamine holds in memory whole.
pub const MAX_SHARED_STRINGS_BYTES: u64 = 256 << 20;
/// All parts together, uncompressed (a statewide whole-run workbook is about 3.3 GB).
pub const MAX_TOTAL_BYTES: u64 = 8 << 30;
/// One tag, or the text between two tags: a cell holds at most 32,767 characters.
pub const MAX_EVENT_BYTES: u64 = 1 << 20;
/// Shared strings (a full Findings sheet's 1,048,576 rows of 16 cells).
pub const MAX_SHARED_STRINGS: u64 = 1 << 24;
/// Columns of a Findings sheet: its 14, and room for a reviewer's own (A to BL).
pub const MAX_COLUMNS: u32 = 64;
/// Characters in a cell: Excel's limit.
const MAX_CELL_CHARS: usize = 32_767;
/// What the rows with a decision may hold, counting each row as [`ROW_BYTES`] and its text.
const MAX_KEPT_BYTES: usize = 512 << 20;
const ROW_BYTES: usize = 256;

/// `bytes` as MiB or GiB, for messages.
fn size(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", bytes as f64 / f64::from(1 << 30))
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

/// A column's letters: 0 is A, 63 is BL.
fn column_name(col: u32) -> String {
    let mut name = Vec::new();
    let mut n = col + 1;
    while n > 0 {
        name.push(b'A' + ((n - 1) % 26) as u8);
        n = (n - 1) / 26;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

/// A refusal: the file, what is beyond which limit, and that nothing was recorded.
fn refuse(file: &str, what: String) -> anyhow::Error {
    UsageError(format!(
        "{file}: {what}; a review workbook stays well within this limit, so the file is refused \
         and nothing was recorded"
    ))
    .into()
}

/// The rows of every Findings sheet of the workbook at `path`, and the organization named by
/// its [`ORG_PROPERTY`] or the PID/SL named by its [`PIDSL_PROPERTY`], once the file is known
/// to be within the limits.
pub(super) fn read_workbook(path: &Path) -> anyhow::Result<ReviewedFile> {
    let file = path.display().to_string();
    check_package(path, &file)?;
    let mut workbook: Xlsx<_> = calamine::open_workbook(path)
        .map_err(|e| UsageError(format!("{file}: cannot read the workbook: {e}")))?;
    let properties = workbook
        .workbook_properties()
        .map_err(|e| UsageError(format!("{file}: cannot read the document properties: {e}")))?
        .custom_properties;
    let organization = properties.get(ORG_PROPERTY).cloned();
    let pidsl = properties.get(PIDSL_PROPERTY).cloned();
    let sheets: Vec<String> = workbook
        .sheet_names()
        .into_iter()
        .filter(|n| is_findings_sheet(n))
        .collect();
    if sheets.is_empty() {
        return Err(UsageError(format!(
            "{file}: no Findings sheet; is this a review workbook?"
        ))
        .into());
    }
    let mut read = ReviewedFile {
        rows: Vec::new(),
        organization,
        pidsl,
        undecided: 0,
    };
    let mut kept = 0;
    for sheet in sheets {
        read_sheet(&mut workbook, &file, &sheet, &mut read, &mut kept)?;
    }
    Ok(read)
}

/// Measures every part of the zip at `path` against the limits, reading each once.
fn check_package(path: &Path, file: &str) -> anyhow::Result<()> {
    let unreadable = |e: &dyn std::fmt::Display| -> anyhow::Error {
        UsageError(format!("{file}: cannot read the workbook: {e}")).into()
    };
    let opened = std::fs::File::open(path).map_err(|e| unreadable(&e))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(opened)).map_err(|e| unreadable(&e))?;
    // What the zip declares first: a file that declares too much is not decompressed at all.
    let mut declared_total = 0u64;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| unreadable(&e))?;
        let name = entry.name().map_err(|e| unreadable(&e))?.into_owned();
        let limit = part_limit(&name);
        if entry.size() > limit {
            return Err(refuse(
                file,
                format!(
                    "its part {name} declares {} uncompressed, beyond the limit of {}",
                    size(entry.size()),
                    size(limit)
                ),
            ));
        }
        declared_total = declared_total.saturating_add(entry.size());
    }
    if declared_total > MAX_TOTAL_BYTES {
        return Err(refuse(
            file,
            format!(
                "its parts declare {} uncompressed together, beyond the limit of {}",
                size(declared_total),
                size(MAX_TOTAL_BYTES)
            ),
        ));
    }
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| unreadable(&e))?;
        let name = entry.name().map_err(|e| unreadable(&e))?.into_owned();
        let limit = part_limit(&name);
        let part = scan_part(entry, limit, is_shared_strings(&name))
            .map_err(|e| refuse(file, format!("its part {name} {e}")))?;
        total += part;
        if total > MAX_TOTAL_BYTES {
            return Err(refuse(
                file,
                format!(
                    "its parts hold more than {} uncompressed together",
                    size(MAX_TOTAL_BYTES)
                ),
            ));
        }
    }
    Ok(())
}

/// Whether calamine would read the part as the shared strings (it looks names up ignoring case
/// and with `\` as `/`).
fn is_shared_strings(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with("sharedstrings.xml")
}

fn part_limit(name: &str) -> u64 {
    if is_shared_strings(name) {
        MAX_SHARED_STRINGS_BYTES
    } else {
        MAX_PART_BYTES
    }
}

/// Counts the bytes pulled from a part, in all and since the last XML event.
struct Counted<R> {
    inner: R,
    total: u64,
    since_event: u64,
    limit: u64,
    /// Whether the part is still read as XML events (not after it stopped being XML).
    events: bool,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        self.since_event += n as u64;
        if self.total > self.limit {
            return Err(std::io::Error::other(format!(
                "holds more than {} uncompressed, beyond the limit",
                size(self.limit)
            )));
        }
        if self.events && self.since_event > MAX_EVENT_BYTES {
            return Err(std::io::Error::other(format!(
                "holds a tag or a text of more than {} (a cell holds at most 32,767 \
                 characters)",
                size(MAX_EVENT_BYTES)
            )));
        }
        Ok(n)
    }
}

/// Reads one part through, lexing it as calamine does, within `limit` bytes and
/// [`MAX_EVENT_BYTES`] per tag or text; returns its size. In the shared strings, the count
/// calamine reserves room for and the strings themselves stay within [`MAX_SHARED_STRINGS`]. A
/// part that is not XML (a picture) is only measured.
fn scan_part(part: impl Read, limit: u64, shared: bool) -> Result<u64, String> {
    let counted = Counted {
        inner: part,
        total: 0,
        since_event: 0,
        limit,
        events: true,
    };
    let mut xml = quick_xml::Reader::from_reader(BufReader::with_capacity(64 << 10, counted));
    // calamine's reader settings, so that a tag or text is what calamine will see.
    let config = xml.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;
    let mut buf = Vec::with_capacity(1024);
    let mut strings = 0u64;
    loop {
        buf.clear();
        let event = match xml.read_event_into(&mut buf) {
            Ok(Event::Eof) => break,
            Ok(event) => event,
            Err(quick_xml::Error::Io(e)) => return Err(e.to_string()),
            // Not XML from here on: calamine stops at the same place; measure the rest.
            Err(_) => break,
        };
        xml.get_mut().get_mut().since_event = 0;
        if let (true, Event::Start(e)) = (shared, &event) {
            match e.local_name().as_ref() {
                "sst" => {
                    if let Some(count) = declared_counts(e.attributes_raw().as_bytes()).max() {
                        if count > MAX_SHARED_STRINGS {
                            return Err(format!(
                                "declares {count} shared strings, beyond the limit of \
                                 {MAX_SHARED_STRINGS}"
                            ));
                        }
                    }
                }
                "si" => {
                    strings += 1;
                    if strings > MAX_SHARED_STRINGS {
                        return Err(format!(
                            "holds more than {MAX_SHARED_STRINGS} shared strings, beyond the limit"
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    let mut rest = xml.into_inner();
    rest.get_mut().events = false;
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| e.to_string())?;
    Ok(rest.get_ref().total)
}

/// Every `uniqueCount` in a tag's raw attributes, however it is written (calamine reserves
/// room for that many strings before it reads one); a number too large for u64 is u64::MAX.
fn declared_counts(raw: &[u8]) -> impl Iterator<Item = u64> + '_ {
    const NAME: &[u8] = b"uniqueCount";
    raw.windows(NAME.len())
        .enumerate()
        .filter(|(_, w)| *w == NAME)
        .map(move |(i, _)| {
            raw[i + NAME.len()..]
                .iter()
                .skip_while(|b| b.is_ascii_whitespace() || matches!(b, b'=' | b'"' | b'\'' | b'+'))
                .take_while(|b| b.is_ascii_digit())
                .fold(0u64, |n, d| {
                    n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                })
        })
}

/// One Findings sheet, cell by cell: its header row, then each row with a decision.
fn read_sheet(
    workbook: &mut Xlsx<BufReader<std::fs::File>>,
    file: &str,
    sheet: &str,
    read: &mut ReviewedFile,
    kept: &mut usize,
) -> anyhow::Result<()> {
    let place = format!("{file}:{sheet}");
    let unreadable =
        |e: calamine::XlsxError| UsageError(format!("{place}: cannot read the sheet: {e}"));
    let mut cells = workbook.worksheet_cells_reader(sheet).map_err(unreadable)?;
    let declared = cells.dimensions();
    if declared.end.1 >= MAX_COLUMNS || declared.end.0 >= EXCEL_MAX_ROWS {
        return Err(refuse(
            &place,
            format!(
                "the sheet declares the cells {}{}:{}{}, beyond {} columns (A to {}) or {} rows",
                column_name(declared.start.1),
                declared.start.0 + 1,
                column_name(declared.end.1),
                u64::from(declared.end.0) + 1,
                MAX_COLUMNS,
                column_name(MAX_COLUMNS - 1),
                EXCEL_MAX_ROWS
            ),
        ));
    }
    let mut header: Option<(u32, Vec<String>)> = None;
    let mut columns: Option<Columns> = None;
    // The row being read: its index and its cells in the columns the import uses.
    let mut current: Option<(u32, Vec<String>)> = None;
    loop {
        let cell = cells.next_cell().map_err(unreadable)?;
        let position = cell.as_ref().map(|c| c.get_position());
        if let Some((row, col)) = position {
            if col >= MAX_COLUMNS || row >= EXCEL_MAX_ROWS {
                return Err(refuse(
                    &place,
                    format!(
                        "a cell at {}{} is beyond {} columns (A to {}) or {} rows",
                        column_name(col),
                        u64::from(row) + 1,
                        MAX_COLUMNS,
                        column_name(MAX_COLUMNS - 1),
                        EXCEL_MAX_ROWS
                    ),
                ));
            }
        }
        // A row is finished when a cell of another row comes, or the sheet ends.
        let next_row = position.map(|(row, _)| row);
        if current
            .as_ref()
            .is_some_and(|(row, _)| Some(*row) != next_row)
        {
            let (row, values) = current.take().unwrap_or_default();
            match &columns {
                None => {
                    let found = Columns::find(&values, &place, true)?;
                    header = Some((row, values));
                    columns = Some(found);
                }
                Some(columns) => {
                    let number = row as usize + 1;
                    let raw = columns.row(format!("{place}:{number}"), &values);
                    keep(read, raw, kept, &place)?;
                }
            }
        }
        let Some(cell) = cell else { break };
        let (row, col) = cell.get_position();
        if header.as_ref().is_some_and(|(h, _)| row <= *h) {
            continue;
        }
        let wanted = match &columns {
            // The header row: every column, to find the names in.
            None => true,
            Some(columns) => columns.uses(col as usize),
        };
        let value = cell.get_value();
        if !wanted || matches!(value, calamine::DataRef::Empty) {
            continue;
        }
        let text = cell_text(&Data::from(value.clone()));
        if text.chars().count() > MAX_CELL_CHARS {
            return Err(refuse(
                &place,
                format!(
                    "the cell {}{} holds more than Excel's {MAX_CELL_CHARS} characters",
                    column_name(col),
                    u64::from(row) + 1
                ),
            ));
        }
        let (_, values) = current.get_or_insert_with(|| (row, Vec::new()));
        if values.len() <= col as usize {
            values.resize(col as usize + 1, String::new());
        }
        values[col as usize] = text;
    }
    Ok(())
}

/// Keeps a row with a decision (counts one without), within [`MAX_KEPT_BYTES`].
fn keep(read: &mut ReviewedFile, row: RawRow, kept: &mut usize, place: &str) -> anyhow::Result<()> {
    if row.decision.trim().is_empty() {
        read.undecided += 1;
        return Ok(());
    }
    *kept += ROW_BYTES + row.text_len();
    if *kept > MAX_KEPT_BYTES {
        return Err(refuse(
            place,
            format!(
                "its rows with a decision hold more than {}",
                size(MAX_KEPT_BYTES as u64)
            ),
        ));
    }
    read.rows.push(row);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_named_as_excel_names_them() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(63), "BL");
        assert_eq!(column_name(16_383), "XFD");
    }

    #[test]
    fn a_part_with_an_over_long_text_is_refused() {
        let part = format!("<sst><si><t>{}</t></si></sst>", "A".repeat(2 << 20));
        let err = scan_part(part.as_bytes(), MAX_SHARED_STRINGS_BYTES, true).unwrap_err();
        assert!(err.contains("32,767 characters"), "{err}");
    }

    #[test]
    fn a_shared_string_count_beyond_the_limit_is_refused() {
        let part = "<sst uniqueCount=\"99999999999999999999999\"><si><t>x</t></si></sst>";
        let err = scan_part(part.as_bytes(), MAX_SHARED_STRINGS_BYTES, true).unwrap_err();
        assert!(err.contains("shared strings"), "{err}");
        let fine = "<sst count=\"1\" uniqueCount=\"1\"><si><t>x</t></si></sst>";
        assert_eq!(
            scan_part(fine.as_bytes(), MAX_SHARED_STRINGS_BYTES, true),
            Ok(fine.len() as u64)
        );
    }

    #[test]
    fn a_part_over_its_limit_is_refused_even_when_it_is_not_xml() {
        let part = vec![0u8; 4096];
        assert!(scan_part(&part[..], 1024, false).is_err());
        assert_eq!(scan_part(&part[..], 8192, false), Ok(4096));
    }
}
