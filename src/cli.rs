//! The command line: clap definitions only.

use crate::domain::{Cadence, FindingStatus, RuleId, Severity};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

mod accounts;
mod decisions;
pub use accounts::*;
pub use decisions::*;

/// Access-compliance reviews for the MassHealth Provider Online Service Center (POSC).
///
/// posc-review keeps a minimal account store (organizations, PID/SLs, users, their access and
/// services), loads it from CSV exports, and reviews it against the Primary User Policy: missing
/// backup Primary Users, terminated or stale users who still have access, over-broad grants, and
/// more. Each review writes findings.csv, access.csv, a workbook and a summary into
/// OUT/<run-id>/.
///
/// Start with `posc-review demo` for a tour on a demo snapshot.
#[derive(Debug, Parser)]
#[command(
    name = "posc-review",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// A configuration file with the keys to change from the defaults (see config/default.toml).
    #[arg(long, global = true, value_name = "FILE", env = "POSC_REVIEW_CONFIG")]
    pub config: Option<PathBuf>,

    /// The database: sqlite://FILE (created if missing) or postgres://USER@HOST/DB.
    /// Overrides database.url of the configuration.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Log format on stderr: text for people, json for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindingsFormat {
    Text,
    Csv,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database, or migrate it to this version's schema.
    Init,

    /// Load a CSV snapshot (organizations.csv, pidsls.csv, users.csv, and optionally access.csv
    /// and roster.csv) from DIR.
    ///
    /// Every file is validated before anything is written; each problem is reported as
    /// FILE:LINE: column: message and, on any error, the store is left exactly as it was (exit
    /// status 2). By default the snapshot replaces the account store; review history is never
    /// touched.
    Import(ImportArgs),

    /// Run one review and write its outputs into OUT/<run-id>/.
    ///
    /// Without --cadence or --org it reviews every organization. Exit status: 0 done; 1 failed;
    /// 2 bad usage; 3 with --fail-on, when findings at or above that severity exist.
    Review(ReviewArgs),

    /// Deliver the mail waiting in the outbox (due retries, or every pending message with
    /// --now).
    ///
    /// Each message is sent at most once per key (run, kind, recipient). A failure is retried
    /// with exponential backoff up to mail.max_attempts; a permanent refusal is not retried.
    /// Exit status 1 when a message could not be delivered.
    Send(SendArgs),

    /// List the review runs, or show one run's summary.
    Runs(RunsArgs),

    /// Query the findings of a run (the latest completed run by default), most severe first, then
    /// by organization, PID/SL and user.
    Findings(FindingsArgs),

    /// The account store's job-aid operations (create, link, update services, reset password,
    /// remove, deactivate, reactivate, set backup), checked against the Primary User Policy and
    /// recorded in an audit log.
    Accounts(AccountsArgs),

    /// Reviewer decisions: import a reviewed workbook or CSV, list what was decided, apply the
    /// Fix in POSC decisions that remove access.
    Decisions(DecisionsArgs),

    /// Remind the Primary Users of findings nobody has decided, and escalate to management.
    ///
    /// For each organization's latest review: from review.remind_after_days (14) after it, the
    /// Primary User and backup of each PID/SL with undecided findings (new or open, no
    /// decision) get one reminder listing them, with the POSC steps and the PID/SL's decision
    /// workbook to fill in; from review.escalate_after_days (30), the organization's
    /// management_emails get one escalation listing those PID/SLs, their counts and their
    /// administrators. Findings decided meanwhile (`decisions import`) are left out; nothing is
    /// sent for a PID/SL without undecided findings. Each message is queued once (key
    /// <run-id>:reminder:<pidsl> or <run-id>:escalation:<org-id>), so running it daily, or
    /// beside `schedule` (which runs this pass itself at each midnight), sends nothing twice.
    ///
    /// Without --send it is a dry run: the messages are written as .eml files into
    /// OUT/reminders-<as-of>-NNN/ and nothing is recorded. Exit status: 0 done; 1 a message was
    /// not delivered (`posc-review send` retries it) or an organization's messages could not be
    /// made; 2 bad usage.
    Remind(RemindArgs),

    /// Run as a long-lived scheduler: one review per cadence period, on the [schedule] cron
    /// expressions in review.time_zone.
    ///
    /// Each period (e.g. quarterly:2026-Q4) is claimed in the database before it is reviewed, so
    /// a restarted or second scheduler on the same database neither skips nor repeats it. At
    /// start, a period whose time passed without a completed review is reviewed at once
    /// (catch-up). SIGINT or SIGTERM stops it: no new reviews start, a review in progress gets
    /// --grace-period seconds to finish, and is otherwise abandoned and recorded as failed (the
    /// next start reviews that period again).
    Schedule(ScheduleArgs),

    /// Whether unattended operation is healthy, for people and for monitoring: the store, each
    /// cadence's last run and next due instant, claims failed or running, the outbox, and the
    /// problems that need attention, each with what to run.
    ///
    /// Meant to be run by a monitoring system (a Nagios-style check, or cron writing
    /// --format prometheus --output FILE for node_exporter's textfile collector). It only reads
    /// the store. Exit status: 0 healthy; 1 something needs attention (the last run of a cadence
    /// failed, a period is overdue with no completed review, a claim failed or its scheduler
    /// died, mail failed for good or waited past mail.alert_pending_hours) or the store could
    /// not be read; the output is written either way.
    Status(StatusArgs),

    /// The one-command tour: write a demo snapshot, import it and review it.
    ///
    /// The snapshot is a group practice with four sites, a billing intermediary whose staff are
    /// linked to them, a nursing home and a hospital, with planted problems so that every rule
    /// fires. With --scale N it writes a large synthetic snapshot instead (N PID/SLs, about 10
    /// users and 40 access rows each) for benchmarks.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The folder holding the CSV files.
    pub dir: PathBuf,

    /// Upsert by key into the existing store instead of replacing it.
    #[arg(long)]
    pub merge: bool,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Review only the organizations on this cadence.
    #[arg(long, value_enum)]
    pub cadence: Option<Cadence>,

    /// Review only this organization (repeatable).
    #[arg(long = "org", value_name = "ORG_ID")]
    pub orgs: Vec<String>,

    /// The review date (YYYY-MM-DD); default today in review.time_zone.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,

    /// The folder for OUT/<run-id>/ (default review.out_dir).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Queue the run's mail in the outbox and deliver it over SMTP. Without it the messages
    /// are written as .eml files into OUT/<run-id>/mail/, or into OUT/<run-id>/mail.zip when
    /// the run has more than 1,000 messages (a dry run).
    #[arg(long)]
    pub send: bool,

    /// Exit with status 3 when findings at or above this severity exist.
    #[arg(long, value_name = "SEVERITY", value_enum)]
    pub fail_on: Option<Severity>,

    /// The summary on stdout: text, or json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// Deliver every pending message now, ignoring the retry schedule.
    #[arg(long)]
    pub now: bool,

    /// Put messages that failed for good back in the queue first.
    #[arg(long)]
    pub retry_failed: bool,

    /// List the outbox instead of sending.
    #[arg(long)]
    pub list: bool,

    /// The outbox listing: text, or json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct RemindArgs {
    /// The pass's date (YYYY-MM-DD): days are counted from each review's date to it; default
    /// today in review.time_zone.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,

    /// Queue the reminders and escalations in the outbox and deliver them over SMTP. Without
    /// it they are written as .eml files into OUT/reminders-<as-of>-NNN/ (a dry run).
    #[arg(long)]
    pub send: bool,

    /// The folder for the dry run's OUT/reminders-<as-of>-NNN/, beside the reviews'
    /// OUT/<run-id>/ (default review.out_dir).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// What was sent, or would be: text, or json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Show this run's summary instead of the list.
    pub run_id: Option<String>,

    /// text for people (times in review.time_zone), or json for scripts (RFC 3339 times).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct FindingsArgs {
    /// The run (default: the latest completed run).
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run: Option<String>,

    /// Only this rule, e.g. stale-user.
    #[arg(long, value_enum, ignore_case = true)]
    pub rule: Option<RuleId>,

    /// Only this status.
    #[arg(long, value_parser = stored_finding_status())]
    pub status: Option<FindingStatus>,

    /// Only the findings of this organization.
    #[arg(long, value_name = "ORG_ID")]
    pub org: Option<String>,

    /// Only the findings on this PID/SL, e.g. 110012345A.
    #[arg(long, value_name = "PIDSL")]
    pub pidsl: Option<String>,

    /// Only the findings about this user (case-insensitive).
    #[arg(long, value_name = "USERNAME")]
    pub user: Option<String>,

    /// Only the findings at or above this severity.
    #[arg(long, value_name = "SEVERITY", value_enum)]
    pub severity: Option<Severity>,

    /// text for people, csv (the columns of findings.csv), or json for scripts.
    #[arg(long, value_enum, default_value_t = FindingsFormat::Text)]
    pub format: FindingsFormat,
}

/// The statuses a stored finding has (`resolved` is counted, never stored).
fn stored_finding_status() -> impl TypedValueParser<Value = FindingStatus> {
    use FindingStatus::{Accepted, New, Open, Suppressed};
    PossibleValuesParser::new([New, Open, Accepted, Suppressed].map(FindingStatus::as_str))
        .map(|text| FindingStatus::parse(&text).expect("one of the possible values"))
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The folder for OUT/<run-id>/ (default review.out_dir).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Seconds a review in progress may take to finish after SIGINT/SIGTERM before it is
    /// abandoned (and recorded as failed).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub grace_period: u64,

    /// Testing aid: the scheduler's clock starts at this RFC 3339 instant and runs on from it.
    #[arg(long, hide = true, value_name = "INSTANT", env = "POSC_REVIEW_NOW")]
    pub now: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
    Prometheus,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// text for people (times in review.time_zone), json for scripts (RFC 3339 times), or
    /// prometheus: metrics named posc_review_* in the text exposition format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    pub format: StatusFormat,

    /// Write to FILE instead of stdout, atomically (a temporary file in the same folder, then
    /// renamed), as node_exporter's textfile collector requires, e.g.
    /// /var/lib/node_exporter/textfile_collector/posc_review.prom.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The folder the demo snapshot (its CSV files) is written to. The review's reports go
    /// to review.out_dir, as for `review`.
    #[arg(long, value_name = "DIR", default_value = "demo")]
    pub snapshot: PathBuf,

    /// Write a synthetic snapshot of N PID/SLs instead of the tour (about 10 users and 40 access
    /// rows per PID/SL).
    #[arg(long, value_name = "N")]
    pub scale: Option<usize>,

    /// The shape of --scale: default (organizations of 1 to 20 PID/SLs, about 2.7 findings per
    /// PID/SL) or dense (organizations of 5 PID/SLs, about 7 findings per PID/SL).
    #[arg(long, value_enum, value_name = "PROFILE", requires = "scale")]
    pub profile: Option<crate::demo::ScaleProfile>,

    /// The random seed of --scale (the same seed writes the same files).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// The review date the demo data is built around (default today).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,

    /// Only write the CSV files; do not import or review them.
    #[arg(long)]
    pub no_import: bool,

    /// Replace the account store even if it holds organizations that are not the demo's.
    #[arg(long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every argument of `command` and of its subcommands, with the subcommand path.
    fn arguments(command: &clap::Command, path: &str) -> Vec<(String, clap::Arg)> {
        let mut all: Vec<(String, clap::Arg)> = command
            .get_arguments()
            .map(|a| (path.to_string(), a.clone()))
            .collect();
        for sub in command.get_subcommands() {
            all.extend(arguments(sub, &format!("{path} {}", sub.get_name())));
        }
        all
    }

    #[test]
    fn every_argument_of_every_subcommand_has_help() {
        let undocumented: Vec<String> = arguments(&Cli::command(), "posc-review")
            .into_iter()
            .filter(|(_, arg)| arg.get_help().is_none())
            .map(|(path, arg)| format!("{path} {}", arg.get_id()))
            .collect();
        assert_eq!(undocumented, Vec::<String>::new());
    }

    #[test]
    fn out_always_names_the_reports_folder_and_demo_has_snapshot_instead() {
        let all = arguments(&Cli::command(), "posc-review");
        let outs: Vec<&(String, clap::Arg)> = all
            .iter()
            .filter(|(_, a)| a.get_long() == Some("out"))
            .collect();
        assert!(outs.len() >= 2, "review and schedule take --out");
        for (path, arg) in outs {
            let help = arg.get_help().unwrap().to_string();
            assert!(help.contains("OUT/<run-id>/"), "{path} --out: {help}");
        }
        assert!(all
            .iter()
            .any(|(path, a)| path == "posc-review demo" && a.get_long() == Some("snapshot")));
    }
}
