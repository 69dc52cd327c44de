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
}

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
    pub workbook_user_access: bool,
    /// The longest an accepted risk may hold after its run's as_of, in days.
    pub max_accept_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    pub quarterly: String,
    pub semiannual: String,
    pub annual: String,
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
    pub from: String,
    pub template_dir: String,
    pub max_findings_listed: usize,
    pub max_attachment_mb: u64,
    pub max_attempts: u32,
}

fn deserialize_time_zone<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(d)?;
    name.parse::<Tz>().map_err(|_| {
        serde::de::Error::custom(format!(
            "{name:?} is not an IANA time zone such as America/New_York"
        ))
    })
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
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let positive = [
            ("review.stale_after_days", self.review.stale_after_days),
            (
                "review.max_pidsls_per_primary",
                self.review.max_pidsls_per_primary,
            ),
            (
                "review.max_users_per_primary",
                self.review.max_users_per_primary,
            ),
            (
                "review.broad_grant_threshold",
                self.review.broad_grant_threshold,
            ),
            ("mail.max_attempts", self.mail.max_attempts),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError(format!(
                    "{key} must be a whole number greater than 0"
                )));
            }
        }
        if !(1..=3660).contains(&self.review.max_accept_days) {
            return Err(ConfigError(format!(
                "review.max_accept_days = {}: must be between 1 and 3660 (ten years)",
                self.review.max_accept_days
            )));
        }
        if self.review.broad_grant_threshold > 12 {
            return Err(ConfigError(
                "review.broad_grant_threshold must be between 1 and 12 (the number of ordinary services)".into(),
            ));
        }
        for (key, expr) in [
            ("schedule.quarterly", &self.schedule.quarterly),
            ("schedule.semiannual", &self.schedule.semiannual),
            ("schedule.annual", &self.schedule.annual),
        ] {
            if let Err(e) = crate::schedule::parse_cron(expr) {
                return Err(ConfigError(format!(
                    "{key} = {expr:?}: {e}; expected a cron expression with seconds (6 fields, or 7 with a year), e.g. \"0 0 6 1 1,4,7,10 *\""
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
    fn a_bad_cron_expression_is_refused_naming_its_key() {
        Jail::expect_with(|jail| {
            jail.set_env("POSC_REVIEW__SCHEDULE__SEMIANNUAL", "0 0 6 31 2,13 *");
            let err = Settings::load(None).unwrap_err().to_string();
            assert!(err.contains("schedule.semiannual"), "{err}");
            jail.set_env("POSC_REVIEW__SCHEDULE__SEMIANNUAL", "*/2 * * * * *");
            assert!(Settings::load(None).is_ok());
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
