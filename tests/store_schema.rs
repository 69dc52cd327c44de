//! The two migration folders define the same store: every table and column that one backend's
//! migrations make, the other's make too (by name; each backend has its own types).

mod common;

use common::{block_on, TestDb};
use sqlx::Connection;
use std::collections::{BTreeMap, BTreeSet};

type Schema = BTreeMap<String, BTreeSet<String>>;

/// sqlx's bookkeeping, not the program's.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

fn sqlite_schema(file: &str) -> Schema {
    let conn = rusqlite::Connection::open(file).unwrap();
    let mut tables = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap();
    let names: Vec<String> = tables
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut columns = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .unwrap();
    names
        .into_iter()
        .filter(|table| table != MIGRATIONS_TABLE)
        .map(|table| {
            let names = columns
                .query_map([&table], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (table, names)
        })
        .collect()
}

async fn postgres_schema(url: &str) -> Schema {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (table, column) in rows {
        schema.entry(table).or_default().insert(column);
    }
    schema
}

#[test]
fn both_backends_define_the_same_tables_and_columns() {
    let Some(pg) = TestDb::postgres() else {
        return;
    };
    let sqlite = TestDb::sqlite();
    let timeout = posc_review::store::DEFAULT_CONNECT_TIMEOUT;
    let postgres = block_on(async {
        for db in [&sqlite, &pg] {
            posc_review::store::open(&db.url, timeout)
                .await
                .unwrap()
                .close()
                .await;
        }
        postgres_schema(&pg.url).await
    });
    let sqlite = sqlite_schema(sqlite.url.trim_start_matches("sqlite://"));
    assert!(!postgres.is_empty(), "the PostgreSQL store has no tables");
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres define different tables or columns"
    );
}
