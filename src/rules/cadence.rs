//! TODO

use super::{Finding, RuleContext};
use crate::snapshot::Snapshot;

pub fn check(_s: &Snapshot, _ctx: &RuleContext, _out: &mut Vec<Finding>) {}
