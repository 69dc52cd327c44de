//! Notifications: the management report and the Primary User action lists, queued in the
//! outbox and delivered over SMTP, or written as .eml files for a dry run.
//!
//! Delivery is at most once per idempotency key except for one window that no SMTP client can
//! close: the message's last byte is written (the server will accept it even if this process
//! dies now) and the outbox row is not yet marked `sent`. That is the server's time to store
//! the message and answer, then one local database write (`benches/mail.sh` measures both: 3.0
//! and 0.2 ms of a 7.2 ms cycle against aiosmtpd); a claim abandoned in it is retried once it
//! is older than the stale-claim age, and the message keeps the Message-ID derived from its
//! key, so a receiving system can drop the duplicate.

mod check;
pub mod compose;
pub mod cost;
mod transport;

pub use check::{check_templates, checked_templates};
pub use transport::{DeliveryError, Smtp};

use crate::clock::SharedClock;
use crate::config::{MailSettings, SmtpSettings};
use crate::records::ClaimedMail;
use crate::store::Store;
use chrono::{DateTime, Duration, Utc};

/// The Message-ID of the message queued under `key` in the store `store_id`: the same for
/// every attempt at it, so a receiving system can drop a duplicate, and never the same for two
/// stores, whose run ids (and so keys) may coincide.
pub fn message_id(key: &str, store_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest: String = Sha256::digest(key.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("<{digest}.{store_id}@posc-review>")
}

/// What one delivery pass did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct DeliveryReport {
    pub sent: usize,
    /// Failed this time, to be retried later.
    pub retrying: usize,
    /// Failed for good (permanent refusal, or out of attempts).
    pub failed: usize,
    /// The last error of each message that did not go.
    pub errors: Vec<String>,
}

/// A claim older than this belongs to a sender that stopped mid-delivery.
pub fn stale_claim_age(smtp: &SmtpSettings) -> Duration {
    Duration::seconds((smtp.timeout_secs as i64 * 4).max(300))
}

/// Exponential backoff: 1, 2, 4, ... minutes after each failed attempt, at most 6 hours.
pub fn retry_delay(attempts: i64) -> Duration {
    let minutes = 1i64 << attempts.clamp(1, 10).saturating_sub(1);
    Duration::minutes(minutes.min(360))
}

/// Delivers what is due right after `queued` messages were queued: a delivery problem leaves
/// them pending for `posc-review send` and is reported, it does not undo what was queued.
pub async fn deliver_queued(
    store: &dyn Store,
    settings: &crate::config::Settings,
    clock: &SharedClock,
    queued: usize,
) -> DeliveryReport {
    match deliver_pending(store, &settings.smtp, &settings.mail, clock, false).await {
        Ok(report) => report,
        Err(e) => DeliveryReport {
            retrying: queued,
            errors: vec![format!("{e:#}")],
            ..Default::default()
        },
    }
}

/// Deletes the texts of the messages sent more than `mail.keep_sent_days` before `now`
/// (their outbox rows stay) and logs how many: a statewide `--send` queues about 2 GB of text,
/// kept forever before this.
pub async fn purge_sent(
    store: &dyn Store,
    mail_settings: &MailSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let keep_sent_days = mail_settings.keep_sent_days;
    let purged = store
        .purge_sent_texts(now - Duration::days(keep_sent_days.into()))
        .await?;
    if purged > 0 {
        tracing::info!(purged, keep_sent_days, "deleted the texts of sent messages");
    }
    Ok(purged)
}

/// Delivers every message that is due (every pending one with `ignore_schedule`).
pub async fn deliver_pending(
    store: &dyn Store,
    smtp_settings: &SmtpSettings,
    mail_settings: &MailSettings,
    clock: &SharedClock,
    ignore_schedule: bool,
) -> anyhow::Result<DeliveryReport> {
    let mut smtp = Smtp::new(smtp_settings, &mail_settings.from)?;
    let report = deliver_with(
        store,
        clock,
        &mut smtp,
        stale_claim_age(smtp_settings),
        mail_settings.max_attempts,
        ignore_schedule,
    )
    .await;
    smtp.quit().await;
    report
}

async fn deliver_with(
    store: &dyn Store,
    clock: &SharedClock,
    smtp: &mut Smtp,
    stale_claim_age: Duration,
    max_attempts: u32,
    ignore_schedule: bool,
) -> anyhow::Result<DeliveryReport> {
    let now = clock.now();
    let stale_before = now - stale_claim_age;
    let mut report = DeliveryReport::default();
    // When another attempt is due after `attempts` failed ones; `None`: failed for good.
    let retry_at = |attempts: i64| {
        (attempts < i64::from(max_attempts)).then(|| clock.now() + retry_delay(attempts))
    };
    let transient = |text: String, attempts: i64| match retry_at(attempts) {
        Some(at) => (text, Some(at)),
        None => (
            format!(
                "{text} (after {})",
                crate::output::count(attempts, "attempt")
            ),
            None,
        ),
    };
    for key in store.due_mail(now, stale_before, ignore_schedule).await? {
        let Some(ClaimedMail {
            message,
            to_addresses: to,
            attempts,
        }) = store.claim_mail(&key, clock.now(), stale_before).await?
        else {
            continue; // another sender has it
        };
        let sending = std::time::Instant::now();
        let (text, retry) = match smtp.send(&to, message.as_bytes()).await {
            Ok(data) => {
                // From the end of the data until mark_sent commits, a crash leaves a delivered
                // message `sending`: data_us + record_us is that window (README, Mail).
                let accepted = std::time::Instant::now();
                store.mark_sent(&key, clock.now()).await?;
                tracing::info!(
                    key = %key,
                    smtp_us = (accepted - sending).as_micros() as u64,
                    data_us = data.as_micros() as u64,
                    record_us = accepted.elapsed().as_micros() as u64,
                    "mail sent"
                );
                report.sent += 1;
                continue;
            }
            Err(DeliveryError::Permanent(text)) => (text, None),
            Err(DeliveryError::Transient(text)) => transient(text, attempts),
            Err(DeliveryError::Server(text)) => {
                // Every other message of the pass would fail the same way, each after its own
                // connection or timeout: they are put off until this one's next attempt, not
                // tried, and no attempt is counted against them.
                let deferred = store
                    .defer_due_mail(
                        now,
                        ignore_schedule,
                        &format!("not tried: {text}"),
                        clock.now() + retry_delay(attempts),
                    )
                    .await? as usize;
                if deferred > 0 {
                    tracing::warn!(error = %text, deferred,
                        "the mail server failed: the other due messages were not tried");
                    report.errors.push(format!(
                        "{} not tried: {text}",
                        crate::output::count(deferred, "other message")
                    ));
                }
                report.retrying += deferred;
                let (text, retry) = transient(text, attempts);
                record_failure(store, clock, &mut report, &key, &text, retry).await?;
                break;
            }
        };
        record_failure(store, clock, &mut report, &key, &text, retry).await?;
    }
    Ok(report)
}

async fn record_failure(
    store: &dyn Store,
    clock: &SharedClock,
    report: &mut DeliveryReport,
    key: &str,
    text: &str,
    retry_at: Option<DateTime<Utc>>,
) -> anyhow::Result<()> {
    store.mark_failed(key, text, clock.now(), retry_at).await?;
    tracing::warn!(key = %key, error = %text, retry = retry_at.is_some(), "mail not sent");
    if retry_at.is_some() {
        report.retrying += 1;
    } else {
        report.failed += 1;
    }
    report.errors.push(format!("{key}: {text}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_six_hours() {
        assert_eq!(retry_delay(1), Duration::minutes(1));
        assert_eq!(retry_delay(2), Duration::minutes(2));
        assert_eq!(retry_delay(5), Duration::minutes(16));
        assert_eq!(retry_delay(30), Duration::minutes(360));
    }

    #[test]
    fn a_message_id_is_stable_per_key_and_differs_between_stores() {
        let id = message_id("20261001-001:management:ORG-GP", "0123456789abcdef");
        assert_eq!(
            id,
            message_id("20261001-001:management:ORG-GP", "0123456789abcdef")
        );
        assert!(
            id.starts_with('<') && id.ends_with(".0123456789abcdef@posc-review>"),
            "{id}"
        );
        assert_ne!(
            id,
            message_id("20261001-001:management:ORG-GP", "fedcba9876543210")
        );
        assert_ne!(
            id,
            message_id("20261001-002:management:ORG-GP", "0123456789abcdef")
        );
    }
}
