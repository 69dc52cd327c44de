//! The files a run writes into OUT/<run-id>/: findings.csv and access.csv (`csv`), the
//! workbook (`xlsx`), and summary.html (`html`), the last two from one [`summary::Summary`].

pub mod csv;
pub mod html;
pub mod summary;
pub mod trend;
pub mod xlsx;

use crate::domain::Role;
use crate::snapshot::Snapshot;
use chrono::NaiveDate;
use serde::Serialize;

/// Who administers one active PID/SL: what the Primary User Policy asks staff to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PidSlAdmins {
    pub pidsl: String,
    /// The PID/SL's name in the store (may be empty).
    pub name: String,
    /// `None`: the PID/SL has no active Primary User (or backup).
    pub primary: Option<Admin>,
    pub backup: Option<Admin>,
}

/// A Primary User or backup, with how to reach them (never personal data beyond the contact
/// details the POSC account holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Admin {
    pub name: String,
    pub username: String,
    pub email: String,
    pub phone: String,
}

/// The administrators of each active PID/SL of the organization `org` (index into
/// `snapshot.orgs`), in PID/SL order: its active Primary User and backup as of `as_of`. For its
/// workbook's Administrators sheet and its management report; reads only its own PID/SLs.
pub fn administrators_of_org(snapshot: &Snapshot, org: u32, as_of: NaiveDate) -> Vec<PidSlAdmins> {
    let mut admins: Vec<PidSlAdmins> = snapshot
        .pidsls_of(org)
        .iter()
        .filter_map(|&p| pidsl_admins(snapshot, p, as_of))
        .collect();
    admins.sort_by(|a, b| a.pidsl.cmp(&b.pidsl));
    admins
}

/// The administrators of PID/SL `p`; `None` when it is not active.
fn pidsl_admins(snapshot: &Snapshot, p: u32, as_of: NaiveDate) -> Option<PidSlAdmins> {
    let record = snapshot.pidsl(p);
    if !record.active {
        return None;
    }
    let holder = |role: Role| {
        snapshot
            .access_on(p)
            .iter()
            .filter(|a| a.role == role)
            .map(|a| snapshot.user(a.user))
            .find(|u| u.is_active(as_of))
            .map(|u| Admin {
                name: u.full_name(),
                username: u.username.clone(),
                email: u.email.clone(),
                phone: u.phone.clone(),
            })
    };
    Some(PidSlAdmins {
        pidsl: record.pidsl.to_string(),
        name: record.name.clone(),
        primary: holder(Role::Primary),
        backup: holder(Role::Backup),
    })
}

/// The access rows a run reports (access.csv, User Access), by index into `snapshot.access`:
/// those whose PID/SL or user belongs to an organization in scope (`in_scope[org]`).
pub fn run_access_rows(snapshot: &Snapshot, in_scope: &[bool]) -> Vec<u32> {
    (0..snapshot.access.len() as u32)
        .filter(|&i| {
            let a = &snapshot.access[i as usize];
            in_scope[snapshot.pidsl(a.pidsl).org as usize]
                || in_scope[snapshot.user(a.user).org as usize]
        })
        .collect()
}

/// Per organization (same index as `snapshot.orgs`), its access rows: those on its PID/SLs and
/// those of its users, in one pass over the snapshot.
pub fn access_rows_by_org(snapshot: &Snapshot) -> Vec<Vec<u32>> {
    let mut by_org = vec![Vec::new(); snapshot.orgs.len()];
    for (i, a) in snapshot.access.iter().enumerate() {
        let pidsl_org = snapshot.pidsl(a.pidsl).org;
        let user_org = snapshot.user(a.user).org;
        by_org[pidsl_org as usize].push(i as u32);
        if user_org != pidsl_org {
            by_org[user_org as usize].push(i as u32);
        }
    }
    by_org
}

/// `value` as part of a file name, unique per value: every character a file name should not
/// hold is replaced by `_`, and when that changed anything, `+` and a short hash of `value`
/// follow. Organization ids `ORG/X` and `ORG_X` would otherwise share one workbook and one
/// message file, each overwriting the other's; `+` is never kept from a value, so a cleaned
/// name cannot be another value's name either.
pub fn file_safe(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned == value {
        return cleaned;
    }
    let hash = <sha2::Sha256 as sha2::Digest>::digest(value.as_bytes());
    let short: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{cleaned}+{short}")
}

/// Whether a spreadsheet would read `value` as a formula when it is typed (or a cell holding
/// it is edited): it starts with `=`, `+`, `-`, `@`, or a tab or carriage return.
pub fn looks_like_formula(value: &str) -> bool {
    matches!(
        value.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// Makes a CSV cell safe to open in a spreadsheet: a value that [looks like a
/// formula](looks_like_formula) gets a leading apostrophe so it shows as text.
pub fn spreadsheet_safe(value: &str) -> std::borrow::Cow<'_, str> {
    if looks_like_formula(value) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_looking_values_become_text() {
        for value in ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)"] {
            assert_eq!(spreadsheet_safe(value), format!("'{value}"));
        }
    }

    #[test]
    fn ids_that_clean_to_the_same_name_get_names_of_their_own() {
        assert_eq!(file_safe("ORG_X"), "ORG_X");
        let cleaned = file_safe("ORG/X");
        assert!(cleaned.starts_with("ORG_X+"), "{cleaned}");
        assert_eq!(cleaned.len(), "ORG_X+".len() + 8);
        assert_ne!(cleaned, file_safe("ORG X"));
        assert_eq!(cleaned, file_safe("ORG/X"), "stable");
    }

    #[test]
    fn ordinary_values_are_unchanged() {
        assert_eq!(spreadsheet_safe("gpatel"), "gpatel");
        assert_eq!(spreadsheet_safe(""), "");
    }
}
