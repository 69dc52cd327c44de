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

/// `status`: something needs attention (exit status 1); the output, written already, lists it.
/// The message is the one line printed on stderr, e.g. "2 problems need attention".
#[derive(Debug, thiserror::Error)]
#[error("{}{hint}", crate::status::needs_attention(*.problems))]
pub struct NeedsAttention {
    pub problems: usize,
    /// Where they are listed, for an output that does not name them.
    pub hint: String,
}

/// The error and its causes on one line, each said once: sqlx's database error repeats its
/// server's message as its cause (`database "x" does not exist: database "x" does not exist`).
pub fn one_line(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain().map(|c| c.to_string()) {
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_said_is_not_repeated() {
        let e = anyhow::anyhow!("database \"x\" does not exist")
            .context("error returned from database: database \"x\" does not exist")
            .context("cannot open the database");
        assert_eq!(
            one_line(&e),
            "cannot open the database: error returned from database: database \"x\" does not exist"
        );
        let e = anyhow::anyhow!("Connection refused").context("cannot connect to 127.0.0.1:1");
        assert_eq!(
            one_line(&e),
            "cannot connect to 127.0.0.1:1: Connection refused"
        );
    }
}
