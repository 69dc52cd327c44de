//! Review history: runs, their findings, and which organizations each completed run reviewed.
//! An import never touches these tables.

use super::{date_text, insert_batched, parsed, required_date, PgStore};
use crate::domain::{Cadence, FindingStatus, RuleId, RunStatus, Severity};
use crate::store::{
    group_org_trends, run_order, running_run, trend_point, CompletedRun, FindingRow, HeldRun,
    NewRun, OrgReview, RunRecord, TrendPoint,
};
use anyhow::Context;
use chrono::NaiveDate;
use futures_util::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::Row;
use std::collections::HashMap;

const RUN_COLUMNS: &str = "id, as_of, cadence, org_ids, scope_key, started_at, finished_at, \
     status, error, out_dir, counts, owner";
const FINDING_COLUMNS: &str = "run_id, fingerprint, rule, severity, status, org_id, pidsl, \
     username, user_name, detail, first_seen, remediation, facts";

/// Renews a run's heartbeat; no row when `owner` no longer holds the run (another process
/// found it gone and recorded it as failed).
pub(super) const RENEW_RUN_HEARTBEAT: &str =
    "UPDATE runs SET heartbeat_at = $1 WHERE id = $2 AND owner = $3";

/// A stored run's folder is in place, or is not (the error says why, kept for `posc-review
/// runs`, with the owner kept so that a later command moves it). Once in place the process lets
/// go of the run; a NULL error clears one that only said where the folder was.
pub(super) const RELEASE_RUN: &str =
    "UPDATE runs SET owner = $1, error = $2 WHERE id = $3 AND owner = $4";

/// [`RELEASE_RUN`] where the error a completed run already has (organizations without a
/// report) stays.
pub(super) const RELEASE_RUN_KEEPING_ERROR: &str =
    "UPDATE runs SET owner = $1, error = COALESCE($2, error) WHERE id = $3 AND owner = $4";

/// Records a running run as failed, unless it completed (or failed) after all; with a seen
/// heartbeat ($5), only if its heartbeat has not moved since (its process is still gone).
pub(super) const FAIL_RUN: &str = "UPDATE runs SET status = $1, error = $2, finished_at = $3, \
     owner = NULL WHERE id = $4 AND status = 'running' \
     AND ($5::timestamptz IS NULL OR heartbeat_at = $5)";

fn run_from_row(row: &PgRow) -> anyhow::Result<RunRecord> {
    let org_ids: String = row.try_get("org_ids")?;
    let counts: String = row.try_get("counts")?;
    Ok(from_row!(row.try_get => RunRecord {
        id, scope_key, started_at, finished_at, error, out_dir, owner;
        as_of: required_date(row, "runs", "as_of")?,
        cadence: row
            .try_get::<Option<String>, _>("cadence")?
            .map(|text| Cadence::parse(&text))
            .transpose()
            .map_err(|e| anyhow::anyhow!("bad cadence in the runs table: {e}"))?,
        org_ids: org_ids.split(';').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        status: parsed(row, "runs", "status", RunStatus::parse)?,
        counts: serde_json::from_str(&counts).context("bad counts in the runs table")?,
    }))
}

fn finding_from_row(row: &PgRow) -> anyhow::Result<FindingRow> {
    Ok(from_row!(row.try_get => FindingRow {
        run_id, fingerprint, org_id, pidsl, username, user_name, detail, remediation, facts;
        rule: parsed(row, "findings", "rule", RuleId::parse)?,
        severity: parsed(row, "findings", "severity", Severity::parse)?,
        status: parsed(row, "findings", "status", FindingStatus::parse)?,
        first_seen: required_date(row, "findings", "first_seen")?,
        decision: None,
    })
    .with_generic_remediation())
}

impl PgStore {
    /// Records a new run as `running`, held by `new.owner` with a heartbeat of its start, with
    /// an id `YYYYMMDD-NNN` (the local start date and a sequence within that date, at least
    /// three digits, and at least `new.first_sequence`).
    pub(super) async fn start_run(&self, new: &NewRun<'_>) -> anyhow::Result<RunRecord> {
        let prefix = new.started.format("%Y%m%d").to_string();
        let running = running_run(new);
        let started_at = running.started_at;
        for _ in 0..20 {
            // The largest sequence as a number: as text, `-999` is above `-1000`.
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(CAST(substr(id, 10) AS BIGINT)) FROM runs WHERE id LIKE $1",
            )
            .bind(format!("{prefix}-%"))
            .fetch_one(&self.pool)
            .await
            .context("cannot read the runs")?;
            let sequence = (last.unwrap_or(0) + 1).max(i64::from(new.first_sequence));
            let run = RunRecord {
                id: format!("{prefix}-{sequence:03}"),
                ..running.clone()
            };
            let inserted = sqlx::query(&format!(
                "INSERT INTO runs ({RUN_COLUMNS}, heartbeat_at, out_root) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, NULL, NULL, $8, $9, $10, $11) \
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(run.id.as_str())
            .bind(date_text(new.as_of))
            .bind(new.cadence.map(Cadence::as_str))
            .bind(new.org_ids.join(";"))
            .bind(new.scope_key)
            .bind(started_at)
            .bind(RunStatus::Running.as_str())
            .bind(serde_json::to_string(&run.counts)?)
            .bind(new.owner)
            .bind(started_at)
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

    pub(super) async fn held_runs(&self) -> anyhow::Result<Vec<HeldRun>> {
        let query = sqlx::query(
            "SELECT id, status, owner, heartbeat_at, out_root FROM runs \
             WHERE status = 'running' OR owner IS NOT NULL",
        );
        self.read_all(query, "the runs", |row| {
            Ok(from_row!(row.try_get => HeldRun {
                id, owner, heartbeat_at, out_root;
                status: parsed(row, "runs", "status", RunStatus::parse)?,
            }))
        })
        .await
    }

    /// Stores a run's findings, the organizations it reviewed, its counts and its queued mail,
    /// and marks it completed, all in one transaction: a run is complete with all its findings
    /// and messages, or has none.
    pub(super) async fn complete_run(
        &self,
        run: &RunRecord,
        done: &CompletedRun<'_>,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_batched(
            &mut tx,
            &format!("INSERT INTO findings ({FINDING_COLUMNS})"),
            13,
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
                    .bind(date_text(f.first_seen))
                    .bind(f.remediation.as_str())
                    .bind(f.facts.as_str())
            },
        )
        .await?;
        let open = crate::store::open_counts_json(done.findings, done.reviewed_org_ids);
        let run_orgs: Vec<(&String, String)> = done.reviewed_org_ids.iter().zip(open).collect();
        insert_batched(
            &mut tx,
            "INSERT INTO run_orgs (run_id, org_id, open_counts)",
            3,
            "",
            &run_orgs,
            |q, (org_id, open_counts)| {
                q.bind(run.id.clone())
                    .bind(org_id.as_str())
                    .bind(open_counts.as_str())
            },
        )
        .await?;
        super::outbox::queue_mail(&mut tx, done.outbox, done.finished_at).await?;
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
        .await
        .context("cannot record the completed run")?;
        anyhow::ensure!(
            completed.rows_affected() == 1,
            "run {} was recorded as failed while it ran: its heartbeat stopped for more than {} s",
            run.id,
            crate::liveness::STALE_AFTER_SECS
        );
        tx.commit().await.context("cannot commit the run")?;
        Ok(())
    }

    pub(super) async fn latest_completed_run(&self) -> anyhow::Result<Option<RunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE status = 'completed' ORDER BY {} DESC LIMIT 1",
            run_order("id")
        );
        self.read_optional(sqlx::query(&sql), "the runs", run_from_row)
            .await
    }

    /// Each of `org_ids`' findings at its previous review (its last completed run before
    /// `before_run` by `run_orgs`, whatever the scope): one query (`= ANY($1)`), each
    /// organization's reviews numbered by a window function.
    pub(super) async fn previous_org_findings(
        &self,
        org_ids: &[String],
        before_run: &str,
    ) -> anyhow::Result<Vec<FindingRow>> {
        if org_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "WITH previous AS ( \
               SELECT org_id, run_id FROM ( \
                 SELECT o.org_id, o.run_id, \
                        ROW_NUMBER() OVER (PARTITION BY o.org_id ORDER BY {run} DESC) AS n \
                 FROM run_orgs o JOIN runs r ON r.id = o.run_id \
                 WHERE r.status = 'completed' AND {run} < {before} \
                   AND o.org_id = ANY($1)) t \
               WHERE n = 1) \
             SELECT {FINDING_COLUMNS} FROM previous JOIN findings USING (run_id, org_id)",
            run = run_order("r.id"),
            before = run_order("$2::text"),
        );
        let mut rows = sqlx::query(&sql)
            .bind(org_ids)
            .bind(before_run)
            .fetch(&self.pool);
        let mut findings = Vec::new();
        while let Some(row) = rows
            .try_next()
            .await
            .context("cannot read the organizations' previous reviews")?
        {
            findings.push(finding_from_row(&row)?);
        }
        Ok(findings)
    }

    pub(super) async fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs ORDER BY {}",
            run_order("id")
        );
        self.read_all(sqlx::query(&sql), "the runs", run_from_row)
            .await
    }

    pub(super) async fn run(&self, id: &str) -> anyhow::Result<Option<RunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        self.read_optional(sqlx::query(&sql).bind(id), "the run", run_from_row)
            .await
    }

    pub(super) async fn findings(
        &self,
        run_id: &str,
        rule: Option<RuleId>,
        status: Option<FindingStatus>,
    ) -> anyhow::Result<Vec<FindingRow>> {
        let sql = format!(
            "SELECT {FINDING_COLUMNS} FROM findings WHERE run_id = $1 \
             AND ($2::text IS NULL OR rule = $2) AND ($3::text IS NULL OR status = $3)"
        );
        let mut rows = sqlx::query(&sql)
            .bind(run_id)
            .bind(rule.map(RuleId::as_str))
            .bind(status.map(FindingStatus::as_str))
            .fetch(&self.pool);
        let mut findings = Vec::new();
        while let Some(row) = rows.try_next().await.context("cannot read the findings")? {
            findings.push(finding_from_row(&row)?);
        }
        Ok(findings)
    }

    /// Per organization, the as_of of its latest completed review run.
    pub(super) async fn last_completed_review_per_org(
        &self,
    ) -> anyhow::Result<Vec<(String, NaiveDate)>> {
        let query = sqlx::query(
            "SELECT o.org_id, MAX(r.as_of) AS as_of FROM run_orgs o JOIN runs r ON r.id = o.run_id \
             WHERE r.status = 'completed' GROUP BY o.org_id",
        );
        self.read_all(query, "the review history", |row| {
            Ok((row.try_get("org_id")?, required_date(row, "runs", "as_of")?))
        })
        .await
    }

    /// Each organization's last completed review by `run_orgs`, whatever its scope: one query,
    /// each organization's runs numbered by a window function.
    pub(super) async fn latest_org_reviews(&self) -> anyhow::Result<Vec<OrgReview>> {
        let sql = format!(
            "SELECT org_id, run_id, as_of FROM ( \
               SELECT o.org_id, r.id AS run_id, r.as_of, \
                      ROW_NUMBER() OVER (PARTITION BY o.org_id ORDER BY {run} DESC) AS n \
               FROM run_orgs o JOIN runs r ON r.id = o.run_id WHERE r.status = 'completed') t \
             WHERE n = 1 ORDER BY org_id",
            run = run_order("r.id"),
        );
        self.read_all(sqlx::query(&sql), "the review history", |row| {
            Ok(from_row!(row.try_get => OrgReview {
                org_id, run_id;
                as_of: required_date(row, "runs", "as_of")?,
            }))
        })
        .await
    }

    /// Each of `org_ids`' open findings at its last `limit` completed reviews before
    /// `before_run`, oldest first: one query (`= ANY($1)`), each organization's runs numbered
    /// by a window function.
    pub(super) async fn org_trends(
        &self,
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
                    COALESCE((counts ->> 'critical')::bigint, 0) AS critical, \
                    COALESCE((counts ->> 'high')::bigint, 0) AS high, \
                    COALESCE((counts ->> 'medium')::bigint, 0) AS medium, \
                    COALESCE((counts ->> 'low')::bigint, 0) AS low FROM ( \
               SELECT o.org_id, r.id AS run_id, r.as_of, o.open_counts::json AS counts, \
                      ROW_NUMBER() OVER (PARTITION BY o.org_id ORDER BY r.run_order DESC) AS n \
               FROM r JOIN run_orgs o ON o.run_id = r.id \
               WHERE o.org_id = ANY($1) AND o.open_counts IS NOT NULL) t \
             WHERE n <= $3 ORDER BY org_id, n DESC",
            run = run_order("id"),
            before = run_order("$2::text"),
        );
        let query = sqlx::query(&sql)
            .bind(org_ids)
            .bind(before_run)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = self
            .read_all(query, "the review history for the trends", |row| {
                Ok((
                    row.try_get("org_id")?,
                    row.try_get("run_id")?,
                    required_date(row, "runs", "as_of")?,
                    [
                        row.try_get("critical")?,
                        row.try_get("high")?,
                        row.try_get("medium")?,
                        row.try_get("low")?,
                    ],
                ))
            })
            .await?;
        Ok(group_org_trends(rows))
    }

    /// The open findings of the last `limit` completed runs of `scope_key` before
    /// `before_run`, each summed over its organizations in SQL, oldest first.
    pub(super) async fn scope_trend(
        &self,
        scope_key: &str,
        before_run: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<TrendPoint>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sum = |s: &str| {
            format!("COALESCE(SUM((o.open_counts::json ->> '{s}')::bigint), 0)::bigint AS {s}")
        };
        let sql = format!(
            "SELECT r.id AS run_id, r.as_of, {}, {}, {}, {} \
             FROM (SELECT id, as_of FROM runs WHERE scope_key = $1 AND status = 'completed' \
                   AND {run} < {before} ORDER BY {run} DESC LIMIT $3) r \
             LEFT JOIN run_orgs o ON o.run_id = r.id \
             GROUP BY r.id, r.as_of ORDER BY {run_r}",
            sum("critical"),
            sum("high"),
            sum("medium"),
            sum("low"),
            run = run_order("id"),
            before = run_order("$2::text"),
            run_r = run_order("r.id"),
        );
        let query = sqlx::query(&sql)
            .bind(scope_key)
            .bind(before_run)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        self.read_all(query, "the review history for the trend", |row| {
            Ok(trend_point(
                row.try_get("run_id")?,
                required_date(row, "runs", "as_of")?,
                [
                    row.try_get("critical")?,
                    row.try_get("high")?,
                    row.try_get("medium")?,
                    row.try_get("low")?,
                ],
            ))
        })
        .await
    }
}
