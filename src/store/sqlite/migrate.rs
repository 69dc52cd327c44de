//! The SQLite migrations, embedded by `sqlx::migrate!` and applied here with rusqlite. The
//! bookkeeping is sqlx's own `_sqlx_migrations` table, unchanged, so that a store migrated by an
//! older binary (through sqlx) is recognized and one migrated here stays readable by sqlx's tools.

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sqlx::migrate::{Migration, Migrator};
use std::collections::HashMap;
use std::time::Instant;

pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Applies the pending `migrations`, each in its own transaction with its record. Refuses a
/// store where an applied migration failed, was changed since, or is unknown to this binary.
pub(super) fn run<'a>(
    conn: &mut Connection,
    migrations: impl Iterator<Item = &'a Migration>,
) -> anyhow::Result<()> {
    // As sqlx creates it.
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        );",
    )
    .context("cannot create the table _sqlx_migrations")?;
    let migrations: Vec<&Migration> = migrations
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    let applied = check_applied(conn, &migrations)?;
    let pending: Vec<&Migration> = migrations
        .into_iter()
        .filter(|m| !applied.contains_key(&m.version))
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    // Recreating a table under the ones that refer to it (SQLite's procedure for changing a
    // column's type) needs foreign keys off, which a transaction cannot change.
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let applied = pending
        .iter()
        .try_for_each(|migration| apply(conn, migration));
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    applied
}

/// The versions already recorded, with their checksum and whether they succeeded.
fn applied(conn: &Connection) -> anyhow::Result<HashMap<i64, (Vec<u8>, bool)>> {
    let mut statement =
        conn.prepare("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, i64>("version")?,
            (
                row.get::<_, Vec<u8>>("checksum")?,
                row.get::<_, bool>("success")?,
            ),
        ))
    })?;
    rows.collect::<Result<_, _>>()
        .context("cannot read the table _sqlx_migrations")
}

/// The applied migrations, once each is known to this binary, succeeded and is unchanged.
fn check_applied(
    conn: &Connection,
    migrations: &[&Migration],
) -> anyhow::Result<HashMap<i64, (Vec<u8>, bool)>> {
    let known: HashMap<i64, &Migration> = migrations.iter().map(|m| (m.version, *m)).collect();
    let applied = applied(conn)?;
    for (version, (checksum, success)) in &applied {
        let Some(migration) = known.get(version) else {
            anyhow::bail!(
                "the database has migration {version}, which this posc-review does not know: \
                 it was written by a newer version; use that one"
            );
        };
        anyhow::ensure!(
            *success,
            "migration {version} ({}) failed part-way in this database: restore it from a backup",
            migration.description
        );
        anyhow::ensure!(
            **checksum == *migration.checksum,
            "migration {version} ({}) was applied to this database from a different file than \
             this posc-review's: it was changed after release",
            migration.description
        );
    }
    Ok(applied)
}

/// Applies one migration with its record, unless another process applied it meanwhile (the
/// IMMEDIATE lock makes the check and the change one step).
fn apply(conn: &mut Connection, migration: &Migration) -> anyhow::Result<()> {
    let started = Instant::now();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let done = tx
        .query_row(
            "SELECT version FROM _sqlx_migrations WHERE version = ?1",
            [migration.version],
            |row| row.get::<_, i64>("version"),
        )
        .optional()?;
    if done.is_some() {
        return Ok(());
    }
    tx.execute_batch(&migration.sql).with_context(|| {
        format!(
            "migration {} ({}) failed",
            migration.version, migration.description
        )
    })?;
    tx.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?1, ?2, TRUE, ?3, ?4)",
        params![
            migration.version,
            &*migration.description,
            &*migration.checksum,
            i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX),
        ],
    )?;
    tx.commit()
        .with_context(|| format!("cannot commit migration {}", migration.version))
}
