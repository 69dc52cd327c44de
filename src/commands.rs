//! One function per subcommand: load the settings, open the store, do the work, print what a
//! user needs to know (where the files went).

use crate::cli::{
    Cli, Command, DemoArgs, FindingsArgs, FindingsFormat, ImportArgs, OutputFormat, ReviewArgs,
    RunsArgs, ScheduleArgs, SendArgs,
};
use crate::config::Settings;
use crate::domain::{parse_date, Cadence, Severity};
use crate::error::{FindingsAtOrAbove, UsageError};
use crate::import::{self, ImportSummary};
use crate::review::{self, ReviewOutcome, ReviewRequest};
use crate::store::{redact_url, FindingRow, RunRecord, Store};
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use std::path::Path;

mod accounts;
mod decisions;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(url) = cli.database_url {
        settings.database.url = url;
    }
    match cli.command {
        Command::Init => init(&settings).await,
        Command::Import(args) => import_command(&settings, args).await,
        Command::Review(args) => review_command(&settings, args).await,
        Command::Send(args) => send_command(&settings, args).await,
        Command::Runs(args) => runs_command(&settings, args).await,
        Command::Findings(args) => findings_command(&settings, args).await,
        Command::Accounts(args) => {
            accounts::accounts_command(&settings, args, now(&settings)).await
        }
        Command::Decisions(args) => {
            decisions::decisions_command(&settings, args, now(&settings)).await
        }
        Command::Schedule(args) => schedule_command(settings, args).await,
        Command::Demo(args) => demo_command(&settings, args).await,
    }
}

fn now(settings: &Settings) -> DateTime<Tz> {
    chrono::Utc::now().with_timezone(&settings.review.time_zone)
}

/// `--as-of DATE`, or today in the configured time zone.
fn as_of(settings: &Settings, given: Option<&str>) -> anyhow::Result<NaiveDate> {
    match given {
        Some(text) => Ok(parse_date(text).map_err(|e| UsageError(format!("--as-of: {e}")))?),
        None => Ok(now(settings).date_naive()),
    }
}

async fn open(settings: &Settings) -> anyhow::Result<Store> {
    Store::open(&settings.database.url).await
}

/// Opens the store for a command that writes: first, runs whose process is gone are recorded
/// as failed and their partial folders removed ([`review::reconcile_runs`]).
pub(crate) async fn open_for_writing(settings: &Settings) -> anyhow::Result<Store> {
    let store = open(settings).await?;
    review::reconcile_runs(&store, now(settings)).await?;
    Ok(store)
}

async fn init(settings: &Settings) -> anyhow::Result<()> {
    let store = open_for_writing(settings).await?;
    let [orgs, pidsls, users, access] = store.account_counts().await?;
    println!("Database ready: {}", redact_url(&settings.database.url));
    println!("  {orgs} organizations, {pidsls} PID/SLs, {users} users, {access} access rows");
    store.close().await;
    Ok(())
}

async fn import_command(settings: &Settings, args: ImportArgs) -> anyhow::Result<()> {
    let store = open_for_writing(settings).await?;
    let summary = import::import_dir(&store, settings, &args.dir, args.merge).await?;
    print_import(&summary, &args.dir, &settings.database.url);
    store.close().await;
    Ok(())
}

fn print_import(summary: &ImportSummary, dir: &Path, url: &str) {
    for warning in summary.warnings.iter().take(50) {
        eprintln!("warning: {warning}");
    }
    if summary.warnings.len() > 50 {
        eprintln!(
            "warning: ... and {} more warnings",
            summary.warnings.len() - 50
        );
    }
    println!(
        "{} {} into {}:",
        if summary.merged { "Merged" } else { "Imported" },
        dir.display(),
        redact_url(url)
    );
    println!(
        "  {} organizations, {} PID/SLs, {} users, {} access rows; roster: {} rows matched {} users",
        summary.organizations, summary.pidsls, summary.users, summary.access_rows, summary.roster_rows, summary.roster_matched_users
    );
}

async fn review_command(settings: &Settings, args: ReviewArgs) -> anyhow::Result<()> {
    let request = ReviewRequest {
        as_of: as_of(settings, args.as_of.as_deref())?,
        cadence: args
            .cadence
            .as_deref()
            .map(Cadence::parse)
            .transpose()
            .map_err(UsageError)?,
        org_ids: args.orgs,
        out_dir: args.out.unwrap_or_else(|| settings.review.out_dir.clone()),
        send: args.send,
    };
    let fail_on = args
        .fail_on
        .as_deref()
        .map(Severity::parse)
        .transpose()
        .map_err(UsageError)?;
    let store = open_for_writing(settings).await?;
    let outcome = review::run_review(&store, settings, &request, now(settings)).await?;
    store.close().await;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
        OutputFormat::Text => print_review(&outcome),
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
                "the review completed, but {undelivered} messages were not delivered; `posc-review send` retries them"
            );
        }
    }
    match (fail_on, outcome.worst_unaccepted) {
        (Some(threshold), Some(worst)) if worst >= threshold => {
            Err(FindingsAtOrAbove(threshold).into())
        }
        _ => Ok(()),
    }
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
                run.counts.by_severity.get(s.as_str()).copied().unwrap_or(0),
                s
            )
        })
        .collect();
    parts.join(", ")
}

fn print_review(outcome: &ReviewOutcome) {
    let run = &outcome.run;
    println!(
        "Review {} completed: as of {}, {}",
        run.id,
        run.as_of,
        scope_text(run)
    );
    println!("  {} findings: {}", run.counts.findings, severity_line(run));
    println!(
        "  {} new, {} open, {} accepted; {} resolved since the previous run",
        run.counts.new, run.counts.open, run.counts.accepted, run.counts.resolved
    );
    println!("Files in {}:", outcome.out_dir.display());
    for file in &outcome.files {
        println!("  {}", file.display());
    }
    let mail = &outcome.mail;
    match &mail.delivery {
        Some(d) => println!(
            "Mail: {} messages queued; {} sent, {} to retry, {} failed",
            mail.queued, d.sent, d.retrying, d.failed
        ),
        None => println!(
            "Mail: {} messages written to {} (a dry run; --send delivers them)",
            mail.written,
            outcome.out_dir.join("mail").display()
        ),
    }
}

async fn send_command(settings: &Settings, args: SendArgs) -> anyhow::Result<()> {
    let store = open_for_writing(settings).await?;
    if args.list {
        let outbox = store.outbox(None).await?;
        store.close().await;
        match args.format {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&outbox)?),
            OutputFormat::Text => {
                println!(
                    "{:<8} {:>8} {:<24} {:<40} SUBJECT / LAST ERROR",
                    "STATE", "ATTEMPTS", "NEXT ATTEMPT", "TO"
                );
                for m in &outbox {
                    let note = m.last_error.as_deref().unwrap_or(&m.subject);
                    println!(
                        "{:<8} {:>8} {:<24} {:<40} {note}",
                        m.state,
                        m.attempts,
                        m.next_attempt_at,
                        m.to_addresses.join(", ")
                    );
                }
            }
        }
        return Ok(());
    }
    if args.retry_failed {
        let requeued = store.requeue_failed(chrono::Utc::now()).await?;
        println!("Requeued {requeued} failed messages");
    }
    let report = crate::mail::deliver_pending(&store, settings, args.now).await;
    store.close().await;
    let report = report?;
    println!(
        "Sent {} messages; {} will be retried; {} failed for good",
        report.sent, report.retrying, report.failed
    );
    for error in &report.errors {
        eprintln!("  {error}");
    }
    if report.retrying + report.failed > 0 {
        anyhow::bail!(
            "{} messages were not delivered (`posc-review send --list` shows the outbox)",
            report.retrying + report.failed
        );
    }
    Ok(())
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
    match (args.format, &args.run_id) {
        (OutputFormat::Json, Some(_)) => println!("{}", serde_json::to_string_pretty(&runs[0])?),
        (OutputFormat::Json, None) => println!("{}", serde_json::to_string_pretty(&runs)?),
        (OutputFormat::Text, Some(_)) => {
            let run = &runs[0];
            println!("Run {} ({})", run.id, run.status.as_str());
            println!("  as of {}, {}", run.as_of, scope_text(run));
            println!(
                "  started {}, finished {}",
                run.started_at,
                run.finished_at.as_deref().unwrap_or("-")
            );
            if let Some(error) = &run.error {
                println!("  error: {error}");
            }
            println!("  {} findings: {}", run.counts.findings, severity_line(run));
            println!(
                "  {} new, {} open, {} accepted; {} resolved since the previous run",
                run.counts.new, run.counts.open, run.counts.accepted, run.counts.resolved
            );
            for (rule, n) in &run.counts.by_rule {
                println!("    {rule:<34} {n}");
            }
            if let Some(dir) = &run.out_dir {
                println!("  files in {dir}");
            }
        }
        (OutputFormat::Text, None) if runs.is_empty() => {
            println!("No runs yet: `posc-review review` starts one.")
        }
        (OutputFormat::Text, None) => {
            println!(
                "{:<14} {:<10} {:<10} {:<28} {:>8} {:>6} {:>6} {:>8} {:>8}",
                "RUN",
                "STATUS",
                "AS OF",
                "SCOPE",
                "FINDINGS",
                "NEW",
                "OPEN",
                "ACCEPTED",
                "RESOLVED"
            );
            for run in &runs {
                println!(
                    "{:<14} {:<10} {:<10} {:<28} {:>8} {:>6} {:>6} {:>8} {:>8}",
                    run.id,
                    run.status.as_str(),
                    run.as_of.to_string(),
                    scope_text(run),
                    run.counts.findings,
                    run.counts.new,
                    run.counts.open,
                    run.counts.accepted,
                    run.counts.resolved
                );
            }
        }
    }
    Ok(())
}

async fn findings_command(settings: &Settings, args: FindingsArgs) -> anyhow::Result<()> {
    if let Some(rule) = &args.rule {
        crate::rules::RuleId::parse(rule).map_err(UsageError)?;
    }
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
    let findings = store
        .findings(&run.id, args.rule.as_deref(), args.status.as_deref())
        .await?;
    store.close().await;
    print_findings(&findings, args.format)
}

fn print_findings(findings: &[FindingRow], format: FindingsFormat) -> anyhow::Result<()> {
    match format {
        FindingsFormat::Json => println!("{}", serde_json::to_string_pretty(findings)?),
        FindingsFormat::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout().lock());
            out.write_record(crate::report::csv::FINDINGS_COLUMNS)?;
            for row in findings {
                out.write_record(crate::report::csv::finding_record(row).iter())?;
            }
            out.flush()?;
        }
        FindingsFormat::Text => {
            println!(
                "{:<9} {:<8} {:<32} {:<10} {:<10} {:<16} DETAIL",
                "SEVERITY", "STATUS", "RULE", "ORG", "PID/SL", "USERNAME"
            );
            for f in findings {
                println!(
                    "{:<9} {:<8} {:<32} {:<10} {:<10} {:<16} {}",
                    f.severity, f.status, f.rule, f.org_id, f.pidsl, f.username, f.detail
                );
            }
            println!("{} findings", findings.len());
        }
    }
    Ok(())
}

async fn schedule_command(settings: Settings, args: ScheduleArgs) -> anyhow::Result<()> {
    use crate::schedule::{self, Clock, StartedAt, SystemClock};
    let clock: std::sync::Arc<dyn Clock> = match args.now.as_deref() {
        Some(text) => {
            let start = DateTime::parse_from_rfc3339(text).map_err(|e| {
                UsageError(format!(
                    "--now / POSC_REVIEW_NOW {text:?}: {e}; expected RFC 3339"
                ))
            })?;
            std::sync::Arc::new(StartedAt::new(start.with_timezone(&chrono::Utc)))
        }
        None => std::sync::Arc::new(SystemClock),
    };
    let options = schedule::Options {
        out_dir: args.out.unwrap_or_else(|| settings.review.out_dir.clone()),
        grace: std::time::Duration::from_secs(args.grace_period),
    };
    let signals = schedule::Signals::install()?;
    let store = open_for_writing(&settings).await?;
    let result = schedule::run(
        store.clone(),
        std::sync::Arc::new(settings),
        clock,
        options,
        signals,
    )
    .await;
    store.close().await;
    result
}

async fn demo_command(settings: &Settings, args: DemoArgs) -> anyhow::Result<()> {
    let as_of = as_of(settings, args.as_of.as_deref())?;
    let counts = match args.scale {
        Some(0) => return Err(UsageError("--scale must be at least 1".into()).into()),
        Some(n) => crate::demo::write_scale(&args.out, n, args.seed, as_of)?,
        None => crate::demo::write_tour(&args.out, as_of)?,
    };
    println!(
        "Wrote a demo snapshot to {}: {} organizations, {} PID/SLs, {} users, {} access rows",
        args.out.display(),
        counts.organizations,
        counts.pidsls,
        counts.users,
        counts.access_rows
    );
    if args.no_import {
        return Ok(());
    }
    let store = open_for_writing(settings).await?;
    let demo_orgs = crate::demo::org_ids(&args.out)?;
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
    let summary = import::import_dir(&store, settings, &args.out, false).await?;
    print_import(&summary, &args.out, &settings.database.url);
    let request = ReviewRequest {
        as_of,
        cadence: None,
        org_ids: Vec::new(),
        out_dir: settings.review.out_dir.clone(),
        send: false,
    };
    let outcome = review::run_review(&store, settings, &request, now(settings)).await?;
    store.close().await;
    print_review(&outcome);
    println!();
    println!("Next: `posc-review findings --rule stale-user`, `posc-review runs {}`, or open the files above.", outcome.run.id);
    Ok(())
}
