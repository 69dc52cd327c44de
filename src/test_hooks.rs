//! Debug builds only: a test stops a command at a named point, to act while it waits there
//! (a second command that must wait for the first, a `kill -9` at a known moment).
//! `POSC_REVIEW_TEST_PAUSE_MS` is how long; `POSC_REVIEW_TEST_PAUSE_AT` names the one point to
//! stop at (unset: every point). The command says on stderr where it stopped.

/// Waits at `point` as the environment says; does nothing in a release build.
pub async fn pause(point: &str) {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("POSC_REVIEW_TEST_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let at = std::env::var("POSC_REVIEW_TEST_PAUSE_AT").ok();
        if at.as_deref().is_none_or(|at| at == point) {
            eprintln!("test pause at {point}: {ms} ms");
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}
