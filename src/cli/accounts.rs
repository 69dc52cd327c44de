//! `posc-review accounts ...`: clap definitions of the job-aid operations.

use super::OutputFormat;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct AccountsArgs {
    #[command(subcommand)]
    pub command: AccountsCommand,
}

/// The Primary User's job-aid operations. Each one that changes something takes --by ACTOR,
/// is refused (exit status 2, with the policy reason) unless ACTOR is an active Primary User or
/// backup of the PID/SL, and is recorded in the audit log (`accounts history`).
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List a PID/SL's users, their roles and services (Subordinates Search).
    List(ListArgs),

    /// Show one user and their access; personal data is masked.
    Show(ShowArgs),

    /// Create a subordinate account on a PID/SL (the POSC's New Subordinate button). PORTAL is added.
    Create(CreateArgs),

    /// Give an existing user access to a PID/SL as a subordinate (Link Subordinate).
    Link(LinkArgs),

    /// Replace a user's services on a PID/SL (Update Subordinate: move services).
    UpdateServices(UpdateServicesArgs),

    /// Record a password reset for a user of a PID/SL (Reset Password). A Primary User cannot
    /// reset their own: MassHealth Customer Service does.
    ResetPassword(PidSlTargetArgs),

    /// Take away a user's access to one PID/SL; the user ID stays active (Remove).
    Remove(PidSlTargetArgs),

    /// Deactivate a user ID. ACTOR must be a Primary User or backup of a PID/SL of the user's
    /// organization.
    Deactivate(UserTargetArgs),

    /// Reactivate a user ID. ACTOR must be a Primary User or backup of a PID/SL of the user's
    /// organization.
    Reactivate(UserTargetArgs),

    /// Make a user the backup Primary User of a PID/SL with every service of the Primary User;
    /// a previous backup becomes a subordinate.
    SetBackup(PidSlTargetArgs),

    /// Show the audit log, or the events about one user.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The PID/SL whose users to list, e.g. 110012345A.
    #[arg(long, value_name = "PIDSL")]
    pub pidsl: String,

    /// text for people, or json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The username (case-insensitive).
    pub user: String,

    /// text for people, or json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The new username (Virtual Gateway user ID); must not exist, compared case-insensitively.
    pub user: String,

    /// The user's first name.
    #[arg(long, value_name = "NAME")]
    pub first_name: String,

    /// The user's last name.
    #[arg(long, value_name = "NAME")]
    pub last_name: String,

    /// The user's email address.
    #[arg(long, value_name = "ADDRESS")]
    pub email: String,

    /// The user's own organization.
    #[arg(long, value_name = "ORG_ID")]
    pub org: String,

    /// A job role of the [roles] configuration, e.g. front_desk.
    #[arg(long, value_name = "ROLE")]
    pub job_role: Option<String>,

    /// The PID/SL the account is created on.
    #[arg(long, value_name = "PIDSL")]
    pub pidsl: String,

    /// Service codes or POSC display names, separated by ';' or ','.
    #[arg(long, value_name = "SERVICES")]
    pub services: String,

    /// The Primary User or backup doing it.
    #[arg(long, value_name = "ACTOR")]
    pub by: String,
}

#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The username (case-insensitive).
    pub user: String,

    /// The PID/SL, e.g. 110012345A.
    #[arg(long, value_name = "PIDSL")]
    pub pidsl: String,

    /// Service codes or POSC display names, separated by ';' or ','.
    #[arg(long, value_name = "SERVICES")]
    pub services: String,

    /// The end of the affiliation or contract that justifies the access (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub expires_on: Option<String>,

    /// The Primary User or backup doing it.
    #[arg(long, value_name = "ACTOR")]
    pub by: String,
}

#[derive(Debug, Args)]
pub struct UpdateServicesArgs {
    /// The username (case-insensitive).
    pub user: String,

    /// The PID/SL, e.g. 110012345A.
    #[arg(long, value_name = "PIDSL")]
    pub pidsl: String,

    /// The complete new list: service codes or POSC display names, separated by ';' or ','.
    #[arg(long, value_name = "SERVICES")]
    pub services: String,

    /// The Primary User or backup doing it.
    #[arg(long, value_name = "ACTOR")]
    pub by: String,
}

#[derive(Debug, Args)]
pub struct PidSlTargetArgs {
    /// The username (case-insensitive).
    pub user: String,

    /// The PID/SL, e.g. 110012345A.
    #[arg(long, value_name = "PIDSL")]
    pub pidsl: String,

    /// The Primary User or backup doing it.
    #[arg(long, value_name = "ACTOR")]
    pub by: String,
}

#[derive(Debug, Args)]
pub struct UserTargetArgs {
    /// The username (case-insensitive).
    pub user: String,

    /// The Primary User or backup doing it.
    #[arg(long, value_name = "ACTOR")]
    pub by: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only the events about this user (case-insensitive).
    pub user: Option<String>,

    /// text for people, or json for scripts.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}
