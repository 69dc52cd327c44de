//! Demo data: the CSV snapshots that `posc-review demo` loads and that the benchmarks run on.
//!
//! Two generators write the five input files of SPEC.md ("Input: CSV files") into a folder:
//!
//! - [`write_tour`]: a small, hand-made snapshot (SPEC Scenario 4 grown a little) in which every
//!   review rule fires at least once on `as_of`, with non-firing neighbours beside each problem;
//! - [`write_scale`]: a large, seeded, synthetic snapshot streamed to disk, for benchmarks, in
//!   two shapes ([`ScaleProfile`]): organizations of 1 to 20 PID/SLs with few findings, or of 5
//!   PID/SLs with about 7 findings per PID/SL.
//!
//! Every date is computed relative to `as_of`, so a review on `as_of` always finds the same
//! problems whatever the day the demo runs. Names, emails (`.example`), phone numbers
//! (617-555-01xx), days of birth and SSN digits are invented.
//!
//! `tour.rs` holds the hand-made snapshot, `scale.rs` the generator, `names.rs` the tables of
//! invented names and places it draws from; this file the CSV writers both share.

mod names;
mod scale;
#[cfg(test)]
mod tests;
mod tour;

pub use scale::{write_scale, ScaleProfile};
pub use tour::{write_tour, TOUR_PLANTED};

use anyhow::Context;
use chrono::{NaiveDate, TimeDelta};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Counts of what was written, for the command's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoCounts {
    pub organizations: usize,
    pub pidsls: usize,
    pub users: usize,
    pub access_rows: usize,
    pub roster_rows: usize,
}

const ORGANIZATIONS_HEADER: [&str; 6] = [
    "org_id",
    "name",
    "kind",
    "review_cadence",
    "management_emails",
    "last_review_on",
];
const PIDSLS_HEADER: [&str; 5] = ["pidsl", "org_id", "name", "provider_type", "active"];
const USERS_HEADER: [&str; 15] = [
    "username",
    "first_name",
    "last_name",
    "middle_initial",
    "email",
    "phone",
    "org_id",
    "job_role",
    "status",
    "created_on",
    "last_login_at",
    "terms_accepted_on",
    "terminated_on",
    "dob_mmdd",
    "ssn_last4",
];
const ACCESS_HEADER: [&str; 6] = [
    "username",
    "pidsl",
    "role",
    "services",
    "granted_on",
    "expires_on",
];
const ROSTER_HEADER: [&str; 3] = ["username", "email", "terminated_on"];

type CsvOut = csv::Writer<BufWriter<File>>;

/// The five output files, open for writing, and what has gone into them.
struct Files {
    organizations: CsvOut,
    pidsls: CsvOut,
    users: CsvOut,
    access: CsvOut,
    roster: CsvOut,
    counts: DemoCounts,
}

impl Files {
    fn create(dir: &Path) -> anyhow::Result<Self> {
        crate::files::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let open = |name: &str, header: &[&str]| -> anyhow::Result<CsvOut> {
            let path = dir.join(name);
            let file = crate::files::create(&path)
                .with_context(|| format!("failed to create {}", path.display()))?;
            let mut out = csv::Writer::from_writer(BufWriter::with_capacity(1 << 17, file));
            out.write_record(header)
                .with_context(|| format!("failed to write {}", path.display()))?;
            Ok(out)
        };
        Ok(Files {
            organizations: open("organizations.csv", &ORGANIZATIONS_HEADER)?,
            pidsls: open("pidsls.csv", &PIDSLS_HEADER)?,
            users: open("users.csv", &USERS_HEADER)?,
            access: open("access.csv", &ACCESS_HEADER)?,
            roster: open("roster.csv", &ROSTER_HEADER)?,
            counts: DemoCounts::default(),
        })
    }

    fn organization(&mut self, row: [&[u8]; 6]) -> csv::Result<()> {
        self.counts.organizations += 1;
        self.organizations.write_record(row)
    }

    fn pidsl(&mut self, row: [&[u8]; 5]) -> csv::Result<()> {
        self.counts.pidsls += 1;
        self.pidsls.write_record(row)
    }

    fn user(&mut self, row: [&[u8]; 15]) -> csv::Result<()> {
        self.counts.users += 1;
        self.users.write_record(row)
    }

    fn access(&mut self, row: [&[u8]; 6]) -> csv::Result<()> {
        self.counts.access_rows += 1;
        self.access.write_record(row)
    }

    fn roster(&mut self, row: [&[u8]; 3]) -> csv::Result<()> {
        self.counts.roster_rows += 1;
        self.roster.write_record(row)
    }

    fn finish(mut self, dir: &Path) -> anyhow::Result<DemoCounts> {
        for out in [
            &mut self.organizations,
            &mut self.pidsls,
            &mut self.users,
            &mut self.access,
            &mut self.roster,
        ] {
            out.flush()
                .with_context(|| format!("failed to write the demo files in {}", dir.display()))?;
        }
        Ok(self.counts)
    }
}

/// `as_of` moved by `days` (negative: before), as `YYYY-MM-DD`.
fn date_at(as_of: NaiveDate, days: i64) -> String {
    (as_of + TimeDelta::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// The org_ids of a snapshot folder's organizations.csv.
pub fn org_ids(dir: &Path) -> anyhow::Result<std::collections::HashSet<String>> {
    let path = dir.join("organizations.csv");
    let mut reader =
        csv::Reader::from_path(&path).with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .records()
        .map(|r| Ok(r?.get(0).unwrap_or_default().to_string()))
        .collect()
}
