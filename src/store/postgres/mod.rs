//! The PostgreSQL store, through a typed `sqlx::PgPool`.

use super::*;

pub struct PgStore {}

impl PgStore {
    pub async fn open(url: &str, _connect_timeout: Duration) -> anyhow::Result<PgStore> {
        let _ = url;
        todo!()
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }
    async fn close(&self) {
        todo!()
    }
    async fn known_accounts(&self) -> anyhow::Result<KnownAccounts> {
        todo!()
    }
    async fn org_ids(&self) -> anyhow::Result<Vec<String>> {
        todo!()
    }
    async fn account_counts(&self) -> anyhow::Result<AccountCounts> {
        todo!()
    }
    async fn load_snapshot(&self, zone: Tz) -> anyhow::Result<Snapshot> {
        todo!()
    }
    fn import_writer(
        &self,
        handle: tokio::runtime::Handle,
        replace: bool,
    ) -> anyhow::Result<Box<dyn ImportWriter>> {
        todo!()
    }
    async fn begin_write(&self) -> anyhow::Result<Box<dyn AccountsTx>> {
        todo!()
    }
    async fn begin_read(&self) -> anyhow::Result<Box<dyn AccountsTx>> {
        todo!()
    }
    async fn database_role(&self) -> anyhow::Result<String> {
        todo!()
    }
    async fn audit_events(&self, username: Option<&str>) -> anyhow::Result<Vec<AuditEvent>> {
        todo!()
    }
    async fn start_run(&self, new: &NewRun<'_>) -> anyhow::Result<RunRecord> {
        todo!()
    }
    async fn run_heartbeat(
        &self,
        run_id: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        todo!()
    }
    async fn held_runs(&self) -> anyhow::Result<Vec<HeldRun>> {
        todo!()
    }
    async fn release_run(
        &self,
        run_id: &str,
        owner: &str,
        folder_error: Option<&str>,
        clear_error: bool,
    ) -> anyhow::Result<()> {
        todo!()
    }
    async fn complete_run(&self, run: &RunRecord, done: &CompletedRun<'_>) -> anyhow::Result<()> {
        todo!()
    }
    async fn fail_run(
        &self,
        run_id: &str,
        error: &str,
        finished_at: DateTime<Utc>,
        seen_heartbeat: Option<DateTime<Utc>>,
    ) -> anyhow::Result<bool> {
        todo!()
    }
    async fn previous_completed_run(&self, scope_key: &str) -> anyhow::Result<Option<RunRecord>> {
        todo!()
    }
    async fn runs(&self) -> anyhow::Result<Vec<RunRecord>> {
        todo!()
    }
    async fn run(&self, id: &str) -> anyhow::Result<Option<RunRecord>> {
        todo!()
    }
    async fn latest_completed_run(&self) -> anyhow::Result<Option<RunRecord>> {
        todo!()
    }
    async fn findings(
        &self,
        run_id: &str,
        rule: Option<crate::domain::RuleId>,
        status: Option<crate::domain::FindingStatus>,
    ) -> anyhow::Result<Vec<FindingRow>> {
        todo!()
    }
    async fn last_completed_review_per_org(&self) -> anyhow::Result<Vec<(String, NaiveDate)>> {
        todo!()
    }
    async fn try_claim(&self, request: &ClaimRequest<'_>) -> anyhow::Result<ClaimOutcome> {
        todo!()
    }
    async fn claim_running(
        &self,
        period_key: &str,
        owner: &str,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        todo!()
    }
    async fn claim_heartbeat(
        &self,
        period_key: &str,
        owner: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        todo!()
    }
    async fn finish_claim(
        &self,
        period_key: &str,
        owner: &str,
        state: ClaimState,
        run_id: Option<&str>,
        error: Option<&str>,
        finished_at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        todo!()
    }
    async fn claim(&self, period_key: &str) -> anyhow::Result<Option<ClaimRecord>> {
        todo!()
    }
    async fn claims(&self) -> anyhow::Result<Vec<ClaimRecord>> {
        todo!()
    }
    async fn record_decisions(&self, decisions: &[NewDecision]) -> anyhow::Result<()> {
        todo!()
    }
    async fn decisions(&self, run_id: Option<&str>) -> anyhow::Result<Vec<DecisionRecord>> {
        todo!()
    }
    async fn latest_decisions(
        &self,
        before_run: &str,
    ) -> anyhow::Result<HashMap<String, PriorDecision>> {
        todo!()
    }
    async fn org_cadences(&self) -> anyhow::Result<HashMap<String, crate::domain::Cadence>> {
        todo!()
    }
    async fn due_mail(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        ignore_schedule: bool,
    ) -> anyhow::Result<Vec<String>> {
        todo!()
    }
    async fn defer_due_mail(
        &self,
        now: DateTime<Utc>,
        ignore_schedule: bool,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        todo!()
    }
    async fn claim_mail(
        &self,
        key: &str,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> anyhow::Result<Option<ClaimedMail>> {
        todo!()
    }
    async fn mark_sent(&self, key: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
        todo!()
    }
    async fn mark_failed(
        &self,
        key: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        todo!()
    }
    async fn requeue_failed(&self, now: DateTime<Utc>) -> anyhow::Result<u64> {
        todo!()
    }
    async fn undelivered_mail(&self) -> anyhow::Result<Undelivered> {
        todo!()
    }
    async fn outbox(&self, run_id: Option<&str>) -> anyhow::Result<Vec<OutboxEntry>> {
        todo!()
    }
}
