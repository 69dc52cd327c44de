//! Reviewer decisions: what a reviewer decided about a finding of a run, who decided and when.
//! Recorded all at once per import; a later run looks up the latest decision per fingerprint.

use super::{all_rows, SqlDate, SqlTime};
use crate::domain::Cadence;
use crate::store::{run_order, DecisionRecord, NewDecision, PriorDecision};
use anyhow::Context;
use rusqlite::{params, Connection, TransactionBehavior};
use std::collections::HashMap;

/// Records `decisions` in one transaction; a decision on a finding that already has one in the
/// same run replaces it.
pub(super) fn record_decisions(
    conn: &mut Connection,
    decisions: &[NewDecision],
) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO decisions (run_id, fingerprint, decision, justification, reviewer, \
             decided_at, accepted_until, facts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (run_id, fingerprint) DO UPDATE SET decision = excluded.decision, \
             justification = excluded.justification, reviewer = excluded.reviewer, \
             decided_at = excluded.decided_at, accepted_until = excluded.accepted_until, \
             facts = excluded.facts",
        )?;
        for d in decisions {
            insert
                .execute(params![
                    d.run_id,
                    d.fingerprint,
                    d.decision,
                    d.justification,
                    d.reviewer,
                    SqlTime(d.decided_at),
                    d.accepted_until.map(SqlDate),
                    d.facts,
                ])
                .with_context(|| {
                    format!(
                        "cannot write the decision on {} of run {} to the decisions table",
                        d.fingerprint, d.run_id
                    )
                })?;
        }
    }
    tx.commit().context("cannot record the decisions")
}

/// The recorded decisions (of one run, or all), oldest first.
pub(super) fn decisions(
    conn: &mut Connection,
    run_id: Option<&str>,
) -> anyhow::Result<Vec<DecisionRecord>> {
    all_rows(
        conn,
        &format!(
            "SELECT d.fingerprint AS fingerprint, d.run_id AS run_id, f.rule AS rule, \
             f.org_id AS org_id, f.pidsl AS pidsl, f.username AS username, \
             d.decision AS decision, d.justification AS justification, d.reviewer AS reviewer, \
             d.decided_at AS decided_at, d.accepted_until AS accepted_until \
             FROM decisions d JOIN findings f ON f.run_id = d.run_id AND f.fingerprint = d.fingerprint \
             WHERE (?1 IS NULL OR d.run_id = ?1) ORDER BY d.decided_at, {}, d.fingerprint",
            run_order("d.run_id")
        ),
        [run_id],
        |row| {
            Ok(from_row!(row.get => DecisionRecord {
                fingerprint, run_id, rule, org_id, pidsl, username, decision, justification,
                reviewer;
                decided_at: row.get::<_, SqlTime>("decided_at")?.0,
                accepted_until: accepted_until(row)?,
            }))
        },
    )
    .context("cannot read the decisions table")
}

/// `accepted_until`, where an empty text (written by an early version) is none.
fn accepted_until(row: &rusqlite::Row<'_>) -> anyhow::Result<Option<chrono::NaiveDate>> {
    match row.get_ref("accepted_until")?.as_str_or_null()? {
        None | Some("") => Ok(None),
        Some(text) => Ok(Some(text.parse().with_context(|| {
            format!("bad accepted_until {text:?} in the decisions table")
        })?)),
    }
}

/// Per fingerprint, the latest decision recorded on a finding of a run before `before_run`
/// (by decision time, then run).
pub(super) fn latest_decisions(
    conn: &mut Connection,
    before_run: &str,
) -> anyhow::Result<HashMap<String, PriorDecision>> {
    let mut latest = HashMap::new();
    let rows = all_rows(
        conn,
        &format!(
            "SELECT fingerprint, decision, justification, reviewer, decided_at, accepted_until, \
             facts FROM decisions WHERE {run} < {before} ORDER BY decided_at, {run}",
            run = run_order("run_id"),
            before = run_order("?1"),
        ),
        [before_run],
        |row| {
            Ok((
                row.get::<_, String>("fingerprint")?,
                PriorDecision {
                    decision: row.get("decision")?,
                    justification: row.get("justification")?,
                    reviewer: row.get("reviewer")?,
                    decided_at: row.get::<_, SqlTime>("decided_at")?.0,
                    accepted_until: accepted_until(row)?,
                    facts: row.get("facts")?,
                },
            ))
        },
    )
    .context("cannot read the decisions table")?;
    // Later rows replace earlier ones: the last is the latest.
    latest.extend(rows);
    Ok(latest)
}

/// Each organization's review cadence, by org_id.
pub(super) fn org_cadences(conn: &mut Connection) -> anyhow::Result<HashMap<String, Cadence>> {
    let rows = all_rows(
        conn,
        "SELECT org_id, review_cadence FROM organizations",
        [],
        |row| Ok((row.get("org_id")?, row.get("review_cadence")?)),
    )
    .context("cannot read the organizations table")?;
    Ok(rows.into_iter().collect())
}
