//! The write side of an import: the whole snapshot in one transaction. On SQLite it goes
//! through rusqlite with one prepared single-row statement per table (five times faster than
//! sqlx's multi-row statements there); on PostgreSQL through sqlx's multi-row statements. It runs
//! on a blocking thread, so the CSV files are read synchronously beside it.

use super::accounts::{Cell, Insertable};
use super::{values_sql, Backend, Store};
use anyhow::Context;
use chrono::NaiveDate;
use sqlx::{Any, Transaction};
use tokio::runtime::Handle;

pub(crate) enum ImportWriter {
    Sqlite(rusqlite::Connection),
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
            None => {
                let mut tx = handle
                    .block_on(store.pool.begin())
                    .context("cannot start the import transaction")?;
                if replace {
                    handle.block_on(store.clear_accounts(&mut tx))?;
                }
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
            ImportWriter::Sqlx { handle, tx, .. } => handle
                .block_on(tx.commit())
                .context("cannot commit the import"),
        }
    }
}
