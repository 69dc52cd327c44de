//! Operator alerts: what `[mail] operator` hears when unattended operation goes wrong.
//!
//! Alerts are raised from the store's state, not from the moment something failed, so a
//! process that dies between the failure and the alert raises it at its next pass, and every
//! process (a scheduler, `send`) may raise them: each is queued in the same outbox under an
//! idempotency key (and, for messages, marks them alerted in the same transaction), so it is
//! queued once whoever raises it. The problems:
//!
//! - a scheduled review failed (a failed period claim): one alert per failed attempt, so a
//!   period that fails again is alerted again;
//! - messages failed for good;
//! - messages still undelivered `mail.alert_pending_hours` after they were queued (a message
//!   alerted as pending is alerted again if it then fails for good).
//!
//! An alert is never raised about an alert.

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::{ClaimState, MailAlert};
use crate::output::{count, local_instant};
use crate::store::{AlertMail, ClaimRecord, MailProblem, Store};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};

/// At most this many messages are read per problem and pass; an alert names the first
/// [`LISTED`] of them and counts the rest.
const PER_PASS: usize = 10_000;
const LISTED: usize = 20;

/// Queues the alerts that are due; returns how many were queued. Nothing without operators.
pub async fn raise(
    store: &dyn Store,
    settings: &Settings,
    clock: &SharedClock,
) -> anyhow::Result<usize> {
    if settings.mail.operator.is_empty() {
        return Ok(0);
    }
    let store_id = store.store_info().await?.store_id;
    let writer = AlertWriter {
        settings,
        store_id: &store_id,
    };
    let mut queued = 0;
    for claim in store.claims().await? {
        if claim.state != ClaimState::Failed {
            continue;
        }
        let alert = writer.review_failed(&claim, clock)?;
        if store.queue_alert(&alert, &[], clock.now()).await? {
            tracing::warn!(period = %claim.period_key, key = %alert.idempotency_key, "operator alerted: a scheduled review failed");
            queued += 1;
        }
    }
    let now = clock.now();
    let pending_before = now - chrono::Duration::hours(settings.mail.alert_pending_hours.into());
    let problems = store.unalerted_mail(pending_before, PER_PASS).await?;
    for problem in [MailAlert::Failed, MailAlert::Pending] {
        let messages: Vec<&MailProblem> =
            problems.iter().filter(|m| m.problem == problem).collect();
        if messages.is_empty() {
            continue;
        }
        let alert = writer.mail_problem(problem, &messages, clock)?;
        let reported: Vec<(String, MailAlert)> = messages
            .iter()
            .map(|m| (m.idempotency_key.clone(), problem))
            .collect();
        if store.queue_alert(&alert, &reported, clock.now()).await? {
            tracing::warn!(messages = messages.len(), problem = %problem, key = %alert.idempotency_key, "operator alerted: mail not delivered");
            queued += 1;
        }
    }
    Ok(queued)
}

struct AlertWriter<'a> {
    settings: &'a Settings,
    store_id: &'a str,
}

impl AlertWriter<'_> {
    fn review_failed(&self, claim: &ClaimRecord, clock: &SharedClock) -> anyhow::Result<AlertMail> {
        let zone = self.settings.review.time_zone;
        let cadence = claim.cadence;
        let again = if claim.attempts > 1 {
            format!(" again (attempt {})", claim.attempts)
        } else {
            String::new()
        };
        let subject = format!(
            "posc-review: the scheduled {cadence} review of {} failed{again}",
            claim.period_key
        );
        let run = claim.run_id.as_deref();
        let mut body = format!(
            "The scheduled {cadence} review of the period {period} failed{again}.\n\n\
             Period:   {period} (due {due})\n\
             Run:      {run}\n\
             Failed:   {failed}\n\
             Error:    {error}\n\n\
             No mail of a failed run is sent, and the period counts as not reviewed.\n\n\
             What to do:\n\
             1. Read the error above and the scheduler's log:\n   \
                journalctl -u posc-review\n\
             2. Once the cause is fixed, restart the scheduler, which reviews\n   \
                the period again at start:\n   \
                systemctl restart posc-review\n   \
                or review it by hand:\n   \
                posc-review review --cadence {cadence} --send\n\
             3. posc-review status shows whether anything else needs attention.\n",
            period = claim.period_key,
            due = local_instant(claim.due_at, zone),
            run = run.unwrap_or("none (the review failed before it recorded one)"),
            failed = claim
                .finished_at
                .map(|t| local_instant(t, zone))
                .unwrap_or_default(),
            error = claim.error.as_deref().unwrap_or("(no error recorded)"),
        );
        if let Some(run) = run {
            body.push_str(&format!(
                "   posc-review runs {run} shows the failed run.\n"
            ));
        }
        let key = format!(
            "alert:review-failed:{}:{}",
            claim.period_key, claim.attempts
        );
        self.alert(key, run.unwrap_or(&claim.period_key), subject, body, clock)
    }

    fn mail_problem(
        &self,
        problem: MailAlert,
        messages: &[&MailProblem],
        clock: &SharedClock,
    ) -> anyhow::Result<AlertMail> {
        let zone = self.settings.review.time_zone;
        let hours = self.settings.mail.alert_pending_hours;
        let n = count(messages.len(), "message");
        let (subject, intro, todo) = match problem {
            MailAlert::Failed => (
                format!("posc-review: {n} failed for good"),
                format!(
                    "{n} could not be delivered and will not be tried again:\n\
                     the mail server refused {}, or every attempt (mail.max_attempts)\n\
                     failed.",
                    if messages.len() == 1 { "it" } else { "them" }
                ),
                "What to do:\n\
                 1. Read the errors below. A refused address is corrected in the\n   \
                 store (the user's email) and reaches people at the next review;\n   \
                 a server problem is fixed in [smtp].\n\
                 2. Then queue them again and deliver them:\n   \
                 posc-review send --retry-failed\n\
                 3. posc-review send --list shows the outbox.\n",
            ),
            MailAlert::Pending => (
                format!("posc-review: {n} undelivered for more than {hours} hours"),
                format!(
                    "{n} queued more than {hours} hours ago {} not been delivered\n\
                     yet: each attempt failed for a reason that may pass (the mail\n\
                     server unreachable or refusing for now), and the outbox keeps\n\
                     trying.",
                    if messages.len() == 1 { "has" } else { "have" }
                ),
                "What to do:\n\
                 1. Read the last errors below, and check the mail server ([smtp]).\n\
                 2. Once it accepts mail again, the scheduler delivers the messages\n   \
                 at their next attempt; to deliver them at once:\n   \
                 posc-review send --now\n\
                 3. posc-review send --list shows the outbox.\n",
            ),
        };
        let mut body = format!("{intro}\n\n{todo}\nThe messages (oldest first):\n");
        for m in messages.iter().take(LISTED) {
            body.push_str(&format!(
                "\n- {subject}\n  to {recipient}, queued {queued} by run {run}, {attempts}\n  \
                 last error: {error}\n",
                subject = m.subject,
                recipient = m.recipient,
                queued = local_instant(m.created_at, zone),
                run = m.run_id,
                attempts = count(m.attempts, "attempt"),
                error = m.last_error.as_deref().unwrap_or("none yet"),
            ));
        }
        if messages.len() > LISTED {
            body.push_str(&format!(
                "\n... and {} more (posc-review send --list).\n",
                messages.len() - LISTED
            ));
        }
        let first = messages[0];
        let key = format!("alert:mail-{problem}:{}", first.idempotency_key);
        self.alert(key, &first.run_id, subject, body, clock)
    }

    fn alert(
        &self,
        key: String,
        run_id: &str,
        subject: String,
        body: String,
        clock: &SharedClock,
    ) -> anyhow::Result<AlertMail> {
        let mail = &self.settings.mail;
        let mut builder = Message::builder()
            .from(mail.from.clone())
            .subject(subject.clone())
            .date(clock.now().into())
            .message_id(Some(crate::mail::message_id(&key, self.store_id)))
            .header(ContentType::TEXT_PLAIN);
        for address in &mail.operator {
            builder = builder.to(Mailbox::from(address.address().clone()));
        }
        let message = builder.body(body)?;
        Ok(AlertMail {
            idempotency_key: key,
            run_id: run_id.to_string(),
            recipient: "operator".to_string(),
            to_addresses: mail
                .operator
                .iter()
                .map(|a| a.as_str().to_string())
                .collect(),
            subject,
            message: String::from_utf8(message.formatted())?,
        })
    }
}
