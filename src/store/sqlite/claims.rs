//! The scheduler's period claims: the database, not a process's memory, decides which scheduler
//! reviews a period. A claim is taken by inserting its row (exactly one of several racing
//! schedulers inserts it), or by taking over a failed claim or one whose heartbeat went stale;
//! on SQLite both happen under the IMMEDIATE lock, so the look at the row and the change are
//! one step. Every later write names the owner, so a process that lost its claim cannot
//! overwrite the new owner's state.

use super::{all_rows, first_row, SqlTime};
use crate::domain::{Cadence, ClaimState};
use crate::store::{ClaimOutcome, ClaimRecord, ClaimRequest};
use anyhow::Context;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Row, TransactionBehavior};

/// A [`ClaimRequest`] that a blocking thread can own.
pub(super) struct OwnedClaimRequest {
    period_key: String,
    cadence: Cadence,
    due_at: DateTime<Utc>,
    owner: String,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
}

impl From<&ClaimRequest<'_>> for OwnedClaimRequest {
    fn from(request: &ClaimRequest<'_>) -> Self {
        OwnedClaimRequest {
            period_key: request.period_key.to_string(),
            cadence: request.cadence,
            due_at: request.due_at,
            owner: request.owner.to_string(),
            now: request.now,
            stale_before: request.stale_before,
        }
    }
}

/// Records the run that reviews a claimed period, and renews the heartbeat; no row when this
/// owner no longer holds the claim.
pub(super) const CLAIM_RUNNING: &str = "UPDATE schedule_claims \
     SET state = ?1, run_id = ?2, heartbeat_at = ?3 \
     WHERE period_key = ?4 AND owner = ?5 AND state IN ('claimed', 'running')";

/// Renews the heartbeat of a claim in progress; no row when this owner no longer holds it.
pub(super) const RENEW_CLAIM_HEARTBEAT: &str = "UPDATE schedule_claims SET heartbeat_at = ?1 \
     WHERE period_key = ?2 AND owner = ?3 AND state IN ('claimed', 'running')";

/// Closes a claim as completed or failed; no row when this owner no longer holds it.
pub(super) const FINISH_CLAIM: &str = "UPDATE schedule_claims \
     SET state = ?1, run_id = COALESCE(?2, run_id), error = ?3, finished_at = ?4 \
     WHERE period_key = ?5 AND owner = ?6";

const CLAIM_SELECT: &str = "SELECT period_key, cadence, due_at, state, owner, run_id, attempts, \
     claimed_at, heartbeat_at, finished_at, error FROM schedule_claims";

fn claim_from_row(row: &Row<'_>) -> anyhow::Result<ClaimRecord> {
    Ok(from_row!(row.get => ClaimRecord {
        period_key, cadence, state, owner, run_id, attempts, error;
        due_at: row.get::<_, SqlTime>("due_at")?.0,
        claimed_at: row.get::<_, SqlTime>("claimed_at")?.0,
        heartbeat_at: row.get::<_, SqlTime>("heartbeat_at")?.0,
        finished_at: row.get::<_, Option<SqlTime>>("finished_at")?.map(|t| t.0),
    }))
}

/// Takes the claim on a period if nobody has it, if its last attempt failed, or if its holder
/// stopped renewing the heartbeat (unless its run completed: the claim is closed as completed);
/// otherwise says who has it.
pub(super) fn try_claim(
    conn: &mut Connection,
    request: &OwnedClaimRequest,
) -> anyhow::Result<ClaimOutcome> {
    let cannot = || format!("cannot claim the period {}", request.period_key);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .with_context(cannot)?;
    let inserted = tx
        .execute(
            "INSERT INTO schedule_claims (period_key, cadence, due_at, state, owner, run_id, \
             attempts, claimed_at, heartbeat_at, finished_at, error) \
             VALUES (?1, ?2, ?3, ?4, ?5, NULL, 1, ?6, ?6, NULL, NULL) \
             ON CONFLICT (period_key) DO NOTHING",
            params![
                request.period_key,
                request.cadence,
                SqlTime(request.due_at),
                ClaimState::Claimed,
                request.owner,
                SqlTime(request.now),
            ],
        )
        .with_context(cannot)?;
    let outcome = if inserted == 1 {
        ClaimOutcome::Taken { retried: None }
    } else {
        let existing = claim(&tx, &request.period_key)?
            .with_context(|| format!("the claim on {} vanished", request.period_key))?;
        if existing.state == ClaimState::Completed {
            ClaimOutcome::Completed(existing)
        } else if close_reviewed(&tx, request)? {
            let closed = claim(&tx, &request.period_key)?
                .with_context(|| format!("the claim on {} vanished", request.period_key))?;
            ClaimOutcome::Completed(closed)
        } else {
            let taken = tx
                .execute(
                    "UPDATE schedule_claims SET state = ?1, owner = ?2, run_id = NULL, \
                     attempts = attempts + 1, claimed_at = ?3, heartbeat_at = ?3, \
                     finished_at = NULL, error = NULL \
                     WHERE period_key = ?4 AND (state = 'failed' \
                     OR (state IN ('claimed', 'running') AND heartbeat_at < ?5))",
                    params![
                        ClaimState::Claimed,
                        request.owner,
                        SqlTime(request.now),
                        request.period_key,
                        SqlTime(request.stale_before),
                    ],
                )
                .with_context(|| format!("cannot take over the claim on {}", request.period_key))?;
            if taken == 1 {
                ClaimOutcome::Taken {
                    retried: Some(existing.state),
                }
            } else {
                ClaimOutcome::Held(existing)
            }
        }
    };
    tx.commit().with_context(cannot)?;
    Ok(outcome)
}

/// Closes a stale claim as completed when its run completed: its process died after storing
/// the run (e.g. while delivering its mail), so the period is reviewed. Whether it did.
fn close_reviewed(conn: &Connection, request: &OwnedClaimRequest) -> anyhow::Result<bool> {
    let closed = conn
        .prepare_cached(
            "UPDATE schedule_claims SET state = ?1, finished_at = ?2, error = NULL \
             WHERE period_key = ?3 AND state IN ('claimed', 'running') AND heartbeat_at < ?4 \
             AND run_id IN (SELECT id FROM runs WHERE status = 'completed')",
        )?
        .execute(params![
            ClaimState::Completed,
            SqlTime(request.now),
            request.period_key,
            SqlTime(request.stale_before),
        ])
        .with_context(|| format!("cannot close the claim on {}", request.period_key))?;
    Ok(closed == 1)
}

pub(super) fn claim(conn: &Connection, period_key: &str) -> anyhow::Result<Option<ClaimRecord>> {
    first_row(
        conn,
        &format!("{CLAIM_SELECT} WHERE period_key = ?1"),
        [period_key],
        claim_from_row,
    )
    .context("cannot read the schedule_claims table")
}

/// Every claim, oldest period first.
pub(super) fn claims(conn: &mut Connection) -> anyhow::Result<Vec<ClaimRecord>> {
    all_rows(
        conn,
        &format!("{CLAIM_SELECT} ORDER BY due_at, period_key"),
        [],
        claim_from_row,
    )
    .context("cannot read the schedule_claims table")
}
