//! Reviewer decisions: the review loop's way back in. A reviewer fills the Decision and
//! Justification columns of a run's workbook (or a CSV); `decisions import` checks every row
//! against the run's findings and records them all in one transaction, or none of them.
//!
//! A row is reported as `FILE:SHEET:ROW: message` (a workbook) or `FILE:LINE: message` (a
//! CSV). "Accept risk" needs a justification and holds until `accepted_until` (default: the
//! run's as_of plus the organization's cadence length), at most `review.max_accept_days` after
//! the run's as_of, so that no risk is accepted for ever; a later run shows such a finding as
//! `accepted` until then. An organization's own workbook, the one its management report
//! carries, names its organization in a document property, not in a cell: importing it
//! accepts that organization's findings only, so a row added with another organization's
//! fingerprint is refused. A PID/SL's decision workbook, the one its action list carries, names
//! its PID/SL likewise: importing it accepts that PID/SL's findings only. A Decision cell that
//! still holds the stamp a run pre-filled ("Not a problem (2026-10-05, alice)") is the earlier
//! decision, unchanged: it records nothing.

pub mod apply;
mod workbook;

use crate::domain::{parse_date, Cadence, Decision, PidSl, RunStatus};
use crate::error::UsageError;
use crate::records::{FindingRow, NewDecision, PriorDecision, RunRecord};
use crate::store::Store;
use calamine::Data;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A Decision cell's label, case-insensitive and trimmed.
fn parse_decision(text: &str) -> Result<Decision, String> {
    Decision::from_label(text).map_err(|_| {
        let labels: Vec<&str> = Decision::ALL.iter().map(|d| d.as_str()).collect();
        let (last, first) = labels.split_last().expect("decisions");
        format!(
            "unknown decision {:?}: expected {} or {last}",
            text.trim(),
            first.join(", ")
        )
    })
}

/// The pre-filled stamp of a run's earlier decision, "Fix in POSC (2026-10-05, alice)": the label,
/// the local date it was made in `zone`, the reviewer (and an accepted risk's end). Importing
/// it unchanged records nothing new (see [`stamped_decision`]).
pub fn stamp(prior: &PriorDecision, zone: Tz) -> String {
    let decided_on = prior.decided_at.with_timezone(&zone).date_naive();
    match prior.accepted_until {
        Some(until) => format!(
            "{} ({decided_on}, {}, until {until})",
            prior.decision, prior.reviewer
        ),
        None => format!("{} ({decided_on}, {})", prior.decision, prior.reviewer),
    }
}

/// A pre-filled [`stamp`]: the decision its label names (an earlier label too, as a workbook
/// made before today's labels holds them).
fn stamped_decision(text: &str) -> Option<Decision> {
    let (label, rest) = text.trim().split_once(" (")?;
    rest.ends_with(')')
        .then(|| Decision::from_label(label).ok())
        .flatten()
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportOutcome {
    /// Decisions recorded.
    pub recorded: usize,
    /// Rows still holding a pre-filled earlier decision: nothing recorded for them.
    pub unchanged: usize,
    /// Rows with an empty Decision.
    pub undecided: usize,
}

/// One row of a reviewed file, as read.
#[derive(Debug, Clone, Default)]
struct RawRow {
    /// `FILE:SHEET:ROW` or `FILE:LINE`.
    place: String,
    run_id: String,
    fingerprint: String,
    decision: String,
    justification: String,
    reviewer: String,
    accepted_until: String,
}

/// What a reviewed file holds: its rows and, for an organization's own workbook or a PID/SL's
/// decision workbook, the organization or PID/SL it belongs to.
struct ReviewedFile {
    /// The rows to check and record (a workbook's rows without a decision are only counted).
    rows: Vec<RawRow>,
    organization: Option<String>,
    pidsl: Option<String>,
    /// Rows without a decision, beside those in `rows`.
    undecided: usize,
}

impl RawRow {
    /// The bytes of text the row holds.
    fn text_len(&self) -> usize {
        [
            &self.place,
            &self.run_id,
            &self.fingerprint,
            &self.decision,
            &self.justification,
            &self.reviewer,
            &self.accepted_until,
        ]
        .iter()
        .map(|s| s.len())
        .sum()
    }
}

/// A completed run and its findings by fingerprint; `None` in the map: no such completed run.
type LoadedRun = (RunRecord, HashMap<String, FindingRow>);

/// Reads `path` (a reviewed workbook or a CSV), checks every decision against its run, and
/// records them in one transaction; any invalid row records nothing (a [`UsageError`] listing
/// every problem). An accepted risk holds at most `max_accept_days` after its run's as_of.
pub async fn import_decisions(
    store: &dyn Store,
    path: &Path,
    reviewer: Option<&str>,
    now: DateTime<Utc>,
    max_accept_days: u32,
) -> anyhow::Result<ImportOutcome> {
    let ReviewedFile {
        rows,
        organization,
        pidsl,
        undecided,
    } = read_file(path)?;
    let owner = match pidsl {
        Some(pidsl) => Some(PidSlOwner::read(store, path, &pidsl).await?),
        None => None,
    };
    let mut outcome = ImportOutcome {
        undecided,
        ..ImportOutcome::default()
    };
    let mut errors = Vec::new();
    let mut runs: HashMap<String, Option<LoadedRun>> = HashMap::new();
    let latest = match rows.iter().any(|r| r.run_id.is_empty()) {
        true => store.latest_completed_run().await?.map(|r| r.id),
        false => None,
    };
    let cadences = store.org_cadences().await?;
    let mut seen: HashMap<(String, String), String> = HashMap::new();
    let mut decisions = Vec::new();
    for row in rows {
        if row.decision.trim().is_empty() {
            outcome.undecided += 1;
            continue;
        }
        let run_id = if row.run_id.is_empty() {
            match &latest {
                Some(id) => id.clone(),
                None => {
                    errors.push(format!("{}: no run_id and no completed run", row.place));
                    continue;
                }
            }
        } else {
            row.run_id.clone()
        };
        if !runs.contains_key(&run_id) {
            let loaded = match store.run(&run_id).await? {
                Some(run) if run.status == RunStatus::Completed => {
                    let findings = store.findings(&run_id, None, None).await?;
                    let by_fingerprint = findings
                        .into_iter()
                        .map(|f| (f.fingerprint.clone(), f))
                        .collect();
                    Some((run, by_fingerprint))
                }
                _ => None,
            };
            runs.insert(run_id.clone(), loaded);
        }
        let Some((run, findings)) = &runs[&run_id] else {
            errors.push(format!(
                "{}: unknown run {run_id:?} (`posc-review runs` lists the completed ones)",
                row.place
            ));
            continue;
        };
        let Some(finding) = findings.get(row.fingerprint.trim()) else {
            errors.push(format!(
                "{}: fingerprint {:?} is not a finding of run {run_id}; was the row edited?",
                row.place,
                row.fingerprint.trim()
            ));
            continue;
        };
        if let Some(org) = organization.as_ref().filter(|&org| *org != finding.org_id) {
            errors.push(format!(
                "{}: the finding {} of run {run_id} is organization {:?}'s, but this is \
                 organization {org:?}'s workbook, which decides only its own findings",
                row.place, finding.fingerprint, finding.org_id
            ));
            continue;
        }
        if let Some(why) = owner.as_ref().and_then(|o| o.refusal(finding)) {
            errors.push(format!(
                "{}: the finding {} of run {run_id} {why}, but this is PID/SL {}'s decision \
                 workbook, which decides only that PID/SL's findings",
                row.place,
                finding.fingerprint,
                owner.as_ref().map_or("", |o| o.pidsl.as_str())
            ));
            continue;
        }
        if stamped_decision(&row.decision).is_some() {
            outcome.unchanged += 1;
            continue;
        }
        let decision = match parse_decision(&row.decision) {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("{}: {e}", row.place));
                continue;
            }
        };
        let reviewer = match (row.reviewer.trim(), reviewer) {
            ("", Some(given)) => given.trim().to_string(),
            ("", None) => {
                errors.push(format!(
                    "{}: who decided? Fill the reviewer column or give --reviewer NAME",
                    row.place
                ));
                continue;
            }
            (named, _) => named.to_string(),
        };
        let justification = row.justification.trim().to_string();
        if decision.needs_justification() && justification.is_empty() {
            errors.push(format!(
                "{}: {decision} needs a justification: say why",
                row.place
            ));
            continue;
        }
        let accepted_until = if decision == Decision::AcceptRisk {
            match accepted_until(&row, run, finding, &cadences, max_accept_days) {
                Ok(date) => Some(date),
                Err(e) => {
                    errors.push(format!("{}: {e}", row.place));
                    continue;
                }
            }
        } else {
            None
        };
        let key = (run_id.clone(), finding.fingerprint.clone());
        if let Some(first) = seen.get(&key) {
            errors.push(format!(
                "{}: the finding {} of run {run_id} is decided twice (also at {first})",
                row.place, finding.fingerprint
            ));
            continue;
        }
        seen.insert(key, row.place.clone());
        decisions.push(NewDecision {
            run_id,
            fingerprint: finding.fingerprint.clone(),
            decision,
            justification,
            reviewer,
            decided_at: now,
            accepted_until,
            facts: finding.facts.clone(),
        });
    }
    if !errors.is_empty() {
        let total = errors.len();
        errors.truncate(50);
        if total > 50 {
            errors.push(format!("... and {} more", total - 50));
        }
        return Err(UsageError(format!(
            "{total} invalid decision rows; nothing was recorded:\n{}",
            errors.join("\n")
        ))
        .into());
    }
    store.record_decisions(&decisions).await?;
    outcome.recorded = decisions.len();
    Ok(outcome)
}

/// The PID/SL a decision workbook names, and who has access on it in the store now: its
/// findings are those naming it, and those naming no PID/SL about a user of its organization
/// with access on it (as the action list chose them).
struct PidSlOwner {
    pidsl: String,
    /// Its organization; `None`: the PID/SL is no longer in the store.
    org_id: Option<String>,
    /// The lower-cased usernames with access on it.
    members: HashSet<String>,
}

impl PidSlOwner {
    /// Reads the PID/SL's organization and members once, for every row.
    async fn read(store: &dyn Store, path: &Path, named: &str) -> anyhow::Result<PidSlOwner> {
        let pidsl = PidSl::parse(named).map_err(|e| {
            UsageError(format!(
                "{}: its property {:?}: {e}",
                path.display(),
                crate::report::xlsx::PIDSL_PROPERTY
            ))
        })?;
        let mut tx = store.begin_read().await?;
        let info = tx.pidsl_info(&pidsl).await?;
        let members = match &info {
            Some(_) => tx.members_of_pidsl(&pidsl).await?,
            None => Vec::new(),
        };
        drop(tx);
        Ok(PidSlOwner {
            pidsl: pidsl.to_string(),
            org_id: info.map(|i| i.org_id),
            members: members
                .into_iter()
                .map(|m| m.username.to_lowercase())
                .collect(),
        })
    }

    /// Why `finding` is not this PID/SL's to decide, or `None` when it is.
    fn refusal(&self, finding: &FindingRow) -> Option<String> {
        if !finding.pidsl.is_empty() {
            return (!finding.pidsl.eq_ignore_ascii_case(&self.pidsl))
                .then(|| format!("is about PID/SL {}", finding.pidsl));
        }
        let ours = self.org_id.as_deref() == Some(finding.org_id.as_str())
            && self.members.contains(&finding.username.to_lowercase());
        (!ours).then(|| {
            format!(
                "is about user {:?} of organization {:?}, who has no access on PID/SL {}",
                finding.username, finding.org_id, self.pidsl
            )
        })
    }
}

/// The row's accepted_until, or the next review period: the run's as_of plus the cadence
/// length of the finding's organization. It must come after the run's as_of and at most
/// `max_days` after it (the next review period is shortened to that).
fn accepted_until(
    row: &RawRow,
    run: &RunRecord,
    finding: &FindingRow,
    cadences: &HashMap<String, Cadence>,
    max_days: u32,
) -> Result<NaiveDate, String> {
    let after = |days: i64| {
        run.as_of
            .checked_add_signed(chrono::Duration::days(days))
            .unwrap_or(NaiveDate::MAX)
    };
    let limit = after(i64::from(max_days));
    let date = if row.accepted_until.trim().is_empty() {
        let cadence = cadences
            .get(&finding.org_id)
            .copied()
            .unwrap_or(Cadence::Quarterly);
        after(cadence.max_days_between_reviews()).min(limit)
    } else {
        parse_date(&row.accepted_until).map_err(|e| format!("accepted_until: {e}"))?
    };
    if date <= run.as_of {
        return Err(format!(
            "accepted_until {date} is not after the run's as_of {}",
            run.as_of
        ));
    }
    if date > limit {
        return Err(format!(
            "accepted_until {date} is more than review.max_accept_days ({max_days}) after the \
             run's as_of {}: accept the risk until {limit} at the latest, and decide again then",
            run.as_of
        ));
    }
    Ok(date)
}

fn read_file(path: &Path) -> anyhow::Result<ReviewedFile> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match extension.as_str() {
        "xlsx" | "xlsm" => workbook::read_workbook(path),
        "csv" => Ok(ReviewedFile {
            rows: read_csv(path)?,
            organization: None,
            pidsl: None,
            undecided: 0,
        }),
        _ => Err(UsageError(format!(
            "{}: expected a reviewed workbook (.xlsx) or a CSV file (.csv)",
            path.display()
        ))
        .into()),
    }
}

/// The columns a reviewed file may hold, by lower-cased header name.
struct Columns {
    run_id: Option<usize>,
    fingerprint: usize,
    decision: usize,
    justification: Option<usize>,
    reviewer: Option<usize>,
    accepted_until: Option<usize>,
}

impl Columns {
    fn find(headers: &[String], place: &str, need_run_id: bool) -> Result<Columns, UsageError> {
        let find = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let need = |name: &str| {
            find(name).ok_or_else(|| UsageError(format!("{place}: no {name:?} column")))
        };
        Ok(Columns {
            run_id: if need_run_id {
                Some(need("run_id")?)
            } else {
                find("run_id")
            },
            fingerprint: need("fingerprint")?,
            decision: need("decision")?,
            justification: find("justification"),
            reviewer: find("reviewer"),
            accepted_until: find("accepted_until"),
        })
    }

    /// Whether the import reads column `col`.
    fn uses(&self, col: usize) -> bool {
        [
            self.run_id,
            Some(self.fingerprint),
            Some(self.decision),
            self.justification,
            self.reviewer,
            self.accepted_until,
        ]
        .contains(&Some(col))
    }

    fn row(&self, place: String, cells: &[String]) -> RawRow {
        let get = |i: Option<usize>| {
            i.and_then(|i| cells.get(i))
                .map(|c| c.trim().to_string())
                .unwrap_or_default()
        };
        RawRow {
            place,
            run_id: get(self.run_id),
            fingerprint: get(Some(self.fingerprint)),
            decision: get(Some(self.decision)),
            justification: get(self.justification),
            reviewer: get(self.reviewer),
            accepted_until: get(self.accepted_until),
        }
    }
}

/// Whether a sheet is one of a run's Findings sheets: "Findings", "Findings (2)", ...
fn is_findings_sheet(name: &str) -> bool {
    name == "Findings"
        || name
            .strip_prefix("Findings (")
            .and_then(|rest| rest.strip_suffix(')'))
            .is_some_and(|n| n.parse::<u32>().is_ok())
}

/// A cell as text; a date cell as YYYY-MM-DD.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => excel_date(d.as_f64())
            .map(|d| d.to_string())
            .unwrap_or_default(),
        Data::DateTimeIso(s) => s.get(..10).unwrap_or(s).to_string(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

/// An Excel date serial (days since 1899-12-30, as Excel counts after February 1900).
fn excel_date(serial: f64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1899, 12, 30)?
        .checked_add_signed(chrono::Duration::days(serial.floor() as i64))
}

fn read_csv(path: &Path) -> anyhow::Result<Vec<RawRow>> {
    let file = path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| UsageError(format!("{file}: {e}")))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| UsageError(format!("{file}:1: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    let columns = Columns::find(&headers, &file, false)?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            UsageError(format!("{file}:{line}: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let cells: Vec<String> = record.iter().map(str::to_string).collect();
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push(columns.row(format!("{file}:{line}"), &cells));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_parse_case_insensitively() {
        assert_eq!(parse_decision(" accept RISK "), Ok(Decision::AcceptRisk));
        assert_eq!(parse_decision("fix in posc"), Ok(Decision::FixInPosc));
        assert_eq!(parse_decision("Not a problem"), Ok(Decision::NotAProblem));
        assert_eq!(
            parse_decision("Maybe"),
            Err(
                "unknown decision \"Maybe\": expected Fix in POSC, Accept risk or Not a problem"
                    .into()
            )
        );
    }

    #[test]
    fn the_earlier_labels_are_read_as_today_s_decisions() {
        assert_eq!(parse_decision("Remove access"), Ok(Decision::FixInPosc));
        assert_eq!(parse_decision(" change SERVICES"), Ok(Decision::FixInPosc));
        assert_eq!(parse_decision("Keep"), Ok(Decision::NotAProblem));
    }

    #[test]
    fn a_prefilled_stamp_is_recognised() {
        assert_eq!(
            stamped_decision("Keep (2026-10-05, alice)"),
            Some(Decision::NotAProblem)
        );
        assert_eq!(stamped_decision("Keep"), None);
        assert_eq!(stamped_decision("Maybe (2026-10-05, alice)"), None);
    }

    #[test]
    fn a_stamp_carries_the_local_date_of_the_decision() {
        let prior = PriorDecision {
            decision: Decision::AcceptRisk,
            justification: "vendor contract".into(),
            reviewer: "alice".into(),
            decided_at: "2026-10-06T02:30:00Z".parse().unwrap(),
            accepted_until: NaiveDate::from_ymd_opt(2026, 12, 31),
            facts: String::new(),
        };
        let text = stamp(&prior, chrono_tz::America::New_York);
        assert_eq!(text, "Accept risk (2026-10-05, alice, until 2026-12-31)");
        assert_eq!(stamped_decision(&text), Some(Decision::AcceptRisk));
    }

    #[test]
    fn findings_sheets_are_the_run_s_only() {
        assert!(is_findings_sheet("Findings"));
        assert!(is_findings_sheet("Findings (2)"));
        assert!(!is_findings_sheet("Findings (x)"));
        assert!(!is_findings_sheet("User Access"));
    }

    #[test]
    fn excel_serials_are_dates() {
        assert_eq!(excel_date(46023.0), NaiveDate::from_ymd_opt(2026, 1, 1));
    }
}
