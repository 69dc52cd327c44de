//! Shared test helpers: a fresh database per test on every backend, the binary, and copies of
//! the fixture snapshots.
#![allow(dead_code)]

pub mod smtp;

use chrono::{DateTime, Utc};
use posc_review::store::Store;
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

/// The snapshots the tests run on, kept in the repository (`tests/fixtures/<name>/`: the CSV
/// files, `config.toml`, `AS_OF` and `expected_findings.csv`).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn scenario4() -> PathBuf {
    fixtures_dir().join("scenario4")
}

/// A fresh database that is dropped with the value.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    /// The database file of a SQLite store.
    sqlite_file: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("store.db");
        TestDb {
            url: format!("sqlite://{}", file.display()),
            backend: "sqlite",
            sqlite_file: Some(file),
            _dir: Some(dir),
            pg_admin: None,
        }
    }

    /// A new PostgreSQL database on TEST_DATABASE_URL's server, or `None` when it is unset.
    /// Under CI (`CI` set) an unset URL fails the test: a skipped backend is no pass.
    pub fn postgres() -> Option<TestDb> {
        let Some(admin) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            skipped("TEST_DATABASE_URL is unset: the PostgreSQL half is skipped");
            return None;
        };
        let name = format!("posc_test_{}_{}", std::process::id(), unique());
        block_on(async {
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("TEST_DATABASE_URL must be reachable");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
        });
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(&admin)
            .to_string();
        Some(TestDb {
            url: format!("{base}/{name}"),
            backend: "postgres",
            sqlite_file: None,
            _dir: None,
            pg_admin: Some((admin, name)),
        })
    }

    /// SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (CI sets it).
    pub fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        dbs.extend(TestDb::postgres());
        dbs
    }

    /// Runs `sql` (one or more statements) on the test database directly, on a connection of
    /// its own: a row the program itself would refuse, or a state it is hard to bring about.
    /// The store is opened first, so its tables exist. Times go in as [`sql_time`] literals.
    pub fn execute(&self, sql: &str) {
        block_on(async {
            self.store().await.close().await;
            match &self.sqlite_file {
                Some(file) => {
                    let conn = rusqlite::Connection::open(file).unwrap();
                    conn.busy_timeout(std::time::Duration::from_secs(30))
                        .unwrap();
                    conn.execute_batch(sql).unwrap();
                }
                None => {
                    let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                    sqlx::Executor::execute(&mut conn, sql).await.unwrap();
                    conn.close().await.unwrap();
                }
            }
        });
    }

    /// The first column of each row `sql` returns, as text (cast it in `sql` if need be), read
    /// on a connection of its own: what no command shows, such as which texts the outbox kept.
    pub fn column(&self, sql: &str) -> Vec<String> {
        block_on(async {
            match &self.sqlite_file {
                Some(file) => {
                    let conn = rusqlite::Connection::open(file).unwrap();
                    let mut statement = conn.prepare(sql).unwrap();
                    let rows = statement.query_map([], |row| row.get(0)).unwrap();
                    rows.map(Result::unwrap).collect()
                }
                None => {
                    let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                    let rows = sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap();
                    conn.close().await.unwrap();
                    rows
                }
            }
        })
    }

    /// The keys of the outbox's messages whose texts it keeps, and of those whose texts it
    /// deleted, each sorted.
    pub fn outbox_texts(&self) -> (Vec<String>, Vec<String>) {
        let with = |exists: &str| {
            let mut keys = self.column(&format!(
                "SELECT o.idempotency_key FROM outbox o WHERE {exists} (SELECT 1 FROM \
                 outbox_messages m WHERE m.idempotency_key = o.idempotency_key)"
            ));
            keys.sort();
            keys
        };
        (with("EXISTS"), with("NOT EXISTS"))
    }

    /// Leaves the database as a binary with only the migrations before `version` left it:
    /// those applied and recorded the way sqlx records them, the later ones not; then runs
    /// `sql` on it (rows as that binary wrote them).
    pub fn migrate_before(&self, version: i64, sql: &str) {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(self.backend);
        block_on(async {
            let mut migrator = sqlx::migrate::Migrator::new(folder.as_path())
                .await
                .unwrap();
            let before: Vec<_> = migrator
                .iter()
                .filter(|m| m.version < version)
                .cloned()
                .collect();
            assert!(
                before.len() < migrator.iter().count(),
                "no migration {version}"
            );
            match &self.sqlite_file {
                Some(file) => {
                    let conn = rusqlite::Connection::open(file).unwrap();
                    conn.execute_batch(
                        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, \
                         description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT \
                         CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BLOB NOT NULL, \
                         execution_time BIGINT NOT NULL)",
                    )
                    .unwrap();
                    for m in &before {
                        conn.execute_batch(&m.sql).unwrap();
                        conn.execute(
                            "INSERT INTO _sqlx_migrations (version, description, success, \
                             checksum, execution_time) VALUES (?1, ?2, TRUE, ?3, 0)",
                            rusqlite::params![m.version, &*m.description, &*m.checksum],
                        )
                        .unwrap();
                    }
                    conn.execute_batch(sql).unwrap();
                }
                None => {
                    migrator.migrations = before.into();
                    let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
                    migrator.run(&pool).await.unwrap();
                    sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                    pool.close().await;
                }
            }
        });
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        posc_review::store::open(&self.url, posc_review::store::DEFAULT_CONNECT_TIMEOUT)
            .await
            .unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
            block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        }
    }
}

/// An instant as an SQL literal both backends store: the fixed-width UTC text of a SQLite
/// store, which PostgreSQL reads as a `timestamptz`.
pub fn sql_time(t: DateTime<Utc>) -> String {
    format!("'{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

/// A helper this test needs is missing: under CI that is a failure; elsewhere one line says
/// what was skipped.
pub fn skipped(what: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {what}, and CI must run it");
    }
    eprintln!("SKIPPED in {test}: {what}");
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    nanos * 1000 + NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs a future to completion on its own runtime, from sync or async code alike.
pub fn block_on<F: std::future::Future + Send>(future: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(future)
        })
        .join()
        .unwrap()
    })
}

/// The binary, with a database and (optionally) a configuration file.
pub struct Bin {
    pub db_url: String,
    pub config: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl Bin {
    pub fn new(db: &TestDb) -> Bin {
        Bin {
            db_url: db.url.clone(),
            config: Some(scenario4().join("config.toml")),
            cwd: None,
            env: Vec::new(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Starts the binary without waiting for it, its output captured.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The command `run` runs, to spawn with other standard streams.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_posc-review"));
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        cmd.arg("--database-url").arg(&self.db_url).args(args);
        cmd.env_remove("RUST_LOG");
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        cmd
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Copies a sample snapshot's CSV files into a new temporary folder, to be altered by a test.
pub fn copy_snapshot(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "csv") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// Reads a CSV file into header-keyed rows.
pub fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            headers
                .iter()
                .map(str::to_string)
                .zip(r.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// One part of an xlsx (or any zip), decompressed: e.g. `xl/styles.xml`. The zip crate, not
/// an `unzip` command, so the checks that read it always run.
pub fn xlsx_part(path: &Path, part: &str) -> String {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut entry = archive
        .by_name(part)
        .unwrap_or_else(|e| panic!("{}: no part {part}: {e}", path.display()));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
    text
}

/// Every part of an xlsx, decompressed and concatenated.
pub fn xlsx_text(path: &Path) -> String {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut text = String::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        text.push_str(&String::from_utf8_lossy(&bytes));
        text.push('\n');
    }
    text
}
