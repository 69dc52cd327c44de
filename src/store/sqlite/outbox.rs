//! The mail outbox. A message is claimed (state `sending`) and committed before it is handed
//! to SMTP, and marked `sent` right after the server accepts it, so two senders never deliver
//! the same key and a crash leaves at most the moment between the server's acceptance and that
//! update in doubt.

use super::{all_rows, first_row, split_list, SqlTime};
use crate::domain::{MailAlert, OutboxState};
use crate::store::{
    still_unalerted, AlertMail, ClaimedMail, FollowUp, MailProblem, OutboxEntry, OutgoingMail,
    QueuedMessage, Undelivered, ALERT_KIND, ESCALATION_KIND, REMINDER_KIND,
};
use anyhow::Context;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, TransactionBehavior};
use std::collections::HashMap;

/// The `next_attempt_at` up to which a pending message is due.
fn due_by(now: DateTime<Utc>, ignore_schedule: bool) -> String {
    if ignore_schedule {
        // Every stored time sorts before this one.
        "9999-12-31T23:59:59.999999Z".to_string()
    } else {
        SqlTime(now).text()
    }
}

pub(super) const MARK_SENT: &str =
    "UPDATE outbox SET state = ?1, sent_at = ?2, last_error = NULL WHERE idempotency_key = ?3";

/// A failed attempt: back to `pending` until the retry, or `failed` for good (its
/// next_attempt_at then says when it failed).
pub(super) const MARK_FAILED: &str = "UPDATE outbox \
     SET state = ?1, last_error = ?2, next_attempt_at = ?3 WHERE idempotency_key = ?4";

/// Puts failed messages back in the queue (`send --retry-failed`), as if queued anew: a
/// second failure is alerted again, and the pending alert counts from now.
pub(super) const REQUEUE_FAILED: &str = "UPDATE outbox SET state = ?1, attempts = 0, \
     next_attempt_at = ?2, created_at = ?2, alerted = NULL WHERE state = ?3";

/// Texts deleted per statement of a purge. Each batch is a transaction of its own, so that
/// a review or a sender waits for one batch at most, not for a whole statewide purge.
pub(super) const PURGE_BATCH: usize = 5_000;

/// One batch of a purge: texts of messages sent before ?1. `CROSS JOIN` makes SQLite walk the
/// texts still kept (the key index, not the texts themselves) rather than every sent row ever
/// recorded, most of them purged long ago.
pub(super) const PURGE_SENT_TEXTS: &str = "DELETE FROM outbox_messages WHERE idempotency_key IN \
     (SELECT m.idempotency_key FROM outbox_messages m CROSS JOIN outbox o \
      ON o.idempotency_key = m.idempotency_key \
      WHERE o.state = 'sent' AND o.sent_at < ?1 LIMIT ?2)";

/// Queues messages within the caller's transaction; a key already in the outbox is left as it
/// is (never queued twice). Each message is read from its file as it is inserted, so that a
/// run's messages are never all in memory. Returns the keys it queued.
pub(super) fn queue_mail(
    conn: &Connection,
    mails: &[OutgoingMail],
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<String>> {
    let mut open = HashMap::new();
    let mut queued = Vec::new();
    for mail in mails {
        // lettre encodes every part (quoted-printable or base64): it is ASCII.
        let text = mail.message_file.read(&mut open)?;
        if insert_message(conn, &QueuedMessage::mail(mail, &text), now)? {
            queued.push(mail.idempotency_key.clone());
        }
    }
    Ok(queued)
}

/// Queues reminders and escalations under the write lock, those whose key is not in the
/// outbox yet; the keys it queued.
pub(super) fn queue_follow_ups(
    conn: &mut Connection,
    mails: &[OutgoingMail],
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<String>> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("cannot queue reminders")?;
    let queued = queue_mail(&tx, mails, now)?;
    tx.commit().context("cannot queue reminders")?;
    Ok(queued)
}

/// Inserts one message, pending and due at `now`, unless its key is in the outbox already;
/// whether it was inserted.
fn insert_message(
    conn: &Connection,
    message: &QueuedMessage<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO outbox (idempotency_key, run_id, kind, recipient, to_addresses, \
             subject, state, attempts, next_attempt_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?8) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )?
        .execute(params![
            message.idempotency_key,
            message.run_id,
            message.kind,
            message.recipient,
            message.to_addresses.join(";"),
            message.subject,
            OutboxState::Pending,
            SqlTime(now),
        ])
        .context("cannot queue a message in the outbox table")?;
    conn.prepare_cached(
        "INSERT INTO outbox_messages (idempotency_key, message) VALUES (?1, ?2) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )?
    .execute(params![message.idempotency_key, message.message])
    .context("cannot queue a message in the outbox_messages table")?;
    Ok(inserted == 1)
}

/// The keys due for delivery: pending and due (all pending with `ignore_schedule`), or
/// claimed by a sender that has not finished since `stale_before` (it stopped mid-send).
pub(super) fn due_mail(
    conn: &mut Connection,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
    ignore_schedule: bool,
) -> anyhow::Result<Vec<String>> {
    all_rows(
        conn,
        "SELECT idempotency_key FROM outbox WHERE (state = 'pending' AND next_attempt_at <= ?1) \
         OR (state = 'sending' AND claimed_at < ?2) ORDER BY created_at, idempotency_key",
        params![due_by(now, ignore_schedule), SqlTime(stale_before)],
        |row| Ok(row.get("idempotency_key")?),
    )
    .context("cannot read the outbox table")
}

/// Puts off every pending message that is due until `retry_at`, with `error` as its last
/// error, without counting an attempt: they were not tried. Returns how many.
pub(super) fn defer_due_mail(
    conn: &mut Connection,
    now: DateTime<Utc>,
    ignore_schedule: bool,
    error: &str,
    retry_at: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let deferred = conn
        .prepare_cached(
            "UPDATE outbox SET last_error = ?1, next_attempt_at = ?2 \
             WHERE state = 'pending' AND next_attempt_at <= ?3",
        )?
        .execute(params![
            error,
            SqlTime(retry_at),
            due_by(now, ignore_schedule)
        ])
        .context("cannot defer the due messages in the outbox table")?;
    Ok(deferred as u64)
}

/// Claims one message for delivery; `None` when another sender has it or it is no longer due.
/// The claim is committed before any SMTP traffic.
pub(super) fn claim_mail(
    conn: &mut Connection,
    key: &str,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> anyhow::Result<Option<ClaimedMail>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let claimed = tx
        .execute(
            "UPDATE outbox SET state = 'sending', claimed_at = ?1, attempts = attempts + 1 \
             WHERE idempotency_key = ?2 \
             AND (state = 'pending' OR (state = 'sending' AND claimed_at < ?3))",
            params![SqlTime(now), key, SqlTime(stale_before)],
        )
        .context("cannot claim a message in the outbox table")?;
    if claimed != 1 {
        return Ok(None);
    }
    let mail = tx
        .query_row(
            "SELECT m.message AS message, o.to_addresses AS to_addresses, o.attempts AS attempts \
             FROM outbox o JOIN outbox_messages m ON m.idempotency_key = o.idempotency_key \
             WHERE o.idempotency_key = ?1",
            [key],
            |row| {
                Ok(ClaimedMail {
                    message: row.get("message")?,
                    to_addresses: split_list(row.get_ref("to_addresses")?.as_str()?),
                    attempts: row.get("attempts")?,
                })
            },
        )
        .context("cannot read a claimed message from the outbox")?;
    tx.commit().context("cannot claim a message")?;
    Ok(Some(mail))
}

/// The messages not delivered yet, whoever queued them and whenever: what `send` reports and
/// exits 1 on, not only what its own pass did.
pub(super) fn undelivered_mail(conn: &mut Connection) -> anyhow::Result<Undelivered> {
    let counts = all_rows(
        conn,
        "SELECT state, COUNT(*) AS n FROM outbox WHERE state <> 'sent' GROUP BY state",
        [],
        |row| Ok((row.get::<_, OutboxState>("state")?, row.get::<_, i64>("n")?)),
    )
    .context("cannot read the outbox table")?;
    let mut undelivered = Undelivered::default();
    for (state, n) in counts {
        let n = usize::try_from(n)?;
        match state {
            OutboxState::Pending => undelivered.pending = n,
            OutboxState::Sending => undelivered.sending = n,
            OutboxState::Failed => undelivered.failed = n,
            OutboxState::Sent => {}
        }
    }
    undelivered.oldest_pending_at = conn
        .query_row(
            "SELECT MIN(created_at) FROM outbox WHERE state IN ('pending', 'sending')",
            [],
            |row| row.get::<_, Option<SqlTime>>(0),
        )
        .context("cannot read the outbox table")?
        .map(|t| t.0);
    Ok(undelivered)
}

/// The outbox, optionally one run's, oldest first.
pub(super) fn outbox(
    conn: &mut Connection,
    run_id: Option<&str>,
) -> anyhow::Result<Vec<OutboxEntry>> {
    all_rows(
        conn,
        "SELECT idempotency_key, run_id, kind, recipient, to_addresses, subject, state, attempts, \
         last_error, next_attempt_at, sent_at FROM outbox WHERE (?1 IS NULL OR run_id = ?1) \
         ORDER BY created_at, idempotency_key",
        [run_id],
        |row| {
            Ok(from_row!(row.get => OutboxEntry {
                idempotency_key, run_id, kind, recipient, subject, state, attempts, last_error;
                to_addresses: split_list(row.get_ref("to_addresses")?.as_str()?),
                next_attempt_at: row.get::<_, SqlTime>("next_attempt_at")?.0,
                sent_at: row.get::<_, Option<SqlTime>>("sent_at")?.map(|t| t.0),
            }))
        },
    )
    .context("cannot read the outbox table")
}

/// The reminders and escalations about the findings of `run_ids`, whatever their state: one
/// query, the runs passed as one JSON array.
pub(super) fn follow_ups(conn: &Connection, run_ids: &[String]) -> anyhow::Result<Vec<FollowUp>> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    all_rows(
        conn,
        "SELECT run_id, kind, recipient, state, created_at FROM outbox \
         WHERE run_id IN (SELECT value FROM json_each(?1)) AND kind IN (?2, ?3) \
         ORDER BY created_at, idempotency_key",
        params![
            serde_json::to_string(run_ids)?,
            REMINDER_KIND,
            ESCALATION_KIND
        ],
        |row| {
            Ok(from_row!(row.get => FollowUp {
                run_id, kind, recipient, state;
                created_at: row.get::<_, SqlTime>("created_at")?.0,
            }))
        },
    )
    .context("cannot read the reminders and escalations in the outbox")
}

/// When the next message falls due: the earliest next attempt of a pending message, or the
/// oldest sending claim plus `stale_age` (when it turns stale and is retried).
pub(super) fn next_mail_due(
    conn: &mut Connection,
    stale_age: chrono::Duration,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let (next_attempt, oldest_claim) = conn
        .query_row(
            "SELECT (SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending') AS next, \
             (SELECT MIN(claimed_at) FROM outbox WHERE state = 'sending') AS claimed",
            [],
            |row| {
                Ok((
                    row.get::<_, Option<SqlTime>>("next")?,
                    row.get::<_, Option<SqlTime>>("claimed")?,
                ))
            },
        )
        .context("cannot read the outbox table")?;
    let stale_at = oldest_claim.map(|t| t.0 + stale_age);
    Ok(match (next_attempt.map(|t| t.0), stale_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Up to `limit` messages, operator alerts excepted, with a problem the operator was not told
/// of, oldest first: failed for good and not alerted as failed (a message alerted as pending
/// is alerted again once it fails), or pending or sending since before `pending_before` and
/// not alerted at all.
pub(super) fn unalerted_mail(
    conn: &mut Connection,
    pending_before: DateTime<Utc>,
    limit: usize,
) -> anyhow::Result<Vec<MailProblem>> {
    all_rows(
        conn,
        "SELECT idempotency_key, run_id, kind, recipient, subject, state, attempts, last_error, \
         created_at, CASE WHEN state = 'failed' THEN ?1 ELSE ?2 END AS problem FROM outbox \
         WHERE kind <> ?3 AND ((state = 'failed' AND (alerted IS NULL OR alerted = ?2)) \
         OR (state IN ('pending', 'sending') AND created_at < ?4 AND alerted IS NULL)) \
         ORDER BY created_at, idempotency_key LIMIT ?5",
        params![
            MailAlert::Failed,
            MailAlert::Pending,
            ALERT_KIND,
            SqlTime(pending_before),
            i64::try_from(limit).unwrap_or(i64::MAX),
        ],
        |row| {
            Ok(from_row!(row.get => MailProblem {
                idempotency_key, run_id, kind, recipient, subject, state, attempts, last_error,
                problem;
                created_at: row.get::<_, SqlTime>("created_at")?.0,
            }))
        },
    )
    .context("cannot read the outbox table")
}

/// Queues an operator alert and marks the messages it reports, under the write lock: nothing
/// is written, and false returned, when the alert's key is queued already or a reported
/// message was alerted of its problem meanwhile.
pub(super) fn queue_alert(
    conn: &mut Connection,
    alert: &AlertMail,
    reported: &[(String, MailAlert)],
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("cannot queue an operator alert")?;
    for (key, problem) in reported {
        let alerted = first_row(
            &tx,
            "SELECT alerted FROM outbox WHERE idempotency_key = ?1",
            [key],
            |row| Ok(row.get::<_, Option<MailAlert>>("alerted")?),
        )
        .context("cannot read the outbox table")?;
        let Some(alerted) = alerted else {
            // The message is gone: nothing to report of it.
            return Ok(false);
        };
        if !still_unalerted(alerted, *problem) {
            return Ok(false);
        }
    }
    if !insert_message(&tx, &QueuedMessage::alert(alert), now)? {
        return Ok(false);
    }
    {
        let mut mark =
            tx.prepare_cached("UPDATE outbox SET alerted = ?1 WHERE idempotency_key = ?2")?;
        for (key, problem) in reported {
            mark.execute(params![problem, key])
                .context("cannot mark a message alerted in the outbox table")?;
        }
    }
    tx.commit().context("cannot queue an operator alert")?;
    Ok(true)
}
