//! A cron expression of `[schedule]`, parsed once when the configuration loads.
//!
//! The format is tokio-cron-scheduler's: 6 fields with seconds, or 7 with a year, and
//! day-of-month and day-of-week both apply. croner is the parser tokio-cron-scheduler uses; the
//! scheduler computes due instants from it in the configured zone (see `schedule.rs`).

use croner::parser::{CronParser, Seconds};
use croner::Cron;
use std::fmt;

/// A valid cron expression with seconds, and its text for logs and messages.
#[derive(Debug, Clone)]
pub struct CronExpr {
    text: String,
    cron: Cron,
}

impl CronExpr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(text)
            .map_err(|e| {
                format!(
                    "{text:?}: {e}; expected a cron expression with seconds (6 fields, or 7 with a year), e.g. \"0 0 6 1 1,4,7,10 *\""
                )
            })?;
        Ok(CronExpr {
            text: text.to_string(),
            cron,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn cron(&self) -> &Cron {
        &self.cron
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for CronExpr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        CronExpr::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_fields_with_seconds_or_seven_with_a_year_are_accepted() {
        assert!(CronExpr::parse("0 0 6 1 1,4,7,10 *").is_ok());
        assert!(CronExpr::parse("0 0 6 1 1,4,7,10 * 2027").is_ok());
    }

    #[test]
    fn five_fields_an_impossible_day_and_words_are_refused() {
        assert!(CronExpr::parse("0 6 1 1,4,7,10 *").is_err());
        assert!(CronExpr::parse("0 0 25 1 1 *").is_err());
        assert!(CronExpr::parse("every quarter").is_err());
    }
}
