//! Logging through `tracing`, set up once: to stderr, text or JSON, level from RUST_LOG.
//! On a terminal the default is `warn` (progress bars show the steps); elsewhere `info`, so
//! cron and systemd logs record each step.

use crate::cli::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Libraries whose debug logs would carry message content.
const QUIET_TARGETS: [&str; 5] = [
    "html5ever",
    "markup5ever",
    "selectors",
    "cssparser",
    "css_inline",
];

pub fn init(format: LogFormat) {
    let terminal = std::io::stderr().is_terminal();
    let default = if terminal { "warn" } else { "info,sqlx=warn" };
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // The HTML and CSS parsers the mail's stylesheet inliner uses log every token of a message
    // (names, emails, phones) at debug and trace: never below warn, whatever RUST_LOG says.
    for quiet in QUIET_TARGETS {
        filter = filter.add_directive(format!("{quiet}=warn").parse().expect("a valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(terminal);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
