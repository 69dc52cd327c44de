//! The scheduler's period claims: the database, not a process's memory, decides which scheduler
//! reviews a period. A claim is taken with `INSERT ... ON CONFLICT DO NOTHING` (exactly one of
//! several racing schedulers inserts the row), or by one conditional `UPDATE` that takes over a
//! failed claim or one whose heartbeat went stale. Every later write names the owner, so a
//! process that lost its claim cannot overwrite the new owner's state.

use super::{parsed, PgStore};
use crate::domain::{Cadence, ClaimState};
use crate::store::{ClaimOutcome, ClaimRecord, ClaimRequest};
use anyhow::Context;

use sqlx::postgres::PgRow;
use sqlx::Row;

const CLAIM_COLUMNS: &str = "period_key, cadence, due_at, state, owner, run_id, attempts, \
                             claimed_at, heartbeat_at, finished_at, error";

/// Records the run that reviews a claimed period, and renews the heartbeat; no row when this
/// owner no longer holds the claim.
pub(super) const CLAIM_RUNNING: &str = "UPDATE schedule_claims \
     SET state = $1, run_id = $2, heartbeat_at = $3 \
     WHERE period_key = $4 AND owner = $5 AND state IN ('claimed', 'running')";

/// Renews the heartbeat of a claim in progress; no row when this owner no longer holds it.
pub(super) const RENEW_CLAIM_HEARTBEAT: &str = "UPDATE schedule_claims SET heartbeat_at = $1 \
     WHERE period_key = $2 AND owner = $3 AND state IN ('claimed', 'running')";

/// Closes a claim as completed or failed; no row when this owner no longer holds it.
pub(super) const FINISH_CLAIM: &str = "UPDATE schedule_claims \
     SET state = $1, run_id = COALESCE($2, run_id), error = $3, finished_at = $4 \
     WHERE period_key = $5 AND owner = $6";

/// Whether a claim's run completed.
const RUN_COMPLETED: &str = "EXISTS (SELECT 1 FROM runs r \
     WHERE r.id = schedule_claims.run_id AND r.status = 'completed')";

fn claim_from_row(row: &PgRow) -> anyhow::Result<ClaimRecord> {
    Ok(from_row!(row.try_get => ClaimRecord {
        period_key, due_at, owner, run_id, attempts, claimed_at, heartbeat_at, finished_at, error;
        cadence: parsed(row, "schedule_claims", "cadence", Cadence::parse)?,
        state: parsed(row, "schedule_claims", "state", ClaimState::parse)?,
    }))
}

impl PgStore {
    /// Takes the claim on a period if nobody has it, if its last attempt failed, or if its
    /// holder stopped renewing the heartbeat (unless its run completed: the claim is closed as
    /// completed); otherwise says who has it.
    pub(super) async fn try_claim(
        &self,
        request: &ClaimRequest<'_>,
    ) -> anyhow::Result<ClaimOutcome> {
        let sql = format!(
            "INSERT INTO schedule_claims ({CLAIM_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, NULL, 1, $6, $6, NULL, NULL) \
             ON CONFLICT (period_key) DO NOTHING"
        );
        let inserted = sqlx::query(&sql)
            .bind(request.period_key)
            .bind(request.cadence.as_str())
            .bind(request.due_at)
            .bind(ClaimState::Claimed.as_str())
            .bind(request.owner)
            .bind(request.now);
        let what = format!("claim the period {}", request.period_key);
        if self.write(inserted, &what).await? == 1 {
            return Ok(ClaimOutcome::Taken { retried: None });
        }
        let Some(existing) = self.claim(request.period_key).await? else {
            anyhow::bail!("the claim on {} vanished", request.period_key);
        };
        if existing.state == ClaimState::Completed {
            return Ok(ClaimOutcome::Completed(existing));
        }
        // A stale claim whose run completed: its process died after storing the run (e.g.
        // while delivering its mail). The period is reviewed; the claim is closed as completed.
        let sql = format!(
            "UPDATE schedule_claims SET state = $1, finished_at = $2, error = NULL \
             WHERE period_key = $3 AND state IN ('claimed', 'running') AND heartbeat_at < $4 \
             AND {RUN_COMPLETED} RETURNING {CLAIM_COLUMNS}"
        );
        let closed = sqlx::query(&sql)
            .bind(ClaimState::Completed.as_str())
            .bind(request.now)
            .bind(request.period_key)
            .bind(request.stale_before)
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("cannot close the claim on {}", request.period_key))?;
        if let Some(closed) = closed {
            return Ok(ClaimOutcome::Completed(claim_from_row(&closed)?));
        }
        // One statement, so that of two schedulers retrying at once only one takes it over:
        // the WHERE clause is evaluated again on the locked row.
        let sql = format!(
            "UPDATE schedule_claims SET state = $1, owner = $2, run_id = NULL, \
             attempts = attempts + 1, claimed_at = $3, heartbeat_at = $3, finished_at = NULL, \
             error = NULL \
             WHERE period_key = $4 AND (state = 'failed' \
             OR (state IN ('claimed', 'running') AND heartbeat_at < $5 AND NOT {RUN_COMPLETED}))"
        );
        let taken = sqlx::query(&sql)
            .bind(ClaimState::Claimed.as_str())
            .bind(request.owner)
            .bind(request.now)
            .bind(request.period_key)
            .bind(request.stale_before);
        let what = format!("take over the claim on {}", request.period_key);
        if self.write(taken, &what).await? == 1 {
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

    pub(super) async fn claim(&self, period_key: &str) -> anyhow::Result<Option<ClaimRecord>> {
        let sql = format!("SELECT {CLAIM_COLUMNS} FROM schedule_claims WHERE period_key = $1");
        let query = sqlx::query(&sql).bind(period_key);
        self.read_optional(query, "the schedule claims", claim_from_row)
            .await
    }

    /// Every claim, oldest period first.
    pub(super) async fn claims(&self) -> anyhow::Result<Vec<ClaimRecord>> {
        let sql =
            format!("SELECT {CLAIM_COLUMNS} FROM schedule_claims ORDER BY due_at, period_key");
        self.read_all(sqlx::query(&sql), "the schedule claims", claim_from_row)
            .await
    }
}
