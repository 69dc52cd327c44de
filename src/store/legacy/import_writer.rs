//! The write side of an import: the whole snapshot in one transaction. On SQLite it goes
//! through rusqlite with one prepared single-row statement per table (five times faster than
//! sqlx's multi-row statements there). On PostgreSQL a replacing import streams each table
//! with `COPY ... FROM STDIN` on a connection of its own (multi-row INSERTs took 97 s for a
//! statewide snapshot); a `--merge` import updates by key, which `COPY` cannot, through sqlx's
//! multi-row statements. It runs on a blocking thread, so the CSV files are read synchronously
//! beside it.

use super::accounts::{Cell, Insertable};
use super::{values_sql, Backend, Store};
use anyhow::Context;
use chrono::NaiveDate;
use sqlx::postgres::PgConnection;
use sqlx::{Any, Connection, Transaction};
use tokio::runtime::Handle;

pub(crate) enum ImportWriter {
    Sqlite(rusqlite::Connection),
    /// A replacing import into PostgreSQL, inside a `BEGIN` on `conn`: closing the connection
    /// without `commit` rolls it back.
    Copy {
        conn: PgConnection,
        handle: Handle,
    },
    Sqlx {
        store: Store,
        handle: Handle,
        tx: Transaction<'static, Any>,
    },
}

impl ImportWriter {
    /// Starts the transaction; `replace` empties the account tables first. Call it from a
    /// blocking thread of the runtime (`tokio::task::spawn_blocking`).
    pub(crate) fn begin(
        store: &Store,
        handle: Handle,
        replace: bool,
    ) -> anyhow::Result<ImportWriter> {
        match &store.sqlite_file {
            Some(path) => {
                let conn = rusqlite::Connection::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                conn.busy_timeout(std::time::Duration::from_secs(30))?;
                conn.execute_batch(
                    "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -400000; BEGIN IMMEDIATE",
                )?;
                if replace {
                    conn.execute_batch("DELETE FROM access; DELETE FROM users; DELETE FROM pidsls; DELETE FROM organizations;")
                        .context("cannot empty the account store")?;
                }
                Ok(ImportWriter::Sqlite(conn))
            }
            None if replace => {
                let options = store
                    .postgres
                    .as_ref()
                    .context("a PostgreSQL store without its connection options")?;
                let mut conn = handle
                    .block_on(PgConnection::connect_with(options))
                    .context("cannot connect for the import")?;
                // A review's snapshot load locks the tables in this order too (accounts.rs).
                handle
                    .block_on(
                        sqlx::raw_sql("BEGIN; TRUNCATE access, users, pidsls, organizations")
                            .execute(&mut conn),
                    )
                    .context("cannot empty the account store")?;
                Ok(ImportWriter::Copy { conn, handle })
            }
            None => {
                let tx = handle
                    .block_on(store.pool.begin())
                    .context("cannot start the import transaction")?;
                Ok(ImportWriter::Sqlx {
                    store: store.clone(),
                    handle,
                    tx,
                })
            }
        }
    }

    /// Inserts (or, by key, updates) rows of one account table.
    pub(crate) fn write<T: Insertable>(&mut self, rows: &[T]) -> anyhow::Result<()> {
        match self {
            ImportWriter::Sqlite(conn) => {
                let sql = values_sql(Backend::Sqlite, T::HEAD, T::COLUMNS, 1, T::TAIL);
                let mut statement = conn.prepare_cached(&sql)?;
                for row in rows {
                    let cells: Vec<Cell> = row.cells();
                    statement
                        .execute(rusqlite::params_from_iter(cells.iter()))
                        .with_context(|| format!("cannot write: {}", T::HEAD))?;
                }
                Ok(())
            }
            ImportWriter::Copy { conn, handle } => {
                let target = T::HEAD
                    .strip_prefix("INSERT INTO ")
                    .context("an insert that names no table")?;
                let mut text = Vec::with_capacity(rows.len() * 128);
                for row in rows {
                    copy_line(&mut text, &row.cells());
                }
                handle
                    .block_on(async {
                        let mut copy = conn
                            .copy_in_raw(&format!("COPY {target} FROM STDIN"))
                            .await?;
                        copy.send(text).await?;
                        copy.finish().await
                    })
                    .with_context(|| format!("cannot write: {}", T::HEAD))?;
                Ok(())
            }
            ImportWriter::Sqlx { store, handle, tx } => handle.block_on(store.write_rows(tx, rows)),
        }
    }

    /// Sets terminated_on for users already in the store (a roster applied by `--merge`).
    pub(crate) fn set_terminated(&mut self, updates: &[(i64, NaiveDate)]) -> anyhow::Result<()> {
        match self {
            ImportWriter::Sqlite(conn) => {
                let mut statement =
                    conn.prepare_cached("UPDATE users SET terminated_on = ?1 WHERE id = ?2")?;
                for (id, date) in updates {
                    statement
                        .execute(rusqlite::params![date.format("%Y-%m-%d").to_string(), id])?;
                }
                Ok(())
            }
            // A replacing import's roster only matches users of its own files, all written.
            ImportWriter::Copy { .. } => {
                anyhow::ensure!(
                    updates.is_empty(),
                    "a replacing import cannot update users outside its files"
                );
                Ok(())
            }
            ImportWriter::Sqlx { store, handle, tx } => {
                handle.block_on(store.set_terminated(tx, updates))
            }
        }
    }

    pub(crate) fn commit(self) -> anyhow::Result<()> {
        match self {
            ImportWriter::Sqlite(conn) => conn
                .execute_batch("COMMIT")
                .context("cannot commit the import"),
            ImportWriter::Copy { mut conn, handle } => handle
                .block_on(async {
                    sqlx::raw_sql("COMMIT").execute(&mut conn).await?;
                    conn.close().await
                })
                .context("cannot commit the import"),
            ImportWriter::Sqlx { handle, tx, .. } => handle
                .block_on(tx.commit())
                .context("cannot commit the import"),
        }
    }
}

/// One row in `COPY`'s text format: tab-separated, `\N` for NULL, and backslash, tab, newline
/// and carriage return escaped (bytes of multi-byte UTF-8 characters never match those).
fn copy_line(out: &mut Vec<u8>, cells: &[Cell]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match cell {
            Cell::Text(text) => copy_text(out, text),
            Cell::Owned(text) => copy_text(out, text),
            Cell::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Cell::Null => out.extend_from_slice(b"\\N"),
        }
    }
    out.push(b'\n');
}

fn copy_text(out: &mut Vec<u8>, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_lines_escape_what_the_text_format_reserves() {
        let mut out = Vec::new();
        copy_line(
            &mut out,
            &[
                Cell::Int(42),
                Cell::Text("O\\Brien\tJr\r\nline"),
                Cell::Null,
                Cell::Owned("José".into()),
            ],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "42\tO\\\\Brien\\tJr\\r\\nline\t\\N\tJosé\n"
        );
    }
}
