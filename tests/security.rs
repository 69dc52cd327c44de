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
    let demo = bin.run(&["demo", "--out", snapshot.to_str().unwrap()]);
    assert!(demo.status.success(), "{}", stderr(&demo));
    assert_eq!(
        assert_modes(&snapshot, 0o600, 0o700),
        5,
        "the five CSV files"
    );
    assert!(assert_modes(&cwd.path().join("reports"), 0o600, 0o700) > 5);
    assert_eq!(mode(&store_file(&db)), 0o600);
}
