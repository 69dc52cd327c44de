//! The mail outbox. A message is claimed (state `sending`) in its own statement before it is
//! handed to SMTP, and marked `sent` right after the server accepts it, so two senders never
//! deliver the same key and a crash leaves at most the moment between the server's acceptance
//! and that update in doubt.

use super::{insert_batched, Backend, Store};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// A message to queue.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub idempotency_key: String,
    pub run_id: String,
    pub kind: String,
    pub recipient: String,
    pub to_addresses: Vec<String>,
    pub subject: String,
    /// Where the RFC 5322 message is, exactly as it will be sent; it is read when the message
    /// is queued, so that a run's messages are never all in memory.
    pub message_file: MessageFile,
}

/// `len` bytes at `offset` in the file `path`: a whole .eml file, or one message of a spool.
#[derive(Debug, Clone)]
pub struct MessageFile {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

impl MessageFile {
    pub fn whole(path: PathBuf, len: usize) -> MessageFile {
        MessageFile {
            path,
            offset: 0,
            len: len as u64,
        }
    }

    /// The message, through `open`: the files already opened.
    fn read(&self, open: &mut HashMap<PathBuf, std::fs::File>) -> anyhow::Result<String> {
        let mut read = || -> std::io::Result<String> {
            let file = match open.entry(self.path.clone()) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(std::fs::File::open(&self.path)?)
                }
            };
            file.seek(SeekFrom::Start(self.offset))?;
            let mut bytes = vec![0; self.len as usize];
            file.read_exact(&mut bytes)?;
            String::from_utf8(bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        };
        read().with_context(|| {
            format!(
                "cannot read the message at {} of {}",
                self.offset,
                self.path.display()
            )
        })
    }
}

/// A queued message and its delivery state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutboxEntry {
    pub idempotency_key: String,
    pub run_id: String,
    pub kind: String,
    pub recipient: String,
    pub to_addresses: Vec<String>,
    pub subject: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
    pub sent_at: Option<String>,
}

/// The outbox's undelivered messages by state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Undelivered {
    /// Waiting for their next attempt.
    pub pending: usize,
    /// Claimed by a sender that is still at it or stopped mid-delivery (retried once the claim
    /// is stale).
    pub sending: usize,
    /// Failed for good: refused, or out of attempts (`send --retry-failed` requeues them).
    pub failed: usize,
}

impl Undelivered {
    pub fn total(&self) -> usize {
        self.pending + self.sending + self.failed
    }
}

/// The `next_attempt_at` up to which a pending message is due.
fn due_by(now: DateTime<Utc>, ignore_schedule: bool) -> String {
    if ignore_schedule {
        // Every fixed-width timestamp sorts before this one.
        "9999-12-31T23:59:59.999999Z".to_string()
    } else {
        timestamp(now)
    }
}

/// Fixed-width UTC timestamps compare correctly as text on both backends.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

const ENTRY_COLUMNS: &str =
    "idempotency_key, run_id, kind, recipient, to_addresses, subject, state, attempts, \
                             last_error, next_attempt_at, sent_at";

fn entry(row: sqlx::any::AnyRow) -> anyhow::Result<OutboxEntry> {
    let to: String = row.try_get(4)?;
    Ok(OutboxEntry {
        idempotency_key: row.try_get(0)?,
        run_id: row.try_get(1)?,
        kind: row.try_get(2)?,
        recipient: row.try_get(3)?,
        to_addresses: to.split(';').map(str::to_string).collect(),
        subject: row.try_get(5)?,
        state: row.try_get(6)?,
        attempts: row.try_get(7)?,
        last_error: row.try_get(8)?,
        next_attempt_at: row.try_get(9)?,
        sent_at: row.try_get(10)?,
    })
}

impl Store {
    /// Queues messages within a transaction; a key already in the outbox is left as it is
    /// (never queued twice).
    pub(crate) async fn queue_mail_in(
        conn: &mut AnyConnection,
        backend: Backend,
        mails: &[OutgoingMail],
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let now = timestamp(now);
        let mut open = HashMap::new();
        // A group of messages is read, then inserted with one statement: a statewide run
        // queues over 100,000 of about 16 KB, one INSERT each took 18 s.
        for group in mails.chunks(256) {
            let messages = group
                .iter()
                .map(|mail| {
                    // lettre encodes every part (quoted-printable or base64): it is ASCII.
                    mail.message_file
                        .read(&mut open)
                        .map(|message| (mail, message))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            insert_batched(
                conn,
                backend,
                "INSERT INTO outbox (idempotency_key, run_id, kind, recipient, to_addresses, subject, \
                 state, attempts, next_attempt_at, created_at)",
                10,
                "ON CONFLICT (idempotency_key) DO NOTHING",
                &messages,
                |q, (mail, _)| {
                    q.bind(mail.idempotency_key.as_str())
                        .bind(mail.run_id.as_str())
                        .bind(mail.kind.as_str())
                        .bind(mail.recipient.as_str())
                        .bind(mail.to_addresses.join(";"))
                        .bind(mail.subject.as_str())
                        .bind("pending")
                        .bind(0_i64)
                        .bind(now.clone())
                        .bind(now.clone())
                },
            )
            .await?;
            insert_batched(
                conn,
                backend,
                "INSERT INTO outbox_messages (idempotency_key, message)",
                2,
                "ON CONFLICT (idempotency_key) DO NOTHING",
                &messages,
                |q, (mail, message)| q.bind(mail.idempotency_key.as_str()).bind(message.as_str()),
            )
            .await?;
        }
        Ok(())
    }

    /// The keys due for delivery: pending and due (all pending with `ignore_schedule`), or
    /// claimed by a sender that has not finished since `stale_before` (it stopped mid-send).
    pub async fn due_mail(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        ignore_schedule: bool,
    ) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT idempotency_key FROM outbox WHERE (state = 'pending' AND next_attempt_at <= $1) \
             OR (state = 'sending' AND claimed_at < $2) ORDER BY created_at, idempotency_key",
        )
        .bind(due_by(now, ignore_schedule))
        .bind(timestamp(stale_before))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Puts off every pending message that is due (see [`Store::due_mail`]) until `retry_at`,
    /// with `error` as its last error, without counting an attempt: they were not tried. Returns
    /// how many.
    pub async fn defer_due_mail(
        &self,
        now: DateTime<Utc>,
        ignore_schedule: bool,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        Ok(sqlx::query(
            "UPDATE outbox SET last_error = $1, next_attempt_at = $2 \
             WHERE state = 'pending' AND next_attempt_at <= $3",
        )
        .bind(error)
        .bind(timestamp(retry_at))
        .bind(due_by(now, ignore_schedule))
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Claims one message for delivery; `None` when another sender has it or it is no longer
    /// due. The claim is committed before any SMTP traffic.
    pub async fn claim_mail(
        &self,
        key: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> anyhow::Result<Option<(String, Vec<String>, i64)>> {
        let claimed = sqlx::query(
            "UPDATE outbox SET state = 'sending', claimed_at = $1, attempts = attempts + 1 \
             WHERE idempotency_key = $2 AND (state = 'pending' OR (state = 'sending' AND claimed_at < $3))",
        )
        .bind(timestamp(now))
        .bind(key)
        .bind(timestamp(stale_before))
        .execute(&self.pool)
        .await?;
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
        .await?;
        let to: String = row.try_get(1)?;
        Ok(Some((
            row.try_get(0)?,
            to.split(';').map(str::to_string).collect(),
            row.try_get(2)?,
        )))
    }

    pub async fn mark_sent(&self, key: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
        sqlx::query("UPDATE outbox SET state = 'sent', sent_at = $1, last_error = NULL WHERE idempotency_key = $2")
            .bind(timestamp(now))
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a failed attempt: back to `pending` until `retry_at`, or `failed` for good.
    pub async fn mark_failed(
        &self,
        key: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        let (state, next) = match retry_at {
            Some(at) => ("pending", timestamp(at)),
            None => ("failed", timestamp(Utc::now())),
        };
        sqlx::query("UPDATE outbox SET state = $1, last_error = $2, next_attempt_at = $3 WHERE idempotency_key = $4")
            .bind(state)
            .bind(error)
            .bind(next)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Puts failed messages back in the queue (`send --retry-failed`).
    pub async fn requeue_failed(&self, now: DateTime<Utc>) -> anyhow::Result<u64> {
        Ok(sqlx::query("UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1 WHERE state = 'failed'")
            .bind(timestamp(now))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// The messages not delivered yet, whoever queued them and whenever: what `send` reports
    /// and exits 1 on, not only what its own pass did.
    pub async fn undelivered_mail(&self) -> anyhow::Result<Undelivered> {
        let rows =
            sqlx::query("SELECT state, COUNT(*) FROM outbox WHERE state <> 'sent' GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        let mut undelivered = Undelivered::default();
        for row in rows {
            let state: String = row.try_get(0)?;
            let n = usize::try_from(row.try_get::<i64, _>(1)?)?;
            match state.as_str() {
                "pending" => undelivered.pending = n,
                "sending" => undelivered.sending = n,
                _ => undelivered.failed += n,
            }
        }
        Ok(undelivered)
    }

    /// The outbox, optionally one run's, oldest first.
    pub async fn outbox(&self, run_id: Option<&str>) -> anyhow::Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox WHERE ($1 IS NULL OR run_id = $1) ORDER BY created_at, idempotency_key"
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(entry).collect()
    }
}
