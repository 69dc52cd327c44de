//! `posc-review schedule`: the long-lived scheduler that reviews each cadence's organizations
//! once per period — quarterly, semiannual, annual — on the `[schedule]` cron expressions, in
//! `review.time_zone`.
//!
//! **Due instants.** tokio-cron-scheduler's `JobScheduler` is not used to fire the jobs: it
//! turns the time zone into a fixed UTC offset when a job is created (a job made in winter
//! fires an hour off after the switch to daylight time), it has no catch-up, and it does not
//! wait for running jobs on shutdown. Instead the expressions are parsed with `croner` — the
//! parser tokio-cron-scheduler itself uses, with the same options (seconds required, an
//! optional year, day-of-month AND day-of-week as in `Job::new_async_tz`), so the format is
//! exactly tokio-cron-scheduler's — and each due instant is computed on local time in the
//! configured zone through chrono-tz, so 06:00 stays 06:00 on either side of a DST change. The
//! loop sleeps towards the earliest due instant in naps of at most [`MAX_NAP`], re-reading the
//! clock after each, so a suspended machine or a clock step does not make a review late.
//!
//! **Periods.** A fire instant belongs to the calendar period of its local date: `quarterly:
//! 2026-Q4`, `semiannual:2026-H2`, `annual:2026`. An expression that fires more than once in a
//! calendar period (a test schedule such as `*/2 * * * * *`) makes each fire its own period,
//! keyed by its instant in UTC: `quarterly:2026-11-26T14:05:02Z`. The rule is per fire: a fire
//! whose previous or next fire falls in the same calendar period gets an instant key, so keys
//! never collide and every scheduler derives the same key from the same configuration.
//!
//! **Exactly once.** A period is claimed in the database before its review starts (see
//! `store/claims.rs`): of two schedulers only one inserts the claim; the other leaves it. The
//! claim records the run id and a heartbeat; it ends `completed` (never reviewed again) or
//! `failed` (the next start retries it). A claim whose holder stopped renewing its heartbeat
//! for [`STALE_AFTER_SECS`] was left by a dead process and is taken over. One run per cadence
//! covers every organization on that cadence, so each organization is reviewed once per period.
//!
//! **Catch-up.** At start, for each cadence, the latest period whose time has passed is
//! reviewed now unless its claim is completed — one run, however many periods were missed,
//! since the store only holds today's accounts. A catch-up run reviews as of today.
//!
//! **The outbox.** Beside the reviews, a courier task delivers the outbox: it wakes when the
//! next pending message falls due (the backoff of `mail::retry_delay`), or at least every
//! [`MAX_NAP`], raises the operator alerts that are due (`alerts`) and delivers what is due, so
//! mail queued by any run — the scheduler's, or a `review --send` — goes out without a person.
//! Two couriers (two schedulers, or a `send` beside one) never send a message twice: each
//! message is claimed in the store before it is sent. At start and then at most once an hour
//! it also deletes the texts of mail sent more than `mail.keep_sent_days` ago
//! (`mail::purge_sent`).
//!
//! **Reminders.** A third task runs the reminder pass (`crate::remind`, as `posc-review remind
//! --send` does) at start and then at each local midnight of `review.time_zone`, so reminders
//! and escalations are queued on the day they fall due; the courier delivers them. A pass
//! queues each message once (by its key), so a restart or a second scheduler repeats nothing.
//!
//! **Shutdown.** On SIGINT/SIGTERM no new review starts; reviews in progress (tracked in a
//! `JoinSet`) get a grace period, then are aborted and recorded as failed, their partial output
//! removed (findings are written in one transaction, so none are half-written). The courier
//! and the reminder pass finish within the same grace period.

use crate::clock::{Clock, SharedClock};
use crate::config::Settings;
use crate::domain::{Cadence, ClaimState, CronExpr, RunStatus};
use crate::liveness::{AbortOnDrop, Owner, HEARTBEAT, STALE_AFTER_SECS};
use crate::review::{self, ReviewObserver, ReviewOutcome, ReviewRequest, ReviewStage};
use crate::store::{ClaimOutcome, ClaimRequest, RunRecord, Store};
use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use tracing::Instrument;

/// The longest sleep between two looks at the clock.
pub const MAX_NAP: Duration = Duration::from_secs(30);

/// A clock that starts at a given instant and runs on in real time from there (the hidden
/// `--now` option, or `POSC_REVIEW_NOW`: a testing aid for catch-up).
pub struct StartedAt {
    start: DateTime<Utc>,
    since: std::time::Instant,
}

impl StartedAt {
    pub fn new(start: DateTime<Utc>) -> StartedAt {
        StartedAt {
            start,
            since: std::time::Instant::now(),
        }
    }
}

impl Clock for StartedAt {
    fn now(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::from_std(self.since.elapsed()).unwrap_or_default()
    }
}

/// The calendar period of a date for a cadence: `2026-Q4`, `2026-H2` or `2026`.
pub fn calendar_period(cadence: Cadence, date: NaiveDate) -> String {
    use chrono::Datelike;
    let (year, month) = (date.year(), date.month());
    match cadence {
        Cadence::Quarterly => format!("{year}-Q{}", (month - 1) / 3 + 1),
        Cadence::Semiannual => format!("{year}-H{}", (month - 1) / 6 + 1),
        Cadence::Annual => format!("{year}"),
    }
}

/// One cadence period to review: its claim key and the instant it fell due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub cadence: Cadence,
    pub key: String,
    pub due: DateTime<Tz>,
}

/// One cadence's cron expression in the configured zone.
#[derive(Debug, Clone)]
pub struct CadenceSchedule {
    pub cadence: Cadence,
    pub expr: CronExpr,
    tz: Tz,
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(0).unwrap_or(t)
}

impl CadenceSchedule {
    pub fn new(cadence: Cadence, expr: CronExpr, tz: Tz) -> CadenceSchedule {
        CadenceSchedule { cadence, expr, tz }
    }

    /// The three jobs of `[schedule]`.
    pub fn from_settings(settings: &Settings) -> Vec<CadenceSchedule> {
        let s = &settings.schedule;
        [
            (Cadence::Quarterly, &s.quarterly),
            (Cadence::Semiannual, &s.semiannual),
            (Cadence::Annual, &s.annual),
        ]
        .into_iter()
        .map(|(cadence, expr)| {
            CadenceSchedule::new(cadence, expr.clone(), settings.review.time_zone)
        })
        .collect()
    }

    /// The first fire instant strictly after `t`; `None` if the expression never fires again.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Tz>> {
        self.expr
            .cron()
            .find_next_occurrence(&whole_seconds(t).with_timezone(&self.tz), false)
            .ok()
    }

    /// The latest fire instant at or before `t`: the period that is due now.
    pub fn latest_due(&self, t: DateTime<Utc>) -> Option<DateTime<Tz>> {
        self.expr
            .cron()
            .find_previous_occurrence(&whole_seconds(t).with_timezone(&self.tz), true)
            .ok()
    }

    /// The period a fire instant reviews (see the module documentation for the keys).
    pub fn period(&self, due: DateTime<Tz>) -> Period {
        let calendar = calendar_period(self.cadence, due.date_naive());
        let same_period = |other: Option<DateTime<Tz>>| {
            other.is_some_and(|t| calendar_period(self.cadence, t.date_naive()) == calendar)
        };
        let previous = self.expr.cron().find_previous_occurrence(&due, false).ok();
        let next = self.expr.cron().find_next_occurrence(&due, false).ok();
        let key = if same_period(previous) || same_period(next) {
            format!(
                "{}:{}",
                self.cadence,
                due.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ")
            )
        } else {
            format!("{}:{calendar}", self.cadence)
        };
        Period {
            cadence: self.cadence,
            key,
            due,
        }
    }
}

/// How the scheduler runs, from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where each run writes OUT/<run-id>/.
    pub out_dir: PathBuf,
    /// How long a review in progress may take to finish after SIGINT/SIGTERM.
    pub grace: Duration,
}

/// SIGINT and SIGTERM, caught from the moment [`Signals::install`] is called, so a signal that
/// comes during start-up is not lost. The first stops the scheduler; a second, during the grace
/// period, abandons the reviews in progress at once.
pub struct Signals(SignalSource);

enum SignalSource {
    #[cfg(unix)]
    Os {
        term: tokio::signal::unix::Signal,
        int: tokio::signal::unix::Signal,
    },
    #[cfg(not(unix))]
    CtrlC,
    /// Sent in process, by a test that runs the scheduler on a clock of its own.
    Sent(tokio::sync::mpsc::UnboundedReceiver<&'static str>),
}

impl Signals {
    pub fn install() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals(SignalSource::Os {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            }))
        }
        #[cfg(not(unix))]
        Ok(Signals(SignalSource::CtrlC))
    }

    /// Signals that come from the returned sender (a name such as "SIGTERM" each) instead of
    /// the operating system: how a scheduler run in process is stopped.
    pub fn sent() -> (tokio::sync::mpsc::UnboundedSender<&'static str>, Signals) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        (sender, Signals(SignalSource::Sent(receiver)))
    }

    /// The next signal's name.
    pub async fn recv(&mut self) -> &'static str {
        match &mut self.0 {
            #[cfg(unix)]
            SignalSource::Os { term, int } => {
                tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                }
            }
            #[cfg(not(unix))]
            SignalSource::CtrlC => {
                let _ = tokio::signal::ctrl_c().await;
                "Ctrl-C"
            }
            SignalSource::Sent(receiver) => match receiver.recv().await {
                Some(name) => name,
                // No sender left: no signal will ever come.
                None => std::future::pending().await,
            },
        }
    }
}

/// Why the scheduler offers a period for review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// Its fire instant just came.
    Due,
    /// At start: its time passed while no scheduler was running.
    CatchUp,
    /// Another scheduler held it; looking again.
    Recheck,
}

/// A review in progress, as the main loop knows it.
struct Ticket {
    period: Period,
    run_id: watch::Receiver<Option<String>>,
}

/// A period another scheduler holds, to look at again once its heartbeat could go stale.
struct Pending {
    period: Period,
    at: DateTime<Utc>,
}

struct Scheduler {
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    clock: SharedClock,
    options: Options,
    owner: String,
    runs: JoinSet<()>,
    tickets: HashMap<tokio::task::Id, Ticket>,
    pending: Vec<Pending>,
    courier: Courier,
    reminders: Reminders,
}

/// The task that delivers the outbox between reviews (see the module documentation).
struct Courier {
    task: tokio::task::JoinHandle<()>,
    /// Wakes it before its nap ends: a review finished (mail queued, or a failure to alert).
    wake: Arc<tokio::sync::Notify>,
    stop: watch::Sender<bool>,
}

impl Courier {
    fn start(store: Arc<dyn Store>, settings: Arc<Settings>, clock: SharedClock) -> Courier {
        let wake = Arc::new(tokio::sync::Notify::new());
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(
            deliver_outbox(store, settings, clock, wake.clone(), stopped)
                .instrument(tracing::info_span!("outbox")),
        );
        Courier { task, wake, stop }
    }

    /// Lets the pass in progress finish until `deadline`, then stops the courier.
    async fn stop(mut self, deadline: tokio::time::Instant) {
        self.stop.send_replace(true);
        if tokio::time::timeout_at(deadline, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("grace period over: the delivery pass in progress is abandoned; its message is retried once its claim is stale");
            self.task.abort();
        }
    }
}

/// The task that runs the reminder pass at start and at each local midnight.
struct Reminders {
    task: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Reminders {
    fn start(
        store: Arc<dyn Store>,
        settings: Arc<Settings>,
        clock: SharedClock,
        out_dir: PathBuf,
        courier: Arc<tokio::sync::Notify>,
    ) -> Reminders {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(
            remind_daily(store, settings, clock, out_dir, courier, stopped)
                .instrument(tracing::info_span!("reminders")),
        );
        Reminders { task, stop }
    }

    /// Lets the pass in progress finish until `deadline`, then stops the task.
    async fn stop(mut self, deadline: tokio::time::Instant) {
        self.stop.send_replace(true);
        if tokio::time::timeout_at(deadline, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("grace period over: the reminder pass in progress is abandoned; the next start runs it again");
            self.task.abort();
        }
    }
}

/// The first instant of the local day after `date` in `tz` (the first instant after midnight
/// when a DST change skips it).
fn next_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    use chrono::TimeZone;
    let next = date
        .succ_opt()
        .unwrap_or(date)
        .and_time(chrono::NaiveTime::MIN);
    (0..24)
        .find_map(|hour| {
            tz.from_local_datetime(&(next + chrono::Duration::hours(hour)))
                .earliest()
        })
        .map_or_else(|| next.and_utc(), |t| t.with_timezone(&Utc))
}

/// The reminder task's loop: a pass for today, then a sleep until the next local midnight in
/// naps of at most [`MAX_NAP`] (re-reading the clock), or a retry in five minutes after a pass
/// that failed.
async fn remind_daily(
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    clock: SharedClock,
    out_dir: PathBuf,
    courier: Arc<tokio::sync::Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let tz = settings.review.time_zone;
    while !*stop.borrow() {
        let today = clock.now().with_timezone(&tz).date_naive();
        let request = crate::remind::RemindRequest {
            as_of: today,
            send: true,
            out_dir: out_dir.clone(),
        };
        let next = match crate::remind::remind(store.as_ref(), &settings, &request, &clock).await {
            Ok(outcome) => {
                tracing::info!(as_of = %today, queued = outcome.queued, "reminder pass");
                for problem in &outcome.problems {
                    tracing::error!(org_id = %problem.org_id, error = %problem.error,
                        "the organization's reminders could not be made");
                }
                if outcome.queued > 0 {
                    courier.notify_one();
                }
                next_midnight(today, tz)
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the reminder pass failed; trying again in five minutes");
                clock.now() + chrono::Duration::minutes(5)
            }
        };
        while !*stop.borrow() && clock.now() < next {
            let nap = (next - clock.now())
                .to_std()
                .unwrap_or_default()
                .clamp(Duration::from_millis(5), MAX_NAP);
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// When the outbox's next message falls due; `None` (logged) when the store cannot say.
async fn next_mail_due(store: &dyn Store, stale_age: chrono::Duration) -> Option<DateTime<Utc>> {
    store.next_mail_due(stale_age).await.unwrap_or_else(|e| {
        tracing::error!(error = %format!("{e:#}"), "cannot read the outbox");
        None
    })
}

/// The courier's loop: alerts, then a delivery pass, then a nap until the next message is due.
async fn deliver_outbox(
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    clock: SharedClock,
    wake: Arc<tokio::sync::Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let stale_age = crate::mail::stale_claim_age(&settings.smtp);
    let mut last_purge: Option<DateTime<Utc>> = None;
    while !*stop.borrow() {
        // Hourly, not every pass: the purge reads the outbox's kept texts.
        if last_purge.is_none_or(|at| clock.now() - at >= chrono::Duration::hours(1)) {
            last_purge = Some(clock.now());
            if let Err(e) =
                crate::mail::purge_sent(store.as_ref(), &settings.mail, clock.now()).await
            {
                tracing::error!(error = %format!("{e:#}"), "cannot delete the texts of sent mail");
            }
        }
        if let Err(e) = crate::alerts::raise(store.as_ref(), &settings, &clock).await {
            tracing::error!(error = %format!("{e:#}"), "cannot raise the operator alerts");
        }
        // Only when something is due: an empty outbox costs a query, not an SMTP setup.
        let mut next = next_mail_due(store.as_ref(), stale_age).await;
        if next.is_some_and(|at| at <= clock.now()) {
            match crate::mail::deliver_pending(
                store.as_ref(),
                &settings.smtp,
                &settings.mail,
                &clock,
                false,
            )
            .await
            {
                Ok(report) => {
                    tracing::info!(
                        sent = report.sent,
                        retrying = report.retrying,
                        failed = report.failed,
                        "outbox delivery pass"
                    );
                    for error in &report.errors {
                        tracing::warn!(error = %error, "mail not delivered");
                    }
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), "cannot deliver the outbox"),
            }
            next = next_mail_due(store.as_ref(), stale_age).await;
        }
        // At least a second apart, so a message that cannot be handled never spins the loop.
        let nap = next
            .and_then(|due| (due - clock.now()).to_std().ok())
            .unwrap_or(MAX_NAP)
            .clamp(Duration::from_secs(1), MAX_NAP);
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => {}
        }
    }
}

/// Runs the scheduler until a signal comes, then stops as the module documentation says.
pub async fn run(
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    clock: SharedClock,
    options: Options,
    mut signals: Signals,
) -> anyhow::Result<()> {
    let schedules = CadenceSchedule::from_settings(&settings);
    let tz = settings.review.time_zone;
    let courier = Courier::start(store.clone(), settings.clone(), clock.clone());
    let reminders = Reminders::start(
        store.clone(),
        settings.clone(),
        clock.clone(),
        options.out_dir.clone(),
        courier.wake.clone(),
    );
    let mut s = Scheduler {
        store,
        settings,
        clock,
        options,
        owner: Owner::this_process().to_string(),
        runs: JoinSet::new(),
        tickets: HashMap::new(),
        pending: Vec::new(),
        courier,
        reminders,
    };
    let now = s.clock.now();
    tracing::info!(
        owner = %s.owner,
        now = %now.with_timezone(&tz).to_rfc3339(),
        time_zone = %tz,
        "scheduler started"
    );
    for schedule in &schedules {
        if let Some(due) = schedule.latest_due(now) {
            s.offer(schedule.period(due), Why::CatchUp).await;
        }
    }
    let mut next: Vec<Option<DateTime<Tz>>> = Vec::new();
    for schedule in &schedules {
        let upcoming = schedule.next_after(now);
        log_next(schedule, upcoming.as_ref());
        next.push(upcoming);
    }
    let signal = loop {
        let now = s.clock.now();
        for (schedule, upcoming) in schedules.iter().zip(next.iter_mut()) {
            if upcoming
                .as_ref()
                .is_some_and(|due| due.with_timezone(&Utc) <= now)
            {
                // After a long suspend several fires may have passed: review the latest only.
                if let Some(due) = schedule.latest_due(now) {
                    s.offer(schedule.period(due), Why::Due).await;
                }
                *upcoming = schedule.next_after(now);
                log_next(schedule, upcoming.as_ref());
            }
        }
        s.recheck_pending(now).await;
        let wake = next
            .iter()
            .flatten()
            .map(|due| due.with_timezone(&Utc))
            .chain(s.pending.iter().map(|p| p.at))
            .min();
        let nap = wake
            .and_then(|w| (w - now).to_std().ok())
            .unwrap_or(Duration::ZERO)
            .clamp(Duration::from_millis(5), MAX_NAP);
        tokio::select! {
            signal = signals.recv() => break signal,
            Some(done) = s.runs.join_next_with_id(), if !s.runs.is_empty() => s.finished(done).await,
            _ = tokio::time::sleep(nap) => {}
        }
    };
    s.stop(signal, &mut signals).await;
    Ok(())
}

fn log_next(schedule: &CadenceSchedule, upcoming: Option<&DateTime<Tz>>) {
    match upcoming {
        Some(due) => tracing::info!(
            cadence = %schedule.cadence,
            next = %due.to_rfc3339(),
            "next {} review", schedule.cadence
        ),
        None => tracing::warn!(
            cadence = %schedule.cadence,
            expr = %schedule.expr,
            "schedule.{} never fires again", schedule.cadence
        ),
    }
}

impl Scheduler {
    fn tz(&self) -> Tz {
        self.settings.review.time_zone
    }

    /// Claims the period and starts its review, or says why not.
    async fn offer(&mut self, period: Period, why: Why) {
        // A newer period of the cadence supersedes one still waiting for a recheck.
        self.pending.retain(|p| p.period.cadence != period.cadence);
        let now = self.clock.now();
        let mut request = ClaimRequest {
            period_key: &period.key,
            cadence: period.cadence,
            due_at: period.due.with_timezone(&Utc),
            owner: &self.owner,
            now,
            stale_before: crate::liveness::stale_before(now),
        };
        let mut outcome = self.store.try_claim(&request).await;
        if let Ok(ClaimOutcome::Held(claim)) = &outcome {
            // A holder on this host whose process is gone (a scheduler killed and restarted
            // by systemd) is not waited for: its claim is taken if its heartbeat is still the
            // one seen here, so a live scheduler that took it meanwhile keeps it.
            let dead = Owner::parse(&claim.owner).is_ok_and(|o| o.is_gone_from_this_host());
            if dead && claim.heartbeat_at >= request.stale_before {
                tracing::info!(period = %period.key, owner = %claim.owner,
                    "the scheduler holding the period ran on this host and is gone");
                request.stale_before = claim.heartbeat_at + chrono::Duration::microseconds(1);
                outcome = self.store.try_claim(&request).await;
            }
        }
        let due = period.due.to_rfc3339();
        match outcome {
            Ok(ClaimOutcome::Taken { retried }) => {
                let retried = retried.map(ClaimState::as_str).unwrap_or_default();
                let as_of = match why {
                    Why::Due => period.due.date_naive(),
                    Why::CatchUp | Why::Recheck => now.with_timezone(&self.tz()).date_naive(),
                };
                match why {
                    Why::CatchUp => tracing::info!(
                        period = %period.key, due = %due, %as_of, retried,
                        "catching up: the period's review was due while no scheduler ran it; reviewing it now"
                    ),
                    Why::Due => tracing::info!(
                        period = %period.key, due = %due, %as_of, retried,
                        "period due: reviewing it"
                    ),
                    Why::Recheck => tracing::info!(
                        period = %period.key, due = %due, %as_of, retried,
                        "taking over the period from a scheduler that stopped: reviewing it"
                    ),
                }
                self.spawn(period, as_of);
            }
            Ok(ClaimOutcome::Completed(claim)) => tracing::info!(
                period = %period.key,
                run_id = claim.run_id.as_deref().unwrap_or(""),
                "period already reviewed; not repeating it"
            ),
            Ok(ClaimOutcome::Held(claim)) => {
                tracing::info!(
                    period = %period.key, owner = %claim.owner, state = claim.state.as_str(),
                    "another scheduler is reviewing the period"
                );
                let stale_at = claim.heartbeat_at + chrono::Duration::seconds(STALE_AFTER_SECS + 1);
                let at = stale_at.max(now + chrono::Duration::seconds(5));
                self.pending.push(Pending { period, at });
            }
            Err(e) => {
                tracing::error!(
                    period = %period.key, error = %format!("{e:#}"),
                    "cannot claim the period; trying again in a minute"
                );
                let at = now + chrono::Duration::seconds(60);
                self.pending.push(Pending { period, at });
            }
        }
    }

    /// Looks again at periods another scheduler held: done by now, or abandoned?
    async fn recheck_pending(&mut self, now: DateTime<Utc>) {
        let (due, waiting): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.at <= now);
        self.pending = waiting;
        for pending in due {
            self.offer(pending.period, Why::Recheck).await;
        }
    }

    fn spawn(&mut self, period: Period, as_of: NaiveDate) {
        let (run_id, watched) = watch::channel(None);
        let job = RunJob {
            store: self.store.clone(),
            settings: self.settings.clone(),
            clock: self.clock.clone(),
            owner: self.owner.clone(),
            period: period.clone(),
            request: ReviewRequest {
                as_of,
                cadence: Some(period.cadence),
                org_ids: Vec::new(),
                out_dir: self.options.out_dir.clone(),
                // A scheduled review sends its mail: that is what it is for.
                send: true,
            },
            run_id,
        };
        let handle = self.runs.spawn(job.run());
        self.tickets.insert(
            handle.id(),
            Ticket {
                period,
                run_id: watched,
            },
        );
    }

    /// A review task ended: normally (it recorded itself), or aborted or panicked.
    async fn finished(&mut self, done: Result<(tokio::task::Id, ()), JoinError>) {
        // Its mail is queued, or its failure is to be alerted.
        self.courier.wake.notify_one();
        let (id, error) = match done {
            Ok((id, ())) => {
                self.tickets.remove(&id);
                return;
            }
            Err(e) => (e.id(), e),
        };
        let Some(ticket) = self.tickets.remove(&id) else {
            return;
        };
        let why = if error.is_cancelled() {
            "interrupted: the scheduler stopped before the review finished"
        } else {
            "the review panicked"
        };
        self.record_abandoned(&ticket, why).await;
    }

    /// Records a review that did not finish as failed (run and claim), and removes its partial
    /// output; the next start reviews the period again.
    async fn record_abandoned(&self, ticket: &Ticket, why: &str) {
        let run_id = ticket.run_id.borrow().clone();
        let finished = self.clock.now();
        let mut state = ClaimState::Failed;
        if let Some(id) = &run_id {
            match self.store.fail_run(id, why, finished, None).await {
                Ok(true) => {
                    crate::review::RunFolders::new(&self.options.out_dir, id).remove_unfinished()
                }
                Ok(false) => {
                    // It finished after all (or failed by itself): say what the run says.
                    if let Ok(Some(run)) = self.store.run(id).await {
                        if run.status == RunStatus::Completed {
                            state = ClaimState::Completed;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(run_id = %id, error = %format!("{e:#}"), "cannot record the interrupted run")
                }
            }
        }
        let error = (state == ClaimState::Failed).then_some(why);
        if let Err(e) = self
            .store
            .finish_claim(
                &ticket.period.key,
                &self.owner,
                state,
                run_id.as_deref(),
                error,
                finished,
            )
            .await
        {
            tracing::error!(period = %ticket.period.key, error = %format!("{e:#}"), "cannot release the period's claim");
        }
        match state {
            ClaimState::Completed => tracing::info!(
                period = %ticket.period.key, run_id = run_id.as_deref().unwrap_or(""),
                "the review completed as the scheduler stopped"
            ),
            _ => tracing::warn!(
                period = %ticket.period.key, run_id = run_id.as_deref().unwrap_or(""), reason = why,
                "review abandoned and recorded as failed; the next start reviews the period again"
            ),
        }
    }

    /// No new reviews; the ones in progress get the grace period, then are abandoned.
    async fn stop(mut self, signal: &str, signals: &mut Signals) {
        let deadline = tokio::time::Instant::now() + self.options.grace;
        if self.runs.is_empty() {
            tracing::info!(signal, "stopping: no review in progress");
        } else {
            tracing::info!(
                signal,
                reviews = self.runs.len(),
                grace_secs = self.options.grace.as_secs(),
                "stopping: no new reviews; waiting for the reviews in progress"
            );
            loop {
                tokio::select! {
                    biased;
                    done = self.runs.join_next_with_id() => match done {
                        Some(done) => self.finished(done).await,
                        None => break,
                    },
                    again = async {
                        tokio::select! {
                            _ = tokio::time::sleep_until(deadline) => "grace period over",
                            _ = signals.recv() => "second signal",
                        }
                    } => {
                        tracing::warn!(
                            reviews = self.runs.len(),
                            "{again}: abandoning the reviews in progress"
                        );
                        self.runs.abort_all();
                        while let Some(done) = self.runs.join_next_with_id().await {
                            self.finished(done).await;
                        }
                        break;
                    }
                }
            }
        }
        self.reminders.stop(deadline).await;
        self.courier.stop(deadline).await;
        tracing::info!("scheduler stopped");
    }
}

/// Ties the period's claim to the run as soon as the run is recorded (the claim's heartbeat
/// task stores its id), to record the run if it is interrupted.
struct ClaimRun<'a> {
    span: tracing::Span,
    run_id: &'a watch::Sender<Option<String>>,
}

#[async_trait::async_trait]
impl ReviewObserver for ClaimRun<'_> {
    async fn reached(&self, stage: ReviewStage, run: &RunRecord) {
        if stage == ReviewStage::RunStarted {
            self.span.record("run_id", tracing::field::display(&run.id));
            self.run_id.send_replace(Some(run.id.clone()));
        }
    }
}

/// One scheduled review: run it under its claim, keep the claim alive, record the outcome.
struct RunJob {
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    clock: SharedClock,
    owner: String,
    period: Period,
    request: ReviewRequest,
    run_id: watch::Sender<Option<String>>,
}

impl RunJob {
    async fn run(self) {
        let span = tracing::info_span!(
            "scheduled_review",
            period = %self.period.key,
            run_id = tracing::field::Empty
        );
        self.review().instrument(span).await
    }

    async fn review(self) {
        let _heartbeat = AbortOnDrop(tokio::spawn(
            keep_alive(
                self.store.clone(),
                self.period.key.clone(),
                self.owner.clone(),
                self.clock.clone(),
                self.run_id.subscribe(),
            )
            .in_current_span(),
        ));
        // Runs that other processes left behind since this scheduler started.
        if let Err(e) = review::reconcile_runs(self.store.as_ref(), self.clock.now()).await {
            tracing::warn!(error = %format!("{e:#}"), "cannot reconcile the runs left by processes that are gone");
        }
        let claim = ClaimRun {
            span: tracing::Span::current(),
            run_id: &self.run_id,
        };
        let result = review::run_review_observed(
            &self.store,
            &self.settings,
            &self.request,
            &self.clock,
            &claim,
        )
        .await;
        let finished = self.clock.now();
        let run_id = self.run_id.borrow().clone();
        let (state, error) = match &result {
            Ok(_) => (ClaimState::Completed, None),
            Err(e) => (ClaimState::Failed, Some(format!("{e:#}"))),
        };
        match self
            .store
            .finish_claim(
                &self.period.key,
                &self.owner,
                state,
                run_id.as_deref(),
                error.as_deref(),
                finished,
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "another scheduler took this period over while it ran (its heartbeat went stale)"
            ),
            Err(e) => tracing::error!(error = %format!("{e:#}"), "cannot close the period's claim"),
        }
        match result {
            Ok(outcome) => {
                if let Err(e) = self.after_run(&outcome).await {
                    tracing::error!(error = %format!("{e:#}"), "after the review");
                }
            }
            Err(e) => tracing::error!(
                error = %format!("{e:#}"),
                "scheduled review failed; the next start reviews the period again"
            ),
        }
    }

    /// What follows a completed scheduled review, once its period is recorded as reviewed.
    /// The run queued its mail with its findings and tried to deliver it; what did not go
    /// stays in the outbox, for the courier's next attempt (nothing here can make the period
    /// be reviewed again).
    async fn after_run(&self, outcome: &ReviewOutcome) -> anyhow::Result<()> {
        let run = &outcome.run;
        let delivery = outcome.mail.delivery.clone().unwrap_or_default();
        tracing::info!(
            period = %self.period.key,
            run_id = %run.id,
            findings = run.counts.findings,
            new = run.counts.new,
            resolved = run.counts.resolved,
            out_dir = %outcome.out_dir.display(),
            mail_sent = delivery.sent,
            mail_pending = delivery.retrying,
            mail_failed = delivery.failed,
            "period reviewed"
        );
        for error in &delivery.errors {
            tracing::warn!(error = %error, "mail not delivered; the outbox retries it");
        }
        Ok(())
    }
}

/// Renews the claim's heartbeat while the review runs, and records its run id on the claim as
/// soon as the run exists.
async fn keep_alive(
    store: Arc<dyn Store>,
    period_key: String,
    owner: String,
    clock: SharedClock,
    mut run_id: watch::Receiver<Option<String>>,
) {
    let mut ticker = tokio::time::interval(HEARTBEAT);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut watching = true;
    loop {
        let held = tokio::select! {
            changed = run_id.changed(), if watching => {
                if changed.is_err() {
                    watching = false;
                    continue;
                }
                let Some(id) = run_id.borrow_and_update().clone() else { continue };
                store.claim_running(&period_key, &owner, &id, clock.now()).await
            }
            _ = ticker.tick() => {
                store.claim_heartbeat(&period_key, &owner, clock.now()).await
            }
        };
        match held {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("this scheduler no longer holds the period's claim");
                return;
            }
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot renew the claim"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::America::New_York;

    fn ny(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        New_York
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn schedule(cadence: Cadence, expr: &str) -> CadenceSchedule {
        CadenceSchedule::new(cadence, CronExpr::parse(expr).unwrap(), New_York)
    }

    const QUARTERLY: &str = "0 0 6 1 1,4,7,10 *";

    #[test]
    fn the_reminder_pass_runs_at_each_local_midnight_even_across_a_dst_change() {
        let date = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert_eq!(
            next_midnight(date(11, 29), New_York),
            ny(2026, 11, 30, 0, 0)
        );
        // The night the clocks go back (1 November 2026) and the one they go forward.
        assert_eq!(next_midnight(date(10, 31), New_York), ny(2026, 11, 1, 0, 0));
        assert_eq!(next_midnight(date(3, 7), New_York), ny(2026, 3, 8, 0, 0));
        // Where a DST change skips midnight itself (Santiago, September 2026), the first
        // local hour of the day.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let skipped = next_midnight(date(9, 5), santiago);
        assert_eq!(
            skipped.with_timezone(&santiago).date_naive(),
            date(9, 6),
            "{skipped}"
        );
        assert_eq!(skipped.with_timezone(&santiago).hour(), 1);
    }

    #[test]
    fn calendar_periods_name_the_quarter_half_and_year() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert_eq!(calendar_period(Cadence::Quarterly, date), "2026-Q4");
        assert_eq!(calendar_period(Cadence::Semiannual, date), "2026-H2");
        assert_eq!(calendar_period(Cadence::Annual, date), "2026");
        let march = NaiveDate::from_ymd_opt(2027, 3, 31).unwrap();
        assert_eq!(calendar_period(Cadence::Quarterly, march), "2027-Q1");
        assert_eq!(calendar_period(Cadence::Semiannual, march), "2027-H1");
    }

    #[test]
    fn the_default_schedules_give_calendar_period_keys() {
        let q = schedule(Cadence::Quarterly, QUARTERLY);
        let due = q.latest_due(ny(2026, 11, 26, 9, 0)).unwrap();
        assert_eq!(due.with_timezone(&Utc), utc("2026-10-01T10:00:00Z"));
        assert_eq!(q.period(due).key, "quarterly:2026-Q4");
        let h = schedule(Cadence::Semiannual, "0 0 6 1 1,7 *");
        let due = h.latest_due(ny(2026, 11, 26, 9, 0)).unwrap();
        assert_eq!(h.period(due).key, "semiannual:2026-H2");
        let a = schedule(Cadence::Annual, "0 0 6 1 1 *");
        let due = a.latest_due(ny(2026, 11, 26, 9, 0)).unwrap();
        assert_eq!(due.with_timezone(&Utc), utc("2026-01-01T11:00:00Z"));
        assert_eq!(a.period(due).key, "annual:2026");
    }

    #[test]
    fn a_schedule_firing_more_often_than_its_cadence_keys_each_fire_by_its_instant() {
        let q = schedule(Cadence::Quarterly, "*/2 * * * * *");
        let due = q.latest_due(utc("2026-11-26T14:05:03.600Z")).unwrap();
        assert_eq!(due.with_timezone(&Utc), utc("2026-11-26T14:05:02Z"));
        assert_eq!(q.period(due).key, "quarterly:2026-11-26T14:05:02Z");
        let next = q.next_after(utc("2026-11-26T14:05:02Z")).unwrap();
        assert_eq!(q.period(next).key, "quarterly:2026-11-26T14:05:04Z");
        // Twice a quarter is also more often than the cadence.
        let twice = schedule(Cadence::Quarterly, "0 0 6 1,15 1,4,7,10 *");
        let due = twice.latest_due(ny(2026, 10, 2, 0, 0)).unwrap();
        assert_eq!(twice.period(due).key, "quarterly:2026-10-01T10:00:00Z");
    }

    #[test]
    fn a_fire_time_is_due_at_and_after_it_not_before() {
        let q = schedule(Cadence::Quarterly, QUARTERLY);
        let at = ny(2026, 10, 1, 6, 0);
        assert_eq!(q.latest_due(at).unwrap().with_timezone(&Utc), at);
        assert_eq!(
            q.latest_due(at - chrono::Duration::seconds(1))
                .unwrap()
                .with_timezone(&Utc),
            ny(2026, 7, 1, 6, 0)
        );
        assert_eq!(
            q.next_after(at).unwrap().with_timezone(&Utc),
            ny(2027, 1, 1, 6, 0)
        );
    }

    #[test]
    fn daily_six_oclock_stays_six_oclock_across_the_march_dst_change() {
        let daily = schedule(Cadence::Quarterly, "0 0 6 * * *");
        // 2026-03-08: clocks go from 02:00 EST to 03:00 EDT.
        let before = daily.next_after(utc("2026-03-07T12:00:00Z")).unwrap();
        assert_eq!(before.with_timezone(&Utc), utc("2026-03-08T10:00:00Z"));
        assert_eq!(before.to_rfc3339(), "2026-03-08T06:00:00-04:00");
        let previous = daily.latest_due(utc("2026-03-08T09:59:59Z")).unwrap();
        assert_eq!(previous.with_timezone(&Utc), utc("2026-03-07T11:00:00Z"));
    }

    #[test]
    fn daily_six_oclock_stays_six_oclock_across_the_november_dst_change() {
        let daily = schedule(Cadence::Quarterly, "0 0 6 * * *");
        // 2026-11-01: clocks go from 02:00 EDT back to 01:00 EST.
        let next = daily.next_after(utc("2026-10-31T12:00:00Z")).unwrap();
        assert_eq!(next.with_timezone(&Utc), utc("2026-11-01T11:00:00Z"));
        assert_eq!(next.to_rfc3339(), "2026-11-01T06:00:00-05:00");
        assert_eq!(
            daily.latest_due(utc("2026-11-01T10:30:00Z")).unwrap(),
            New_York.with_ymd_and_hms(2026, 10, 31, 6, 0, 0).unwrap()
        );
    }

    #[test]
    fn a_quarterly_fire_computed_in_winter_lands_at_six_local_in_summer() {
        // The trap of a fixed offset taken in January: April's 06:00 would come at 07:00 EDT.
        let q = schedule(Cadence::Quarterly, QUARTERLY);
        let april = q.next_after(ny(2026, 1, 15, 12, 0)).unwrap();
        assert_eq!(april.with_timezone(&Utc), utc("2026-04-01T10:00:00Z"));
        let january = q.next_after(ny(2026, 10, 15, 12, 0)).unwrap();
        assert_eq!(january.with_timezone(&Utc), utc("2027-01-01T11:00:00Z"));
    }

    #[test]
    fn a_time_in_the_spring_gap_fires_once_after_the_gap() {
        let q = schedule(Cadence::Quarterly, "0 30 2 * * *");
        let next = q.next_after(utc("2026-03-08T05:00:00Z")).unwrap();
        // 02:30 does not exist on 2026-03-08; it fires once that day, after the gap.
        assert_eq!(
            next.date_naive(),
            NaiveDate::from_ymd_opt(2026, 3, 8).unwrap()
        );
        let after = q.next_after(next.with_timezone(&Utc)).unwrap();
        assert_eq!(after.with_timezone(&Utc), utc("2026-03-09T06:30:00Z"));
    }

    #[test]
    fn a_clock_set_at_an_instant_runs_on_from_it() {
        let start = utc("2026-12-15T17:00:00Z");
        let clock = StartedAt::new(start);
        let now = clock.now();
        assert!(now >= start && now - start < chrono::Duration::seconds(5));
    }
}
