//! Logging through `tracing`, set up once: to stderr, text or JSON, level from RUST_LOG.
//! On a terminal the default is `warn` (progress bars show the steps); elsewhere `info`, so
//! cron and systemd logs record each step.

use crate::cli::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init(format: LogFormat) {
    let terminal = std::io::stderr().is_terminal();
    let default = if terminal { "warn" } else { "info,sqlx=warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(terminal);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
