//! The tour: a small hand-made snapshot (SPEC Scenario 4 grown a little) in which every review
//! rule fires on `as_of`, with the neighbours that must not fire beside each problem.

use super::{date_at, DemoCounts, Files};
use chrono::{NaiveDate, TimeDelta, TimeZone};
use chrono_tz::America::New_York;
use std::path::Path;

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
