//! The scheduler's period claims: the database, not a process's memory, decides which scheduler
//! reviews a period. A claim is taken with `INSERT ... ON CONFLICT DO NOTHING` (exactly one of
//! several racing schedulers inserts the row), or by one conditional `UPDATE` that takes over a
//! failed claim or one whose heartbeat went stale. Every later write names the owner, so a
//! process that lost its claim cannot overwrite the new owner's state.

use super::Store;
use anyhow::Context;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Where a period's review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimState {
    /// Taken; the run has not been recorded yet.
    Claimed,
    /// The run is recorded (run_id) and in progress.
    Running,
    /// The run completed: the period is never reviewed again.
    Completed,
    /// The run failed or was interrupted: the next scheduler start retries it.
    Failed,
}

impl ClaimState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimState::Claimed => "claimed",
            ClaimState::Running => "running",
            ClaimState::Completed => "completed",
            ClaimState::Failed => "failed",
        }
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "claimed" => Ok(ClaimState::Claimed),
            "running" => Ok(ClaimState::Running),
            "completed" => Ok(ClaimState::Completed),
            "failed" => Ok(ClaimState::Failed),
            other => anyhow::bail!("unknown claim state {other:?} in the store"),
        }
    }
}

/// One row of `schedule_claims`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimRecord {
    pub period_key: String,
    pub cadence: String,
    /// The period's fire instant, RFC 3339 in UTC (`2026-10-01T10:00:00Z`).
    pub due_at: String,
    pub state: ClaimState,
    /// The scheduler process holding (or last holding) the claim.
    pub owner: String,
    pub run_id: Option<String>,
    /// How many times the period was claimed: 1, plus one per retry.
    pub attempts: i64,
    pub claimed_at: String,
    /// Unix seconds of the owner's last sign of life.
    pub heartbeat_at: i64,
    pub finished_at: Option<String>,
    pub error: Option<String>,
}

/// What a scheduler asks for when it wants to review a period.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub period_key: &'a str,
    pub cadence: &'a str,
    pub due_at: &'a str,
    pub owner: &'a str,
    /// RFC 3339, for the record.
    pub now: &'a str,
    /// Unix seconds, the new heartbeat.
    pub now_unix: i64,
    /// A claimed or running claim whose heartbeat is older than this (Unix seconds) was left
    /// by a process that died and may be taken over.
    pub stale_before: i64,
}

/// The answer to a claim request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This scheduler holds the period now; `retried` names the state it took over from
    /// (failed, or a stale claimed/running), `None` for a first claim.
    Taken { retried: Option<ClaimState> },
    /// The period was reviewed already.
    Completed(ClaimRecord),
    /// Another live scheduler holds the period.
    Held(ClaimRecord),
}

const CLAIM_COLUMNS: &str = "period_key, cadence, due_at, state, owner, run_id, attempts, \
                             claimed_at, heartbeat_at, finished_at, error";

fn claim_from_row(row: AnyRow) -> anyhow::Result<ClaimRecord> {
    Ok(ClaimRecord {
        period_key: row.try_get(0)?,
        cadence: row.try_get(1)?,
        due_at: row.try_get(2)?,
        state: ClaimState::parse(&row.try_get::<String, _>(3)?)?,
        owner: row.try_get(4)?,
        run_id: row.try_get(5)?,
        attempts: row.try_get(6)?,
        claimed_at: row.try_get(7)?,
        heartbeat_at: row.try_get(8)?,
        finished_at: row.try_get(9)?,
        error: row.try_get(10)?,
    })
}

impl Store {
    /// Takes the claim on a period if nobody has it, if its last attempt failed, or if its
    /// holder stopped renewing the heartbeat; otherwise says who has it.
    pub async fn try_claim(&self, request: &ClaimRequest<'_>) -> anyhow::Result<ClaimOutcome> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO schedule_claims ({CLAIM_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, NULL, 1, $6, $7, NULL, NULL) \
             ON CONFLICT (period_key) DO NOTHING"
        ))
        .bind(request.period_key)
        .bind(request.cadence)
        .bind(request.due_at)
        .bind(ClaimState::Claimed.as_str())
        .bind(request.owner)
        .bind(request.now)
        .bind(request.now_unix)
        .execute(&self.pool)
        .await
        .with_context(|| format!("cannot claim the period {}", request.period_key))?;
        if inserted.rows_affected() == 1 {
            return Ok(ClaimOutcome::Taken { retried: None });
        }
        let Some(existing) = self.claim(request.period_key).await? else {
            anyhow::bail!("the claim on {} vanished", request.period_key);
        };
        if existing.state == ClaimState::Completed {
            return Ok(ClaimOutcome::Completed(existing));
        }
        // One statement, so that of two schedulers retrying at once only one takes it over:
        // the WHERE clause is evaluated again on the locked row.
        let taken = sqlx::query(
            "UPDATE schedule_claims SET state = $1, owner = $2, run_id = NULL, \
             attempts = attempts + 1, claimed_at = $3, heartbeat_at = $4, finished_at = NULL, \
             error = NULL \
             WHERE period_key = $5 AND (state = 'failed' \
             OR (state IN ('claimed', 'running') AND heartbeat_at < $6))",
        )
        .bind(ClaimState::Claimed.as_str())
        .bind(request.owner)
        .bind(request.now)
        .bind(request.now_unix)
        .bind(request.period_key)
        .bind(request.stale_before)
        .execute(&self.pool)
        .await
        .with_context(|| format!("cannot take over the claim on {}", request.period_key))?;
        if taken.rows_affected() == 1 {
            return Ok(ClaimOutcome::Taken {
                retried: Some(existing.state),
            });
        }
        match self.claim(request.period_key).await? {
            Some(now) if now.state == ClaimState::Completed => Ok(ClaimOutcome::Completed(now)),
            Some(now) => Ok(ClaimOutcome::Held(now)),
            None => anyhow::bail!("the claim on {} vanished", request.period_key),
        }
    }

    /// Records the run that reviews a claimed period, and renews the heartbeat. False when
    /// this owner no longer holds the claim.
    pub async fn claim_running(
        &self,
        period_key: &str,
        owner: &str,
        run_id: &str,
        now_unix: i64,
    ) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE schedule_claims SET state = $1, run_id = $2, heartbeat_at = $3 \
             WHERE period_key = $4 AND owner = $5 AND state IN ('claimed', 'running')",
        )
        .bind(ClaimState::Running.as_str())
        .bind(run_id)
        .bind(now_unix)
        .bind(period_key)
        .bind(owner)
        .execute(&self.pool)
        .await
        .context("cannot record the run on its claim")?;
        Ok(updated.rows_affected() == 1)
    }

    /// Renews the heartbeat of a claim in progress. False when this owner no longer holds it.
    pub async fn claim_heartbeat(
        &self,
        period_key: &str,
        owner: &str,
        now_unix: i64,
    ) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE schedule_claims SET heartbeat_at = $1 \
             WHERE period_key = $2 AND owner = $3 AND state IN ('claimed', 'running')",
        )
        .bind(now_unix)
        .bind(period_key)
        .bind(owner)
        .execute(&self.pool)
        .await
        .context("cannot renew the claim's heartbeat")?;
        Ok(updated.rows_affected() == 1)
    }

    /// Closes a claim as completed or failed. False when this owner no longer holds it.
    pub async fn finish_claim(
        &self,
        period_key: &str,
        owner: &str,
        state: ClaimState,
        run_id: Option<&str>,
        error: Option<&str>,
        finished_at: &str,
    ) -> anyhow::Result<bool> {
        debug_assert!(matches!(state, ClaimState::Completed | ClaimState::Failed));
        let updated = sqlx::query(
            "UPDATE schedule_claims SET state = $1, run_id = COALESCE($2, run_id), error = $3, \
             finished_at = $4 WHERE period_key = $5 AND owner = $6",
        )
        .bind(state.as_str())
        .bind(run_id)
        .bind(error)
        .bind(finished_at)
        .bind(period_key)
        .bind(owner)
        .execute(&self.pool)
        .await
        .context("cannot close the claim")?;
        Ok(updated.rows_affected() == 1)
    }

    pub async fn claim(&self, period_key: &str) -> anyhow::Result<Option<ClaimRecord>> {
        sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM schedule_claims WHERE period_key = $1"
        ))
        .bind(period_key)
        .fetch_optional(&self.pool)
        .await?
        .map(claim_from_row)
        .transpose()
    }

    /// Every claim, oldest period first.
    pub async fn claims(&self) -> anyhow::Result<Vec<ClaimRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {CLAIM_COLUMNS} FROM schedule_claims ORDER BY due_at, period_key"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(claim_from_row).collect()
    }
}
