//! The mail outbox. A message is claimed (state `sending`) in its own statement before it is
//! handed to SMTP, and marked `sent` right after the server accepts it, so two senders never
//! deliver the same key and a crash leaves at most the moment between the server's acceptance
//! and that update in doubt.

use super::{insert_batched, parsed, PgStore};
use crate::domain::{MailAlert, OutboxState};
use crate::store::{
    still_unalerted, AlertMail, ClaimedMail, FollowUp, MailProblem, OutboxEntry, OutgoingMail,
    QueuedMessage, Undelivered, ALERT_KIND, ESCALATION_KIND, REMINDER_KIND,
};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use std::collections::HashMap;

/// Queues messages within a transaction; a key already in the outbox is left as it is (never
/// queued twice).
pub(super) async fn queue_mail(
    conn: &mut PgConnection,
    mails: &[OutgoingMail],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut open = HashMap::new();
    // A group of messages is read, then inserted with one statement: a statewide run queues
    // over 100,000 of about 16 KB, one INSERT each took 18 s.
    for group in mails.chunks(256) {
        // lettre encodes every part (quoted-printable or base64): it is ASCII.
        let texts = group
            .iter()
            .map(|mail| mail.message_file.read(&mut open))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let messages: Vec<_> = group
            .iter()
            .zip(&texts)
            .map(|(mail, text)| QueuedMessage::mail(mail, text))
            .collect();
        insert_messages(conn, &messages, now).await?;
    }
    Ok(())
}

/// Reminders and escalations go through one lock per database, so that the keys a pass finds
/// absent are still absent when it inserts them (two schedulers, or one and `remind --send`).
const FOLLOW_UP_LOCK: i64 = 0x706f_7363_5f66_7570; // "posc_fup"

impl PgStore {
    /// Queues reminders and escalations whose key is not in the outbox yet, in one
    /// transaction; the keys it queued.
    pub(super) async fn queue_follow_ups(
        &self,
        mails: &[OutgoingMail],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<String>> {
        let mut tx = self.pool.begin().await.context("cannot queue reminders")?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FOLLOW_UP_LOCK)
            .execute(&mut *tx)
            .await
            .context("cannot lock the outbox for reminders")?;
        let keys: Vec<&str> = mails.iter().map(|m| m.idempotency_key.as_str()).collect();
        let present: std::collections::HashSet<String> = sqlx::query_scalar(
            "SELECT idempotency_key FROM outbox WHERE idempotency_key = ANY($1)",
        )
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await
        .context("cannot read the outbox")?
        .into_iter()
        .collect();
        let absent: Vec<OutgoingMail> = mails
            .iter()
            .filter(|m| !present.contains(&m.idempotency_key))
            .cloned()
            .collect();
        queue_mail(&mut tx, &absent, now).await?;
        tx.commit().await.context("cannot queue reminders")?;
        Ok(absent.into_iter().map(|m| m.idempotency_key).collect())
    }
}

/// Inserts messages, pending and due at `now`, but those whose key is in the outbox already;
/// how many were inserted.
async fn insert_messages(
    conn: &mut PgConnection,
    messages: &[QueuedMessage<'_>],
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let inserted = insert_batched(
        conn,
        "INSERT INTO outbox (idempotency_key, run_id, kind, recipient, to_addresses, subject, \
         state, attempts, next_attempt_at, created_at)",
        10,
        "ON CONFLICT (idempotency_key) DO NOTHING",
        messages,
        |q, message| {
            q.bind(message.idempotency_key)
                .bind(message.run_id)
                .bind(message.kind)
                .bind(message.recipient)
                .bind(message.to_addresses.join(";"))
                .bind(message.subject)
                .bind(OutboxState::Pending.as_str())
                .bind(0_i64)
                .bind(now)
                .bind(now)
        },
    )
    .await?;
    insert_batched(
        conn,
        "INSERT INTO outbox_messages (idempotency_key, message)",
        2,
        "ON CONFLICT (idempotency_key) DO NOTHING",
        messages,
        |q, message| q.bind(message.idempotency_key).bind(message.message),
    )
    .await?;
    Ok(inserted)
}

/// Puts off every pending message that is due (see `due_mail`) until `retry_at`, with `error`
/// as its last error, without counting an attempt: they were not tried.
pub(super) const DEFER_DUE_MAIL: &str = "UPDATE outbox SET last_error = $1, next_attempt_at = $2 \
     WHERE state = 'pending' AND ($4 OR next_attempt_at <= $3)";

pub(super) const MARK_SENT: &str = "UPDATE outbox SET state = 'sent', sent_at = $1, \
     last_error = NULL WHERE idempotency_key = $2";

/// A failed attempt: back to `pending` until the retry, or `failed` for good (its
/// next_attempt_at then says when it failed; `requeue_failed` sets a new one).
pub(super) const MARK_FAILED: &str = "UPDATE outbox \
     SET state = $1, last_error = $2, next_attempt_at = $3 WHERE idempotency_key = $4";

/// Puts failed messages back in the queue (`send --retry-failed`), as if queued anew: a
/// second failure is alerted again, and the pending alert counts from now.
pub(super) const REQUEUE_FAILED: &str = "UPDATE outbox \
     SET state = 'pending', attempts = 0, next_attempt_at = $1, created_at = $1, alerted = NULL \
     WHERE state = 'failed'";

/// A purge in one statement: PostgreSQL locks only the rows it deletes, so readers and
/// senders of other messages never wait for it.
pub(super) const PURGE_SENT_TEXTS: &str = "DELETE FROM outbox_messages m USING outbox o \
     WHERE o.idempotency_key = m.idempotency_key AND o.state = 'sent' AND o.sent_at < $1";

const ENTRY_COLUMNS: &str = "idempotency_key, run_id, kind, recipient, to_addresses, subject, \
     state, attempts, last_error, next_attempt_at, sent_at";

fn addresses(row: &PgRow) -> anyhow::Result<Vec<String>> {
    let to: String = row.try_get("to_addresses")?;
    Ok(to.split(';').map(str::to_string).collect())
}

fn entry(row: &PgRow) -> anyhow::Result<OutboxEntry> {
    Ok(from_row!(row.try_get => OutboxEntry {
        idempotency_key, run_id, kind, recipient, subject, attempts, last_error, next_attempt_at,
        sent_at;
        to_addresses: addresses(row)?,
        state: parsed(row, "outbox", "state", OutboxState::parse)?,
    }))
}

impl PgStore {
    /// The keys due for delivery: pending and due (all pending with `ignore_schedule`), or
    /// claimed by a sender that has not finished since `stale_before` (it stopped mid-send).
    pub(super) async fn due_mail(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        ignore_schedule: bool,
    ) -> anyhow::Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT idempotency_key FROM outbox \
             WHERE (state = 'pending' AND ($3 OR next_attempt_at <= $1)) \
             OR (state = 'sending' AND claimed_at < $2) ORDER BY created_at, idempotency_key",
        )
        .bind(now)
        .bind(stale_before)
        .bind(ignore_schedule)
        .fetch_all(&self.pool)
        .await
        .context("cannot read the outbox")
    }

    /// Claims one message for delivery; `None` when another sender has it or it is no longer
    /// due. The claim is its own statement, committed before any SMTP traffic.
    pub(super) async fn claim_mail(
        &self,
        key: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> anyhow::Result<Option<ClaimedMail>> {
        let claimed = sqlx::query(
            "UPDATE outbox SET state = 'sending', claimed_at = $1, attempts = attempts + 1 \
             WHERE idempotency_key = $2 \
             AND (state = 'pending' OR (state = 'sending' AND claimed_at < $3))",
        )
        .bind(now)
        .bind(key)
        .bind(stale_before)
        .execute(&self.pool)
        .await
        .context("cannot claim the message")?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT m.message, o.to_addresses, o.attempts FROM outbox o \
             JOIN outbox_messages m ON m.idempotency_key = o.idempotency_key \
             WHERE o.idempotency_key = $1",
        )
        .bind(key)
        .fetch_one(&self.pool)
        .await
        .context("cannot read the claimed message")?;
        Ok(Some(ClaimedMail {
            message: row.try_get("message")?,
            to_addresses: addresses(&row)?,
            attempts: row.try_get("attempts")?,
        }))
    }

    /// The messages not delivered yet, whoever queued them and whenever: what `send` reports
    /// and exits 1 on, not only what its own pass did.
    pub(super) async fn undelivered_mail(&self) -> anyhow::Result<Undelivered> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS messages FROM outbox WHERE state <> 'sent' GROUP BY state",
        )
        .fetch_all(&self.pool)
        .await
        .context("cannot read the outbox")?;
        let mut undelivered = Undelivered::default();
        for row in &rows {
            let n = usize::try_from(row.try_get::<i64, _>("messages")?)?;
            match parsed(row, "outbox", "state", OutboxState::parse)? {
                OutboxState::Pending => undelivered.pending = n,
                OutboxState::Sending => undelivered.sending = n,
                OutboxState::Failed | OutboxState::Sent => undelivered.failed += n,
            }
        }
        undelivered.oldest_pending_at = sqlx::query_scalar(
            "SELECT MIN(created_at) FROM outbox WHERE state IN ('pending', 'sending')",
        )
        .fetch_one(&self.pool)
        .await
        .context("cannot read the outbox")?;
        Ok(undelivered)
    }

    /// The outbox, optionally one run's, oldest first.
    pub(super) async fn outbox(&self, run_id: Option<&str>) -> anyhow::Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox WHERE ($1::text IS NULL OR run_id = $1) \
             ORDER BY created_at, idempotency_key"
        );
        self.read_all(sqlx::query(&sql).bind(run_id), "the outbox", entry)
            .await
    }

    /// The reminders and escalations about the findings of `run_ids`, whatever their state:
    /// one query (`= ANY($1)`).
    pub(super) async fn follow_ups(&self, run_ids: &[String]) -> anyhow::Result<Vec<FollowUp>> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(
            "SELECT run_id, kind, recipient, state, created_at FROM outbox \
             WHERE run_id = ANY($1) AND kind IN ($2, $3) ORDER BY created_at, idempotency_key",
        )
        .bind(run_ids)
        .bind(REMINDER_KIND)
        .bind(ESCALATION_KIND);
        self.read_all(
            query,
            "the reminders and escalations in the outbox",
            |row| {
                Ok(from_row!(row.try_get => FollowUp {
                    run_id, kind, recipient, created_at;
                    state: parsed(row, "outbox", "state", OutboxState::parse)?,
                }))
            },
        )
        .await
    }

    /// When the next message falls due: the earliest next attempt of a pending message, or
    /// the oldest sending claim plus `stale_age` (when it turns stale and is retried).
    pub(super) async fn next_mail_due(
        &self,
        stale_age: chrono::Duration,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(
            "SELECT (SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending') AS next, \
             (SELECT MIN(claimed_at) FROM outbox WHERE state = 'sending') AS claimed",
        )
        .fetch_one(&self.pool)
        .await
        .context("cannot read the outbox")?;
        let next: Option<DateTime<Utc>> = row.try_get("next")?;
        let claimed: Option<DateTime<Utc>> = row.try_get("claimed")?;
        let stale_at = claimed.map(|t| t + stale_age);
        Ok(match (next, stale_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Up to `limit` messages, operator alerts excepted, with a problem the operator was not
    /// told of, oldest first: failed for good and not alerted as failed (a message alerted as
    /// pending is alerted again once it fails), or pending or sending since before
    /// `pending_before` and not alerted at all.
    pub(super) async fn unalerted_mail(
        &self,
        pending_before: DateTime<Utc>,
        limit: usize,
    ) -> anyhow::Result<Vec<MailProblem>> {
        let query = sqlx::query(
            "SELECT idempotency_key, run_id, kind, recipient, subject, state, attempts, \
             last_error, created_at, CASE WHEN state = 'failed' THEN $1 ELSE $2 END AS problem \
             FROM outbox WHERE kind <> $3 \
             AND ((state = 'failed' AND (alerted IS NULL OR alerted = $2)) \
             OR (state IN ('pending', 'sending') AND created_at < $4 AND alerted IS NULL)) \
             ORDER BY created_at, idempotency_key LIMIT $5",
        )
        .bind(MailAlert::Failed.as_str())
        .bind(MailAlert::Pending.as_str())
        .bind(ALERT_KIND)
        .bind(pending_before)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        self.read_all(query, "the outbox", |row| {
            Ok(from_row!(row.try_get => MailProblem {
                idempotency_key, run_id, kind, recipient, subject, attempts, last_error,
                created_at;
                state: parsed(row, "outbox", "state", OutboxState::parse)?,
                problem: parsed(row, "outbox", "problem", MailAlert::parse)?,
            }))
        })
        .await
    }

    /// Queues an operator alert and marks the messages it reports, in one transaction that
    /// locks the reported rows (in key order, as every process does): nothing is written, and
    /// false returned, when the alert's key is queued already or a reported message was
    /// alerted of its problem meanwhile.
    pub(super) async fn queue_alert(
        &self,
        alert: &AlertMail,
        reported: &[(String, MailAlert)],
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("cannot queue an operator alert")?;
        let mut keys: Vec<String> = reported.iter().map(|(key, _)| key.clone()).collect();
        keys.sort();
        keys.dedup();
        let rows = sqlx::query(
            "SELECT idempotency_key, alerted FROM outbox WHERE idempotency_key = ANY($1) \
             ORDER BY idempotency_key FOR UPDATE",
        )
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await
        .context("cannot lock the reported messages in the outbox")?;
        let mut alerted = HashMap::new();
        for row in &rows {
            let key: String = row.try_get("idempotency_key")?;
            let mark = row
                .try_get::<Option<String>, _>("alerted")?
                .map(|text| MailAlert::parse(&text))
                .transpose()
                .map_err(|e| anyhow::anyhow!("bad alerted in the outbox table: {e}"))?;
            alerted.insert(key, mark);
        }
        // A message gone is not to be reported either.
        let still = reported.iter().all(|(key, problem)| {
            alerted
                .get(key)
                .is_some_and(|mark| still_unalerted(*mark, *problem))
        });
        if !still || insert_messages(&mut tx, &[QueuedMessage::alert(alert)], now).await? != 1 {
            tx.rollback()
                .await
                .context("cannot roll back an operator alert")?;
            return Ok(false);
        }
        for (key, problem) in reported {
            sqlx::query("UPDATE outbox SET alerted = $1 WHERE idempotency_key = $2")
                .bind(problem.as_str())
                .bind(key)
                .execute(&mut *tx)
                .await
                .context("cannot mark a message alerted in the outbox")?;
        }
        tx.commit()
            .await
            .context("cannot commit an operator alert")?;
        Ok(true)
    }
}
