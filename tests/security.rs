//! Who may read what, and who did what: the modes of the store and of every file a review or the
//! demo writes, and the audit log's record of who actually ran an `accounts` change.

mod common;

use common::{scenario4, stderr, stdout, Bin, TestDb};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn as_of() -> String {
    std::fs::read_to_string(scenario4().join("AS_OF"))
        .unwrap()
        .trim()
        .to_string()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every file and folder under `root` (itself included), with its mode.
fn modes_under(root: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut found = vec![(root.to_path_buf(), true, mode(root))];
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(modes_under(&path));
        } else {
            found.push((path.clone(), false, mode(&path)));
        }
    }
    found
}

/// Asserts the modes of everything under `root`; returns how many files were checked.
fn assert_modes(root: &Path, file: u32, dir: u32) -> usize {
    let found = modes_under(root);
    let wrong: Vec<String> = found
        .iter()
        .filter(|(_, is_dir, m)| *m != if *is_dir { dir } else { file })
        .map(|(p, _, m)| format!("{} is {m:04o}", p.display()))
        .collect();
    assert!(
        wrong.is_empty(),
        "expected files {file:04o} and folders {dir:04o}: {wrong:#?}"
    );
    found.iter().filter(|(_, is_dir, _)| !is_dir).count()
}

fn store_file(db: &TestDb) -> PathBuf {
    PathBuf::from(db.url.strip_prefix("sqlite://").unwrap())
}

/// Imports scenario4 and runs a dry-run review (its mail written as .eml files) into `out`;
/// returns the run folder.
fn import_and_review(bin: &Bin, out: &Path) -> PathBuf {
    let imported = bin.run(&["import", scenario4().to_str().unwrap()]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    let reviewed = bin.run(&[
        "review",
        "--as-of",
        &as_of(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(reviewed.status.success(), "{}", stderr(&reviewed));
    let text = stdout(&reviewed);
    PathBuf::from(
        text.lines()
            .find_map(|l| l.strip_prefix("Files in "))
            .expect("the summary names the folder")
            .trim_end_matches(':'),
    )
}

#[test]
fn the_store_reports_and_mail_files_are_readable_by_their_owner_only() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    let out = tempfile::tempdir().unwrap();
    let reports = out.path().join("reports");
    let run = import_and_review(&bin, &reports);

    assert_eq!(mode(&store_file(&db)), 0o600, "the store");
    let files = assert_modes(&reports, 0o600, 0o700);
    let eml = modes_under(&run.join("mail"))
        .into_iter()
        .filter(|(p, _, _)| p.extension().is_some_and(|e| e == "eml"))
        .count();
    assert!(eml > 0 && files > eml + 3, "{files} files, {eml} messages");

    // SQLite's -wal and -shm files exist while a connection is open; they take the store's mode.
    let held = rusqlite::Connection::open(store_file(&db)).unwrap();
    held.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))
        .unwrap();
    let again = bin.run(&[
        "review",
        "--as-of",
        &as_of(),
        "--out",
        reports.to_str().unwrap(),
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    for suffix in ["-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", store_file(&db).display()));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    drop(held);
    assert_modes(&reports, 0o600, 0o700);
}

#[test]
fn a_store_created_world_readable_is_tightened_when_opened() {
    let db = TestDb::sqlite();
    let bin = Bin::new(&db);
    assert!(bin.run(&["init"]).status.success());
    let store = store_file(&db);
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o644)).unwrap();
    let listed = bin.run(&["runs"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert_eq!(mode(&store), 0o600);
}

#[test]
fn file_mode_0640_lets_the_group_read_the_reports() {
    let db = TestDb::sqlite();
    let mut bin = Bin::new(&db);
    bin.env
        .push(("POSC_REVIEW__REVIEW__FILE_MODE".into(), "0640".into()));
    let out = tempfile::tempdir().unwrap();
    let reports = out.path().join("reports");
    import_and_review(&bin, &reports);
    assert_eq!(mode(&store_file(&db)), 0o640);
    assert_modes(&reports, 0o640, 0o750);
}

#[test]
fn a_world_readable_file_mode_is_refused_naming_its_key() {
    let db = TestDb::sqlite();
    let mut bin = Bin::new(&db);
    bin.env
        .push(("POSC_REVIEW__REVIEW__FILE_MODE".into(), "0644".into()));
    let refused = bin.run(&["init"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(
        message.to_lowercase().contains("review.file_mode")
            && message.contains("others get no access"),
        "{message}"
    );
    assert!(!store_file(&db).exists(), "nothing is written");
}

#[test]
fn the_demo_snapshot_and_its_reports_are_readable_by_their_owner_only() {
    let db = TestDb::sqlite();
    let cwd = tempfile::tempdir().unwrap();
    let mut bin = Bin::new(&db);
    bin.config = None;
    bin.cwd = Some(cwd.path().to_path_buf());
    let snapshot = cwd.path().join("snapshot");
    // A snapshot folder left by an older version, world-readable, is written over.
    std::fs::create_dir(&snapshot).unwrap();
    std::fs::write(snapshot.join("users.csv"), "old").unwrap();
    std::fs::set_permissions(
        snapshot.join("users.csv"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(&snapshot, std::fs::Permissions::from_mode(0o700)).unwrap();
    let demo = bin.run(&["demo", "--snapshot", snapshot.to_str().unwrap()]);
    assert!(demo.status.success(), "{}", stderr(&demo));
    assert_eq!(
        assert_modes(&snapshot, 0o600, 0o700),
        5,
        "the five CSV files"
    );
    assert!(assert_modes(&cwd.path().join("reports"), 0o600, 0o700) > 5);
    assert_eq!(mode(&store_file(&db)), 0o600);
}

/// Who the test process runs as, as `user@host`, from the system rather than the library.
fn os_user_at_host() -> String {
    let user = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    format!(
        "{}@{}",
        String::from_utf8_lossy(&user.stdout).trim(),
        host.trim()
    )
}

/// The role of a `postgres://ROLE@HOST/DB` URL.
fn url_role(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let userinfo = rest.split_once('@').unwrap().0;
    userinfo.split(':').next().unwrap().to_string()
}

/// The same URL, logging in as `role`.
fn url_as(url: &str, role: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    format!("{scheme}://{role}@{}", rest.split_once('@').unwrap().1)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_str(&stdout(out)).unwrap()
}

const SET_BACKUP: [&str; 7] = [
    "accounts",
    "set-backup",
    "bwright",
    "--pidsl",
    "110000001A",
    "--by",
    "gpatel",
];

#[test]
fn the_audit_log_records_who_ran_a_change_beside_the_actor_it_claims() {
    for db in TestDb::all() {
        let bin = Bin::new(&db);
        let imported = bin.run(&["import", scenario4().to_str().unwrap()]);
        assert!(imported.status.success(), "{}", stderr(&imported));
        let changed = bin.run(&SET_BACKUP);
        assert!(changed.status.success(), "{}", stderr(&changed));

        let ran_as = match db.backend {
            "sqlite" => os_user_at_host(),
            _ => url_role(&db.url),
        };
        let events = json(&bin.run(&["accounts", "history", "--format", "json"]));
        let last = events.as_array().unwrap().last().unwrap();
        assert_eq!(last["actor"], "gpatel", "{}", db.backend);
        assert_eq!(last["ran_as"], ran_as.as_str(), "{}", db.backend);
        let table = stdout(&bin.run(&["accounts", "history", "bwright"]));
        let header = table.lines().next().unwrap();
        assert!(
            header.contains("ACTOR") && header.contains("RAN AS"),
            "{table}"
        );
        assert!(
            actor_then_ran_as(table.lines().nth(1).unwrap(), "gpatel", &ran_as),
            "{table}"
        );
    }
}

/// A row of `accounts history` whose ACTOR cell is `actor` and RAN AS cell `ran_as`, the
/// column after it, however wide the table's columns are.
fn actor_then_ran_as(line: &str, actor: &str, ran_as: &str) -> bool {
    let cells: Vec<&str> = line.split_whitespace().collect();
    cells.windows(2).any(|pair| pair == [actor, ran_as])
}

/// The version of the migration that added `ran_as`.
const RAN_AS_MIGRATION: i64 = 20261129000011;

#[test]
fn events_recorded_before_the_upgrade_show_who_ran_them_as_unknown() {
    for db in TestDb::all() {
        // The store as the previous version left it, with one event.
        let insert = "INSERT INTO audit_log (at, actor, action, username, username_key, pidsl, \
                      services_before, services_after, detail) \
                      VALUES ('2026-10-01T09:00:00-04:00', 'gpatel', 'remove', 'hnew', 'hnew', \
                      '110000001A', 'PORTAL', '', 'removed')";
        db.migrate_before(RAN_AS_MIGRATION, insert);

        let bin = Bin::new(&db);
        let events = json(&bin.run(&["accounts", "history", "--format", "json"]));
        assert_eq!(events[0]["actor"], "gpatel", "{}", db.backend);
        assert_eq!(events[0]["ran_as"], "", "{}", db.backend);
        let table = stdout(&bin.run(&["accounts", "history"]));
        assert!(
            table
                .lines()
                .any(|line| actor_then_ran_as(line, "gpatel", "(unknown)")),
            "{table}"
        );
    }
}

/// Login and group roles made for one test, dropped afterwards (roles belong to the whole
/// server, so their names are unique).
struct Roles {
    admin: String,
    suffix: String,
    created: Vec<String>,
}

impl Roles {
    fn new(admin: &str) -> Roles {
        Roles {
            admin: admin.to_string(),
            suffix: format!(
                "{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos()
            ),
            created: Vec::new(),
        }
    }

    /// `posc_operator` as this test names it.
    fn name(&self, role: &str) -> String {
        format!("{role}_{}", self.suffix)
    }

    /// Runs `CREATE ROLE <name> <options>` with every role name in `options` renamed too.
    fn create(&mut self, role: &str, options: &str) -> String {
        let name = self.name(role);
        let options = self.renamed(options);
        let sql = format!("CREATE ROLE {name} {options}");
        common::block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&self.admin).await.unwrap();
            sqlx::query(&sql).execute(&mut conn).await.unwrap();
        });
        self.created.push(name.clone());
        name
    }

    fn renamed(&self, sql: &str) -> String {
        ["posc_reviewer", "posc_operator", "alice", "bob"]
            .iter()
            .fold(sql.to_string(), |sql, role| {
                sql.replace(role, &self.name(role))
            })
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        let (admin, created) = (self.admin.clone(), std::mem::take(&mut self.created));
        common::block_on(async move {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                for role in created.iter().rev() {
                    let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
                        .execute(&mut conn)
                        .await;
                }
            }
        });
    }
}

/// Runs config/postgres-roles.sql (the grants README "Security and data" documents) on the
/// test database, as the role that owns the tables.
fn apply_grants(roles: &Roles, owner_url: &str) {
    let file = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/postgres-roles.sql"),
    )
    .unwrap();
    let sql: String = file
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let statements: Vec<String> = sql
        .split(';')
        .map(|s| roles.renamed(s.trim()))
        .filter(|s| !s.is_empty())
        .collect();
    assert!(statements.len() >= 6, "{statements:#?}");
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let readme = words(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap(),
    );
    for statement in sql.split(';').map(words).filter(|s| !s.is_empty()) {
        assert!(readme.contains(&statement), "README lacks {statement}");
    }
    common::block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(owner_url).await.unwrap();
        for statement in &statements {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
    });
}

/// The error code of one statement run as `url`'s role, or `None` when it succeeded.
fn sqlstate_of(url: &str, statement: &str) -> Option<String> {
    common::block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        match sqlx::query(statement).execute(&mut conn).await {
            Ok(_) => None,
            Err(sqlx::Error::Database(e)) => e.code().map(|c| c.into_owned()),
            Err(e) => panic!("{statement}: {e}"),
        }
    })
}

#[test]
fn a_reviewer_role_reviews_and_an_operator_role_changes_accounts_under_its_own_name() {
    let Some(admin) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        common::skipped("TEST_DATABASE_URL is unset: PostgreSQL roles are not tested");
        return;
    };
    // Dropped after the database, which holds the roles' grants.
    let mut roles = Roles::new(&admin);
    let db = TestDb::postgres().unwrap();
    let owner = Bin::new(&db);
    let imported = owner.run(&["import", scenario4().to_str().unwrap()]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    // As README "Security and data" says: two group roles, one login role per person.
    roles.create("posc_reviewer", "NOLOGIN");
    roles.create("posc_operator", "NOLOGIN IN ROLE posc_reviewer");
    let alice = roles.create("alice", "LOGIN IN ROLE posc_operator");
    let bob = roles.create("bob", "LOGIN IN ROLE posc_reviewer");
    apply_grants(&roles, &db.url);
    let as_role = |role: &str| Bin {
        db_url: url_as(&db.url, role),
        ..Bin::new(&db)
    };

    // bob, a reviewer: a review runs and records its run; an accounts change is refused,
    // with the reason, and nothing is written.
    let reviewer = as_role(&bob);
    let out = tempfile::tempdir().unwrap();
    let reviewed = reviewer.run(&[
        "review",
        "--as-of",
        &as_of(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(reviewed.status.success(), "{}", stderr(&reviewed));
    let runs = json(&reviewer.run(&["runs", "--format", "json"]));
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let run_id = runs[0]["id"].as_str().unwrap();
    let run_dir = out.path().join(run_id);
    let finding = &common::read_csv(&run_dir.join("findings.csv"))[0];
    let decided = out.path().join("decisions.csv");
    std::fs::write(
        &decided,
        format!(
            "run_id,fingerprint,decision,justification,reviewer\n{run_id},{},Keep,needed,bob\n",
            finding["fingerprint"]
        ),
    )
    .unwrap();
    let imported = reviewer.run(&["decisions", "import", decided.to_str().unwrap()]);
    assert!(imported.status.success(), "{}", stderr(&imported));
    let sent = reviewer.run(&["send"]);
    assert!(sent.status.success(), "{}", stderr(&sent));
    let refused = reviewer.run(&SET_BACKUP);
    let message = stderr(&refused);
    assert_eq!(refused.status.code(), Some(2), "{message}");
    assert!(
        message.contains(&format!(
            "the database role {bob} may read but not change accounts"
        )) && message.contains("permission denied for table")
            && message.contains("posc_operator"),
        "{message}"
    );
    let events = json(&owner.run(&["accounts", "history", "--format", "json"]));
    assert!(events.as_array().unwrap().is_empty(), "{events}");
    let shown = json(&reviewer.run(&["accounts", "show", "bwright", "--format", "json"]));
    assert_eq!(shown["access"][0]["role"], "subordinate", "{shown}");
    assert!(!reviewer
        .run(&["import", scenario4().to_str().unwrap()])
        .status
        .success());

    // alice, an operator: the change is made and the audit log names her role, whatever --by says.
    let operator = as_role(&alice);
    let changed = operator.run(&SET_BACKUP);
    assert!(changed.status.success(), "{}", stderr(&changed));
    let events = json(&owner.run(&["accounts", "history", "--format", "json"]));
    let last = events.as_array().unwrap().last().unwrap();
    assert_eq!(
        (&last["actor"], &last["ran_as"]),
        (&"gpatel".into(), &alice.as_str().into())
    );

    // Nor can alice write the log herself: no other name in ran_as, no edits, no deletions.
    let alice_url = url_as(&db.url, &alice);
    for statement in [
        "INSERT INTO audit_log (at, actor, action, username, username_key, pidsl, services_before, \
         services_after, detail, ran_as) VALUES ('2026-10-01', 'gpatel', 'remove', 'hnew', 'hnew', \
         '110000001A', '', '', '', 'gpatel')",
        "UPDATE audit_log SET ran_as = 'gpatel'",
        "DELETE FROM audit_log",
    ] {
        assert_eq!(sqlstate_of(&alice_url, statement).as_deref(), Some("42501"), "{statement}");
    }
    drop(db);
    drop(roles);
}

/// Whether `value` occurs in `text` as a word of its own: no letter, digit or `/` on either side
/// (so not inside a number, a date or a temporary folder's random name).
fn occurs(text: &str, value: &str) -> bool {
    let bounded = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '/');
    text.match_indices(value).any(|(i, _)| {
        bounded(text[..i].chars().next_back()) && bounded(text[i + value.len()..].chars().next())
    })
}

#[test]
fn no_log_line_carries_personal_data_even_at_trace_level() {
    let personal: Vec<String> = common::read_csv(&scenario4().join("users.csv"))
        .into_iter()
        .flat_map(|u| [u["dob_mmdd"].clone(), u["ssn_last4"].clone()])
        .filter(|v| !v.is_empty())
        .collect();
    for db in TestDb::all() {
        let mut bin = Bin::new(&db);
        bin.env.push(("RUST_LOG".into(), "trace".into()));
        let out = tempfile::tempdir().unwrap();
        let mut logs = String::new();
        for args in [
            vec!["import", scenario4().to_str().unwrap()],
            vec![
                "review",
                "--as-of",
                "2026-10-01",
                "--out",
                out.path().to_str().unwrap(),
            ],
            vec!["accounts", "show", "gpatel"],
            SET_BACKUP.to_vec(),
        ] {
            let ran = bin.run(&args);
            assert!(ran.status.success(), "{args:?}: {}", stderr(&ran));
            logs.push_str(&stderr(&ran));
        }
        // Every step logged (sqlx adds its statements on PostgreSQL; SQLite's driver logs none).
        assert!(
            logs.lines().count() > 10,
            "{} log lines",
            logs.lines().count()
        );
        for value in &personal {
            let line = logs.lines().find(|l| occurs(l, value));
            assert!(
                line.is_none(),
                "{value} in the {} logs: {line:?}",
                db.backend
            );
        }
    }
}
