//! Who may read what posc-review writes. The store holds personal data (`dob_mmdd`,
//! `ssn_last4`) and the reports name every user and their access, so nothing the program
//! creates is readable by other users of the machine: files are `0600` and folders `0700`, or
//! what `[review] file_mode` allows a group of readers (`0640`, `0660`), never more.
//!
//! Two layers, because files are created in many places and some by libraries (SQLite's
//! database, `-wal` and `-shm` files): the process umask is set once at start from the setting,
//! which covers every file any code creates; and the files and folders our own code creates
//! ask for the mode explicitly, so that one that already existed (a demo snapshot written over
//! an older one) is brought down to it as well. A store file created before this existed is
//! tightened when a command opens it.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::OnceLock;

/// The permission bits of the files posc-review creates: the owner reads and writes; the group
/// may read, or read and write; others get nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode(u32);

impl FileMode {
    /// Owner only: the default.
    pub const PRIVATE: FileMode = FileMode(0o600);

    /// Four octal digits (`0600`, `0640`, `0660`) or three (`600`).
    pub fn parse(text: &str) -> Result<FileMode, String> {
        let digits = text.trim();
        let expected =
            "expected an octal mode such as \"0600\" (owner only) or \"0640\" (a group may read)";
        let bits = match digits.len() {
            3 | 4 if digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) => {
                u32::from_str_radix(digits, 8).map_err(|_| format!("{text:?}: {expected}"))?
            }
            _ => return Err(format!("{text:?}: {expected}")),
        };
        if bits & 0o600 != 0o600 {
            return Err(format!("{text:?}: the owner must be able to read and write (6 in the owner's digit); {expected}"));
        }
        if bits & !0o660 != 0 {
            return Err(format!(
                "{text:?}: the files hold personal data: others get no access, nobody may execute, and no special bits; the group may read (0640) or read and write (0660)"
            ));
        }
        Ok(FileMode(bits))
    }

    /// The mode of a file.
    pub fn file(self) -> u32 {
        self.0
    }

    /// The mode of a folder: a class that may read its files may also enter it.
    pub fn dir(self) -> u32 {
        self.0 | (self.0 & 0o444) >> 2
    }

    /// The umask that gives new files [`FileMode::file`] and new folders [`FileMode::dir`].
    pub fn umask(self) -> u32 {
        !self.dir() & 0o777
    }
}

impl std::fmt::Display for FileMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// A string in a file; an environment variable's `0640` arrives as the number 640.
impl<'de> serde::Deserialize<'de> for FileMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FileMode, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Given {
            Text(String),
            Digits(u64),
        }
        let text = match Given::deserialize(d)? {
            Given::Text(text) => text,
            Given::Digits(digits) => format!("{digits:04}"),
        };
        FileMode::parse(&text).map_err(serde::de::Error::custom)
    }
}

static MODE: OnceLock<FileMode> = OnceLock::new();

/// Sets the process umask from `mode`, for the rest of the process: called once at start,
/// before anything is written.
pub fn restrict(mode: FileMode) {
    let mode = *MODE.get_or_init(|| mode);
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(mode.umask()));
}

/// The mode set at start, or owner-only.
pub fn mode() -> FileMode {
    MODE.get().copied().unwrap_or(FileMode::PRIVATE)
}

/// Creates (or truncates) a file with [`mode`]; an existing file with wider permissions is
/// brought down to it.
pub fn create(path: &Path) -> std::io::Result<File> {
    let mode = mode().file();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    if file.metadata()?.permissions().mode() & 0o7777 & !mode != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(file)
}

/// [`create`], then writes `contents`.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> std::io::Result<()> {
    create(path)?.write_all(contents.as_ref())
}

/// Creates a folder and its missing parents with [`FileMode::dir`] of [`mode`].
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode().dir())
        .create(path)
}

/// Creates a folder that must not exist yet (its parent must), with [`FileMode::dir`] of
/// [`mode`]: `AlreadyExists` tells the caller someone else has the name.
pub fn create_new_dir(path: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().mode(mode().dir()).create(path)
}

/// Brings an existing SQLite store (and its `-wal` and `-shm` files) down to [`mode`]: one
/// created before `file_mode` existed was world-readable. A file that is not ours to change
/// is left as it is, with a warning that says what to run.
pub fn tighten_store(url: &str) {
    if !url.starts_with("sqlite:") {
        return;
    }
    let Ok(db) = crate::store::sqlite::sqlite_file(url) else {
        return;
    };
    let mode = mode().file();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.clone().into_os_string();
        name.push(suffix);
        let path = Path::new(&name);
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        let current = meta.permissions().mode() & 0o7777;
        if current & !mode == 0 {
            continue;
        }
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode)) {
            Ok(()) => tracing::info!(
                file = %path.display(),
                from = %format!("{current:04o}"),
                to = %format!("{:04o}", current & mode),
                "store file permissions tightened to review.file_mode"
            ),
            Err(e) => tracing::warn!(
                file = %path.display(),
                mode = %format!("{current:04o}"),
                "the store is readable beyond review.file_mode and cannot be changed ({e}): run chmod {:o} on it",
                mode
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_only_is_the_default_and_gives_private_folders() {
        let mode = FileMode::parse("0600").unwrap();
        assert_eq!(mode, FileMode::PRIVATE);
        assert_eq!(
            (mode.file(), mode.dir(), mode.umask()),
            (0o600, 0o700, 0o077)
        );
    }

    #[test]
    fn a_group_of_readers_may_also_enter_the_folders() {
        let mode = FileMode::parse("640").unwrap();
        assert_eq!(
            (mode.file(), mode.dir(), mode.umask()),
            (0o640, 0o750, 0o027)
        );
        let mode = FileMode::parse("0660").unwrap();
        assert_eq!(
            (mode.file(), mode.dir(), mode.umask()),
            (0o660, 0o770, 0o007)
        );
        assert_eq!(mode.to_string(), "0660");
    }

    #[test]
    fn world_readable_or_executable_modes_are_refused() {
        for text in ["0644", "0604", "0700", "0610", "4600", "1600"] {
            let err = FileMode::parse(text).unwrap_err();
            assert!(err.contains("others get no access"), "{text}: {err}");
        }
    }

    #[test]
    fn an_owner_who_cannot_read_and_write_is_refused() {
        for text in ["0400", "0200", "0040"] {
            let err = FileMode::parse(text).unwrap_err();
            assert!(
                err.contains("owner must be able to read and write"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn anything_but_an_octal_mode_is_refused() {
        for text in ["", "600o", "0o600", "rw-------", "0800", "00600", "384"] {
            assert!(FileMode::parse(text).is_err(), "{text}");
        }
    }
}
