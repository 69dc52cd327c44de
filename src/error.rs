//! Errors that are the user's to fix (exit status 2), as opposed to failures (exit status 1).

/// Bad usage or invalid input: the message says what to change.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `--fail-on`: findings at or above the threshold exist (exit status 3).
#[derive(Debug, thiserror::Error)]
#[error("findings at or above severity {0} exist")]
pub struct FindingsAtOrAbove(pub crate::domain::Severity);

/// The exit status for an error, by its kind.
pub fn exit_status(error: &anyhow::Error) -> i32 {
    if error.is::<FindingsAtOrAbove>() {
        3
    } else if error.is::<UsageError>()
        || error.is::<crate::import::InvalidSnapshot>()
        || error.is::<crate::config::ConfigError>()
    {
        2
    } else {
        1
    }
}
