//! duplicate-identity: one person, several user IDs. Active users are grouped by email address,
//! and by name with day of birth and SSN digits, through sorting, never by comparing pairs.
//! The personal values are compared only; no detail ever repeats them.

use super::{usernames, Finding, RuleContext, RuleId};
use crate::snapshot::Snapshot;
use std::collections::BTreeMap;

pub fn check(s: &Snapshot, ctx: &RuleContext, out: &mut Vec<Finding>) {
    let mut by_email: Vec<(String, u32)> = Vec::new();
    let mut by_person: Vec<(String, u32)> = Vec::new();
    for (index, user) in s.users.iter().enumerate() {
        if !user.is_active(ctx.as_of) {
            continue;
        }
        let index = index as u32;
        if !user.email.is_empty() {
            by_email.push((user.email.to_lowercase(), index));
        }
        if let (Some(dob), Some(ssn)) = (&user.dob_mmdd, &user.ssn_last4) {
            if !user.first_name.is_empty() && !user.last_name.is_empty() {
                // NUL cannot occur in a CSV cell, so the parts cannot run into each other.
                let key = format!(
                    "{}\0{}\0{}\0{}",
                    user.first_name.to_lowercase(),
                    user.last_name.to_lowercase(),
                    dob.expose(),
                    ssn.expose()
                );
                by_person.push((key, index));
            }
        }
    }

    // Per user involved: the reasons, each naming the other users.
    let mut reasons: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (keys, what) in [
        (by_email, "same email address as"),
        (by_person, "same name, day of birth and SSN digits as"),
    ] {
        for group in shared(keys) {
            for &user in &group {
                let others = group.iter().copied().filter(|&other| other != user);
                let others = usernames(s, others, group.len() - 1);
                reasons
                    .entry(user)
                    .or_default()
                    .push(format!("{what} {others}"));
            }
        }
    }
    for (user, why) in reasons {
        out.push(Finding {
            rule: RuleId::DuplicateIdentity,
            org: s.user(user).org,
            pidsl: None,
            user: Some(user),
            detail: why.join("; "),
        });
    }
}

/// The groups of two or more users sharing a key.
fn shared(mut keys: Vec<(String, u32)>) -> Vec<Vec<u32>> {
    keys.sort_unstable();
    keys.chunk_by(|a, b| a.0 == b.0)
        .filter(|group| group.len() > 1)
        .map(|group| group.iter().map(|(_, user)| *user).collect())
        .collect()
}
