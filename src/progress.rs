//! Progress bars for long steps: drawn on a terminal, hidden otherwise (logs go through
//! `tracing` then).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `total` items, or a spinner with a counter when the total is unknown.
pub fn bar(total: Option<u64>, message: &'static str) -> ProgressBar {
    let bar = match total {
        Some(total) => {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(5))
                .with_style(
                    ProgressStyle::with_template(
                        "{msg:>28} [{bar:40}] {human_pos}/{human_len} ({eta} left)",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                )
        }
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5))
            .with_style(
                ProgressStyle::with_template("{spinner} {msg} {human_pos}")
                    .expect("valid template"),
            ),
    };
    bar.set_message(message);
    bar
}
