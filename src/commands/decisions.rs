//! `posc-review decisions import|list`.

use crate::cli::{DecisionsArgs, DecisionsCommand, OutputFormat};
use crate::config::Settings;
use crate::error::UsageError;
use crate::store::Store;
use chrono::DateTime;
use chrono_tz::Tz;

pub async fn decisions_command(
    settings: &Settings,
    args: DecisionsArgs,
    now: DateTime<Tz>,
) -> anyhow::Result<()> {
    let store = Store::open(&settings.database.url).await?;
    let result = match args.command {
        DecisionsCommand::Import(args) => {
            let outcome = crate::decisions::import_decisions(
                &store,
                &args.file,
                args.reviewer.as_deref(),
                now,
                settings.review.max_accept_days,
            )
            .await;
            outcome.and_then(|outcome| {
                match args.format {
                    OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
                    OutputFormat::Text => println!(
                        "Recorded {} decisions from {} ({} unchanged from an earlier import, {} rows without a decision)",
                        outcome.recorded,
                        args.file.display(),
                        outcome.unchanged,
                        outcome.undecided
                    ),
                }
                Ok(())
            })
        }
        DecisionsCommand::List(args) => list(&store, args.run.as_deref(), args.format).await,
    };
    store.close().await;
    result
}

async fn list(store: &Store, run: Option<&str>, format: OutputFormat) -> anyhow::Result<()> {
    if let Some(id) = run {
        store
            .run(id)
            .await?
            .ok_or_else(|| UsageError(format!("no run {id:?}; `posc-review runs` lists them")))?;
    }
    let decisions = store.decisions(run).await?;
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&decisions)?),
        OutputFormat::Text if decisions.is_empty() => {
            println!("No decisions recorded: `posc-review decisions import FILE` records them.")
        }
        OutputFormat::Text => {
            println!(
                "{:<24} {:<14} {:<30} {:<12} {:<10} {:<14} {:<16} {:<12} {:<25} {:<10} JUSTIFICATION",
                "FINGERPRINT", "RUN", "RULE", "ORG", "PIDSL", "USERNAME", "DECISION", "REVIEWER", "DECIDED AT", "UNTIL"
            );
            for d in &decisions {
                println!(
                    "{:<24} {:<14} {:<30} {:<12} {:<10} {:<14} {:<16} {:<12} {:<25} {:<10} {}",
                    d.fingerprint,
                    d.run_id,
                    d.rule,
                    d.org_id,
                    d.pidsl,
                    d.username,
                    d.decision,
                    d.reviewer,
                    d.decided_at,
                    d.accepted_until.map(|u| u.to_string()).unwrap_or_default(),
                    d.justification
                );
            }
        }
    }
    Ok(())
}
