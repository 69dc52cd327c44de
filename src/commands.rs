//! One function per subcommand: load the settings, open the store, do the work, print what a
//! user needs to know (where the files went). Everything goes to stdout through
//! [`crate::output`], so a closed pipe ends the command quietly and tables stay aligned.

use crate::cli::{
    Cli, Command, DemoArgs, FindingsArgs, FindingsFormat, ImportArgs, OutputFormat, RemindArgs,
    ReviewArgs, RunsArgs, ScheduleArgs, SendArgs, StatusArgs, StatusFormat,
};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::domain::{parse_date, PidSl, Severity};
use crate::error::{FindingsAtOrAbove, UsageError};
use crate::import::{self, ImportSummary};
use crate::outln;
use crate::output::{count, json_in_zone, local_instant, unless_closed, Table};
use crate::review::{self, ReviewOutcome, ReviewRequest};
use crate::store::{redact_url, FindingRow, RunRecord, Store};
use chrono::{DateTime, NaiveDate};
use std::path::Path;
use std::sync::Arc;

mod accounts;
mod decisions;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = settings(cli.config.as_deref(), cli.database_url)?;
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command {
        Command::Init => init(&settings, &clock).await,
        Command::Import(args) => import_command(&settings, args, &clock).await,
        Command::Review(args) => review_command(&settings, args, &clock).await,
        Command::Send(args) => send_command(&settings, args, &clock).await,
        Command::Runs(args) => runs_command(&settings, args).await,
        Command::Findings(args) => findings_command(&settings, args).await,
        Command::Accounts(args) => accounts::accounts_command(&settings, args, &clock).await,
        Command::Decisions(args) => decisions::decisions_command(&settings, args, &clock).await,
        Command::Remind(args) => remind_command(&settings, args, &clock).await,
        Command::Schedule(args) => schedule_command(settings, args).await,
        Command::Status(args) => status_command(&settings, args, &clock).await,
        Command::Demo(args) => demo_command(&settings, args, &clock).await,
    }
}

/// A command's settings: the configuration file and the environment, `--database-url` over
/// them. Sets the process's umask and tightens the store's file modes from them, before
/// anything is written.
pub fn settings(config: Option<&Path>, database_url: Option<String>) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(config)?;
    if let Some(url) = database_url {
        settings.database.url = url;
    }
    crate::files::restrict(settings.review.file_mode);
    crate::files::tighten_store(&settings.database.url);
    Ok(settings)
}

/// `--as-of DATE`, or today in the configured time zone.
fn as_of(
    settings: &Settings,
    given: Option<&str>,
    clock: &SharedClock,
) -> anyhow::Result<NaiveDate> {
    match given {
        Some(text) => Ok(parse_date(text).map_err(|e| UsageError(format!("--as-of: {e}")))?),
        None => Ok(clock
            .now()
            .with_timezone(&settings.review.time_zone)
            .date_naive()),
    }
}

async fn open(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let timeout = std::time::Duration::from_secs(settings.database.connect_timeout_secs.into());
    crate::store::open(&settings.database.url, timeout).await
}

/// Opens the store for a command that writes: first, runs whose process is gone are recorded
/// as failed and their partial folders removed ([`review::reconcile_runs`]).
pub async fn open_for_writing(
    settings: &Settings,
    clock: &SharedClock,
) -> anyhow::Result<Arc<dyn Store>> {
    let store = open(settings).await?;
    review::reconcile_runs(store.as_ref(), clock.now()).await?;
    Ok(store)
}

async fn init(settings: &Settings, clock: &SharedClock) -> anyhow::Result<()> {
    let store = open_for_writing(settings, clock).await?;
    let counts = store.account_counts().await?;
    store.close().await;
    outln!("Database ready: {}", redact_url(&settings.database.url))?;
    outln!(
        "  {}",
        account_counts([
            counts.organizations,
            counts.pidsls,
            counts.users,
            counts.access
        ])
    )
}

/// "3 organizations, 1 PID/SL, 12 users, 40 access rows".
fn account_counts([orgs, pidsls, users, access]: [impl std::fmt::Display; 4]) -> String {
    format!(
        "{}, {}, {}, {}",
        count(orgs, "organization"),
        count(pidsls, "PID/SL"),
        count(users, "user"),
        count(access, "access row")
    )
}

/// The import's part of the configuration.
fn import_settings(settings: &Settings) -> import::ImportSettings {
    import::ImportSettings {
        time_zone: settings.review.time_zone,
        roles: settings.roles.clone(),
    }
}

async fn import_command(
    settings: &Settings,
    args: ImportArgs,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let store = open_for_writing(settings, clock).await?;
    let summary = import::import_dir(
        &store,
        &import_settings(settings),
        &args.dir,
        args.merge,
        clock,
    )
    .await?;
    store.close().await;
    print_import(&summary, &args.dir, &settings.database.url)
}

fn print_import(summary: &ImportSummary, dir: &Path, url: &str) -> anyhow::Result<()> {
    for warning in summary.warnings.iter().take(50) {
        eprintln!("warning: {warning}");
    }
    if summary.warnings.len() > 50 {
        eprintln!(
            "warning: ... and {} more",
            count(summary.warnings.len() - 50, "warning")
        );
    }
    outln!(
        "{} {} into {}:",
        if summary.merged { "Merged" } else { "Imported" },
        dir.display(),
        redact_url(url)
    )?;
    outln!(
        "  {}; roster: {} matched {}",
        account_counts([
            summary.organizations,
            summary.pidsls,
            summary.users,
            summary.access_rows
        ]),
        count(summary.roster_rows, "row"),
        count(summary.roster_matched_users, "user")
    )
}

async fn review_command(
    settings: &Settings,
    args: ReviewArgs,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let request = ReviewRequest {
        as_of: as_of(settings, args.as_of.as_deref(), clock)?,
        cadence: args.cadence,
        org_ids: args.orgs,
        out_dir: args.out.unwrap_or_else(|| settings.review.out_dir.clone()),
        send: args.send,
    };
    let fail_on = args.fail_on;
    let store = open_for_writing(settings, clock).await?;
    if store.account_counts().await?.organizations == 0 {
        store.close().await;
        return Err(UsageError(
            "the store is empty: import a snapshot first (posc-review import DIR)".into(),
        )
        .into());
    }
    let outcome = review::run_review(&store, settings, &request, clock).await;
    store.close().await;
    let outcome = outcome?;
    unless_closed(match args.format {
        OutputFormat::Json => outln!("{}", json_in_zone(&outcome, settings.review.time_zone)?),
        OutputFormat::Text => print_review(&outcome),
    })?;
    for problem in &outcome.problems {
        eprintln!(
            "warning: {}: no workbook or messages: {}",
            problem.org_id, problem.error
        );
    }
    if let Some(error) = &outcome.run.error {
        anyhow::bail!("the review completed, but {error}");
    }
    if let Some(delivery) = &outcome.mail.delivery {
        let undelivered = delivery.retrying + delivery.failed;
        if undelivered > 0 {
            for error in &delivery.errors {
                eprintln!("  {error}");
            }
            anyhow::bail!(
                "the review completed, but {} not delivered; `posc-review send` retries them",
                were(undelivered, "message")
            );
        }
    }
    if !outcome.problems.is_empty() {
        anyhow::bail!(
            "the review completed for the other organizations, but the output of {} could not be produced (listed above and in summary.html): correct their data, import again and review them again",
            count(outcome.problems.len(), "organization")
        );
    }
    let Some(threshold) = fail_on else {
        return Ok(());
    };
    let at_or_above: usize = outcome
        .unaccepted_by_severity
        .range(threshold..)
        .map(|(_, n)| n)
        .sum();
    if at_or_above > 0 {
        return Err(FindingsAtOrAbove {
            count: at_or_above,
            threshold,
        }
        .into());
    }
    Ok(())
}

/// "1 message was", "2 messages were".
fn were(n: usize, singular: &str) -> String {
    format!(
        "{} {}",
        count(n, singular),
        if n == 1 { "was" } else { "were" }
    )
}

fn scope_text(run: &RunRecord) -> String {
    match (&run.cadence, run.org_ids.is_empty()) {
        (None, true) => "every organization".into(),
        (Some(c), true) => format!("{c} organizations"),
        (None, false) => run.org_ids.join(", "),
        (Some(c), false) => format!("{c} organizations among {}", run.org_ids.join(", ")),
    }
}

fn severity_line(run: &RunRecord) -> String {
    let parts: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .map(|s| {
            format!(
                "{} {}",
                run.counts.by_severity.get(s).copied().unwrap_or(0),
                s
            )
        })
        .collect();
    parts.join(", ")
}

/// The counts of a run: findings by severity, then by status.
fn print_counts(run: &RunRecord) -> anyhow::Result<()> {
    outln!(
        "  {}: {}",
        count(run.counts.findings, "finding"),
        severity_line(run)
    )?;
    outln!(
        "  {} new, {} open, {} accepted; {} resolved since each organization's last review",
        run.counts.new,
        run.counts.open,
        run.counts.accepted,
        run.counts.resolved
    )
}

fn print_review(outcome: &ReviewOutcome) -> anyhow::Result<()> {
    let run = &outcome.run;
    outln!(
        "Review {} completed: as of {}, {}",
        run.id,
        run.as_of,
        scope_text(run)
    )?;
    print_counts(run)?;
    outln!("Files in {}:", outcome.out_dir.display())?;
    for file in &outcome.files {
        outln!("  {}", file.display())?;
    }
    let mail = &outcome.mail;
    match &mail.delivery {
        Some(d) => outln!(
            "Mail: {} queued; {} sent, {} to retry, {} failed",
            count(mail.queued, "message"),
            d.sent,
            d.retrying,
            d.failed
        ),
        None => outln!(
            "Mail: {} written to {} (a dry run; --send delivers them)",
            count(mail.written, "message"),
            mail.written_to
                .as_deref()
                .unwrap_or(&outcome.out_dir)
                .display()
        ),
    }
}

async fn send_command(
    settings: &Settings,
    args: SendArgs,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let store = open_for_writing(settings, clock).await?;
    let zone = settings.review.time_zone;
    if args.list {
        let outbox = store.outbox(None).await;
        store.close().await;
        let outbox = outbox?;
        return match args.format {
            OutputFormat::Json => outln!("{}", json_in_zone(&outbox, zone)?),
            OutputFormat::Text => {
                let mut table = Table::new(&[
                    "STATE",
                    "ATTEMPTS",
                    "NEXT ATTEMPT",
                    "TO",
                    "SUBJECT / LAST ERROR",
                ])
                .right_aligned(&[1]);
                for m in &outbox {
                    table.row([
                        m.state.to_string(),
                        m.attempts.to_string(),
                        local_instant(m.next_attempt_at, zone),
                        m.to_addresses.join(", "),
                        m.last_error.clone().unwrap_or_else(|| m.subject.clone()),
                    ]);
                }
                table.print()
            }
        };
    }
    let delivered = deliver(store.as_ref(), settings, &args, clock).await;
    store.close().await;
    let (report, undelivered) = delivered?;
    for error in &report.errors {
        eprintln!("  {error}");
    }
    unless_closed(outln!(
        "Sent {}; undelivered in the outbox: {} to retry, {} failed for good, {} claimed by a sender that has not finished",
        count(report.sent, "message"),
        undelivered.pending,
        undelivered.failed,
        undelivered.sending
    ))?;
    if undelivered.total() > 0 {
        anyhow::bail!(
            "{} not delivered (`posc-review send --list` shows the outbox{})",
            were(undelivered.total(), "message"),
            if undelivered.failed > 0 {
                "; `send --retry-failed` queues those that failed for good again"
            } else {
                ""
            }
        );
    }
    Ok(())
}

/// One delivery pass, then what the whole outbox still holds: messages that failed for good
/// in an earlier pass, or were left `sending` by a sender that died, count as undelivered.
async fn deliver(
    store: &dyn Store,
    settings: &Settings,
    args: &SendArgs,
    clock: &SharedClock,
) -> anyhow::Result<(crate::mail::DeliveryReport, crate::store::Undelivered)> {
    if args.retry_failed {
        let requeued = store.requeue_failed(clock.now()).await?;
        unless_closed(outln!(
            "Requeued {} that had failed",
            count(requeued, "message")
        ))?;
    }
    // Alerts first, so they go out in this pass (`send` from cron is an unattended operator).
    match crate::alerts::raise(store, settings, clock).await {
        Ok(0) => {}
        Ok(n) => unless_closed(outln!(
            "Queued {} to mail.operator",
            count(n, "operator alert")
        ))?,
        Err(e) => eprintln!("warning: cannot raise the operator alerts: {e:#}"),
    }
    let report =
        crate::mail::deliver_pending(store, &settings.smtp, &settings.mail, clock, args.now)
            .await?;
    // After the pass, so that a slow purge never holds up the mail.
    match crate::mail::purge_sent(store, &settings.mail, clock.now()).await {
        Ok(0) => {}
        Ok(n) => unless_closed(outln!(
            "Deleted the texts of {} sent more than {} days ago (mail.keep_sent_days)",
            count(n, "message"),
            settings.mail.keep_sent_days
        ))?,
        Err(e) => eprintln!("warning: cannot delete the texts of sent mail: {e:#}"),
    }
    Ok((report, store.undelivered_mail().await?))
}

async fn remind_command(
    settings: &Settings,
    args: RemindArgs,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let request = crate::remind::RemindRequest {
        as_of: as_of(settings, args.as_of.as_deref(), clock)?,
        send: args.send,
        out_dir: args.out.unwrap_or_else(|| settings.review.out_dir.clone()),
    };
    let store = open_for_writing(settings, clock).await?;
    let outcome = async {
        let mut outcome = crate::remind::remind(store.as_ref(), settings, &request, clock).await?;
        if outcome.queued > 0 {
            let queued = outcome.queued;
            outcome.delivery =
                Some(crate::mail::deliver_queued(store.as_ref(), settings, clock, queued).await);
        }
        anyhow::Ok(outcome)
    }
    .await;
    store.close().await;
    let outcome = outcome?;
    unless_closed(match args.format {
        OutputFormat::Json => outln!("{}", json_in_zone(&outcome, settings.review.time_zone)?),
        OutputFormat::Text => print_remind(&outcome, settings, request.as_of),
    })?;
    for problem in &outcome.problems {
        eprintln!(
            "warning: {}: no reminders or escalation: {}",
            problem.org_id, problem.error
        );
    }
    if let Some(delivery) = &outcome.delivery {
        let undelivered = delivery.retrying + delivery.failed;
        if undelivered > 0 {
            for error in &delivery.errors {
                eprintln!("  {error}");
            }
            anyhow::bail!(
                "{} not delivered; `posc-review send` retries them",
                were(undelivered, "message")
            );
        }
    }
    if !outcome.problems.is_empty() {
        anyhow::bail!(
            "the messages of {} could not be made (listed above): correct their data, import again and run remind again",
            count(outcome.problems.len(), "organization")
        );
    }
    Ok(())
}

fn print_remind(
    outcome: &crate::remind::RemindOutcome,
    settings: &Settings,
    as_of: NaiveDate,
) -> anyhow::Result<()> {
    let kind_count = |kind: &str| outcome.messages.iter().filter(|m| m.kind == kind).count();
    let (reminders, escalations) = (
        kind_count(crate::store::REMINDER_KIND),
        kind_count(crate::store::ESCALATION_KIND),
    );
    if outcome.messages.is_empty() {
        return outln!(
            "Nothing to send as of {as_of}: no PID/SL has findings undecided {} days after its organization's latest review that were not reminded of already (escalation after {} days)",
            settings.review.remind_after_days,
            settings.review.escalate_after_days
        );
    }
    let what = format!(
        "{} and {}",
        count(reminders, "reminder"),
        count(escalations, "escalation")
    );
    match &outcome.delivery {
        Some(d) => outln!(
            "As of {as_of}: {what} queued; {} sent, {} to retry, {} failed",
            d.sent,
            d.retrying,
            d.failed
        )?,
        None => {
            outln!("As of {as_of}: {what} to send (a dry run; --send queues and delivers them)")?
        }
    }
    let mut table = Table::new(&["KIND", "REVIEW", "DAYS", "ORG", "ABOUT", "UNDECIDED", "TO"])
        .right_aligned(&[2, 5]);
    for m in &outcome.messages {
        table.row([
            m.kind.to_string(),
            m.run_id.clone(),
            m.days.to_string(),
            m.org_id.clone(),
            m.recipient.clone(),
            m.undecided.to_string(),
            m.to.join(", "),
        ]);
    }
    table.print()?;
    match &outcome.preview_dir {
        Some(dir) => outln!("Previews (.eml) in {}", dir.display()),
        None => Ok(()),
    }
}

async fn runs_command(settings: &Settings, args: RunsArgs) -> anyhow::Result<()> {
    let store = open(settings).await?;
    let runs = match &args.run_id {
        Some(id) => vec![store
            .run(id)
            .await?
            .ok_or_else(|| UsageError(format!("no run {id:?}; `posc-review runs` lists them")))?],
        None => store.runs().await?,
    };
    store.close().await;
    let zone = settings.review.time_zone;
    match (args.format, &args.run_id) {
        (OutputFormat::Json, Some(_)) => outln!("{}", json_in_zone(&runs[0], zone)?),
        (OutputFormat::Json, None) => outln!("{}", json_in_zone(&runs, zone)?),
        (OutputFormat::Text, Some(_)) => {
            let run = &runs[0];
            outln!("Run {} ({})", run.id, run.status.as_str())?;
            outln!("  as of {}, {}", run.as_of, scope_text(run))?;
            outln!(
                "  started {}, finished {}",
                local_instant(run.started_at, zone),
                run.finished_at
                    .map_or_else(|| "-".into(), |t| local_instant(t, zone))
            )?;
            if let Some(error) = &run.error {
                outln!("  error: {error}")?;
            }
            print_counts(run)?;
            let mut table = Table::new(&["RULE", "FINDINGS"]).right_aligned(&[1]);
            let mut by_rule: Vec<_> = run.counts.by_rule.iter().collect();
            by_rule.sort_by_key(|(rule, _)| rule.as_str());
            for (rule, n) in by_rule {
                table.row([rule.to_string(), n.to_string()]);
            }
            table.print()?;
            match &run.out_dir {
                Some(dir) => outln!("  files in {dir}"),
                None => Ok(()),
            }
        }
        (OutputFormat::Text, None) if runs.is_empty() => {
            outln!("No runs yet: `posc-review review` starts one.")
        }
        (OutputFormat::Text, None) => {
            let mut table = Table::new(&[
                "RUN", "STATUS", "AS OF", "STARTED", "SCOPE", "FINDINGS", "NEW", "OPEN",
                "ACCEPTED", "RESOLVED",
            ])
            .right_aligned(&[5, 6, 7, 8, 9]);
            for run in &runs {
                table.row([
                    run.id.clone(),
                    run.status.as_str().to_string(),
                    run.as_of.to_string(),
                    local_instant(run.started_at, zone),
                    scope_text(run),
                    run.counts.findings.to_string(),
                    run.counts.new.to_string(),
                    run.counts.open.to_string(),
                    run.counts.accepted.to_string(),
                    run.counts.resolved.to_string(),
                ]);
            }
            table.print()
        }
    }
}

/// `status`: read only, the store opened as `runs` opens it (no runs reconciled). The output
/// is written whatever the verdict; the exit status says it.
async fn status_command(
    settings: &Settings,
    args: StatusArgs,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let store = open(settings).await?;
    let status = crate::status::gather(store.as_ref(), settings, clock.now()).await;
    store.close().await;
    let status = status?;
    let zone = settings.review.time_zone;
    let text = match args.format {
        StatusFormat::Text => {
            crate::status::text(&status, zone, &redact_url(&settings.database.url))
        }
        StatusFormat::Json => format!("{}\n", json_in_zone(&status, zone)?),
        StatusFormat::Prometheus => crate::status::prometheus(&status),
    };
    match &args.output {
        Some(path) => crate::status::write_atomically(path, &text)?,
        None => unless_closed(outln!("{}", text.trim_end()))?,
    }
    if status.healthy {
        return Ok(());
    }
    let listed = args.output.is_some() || args.format == StatusFormat::Prometheus;
    Err(crate::error::NeedsAttention {
        problems: status.problems.len(),
        hint: if listed {
            ": `posc-review status` lists them".into()
        } else {
            String::new()
        },
    }
    .into())
}

async fn findings_command(settings: &Settings, args: FindingsArgs) -> anyhow::Result<()> {
    let filter = FindingsFilter::parse(&args)?;
    let store = open(settings).await?;
    let run = match &args.run {
        Some(id) => store
            .run(id)
            .await?
            .ok_or_else(|| UsageError(format!("no run {id:?}; `posc-review runs` lists them")))?,
        None => store.latest_completed_run().await?.ok_or_else(|| {
            UsageError("no completed run yet: `posc-review review` starts one".into())
        })?,
    };
    let findings = store.findings(&run.id, args.rule, args.status).await;
    store.close().await;
    let mut findings: Vec<FindingRow> = findings?.into_iter().filter(|f| filter.keeps(f)).collect();
    // Most severe first, then by organization, PID/SL and user: the order a reviewer works in.
    findings.sort_by_cached_key(|f| {
        (
            std::cmp::Reverse(f.severity),
            f.org_id.clone(),
            f.pidsl.clone(),
            f.username.to_lowercase(),
            f.rule.as_str(),
        )
    });
    print_findings(&findings, args.format, settings.review.time_zone)
}

/// `findings --org --pidsl --user --severity`: exact organization and PID/SL, the username
/// case-insensitively, and a severity at or above the one given.
struct FindingsFilter {
    org: Option<String>,
    pidsl: Option<PidSl>,
    user: Option<String>,
    severity: Option<Severity>,
}

impl FindingsFilter {
    fn parse(args: &FindingsArgs) -> anyhow::Result<FindingsFilter> {
        Ok(FindingsFilter {
            org: args.org.as_deref().map(|o| o.trim().to_string()),
            pidsl: args
                .pidsl
                .as_deref()
                .map(PidSl::parse)
                .transpose()
                .map_err(|e| UsageError(format!("--pidsl: {e}")))?,
            user: args.user.as_deref().map(|u| u.trim().to_lowercase()),
            severity: args.severity,
        })
    }

    fn keeps(&self, f: &FindingRow) -> bool {
        self.org.as_ref().is_none_or(|o| &f.org_id == o)
            && self.pidsl.as_ref().is_none_or(|p| f.pidsl == p.as_str())
            && self
                .user
                .as_ref()
                .is_none_or(|u| f.username.to_lowercase() == *u)
            && self.severity.is_none_or(|s| f.severity >= s)
    }
}

fn print_findings(
    findings: &[FindingRow],
    format: FindingsFormat,
    zone: chrono_tz::Tz,
) -> anyhow::Result<()> {
    match format {
        FindingsFormat::Json => outln!("{}", json_in_zone(&findings, zone)?),
        FindingsFormat::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout().lock());
            out.write_record(crate::report::csv::FINDINGS_COLUMNS)
                .map_err(crate::output::csv_stdout_error)?;
            for row in findings {
                out.write_record(crate::report::csv::finding_record(row).iter())
                    .map_err(crate::output::csv_stdout_error)?;
            }
            out.flush().map_err(crate::output::stdout_error)
        }
        FindingsFormat::Text => {
            let mut table = Table::new(&[
                "SEVERITY", "STATUS", "RULE", "ORG", "PID/SL", "USERNAME", "DETAIL",
            ]);
            for f in findings {
                table.row([
                    f.severity.as_str(),
                    f.status.as_str(),
                    f.rule.as_str(),
                    &f.org_id,
                    &f.pidsl,
                    &f.username,
                    &f.detail,
                ]);
            }
            table.print()?;
            outln!("{}", count(findings.len(), "finding"))
        }
    }
}

async fn schedule_command(settings: Settings, args: ScheduleArgs) -> anyhow::Result<()> {
    use crate::schedule::{self, StartedAt};
    let clock: SharedClock = match args.now.as_deref() {
        Some(text) => {
            let start = DateTime::parse_from_rfc3339(text).map_err(|e| {
                UsageError(format!(
                    "--now / POSC_REVIEW_NOW {text:?}: {e}; expected RFC 3339"
                ))
            })?;
            Arc::new(StartedAt::new(start.with_timezone(&chrono::Utc)))
        }
        None => Arc::new(SystemClock),
    };
    let options = schedule::Options {
        out_dir: args.out.unwrap_or_else(|| settings.review.out_dir.clone()),
        grace: std::time::Duration::from_secs(args.grace_period),
    };
    let signals = schedule::Signals::install()?;
    let store = open_for_writing(&settings, &clock).await?;
    let result = schedule::run(store.clone(), Arc::new(settings), clock, options, signals).await;
    store.close().await;
    result
}

async fn demo_command(
    settings: &Settings,
    args: DemoArgs,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let as_of = as_of(settings, args.as_of.as_deref(), clock)?;
    let counts = match args.scale {
        Some(0) => return Err(UsageError("--scale must be at least 1".into()).into()),
        Some(n) => crate::demo::write_scale(
            &args.snapshot,
            n,
            args.profile.unwrap_or_default(),
            args.seed,
            as_of,
        )?,
        None => crate::demo::write_tour(&args.snapshot, as_of)?,
    };
    outln!(
        "Wrote a demo snapshot to {}: {}",
        args.snapshot.display(),
        account_counts([
            counts.organizations,
            counts.pidsls,
            counts.users,
            counts.access_rows
        ])
    )?;
    if args.no_import {
        return Ok(());
    }
    let store = open_for_writing(settings, clock).await?;
    let demo_orgs = crate::demo::org_ids(&args.snapshot)?;
    let foreign: Vec<String> = store
        .org_ids()
        .await?
        .into_iter()
        .filter(|id| !demo_orgs.contains(id))
        .collect();
    if !foreign.is_empty() && !args.force {
        return Err(UsageError(format!(
            "{} already holds other organizations ({}, ...); the demo would replace them. \
             Use another database (--database-url sqlite://demo.db) or --force",
            redact_url(&settings.database.url),
            foreign[0]
        ))
        .into());
    }
    let summary = import::import_dir(
        &store,
        &import_settings(settings),
        &args.snapshot,
        false,
        clock,
    )
    .await?;
    print_import(&summary, &args.snapshot, &settings.database.url)?;
    let request = ReviewRequest {
        as_of,
        cadence: None,
        org_ids: Vec::new(),
        out_dir: settings.review.out_dir.clone(),
        send: false,
    };
    let outcome = review::run_review(&store, settings, &request, clock).await?;
    store.close().await;
    print_review(&outcome)?;
    outln!()?;
    outln!("Next: `posc-review findings --rule stale-user`, `posc-review runs {}`, or open the files above.", outcome.run.id)
}
