//! `posc-review decisions import|list`.

use crate::cli::{DecisionsApplyArgs, DecisionsArgs, DecisionsCommand, OutputFormat};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::error::UsageError;
use crate::outln;
use crate::output::{count, json_in_zone, local_instant, Table};
use crate::store::Store;

pub async fn decisions_command(
    settings: &Settings,
    args: DecisionsArgs,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let store = super::open(settings).await?;
    let result = match args.command {
        DecisionsCommand::Import(args) => {
            let outcome = async {
                crate::review::reconcile_runs(store.as_ref(), clock.now()).await?;
                crate::decisions::import_decisions(
                    store.as_ref(),
                    &args.file,
                    args.reviewer.as_deref(),
                    clock.now(),
                    settings.review.max_accept_days,
                )
                .await
            }
            .await;
            outcome.and_then(|outcome| match args.format {
                OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&outcome)?),
                OutputFormat::Text => outln!(
                    "Recorded {} from {} ({} unchanged from an earlier import, {} without a decision)",
                    count(outcome.recorded, "decision"),
                    args.file.display(),
                    outcome.unchanged,
                    count(outcome.undecided, "row")
                ),
            })
        }
        DecisionsCommand::List(args) => {
            list(store.as_ref(), args.run.as_deref(), args.format, settings).await
        }
        DecisionsCommand::Apply(args) => apply(store.as_ref(), args, settings, clock).await,
    };
    store.close().await;
    result
}

async fn apply(
    store: &dyn Store,
    args: DecisionsApplyArgs,
    settings: &Settings,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    use crate::decisions::apply::{apply_decisions, report_text, Effect};
    crate::review::reconcile_runs(store, clock.now()).await?;
    let time = crate::accounts::OperationTime::read(clock.as_ref(), settings.review.time_zone);
    let report = apply_decisions(store, args.run.as_deref(), &args.by, &time, args.dry_run).await?;
    match args.format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&report)?)?,
        OutputFormat::Text => outln!("{}", report_text(&report).trim_end())?,
    }
    match report.count(Effect::Refused) {
        0 => Ok(()),
        refused => Err(UsageError(format!(
            "{} refused, the reasons above; the others {}",
            count(refused, "decision"),
            if args.dry_run {
                "would apply"
            } else {
                "were applied"
            }
        ))
        .into()),
    }
}

async fn list(
    store: &dyn Store,
    run: Option<&str>,
    format: OutputFormat,
    settings: &Settings,
) -> anyhow::Result<()> {
    if let Some(id) = run {
        store
            .run(id)
            .await?
            .ok_or_else(|| UsageError(format!("no run {id:?}; `posc-review runs` lists them")))?;
    }
    let decisions = store.decisions(run).await?;
    match format {
        OutputFormat::Json => outln!("{}", json_in_zone(&decisions, settings.review.time_zone)?),
        OutputFormat::Text if decisions.is_empty() => {
            outln!("No decisions recorded: `posc-review decisions import FILE` records them.")
        }
        OutputFormat::Text => {
            let mut table = Table::new(&[
                "FINGERPRINT",
                "RUN",
                "RULE",
                "ORG",
                "PID/SL",
                "USERNAME",
                "DECISION",
                "REVIEWER",
                "DECIDED AT",
                "UNTIL",
                "JUSTIFICATION",
            ]);
            for d in &decisions {
                table.row([
                    d.fingerprint.clone(),
                    d.run_id.clone(),
                    d.rule.to_string(),
                    d.org_id.clone(),
                    d.pidsl.clone(),
                    d.username.clone(),
                    d.decision.to_string(),
                    d.reviewer.clone(),
                    local_instant(d.decided_at, settings.review.time_zone),
                    d.accepted_until.map(|u| u.to_string()).unwrap_or_default(),
                    d.justification.clone(),
                ]);
            }
            table.print()
        }
    }
}
