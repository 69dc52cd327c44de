//! Demo data: the CSV snapshots that `posc-review demo` loads and that the benchmarks run on.
//!
//! Two generators write the five input files of SPEC.md ("Input: CSV files") into a folder:
//!
//! - [`write_tour`]: a small, hand-made snapshot (SPEC Scenario 4 grown a little) in which every
//!   review rule fires at least once on `as_of`, with non-firing neighbours beside each problem;
//! - [`write_scale`]: a large, seeded, synthetic snapshot streamed to disk, for benchmarks.
//!
//! Every date is computed relative to `as_of`, so a review on `as_of` always finds the same
//! problems whatever the day the demo runs. Names, emails (`.example`), phone numbers
//! (617-555-01xx), days of birth and SSN digits are invented.

use anyhow::Context;
use chrono::{NaiveDate, Offset, TimeDelta, TimeZone};
use chrono_tz::America::New_York;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Counts of what was written, for the command's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoCounts {
    pub organizations: usize,
    pub pidsls: usize,
    pub users: usize,
    pub access_rows: usize,
    pub roster_rows: usize,
}

const ORGANIZATIONS_HEADER: [&str; 6] = [
    "org_id",
    "name",
    "kind",
    "review_cadence",
    "management_emails",
    "last_review_on",
];
const PIDSLS_HEADER: [&str; 5] = ["pidsl", "org_id", "name", "provider_type", "active"];
const USERS_HEADER: [&str; 15] = [
    "username",
    "first_name",
    "last_name",
    "middle_initial",
    "email",
    "phone",
    "org_id",
    "job_role",
    "status",
    "created_on",
    "last_login_at",
    "terms_accepted_on",
    "terminated_on",
    "dob_mmdd",
    "ssn_last4",
];
const ACCESS_HEADER: [&str; 6] = [
    "username",
    "pidsl",
    "role",
    "services",
    "granted_on",
    "expires_on",
];
const ROSTER_HEADER: [&str; 3] = ["username", "email", "terminated_on"];

type CsvOut = csv::Writer<BufWriter<File>>;

/// The five output files, open for writing, and what has gone into them.
struct Files {
    organizations: CsvOut,
    pidsls: CsvOut,
    users: CsvOut,
    access: CsvOut,
    roster: CsvOut,
    counts: DemoCounts,
}

impl Files {
    fn create(dir: &Path) -> anyhow::Result<Self> {
        crate::files::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
        let open = |name: &str, header: &[&str]| -> anyhow::Result<CsvOut> {
            let path = dir.join(name);
            let file = crate::files::create(&path)
                .with_context(|| format!("failed to create {}", path.display()))?;
            let mut out = csv::Writer::from_writer(BufWriter::with_capacity(1 << 17, file));
            out.write_record(header)
                .with_context(|| format!("failed to write {}", path.display()))?;
            Ok(out)
        };
        Ok(Files {
            organizations: open("organizations.csv", &ORGANIZATIONS_HEADER)?,
            pidsls: open("pidsls.csv", &PIDSLS_HEADER)?,
            users: open("users.csv", &USERS_HEADER)?,
            access: open("access.csv", &ACCESS_HEADER)?,
            roster: open("roster.csv", &ROSTER_HEADER)?,
            counts: DemoCounts::default(),
        })
    }

    fn organization(&mut self, row: [&[u8]; 6]) -> csv::Result<()> {
        self.counts.organizations += 1;
        self.organizations.write_record(row)
    }

    fn pidsl(&mut self, row: [&[u8]; 5]) -> csv::Result<()> {
        self.counts.pidsls += 1;
        self.pidsls.write_record(row)
    }

    fn user(&mut self, row: [&[u8]; 15]) -> csv::Result<()> {
        self.counts.users += 1;
        self.users.write_record(row)
    }

    fn access(&mut self, row: [&[u8]; 6]) -> csv::Result<()> {
        self.counts.access_rows += 1;
        self.access.write_record(row)
    }

    fn roster(&mut self, row: [&[u8]; 3]) -> csv::Result<()> {
        self.counts.roster_rows += 1;
        self.roster.write_record(row)
    }

    fn finish(mut self, dir: &Path) -> anyhow::Result<DemoCounts> {
        for out in [
            &mut self.organizations,
            &mut self.pidsls,
            &mut self.users,
            &mut self.access,
            &mut self.roster,
        ] {
            out.flush()
                .with_context(|| format!("failed to write the demo files in {}", dir.display()))?;
        }
        Ok(self.counts)
    }
}

/// `as_of` moved by `days` (negative: before), as `YYYY-MM-DD`.
fn date_at(as_of: NaiveDate, days: i64) -> String {
    (as_of + TimeDelta::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// A sign-in at `hour:minute` New York time on the date `days_ago` before `as_of`, as RFC 3339
/// with the offset New York has that day (-04:00 or -05:00).
fn new_york_timestamp(as_of: NaiveDate, days_ago: i64, hour: u32, minute: u32) -> String {
    let local = (as_of - TimeDelta::days(days_ago))
        .and_hms_opt(hour, minute, 0)
        .expect("valid time of day");
    New_York
        .from_local_datetime(&local)
        .earliest()
        .expect("a daytime hour exists in New York")
        .to_rfc3339()
}

// ------------------------------------------------------------------------------------------------
// The tour
// ------------------------------------------------------------------------------------------------

// The planted problems of the tour: what a whole-store review on `as_of` with the default
// configuration must find, as (rule, org_id, pidsl, username) — no more, no fewer. Days are
// counted back from as_of ("A-91" = 91 days before as_of).
//
// missing-primary                 ORG-GP   110000001C  lrivera, its only primary, is terminated
// missing-backup                  ORG-GP   110000001B  mchen has no backup
// excess-primary                  ORG-GP   110000001D  gpatel and tnguyen are both primary (3 PRIMARY_USER holders)
// manage-subordinates-misassigned ORG-GP   110000001D  fgarcia, a subordinate, holds Manage Subordinate Accounts
// backup-missing-services         ORG-GP   110000001A  jokafor (backup) lacks FINANCIAL, which gpatel holds
// terminated-user-active          ORG-GP   -           lrivera: terminated_on A-31 in users.csv, status active
// terminated-user-active          ORG-BILL -           tterm: linked billing agent, terminated A-16 by roster.csv (email)
// terminated-user-access          ORG-GP   110000001A  oleft (inactive, terminated A-153) still has a row
// terminated-user-access          ORG-GP   110000001B  tterm (linked, from ORG-BILL) still has a row
// terminated-user-access          ORG-GP   110000001C  lrivera still has a row
// expired-link                    ORG-GP   110000001A  sfox (linked), expires_on A-1
// expired-link                    ORG-GP   110000001D  sfox (linked), expires_on = as_of
// expired-link                    ORG-GP   110000001B  rtemp (own staff, temp contract), expires_on A-10
// stale-user                      ORG-GP   -           cjones: last sign-in A-91 (bare date)
// stale-user                      ORG-GP   -           zlate: last sign-in A-90 at 02:30Z = A-91 in New York
// stale-user                      ORG-GP   -           iold: never signed in, created A-61
// overloaded-primary              ORG-HOSP -           hadmin: primary on 11 active clinics
// overloaded-primary              ORG-HOSP -           hback: backup on 11 active clinics
// overbroad-grant                 ORG-GP   110000001A  ewalsh: no job_role, 10 ordinary services
// overbroad-grant                 ORG-GP   110000001B  bwright (biller) holds FINANCIAL
// overbroad-grant                 ORG-GP   110000001D  fgarcia (front_desk) holds MANAGE_SUBORDINATES
// overbroad-grant                 ORG-LTC  110000002A  uvance holds SCO_PACE on an ltc PID/SL
// missing-portal-services         ORG-GP   110000001B  cjones lacks PORTAL
// terms-not-accepted              ORG-GP   -           iold: never accepted, created A-61
// duplicate-identity              ORG-GP   -           kmorgan / kmorgan2: same name, dob_mmdd and ssn_last4
// duplicate-identity              ORG-GP   -           nsmith / nsmith-temp: same email, differing in case
// review-overdue                  ORG-LTC  -           semiannual, never reviewed
// review-overdue                  ORG-HOSP -           quarterly, last reviewed A-93
//
// Neighbours that must NOT fire:
// - dlee: last sign-in A-90 (not stale); hnew: created A-30, never signed in, no terms (grace);
// - mdoyle: old sign-in but no access rows; oannex: old sign-in, access only on the closed annex;
// - winactive: inactive, holds SCO_PACE on a group practice and signed in A-304 (inactive users
//   are not reviewed except by the terminated and expired-link rules);
// - winman shares winactive's email (in another case): only one of them is active;
// - jsmith (ORG-GP) and johnsmith (ORG-HOSP): same name, different dob_mmdd and ssn_last4;
// - vmarsh: no job_role with 9 ordinary services (threshold 10); mwatts: no job_role, SCO_PACE on
//   a pace PID/SL; eharris: MMQ on ltc; pjackson: roster terminates her A+14 (future);
// - sfox on 110000001B: expires A+1; rbaker, lcarter, sreyes: expiries in the future;
// - 110000001E (closed annex): no backup, MMQ on a group practice: inactive PID/SLs are silent;
// - ORG-GP reviewed A-92 (quarterly), ORG-BILL A-366 (annual), ORG-PACE A-183 (semiannual);
// - gpatel is primary on 2 active PID/SLs, far below the overload threshold;
// - roster.csv's row for nobody-here matches nobody (a warning, not a finding).
/// The findings (rule, org_id, pidsl, username) that a review of the tour on its as_of produces.
pub const TOUR_PLANTED: &[(&str, &str, &str, &str)] = &[
    ("missing-primary", "ORG-GP", "110000001C", ""),
    ("missing-backup", "ORG-GP", "110000001B", ""),
    ("excess-primary", "ORG-GP", "110000001D", ""),
    (
        "manage-subordinates-misassigned",
        "ORG-GP",
        "110000001D",
        "fgarcia",
    ),
    ("backup-missing-services", "ORG-GP", "110000001A", "jokafor"),
    ("terminated-user-active", "ORG-GP", "", "lrivera"),
    ("terminated-user-active", "ORG-BILL", "", "tterm"),
    ("terminated-user-access", "ORG-GP", "110000001A", "oleft"),
    ("terminated-user-access", "ORG-GP", "110000001B", "tterm"),
    ("terminated-user-access", "ORG-GP", "110000001C", "lrivera"),
    ("expired-link", "ORG-GP", "110000001A", "sfox"),
    ("expired-link", "ORG-GP", "110000001D", "sfox"),
    ("expired-link", "ORG-GP", "110000001B", "rtemp"),
    ("stale-user", "ORG-GP", "", "cjones"),
    ("stale-user", "ORG-GP", "", "zlate"),
    ("stale-user", "ORG-GP", "", "iold"),
    ("overloaded-primary", "ORG-HOSP", "", "hadmin"),
    ("overloaded-primary", "ORG-HOSP", "", "hback"),
    ("overbroad-grant", "ORG-GP", "110000001A", "ewalsh"),
    ("overbroad-grant", "ORG-GP", "110000001B", "bwright"),
    ("overbroad-grant", "ORG-GP", "110000001D", "fgarcia"),
    ("overbroad-grant", "ORG-LTC", "110000002A", "uvance"),
    ("missing-portal-services", "ORG-GP", "110000001B", "cjones"),
    ("terms-not-accepted", "ORG-GP", "", "iold"),
    ("duplicate-identity", "ORG-GP", "", "kmorgan"),
    ("duplicate-identity", "ORG-GP", "", "kmorgan2"),
    ("duplicate-identity", "ORG-GP", "", "nsmith"),
    ("duplicate-identity", "ORG-GP", "", "nsmith-temp"),
    ("review-overdue", "ORG-LTC", "", ""),
    ("review-overdue", "ORG-HOSP", "", ""),
];

/// Primary and backup services, in the POSC's display names and as codes.
const ADMIN_NAMES: &str = "Primary Portal User;Manage Subordinate Accounts;PORTAL;CLAIMS;REPORTS;FINANCIAL;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE";
const ADMIN_CODES: &str =
    "PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL;CLAIMS;REPORTS;FINANCIAL;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE";
/// The ten ordinary services a group practice uses (all twelve but SCO_PACE and MMQ).
const TEN_ORDINARY: &str =
    "PORTAL;CLAIMS;REPORTS;FINANCIAL;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE";
const FRONT_DESK: &str = "PORTAL;ELIGIBILITY;REFERRALS";
const BILLER: &str = "PORTAL;CLAIMS;BATCH;ELIGIBILITY;REPORTS";
const CLINICIAN: &str = "Portal Services;Service Authorizations;REFERRALS;ELIGIBILITY";
const LTC_ADMIN: &str =
    "PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL;MMQ;ELIGIBILITY;CLAIMS;SERVICE_AUTH";

#[derive(Clone, Copy)]
enum Login {
    /// Resolved when written: a recent sign-in that varies from user to user.
    Recent,
    Never,
    /// A bare date this many days before as_of.
    Date(i64),
    /// 02:30 UTC on the date this many days before as_of: the evening before in New York.
    UtcSmallHours(i64),
}

/// One user of the tour.
struct Person {
    username: &'static str,
    first: &'static str,
    last: &'static str,
    middle: &'static str,
    email: Option<&'static str>,
    org: &'static str,
    job_role: &'static str,
    inactive: bool,
    /// Days before as_of; None = no created_on.
    created: Option<i64>,
    login: Login,
    terms_accepted: bool,
    terminated: Option<i64>,
    /// None: invented from the user's position; Some(("", "")): not on file.
    identity: Option<(&'static str, &'static str)>,
}

fn person(
    username: &'static str,
    first: &'static str,
    last: &'static str,
    org: &'static str,
    job_role: &'static str,
) -> Person {
    Person {
        username,
        first,
        last,
        middle: "",
        email: None,
        org,
        job_role,
        inactive: false,
        created: None,
        login: Login::Recent,
        terms_accepted: true,
        terminated: None,
        identity: None,
    }
}

impl Person {
    fn middle(mut self, initial: &'static str) -> Self {
        self.middle = initial;
        self
    }
    fn email(mut self, email: &'static str) -> Self {
        self.email = Some(email);
        self
    }
    fn created(mut self, days_ago: i64) -> Self {
        self.created = Some(days_ago);
        self
    }
    fn login(mut self, login: Login) -> Self {
        self.login = login;
        self
    }
    fn never_signed_in(mut self) -> Self {
        self.login = Login::Never;
        self.terms_accepted = false;
        self
    }
    fn terminated(mut self, days_ago: i64) -> Self {
        self.terminated = Some(days_ago);
        self
    }
    fn inactive(mut self) -> Self {
        self.inactive = true;
        self
    }
    fn identity(mut self, dob_mmdd: &'static str, ssn_last4: &'static str) -> Self {
        self.identity = Some((dob_mmdd, ssn_last4));
        self
    }
}

/// One access row of the tour.
struct Grant {
    username: &'static str,
    pidsl: &'static str,
    role: &'static str,
    services: &'static str,
    /// Days after as_of (negative: before).
    expires: Option<i64>,
}

fn grant(
    username: &'static str,
    pidsl: &'static str,
    role: &'static str,
    services: &'static str,
) -> Grant {
    Grant {
        username,
        pidsl,
        role,
        services,
        expires: None,
    }
}

impl Grant {
    fn expires(mut self, days_after_as_of: i64) -> Self {
        self.expires = Some(days_after_as_of);
        self
    }
}

fn domain_of(org: &str) -> &'static str {
    match org {
        "ORG-GP" => "riverbend.example",
        "ORG-BILL" => "baystatebilling.example",
        "ORG-LTC" => "maplegrove.example",
        "ORG-HOSP" => "harborview.example",
        _ => "seasidepace.example",
    }
}

const HOSPITAL_CLINICS: [&str; 11] = [
    "Pediatrics",
    "Cardiology",
    "Orthopedics",
    "Women's Health",
    "Behavioral Health",
    "Dermatology",
    "Oncology",
    "Neurology",
    "Urgent Care",
    "Physical Therapy",
    "Endocrinology",
];

/// Two staff per Harborview clinic, in clinic order.
const HOSPITAL_STAFF: [(&str, &str, &str, &str); 22] = [
    ("apierce", "Amelia", "Pierce", "front_desk"),
    ("bcho", "Brandon", "Cho", "biller"),
    ("cmendez", "Camila", "Mendez", "clinician_admin"),
    ("dfoster", "Daniel", "Foster", "front_desk"),
    ("eross", "Elena", "Ross", "biller"),
    ("fbaptiste", "Fabrice", "Baptiste", "clinician_admin"),
    ("gsullivan", "Gemma", "Sullivan", "front_desk"),
    ("hyamamoto", "Hiro", "Yamamoto", "biller"),
    ("iferreira", "Isabel", "Ferreira", "clinician_admin"),
    ("jwashington", "Jamal", "Washington", "front_desk"),
    ("kobrien", "Kathleen", "O'Brien", "biller"),
    ("lhoang", "Linh", "Hoang", "clinician_admin"),
    ("mgreene", "Marcus", "Greene", "front_desk"),
    ("nshah", "Nisha", "Shah", "biller"),
    ("ocallahan", "Owen", "Callahan", "clinician_admin"),
    ("pmurphy", "Priya", "Murphy", "front_desk"),
    ("rsantos", "Rafael", "Santos", "biller"),
    ("sbergstrom", "Stella", "Bergstrom", "clinician_admin"),
    ("tkowalski", "Tomasz", "Kowalski", "front_desk"),
    ("vdesai", "Vikram", "Desai", "biller"),
    ("johnsmith", "John", "Smith", "clinician_admin"),
    ("wlambert", "Whitney", "Lambert", "front_desk"),
];

fn profile_services(job_role: &str) -> &'static str {
    match job_role {
        "front_desk" => FRONT_DESK,
        "biller" => BILLER,
        _ => CLINICIAN,
    }
}

/// Harborview's clinic PID/SLs: 110000003A to 110000003K.
const HOSPITAL_PIDSLS: [&str; 11] = [
    "110000003A",
    "110000003B",
    "110000003C",
    "110000003D",
    "110000003E",
    "110000003F",
    "110000003G",
    "110000003H",
    "110000003I",
    "110000003J",
    "110000003K",
];

fn tour_people() -> Vec<Person> {
    let gp = "ORG-GP";
    let bill = "ORG-BILL";
    let ltc = "ORG-LTC";
    let hosp = "ORG-HOSP";
    let pace = "ORG-PACE";
    let mut people = vec![
        // Riverbend: the Primary Users and backups of the four sites.
        person("gpatel", "Grace", "Patel", gp, "office_manager")
            .middle("R")
            .created(2670),
        person("jokafor", "James", "Okafor", gp, "office_manager").created(2450),
        person("mchen", "Mei", "Chen", gp, "office_manager")
            .middle("L")
            .created(2040),
        person("lrivera", "Luis", "Rivera", gp, "office_manager")
            .created(3056)
            .login(Login::Date(32))
            .terminated(31),
        person("sdubois", "Sophie", "Dubois", gp, "office_manager").created(1703),
        person("tnguyen", "Thanh", "Nguyen", gp, "office_manager").created(1270),
        // Riverbend staff.
        person("akim", "Alice", "Kim", gp, "front_desk").created(997),
        person("bwright", "Ben", "Wright", gp, "biller").created(1172),
        person("cjones", "Carla", "Jones", gp, "front_desk")
            .created(1491)
            .login(Login::Date(91)),
        person("dlee", "David", "Lee", gp, "front_desk")
            .created(1491)
            .login(Login::Date(90)),
        person("ewalsh", "Erin", "Walsh", gp, "").created(1785),
        person("vmarsh", "Victor", "Marsh", gp, "")
            .middle("T")
            .created(1320),
        person("fgarcia", "Frank", "Garcia", gp, "front_desk").created(879),
        person("hnew", "Hannah", "Newman", gp, "front_desk")
            .created(30)
            .never_signed_in(),
        person("iold", "Ian", "Oldfield", gp, "front_desk")
            .created(61)
            .never_signed_in(),
        person("kmorgan", "Kevin", "Morgan", gp, "clinician_admin")
            .created(2392)
            .identity("03/14", "1234"),
        person("kmorgan2", "Kevin", "Morgan", gp, "clinician_admin")
            .email("kevin.morgan@riverbend.example")
            .created(607)
            .identity("03/14", "1234"),
        person("nsmith", "Nora", "Smith", gp, "front_desk").created(2096),
        person("nsmith-temp", "Nora", "Smith", gp, "front_desk")
            .email("NSmith@riverbend.example")
            .created(304)
            .identity("", ""),
        person("oleft", "Olivia", "Leftwich", gp, "biller")
            .created(2798)
            .login(Login::Date(156))
            .terminated(153)
            .inactive(),
        person("winactive", "Will", "Inman", gp, "")
            .email("winman@riverbend.example")
            .created(2308)
            .login(Login::Date(304))
            .inactive(),
        person("winman", "Wendy", "Inman", gp, "front_desk")
            .email("WInman@riverbend.example")
            .created(412),
        person("zlate", "Zoe", "Latham", gp, "front_desk")
            .created(1491)
            .login(Login::UtcSmallHours(90)),
        person("oannex", "Oscar", "Annesley", gp, "front_desk")
            .created(3100)
            .login(Login::Date(400)),
        person("pjackson", "Paula", "Jackson", gp, "biller")
            .middle("M")
            .created(1618),
        person("mlopez", "Maria", "Lopez", gp, "biller").created(1410),
        person("abrown", "Aaron", "Brown", gp, "front_desk").created(733),
        person("cdavis", "Chloe", "Davis", gp, "clinician_admin").created(1555),
        person("kwilson", "Keisha", "Wilson", gp, "clinician_admin")
            .middle("D")
            .created(1009),
        person("ttaylor", "Tom", "Taylor", gp, "biller").created(2204),
        person("lmoore", "Linda", "Moore", gp, "front_desk").created(518),
        person("janderson", "Jorge", "Anderson", gp, "office_manager").created(1873),
        person("sreyes", "Sofia", "Reyes", gp, "front_desk").created(95),
        person("rtemp", "Rachel", "Templeton", gp, "front_desk").created(140),
        person("jsmith", "John", "Smith", gp, "front_desk")
            .middle("A")
            .created(866),
        person("mdoyle", "Margaret", "Doyle", gp, "office_manager")
            .created(3300)
            .login(Login::Date(200)),
        // Bay State Billing Partners: staff linked to the Riverbend sites.
        person("rbaker", "Rita", "Baker", bill, "billing_agency").created(2579),
        person("sfox", "Sam", "Fox", bill, "billing_agency").created(2182),
        person("tterm", "Tina", "Termini", bill, "billing_agency")
            .email("tina.termini@baystatebilling.example")
            .created(1641),
        person("dthomas", "Derek", "Thomas", bill, "billing_agency").created(1130),
        person("lcarter", "Lena", "Carter", bill, "billing_agency").created(290),
        // Maple Grove Nursing Center.
        person("ppark", "Paul", "Park", ltc, "ltc_admin").created(3195),
        person("qquinn", "Quinn", "Quigley", ltc, "ltc_admin").created(3194),
        person("uvance", "Uma", "Vance", ltc, "ltc_admin").created(2769),
        person("eharris", "Emma", "Harris", ltc, "ltc_admin").created(1200),
        person("gmartin", "George", "Martin", ltc, "biller").created(820),
        person("bthompson", "Beth", "Thompson", ltc, "front_desk").created(460),
        // Harborview Community Hospital: one Primary User and one backup for eleven clinics.
        person("hadmin", "Helen", "Adair", hosp, "office_manager").created(3373),
        person("hback", "Hugo", "Backman", hosp, "office_manager").created(3372),
        // Seaside PACE Partners.
        person("rcollins", "Ruth", "Collins", pace, "office_manager").created(2010),
        person("yokoro", "Yuki", "Okoro", pace, "office_manager").created(1980),
        person("mwatts", "Marcus", "Watts", pace, "").created(1500),
        person("dprice", "Dana", "Price", pace, "clinician_admin").created(700),
        person("fortiz", "Felix", "Ortiz", pace, "biller").created(650),
    ];
    for (i, (username, first, last, job_role)) in HOSPITAL_STAFF.iter().enumerate() {
        people.push(person(username, first, last, hosp, job_role).created(300 + 97 * i as i64));
    }
    people
}

fn tour_grants() -> Vec<Grant> {
    let (a, b, c, d, e) = (
        "110000001A",
        "110000001B",
        "110000001C",
        "110000001D",
        "110000001E",
    );
    let (ltc, pace) = ("110000002A", "110000004A");
    let mut grants = vec![
        // Main office: jokafor, the backup, lacks FINANCIAL.
        grant("gpatel", a, "primary", ADMIN_NAMES),
        grant(
            "jokafor",
            a,
            "backup",
            "PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL;CLAIMS;REPORTS;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE",
        ),
        grant("akim", a, "subordinate", "Portal Services;Manage Member Eligibility"),
        grant("bwright", a, "subordinate", BILLER),
        grant("ewalsh", a, "subordinate", TEN_ORDINARY),
        grant("hnew", a, "subordinate", "PORTAL;ELIGIBILITY"),
        grant("oleft", a, "subordinate", "PORTAL;CLAIMS"),
        grant("nsmith", a, "subordinate", "PORTAL;ELIGIBILITY"),
        grant("nsmith-temp", a, "subordinate", "PORTAL;ELIGIBILITY"),
        grant("mlopez", a, "subordinate", "PORTAL;CLAIMS;BATCH;View Provider Reports"),
        grant("abrown", a, "subordinate", FRONT_DESK),
        grant("sreyes", a, "subordinate", FRONT_DESK).expires(90),
        grant("rbaker", a, "subordinate", BILLER).expires(272),
        grant("sfox", a, "subordinate", "PORTAL;CLAIMS;BATCH").expires(-1),
        grant("lcarter", a, "subordinate", "PORTAL;ELIGIBILITY;REPORTS").expires(180),
        // North site: no backup.
        grant("mchen", b, "primary", ADMIN_NAMES),
        grant("bwright", b, "subordinate", "PORTAL;CLAIMS;BATCH;ELIGIBILITY;REPORTS;View Financial Data"),
        grant("cjones", b, "subordinate", "ELIGIBILITY;REFERRALS"),
        grant("winactive", b, "subordinate", "PORTAL;Manage SCO and PACE Members"),
        grant("winman", b, "subordinate", FRONT_DESK),
        grant("abrown", b, "subordinate", FRONT_DESK),
        grant("cdavis", b, "subordinate", CLINICIAN),
        grant("pjackson", b, "subordinate", "PORTAL;CLAIMS;BATCH"),
        grant("jsmith", b, "subordinate", "PORTAL;ELIGIBILITY"),
        grant("rtemp", b, "subordinate", FRONT_DESK).expires(-10),
        grant("rbaker", b, "subordinate", BILLER).expires(272),
        grant("sfox", b, "subordinate", "PORTAL;CLAIMS;BATCH").expires(1),
        grant("tterm", b, "subordinate", "PORTAL;CLAIMS;BATCH").expires(272),
        // South site: its primary has left.
        grant("lrivera", c, "primary", ADMIN_NAMES),
        grant("sdubois", c, "backup", ADMIN_NAMES),
        grant("dlee", c, "subordinate", "PORTAL;ELIGIBILITY;REFERRALS"),
        grant("zlate", c, "subordinate", "PORTAL;ELIGIBILITY"),
        grant("vmarsh", c, "subordinate", "PORTAL;CLAIMS;REPORTS;FINANCIAL;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY"),
        grant("kmorgan", c, "subordinate", "PORTAL;SERVICE_AUTH;REFERRALS"),
        grant("kmorgan2", c, "subordinate", "PORTAL;SERVICE_AUTH"),
        grant("kwilson", c, "subordinate", "PORTAL;Service Authorizations;REFERRALS"),
        grant("ttaylor", c, "subordinate", "PORTAL;CLAIMS;BATCH;ELIGIBILITY"),
        grant("rbaker", c, "subordinate", BILLER).expires(272),
        grant("dthomas", c, "subordinate", "Claims Submission and Status;PORTAL;BATCH"),
        // West site: two primaries, a subordinate who manages subordinates.
        grant("gpatel", d, "primary", ADMIN_NAMES),
        grant("tnguyen", d, "primary", ADMIN_CODES),
        grant("jokafor", d, "backup", ADMIN_CODES),
        grant("fgarcia", d, "subordinate", "PORTAL;ELIGIBILITY;Manage Subordinate Accounts"),
        grant("iold", d, "subordinate", "PORTAL;ELIGIBILITY"),
        grant("ttaylor", d, "subordinate", "PORTAL;CLAIMS;BATCH;ELIGIBILITY"),
        grant("lmoore", d, "subordinate", "PORTAL;ELIGIBILITY"),
        grant("janderson", d, "subordinate", "PORTAL;CLAIMS;REPORTS;FINANCIAL;CONTRACTS;PROFILE"),
        grant("rbaker", d, "subordinate", BILLER).expires(272),
        grant("sfox", d, "subordinate", "PORTAL;CLAIMS;BATCH").expires(0),
        grant("dthomas", d, "subordinate", "Claims Submission and Status;PORTAL;BATCH"),
        // The closed annex: full of problems, never reviewed.
        grant("gpatel", e, "primary", ADMIN_NAMES),
        grant("ewalsh", e, "subordinate", "PORTAL;CLAIMS;REPORTS;FINANCIAL;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE;MMQ"),
        grant("oannex", e, "subordinate", "PORTAL;Manage Subordinate Accounts").expires(-400),
        // Maple Grove: MMQ is allowed in long-term care, SCO_PACE is not.
        grant("ppark", ltc, "primary", LTC_ADMIN),
        grant("qquinn", ltc, "backup", "Primary Portal User;Manage Subordinate Accounts;PORTAL;Manage MMQ;ELIGIBILITY;CLAIMS;SERVICE_AUTH"),
        grant("uvance", ltc, "subordinate", "PORTAL;Manage MMQ;ELIGIBILITY;SCO_PACE"),
        grant("eharris", ltc, "subordinate", "PORTAL;MMQ;ELIGIBILITY"),
        grant("gmartin", ltc, "subordinate", "PORTAL;CLAIMS;BATCH"),
        grant("bthompson", ltc, "subordinate", "PORTAL;ELIGIBILITY"),
        // Seaside PACE: SCO_PACE is allowed.
        grant("rcollins", pace, "primary", "PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL;CLAIMS;REPORTS;FINANCIAL;SCO_PACE;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE"),
        grant("yokoro", pace, "backup", "Primary Portal User;Manage Subordinate Accounts;Portal Services;CLAIMS;REPORTS;FINANCIAL;Manage SCO and PACE Members;REFERRALS;BATCH;SERVICE_AUTH;CONTRACTS;ELIGIBILITY;PROFILE"),
        grant("mwatts", pace, "subordinate", "PORTAL;SCO_PACE;ELIGIBILITY"),
        grant("dprice", pace, "subordinate", "PORTAL;SERVICE_AUTH;REFERRALS"),
        grant("fortiz", pace, "subordinate", "PORTAL;CLAIMS;ELIGIBILITY"),
    ];
    // Harborview: hadmin and hback administer all eleven clinics; two staff work in each.
    for (i, pidsl) in HOSPITAL_PIDSLS.iter().enumerate() {
        grants.push(grant(
            "hadmin",
            pidsl,
            "primary",
            if i % 2 == 0 { ADMIN_NAMES } else { ADMIN_CODES },
        ));
        grants.push(grant("hback", pidsl, "backup", ADMIN_CODES));
        for (username, _, _, job_role) in &HOSPITAL_STAFF[2 * i..2 * i + 2] {
            grants.push(grant(
                username,
                pidsl,
                "subordinate",
                profile_services(job_role),
            ));
        }
    }
    grants
}

/// The org_ids of a snapshot folder's organizations.csv.
pub fn org_ids(dir: &Path) -> anyhow::Result<std::collections::HashSet<String>> {
    let path = dir.join("organizations.csv");
    let mut reader =
        csv::Reader::from_path(&path).with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .records()
        .map(|r| Ok(r?.get(0).unwrap_or_default().to_string()))
        .collect()
}

/// The tour: a realistic snapshot relative to `as_of`, in which every rule of the SPEC fires at least once.
pub fn write_tour(dir: &Path, as_of: NaiveDate) -> anyhow::Result<DemoCounts> {
    let mut out = Files::create(dir)?;
    let on = |days: i64| date_at(as_of, days);

    // [org_id, name, kind, review_cadence, management_emails] and the days since the last review.
    let organizations: [([&str; 5], Option<i64>); 5] = [
        (
            [
                "ORG-GP",
                "Riverbend Family Health Group",
                "provider",
                "quarterly",
                "compliance@riverbend.example;cfo@riverbend.example",
            ],
            Some(92),
        ),
        (
            [
                "ORG-BILL",
                "Bay State Billing Partners",
                "billing_intermediary",
                "annual",
                "ops@baystatebilling.example",
            ],
            Some(366),
        ),
        (
            [
                "ORG-LTC",
                "Maple Grove Nursing Center",
                "provider",
                "semiannual",
                "administrator@maplegrove.example",
            ],
            None,
        ),
        (
            [
                "ORG-HOSP",
                "Harborview Community Hospital",
                "provider",
                "quarterly",
                "privacy.officer@harborview.example",
            ],
            Some(93),
        ),
        (
            [
                "ORG-PACE",
                "Seaside PACE Partners",
                "provider",
                "Semiannual",
                "compliance@seasidepace.example",
            ],
            Some(183),
        ),
    ];
    for ([org_id, name, kind, cadence, emails], reviewed) in organizations {
        let reviewed = reviewed.map(|d| on(-d)).unwrap_or_default();
        out.organization([org_id, name, kind, cadence, emails, &reviewed].map(str::as_bytes))?;
    }

    let mut pidsls: Vec<(String, &str, String, &str, &str)> = vec![
        (
            "110000001A".into(),
            "ORG-GP",
            "Riverbend Main Office".into(),
            "group_practice",
            "true",
        ),
        (
            "110000001B".into(),
            "ORG-GP",
            "Riverbend North Site".into(),
            "group_practice",
            "true",
        ),
        (
            "110000001C".into(),
            "ORG-GP",
            "Riverbend South Site".into(),
            "group_practice",
            "true",
        ),
        (
            "110000001D".into(),
            "ORG-GP",
            "Riverbend West Site".into(),
            "group_practice",
            "TRUE",
        ),
        (
            "110000001E".into(),
            "ORG-GP",
            "Riverbend Old Annex (closed)".into(),
            "group_practice",
            "false",
        ),
        (
            "110000002A".into(),
            "ORG-LTC",
            "Maple Grove Nursing Center".into(),
            "ltc",
            "",
        ),
    ];
    for (pidsl, clinic) in HOSPITAL_PIDSLS.iter().zip(HOSPITAL_CLINICS) {
        pidsls.push((
            pidsl.to_string(),
            "ORG-HOSP",
            format!("Harborview {clinic} Clinic"),
            "hospital",
            "true",
        ));
    }
    pidsls.push((
        "110000004A".into(),
        "ORG-PACE",
        "Seaside PACE Partners".into(),
        "pace",
        "true",
    ));
    for (pidsl, org_id, name, provider_type, active) in &pidsls {
        out.pidsl([pidsl, *org_id, name, provider_type, active].map(str::as_bytes))?;
    }

    let people = tour_people();
    for (i, p) in people.iter().enumerate() {
        let i = i as i64;
        let email = match p.email {
            Some(email) => email.to_string(),
            None => format!("{}@{}", p.username, domain_of(p.org)),
        };
        let phone = if i % 3 == 2 {
            String::new()
        } else {
            format!("617-555-01{:02}", i % 100)
        };
        let created = p.created.map(|d| on(-d)).unwrap_or_default();
        let last_login = match p.login {
            Login::Never => String::new(),
            Login::Date(days) => on(-days),
            Login::UtcSmallHours(days) => format!("{}T02:30:00Z", on(-days)),
            Login::Recent => {
                let days = (i * 7) % 45;
                if i % 2 == 0 {
                    new_york_timestamp(as_of, days, 8 + (i % 9) as u32, ((i * 13) % 60) as u32)
                } else {
                    on(-days)
                }
            }
        };
        let terms = if p.terms_accepted {
            created.clone()
        } else {
            String::new()
        };
        let terminated = p.terminated.map(|d| on(-d)).unwrap_or_default();
        let (dob, ssn) = match p.identity {
            Some((dob, ssn)) => (dob.to_string(), ssn.to_string()),
            None => (
                format!("{:02}/{:02}", 1 + i % 12, 1 + (i * 11) % 28),
                format!("{:04}", (i * 7919 + 2741) % 10000),
            ),
        };
        let status = if p.inactive { "inactive" } else { "active" };
        out.user(
            [
                p.username,
                p.first,
                p.last,
                p.middle,
                &email,
                &phone,
                p.org,
                p.job_role,
                status,
                &created,
                &last_login,
                &terms,
                &terminated,
                &dob,
                &ssn,
            ]
            .map(str::as_bytes),
        )?;
    }

    for g in tour_grants() {
        let holder = people
            .iter()
            .find(|p| p.username == g.username)
            .expect("every grant names a tour user");
        let granted = holder.created.map(|d| on(-d)).unwrap_or_default();
        let expires = g.expires.map(on).unwrap_or_default();
        out.access(
            [g.username, g.pidsl, g.role, g.services, &granted, &expires].map(str::as_bytes),
        )?;
    }

    // The HR roster: a linked billing agent who left (matched by email, in another case), a
    // departure announced for two weeks from now, and a row that matches nobody.
    let roster = [
        ("", "Tina.Termini@BayStateBilling.example", on(-16)),
        ("pjackson", "", on(14)),
        ("nobody-here", "", on(-30)),
    ];
    for (username, email, terminated_on) in &roster {
        out.roster([username, email, terminated_on.as_str()].map(str::as_bytes))?;
    }

    out.finish(dir)
}

// ------------------------------------------------------------------------------------------------
// The scale snapshot
// ------------------------------------------------------------------------------------------------

const FIRST_NAMES: [&str; 64] = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Sandra",
    "Mark",
    "Ashley",
    "Steven",
    "Emily",
    "Andrew",
    "Donna",
    "Joshua",
    "Michelle",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "Luis",
    "Melissa",
    "Wei",
    "Deborah",
    "Kwame",
    "Stephanie",
    "Ryan",
    "Rebecca",
    "Jacob",
    "Sharon",
    "Nicholas",
    "Laura",
    "Eric",
    "Cynthia",
    "Jonathan",
    "Amy",
    "Priya",
    "Angela",
    "Samuel",
    "Maria",
    "Diego",
    "Fatima",
    "Omar",
    "Grace",
    "Hiro",
    "Anh",
];

/// Letters only, so that initial + last name + number is a unique username.
const LAST_NAMES: [&str; 64] = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Sullivan",
    "Murphy",
    "Kelly",
    "Chen",
    "Patel",
    "Kim",
    "Okafor",
    "Silva",
    "Costa",
    "Doyle",
    "Fitzgerald",
    "Tran",
    "Pham",
    "Mensah",
];

const PLACES: [&str; 32] = [
    "Riverside",
    "Lakeview",
    "Hillcrest",
    "Brookline",
    "Cedar",
    "Harbor",
    "Pine Hill",
    "Oakwood",
    "Summit",
    "Meadow",
    "Granite",
    "Bayside",
    "Northgate",
    "Westfield",
    "Ashland",
    "Fairview",
    "Elmwood",
    "Stonebridge",
    "Maplewood",
    "Greenfield",
    "Highland",
    "Seaport",
    "Millbrook",
    "Clearwater",
    "Foxborough",
    "Kingston",
    "Salem Harbor",
    "Beacon",
    "Charles River",
    "Merrimack",
    "Berkshire",
    "Cape Cod",
];

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

/// Service bits, in the order of [`crate::domain::ServiceCode`].
mod bits {
    pub const PRIMARY_USER: u16 = 1 << 0;
    pub const MANAGE_SUBORDINATES: u16 = 1 << 1;
    pub const PORTAL: u16 = 1 << 2;
    pub const CLAIMS: u16 = 1 << 3;
    pub const REPORTS: u16 = 1 << 4;
    pub const FINANCIAL: u16 = 1 << 5;
    pub const SCO_PACE: u16 = 1 << 6;
    pub const REFERRALS: u16 = 1 << 7;
    pub const BATCH: u16 = 1 << 8;
    pub const SERVICE_AUTH: u16 = 1 << 9;
    pub const CONTRACTS: u16 = 1 << 10;
    pub const ELIGIBILITY: u16 = 1 << 11;
    pub const MMQ: u16 = 1 << 12;
    pub const PROFILE: u16 = 1 << 13;
    pub const CODES: [&str; 14] = [
        "PRIMARY_USER",
        "MANAGE_SUBORDINATES",
        "PORTAL",
        "CLAIMS",
        "REPORTS",
        "FINANCIAL",
        "SCO_PACE",
        "REFERRALS",
        "BATCH",
        "SERVICE_AUTH",
        "CONTRACTS",
        "ELIGIBILITY",
        "MMQ",
        "PROFILE",
    ];
    /// The ten services a general practice uses (all but the two admin ones, SCO_PACE and MMQ).
    pub const ORDINARY: u16 = PORTAL
        | CLAIMS
        | REPORTS
        | FINANCIAL
        | REFERRALS
        | BATCH
        | SERVICE_AUTH
        | CONTRACTS
        | ELIGIBILITY
        | PROFILE;
    pub const ADMIN: u16 = PRIMARY_USER | MANAGE_SUBORDINATES | ORDINARY;
}

/// The job roles of config/default.toml with their profiles, and their weights out of 100 among
/// a provider's subordinates (ltc_admin only in long-term care).
const JOB_ROLES: [(&str, u16); 6] = [
    (
        "front_desk",
        bits::PORTAL | bits::ELIGIBILITY | bits::REFERRALS,
    ),
    (
        "biller",
        bits::PORTAL | bits::CLAIMS | bits::BATCH | bits::ELIGIBILITY | bits::REPORTS,
    ),
    (
        "billing_agency",
        bits::PORTAL | bits::CLAIMS | bits::BATCH | bits::ELIGIBILITY | bits::REPORTS,
    ),
    (
        "clinician_admin",
        bits::PORTAL | bits::SERVICE_AUTH | bits::REFERRALS | bits::ELIGIBILITY,
    ),
    (
        "ltc_admin",
        bits::PORTAL | bits::MMQ | bits::ELIGIBILITY | bits::CLAIMS | bits::SERVICE_AUTH,
    ),
    ("office_manager", bits::ORDINARY),
];
const FRONT_DESK_ROLE: usize = 0;
const BILLER_ROLE: usize = 1;
const BILLING_AGENCY_ROLE: usize = 2;
const CLINICIAN_ROLE: usize = 3;
const LTC_ADMIN_ROLE: usize = 4;
const OFFICE_MANAGER_ROLE: usize = 5;

fn write_services(buf: &mut String, set: u16) {
    buf.clear();
    for (i, code) in bits::CODES.iter().enumerate() {
        if set & (1 << i) != 0 {
            if !buf.is_empty() {
                buf.push(';');
            }
            buf.push_str(code);
        }
    }
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
    if rng.gen_ratio(1, 2000) && !buf.previous_email.is_empty() {
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

    // Most accounts are years old; one in a hundred is new and has not signed in yet.
    let new_account = rng.gen_ratio(1, 100);
    let created_ago: i64 = if new_account {
        rng.gen_range(0..60)
    } else {
        rng.gen_range(61..4000)
    };
    let roll = rng.gen_range(0..1000);
    let login_ago: Option<i64> = if new_account || roll < 15 {
        None
    } else if roll < 55 {
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
    if login_ago.is_some() && !rng.gen_ratio(3, 1000) {
        buf.terms.push_str(&buf.created);
    }

    let terminated = rng.gen_ratio(12, 1000).then(|| rng.gen_range(1..400));
    // Half of those who left were deactivated; the others are still active (a finding).
    let inactive = match terminated {
        Some(_) => rng.gen_bool(0.5),
        None => rng.gen_ratio(1, 100),
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
fn subordinate_services(rng: &mut ChaCha8Rng, profile: u16, provider_type: &str) -> u16 {
    let mut set = bits::PORTAL;
    for bit in 3..14 {
        let service = 1u16 << bit;
        if profile & service != 0 && rng.gen_ratio(4, 5) {
            set |= service;
        }
    }
    if set == bits::PORTAL {
        let rest = profile & !bits::PORTAL;
        set |= rest & rest.wrapping_neg(); // at least the profile's first service
    }
    let roll = rng.gen_range(0..1000);
    match roll {
        0..=14 => set |= bits::FINANCIAL | bits::PROFILE,
        15..=16 => set |= bits::MANAGE_SUBORDINATES,
        17..=19 if provider_type != "ltc" => set |= bits::MMQ,
        20..=24 => set &= !bits::PORTAL,
        _ => {}
    }
    set
}

/// A large synthetic snapshot for benchmarks: `pidsls` PID/SLs, about 10 users and 40 access rows per PID/SL,
/// deterministic for a given seed (same files byte for byte), streamed to disk (never holding all rows in memory:
/// at pidsls = 100_000 that is 1,000,000 users and ~4,000,000 access rows).
pub fn write_scale(
    dir: &Path,
    pidsls: usize,
    seed: u64,
    as_of: NaiveDate,
) -> anyhow::Result<DemoCounts> {
    let mut out = Files::create(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dates = Dates::new(as_of);
    let mut buf = UserBuf::default();
    let mut text = String::new();
    let mut user_index: u64 = 0;
    let mut roster_user = String::new();
    let mut roster_email = String::new();

    // Billing intermediaries first: their staff are created as the providers link them.
    let billing_orgs = (pidsls / 400).max(1);
    for b in 0..billing_orgs {
        let org_id = format!("BILL-{b:05}");
        let place = PLACES[rng.gen_range(0..PLACES.len())];
        let name = format!("{place} Billing Services {b}");
        let domain = format!("billing{b}.example");
        write_scale_org(
            &mut out,
            &mut rng,
            &dates,
            &mut text,
            [&org_id, &name, "billing_intermediary"],
            &domain,
        )?;
    }

    let mut pidsl_ids: Vec<[u8; 10]> = Vec::with_capacity(20);
    let mut done = 0usize;
    let mut org_index = 0usize;
    while done < pidsls {
        let k = rng.gen_range(1..=20usize).min(pidsls - done);
        done += k;
        let (provider_type, suffix) =
            pick_weighted(&mut rng, &PROVIDER_TYPES.map(|(t, s, w)| ((t, s), w)));
        let place = PLACES[rng.gen_range(0..PLACES.len())];
        let org_id = format!("PRV-{org_index:06}");
        let name = format!("{place} {suffix}");
        let domain = format!("prv{org_index}.example");
        write_scale_org(
            &mut out,
            &mut rng,
            &dates,
            &mut text,
            [&org_id, &name, "provider"],
            &domain,
        )?;

        pidsl_ids.clear();
        for p in 0..k {
            let mut id = [0u8; 10];
            let base = format!("{:09}", 110_000_000 + org_index);
            id[..9].copy_from_slice(base.as_bytes());
            id[9] = b'A' + p as u8;
            pidsl_ids.push(id);
            text.clear();
            let _ = write!(text, "{place} {suffix} Site {}", p + 1);
            let active: &[u8] = if rng.gen_ratio(1, 50) {
                b"false"
            } else {
                b"true"
            };
            out.pidsl([
                &id,
                org_id.as_bytes(),
                text.as_bytes(),
                provider_type.as_bytes(),
                active,
            ])?;
        }

        let extra = match provider_type {
            "ltc" => bits::MMQ,
            "pace" | "sco" => bits::SCO_PACE,
            _ => 0,
        };
        let mut admin_services = String::new();
        write_services(&mut admin_services, bits::ADMIN | extra);
        let mut backup_short = String::new();
        write_services(&mut backup_short, (bits::ADMIN | extra) & !bits::FINANCIAL);

        // One Primary User and one backup for each group of up to three PID/SLs; now and then a
        // large organization leaves all its PID/SLs to one pair, more than one person can review.
        let group_size = if k > 10 && rng.gen_ratio(1, 8) { k } else { 3 };
        let groups = k.div_ceil(group_size);
        let own_users = 9 * k;
        for u in 0..own_users {
            let is_admin = u < 2 * groups;
            let job_role = if is_admin {
                OFFICE_MANAGER_ROLE
            } else {
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
                pick_weighted(&mut rng, roles)
            };
            let role_name = JOB_ROLES.get(job_role).map_or("", |r| r.0);
            let spec = UserSpec {
                index: user_index,
                org_id: &org_id,
                domain: &domain,
                job_role: role_name,
            };
            user_index += 1;
            let plan = write_scale_user(&mut out, &mut rng, &dates, &mut buf, &spec)?;
            write_roster_row(
                &mut out,
                &mut rng,
                &dates,
                &buf,
                &plan,
                &mut roster_user,
                &mut roster_email,
            )?;

            if is_admin {
                let group = u / 2;
                let role: &[u8] = if u % 2 == 0 { b"primary" } else { b"backup" };
                for id in pidsl_ids
                    .iter()
                    .take((group_size * (group + 1)).min(k))
                    .skip(group_size * group)
                {
                    // A few backups are missing from a PID/SL, a few lack one of the primary's services.
                    if u % 2 == 1 && rng.gen_ratio(2, 100) {
                        continue;
                    }
                    let services = if u % 2 == 1 && rng.gen_ratio(1, 100) {
                        &backup_short
                    } else {
                        &admin_services
                    };
                    out.access([
                        buf.username.as_bytes(),
                        id,
                        role,
                        services.as_bytes(),
                        buf.created.as_bytes(),
                        b"",
                    ])?;
                }
                continue;
            }

            let set = match JOB_ROLES.get(job_role) {
                Some((_, profile)) => subordinate_services(
                    &mut rng,
                    (*profile & !bits::MMQ) | (*profile & extra),
                    provider_type,
                ),
                // No job role: a broad grant, sometimes broad enough to be a finding.
                None => {
                    let mut set = bits::PORTAL;
                    for bit in [3, 4, 5, 7, 8, 9, 10, 11, 13] {
                        if rng.gen_ratio(3, 4) {
                            set |= 1 << bit;
                        }
                    }
                    set | extra
                }
            };
            write_services(&mut buf.services, set);
            let rows = rng.gen_range(1..=k.min(8));
            let start = rng.gen_range(0..k);
            for j in 0..rows {
                let id = &pidsl_ids[(start + j) % k];
                // Rarely, a subordinate was made a second Primary User.
                let (role, services): (&[u8], &str) = if rng.gen_ratio(1, 5000) {
                    (b"primary", &admin_services)
                } else {
                    (b"subordinate", &buf.services)
                };
                out.access([
                    buf.username.as_bytes(),
                    id,
                    role,
                    services.as_bytes(),
                    buf.created.as_bytes(),
                    b"",
                ])?;
            }
        }

        // Billing agents linked to this provider: about one per PID/SL.
        for _ in 0..k {
            let b = rng.gen_range(0..billing_orgs);
            let org_id = format!("BILL-{b:05}");
            let domain = format!("billing{b}.example");
            let spec = UserSpec {
                index: user_index,
                org_id: &org_id,
                domain: &domain,
                job_role: JOB_ROLES[BILLING_AGENCY_ROLE].0,
            };
            user_index += 1;
            let plan = write_scale_user(&mut out, &mut rng, &dates, &mut buf, &spec)?;
            write_roster_row(
                &mut out,
                &mut rng,
                &dates,
                &buf,
                &plan,
                &mut roster_user,
                &mut roster_email,
            )?;
            let set =
                subordinate_services(&mut rng, JOB_ROLES[BILLING_AGENCY_ROLE].1, provider_type);
            write_services(&mut buf.services, set);
            let rows = rng.gen_range(1..=k.min(5));
            let start = rng.gen_range(0..k);
            for j in 0..rows {
                let id = &pidsl_ids[(start + j) % k];
                // The agency's contract: open-ended, running, or (rarely) already over.
                let roll = rng.gen_range(0..100);
                let expires: &[u8] = if roll < 35 {
                    b""
                } else if roll < 97 {
                    dates.ahead(rng.gen_range(1..900))
                } else {
                    dates.ago(rng.gen_range(0..300))
                };
                out.access([
                    buf.username.as_bytes(),
                    id,
                    b"subordinate",
                    buf.services.as_bytes(),
                    buf.created.as_bytes(),
                    expires,
                ])?;
            }
        }
        org_index += 1;
    }

    // Roster rows that match nobody: people HR lists who never had an account here.
    for n in 0..(user_index / 10_000).max(1) {
        roster_email.clear();
        let _ = write!(roster_email, "former.staff{n}@hr.example");
        let when = dates.ago(rng.gen_range(1..365));
        out.roster([b"", roster_email.as_bytes(), when])?;
    }

    out.finish(dir)
}

/// Writes one organizations.csv row: `[org_id, name, kind]`, a cadence, a management address or
/// two at `domain`, and a last review that is mostly on time.
fn write_scale_org(
    out: &mut Files,
    rng: &mut ChaCha8Rng,
    dates: &Dates,
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
    let reviewed: &[u8] = if rng.gen_ratio(1, 20) {
        b""
    } else {
        dates.ago(rng.gen_range(1..window + 15))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PidSl, Services};
    use std::collections::{BTreeMap, BTreeSet};

    const FILES: [&str; 5] = [
        "organizations.csv",
        "pidsls.csv",
        "users.csv",
        "access.csv",
        "roster.csv",
    ];

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
    }

    /// The rows of one file, as maps from column name to cell.
    fn rows(dir: &Path, file: &str) -> Vec<BTreeMap<String, String>> {
        let mut reader = csv::Reader::from_path(dir.join(file)).unwrap();
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        reader
            .records()
            .map(|r| {
                header
                    .iter()
                    .cloned()
                    .zip(r.unwrap().iter().map(str::to_string))
                    .collect()
            })
            .collect()
    }

    fn header(dir: &Path, file: &str) -> Vec<String> {
        csv::Reader::from_path(dir.join(file))
            .unwrap()
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect()
    }

    fn tour() -> (tempfile::TempDir, DemoCounts) {
        let dir = tempfile::tempdir().unwrap();
        let counts = write_tour(dir.path(), as_of()).unwrap();
        (dir, counts)
    }

    /// Checks what both generators promise: keys exist, services parse, usernames are unique.
    fn assert_consistent(dir: &Path) {
        let orgs: BTreeSet<String> = rows(dir, "organizations.csv")
            .into_iter()
            .map(|r| r["org_id"].clone())
            .collect();
        let mut pidsls = BTreeSet::new();
        for row in rows(dir, "pidsls.csv") {
            assert!(
                PidSl::parse(&row["pidsl"]).is_ok(),
                "bad PID/SL {}",
                row["pidsl"]
            );
            assert!(
                pidsls.insert(row["pidsl"].clone()),
                "PID/SL {} twice",
                row["pidsl"]
            );
            assert!(
                orgs.contains(&row["org_id"]),
                "PID/SL {} of unknown org",
                row["pidsl"]
            );
        }
        let mut users = BTreeSet::new();
        for row in rows(dir, "users.csv") {
            assert!(
                users.insert(row["username"].to_lowercase()),
                "username {} twice",
                row["username"]
            );
            assert!(
                orgs.contains(&row["org_id"]),
                "user {} of unknown org",
                row["username"]
            );
        }
        let mut pairs = BTreeSet::new();
        for row in rows(dir, "access.csv") {
            assert!(
                users.contains(&row["username"].to_lowercase()),
                "access for unknown user {}",
                row["username"]
            );
            assert!(
                pidsls.contains(&row["pidsl"]),
                "access on unknown PID/SL {}",
                row["pidsl"]
            );
            assert!(
                pairs.insert((row["username"].clone(), row["pidsl"].clone())),
                "pair twice: {row:?}"
            );
            if let Err(e) = Services::parse_list(&row["services"]) {
                panic!("services of {} on {}: {e}", row["username"], row["pidsl"]);
            }
        }
    }

    #[test]
    fn the_tour_writes_all_five_files_with_the_spec_headers() {
        let (dir, counts) = tour();
        let expected: [&[&str]; 5] = [
            &ORGANIZATIONS_HEADER,
            &PIDSLS_HEADER,
            &USERS_HEADER,
            &ACCESS_HEADER,
            &ROSTER_HEADER,
        ];
        for (file, columns) in FILES.iter().zip(expected) {
            assert_eq!(header(dir.path(), file), columns, "{file}");
        }
        assert_eq!(counts.organizations, 5);
        assert_eq!(counts.pidsls, 18);
        assert!((60..=150).contains(&counts.users), "{} users", counts.users);
        assert!(
            counts.access_rows > counts.users,
            "{} access rows",
            counts.access_rows
        );
        assert_eq!(counts.roster_rows, 3);
        assert_eq!(rows(dir.path(), "users.csv").len(), counts.users);
        assert_eq!(rows(dir.path(), "access.csv").len(), counts.access_rows);
    }

    #[test]
    fn every_access_row_of_the_tour_names_a_known_user_and_pidsl_and_parses() {
        let (dir, _) = tour();
        assert_consistent(dir.path());
    }

    #[test]
    fn the_tour_mixes_service_codes_and_display_names() {
        let (dir, _) = tour();
        let services: Vec<String> = rows(dir.path(), "access.csv")
            .into_iter()
            .map(|r| r["services"].clone())
            .collect();
        assert!(services.iter().any(|s| s.contains("Primary Portal User")));
        assert!(services.iter().any(|s| s.starts_with("PRIMARY_USER")));
    }

    #[test]
    fn the_tour_dates_follow_as_of() {
        let dir = tempfile::tempdir().unwrap();
        write_tour(dir.path(), NaiveDate::from_ymd_opt(2027, 3, 15).unwrap()).unwrap();
        let users = rows(dir.path(), "users.csv");
        let cjones = users.iter().find(|u| u["username"] == "cjones").unwrap();
        assert_eq!(cjones["last_login_at"], "2026-12-14"); // 91 days before
        let zlate = users.iter().find(|u| u["username"] == "zlate").unwrap();
        assert_eq!(zlate["last_login_at"], "2026-12-15T02:30:00Z");
    }

    #[test]
    fn the_planted_problems_cover_every_rule_and_name_real_users_and_pidsls() {
        let (dir, _) = tour();
        let users: BTreeMap<String, String> = rows(dir.path(), "users.csv")
            .into_iter()
            .map(|r| (r["username"].clone(), r["org_id"].clone()))
            .collect();
        let pidsls: BTreeMap<String, String> = rows(dir.path(), "pidsls.csv")
            .into_iter()
            .map(|r| (r["pidsl"].clone(), r["org_id"].clone()))
            .collect();
        let rules: BTreeSet<&str> = TOUR_PLANTED.iter().map(|p| p.0).collect();
        let all: BTreeSet<&str> = crate::rules::RULES.iter().map(|r| r.name).collect();
        assert_eq!(rules, all);
        for (rule, org, pidsl, username) in TOUR_PLANTED {
            if !pidsl.is_empty() {
                assert_eq!(
                    pidsls.get(*pidsl).map(String::as_str),
                    Some(*org),
                    "{rule} {pidsl}"
                );
            } else if !username.is_empty() {
                assert_eq!(
                    users.get(*username).map(String::as_str),
                    Some(*org),
                    "{rule} {username}"
                );
            }
            if !username.is_empty() {
                assert!(users.contains_key(*username), "{rule}: no user {username}");
            }
        }
    }

    #[test]
    fn the_tour_uses_only_configured_job_roles_and_example_addresses() {
        let (dir, _) = tour();
        let roles: BTreeSet<&str> = JOB_ROLES.iter().map(|r| r.0).collect();
        for user in rows(dir.path(), "users.csv") {
            assert!(
                user["job_role"].is_empty() || roles.contains(user["job_role"].as_str()),
                "{user:?}"
            );
            assert!(user["email"].ends_with(".example"), "{}", user["email"]);
            assert!(user["phone"].is_empty() || user["phone"].starts_with("617-555-01"));
        }
    }

    #[test]
    fn the_job_role_profiles_match_the_default_configuration() {
        let settings: toml::Value = toml::from_str(include_str!("../config/default.toml")).unwrap();
        let configured = settings["roles"].as_table().unwrap();
        assert_eq!(configured.len(), JOB_ROLES.len());
        for (name, profile) in JOB_ROLES {
            let codes: Vec<&str> = configured[name]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let mut text = String::new();
            write_services(&mut text, profile);
            assert_eq!(
                Services::parse_list(&codes.join(";")),
                Services::parse_list(&text),
                "{name}"
            );
        }
    }

    #[test]
    fn the_scale_snapshot_is_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let counts = write_scale(dir.path(), 200, 1, as_of()).unwrap();
        assert_consistent(dir.path());
        for (file, columns) in FILES.iter().zip([
            &ORGANIZATIONS_HEADER[..],
            &PIDSLS_HEADER[..],
            &USERS_HEADER[..],
            &ACCESS_HEADER[..],
            &ROSTER_HEADER[..],
        ]) {
            assert_eq!(header(dir.path(), file), columns, "{file}");
        }
        assert_eq!(counts.pidsls, 200);
        assert_eq!(rows(dir.path(), "access.csv").len(), counts.access_rows);
    }

    #[test]
    fn the_scale_snapshot_has_about_ten_users_and_forty_access_rows_per_pidsl() {
        let dir = tempfile::tempdir().unwrap();
        let counts = write_scale(dir.path(), 200, 3, as_of()).unwrap();
        let users_per = counts.users as f64 / 200.0;
        let rows_per = counts.access_rows as f64 / 200.0;
        assert!(
            (9.0..=11.0).contains(&users_per),
            "{users_per} users per PID/SL"
        );
        assert!(
            (35.0..=45.0).contains(&rows_per),
            "{rows_per} access rows per PID/SL"
        );
    }

    #[test]
    fn the_scale_snapshot_has_a_primary_on_every_pidsl_and_a_few_planted_problems() {
        let dir = tempfile::tempdir().unwrap();
        write_scale(dir.path(), 2000, 11, as_of()).unwrap();
        let access = rows(dir.path(), "access.csv");
        let mut primaries: BTreeMap<String, usize> = BTreeMap::new();
        let mut backups = BTreeSet::new();
        for row in &access {
            match row["role"].as_str() {
                "primary" => *primaries.entry(row["pidsl"].clone()).or_default() += 1,
                "backup" => {
                    backups.insert(row["pidsl"].clone());
                }
                _ => {}
            }
        }
        assert_eq!(primaries.len(), 2000);
        let doubled = primaries.values().filter(|n| **n > 1).count();
        assert!(doubled < 20, "{doubled} PID/SLs with two primaries");
        assert!(
            (1800..2000).contains(&backups.len()),
            "{} PID/SLs with a backup",
            backups.len()
        );
        let users = rows(dir.path(), "users.csv");
        let terminated = users
            .iter()
            .filter(|u| !u["terminated_on"].is_empty())
            .count();
        assert!(
            terminated > 0 && terminated < users.len() / 20,
            "{terminated} terminated"
        );
        let expired = access
            .iter()
            .filter(|r| !r["expires_on"].is_empty() && r["expires_on"].as_str() <= "2026-10-01")
            .count();
        assert!(
            expired > 0 && expired < access.len() / 50,
            "{expired} expired links"
        );
        let mut emails = BTreeSet::new();
        let shared = users
            .iter()
            .filter(|u| !emails.insert(u["email"].to_lowercase()))
            .count();
        assert!(shared < users.len() / 100, "{shared} shared emails");
        let types: BTreeSet<String> = rows(dir.path(), "pidsls.csv")
            .into_iter()
            .map(|r| r["provider_type"].clone())
            .collect();
        for wanted in ["ltc", "pace", "sco", "hospital"] {
            assert!(types.contains(wanted), "no {wanted} PID/SL");
        }
    }

    fn read_all(dir: &Path) -> Vec<Vec<u8>> {
        FILES
            .iter()
            .map(|f| std::fs::read(dir.join(f)).unwrap())
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_files_byte_for_byte() {
        let (one, two, other) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        write_scale(one.path(), 50, 7, as_of()).unwrap();
        write_scale(two.path(), 50, 7, as_of()).unwrap();
        write_scale(other.path(), 50, 8, as_of()).unwrap();
        assert_eq!(read_all(one.path()), read_all(two.path()));
        let (a, b) = (read_all(one.path()), read_all(other.path()));
        assert_ne!(a[2], b[2], "users.csv");
        assert_ne!(a[3], b[3], "access.csv");
    }

    /// Run with `cargo test --release --lib demo -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark: writes about 540 MB"]
    fn a_hundred_thousand_pidsls_are_written_quickly() {
        let dir = tempfile::tempdir().unwrap();
        let start = std::time::Instant::now();
        let counts = write_scale(dir.path(), 100_000, 42, as_of()).unwrap();
        let elapsed = start.elapsed();
        println!("{counts:?} in {elapsed:.2?}");
        for file in FILES {
            println!(
                "{file}: {} bytes",
                std::fs::metadata(dir.path().join(file)).unwrap().len()
            );
        }
    }
}
