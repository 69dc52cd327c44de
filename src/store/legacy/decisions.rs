//! Reviewer decisions: what a reviewer decided about a finding of a run (keep, remove access,
//! change services, accept the risk until a date), who decided and when. Recorded all at once
//! per import; a later run looks up the latest decision per fingerprint.

use super::history::run_order;
use super::{insert_batched, Store};
use anyhow::Context;
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;

/// A decision to record on one finding of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDecision {
    pub run_id: String,
    pub fingerprint: String,
    /// The decision's label: "Keep", "Remove access", "Change services", "Accept risk".
    pub decision: String,
    pub justification: String,
    pub reviewer: String,
    /// RFC 3339.
    pub decided_at: String,
    pub accepted_until: Option<NaiveDate>,
}

/// A recorded decision with the finding it is about, as `decisions list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRecord {
    pub fingerprint: String,
    pub run_id: String,
    pub rule: String,
    pub org_id: String,
    pub pidsl: String,
    pub username: String,
    pub decision: String,
    pub justification: String,
    pub reviewer: String,
    pub decided_at: String,
    pub accepted_until: Option<NaiveDate>,
}

/// The last decision on a finding, carried into a later run's row of the same fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriorDecision {
    pub decision: String,
    pub justification: String,
    pub reviewer: String,
    pub decided_on: NaiveDate,
    pub accepted_until: Option<NaiveDate>,
}

impl PriorDecision {
    /// "Keep (2026-10-05, alice)", or "Accept risk (2026-10-05, alice, until 2027-01-05)":
    /// how the next workbook shows it; importing it unchanged records nothing new.
    pub fn stamp(&self) -> String {
        match self.accepted_until {
            Some(until) => format!(
                "{} ({}, {}, until {until})",
                self.decision, self.decided_on, self.reviewer
            ),
            None => format!("{} ({}, {})", self.decision, self.decided_on, self.reviewer),
        }
    }

    /// Whether this is an accepted risk whose date has not passed on `as_of`.
    pub fn accepts_on(&self, as_of: NaiveDate) -> bool {
        self.decision == ACCEPT_RISK && self.accepted_until.is_some_and(|until| as_of <= until)
    }
}

/// The label of the decision that accepts a risk until a date.
pub const ACCEPT_RISK: &str = "Accept risk";

fn date(text: Option<String>) -> anyhow::Result<Option<NaiveDate>> {
    text.filter(|t| !t.is_empty())
        .map(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d"))
        .transpose()
        .context("bad accepted_until in the decisions table")
}

impl Store {
    /// Records `decisions` in one transaction; a decision on a finding that already has one in
    /// the same run replaces it.
    pub async fn record_decisions(&self, decisions: &[NewDecision]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_batched(
            &mut tx,
            self.backend,
            "INSERT INTO decisions (run_id, fingerprint, decision, justification, reviewer, decided_at, accepted_until)",
            7,
            "ON CONFLICT (run_id, fingerprint) DO UPDATE SET decision = excluded.decision, \
             justification = excluded.justification, reviewer = excluded.reviewer, \
             decided_at = excluded.decided_at, accepted_until = excluded.accepted_until",
            decisions,
            |q, d| {
                q.bind(d.run_id.as_str())
                    .bind(d.fingerprint.as_str())
                    .bind(d.decision.as_str())
                    .bind(d.justification.as_str())
                    .bind(d.reviewer.as_str())
                    .bind(d.decided_at.as_str())
                    .bind(d.accepted_until.map(|u| u.format("%Y-%m-%d").to_string()))
            },
        )
        .await?;
        tx.commit().await.context("cannot record the decisions")?;
        Ok(())
    }

    /// The recorded decisions (of one run, or all), oldest first.
    pub async fn decisions(&self, run_id: Option<&str>) -> anyhow::Result<Vec<DecisionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT d.fingerprint, d.run_id, f.rule, f.org_id, f.pidsl, f.username, d.decision, \
             d.justification, d.reviewer, d.decided_at, d.accepted_until \
             FROM decisions d JOIN findings f ON f.run_id = d.run_id AND f.fingerprint = d.fingerprint \
             WHERE ($1 IS NULL OR d.run_id = $1) ORDER BY d.decided_at, {}, d.fingerprint",
            run_order("d.run_id")
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(DecisionRecord {
                    fingerprint: row.try_get(0)?,
                    run_id: row.try_get(1)?,
                    rule: row.try_get(2)?,
                    org_id: row.try_get(3)?,
                    pidsl: row.try_get(4)?,
                    username: row.try_get(5)?,
                    decision: row.try_get(6)?,
                    justification: row.try_get(7)?,
                    reviewer: row.try_get(8)?,
                    decided_at: row.try_get(9)?,
                    accepted_until: date(row.try_get(10)?)?,
                })
            })
            .collect()
    }

    /// Per fingerprint, the latest decision recorded on a finding of a run before `run_id`
    /// (by decision time, then run).
    pub async fn latest_decisions(
        &self,
        before_run: &str,
    ) -> anyhow::Result<HashMap<String, PriorDecision>> {
        let rows = sqlx::query(&format!(
            "SELECT fingerprint, decision, justification, reviewer, decided_at, accepted_until \
             FROM decisions WHERE {run} < {before} ORDER BY decided_at, {run}",
            run = run_order("run_id"),
            before = run_order("$1"),
        ))
        .bind(before_run)
        .fetch_all(&self.pool)
        .await?;
        let mut latest = HashMap::with_capacity(rows.len());
        for row in rows {
            let decided_at: String = row.try_get(4)?;
            let decided_on =
                NaiveDate::parse_from_str(decided_at.get(..10).unwrap_or(""), "%Y-%m-%d")
                    .context("bad decided_at in the decisions table")?;
            latest.insert(
                row.try_get(0)?,
                PriorDecision {
                    decision: row.try_get(1)?,
                    justification: row.try_get(2)?,
                    reviewer: row.try_get(3)?,
                    decided_on,
                    accepted_until: date(row.try_get(5)?)?,
                },
            );
        }
        Ok(latest)
    }

    /// Each organization's review cadence, by org_id.
    pub async fn org_cadences(&self) -> anyhow::Result<HashMap<String, String>> {
        let rows = sqlx::query("SELECT org_id, review_cadence FROM organizations")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }
}
