//! The `posc-review` binary: parse the command line, start logging, dispatch, and map errors
//! to exit statuses (0 done, 1 failed, 2 bad usage or input, 3 findings at --fail-on). A
//! stdout closed by its reader (`| head`) ends the command quietly with status 0.

use clap::Parser;
use posc_review::cli::Cli;
use posc_review::output::StdoutClosed;
use posc_review::{commands, error, telemetry};
use std::process::ExitCode;

// A statewide review makes hundreds of millions of small allocations (cells, messages) on
// every core; glibc's malloc spent a tenth of the run in malloc and free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<StdoutClosed>() => ExitCode::SUCCESS,
        Err(e) => {
            let status = error::exit_status(&e);
            if status == 3 || e.is::<error::NeedsAttention>() {
                eprintln!("{e}");
            } else {
                // The chain once, on one line for failures; invalid input lists its problems.
                eprintln!("error: {}", error::one_line(&e));
                tracing::debug!(error = ?e, "details");
            }
            ExitCode::from(status as u8)
        }
    }
}
