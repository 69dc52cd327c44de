//! Review history: runs, their findings, and which organizations each completed run reviewed.
//! An import never touches these tables.

use super::{all_rows, first_row, split_list, SqlDate, SqlTime};
use crate::domain::{FindingStatus, RuleId, RunStatus};
use crate::store::{
    group_org_trends, run_order, trend_point, CompletedRun, FindingRow, HeldRun, OrgReview,
    RunRecord, TrendPoint,
};
use anyhow::Context;
use chrono::NaiveDate;
use rusqlite::{params, Connection, Row, TransactionBehavior};
use std::collections::HashMap;

/// Renews a run's heartbeat; no row when `owner` no longer holds the run (another process
/// found it gone and recorded it as failed).
pub(super) const RENEW_RUN_HEARTBEAT: &str =
    "UPDATE runs SET heartbeat_at = ?1 WHERE id = ?2 AND owner = ?3";

/// Records a running run as failed, unless it completed (or failed) after all; with a seen
/// heartbeat (?5), only if its heartbeat has not moved since (its process is still gone).
pub(super) const FAIL_RUN: &str = "UPDATE runs SET status = ?1, error = ?2, finished_at = ?3, \
     owner = NULL WHERE id = ?4 AND status = 'running' AND (?5 IS NULL OR heartbeat_at = ?5)";

const RUN_SELECT: &str = "SELECT id, as_of, cadence, org_ids, scope_key, started_at, \
     finished_at, status, error, out_dir, counts, owner FROM runs";

fn run_from_row(row: &Row<'_>) -> anyhow::Result<RunRecord> {
    Ok(from_row!(row.get => RunRecord {
        id, cadence, scope_key, status, error, out_dir, owner;
        as_of: row.get::<_, SqlDate>("as_of")?.0,
        org_ids: split_list(row.get_ref("org_ids")?.as_str()?),
        started_at: row.get::<_, SqlTime>("started_at")?.0,
        finished_at: row.get::<_, Option<SqlTime>>("finished_at")?.map(|t| t.0),
        counts: serde_json::from_str(row.get_ref("counts")?.as_str()?)
            .context("bad counts in the runs table")?,
    }))
}

/// Records a new run as `running`, held by `new.owner` with a heartbeat of its start, with an
/// id `YYYYMMDD-NNN` (the local start date and a sequence within that date, at least three
/// digits), and at least `first_sequence`. The IMMEDIATE lock makes reading the last sequence
/// and taking the next one step.
pub(super) fn start_run(
    conn: &mut Connection,
    mut run: RunRecord,
    prefix: &str,
    out_root: &str,
    first_sequence: u32,
) -> anyhow::Result<RunRecord> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // The largest sequence as a number: as text, `-999` is above `-1000`.
    let last: Option<i64> = tx.query_row(
        "SELECT MAX(CAST(substr(id, 10) AS BIGINT)) AS last FROM runs WHERE id LIKE ?1",
        [format!("{prefix}-%")],
        |row| row.get("last"),
    )?;
    let sequence = (last.unwrap_or(0) + 1).max(i64::from(first_sequence));
    run.id = format!("{prefix}-{sequence:03}");
    tx.execute(
        "INSERT INTO runs (id, as_of, cadence, org_ids, scope_key, started_at, finished_at, \
         status, error, out_dir, counts, owner, heartbeat_at, out_root) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, NULL, NULL, ?8, ?9, ?10, ?11)",
        params![
            run.id,
            SqlDate(run.as_of),
            run.cadence,
            run.org_ids.join(";"),
            run.scope_key,
            SqlTime(run.started_at),
            run.status,
            serde_json::to_string(&run.counts)?,
            run.owner,
            SqlTime(run.started_at),
            out_root,
        ],
    )
    .context("cannot record the run in the runs table")?;
    tx.commit().context("cannot record the run")?;
    Ok(run)
}

pub(super) fn held_runs(conn: &mut Connection) -> anyhow::Result<Vec<HeldRun>> {
    all_rows(
        conn,
        "SELECT id, status, owner, heartbeat_at, out_root FROM runs \
         WHERE status = 'running' OR owner IS NOT NULL",
        [],
        |row| {
            Ok(from_row!(row.get => HeldRun {
                id, status, owner, out_root;
                heartbeat_at: row.get::<_, Option<SqlTime>>("heartbeat_at")?.map(|t| t.0),
            }))
        },
    )
    .context("cannot read the runs table")
}

/// A stored run's folder is in place, or is not (`folder_error` says why, kept as the run's
/// error for `posc-review runs`, with the owner kept so that a later command moves it). Once
/// in place the process lets go of the run; `clear_error` drops an error that only said where
/// the folder was.
pub(super) fn release_run(
    conn: &mut Connection,
    run_id: &str,
    owner: &str,
    folder_error: Option<&str>,
    clear_error: bool,
) -> anyhow::Result<()> {
    let owner_after = folder_error.map(|_| owner);
    let sql = if folder_error.is_some() || clear_error {
        "UPDATE runs SET owner = ?1, error = ?2 WHERE id = ?3 AND owner = ?4"
    } else {
        // The error a completed run already has (organizations without a report) stays.
        "UPDATE runs SET owner = ?1, error = COALESCE(?2, error) WHERE id = ?3 AND owner = ?4"
    };
    conn.prepare_cached(sql)?
        .execute(params![owner_after, folder_error, run_id, owner])
        .context("cannot record the run's folder in the runs table")?;
    Ok(())
}

/// Stores a run's findings, the organizations it reviewed, its counts and its queued mail,
/// and marks it completed, all in one transaction: a run is complete with all its findings
/// and messages, or has none.
pub(super) fn complete_run(
    conn: &mut Connection,
    run: &RunRecord,
    done: &CompletedRun,
) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO findings (run_id, fingerprint, rule, severity, status, org_id, pidsl, \
             username, user_name, detail, first_seen, remediation, facts) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?;
        for f in done.findings {
            insert
                .execute(params![
                    f.run_id,
                    f.fingerprint,
                    f.rule,
                    f.severity,
                    f.status,
                    f.org_id,
                    f.pidsl,
                    f.username,
                    f.user_name,
                    f.detail,
                    SqlDate(f.first_seen),
                    f.remediation,
                    f.facts,
                ])
                .context("cannot write the findings table")?;
        }
        let mut insert = tx.prepare_cached(
            "INSERT INTO run_orgs (run_id, org_id, open_counts) VALUES (?1, ?2, ?3)",
        )?;
        let open = crate::store::open_counts_json(done.findings, done.reviewed_org_ids);
        for (org_id, open_counts) in done.reviewed_org_ids.iter().zip(open) {
            insert
                .execute(params![run.id, org_id, open_counts])
                .context("cannot write the run_orgs table")?;
        }
    }
    super::outbox::queue_mail(&tx, done.outbox, done.finished_at)?;
    let completed = tx
        .execute(
            "UPDATE runs SET status = ?1, finished_at = ?2, counts = ?3, out_dir = ?4, error = ?5 \
             WHERE id = ?6 AND status = 'running' AND owner = ?7",
            params![
                RunStatus::Completed,
                SqlTime(done.finished_at),
                serde_json::to_string(&run.counts)?,
                done.out_dir,
                done.problems,
                run.id,
                run.owner,
            ],
        )
        .context("cannot complete the run in the runs table")?;
    anyhow::ensure!(
        completed == 1,
        "run {} was recorded as failed while it ran: its heartbeat stopped for more than {} s",
        run.id,
        crate::liveness::STALE_AFTER_SECS
    );
    tx.commit().context("cannot commit the run")
}

/// Each of `org_ids`' findings at its previous review (its last completed run before
/// `before_run` by `run_orgs`, whatever the scope): one query, the organizations passed as one
/// JSON array (`json_each`), each organization's reviews numbered by a window function.
pub(super) fn previous_org_findings(
    conn: &Connection,
    org_ids: &[String],
    before_run: &str,
) -> anyhow::Result<Vec<FindingRow>> {
    if org_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "WITH previous AS ( \
           SELECT org_id, run_id FROM ( \
             SELECT o.org_id AS org_id, o.run_id AS run_id, \
                    ROW_NUMBER() OVER (PARTITION BY o.org_id ORDER BY {run} DESC) AS n \
             FROM run_orgs o JOIN runs r ON r.id = o.run_id \
             WHERE r.status = 'completed' AND {run} < {before} \
               AND o.org_id IN (SELECT value FROM json_each(?1))) \
           WHERE n = 1) \
         SELECT {FINDING_COLUMNS} FROM previous JOIN findings USING (run_id, org_id)",
        run = run_order("r.id"),
        before = run_order("?2"),
    );
    all_rows(
        conn,
        &sql,
        params![serde_json::to_string(org_ids)?, before_run],
        finding_from_row,
    )
    .context("cannot read the organizations' previous reviews")
}

pub(super) fn runs(conn: &mut Connection) -> anyhow::Result<Vec<RunRecord>> {
    all_rows(
        conn,
        &format!("{RUN_SELECT} ORDER BY {}", run_order("id")),
        [],
        run_from_row,
    )
    .context("cannot read the runs table")
}

pub(super) fn run(conn: &mut Connection, id: &str) -> anyhow::Result<Option<RunRecord>> {
    first_row(
        conn,
        &format!("{RUN_SELECT} WHERE id = ?1"),
        [id],
        run_from_row,
    )
    .context("cannot read the runs table")
}

pub(super) fn latest_completed_run(conn: &mut Connection) -> anyhow::Result<Option<RunRecord>> {
    first_row(
        conn,
        &format!(
            "{RUN_SELECT} WHERE status = 'completed' ORDER BY {} DESC LIMIT 1",
            run_order("id")
        ),
        [],
        run_from_row,
    )
    .context("cannot read the runs table")
}

/// The columns of a [`FindingRow`].
const FINDING_COLUMNS: &str = "run_id, fingerprint, rule, severity, status, org_id, pidsl, \
     username, user_name, detail, first_seen, remediation, facts";

fn finding_from_row(row: &Row<'_>) -> anyhow::Result<FindingRow> {
    Ok(from_row!(row.get => FindingRow {
        run_id, fingerprint, rule, severity, status, org_id, pidsl, username, user_name,
        detail, remediation, facts;
        first_seen: row.get::<_, SqlDate>("first_seen")?.0,
        decision: None,
    })
    .with_generic_remediation())
}

/// A run's findings, optionally of one rule and one status.
pub(super) fn findings(
    conn: &mut Connection,
    run_id: &str,
    rule: Option<RuleId>,
    status: Option<FindingStatus>,
) -> anyhow::Result<Vec<FindingRow>> {
    all_rows(
        conn,
        &format!(
            "SELECT {FINDING_COLUMNS} FROM findings WHERE run_id = ?1 \
             AND (?2 IS NULL OR rule = ?2) AND (?3 IS NULL OR status = ?3)"
        ),
        params![run_id, rule, status],
        finding_from_row,
    )
    .context("cannot read the findings table")
}

/// Per organization, the as_of of its latest completed review run.
pub(super) fn last_completed_review_per_org(
    conn: &Connection,
) -> anyhow::Result<Vec<(String, NaiveDate)>> {
    all_rows(
        conn,
        "SELECT o.org_id AS org_id, MAX(r.as_of) AS as_of FROM run_orgs o \
         JOIN runs r ON r.id = o.run_id WHERE r.status = 'completed' GROUP BY o.org_id",
        [],
        |row| Ok((row.get("org_id")?, row.get::<_, SqlDate>("as_of")?.0)),
    )
    .context("cannot read the runs table")
}

/// Each organization's last completed review by `run_orgs`, whatever its scope: one query,
/// each organization's runs numbered by a window function.
pub(super) fn latest_org_reviews(conn: &Connection) -> anyhow::Result<Vec<OrgReview>> {
    let sql = format!(
        "SELECT org_id, run_id, as_of FROM ( \
           SELECT o.org_id AS org_id, r.id AS run_id, r.as_of AS as_of, \
                  ROW_NUMBER() OVER (PARTITION BY o.org_id ORDER BY {run} DESC) AS n \
           FROM run_orgs o JOIN runs r ON r.id = o.run_id WHERE r.status = 'completed') \
         WHERE n = 1 ORDER BY org_id",
        run = run_order("r.id"),
    );
    all_rows(conn, &sql, [], |row| {
        Ok(from_row!(row.get => OrgReview {
            org_id, run_id;
            as_of: row.get::<_, SqlDate>("as_of")?.0,
        }))
    })
    .context("cannot read the runs table")
}

/// Each of `org_ids`' open findings at its last `limit` completed reviews before `before_run`,
/// oldest first: one query, the organizations passed as one JSON array (`json_each`), each
/// organization's runs numbered by a window function.
pub(super) fn org_trends(
    conn: &Connection,
    org_ids: &[String],
    before_run: &str,
    limit: usize,
) -> anyhow::Result<HashMap<String, Vec<TrendPoint>>> {
    if org_ids.is_empty() || limit == 0 {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "WITH r AS (SELECT id, as_of, {run} AS run_order FROM runs \
                    WHERE status = 'completed' AND {run} < {before}) \
         SELECT org_id, run_id, as_of, \
                json_extract(open_counts, '$.critical') AS critical, \
                json_extract(open_counts, '$.high') AS high, \
                json_extract(open_counts, '$.medium') AS medium, \
                json_extract(open_counts, '$.low') AS low FROM ( \
           SELECT o.org_id AS org_id, r.id AS run_id, r.as_of AS as_of, \
                  o.open_counts AS open_counts, \
                  ROW_NUMBER() OVER (PARTITION BY o.org_id ORDER BY r.run_order DESC) AS n \
           FROM r JOIN run_orgs o ON o.run_id = r.id \
           WHERE o.org_id IN (SELECT value FROM json_each(?1)) \
             AND o.open_counts IS NOT NULL) \
         WHERE n <= ?3 ORDER BY org_id, n DESC",
        run = run_order("id"),
        before = run_order("?2"),
    );
    let rows = all_rows(
        conn,
        &sql,
        params![
            serde_json::to_string(org_ids)?,
            before_run,
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |row| {
            Ok((
                row.get("org_id")?,
                row.get("run_id")?,
                row.get::<_, SqlDate>("as_of")?.0,
                [
                    row.get::<_, Option<i64>>("critical")?.unwrap_or(0),
                    row.get::<_, Option<i64>>("high")?.unwrap_or(0),
                    row.get::<_, Option<i64>>("medium")?.unwrap_or(0),
                    row.get::<_, Option<i64>>("low")?.unwrap_or(0),
                ],
            ))
        },
    )
    .context("cannot read the review history for the trends")?;
    Ok(group_org_trends(rows))
}

/// The open findings of the last `limit` completed runs of `scope_key` before `before_run`,
/// each summed over its organizations in SQL, oldest first.
pub(super) fn scope_trend(
    conn: &Connection,
    scope_key: &str,
    before_run: &str,
    limit: usize,
) -> anyhow::Result<Vec<TrendPoint>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let sum = |s: &str| format!("COALESCE(SUM(json_extract(o.open_counts, '$.{s}')), 0) AS {s}");
    let sql = format!(
        "SELECT r.id AS run_id, r.as_of AS as_of, {}, {}, {}, {} \
         FROM (SELECT id, as_of FROM runs WHERE scope_key = ?1 AND status = 'completed' \
               AND {run} < {before} ORDER BY {run} DESC LIMIT ?3) r \
         LEFT JOIN run_orgs o ON o.run_id = r.id \
         GROUP BY r.id, r.as_of ORDER BY {run_r}",
        sum("critical"),
        sum("high"),
        sum("medium"),
        sum("low"),
        run = run_order("id"),
        before = run_order("?2"),
        run_r = run_order("r.id"),
    );
    all_rows(
        conn,
        &sql,
        params![
            scope_key,
            before_run,
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |row| {
            Ok(trend_point(
                row.get("run_id")?,
                row.get::<_, SqlDate>("as_of")?.0,
                [
                    row.get("critical")?,
                    row.get("high")?,
                    row.get("medium")?,
                    row.get("low")?,
                ],
            ))
        },
    )
    .context("cannot read the review history for the trend")
}
