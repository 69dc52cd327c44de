//! Domain values: each parses its raw text once, at the edge, so the rules never see an
//! unchecked string.

mod cron;
pub mod posc;
mod services;

pub use cron::CronExpr;
pub use services::{ServiceCode, Services, ADMIN_SERVICES, MAX_PRIMARY_USER_HOLDERS};

use chrono::{DateTime, Datelike, NaiveDate};
use chrono_tz::Tz;
use std::fmt;

/// A Provider ID / Service Location: nine digits and one service-location letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PidSl(String);

impl PidSl {
    /// Trims and upper-cases, then checks the format `110012345A`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let value = input.trim().to_ascii_uppercase();
        let bytes = value.as_bytes();
        let well_formed = bytes.len() == 10
            && bytes[..9].iter().all(u8::is_ascii_digit)
            && bytes[9].is_ascii_uppercase();
        if well_formed {
            Ok(PidSl(value))
        } else {
            Err(format!(
                "{:?} is not a PID/SL: expected 9 digits and a service-location letter, e.g. 110012345A",
                input.trim()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PidSl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address as the mail code will use it: parsed by lettre's [`lettre::Address`], the
/// parser of the envelope and of the `To:` header, so an address the import accepts is one the
/// mail can carry (no empty, leading, trailing or doubled dot; no `:`; a local part of at most
/// 64 characters; domain labels of at most 63 that neither start nor end with `-`). On top of
/// that the domain is a dotted name (not `localhost`, not an IP literal) and the address has no
/// quotes, brackets, `;` or `,`, so it sits unambiguously in a `;`-separated cell.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(lettre::Address);

impl Email {
    pub fn parse(input: &str) -> Result<Self, String> {
        let value = input.trim();
        let invalid = |why: &str| format!("{value:?} is not a valid email address: {why}");
        if value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c))
        {
            return Err(invalid(
                "it has a space, a control character or one of < > , ; \" ( ) [ ] \\",
            ));
        }
        let address = value.parse::<lettre::Address>().map_err(|e| {
            invalid(match e {
                lettre::address::AddressError::InvalidUser => {
                    "the part before @ is not valid (an empty, leading, trailing or doubled dot, a character such as :, or more than 64 characters)"
                }
                lettre::address::AddressError::InvalidDomain => {
                    "the domain is not valid (an empty or doubled dot, a label that starts or ends with -, or a label of more than 63 characters)"
                }
                _ => "expected local@domain.tld",
            })
        })?;
        let domain = address.domain();
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(invalid(
                "the domain must be a dotted name such as example.org",
            ));
        }
        Ok(Email(address))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// The address for an envelope or a header.
    pub fn address(&self) -> &lettre::Address {
        &self.0
    }
}

/// The years a date may have. Outside them a date is a typo (`20266-01-01`), and dates near
/// chrono's own limit (year 262,143) made date arithmetic panic.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

/// Parses a date: exactly `YYYY-MM-DD` (four-digit year, two-digit month and day), a real
/// calendar day, in [`YEARS`]. The one date parser of the program: CSV date columns, `--as-of`,
/// `--expires-on` and reviewers' `accepted_until` all come here, so `2026-2-3`, `+12026-07-01`
/// and `-0001-07-01` (which chrono's own parser takes) are refused everywhere.
pub fn parse_date(input: &str) -> Result<NaiveDate, String> {
    let value = input.trim();
    let bytes = value.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    // Digits only, so the numbers parse.
    let number = |range: std::ops::Range<usize>| value[range].parse::<u32>().unwrap_or(0);
    let date = shaped
        .then(|| NaiveDate::from_ymd_opt(number(0..4) as i32, number(5..7), number(8..10)))
        .flatten()
        .ok_or_else(|| format!("{value:?} is not a date: expected YYYY-MM-DD"))?;
    in_years(date).map_err(|e| format!("{value:?}: {e}"))
}

fn in_years(date: NaiveDate) -> Result<NaiveDate, String> {
    if YEARS.contains(&date.year()) {
        Ok(date)
    } else {
        Err(format!(
            "the year must be between {} and {}",
            YEARS.start(),
            YEARS.end()
        ))
    }
}

/// Parses a timestamp: a bare date, or RFC 3339 with an offset. Returns its calendar date in
/// the configured time zone, in [`YEARS`] like every date.
pub fn timestamp_date(input: &str, zone: Tz) -> Result<NaiveDate, String> {
    let value = input.trim();
    if value.len() == 10 {
        return parse_date(value);
    }
    let date = DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&zone).date_naive())
        .map_err(|_| {
            format!("{value:?} is not a timestamp: expected YYYY-MM-DD or RFC 3339 with an offset, e.g. 2026-09-29T14:05:00-04:00")
        })?;
    in_years(date).map_err(|e| format!("{value:?}: {e}"))
}

/// Whole calendar days from `date` to `as_of` (positive when `date` is earlier).
pub fn days_before(date: NaiveDate, as_of: NaiveDate) -> i64 {
    (as_of - date).num_days()
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Case-insensitive parse of the text the CSV files and the store use.
            pub fn parse(input: &str) -> Result<Self, String> {
                let value = input.trim();
                $(if value.eq_ignore_ascii_case($text) { return Ok($name::$variant); })+
                Err(format!(concat!("{:?} is not a ", $what, "; expected one of: {}"), value, [$($text),+].join(", ")))
            }

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                $name::parse(text)
            }
        }

        impl clap::ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                Self::ALL
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.as_str()))
            }
        }
    };
}

text_enum!(
    /// What kind of organization enrolled in the POSC.
    OrgKind, "organization kind", {
        Provider => "provider",
        BillingIntermediary => "billing_intermediary",
        RelationshipEntity => "relationship_entity",
        BusinessPartner => "business_partner",
    }
);

text_enum!(
    /// How often an organization must review its users' access.
    Cadence, "review cadence", {
        Quarterly => "quarterly",
        Semiannual => "semiannual",
        Annual => "annual",
    }
);

impl Cadence {
    /// Days after the previous review beyond which a review is overdue.
    pub fn max_days_between_reviews(self) -> i64 {
        match self {
            Cadence::Quarterly => 92,
            Cadence::Semiannual => 183,
            Cadence::Annual => 366,
        }
    }
}

text_enum!(
    /// A user's role on one PID/SL's access list.
    Role, "role", {
        Primary => "primary",
        Backup => "backup",
        Subordinate => "subordinate",
    }
);

text_enum!(
    /// A Virtual Gateway account's status.
    UserStatus, "status", {
        Active => "active",
        Inactive => "inactive",
    }
);

/// The SPEC's "active user": `status = active` and not terminated as of `on` (a user leaving
/// on a later day is still active). The rules, the account operations and the views all ask
/// this one function.
pub fn is_active(status: UserStatus, terminated_on: Option<NaiveDate>, on: NaiveDate) -> bool {
    status == UserStatus::Active && terminated_on.is_none_or(|d| d > on)
}

text_enum!(
    /// How serious a finding is, least serious first.
    Severity, "severity", {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

text_enum!(
    /// A review rule, by the name the reports and the store use.
    RuleId, "rule", {
        MissingPrimary => "missing-primary",
        MissingBackup => "missing-backup",
        ExcessPrimary => "excess-primary",
        ManageSubordinatesMisassigned => "manage-subordinates-misassigned",
        BackupMissingServices => "backup-missing-services",
        TerminatedUserActive => "terminated-user-active",
        TerminatedUserAccess => "terminated-user-access",
        ExpiredLink => "expired-link",
        StaleUser => "stale-user",
        OverloadedPrimary => "overloaded-primary",
        OverbroadGrant => "overbroad-grant",
        MissingPortalServices => "missing-portal-services",
        TermsNotAccepted => "terms-not-accepted",
        DuplicateIdentity => "duplicate-identity",
        ReviewOverdue => "review-overdue",
    }
);

text_enum!(
    /// Where a finding stands across runs: first seen in the organization's review, seen in
    /// its previous one, accepted as a risk until a date that has not passed, suppressed (a
    /// reviewer said Not a problem and its facts have not changed since), or gone since the
    /// organization's previous review.
    FindingStatus, "finding status", {
        New => "new",
        Open => "open",
        Accepted => "accepted",
        Suppressed => "suppressed",
        Resolved => "resolved",
    }
);

impl FindingStatus {
    /// Whether a reviewer's decision sets the finding aside for now (accepted or suppressed):
    /// it leaves the action lists and does not count for `--fail-on`.
    pub fn set_aside(self) -> bool {
        matches!(self, FindingStatus::Accepted | FindingStatus::Suppressed)
    }
}

text_enum!(
    /// What a reviewer decided about a finding: the Decision drop-down's labels.
    Decision, "decision", {
        FixInPosc => "Fix in POSC",
        AcceptRisk => "Accept risk",
        NotAProblem => "Not a problem",
    }
);

impl Decision {
    /// A Decision cell's label, case-insensitive: today's labels, or those of workbooks and
    /// CSV files made before them (*Remove access* and *Change services* are Fix in POSC,
    /// *Keep* is Not a problem).
    pub fn from_label(text: &str) -> Result<Decision, String> {
        let label = text.trim();
        match label.to_ascii_lowercase().as_str() {
            "remove access" | "change services" => Ok(Decision::FixInPosc),
            "keep" => Ok(Decision::NotAProblem),
            _ => Decision::parse(label),
        }
    }

    /// Whether the decision needs a justification.
    pub fn needs_justification(self) -> bool {
        matches!(self, Decision::AcceptRisk | Decision::NotAProblem)
    }

    /// What the decision does, in one line (the Primary User's action list).
    pub fn in_one_line(self) -> &'static str {
        match self {
            Decision::FixInPosc => "you remove or change the access in the POSC; the finding must be gone at the next review.",
            Decision::AcceptRisk => "the access stays as it is until a date (accepted_until, by default the next review); say why under Justification.",
            Decision::NotAProblem => "the data is wrong or the access is justified; say why under Justification; the finding is set aside until its detail or the user's services change.",
        }
    }

    /// What a reviewer says by choosing this decision (the workbook's "How to decide" sheet).
    pub fn meaning(self) -> &'static str {
        match self {
            Decision::FixInPosc => "The access will be removed or changed in the POSC: the user loses the PID/SL, the services, the role or the account that the finding is about.",
            Decision::AcceptRisk => "The access stays although the finding applies: a risk accepted until a date. A justification is required.",
            Decision::NotAProblem => "The finding is wrong for this user (the data is wrong, or the access is justified). A justification is required.",
        }
    }

    /// What happens once the reviewed workbook is imported (`posc-review decisions import`).
    pub fn next_step(self) -> &'static str {
        match self {
            Decision::FixInPosc => "The Primary User fixes it in the POSC with the steps under remediation; the finding must be gone at the next review, or it is reported as decided but not done. For removals, posc-review decisions apply makes the same change in this store.",
            Decision::AcceptRisk => "The finding shows as accepted and leaves the Primary Users' action lists until accepted_until (by default the next review period, at most review.max_accept_days after the review); then it is open again and needs a new decision.",
            Decision::NotAProblem => "The finding shows as suppressed and leaves the action lists for as long as its facts stay the same (its detail and the user's services); when they change, it is open again and needs a new decision.",
        }
    }
}

text_enum!(
    /// Where a review run stands.
    RunStatus, "run status", {
        Running => "running",
        Completed => "completed",
        Failed => "failed",
    }
);

text_enum!(
    /// Where a scheduled period's review stands.
    ClaimState, "claim state", {
        /// Taken; the run has not been recorded yet.
        Claimed => "claimed",
        /// The run is recorded and in progress.
        Running => "running",
        /// The run completed: the period is never reviewed again.
        Completed => "completed",
        /// The run failed or was interrupted: the next scheduler start retries it.
        Failed => "failed",
    }
);

text_enum!(
    /// Where a queued message stands: waiting for its next attempt, claimed by a sender,
    /// accepted by the server, or failed for good.
    OutboxState, "outbox state", {
        Pending => "pending",
        Sending => "sending",
        Sent => "sent",
        Failed => "failed",
    }
);

text_enum!(
    /// What the operator was told of a message: that it waited too long, or failed for good.
    MailAlert, "mail alert", {
        Pending => "pending",
        Failed => "failed",
    }
);

/// Parses the `active` column of pidsls.csv.
pub fn parse_bool(input: &str) -> Result<bool, String> {
    match input.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        other => Err(format!("{other:?} is not true or false")),
    }
}

/// Checks a `MM/DD` day of birth.
pub fn parse_dob_mmdd(input: &str) -> Result<String, String> {
    let value = input.trim();
    let ok = value.len() == 5
        && value.as_bytes()[2] == b'/'
        && NaiveDate::parse_from_str(&format!("2000/{value}"), "%Y/%m/%d").is_ok();
    // The value is personal data: the message never repeats it.
    ok.then(|| value.to_string())
        .ok_or_else(|| "not a valid MM/DD day of birth (value not shown: personal data)".into())
}

/// Checks the last four digits of an SSN.
pub fn parse_ssn_last4(input: &str) -> Result<String, String> {
    let value = input.trim();
    (value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit()))
        .then(|| value.to_string())
        .ok_or_else(|| "not 4 digits (value not shown: personal data)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_leaving_on_the_review_date_is_no_longer_active() {
        let on = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        let tomorrow = on.succ_opt();
        assert!(!is_active(UserStatus::Active, Some(on), on));
        assert!(is_active(UserStatus::Active, tomorrow, on));
        assert!(is_active(UserStatus::Active, None, on));
        assert!(!is_active(UserStatus::Inactive, None, on));
    }

    #[test]
    fn pidsl_is_trimmed_and_upper_cased() {
        assert_eq!(PidSl::parse(" 110012345a ").unwrap().as_str(), "110012345A");
    }

    #[test]
    fn malformed_pidsls_are_rejected() {
        for bad in [
            "11001234A",
            "1100123456A",
            "110012345",
            "11001234XA",
            "110012345-",
            "",
        ] {
            assert!(PidSl::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(Email::parse("a.b@example.org").is_ok());
        for bad in [
            "a@b",
            "@example.org",
            "a b@example.org",
            "ab.example.org",
            "a@@example.org",
            "ab@[127.0.0.1]",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn emails_the_mail_would_refuse_are_refused() {
        let long_local = format!("{}@x.example", "a".repeat(65));
        let long_label = format!("ab@{}.example", "x".repeat(64));
        for bad in [
            "a..b@x.example",
            ".ab@x.example",
            "ab.@x.example",
            "a:b@x.example",
            "a@b..example",
            "ab@-x.example",
            "ab@x-.example",
            long_local.as_str(),
            long_label.as_str(),
        ] {
            // The mail code refuses each of them, and so does the import.
            assert!(bad.parse::<lettre::Address>().is_err(), "{bad}");
            let err = Email::parse(bad).unwrap_err();
            assert!(err.contains("is not a valid email address:"), "{err}");
        }
        let at_limits = format!("{}@{}.example", "a".repeat(64), "x".repeat(63));
        assert_eq!(Email::parse(&at_limits).unwrap().as_str(), at_limits);
    }

    #[test]
    fn a_utc_sign_in_after_midnight_is_the_previous_day_in_new_york() {
        let date = timestamp_date("2026-07-03T02:30:00Z", chrono_tz::America::New_York).unwrap();
        assert_eq!(date, NaiveDate::from_ymd_opt(2026, 7, 2).unwrap());
    }

    #[test]
    fn dates_are_year_month_day_and_real() {
        assert_eq!(
            parse_date(" 2026-02-28 "),
            Ok(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap())
        );
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "02/28/2026",
            "2026-02-28x",
            "20260228",
            "",
            "2026-2-3",
            "2026-02-3",
            "+12026-07-01",
            "-0001-07-01",
            "+2026-07-01",
            "2026-07-01T00:00:00Z",
            "２０２６-07-01",
        ] {
            let err = parse_date(bad).unwrap_err();
            assert!(err.contains("expected YYYY-MM-DD"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn dates_are_years_1900_to_9999() {
        assert!(parse_date("1900-01-01").is_ok());
        assert!(parse_date("9999-12-31").is_ok());
        for bad in ["1899-12-31", "0000-01-01", "0001-07-01"] {
            let err = parse_date(bad).unwrap_err();
            assert!(
                err.contains("the year must be between 1900 and 9999"),
                "{bad:?}: {err}"
            );
        }
        let err = timestamp_date("1899-12-31T12:00:00Z", chrono_tz::UTC).unwrap_err();
        assert!(err.contains("between 1900 and 9999"), "{err}");
    }

    #[test]
    fn a_timestamp_without_offset_is_rejected() {
        assert!(timestamp_date("2026-07-03T02:30:00", chrono_tz::UTC).is_err());
    }

    #[test]
    fn enums_parse_case_insensitively() {
        assert_eq!(Role::parse("Backup"), Ok(Role::Backup));
        assert_eq!(Cadence::parse("ANNUAL"), Ok(Cadence::Annual));
        assert!(UserStatus::parse("gone").is_err());
    }

    #[test]
    fn personal_data_errors_do_not_repeat_the_value() {
        let err = parse_ssn_last4("12a4").unwrap_err();
        assert!(!err.contains("12a4"));
        assert!(parse_dob_mmdd("02/30").is_err());
        assert!(parse_dob_mmdd("02/29").is_ok());
    }
}
