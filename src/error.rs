//! Errors that are the user's to fix (exit status 2), as opposed to failures (exit status 1).

/// Bad usage or invalid input: the message says what to change.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `--fail-on`: findings at or above the threshold exist (exit status 3); the message is the
/// one line printed, e.g. "3 findings at or above high".
#[derive(Debug, thiserror::Error)]
#[error("{} at or above {threshold}", crate::output::count(.count, "finding"))]
pub struct FindingsAtOrAbove {
    pub count: usize,
    pub threshold: crate::domain::Severity,
}

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
