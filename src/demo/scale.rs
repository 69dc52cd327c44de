//! The scale snapshot: a seeded, synthetic statewide store streamed to disk for the benchmarks.

use super::names::{FIRST_NAMES, LAST_NAMES, PLACES};
use super::{DemoCounts, Files};
use chrono::{NaiveDate, Offset, TimeDelta, TimeZone};
use chrono_tz::America::New_York;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use std::path::Path;

/// The shape of a scale snapshot (`demo --scale N --profile P`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ScaleProfile {
    /// Organizations of 1 to 20 PID/SLs with billing intermediaries linked in, about 2.7
    /// findings per PID/SL.
    #[default]
    Default,
    /// Organizations of 5 PID/SLs, no intermediaries, about 7 findings per PID/SL, most of them
    /// stale users: the finding-dense statewide store of issue 20.
    Dense,
}

/// How often a profile plants each problem: chances out of 10,000, or thresholds out of 1,000
/// where one roll decides among several outcomes (a sign-in's age, a grant's excess).
struct Mix {
    /// A user shares the previous user's email address.
    shared_email: u32,
    /// A new account, that has not signed in yet.
    new_account: u32,
    /// Of 1,000: below this an older account never signed in...
    never_signed_in: i32,
    /// ...below this its last sign-in is 91 to 700 days old.
    signed_in_long_ago: i32,
    /// A user who signed in never accepted the Terms and Conditions.
    no_terms: u32,
    /// A user has left the organization (1 to 399 days before as_of).
    terminated: u32,
    /// Of those who left, the ones whose user ID was deactivated.
    deactivated_on_leaving: u32,
    /// Someone who did not leave has an inactive user ID.
    inactive: u32,
    /// Of 1,000, thresholds in turn: a subordinate also holds FINANCIAL and PROFILE, Manage
    /// Subordinate Accounts, MMQ (outside long-term care), or lacks PORTAL.
    grant_extra: i32,
    grant_manage: i32,
    grant_mmq: i32,
    grant_no_portal: i32,
    /// An organization was never reviewed.
    never_reviewed: u32,
    /// A last review is up to this many days beyond the cadence's window.
    review_late_days: i64,
}

/// The default profile's mix: changing it changes every seed's files.
const DEFAULT_MIX: Mix = Mix {
    shared_email: 5,
    new_account: 100,
    never_signed_in: 15,
    signed_in_long_ago: 55,
    no_terms: 30,
    terminated: 120,
    deactivated_on_leaving: 5000,
    inactive: 100,
    grant_extra: 15,
    grant_manage: 17,
    grant_mmq: 20,
    grant_no_portal: 25,
    never_reviewed: 500,
    review_late_days: 15,
};

/// The dense profile's mix, calibrated on the rule counts issue 20 quotes for 100,000 PID/SLs:
/// 40 % of the users stale, 2 % gone but still active, a third of the organizations overdue,
/// and none of the rules that store did not fire (duplicate identity, misassigned or missing
/// administrator services).
const DENSE_MIX: Mix = Mix {
    shared_email: 0,
    new_account: 100,
    never_signed_in: 15,
    signed_in_long_ago: 420,
    no_terms: 5,
    terminated: 165,
    deactivated_on_leaving: 200,
    inactive: 100,
    grant_extra: 25,
    grant_manage: 25,
    grant_mmq: 28,
    grant_no_portal: 28,
    never_reviewed: 500,
    review_late_days: 55,
};

/// Provider types with the words their organizations' names end in, and weights out of 100.
const PROVIDER_TYPES: [(&str, &str, u32); 9] = [
    ("group_practice", "Family Medicine", 32),
    ("physician", "Medical Associates", 18),
    ("hospital", "Community Hospital", 9),
    ("pharmacy", "Pharmacy", 10),
    ("home_health", "Home Health", 8),
    ("dental", "Dental Group", 8),
    ("ltc", "Nursing and Rehabilitation", 9),
    ("pace", "PACE Program", 3),
    ("sco", "Senior Care Options", 3),
];

use crate::domain::ServiceCode::*;
use crate::domain::{ServiceCode, Services};

/// The ten services a general practice uses (all but the two admin ones, SCO_PACE and MMQ).
const ORDINARY: Services = Services::of(&[
    Portal,
    Claims,
    Reports,
    Financial,
    Referrals,
    Batch,
    ServiceAuth,
    Contracts,
    Eligibility,
    Profile,
]);
/// What a Primary User and a backup hold.
const ADMIN: Services = ORDINARY.union(Services::of(&[PrimaryUser, ManageSubordinates]));
const PORTAL_ONLY: Services = Services::of(&[Portal]);

/// The job roles of config/default.toml with their profiles, and their weights out of 100 among
/// a provider's subordinates (ltc_admin only in long-term care).
pub(super) const JOB_ROLES: [(&str, Services); 6] = [
    (
        "front_desk",
        Services::of(&[Portal, Eligibility, Referrals]),
    ),
    (
        "biller",
        Services::of(&[Portal, Claims, Batch, Eligibility, Reports]),
    ),
    (
        "billing_agency",
        Services::of(&[Portal, Claims, Batch, Eligibility, Reports]),
    ),
    (
        "clinician_admin",
        Services::of(&[Portal, ServiceAuth, Referrals, Eligibility]),
    ),
    (
        "ltc_admin",
        Services::of(&[Portal, Mmq, Eligibility, Claims, ServiceAuth]),
    ),
    ("office_manager", ORDINARY),
];
const FRONT_DESK_ROLE: usize = 0;
const BILLER_ROLE: usize = 1;
const BILLING_AGENCY_ROLE: usize = 2;
const CLINICIAN_ROLE: usize = 3;
const LTC_ADMIN_ROLE: usize = 4;
const OFFICE_MANAGER_ROLE: usize = 5;

pub(super) fn write_services(buf: &mut String, set: Services) {
    buf.clear();
    write!(buf, "{set}").expect("writing to a String");
}

/// Dates around as_of, formatted once: `YYYY-MM-DD` and New York's UTC offset that day.
struct Dates {
    /// Index `PAST + d` holds the date `d` days after as_of.
    days: Vec<([u8; 10], [u8; 6])>,
}

impl Dates {
    const PAST: i64 = 4500;
    const FUTURE: i64 = 1500;

    fn new(as_of: NaiveDate) -> Self {
        let days = (-Self::PAST..=Self::FUTURE)
            .map(|d| {
                let date = as_of + TimeDelta::days(d);
                let mut text = [0u8; 10];
                text.copy_from_slice(date.format("%Y-%m-%d").to_string().as_bytes());
                let noon = date.and_hms_opt(12, 0, 0).expect("noon exists");
                let offset = New_York
                    .offset_from_utc_datetime(&noon)
                    .fix()
                    .local_minus_utc();
                let mut zone = [0u8; 6];
                let hours = offset.abs() / 3600;
                let sign = if offset < 0 { b'-' } else { b'+' };
                zone.copy_from_slice(&[
                    sign,
                    b'0' + (hours / 10) as u8,
                    b'0' + (hours % 10) as u8,
                    b':',
                    b'0',
                    b'0',
                ]);
                (text, zone)
            })
            .collect();
        Dates { days }
    }

    /// The date `days` before as_of.
    fn ago(&self, days: i64) -> &[u8] {
        &self.days[(Self::PAST - days) as usize].0
    }

    /// The date `days` after as_of.
    fn ahead(&self, days: i64) -> &[u8] {
        &self.days[(Self::PAST + days) as usize].0
    }

    /// A New York daytime sign-in `days` before as_of, as RFC 3339 with the day's offset.
    fn sign_in(&self, buf: &mut String, days: i64, hour: u32, minute: u32) {
        let (date, zone) = &self.days[(Self::PAST - days) as usize];
        buf.clear();
        buf.push_str(std::str::from_utf8(date).expect("ASCII date"));
        let _ = write!(buf, "T{hour:02}:{minute:02}:00");
        buf.push_str(std::str::from_utf8(zone).expect("ASCII offset"));
    }
}

/// What was decided for a user that the rows after users.csv depend on.
struct UserPlan {
    terminated: Option<i64>,
}

/// Reusable buffers for one generated user, so that rows are written without allocating.
#[derive(Default)]
struct UserBuf {
    username: String,
    email: String,
    previous_email: String,
    phone: String,
    middle: String,
    created: String,
    login: String,
    terms: String,
    terminated: String,
    dob: String,
    ssn: String,
    services: String,
}

/// What a scale user is, decided by the caller.
struct UserSpec<'a> {
    index: u64,
    org_id: &'a str,
    domain: &'a str,
    job_role: &'a str,
}

/// Writes one users.csv row with invented personal details and the planted problems of a user
/// (termination, stale or missing sign-in, terms not accepted, duplicate email).
fn write_scale_user(
    out: &mut Files,
    rng: &mut ChaCha8Rng,
    dates: &Dates,
    mix: &Mix,
    buf: &mut UserBuf,
    spec: &UserSpec,
) -> anyhow::Result<UserPlan> {
    let first = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())];

    buf.username.clear();
    buf.username
        .push(first.as_bytes()[0].to_ascii_lowercase() as char);
    buf.username
        .extend(last.chars().map(|c| c.to_ascii_lowercase()));
    let _ = write!(buf.username, "{}", spec.index);

    // A few users share the previous user's address (a shared mailbox, a re-hired person).
    if rng.gen_ratio(mix.shared_email, 10_000) && !buf.previous_email.is_empty() {
        std::mem::swap(&mut buf.email, &mut buf.previous_email);
    } else {
        buf.email.clear();
        buf.email
            .extend(first.chars().map(|c| c.to_ascii_lowercase()));
        buf.email.push('.');
        buf.email
            .extend(last.chars().map(|c| c.to_ascii_lowercase()));
        let _ = write!(buf.email, "{}@{}", spec.index, spec.domain);
    }
    buf.previous_email.clone_from(&buf.email);

    buf.middle.clear();
    if rng.gen_ratio(3, 10) {
        buf.middle.push(rng.gen_range(b'A'..=b'Z') as char);
    }
    buf.phone.clear();
    if rng.gen_bool(0.5) {
        let _ = write!(buf.phone, "617-555-01{:02}", rng.gen_range(0..100));
    }

    // Most accounts are years old; a few are new and have not signed in yet.
    let new_account = rng.gen_ratio(mix.new_account, 10_000);
    let created_ago: i64 = if new_account {
        rng.gen_range(0..60)
    } else {
        rng.gen_range(61..4000)
    };
    let roll = rng.gen_range(0..1000);
    let login_ago: Option<i64> = if new_account || roll < mix.never_signed_in {
        None
    } else if roll < mix.signed_in_long_ago {
        Some(rng.gen_range(91..700).min(created_ago))
    } else {
        Some(rng.gen_range(0..60).min(created_ago))
    };
    buf.created.clear();
    buf.created
        .push_str(std::str::from_utf8(dates.ago(created_ago))?);
    buf.login.clear();
    if let Some(ago) = login_ago {
        if rng.gen_bool(0.4) {
            dates.sign_in(
                &mut buf.login,
                ago,
                rng.gen_range(7..18),
                rng.gen_range(0..60),
            );
        } else {
            buf.login.push_str(std::str::from_utf8(dates.ago(ago))?);
        }
    }
    buf.terms.clear();
    if login_ago.is_some() && !rng.gen_ratio(mix.no_terms, 10_000) {
        buf.terms.push_str(&buf.created);
    }

    let terminated = rng
        .gen_ratio(mix.terminated, 10_000)
        .then(|| rng.gen_range(1..400));
    // Some of those who left were deactivated; the others are still active (a finding).
    let inactive = match terminated {
        Some(_) => rng.gen_ratio(mix.deactivated_on_leaving, 10_000),
        None => rng.gen_ratio(mix.inactive, 10_000),
    };
    buf.terminated.clear();
    if let Some(ago) = terminated {
        buf.terminated
            .push_str(std::str::from_utf8(dates.ago(ago))?);
    }

    buf.dob.clear();
    let _ = write!(
        buf.dob,
        "{:02}/{:02}",
        rng.gen_range(1..=12),
        rng.gen_range(1..=28)
    );
    buf.ssn.clear();
    let _ = write!(buf.ssn, "{:04}", rng.gen_range(0..10_000));

    out.user([
        buf.username.as_bytes(),
        first.as_bytes(),
        last.as_bytes(),
        buf.middle.as_bytes(),
        buf.email.as_bytes(),
        buf.phone.as_bytes(),
        spec.org_id.as_bytes(),
        spec.job_role.as_bytes(),
        if inactive { b"inactive" } else { b"active" },
        buf.created.as_bytes(),
        buf.login.as_bytes(),
        buf.terms.as_bytes(),
        buf.terminated.as_bytes(),
        buf.dob.as_bytes(),
        buf.ssn.as_bytes(),
    ])?;
    Ok(UserPlan { terminated })
}

fn pick_weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for (item, weight) in items {
        if roll < *weight {
            return *item;
        }
        roll -= weight;
    }
    items[items.len() - 1].0
}

/// The services a subordinate holds: a subset of the job role's profile (always PORTAL), with
/// the occasional planted excess.
fn subordinate_services(
    rng: &mut ChaCha8Rng,
    mix: &Mix,
    profile: Services,
    provider_type: &str,
) -> Services {
    let mut set = PORTAL_ONLY;
    for &service in &ServiceCode::ALL[3..] {
        if profile.contains(service) && rng.gen_ratio(4, 5) {
            set.insert(service);
        }
    }
    if set == PORTAL_ONLY {
        if let Some(first) = profile.minus(PORTAL_ONLY).iter().next() {
            set.insert(first); // at least the profile's first service
        }
    }
    let roll = rng.gen_range(0..1000);
    if roll < mix.grant_extra {
        set = set.union(Services::of(&[Financial, Profile]));
    } else if roll < mix.grant_manage {
        set.insert(ManageSubordinates);
    } else if roll < mix.grant_mmq {
        if provider_type != "ltc" {
            set.insert(Mmq);
        }
    } else if roll < mix.grant_no_portal {
        set.remove(Portal);
    }
    set
}

/// A large synthetic snapshot for benchmarks: `pidsls` PID/SLs, about 10 users and 40 access rows per PID/SL,
/// deterministic for a given seed and profile (same files byte for byte), streamed to disk (never holding all
/// rows in memory: at pidsls = 100_000 that is 1,000,000 users and ~4,000,000 access rows).
pub fn write_scale(
    dir: &Path,
    pidsls: usize,
    profile: ScaleProfile,
    seed: u64,
    as_of: NaiveDate,
) -> anyhow::Result<DemoCounts> {
    let mut gen = Generator {
        out: Files::create(dir)?,
        rng: ChaCha8Rng::seed_from_u64(seed),
        dates: Dates::new(as_of),
        buf: UserBuf::default(),
        text: String::new(),
        user_index: 0,
        roster_user: String::new(),
        roster_email: String::new(),
    };
    match profile {
        ScaleProfile::Default => gen.write_default(pidsls)?,
        ScaleProfile::Dense => gen.write_dense(pidsls)?,
    }
    // Roster rows that match nobody: people HR lists who never had an account here.
    for n in 0..(gen.user_index / 10_000).max(1) {
        gen.roster_email.clear();
        let _ = write!(gen.roster_email, "former.staff{n}@hr.example");
        let when = gen.dates.ago(gen.rng.gen_range(1..365));
        gen.out.roster([b"", gen.roster_email.as_bytes(), when])?;
    }
    gen.out.finish(dir)
}

/// The state of one scale snapshot being written.
struct Generator {
    out: Files,
    rng: ChaCha8Rng,
    dates: Dates,
    buf: UserBuf,
    text: String,
    user_index: u64,
    roster_user: String,
    roster_email: String,
}

/// A provider organization whose rows are written, with what its users' access rows need.
struct Provider {
    org_id: String,
    domain: String,
    provider_type: &'static str,
    /// The restricted services its provider type allows (MMQ, SCO_PACE).
    extra: Services,
    /// What its Primary Users and backups hold, and a backup short of FINANCIAL.
    admin_services: String,
    backup_short: String,
    pidsl_ids: Vec<[u8; 10]>,
}

/// Organizations of this many PID/SLs in the dense profile.
const DENSE_ORG_PIDSLS: usize = 5;
/// Chances out of 10,000 in the dense profile: a PID/SL has no Primary User, or no backup; a
/// backup lacks FINANCIAL; a subordinate's link has expired, or runs to a future date.
const DENSE_NO_PRIMARY: u32 = 520;
const DENSE_NO_BACKUP: u32 = 1250;
const DENSE_BACKUP_SHORT: u32 = 2100;
const DENSE_EXPIRED: u32 = 100;
const DENSE_EXPIRING: u32 = 1000;

impl Generator {
    fn write_default(&mut self, pidsls: usize) -> anyhow::Result<()> {
        let mix = &DEFAULT_MIX;
        // Billing intermediaries first: their staff are created as the providers link them.
        let billing_orgs = (pidsls / 400).max(1);
        for b in 0..billing_orgs {
            let org_id = format!("BILL-{b:05}");
            let place = PLACES[self.rng.gen_range(0..PLACES.len())];
            let name = format!("{place} Billing Services {b}");
            let domain = format!("billing{b}.example");
            write_scale_org(
                &mut self.out,
                &mut self.rng,
                &self.dates,
                mix,
                &mut self.text,
                [&org_id, &name, "billing_intermediary"],
                &domain,
            )?;
        }

        let mut done = 0usize;
        let mut org_index = 0usize;
        while done < pidsls {
            let k = self.rng.gen_range(1..=20usize).min(pidsls - done);
            done += k;
            let provider = self.write_provider(mix, org_index, k)?;
            let provider_type = provider.provider_type;

            // One Primary User and one backup for each group of up to three PID/SLs; now and then a
            // large organization leaves all its PID/SLs to one pair, more than one person can review.
            let group_size = if k > 10 && self.rng.gen_ratio(1, 8) {
                k
            } else {
                3
            };
            let groups = k.div_ceil(group_size);
            let own_users = 9 * k;
            for u in 0..own_users {
                let is_admin = u < 2 * groups;
                let job_role = if is_admin {
                    OFFICE_MANAGER_ROLE
                } else {
                    pick_job_role(&mut self.rng, provider_type)
                };
                self.write_user(mix, &provider.org_id, &provider.domain, job_role)?;

                if is_admin {
                    let group = u / 2;
                    let role: &[u8] = if u % 2 == 0 { b"primary" } else { b"backup" };
                    for id in provider
                        .pidsl_ids
                        .iter()
                        .take((group_size * (group + 1)).min(k))
                        .skip(group_size * group)
                    {
                        // A few backups are missing from a PID/SL, a few lack one of the primary's services.
                        if u % 2 == 1 && self.rng.gen_ratio(2, 100) {
                            continue;
                        }
                        let services = if u % 2 == 1 && self.rng.gen_ratio(1, 100) {
                            &provider.backup_short
                        } else {
                            &provider.admin_services
                        };
                        self.out.access([
                            self.buf.username.as_bytes(),
                            id,
                            role,
                            services.as_bytes(),
                            self.buf.created.as_bytes(),
                            b"",
                        ])?;
                    }
                    continue;
                }

                let set = job_services(&mut self.rng, mix, job_role, &provider);
                write_services(&mut self.buf.services, set);
                let rows = self.rng.gen_range(1..=k.min(8));
                let start = self.rng.gen_range(0..k);
                for j in 0..rows {
                    let id = &provider.pidsl_ids[(start + j) % k];
                    // Rarely, a subordinate was made a second Primary User.
                    let (role, services): (&[u8], &str) = if self.rng.gen_ratio(1, 5000) {
                        (b"primary", &provider.admin_services)
                    } else {
                        (b"subordinate", &self.buf.services)
                    };
                    self.out.access([
                        self.buf.username.as_bytes(),
                        id,
                        role,
                        services.as_bytes(),
                        self.buf.created.as_bytes(),
                        b"",
                    ])?;
                }
            }

            // Billing agents linked to this provider: about one per PID/SL.
            for _ in 0..k {
                let b = self.rng.gen_range(0..billing_orgs);
                let org_id = format!("BILL-{b:05}");
                let domain = format!("billing{b}.example");
                self.write_user(mix, &org_id, &domain, BILLING_AGENCY_ROLE)?;
                let set = subordinate_services(
                    &mut self.rng,
                    mix,
                    JOB_ROLES[BILLING_AGENCY_ROLE].1,
                    provider_type,
                );
                write_services(&mut self.buf.services, set);
                let rows = self.rng.gen_range(1..=k.min(5));
                let start = self.rng.gen_range(0..k);
                for j in 0..rows {
                    let id = &provider.pidsl_ids[(start + j) % k];
                    // The agency's contract: open-ended, running, or (rarely) already over.
                    let roll = self.rng.gen_range(0..100);
                    let expires: &[u8] = if roll < 35 {
                        b""
                    } else if roll < 97 {
                        self.dates.ahead(self.rng.gen_range(1..900))
                    } else {
                        self.dates.ago(self.rng.gen_range(0..300))
                    };
                    self.out.access([
                        self.buf.username.as_bytes(),
                        id,
                        b"subordinate",
                        self.buf.services.as_bytes(),
                        self.buf.created.as_bytes(),
                        expires,
                    ])?;
                }
            }
            org_index += 1;
        }
        Ok(())
    }

    /// Organizations of five PID/SLs with ten users of their own per PID/SL: on each PID/SL a
    /// Primary User and a backup (unless planted missing), each user with access to three to
    /// five of the organization's PID/SLs starting at their own (four on average: 40 access rows
    /// per PID/SL).
    fn write_dense(&mut self, pidsls: usize) -> anyhow::Result<()> {
        let mix = &DENSE_MIX;
        let mut done = 0usize;
        let mut org_index = 0usize;
        while done < pidsls {
            let k = DENSE_ORG_PIDSLS.min(pidsls - done);
            done += k;
            let provider = self.write_provider(mix, org_index, k)?;
            for u in 0..10 * k {
                let home = u / 10;
                let admin: Option<&[u8]> = match u % 10 {
                    0 => (!self.rng.gen_ratio(DENSE_NO_PRIMARY, 10_000)).then_some(b"primary"),
                    1 => (!self.rng.gen_ratio(DENSE_NO_BACKUP, 10_000)).then_some(b"backup"),
                    _ => None,
                };
                let job_role = match admin {
                    Some(_) => OFFICE_MANAGER_ROLE,
                    None => pick_job_role(&mut self.rng, provider.provider_type),
                };
                self.write_user(mix, &provider.org_id, &provider.domain, job_role)?;
                // An administrator is a subordinate on the organization's other PID/SLs.
                let set = job_services(&mut self.rng, mix, job_role, &provider);
                write_services(&mut self.buf.services, set);
                let rows = self.rng.gen_range(k.min(3)..=k);
                for j in 0..rows {
                    let id = &provider.pidsl_ids[(home + j) % k];
                    if let (0, Some(role)) = (j, admin) {
                        let short =
                            role == b"backup" && self.rng.gen_ratio(DENSE_BACKUP_SHORT, 10_000);
                        let services = if short {
                            &provider.backup_short
                        } else {
                            &provider.admin_services
                        };
                        self.out.access([
                            self.buf.username.as_bytes(),
                            id,
                            role,
                            services.as_bytes(),
                            self.buf.created.as_bytes(),
                            b"",
                        ])?;
                        continue;
                    }
                    let roll = self.rng.gen_range(0..10_000);
                    let expires: &[u8] = if roll < DENSE_EXPIRED {
                        self.dates.ago(self.rng.gen_range(0..300))
                    } else if roll < DENSE_EXPIRED + DENSE_EXPIRING {
                        self.dates.ahead(self.rng.gen_range(1..900))
                    } else {
                        b""
                    };
                    self.out.access([
                        self.buf.username.as_bytes(),
                        id,
                        b"subordinate",
                        self.buf.services.as_bytes(),
                        self.buf.created.as_bytes(),
                        expires,
                    ])?;
                }
            }
            org_index += 1;
        }
        Ok(())
    }

    /// Writes a provider organization `PRV-<org_index>` and its `k` PID/SLs.
    fn write_provider(
        &mut self,
        mix: &Mix,
        org_index: usize,
        k: usize,
    ) -> anyhow::Result<Provider> {
        let (provider_type, suffix) =
            pick_weighted(&mut self.rng, &PROVIDER_TYPES.map(|(t, s, w)| ((t, s), w)));
        let place = PLACES[self.rng.gen_range(0..PLACES.len())];
        let org_id = format!("PRV-{org_index:06}");
        let name = format!("{place} {suffix}");
        let domain = format!("prv{org_index}.example");
        write_scale_org(
            &mut self.out,
            &mut self.rng,
            &self.dates,
            mix,
            &mut self.text,
            [&org_id, &name, "provider"],
            &domain,
        )?;

        let mut pidsl_ids = Vec::with_capacity(k);
        for p in 0..k {
            let mut id = [0u8; 10];
            let base = format!("{:09}", 110_000_000 + org_index);
            id[..9].copy_from_slice(base.as_bytes());
            id[9] = b'A' + p as u8;
            pidsl_ids.push(id);
            self.text.clear();
            let _ = write!(self.text, "{place} {suffix} Site {}", p + 1);
            let active: &[u8] = if self.rng.gen_ratio(1, 50) {
                b"false"
            } else {
                b"true"
            };
            self.out.pidsl([
                &id,
                org_id.as_bytes(),
                self.text.as_bytes(),
                provider_type.as_bytes(),
                active,
            ])?;
        }

        let extra = match provider_type {
            "ltc" => Services::of(&[Mmq]),
            "pace" | "sco" => Services::of(&[ScoPace]),
            _ => Services::EMPTY,
        };
        let mut admin_services = String::new();
        write_services(&mut admin_services, ADMIN.union(extra));
        let mut backup_short = String::new();
        write_services(
            &mut backup_short,
            ADMIN.union(extra).minus(Services::of(&[Financial])),
        );
        Ok(Provider {
            org_id,
            domain,
            provider_type,
            extra,
            admin_services,
            backup_short,
            pidsl_ids,
        })
    }

    /// Writes the next user (into `self.buf`) and, now and then, their roster row.
    fn write_user(
        &mut self,
        mix: &Mix,
        org_id: &str,
        domain: &str,
        job_role: usize,
    ) -> anyhow::Result<()> {
        let spec = UserSpec {
            index: self.user_index,
            org_id,
            domain,
            job_role: JOB_ROLES.get(job_role).map_or("", |r| r.0),
        };
        self.user_index += 1;
        let plan = write_scale_user(
            &mut self.out,
            &mut self.rng,
            &self.dates,
            mix,
            &mut self.buf,
            &spec,
        )?;
        write_roster_row(
            &mut self.out,
            &mut self.rng,
            &self.dates,
            &self.buf,
            &plan,
            &mut self.roster_user,
            &mut self.roster_email,
        )
    }
}

/// A provider subordinate's job role: an index into JOB_ROLES, or `usize::MAX` for none.
fn pick_job_role(rng: &mut ChaCha8Rng, provider_type: &str) -> usize {
    let roles: &[(usize, u32)] = if provider_type == "ltc" {
        &[
            (FRONT_DESK_ROLE, 25),
            (BILLER_ROLE, 20),
            (CLINICIAN_ROLE, 15),
            (LTC_ADMIN_ROLE, 25),
            (OFFICE_MANAGER_ROLE, 10),
            (usize::MAX, 5),
        ]
    } else {
        &[
            (FRONT_DESK_ROLE, 35),
            (BILLER_ROLE, 25),
            (CLINICIAN_ROLE, 25),
            (OFFICE_MANAGER_ROLE, 12),
            (usize::MAX, 3),
        ]
    };
    pick_weighted(rng, roles)
}

/// The services a provider's own subordinate holds in `job_role`.
fn job_services(rng: &mut ChaCha8Rng, mix: &Mix, job_role: usize, provider: &Provider) -> Services {
    match JOB_ROLES.get(job_role) {
        Some((_, profile)) => subordinate_services(
            rng,
            mix,
            profile
                .minus(Services::of(&[Mmq]))
                .union(profile.intersection(provider.extra)),
            provider.provider_type,
        ),
        // No job role: a broad grant, sometimes broad enough to be a finding.
        None => {
            let mut set = PORTAL_ONLY;
            for service in [
                Claims,
                Reports,
                Financial,
                Referrals,
                Batch,
                ServiceAuth,
                Contracts,
                Eligibility,
                Profile,
            ] {
                if rng.gen_ratio(3, 4) {
                    set.insert(service);
                }
            }
            set.union(provider.extra)
        }
    }
}

/// Writes one organizations.csv row: `[org_id, name, kind]`, a cadence, a management address or
/// two at `domain`, and a last review that is mostly on time.
fn write_scale_org(
    out: &mut Files,
    rng: &mut ChaCha8Rng,
    dates: &Dates,
    mix: &Mix,
    text: &mut String,
    [org_id, name, kind]: [&str; 3],
    domain: &str,
) -> anyhow::Result<()> {
    let (cadence, window) = pick_weighted(
        rng,
        &[
            (("quarterly", 92), 60),
            (("semiannual", 183), 25),
            (("annual", 366), 15),
        ],
    );
    // Most reviews are on time; some are overdue, a few organizations were never reviewed.
    let reviewed: &[u8] = if rng.gen_ratio(mix.never_reviewed, 10_000) {
        b""
    } else {
        dates.ago(rng.gen_range(1..window + mix.review_late_days))
    };
    text.clear();
    let _ = write!(text, "compliance@{domain}");
    if rng.gen_ratio(1, 3) {
        let _ = write!(text, ";cfo@{domain}");
    }
    out.organization([
        org_id.as_bytes(),
        name.as_bytes(),
        kind.as_bytes(),
        cadence.as_bytes(),
        text.as_bytes(),
        reviewed,
    ])?;
    Ok(())
}

/// HR reports some departures through roster.csv instead of users.csv: by username or by email.
fn write_roster_row(
    out: &mut Files,
    rng: &mut ChaCha8Rng,
    dates: &Dates,
    buf: &UserBuf,
    plan: &UserPlan,
    username: &mut String,
    email: &mut String,
) -> anyhow::Result<()> {
    if plan.terminated.is_some() || !rng.gen_ratio(3, 1000) {
        return Ok(());
    }
    username.clear();
    email.clear();
    if rng.gen_ratio(7, 10) {
        username.push_str(&buf.username);
    } else {
        email.push_str(&buf.email);
    }
    // Mostly people who have left; some departures announced for the coming weeks.
    let when = if rng.gen_ratio(9, 10) {
        dates.ago(rng.gen_range(0..200))
    } else {
        dates.ahead(rng.gen_range(1..45))
    };
    out.roster([username.as_bytes(), email.as_bytes(), when])?;
    Ok(())
}
