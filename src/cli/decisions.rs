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
