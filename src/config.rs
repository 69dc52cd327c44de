//! Settings: the compiled-in `config/default.toml`, then `--config FILE`, then
//! `POSC_REVIEW__SECTION__KEY` environment variables. Every value is checked at start so a bad
//! one is refused with its key and what it accepts, never discovered in the middle of a run.

use crate::domain::{ServiceCode, Services};
use chrono_tz::Tz;
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The defaults, carried in the binary so an installed copy runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub review: ReviewSettings,
    #[serde(deserialize_with = "deserialize_roles")]
    pub roles: BTreeMap<String, Services>,
    pub schedule: ScheduleSettings,
    pub smtp: SmtpSettings,
    pub mail: MailSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    /// How long to wait for PostgreSQL to answer a connection before giving up with the cause.
    pub connect_timeout_secs: u32,
}

/// `database.connect_timeout_secs` of config/default.toml, for a store opened from a URL alone
/// (a test checks that they agree).
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u32 = 5;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewSettings {
    pub stale_after_days: u32,
    pub new_account_grace_days: u32,
    pub max_pidsls_per_primary: u32,
    pub max_users_per_primary: u32,
    pub broad_grant_threshold: u32,
    #[serde(deserialize_with = "deserialize_time_zone")]
    pub time_zone: Tz,
    pub out_dir: PathBuf,
    /// Whether the whole-run workbook carries the User Access sheet (each organization's
    /// workbook always carries its own).
    pub workbook_user_access: WorkbookUserAccess,
    /// The permission bits of the store, the reports and every other file written.
    pub file_mode: crate::files::FileMode,
    /// The longest an accepted risk may hold after its run's as_of, in days.
    pub max_accept_days: u32,
    /// Days after a review when the Primary User and backup of each PID/SL with undecided
    /// findings are reminded.
    pub remind_after_days: u32,
    /// Days after a review when the organization's management gets one escalation listing its
    /// PID/SLs with undecided findings.
    pub escalate_after_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    pub quarterly: crate::domain::CronExpr,
    pub semiannual: crate::domain::CronExpr,
    pub annual: crate::domain::CronExpr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub password_env: String,
    pub password_file: String,
    pub ca_file: String,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// Parsed when the settings load: a `From` the mail could not carry stops every command.
    #[serde(deserialize_with = "deserialize_mailbox")]
    pub from: lettre::message::Mailbox,
    pub template_dir: String,
    pub max_findings_listed: usize,
    pub max_attachment_mb: u64,
    pub max_attempts: u32,
    /// Who hears when unattended operation goes wrong (empty: nobody is alerted).
    #[serde(deserialize_with = "deserialize_emails")]
    pub operator: Vec<crate::domain::Email>,
    /// A message still undelivered this long after it was queued is alerted to the operator.
    pub alert_pending_hours: u32,
    /// The texts of messages sent longer ago than this are deleted (their outbox rows stay).
    pub keep_sent_days: u32,
}

/// Every numeric key and the values it accepts (inclusive), checked when the settings load: a
/// value outside its range is refused with the key and the range, never wrapped or left to
/// overflow later (`smtp.timeout_secs = 10000000000000000` once made every delivery panic).
/// README's Configuration section lists the same ranges (a test compares them).
pub const NUMBER_RANGES: [(&str, u64, u64); 16] = [
    ("database.connect_timeout_secs", 1, 300),
    ("review.stale_after_days", 1, 3_650),
    ("review.new_account_grace_days", 0, 365),
    ("review.max_pidsls_per_primary", 1, 10_000),
    ("review.max_users_per_primary", 1, 1_000_000),
    // The number of ordinary services.
    ("review.broad_grant_threshold", 1, 12),
    // Ten years.
    ("review.max_accept_days", 1, 3_660),
    ("review.remind_after_days", 1, 366),
    ("review.escalate_after_days", 1, 366),
    ("smtp.port", 1, 65_535),
    ("smtp.timeout_secs", 1, 3_600),
    ("mail.max_findings_listed", 1, 10_000),
    // 0: the workbook is always named, never attached.
    ("mail.max_attachment_mb", 0, 100),
    ("mail.max_attempts", 1, 100),
    // A year.
    ("mail.alert_pending_hours", 1, 8_760),
    // Ten years.
    ("mail.keep_sent_days", 1, 3_660),
];

/// What a key of [`NUMBER_RANGES`] (named in any case) accepts: "a whole number between MIN
/// and MAX".
fn accepted(key: &str) -> Option<String> {
    NUMBER_RANGES
        .iter()
        .find(|(k, _, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, min, max)| format!("a whole number between {min} and {max}"))
}

/// `review.workbook_user_access`: `"auto"` (the sheet when the run's access rows fit one
/// sheet), `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkbookUserAccess {
    Auto,
    Always,
    Never,
}

impl<'de> Deserialize<'de> for WorkbookUserAccess {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // TOML gives a bool or a string; the environment gives "true", "false" or "auto",
        // which figment reads as a bool where it can.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Flag(bool),
            Word(String),
        }
        match Given::deserialize(d)? {
            Given::Flag(true) => Ok(WorkbookUserAccess::Always),
            Given::Flag(false) => Ok(WorkbookUserAccess::Never),
            Given::Word(w) if w == "auto" => Ok(WorkbookUserAccess::Auto),
            Given::Word(w) => Err(serde::de::Error::custom(format!(
                "{w:?} is not \"auto\", true or false"
            ))),
        }
    }
}

fn deserialize_time_zone<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(d)?;
    name.parse::<Tz>().map_err(|_| {
        serde::de::Error::custom(format!(
            "{name:?} is not an IANA time zone such as America/New_York"
        ))
    })
}

fn deserialize_mailbox<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<lettre::message::Mailbox, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "{text:?} is not an email address, e.g. POSC Access Review <posc-review@example.org>"
        ))
    })
}

fn deserialize_emails<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<crate::domain::Email>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|text| {
            crate::domain::Email::parse(text)
                .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
        })
        .collect()
}

fn deserialize_roles<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Services>, D::Error> {
    let raw = BTreeMap::<String, Vec<String>>::deserialize(d)?;
    raw.into_iter()
        .map(|(role, codes)| {
            let services = codes
                .iter()
                .map(|c| ServiceCode::parse(c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| serde::de::Error::custom(format!("role {role}: {e}")))?;
            Ok((role, Services::of(&services)))
        })
        .collect()
}

impl Settings {
    /// Loads the layered settings; `config_file` must exist when given.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = config_file {
            if !path.is_file() {
                return Err(ConfigError(format!("{}: no such file", path.display())));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("POSC_REVIEW__").split("__"));
        let settings: Settings = figment.extract().map_err(|e| {
            ConfigError(
                e.into_iter()
                    .map(|e| {
                        let key = e.path.join(".");
                        match accepted(&key) {
                            // A negative or fractional number, which the type cannot hold.
                            Some(range) => format!("{e}: {} must be {range}", key.to_lowercase()),
                            None => e.to_string(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        settings.check()?;
        Ok(settings)
    }

    /// The numeric keys' values, named and ordered as in [`NUMBER_RANGES`].
    fn numbers(&self) -> [(&'static str, u64); 16] {
        let r = &self.review;
        [
            (
                "database.connect_timeout_secs",
                self.database.connect_timeout_secs.into(),
            ),
            ("review.stale_after_days", r.stale_after_days.into()),
            (
                "review.new_account_grace_days",
                r.new_account_grace_days.into(),
            ),
            (
                "review.max_pidsls_per_primary",
                r.max_pidsls_per_primary.into(),
            ),
            (
                "review.max_users_per_primary",
                r.max_users_per_primary.into(),
            ),
            (
                "review.broad_grant_threshold",
                r.broad_grant_threshold.into(),
            ),
            ("review.max_accept_days", r.max_accept_days.into()),
            ("review.remind_after_days", r.remind_after_days.into()),
            ("review.escalate_after_days", r.escalate_after_days.into()),
            ("smtp.port", self.smtp.port.into()),
            ("smtp.timeout_secs", self.smtp.timeout_secs),
            (
                "mail.max_findings_listed",
                self.mail.max_findings_listed as u64,
            ),
            ("mail.max_attachment_mb", self.mail.max_attachment_mb),
            ("mail.max_attempts", self.mail.max_attempts.into()),
            (
                "mail.alert_pending_hours",
                self.mail.alert_pending_hours.into(),
            ),
            ("mail.keep_sent_days", self.mail.keep_sent_days.into()),
        ]
    }

    fn check(&self) -> Result<(), ConfigError> {
        // numbers() lists the keys in NUMBER_RANGES's order (a test checks it).
        for ((key, value), (_, min, max)) in self.numbers().into_iter().zip(NUMBER_RANGES) {
            if !(min..=max).contains(&value) {
                let range = accepted(key).unwrap_or_default();
                return Err(ConfigError(format!(
                    "{key} = {value} is out of range: it must be {range}"
                )));
            }
        }
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError(format!(
                "database.url = {url:?}: expected sqlite://FILE or postgres://USER@HOST/DB"
            )));
        }
        Ok(())
    }

    /// The job-role profile named by a user's job_role, if the configuration has one.
    pub fn role_profile(&self, job_role: &str) -> Option<Services> {
        self.roles.get(job_role).copied()
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail API returns its large error type
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_load_and_match_the_spec() {
        Jail::expect_with(|_| {
            let s = Settings::load(None).unwrap();
            assert_eq!(s.review.stale_after_days, 90);
            assert_eq!(s.review.new_account_grace_days, 30);
            assert_eq!(s.review.max_pidsls_per_primary, 10);
            assert_eq!(s.review.max_users_per_primary, 200);
            assert_eq!(s.review.broad_grant_threshold, 10);
            assert_eq!(s.review.time_zone, chrono_tz::America::New_York);
            assert_eq!(s.database.url, "sqlite://posc-review.db");
            assert_eq!(
                s.database.connect_timeout_secs,
                DEFAULT_CONNECT_TIMEOUT_SECS
            );
            assert_eq!(s.mail.max_findings_listed, 50);
            assert_eq!(s.review.max_accept_days, 366);
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "site.toml",
                "[review]\nstale_after_days = 60\nbroad_grant_threshold = 8\n",
            )?;
            jail.set_env("POSC_REVIEW__REVIEW__STALE_AFTER_DAYS", "45");
            let s = Settings::load(Some(Path::new("site.toml"))).unwrap();
            assert_eq!(s.review.stale_after_days, 45);
            assert_eq!(s.review.broad_grant_threshold, 8);
            Ok(())
        });
    }

    #[test]
    fn workbook_user_access_is_auto_true_or_false_in_a_file_or_the_environment() {
        Jail::expect_with(|jail| {
            let load = |file: Option<&str>| Settings::load(file.map(Path::new));
            assert_eq!(
                load(None).unwrap().review.workbook_user_access,
                WorkbookUserAccess::Auto
            );
            jail.create_file("site.toml", "[review]\nworkbook_user_access = false\n")?;
            assert_eq!(
                load(Some("site.toml")).unwrap().review.workbook_user_access,
                WorkbookUserAccess::Never
            );
            for (given, setting) in [
                ("true", WorkbookUserAccess::Always),
                ("false", WorkbookUserAccess::Never),
                ("auto", WorkbookUserAccess::Auto),
            ] {
                jail.set_env("POSC_REVIEW__REVIEW__WORKBOOK_USER_ACCESS", given);
                assert_eq!(load(None).unwrap().review.workbook_user_access, setting);
            }
            jail.set_env("POSC_REVIEW__REVIEW__WORKBOOK_USER_ACCESS", "sometimes");
            let err = load(None).unwrap_err().to_string().to_lowercase();
            assert!(
                err.contains("review.workbook_user_access")
                    && err.contains("\"auto\", true or false"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn an_invalid_value_names_its_key() {
        Jail::expect_with(|jail| {
            jail.set_env("POSC_REVIEW__REVIEW__TIME_ZONE", "Mars/Olympus");
            let err = Settings::load(None).unwrap_err().to_string().to_lowercase();
            assert!(
                err.contains("review.time_zone") && err.contains("iana"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn max_accept_days_is_bounded() {
        Jail::expect_with(|jail| {
            jail.set_env("POSC_REVIEW__REVIEW__MAX_ACCEPT_DAYS", "36500");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(
                err.contains("review.max_accept_days = 36500") && err.contains("1 and 3660"),
                "{err}"
            );
            jail.set_env("POSC_REVIEW__REVIEW__MAX_ACCEPT_DAYS", "30");
            assert_eq!(Settings::load(None).unwrap().review.max_accept_days, 30);
            Ok(())
        });
    }

    #[test]
    fn an_unknown_service_in_a_role_is_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("site.toml", "[roles]\nclerk = [\"PORTAL\", \"TELEPORT\"]\n")?;
            let err = Settings::load(Some(Path::new("site.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("clerk") && err.contains("TELEPORT"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_misspelt_key_is_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("site.toml", "[review]\nstale_days = 60\n")?;
            let err = Settings::load(Some(Path::new("site.toml")))
                .unwrap_err()
                .to_string();
            assert!(err.contains("stale_days"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_from_address_the_mail_cannot_carry_is_refused_naming_its_key() {
        Jail::expect_with(|jail| {
            jail.set_env("POSC_REVIEW__MAIL__FROM", "Review <not an address>");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("mail.from"), "{err}");
            assert!(err.contains("is not an email address"), "{err}");
            jail.set_env("POSC_REVIEW__MAIL__FROM", "Review <review@example.org>");
            let settings = Settings::load(None).unwrap();
            assert_eq!(settings.mail.from.email.to_string(), "review@example.org");
            Ok(())
        });
    }

    #[test]
    fn a_bad_cron_expression_is_refused_naming_its_key() {
        Jail::expect_with(|jail| {
            jail.set_env("POSC_REVIEW__SCHEDULE__SEMIANNUAL", "0 0 6 31 2,13 *");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("schedule.semiannual"), "{err}");
            jail.set_env("POSC_REVIEW__SCHEDULE__SEMIANNUAL", "*/2 * * * * *");
            assert!(Settings::load(None).is_ok());
            Ok(())
        });
    }

    #[test]
    fn every_number_is_refused_outside_its_range_naming_the_key_and_the_range() {
        Jail::expect_with(|jail| {
            let defaults = Settings::load(None).unwrap();
            assert_eq!(
                defaults.numbers().map(|(key, _)| key),
                NUMBER_RANGES.map(|(key, _, _)| key)
            );
            for (key, min, max) in NUMBER_RANGES {
                let var = format!("POSC_REVIEW__{}", key.replace('.', "__").to_uppercase());
                let range = format!("between {min} and {max}");
                for bad in [Some(max + 1), min.checked_sub(1)].into_iter().flatten() {
                    jail.set_env(&var, bad);
                    let err = Settings::load(None).unwrap_err().to_string();
                    assert!(
                        err.to_lowercase().contains(key) && err.contains(&range),
                        "{key} = {bad}: {err}"
                    );
                }
                for good in [min, max] {
                    jail.set_env(&var, good);
                    assert!(Settings::load(None).is_ok(), "{key} = {good} refused");
                }
                jail.set_env(&var, "-1");
                let err = Settings::load(None).unwrap_err().to_string();
                assert!(
                    err.to_lowercase().contains(key) && err.contains(&range),
                    "{key} = -1: {err}"
                );
                jail.set_env(
                    &var,
                    defaults
                        .numbers()
                        .iter()
                        .find(|(k, _)| *k == key)
                        .unwrap()
                        .1,
                );
            }
            Ok(())
        });
    }

    #[test]
    fn the_readme_lists_every_range() {
        let readme = include_str!("../README.md");
        for (key, min, max) in NUMBER_RANGES {
            let row = format!("| `{key}` | {min} to {max} ");
            assert!(readme.contains(&row), "README lacks {row:?}");
        }
    }

    #[test]
    fn a_timeout_of_centuries_is_refused() {
        Jail::expect_with(|jail| {
            jail.create_file("site.toml", "[smtp]\ntimeout_secs = 10000000000000000\n")?;
            let err = Settings::load(Some(Path::new("site.toml")))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("smtp.timeout_secs = 10000000000000000 is out of range")
                    && err.contains("between 1 and 3600"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_bad_tls_mode_is_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("POSC_REVIEW__SMTP__TLS", "ssl");
            let err = Settings::load(None).unwrap_err().to_string().to_lowercase();
            assert!(err.contains("smtp.tls"), "{err}");
            Ok(())
        });
    }
}
