//! Which process holds a scheduler's period claim or runs a review, and whether it still lives.
//! A process that is killed (`kill -9`, a power cut, the OOM killer) records nothing, so what
//! it held says who held it — an [`Owner`]: host, process id and a random tag — and carries a
//! heartbeat it renews every [`HEARTBEAT`]. Another process decides it is gone when the owner
//! ran on this host and its process id no longer exists (at once), or when its heartbeat is
//! older than [`STALE_AFTER_SECS`] (the only sign from another host). A live process whose id
//! was reused is not mistaken for a dead one: the heartbeat still goes stale.

use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// How often a process renews the heartbeat of what it holds.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A heartbeat older than this was left by a process that died: eight missed beats.
pub const STALE_AFTER_SECS: i64 = 120;

/// A process, as claims and runs name it: `host:pid:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    host: String,
    pid: u32,
    tag: u32,
}

impl Owner {
    /// This process.
    pub fn this_process() -> Owner {
        Owner {
            host: host_name(),
            pid: std::process::id(),
            tag: rand::random(),
        }
    }

    /// An owner as stored (`host:pid:tag`, the tag in hex).
    pub fn parse(text: &str) -> Result<Owner, String> {
        let bad = || format!("{text:?} is not an owner (host:pid:tag)");
        let mut parts = text.rsplitn(3, ':');
        let tag = parts.next().ok_or_else(bad)?;
        let pid = parts.next().ok_or_else(bad)?;
        let host = parts.next().filter(|h| !h.is_empty()).ok_or_else(bad)?;
        Ok(Owner {
            host: host.to_string(),
            pid: pid.parse().map_err(|_| bad())?,
            tag: u32::from_str_radix(tag, 16).map_err(|_| bad())?,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// True when this owner ran on this host and its process no longer exists. False when it
    /// lives, ran elsewhere, or this system cannot tell (then only the heartbeat can).
    pub fn is_gone_from_this_host(&self) -> bool {
        self.host == host_name() && process_is_gone(self.pid)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{:08x}", self.host, self.pid, self.tag)
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(target_os = "linux")]
fn process_is_gone(pid: u32) -> bool {
    !std::path::Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_is_gone(_pid: u32) -> bool {
    false
}

/// Heartbeats before this instant were left by a process that died (see [`STALE_AFTER_SECS`]).
pub fn stale_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::seconds(STALE_AFTER_SECS)
}

/// Whether a holder with this owner and heartbeat is gone, at `now`.
pub fn is_gone(
    owner: Option<&Owner>,
    heartbeat_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    let stale = heartbeat_at.is_none_or(|beat| beat < stale_before(now));
    stale || owner.is_some_and(Owner::is_gone_from_this_host)
}

/// Aborts a task when dropped: a heartbeat stops with the work it belongs to.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_reads_back_as_written() {
        let me = Owner::this_process();
        assert_eq!(Owner::parse(&me.to_string()).unwrap(), me);
        assert!(Owner::parse("no-pid").is_err());
        assert!(Owner::parse(":12:ab").is_err());
    }

    fn at(unix: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix, 0).unwrap()
    }

    #[test]
    fn this_process_is_not_gone() {
        let me = Owner::this_process();
        assert!(!me.is_gone_from_this_host());
        assert!(!is_gone(
            Some(&me),
            Some(at(1_000)),
            at(1_000 + STALE_AFTER_SECS)
        ));
    }

    #[test]
    fn a_stale_heartbeat_is_gone_whatever_the_host() {
        let elsewhere = Owner::parse("another-host:1:0").unwrap();
        assert!(!is_gone(Some(&elsewhere), Some(at(1_000)), at(1_100)));
        assert!(is_gone(
            Some(&elsewhere),
            Some(at(1_000)),
            at(1_000 + STALE_AFTER_SECS + 1)
        ));
        assert!(is_gone(None, None, at(0)));
    }
}
