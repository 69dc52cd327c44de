//! findings.csv and access.csv, with exactly the SPEC's columns and order. No personal data
//! is ever written, and every cell is spreadsheet-safe.

use super::spreadsheet_safe;
use crate::records::FindingRow;
use crate::snapshot::Snapshot;
use anyhow::Context;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

pub const FINDINGS_COLUMNS: [&str; 12] = [
    "run_id",
    "rule",
    "severity",
    "status",
    "org_id",
    "pidsl",
    "username",
    "user_name",
    "detail",
    "remediation",
    "first_seen",
    "fingerprint",
];

pub const ACCESS_COLUMNS: [&str; 11] = [
    "org_id",
    "pidsl",
    "username",
    "user_name",
    "user_org_id",
    "linked",
    "role",
    "services",
    "last_login_at",
    "status",
    "terminated_on",
];

/// A CSV writer with a UTF-8 byte-order mark, so spreadsheets read the names right.
fn writer(path: &Path) -> anyhow::Result<csv::Writer<BufWriter<File>>> {
    let mut file = BufWriter::with_capacity(
        1 << 20,
        crate::files::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    file.write_all("\u{feff}".as_bytes())?;
    Ok(csv::Writer::from_writer(file))
}

fn write_safe_record<'a>(
    out: &mut csv::Writer<BufWriter<File>>,
    cells: impl IntoIterator<Item = &'a str>,
) -> csv::Result<()> {
    out.write_record(cells.into_iter().map(|c| spreadsheet_safe(c).into_owned()))
}

/// One findings.csv record, spreadsheet-safe, in FINDINGS_COLUMNS order.
pub fn finding_record(f: &FindingRow) -> [String; 12] {
    [
        f.run_id.as_str(),
        f.rule.as_str(),
        f.severity.as_str(),
        f.status.as_str(),
        &f.org_id,
        &f.pidsl,
        &f.username,
        &f.user_name,
        &f.detail,
        &f.remediation,
        &f.first_seen.to_string(),
        &f.fingerprint,
    ]
    .map(|cell| spreadsheet_safe(cell).into_owned())
}

pub fn write_findings(path: &Path, findings: &[FindingRow]) -> anyhow::Result<()> {
    let mut out = writer(path)?;
    out.write_record(FINDINGS_COLUMNS)?;
    for f in findings {
        out.write_record(finding_record(f))?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The user-access report: one row per access row of `rows` (indices into `snapshot.access`,
/// see [`super::run_access_rows`]).
pub fn write_access(path: &Path, snapshot: &Snapshot, rows: &[u32]) -> anyhow::Result<()> {
    let mut out = writer(path)?;
    out.write_record(ACCESS_COLUMNS)?;
    for &index in rows {
        let access = &snapshot.access[index as usize];
        let user = snapshot.user(access.user);
        let pidsl = snapshot.pidsl(access.pidsl);
        let services = access.services.to_string();
        let terminated_on = user
            .terminated_on
            .map(|d| d.to_string())
            .unwrap_or_default();
        write_safe_record(
            &mut out,
            [
                snapshot.orgs[pidsl.org as usize].org_id.as_str(),
                pidsl.pidsl.as_str(),
                &user.username,
                &user.full_name(),
                &snapshot.orgs[user.org as usize].org_id,
                if snapshot.is_linked(access) {
                    "yes"
                } else {
                    "no"
                },
                access.role.as_str(),
                &services,
                user.last_login_at.as_deref().unwrap_or_default(),
                user.status.as_str(),
                &terminated_on,
            ],
        )?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
