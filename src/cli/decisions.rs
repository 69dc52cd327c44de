//! `posc-review decisions ...`: clap definitions of the reviewer-decision commands.

use super::OutputFormat;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DecisionsArgs {
    #[command(subcommand)]
    pub command: DecisionsCommand,
}

/// Reviewer decisions on a run's findings: Fix in POSC, Accept risk, Not a problem.
#[derive(Debug, Subcommand)]
pub enum DecisionsCommand {
    /// Record the decisions of a reviewed workbook (its Findings sheets' Decision and
    /// Justification columns) or of a CSV (fingerprint, run_id, decision, justification,
    /// reviewer, accepted_until). Every row is checked first: one bad row records nothing.
    Import(DecisionsImportArgs),

    /// List the recorded decisions.
    List(DecisionsListArgs),

    /// Make a run's Fix in POSC decisions on removal findings take effect in this store:
    /// terminated-user-access and expired-link remove the user from the PID/SL,
    /// terminated-user-active and stale-user deactivate the user ID. Each goes through the same
    /// policy checks and audit log as `posc-review accounts`, acting as --by, and the command
    /// prints the POSC steps to do the same there. A decision already in effect is skipped; a
    /// refused one is reported with the reason (exit status 2), the others still apply. Fix in
    /// POSC on other findings is listed with its steps, to be done in the POSC.
    Apply(DecisionsApplyArgs),
}

#[derive(Debug, Args)]
pub struct DecisionsApplyArgs {
    /// The run whose decisions to apply (the latest completed run by default).
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run: Option<String>,

    /// The username acting, as in `posc-review accounts --by`: an active Primary User or
    /// backup of each PID/SL concerned (for a deactivation, of a PID/SL of the user's
    /// organization).
    #[arg(long, value_name = "USERNAME")]
    pub by: String,

    /// Check every decision against the policy and show what would be done, changing nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// text for people, or json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct DecisionsImportArgs {
    /// The reviewed review-<run-id>.xlsx (or an organization's workbook, or a PID/SL's
    /// decide-<run-id>-<pidsl>.xlsx), or a .csv file.
    pub file: PathBuf,

    /// Who decided, for rows without a reviewer column or value.
    #[arg(long, value_name = "NAME")]
    pub reviewer: Option<String>,

    /// text for people, or json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct DecisionsListArgs {
    /// Only the decisions on this run's findings.
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run: Option<String>,

    /// text for people, or json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}
