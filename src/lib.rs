//! posc-review: access-compliance reviews for the MassHealth Provider Online Service Center,
//! as the Primary User Policy requires of every enrolled organization.

pub mod accounts;
pub mod alerts;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod decisions;
pub mod demo;
pub mod domain;
pub mod error;
pub mod files;
pub mod import;
pub mod liveness;
pub mod mail;
pub mod output;
pub mod progress;
pub mod records;
pub mod remind;
pub mod report;
pub mod review;
pub mod rules;
pub mod schedule;
pub mod snapshot;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod templates;
