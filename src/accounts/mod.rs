//! The POSC job-aid operations on the account store (create, link, update services, reset
//! password, remove, deactivate, reactivate, appoint a backup), each checked against the
//! Primary User Policy before it writes, and each recorded in the audit log in the same
//! transaction as its change.
//!
//! The policy checks are pure functions of the rows an operation reads ([`check_actor`],
//! [`check_grant`], [`check_primary_user_limit`]); [`perform`] reads those rows inside one
//! write transaction ([`AccountsTx`]) that first takes a lock (SQLite's write lock, held from
//! `BEGIN IMMEDIATE`; on PostgreSQL the rows of the PID/SLs concerned, `FOR UPDATE`), so a
//! check and the write it allows are atomic: two concurrent grants cannot each see one holder
//! of PRIMARY_USER and together make three. A refusal is a [`UsageError`] (exit status 2)
//! whose message is the policy reason.
//!
//! `policy.rs` holds the checks, `operations.rs` the operations that apply them and write, and
//! `views.rs` what `accounts show` and `accounts list` read.

mod operations;
mod policy;
mod views;

pub use operations::{change_text, perform, perform_as, perform_in, Mode};
pub use policy::{check_actor, check_grant, check_primary_user_limit, user_is_active};
pub use views::{list, show, AccessView, UserView};

use crate::domain::{Email, PidSl, Role, ServiceCode, Services, UserStatus};
use crate::error::UsageError;
use crate::snapshot::Personal;
use crate::store::{AccessRow, AccountsTx, AuditEvent, Member, PidSlInfo, Store, UserRow};
use anyhow::Context;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use chrono_tz::Tz;

/// The time of an operation, read once from the clock: the instant its audit events carry and
/// the local date "active user" is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationTime {
    /// To the second, as the audit log has always kept it.
    pub at: DateTime<Utc>,
    /// `at`'s date in the configured time zone.
    pub today: NaiveDate,
}

impl OperationTime {
    pub fn read(clock: &dyn crate::clock::Clock, zone: Tz) -> OperationTime {
        let at = clock.now().trunc_subsecs(0);
        OperationTime {
            at,
            today: at.with_timezone(&zone).date_naive(),
        }
    }
}

/// A new subordinate account (the POSC's New Subordinate button).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Email,
    pub org_id: String,
    pub job_role: Option<String>,
    pub pidsl: PidSl,
    pub services: Services,
}

/// One job-aid operation, its inputs already parsed.
#[derive(Debug, Clone)]
pub enum Operation {
    Create(NewUser),
    Link {
        username: String,
        pidsl: PidSl,
        services: Services,
        expires_on: Option<NaiveDate>,
    },
    UpdateServices {
        username: String,
        pidsl: PidSl,
        services: Services,
    },
    ResetPassword {
        username: String,
        pidsl: PidSl,
    },
    Remove {
        username: String,
        pidsl: PidSl,
    },
    Deactivate {
        username: String,
    },
    Reactivate {
        username: String,
    },
    SetBackup {
        username: String,
        pidsl: PidSl,
    },
}

/// What an accepted operation did: the audit events it recorded (none when there was nothing
/// to change) and what the actor must still do in the POSC.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub events: Vec<AuditEvent>,
    pub next_steps: Vec<String>,
}
