//! posc-review: access-compliance reviews for the MassHealth Provider Online Service Center,
//! as the Primary User Policy requires of every enrolled organization.

pub mod config;
pub mod demo;
pub mod domain;
pub mod rules;
pub mod snapshot;
