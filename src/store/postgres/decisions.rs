//! Reviewer decisions: what a reviewer decided about a finding of a run, who decided and when.
//! Recorded all at once per import; a later run looks up the latest decision per fingerprint.

use super::{date_text, insert_batched, parsed, text_date, PgStore};
use crate::domain::{Cadence, Decision, RuleId};
use crate::store::{run_order, DecisionRecord, NewDecision, PriorDecision};
use anyhow::Context;
use sqlx::Row;
use std::collections::HashMap;

impl PgStore {
    /// Records `decisions` in one transaction; a decision on a finding that already has one in
    /// the same run replaces it.
    pub(super) async fn record_decisions(&self, decisions: &[NewDecision]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_batched(
            &mut tx,
            "INSERT INTO decisions (run_id, fingerprint, decision, justification, reviewer, \
             decided_at, accepted_until, facts)",
            8,
            "ON CONFLICT (run_id, fingerprint) DO UPDATE SET decision = excluded.decision, \
             justification = excluded.justification, reviewer = excluded.reviewer, \
             decided_at = excluded.decided_at, accepted_until = excluded.accepted_until, \
             facts = excluded.facts",
            decisions,
            |q, d| {
                q.bind(d.run_id.as_str())
                    .bind(d.fingerprint.as_str())
                    .bind(d.decision.as_str())
                    .bind(d.justification.as_str())
                    .bind(d.reviewer.as_str())
                    .bind(d.decided_at)
                    .bind(d.accepted_until.map(date_text))
                    .bind(d.facts.as_str())
            },
        )
        .await?;
        tx.commit().await.context("cannot record the decisions")?;
        Ok(())
    }

    /// The recorded decisions (of one run, or all), oldest first.
    pub(super) async fn decisions(
        &self,
        run_id: Option<&str>,
    ) -> anyhow::Result<Vec<DecisionRecord>> {
        let sql = format!(
            "SELECT d.fingerprint, d.run_id, f.rule, f.org_id, f.pidsl, f.username, d.decision, \
             d.justification, d.reviewer, d.decided_at, d.accepted_until \
             FROM decisions d JOIN findings f ON f.run_id = d.run_id AND f.fingerprint = d.fingerprint \
             WHERE ($1::text IS NULL OR d.run_id = $1) ORDER BY d.decided_at, {}, d.fingerprint",
            run_order("d.run_id")
        );
        let query = sqlx::query(&sql).bind(run_id);
        self.read_all(query, "the decisions", |row| {
            Ok(from_row!(row.try_get => DecisionRecord {
                fingerprint, run_id, org_id, pidsl, username, justification, reviewer, decided_at;
                rule: parsed(row, "findings", "rule", RuleId::parse)?,
                decision: parsed(row, "decisions", "decision", Decision::parse)?,
                accepted_until: accepted_until(row)?,
            }))
        })
        .await
    }

    /// Per fingerprint, the latest decision recorded on a finding of a run before `before_run`
    /// (by decision time, then run).
    pub(super) async fn latest_decisions(
        &self,
        before_run: &str,
    ) -> anyhow::Result<HashMap<String, PriorDecision>> {
        let rows = sqlx::query(&format!(
            "SELECT fingerprint, decision, justification, reviewer, decided_at, accepted_until, \
             facts FROM decisions WHERE {run} < {before} ORDER BY decided_at, {run}",
            run = run_order("run_id"),
            before = run_order("$1"),
        ))
        .bind(before_run)
        .fetch_all(&self.pool)
        .await
        .context("cannot read the decisions")?;
        let mut latest = HashMap::with_capacity(rows.len());
        for row in &rows {
            latest.insert(
                row.try_get("fingerprint")?,
                PriorDecision {
                    decision: parsed(row, "decisions", "decision", Decision::parse)?,
                    justification: row.try_get("justification")?,
                    reviewer: row.try_get("reviewer")?,
                    decided_at: row.try_get("decided_at")?,
                    accepted_until: accepted_until(row)?,
                    facts: row.try_get("facts")?,
                },
            );
        }
        Ok(latest)
    }

    /// Each organization's review cadence, by org_id.
    pub(super) async fn org_cadences(&self) -> anyhow::Result<HashMap<String, Cadence>> {
        let query = sqlx::query("SELECT org_id, review_cadence FROM organizations");
        let cadences = self.read_all(query, "the organizations", |row| {
            let cadence = parsed(row, "organizations", "review_cadence", Cadence::parse)?;
            Ok((row.try_get("org_id")?, cadence))
        });
        Ok(cadences.await?.into_iter().collect())
    }
}

/// An empty accepted_until is none (a decision that accepts no risk).
fn accepted_until(row: &sqlx::postgres::PgRow) -> anyhow::Result<Option<chrono::NaiveDate>> {
    let text: Option<String> = row.try_get("accepted_until")?;
    if text.as_deref() == Some("") {
        return Ok(None);
    }
    text_date(row, "decisions", "accepted_until")
}
