//! Review history: runs, their findings, and which organizations each completed run reviewed.
//! An import never touches these tables.

use super::{insert_batched, Store};
use anyhow::Context;
use chrono::NaiveDate;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Completed,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "running" => Ok(RunStatus::Running),
            "completed" => Ok(RunStatus::Completed),
            "failed" => Ok(RunStatus::Failed),
            other => anyhow::bail!("unknown run status {other:?} in the store"),
        }
    }
}

/// What a run found, by severity, rule and status across runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub findings: usize,
    pub by_severity: BTreeMap<String, usize>,
    pub by_rule: BTreeMap<String, usize>,
    pub new: usize,
    pub open: usize,
    pub accepted: usize,
    pub resolved: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub as_of: NaiveDate,
    pub cadence: Option<String>,
    /// Empty: every organization.
    pub org_ids: Vec<String>,
    #[serde(skip)]
    pub scope_key: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub out_dir: Option<String>,
    pub counts: RunCounts,
    /// The process running the run (`host:pid:tag`), until the run is done with its folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// What a new run is: when it starts, what it reviews, which process runs it and where.
pub struct NewRun<'a> {
    pub started: chrono::DateTime<chrono_tz::Tz>,
    pub as_of: NaiveDate,
    pub cadence: Option<&'a str>,
    pub org_ids: &'a [String],
    pub scope_key: &'a str,
    /// This process (see [`crate::liveness::Owner`]).
    pub owner: &'a str,
    /// The absolute folder the run's folders go in.
    pub out_root: &'a str,
}

/// A run that a process still holds: running, or stored but its folder not yet in place.
#[derive(Debug, Clone)]
pub struct HeldRun {
    pub id: String,
    pub status: RunStatus,
    pub owner: Option<String>,
    /// Unix seconds of the owner's last sign of life.
    pub heartbeat_at: Option<i64>,
    pub out_root: Option<String>,
}

/// A stored finding, as findings.csv and `posc-review findings` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingRow {
    pub run_id: String,
    pub fingerprint: String,
    pub rule: String,
    pub severity: String,
    pub status: String,
    pub org_id: String,
    pub pidsl: String,
    pub username: String,
    pub user_name: String,
    pub detail: String,
    pub first_seen: NaiveDate,
    /// The reviewer's last decision on this fingerprint, as a run carries it over from the
    /// decisions recorded before it (not stored with the finding: `None` when read back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<super::PriorDecision>,
}

/// What a completed run leaves in the store.
pub struct CompletedRun<'a> {
    pub findings: &'a [FindingRow],
    pub reviewed_org_ids: &'a [String],
    pub out_dir: &'a str,
    pub finished_at: &'a str,
    /// Messages to queue (empty for a dry run).
    pub outbox: &'a [super::OutgoingMail],
    /// The organizations whose output could not be produced, kept as the run's `error`.
    pub problems: Option<&'a str>,
}

const RUN_COLUMNS: &str =
    "id, as_of, cadence, org_ids, scope_key, started_at, finished_at, status, error, out_dir, counts, owner";
const FINDING_COLUMNS: &str =
    "run_id, fingerprint, rule, severity, status, org_id, pidsl, username, user_name, detail, first_seen";

/// A run id as a number for SQL to order and compare by (`YYYYMMDD` × 10⁹ + the sequence): as
/// text, ids sort only while the day's sequence has three digits (`-1000` is below `-999`).
pub(super) fn run_order(column: &str) -> String {
    format!(
        "(CAST(substr({column}, 1, 8) AS BIGINT) * 1000000000 + CAST(substr({column}, 10) AS BIGINT))"
    )
}

fn run_from_row(row: AnyRow) -> anyhow::Result<RunRecord> {
    let org_ids: String = row.try_get(3)?;
    let counts: String = row.try_get(10)?;
    Ok(RunRecord {
        id: row.try_get(0)?,
        as_of: NaiveDate::parse_from_str(&row.try_get::<String, _>(1)?, "%Y-%m-%d")?,
        cadence: row.try_get(2)?,
        org_ids: org_ids
            .split(';')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        scope_key: row.try_get(4)?,
        started_at: row.try_get(5)?,
        finished_at: row.try_get(6)?,
        status: RunStatus::parse(&row.try_get::<String, _>(7)?)?,
        error: row.try_get(8)?,
        out_dir: row.try_get(9)?,
        counts: serde_json::from_str(&counts).context("bad counts in the runs table")?,
        owner: row.try_get(11)?,
    })
}

fn finding_from_row(row: AnyRow) -> anyhow::Result<FindingRow> {
    Ok(FindingRow {
        run_id: row.try_get(0)?,
        fingerprint: row.try_get(1)?,
        rule: row.try_get(2)?,
        severity: row.try_get(3)?,
        status: row.try_get(4)?,
        org_id: row.try_get(5)?,
        pidsl: row.try_get(6)?,
        username: row.try_get(7)?,
        user_name: row.try_get(8)?,
        detail: row.try_get(9)?,
        first_seen: NaiveDate::parse_from_str(&row.try_get::<String, _>(10)?, "%Y-%m-%d")?,
        decision: None,
    })
}

impl Store {
    /// Records a new run as `running`, held by `new.owner` with a heartbeat of now, with an id
    /// `YYYYMMDD-NNN` (the start date and a sequence within that date, at least three digits).
    pub async fn start_run(&self, new: &NewRun<'_>) -> anyhow::Result<RunRecord> {
        let prefix = new.started.format("%Y%m%d").to_string();
        for _ in 0..20 {
            // The largest sequence as a number: as text, `-999` is above `-1000`.
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(CAST(substr(id, 10) AS BIGINT)) FROM runs WHERE id LIKE $1",
            )
            .bind(format!("{prefix}-%"))
            .fetch_one(&self.pool)
            .await?;
            let sequence = last.unwrap_or(0) + 1;
            let run = RunRecord {
                id: format!("{prefix}-{sequence:03}"),
                as_of: new.as_of,
                cadence: new.cadence.map(str::to_string),
                org_ids: new.org_ids.to_vec(),
                scope_key: new.scope_key.to_string(),
                started_at: new.started.to_rfc3339(),
                finished_at: None,
                status: RunStatus::Running,
                error: None,
                out_dir: None,
                counts: RunCounts::default(),
                owner: Some(new.owner.to_string()),
            };
            let inserted = sqlx::query(&format!(
                "INSERT INTO runs ({RUN_COLUMNS}, heartbeat_at, out_root) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, NULL, NULL, $8, $9, $10, $11) \
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(run.id.as_str())
            .bind(new.as_of.format("%Y-%m-%d").to_string())
            .bind(run.cadence.as_deref())
            .bind(new.org_ids.join(";"))
            .bind(new.scope_key)
            .bind(run.started_at.as_str())
            .bind(RunStatus::Running.as_str())
            .bind(serde_json::to_string(&run.counts)?)
            .bind(new.owner)
            .bind(chrono::Utc::now().timestamp())
            .bind(new.out_root)
            .execute(&self.pool)
            .await
            .context("cannot record the run")?;
            if inserted.rows_affected() == 1 {
                return Ok(run);
            }
            // Another process took this sequence number at the same moment: take the next.
        }
        anyhow::bail!("cannot allocate a run id: too many concurrent runs")
    }

    /// Renews a run's heartbeat. False when `owner` no longer holds the run (another process
    /// found it gone and recorded it as failed).
    pub async fn run_heartbeat(
        &self,
        run_id: &str,
        owner: &str,
        now_unix: i64,
    ) -> anyhow::Result<bool> {
        let updated = sqlx::query("UPDATE runs SET heartbeat_at = $1 WHERE id = $2 AND owner = $3")
            .bind(now_unix)
            .bind(run_id)
            .bind(owner)
            .execute(&self.pool)
            .await
            .context("cannot renew the run's heartbeat")?;
        Ok(updated.rows_affected() == 1)
    }

    /// The runs a process holds: running, or stored with their folder not yet in place.
    pub async fn held_runs(&self) -> anyhow::Result<Vec<HeldRun>> {
        let rows = sqlx::query(
            "SELECT id, status, owner, heartbeat_at, out_root FROM runs \
             WHERE status = 'running' OR owner IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(HeldRun {
                    id: row.try_get(0)?,
                    status: RunStatus::parse(&row.try_get::<String, _>(1)?)?,
                    owner: row.try_get(2)?,
                    heartbeat_at: row.try_get(3)?,
                    out_root: row.try_get(4)?,
                })
            })
            .collect()
    }

    /// A stored run's folder is in place, or is not (`folder_error` says why, kept as the
    /// run's error for `posc-review runs`, with the owner kept so that a later command moves
    /// it). Once in place the process lets go of the run; `clear_error` drops an error that
    /// only said where the folder was.
    pub async fn release_run(
        &self,
        run_id: &str,
        owner: &str,
        folder_error: Option<&str>,
        clear_error: bool,
    ) -> anyhow::Result<()> {
        let owner_after = folder_error.map(|_| owner);
        let sql = if folder_error.is_some() || clear_error {
            "UPDATE runs SET owner = $1, error = $2 WHERE id = $3 AND owner = $4"
        } else {
            // The error a completed run already has (organizations without a report) stays.
            "UPDATE runs SET owner = $1, error = COALESCE($2, error) WHERE id = $3 AND owner = $4"
        };
        sqlx::query(sql)
            .bind(owner_after)
            .bind(folder_error)
            .bind(run_id)
            .bind(owner)
            .execute(&self.pool)
            .await
            .context("cannot record the run's folder")?;
        Ok(())
    }

    /// Stores a run's findings, the organizations it reviewed, its counts and its queued mail,
    /// and marks it completed, all in one transaction: a run is complete with all its findings
    /// and messages, or has none.
    pub async fn complete_run(
        &self,
        run: &RunRecord,
        done: &CompletedRun<'_>,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_batched(
            &mut tx,
            self.backend,
            &format!("INSERT INTO findings ({FINDING_COLUMNS})"),
            11,
            "",
            done.findings,
            |q, f| {
                q.bind(f.run_id.as_str())
                    .bind(f.fingerprint.as_str())
                    .bind(f.rule.as_str())
                    .bind(f.severity.as_str())
                    .bind(f.status.as_str())
                    .bind(f.org_id.as_str())
                    .bind(f.pidsl.as_str())
                    .bind(f.username.as_str())
                    .bind(f.user_name.as_str())
                    .bind(f.detail.as_str())
                    .bind(f.first_seen.format("%Y-%m-%d").to_string())
            },
        )
        .await?;
        insert_batched(
            &mut tx,
            self.backend,
            "INSERT INTO run_orgs (run_id, org_id)",
            2,
            "",
            done.reviewed_org_ids,
            |q, org_id| q.bind(run.id.clone()).bind(org_id.as_str()),
        )
        .await?;
        Store::queue_mail_in(&mut tx, self.backend, done.outbox, chrono::Utc::now()).await?;
        let completed = sqlx::query(
            "UPDATE runs SET status = $1, finished_at = $2, counts = $3, out_dir = $4, error = $5 \
             WHERE id = $6 AND status = 'running' AND owner = $7",
        )
        .bind(RunStatus::Completed.as_str())
        .bind(done.finished_at)
        .bind(serde_json::to_string(&run.counts)?)
        .bind(done.out_dir)
        .bind(done.problems)
        .bind(run.id.as_str())
        .bind(run.owner.as_deref())
        .execute(&mut *tx)
        .await?;
        anyhow::ensure!(
            completed.rows_affected() == 1,
            "run {} was recorded as failed while it ran: its heartbeat stopped for more than {} s",
            run.id,
            crate::liveness::STALE_AFTER_SECS
        );
        tx.commit().await.context("cannot commit the run")?;
        Ok(())
    }

    /// Records a running run as failed, unless it completed (or failed) after all; with
    /// `seen_heartbeat`, only if its heartbeat has not moved since (its process is still gone).
    /// True when the run was running and is now failed.
    pub async fn fail_run(
        &self,
        run_id: &str,
        error: &str,
        finished_at: &str,
        seen_heartbeat: Option<i64>,
    ) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE runs SET status = $1, error = $2, finished_at = $3, owner = NULL \
             WHERE id = $4 AND status = 'running' AND ($5 IS NULL OR heartbeat_at = $5)",
        )
        .bind(RunStatus::Failed.as_str())
        .bind(error)
        .bind(finished_at)
        .bind(run_id)
        .bind(seen_heartbeat)
        .execute(&self.pool)
        .await
        .context("cannot record the failed run")?;
        Ok(updated.rows_affected() == 1)
    }

    /// The latest completed run of the same scope, the one a new run is compared with.
    pub async fn previous_completed_run(
        &self,
        scope_key: &str,
    ) -> anyhow::Result<Option<RunRecord>> {
        sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE scope_key = $1 AND status = 'completed' \
             ORDER BY {} DESC LIMIT 1",
            run_order("id")
        ))
        .bind(scope_key)
        .fetch_optional(&self.pool)
        .await?
        .map(run_from_row)
        .transpose()
    }

    pub async fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs ORDER BY {}",
            run_order("id")
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(run_from_row).collect()
    }

    pub async fn run(&self, id: &str) -> anyhow::Result<Option<RunRecord>> {
        sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(run_from_row)
            .transpose()
    }

    pub async fn latest_completed_run(&self) -> anyhow::Result<Option<RunRecord>> {
        sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE status = 'completed' ORDER BY {} DESC LIMIT 1",
            run_order("id")
        ))
        .fetch_optional(&self.pool)
        .await?
        .map(run_from_row)
        .transpose()
    }

    /// A run's findings, optionally of one rule and one status, most severe first.
    pub async fn findings(
        &self,
        run_id: &str,
        rule: Option<&str>,
        status: Option<&str>,
    ) -> anyhow::Result<Vec<FindingRow>> {
        let sql = format!(
            "SELECT {FINDING_COLUMNS} FROM findings WHERE run_id = $1 AND ($2 IS NULL OR rule = $2) \
             AND ($3 IS NULL OR status = $3)"
        );
        let mut rows = sqlx::query(&sql)
            .bind(run_id)
            .bind(rule)
            .bind(status)
            .fetch(&self.pool);
        let mut findings = Vec::new();
        while let Some(row) = rows.try_next().await? {
            findings.push(finding_from_row(row)?);
        }
        Ok(findings)
    }

    /// Per organization, the as_of of its latest completed review run.
    pub async fn last_completed_review_per_org(&self) -> anyhow::Result<Vec<(String, NaiveDate)>> {
        let rows = sqlx::query(
            "SELECT o.org_id, MAX(r.as_of) FROM run_orgs o JOIN runs r ON r.id = o.run_id \
             WHERE r.status = 'completed' GROUP BY o.org_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let as_of: String = row.try_get(1)?;
                Ok((
                    row.try_get(0)?,
                    NaiveDate::parse_from_str(&as_of, "%Y-%m-%d")?,
                ))
            })
            .collect()
    }
}
