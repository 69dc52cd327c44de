//! What a person reads on stdout, in one place: lines that stop quietly when the reader has
//! gone, aligned tables, times in the configured zone, and counted nouns.
//!
//! `posc-review findings | head -2` closes the pipe after two lines; `println!` then panics
//! (exit status 101). Every command prints through [`outln!`] instead, which turns a closed
//! stdout into [`StdoutClosed`], and `main` ends on it quietly with status 0, as ripgrep and
//! xsv do. Only stdout's own writes make that error: a broken pipe to an SMTP server stays a
//! failure. Tables are laid out by comfy-table, whatever the lengths of their cells; times
//! are kept as UTC instants and shown in `review.time_zone`: to the second in text, as RFC
//! 3339 with the zone's offset in JSON.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use comfy_table::CellAlignment;
use std::io::Write;

/// Stdout was closed by its reader: the command stops, and that is no failure.
#[derive(Debug, thiserror::Error)]
#[error("stdout was closed")]
pub struct StdoutClosed;

/// Prints one line on stdout, like `println!`, but returns [`StdoutClosed`] when the reader
/// has gone instead of panicking: `outln!("{n} findings")?;`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// One line on stdout (see [`outln!`]).
pub fn line(args: std::fmt::Arguments) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(stdout_error)
}

/// A write error on stdout: [`StdoutClosed`] for a closed pipe, else the error itself.
pub fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        StdoutClosed.into()
    } else {
        anyhow::Error::new(e).context("cannot write to stdout")
    }
}

/// `Ok` when the only problem was a closed stdout: for a command whose exit status says more
/// than its output (`review --fail-on`, `send` with mail undelivered), which goes on to it.
pub fn unless_closed(printed: anyhow::Result<()>) -> anyhow::Result<()> {
    match printed {
        Err(e) if e.is::<StdoutClosed>() => Ok(()),
        other => other,
    }
}

/// A csv writer's error on stdout, as [`stdout_error`].
pub fn csv_stdout_error(e: csv::Error) -> anyhow::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => stdout_error(io),
        other => anyhow::anyhow!("cannot write CSV: {other:?}"),
    }
}

/// `1 finding`, `2 findings`, `0 findings`: every noun this program counts takes an `s`.
/// The templates have it as the filter `count` (`{{ total | count("finding") }}`).
pub fn count(n: impl std::fmt::Display, singular: &str) -> String {
    let n = n.to_string();
    if n == "1" {
        format!("1 {singular}")
    } else {
        format!("{n} {singular}s")
    }
}

/// An RFC 3339 instant as a person reads it: to the second, in `zone`, e.g.
/// `2026-11-29 09:02:31 EST`. Text that is not RFC 3339 is shown as it is.
pub fn local_time(text: &str, zone: Tz) -> String {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => local_instant(t.with_timezone(&Utc), zone),
        Err(_) => text.to_string(),
    }
}

/// An instant as a person reads it: to the second, in `zone`, e.g. `2026-11-29 09:02:31 EST`.
pub fn local_instant(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

/// The fields of the records that hold an instant (kept in UTC): JSON output shows them in
/// the configured zone.
const INSTANT_FIELDS: [&str; 14] = [
    "at",
    "checked_at",
    "created_at",
    "last_import_at",
    "next_due_at",
    "oldest_pending_at",
    "started_at",
    "finished_at",
    "decided_at",
    "next_attempt_at",
    "sent_at",
    "due_at",
    "claimed_at",
    "heartbeat_at",
];

/// `value` as pretty JSON for scripts, its instants ([`INSTANT_FIELDS`]) as RFC 3339 with
/// `zone`'s offset, e.g. `2026-11-29T09:02:31.123456-05:00`.
pub fn json_in_zone(value: &impl serde::Serialize, zone: Tz) -> anyhow::Result<String> {
    fn localize(value: &mut serde_json::Value, zone: Tz) {
        match value {
            serde_json::Value::Object(fields) => {
                for (name, field) in fields.iter_mut() {
                    let instant = match &*field {
                        serde_json::Value::String(text)
                            if INSTANT_FIELDS.contains(&name.as_str()) =>
                        {
                            DateTime::parse_from_rfc3339(text).ok()
                        }
                        _ => None,
                    };
                    match instant {
                        Some(t) => *field = t.with_timezone(&zone).to_rfc3339().into(),
                        None => localize(field, zone),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| localize(v, zone)),
            _ => {}
        }
    }
    let mut tree = serde_json::to_value(value)?;
    localize(&mut tree, zone);
    Ok(serde_json::to_string_pretty(&tree)?)
}

/// A text table: a header, rows, columns as wide as their widest cell and two spaces apart.
pub struct Table {
    inner: comfy_table::Table,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        let mut inner = comfy_table::Table::new();
        inner
            .load_style(comfy_table::presets::NOTHING)
            .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
            .set_header(header.to_vec());
        for column in inner.column_iter_mut() {
            column.set_padding((0, 2));
        }
        Table { inner }
    }

    /// Numbers read best aligned on the right.
    pub fn right_aligned(mut self, columns: &[usize]) -> Table {
        for &i in columns {
            if let Some(column) = self.inner.column_mut(i) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        self
    }

    pub fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.inner
            .add_row(cells.into_iter().map(|c| c.to_string()).collect::<Vec<_>>());
    }

    /// Prints the table on stdout, line by line.
    pub fn print(&self) -> anyhow::Result<()> {
        for text in self.inner.lines() {
            outln!("{}", text.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_is_plural() {
        assert_eq!(count(1, "finding"), "1 finding");
        assert_eq!(count(0usize, "finding"), "0 findings");
        assert_eq!(count(2u64, "message"), "2 messages");
        assert_eq!(count(-1i64, "day"), "-1 days");
    }

    #[test]
    fn times_are_shown_to_the_second_in_the_zone() {
        let zone: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            local_time("2026-11-29T14:02:31.123456789+00:00", zone),
            "2026-11-29 09:02:31 EST"
        );
        assert_eq!(
            local_time("2026-07-01T12:00:00.5Z", zone),
            "2026-07-01 08:00:00 EDT"
        );
        assert_eq!(local_time("-", zone), "-");
    }

    #[test]
    fn json_shows_instants_with_the_zone_s_offset() {
        let zone: Tz = "America/New_York".parse().unwrap();
        let value = serde_json::json!({
            "runs": [{ "started_at": "2026-11-29T14:02:31.5Z", "finished_at": null }],
            "as_of": "2026-11-29T14:02:31Z",
        });
        let shown: serde_json::Value =
            serde_json::from_str(&json_in_zone(&value, zone).unwrap()).unwrap();
        assert_eq!(
            shown["runs"][0]["started_at"],
            "2026-11-29T09:02:31.500-05:00"
        );
        assert_eq!(shown["runs"][0]["finished_at"], serde_json::Value::Null);
        assert_eq!(shown["as_of"], "2026-11-29T14:02:31Z");
    }
}
