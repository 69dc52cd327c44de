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
            services: crate::domain::Services::EMPTY,
            remediation: String::new(),
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

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, NONE};
    use crate::domain::RuleId::*;
    use crate::domain::UserStatus;
    use crate::snapshot::Personal;

    /// Adds `username` as `first last` with the given day of birth and SSN digits.
    fn person(
        kit: &mut Kit,
        username: &str,
        name: (&str, &str),
        dob: Option<&str>,
        ssn: Option<&str>,
    ) -> u32 {
        let index = kit.user(username);
        let user = kit.user_mut(index);
        (user.first_name, user.last_name) = (name.0.to_string(), name.1.to_string());
        user.dob_mmdd = dob.map(|v| Personal::new(v.to_string()));
        user.ssn_last4 = ssn.map(|v| Personal::new(v.to_string()));
        index
    }

    const KEVIN: (&str, &str) = ("Kevin", "Morgan");

    #[test]
    fn users_sharing_an_email_in_any_case_are_each_flagged_naming_the_other() {
        let mut kit = Kit::new();
        kit.user("nsmith");
        let temp = kit.user("nsmith-temp");
        kit.user_mut(temp).email = "NSmith@example.org".into();
        kit.user("akim");
        assert_eq!(kit.fired(DuplicateIdentity), ["nsmith", "nsmith-temp"]);
        assert_eq!(
            kit.details(DuplicateIdentity),
            [
                "same email address as nsmith-temp",
                "same email address as nsmith"
            ]
        );
    }

    #[test]
    fn three_users_sharing_an_email_each_name_the_other_two() {
        let mut kit = Kit::new();
        for name in ["a1", "a2", "a3"] {
            let user = kit.user(name);
            kit.user_mut(user).email = "shared@example.org".into();
        }
        assert_eq!(
            kit.details(DuplicateIdentity)[1],
            "same email address as a1, a3"
        );
    }

    #[test]
    fn same_name_day_of_birth_and_ssn_digits_is_one_person() {
        let mut kit = Kit::new();
        person(&mut kit, "kmorgan", KEVIN, Some("03/14"), Some("1234"));
        person(
            &mut kit,
            "kmorgan2",
            ("KEVIN", "morgan"),
            Some("03/14"),
            Some("1234"),
        );
        assert_eq!(kit.fired(DuplicateIdentity), ["kmorgan", "kmorgan2"]);
    }

    #[test]
    fn the_detail_never_repeats_the_personal_data() {
        let mut kit = Kit::new();
        person(&mut kit, "kmorgan", KEVIN, Some("03/14"), Some("1234"));
        person(&mut kit, "kmorgan2", KEVIN, Some("03/14"), Some("1234"));
        for detail in kit.details(DuplicateIdentity) {
            assert!(
                !detail.contains("03/14") && !detail.contains("1234"),
                "{detail}"
            );
        }
    }

    #[test]
    fn a_name_match_needs_all_four_values_present_and_equal() {
        let cases = [
            (Some("03/14"), Some("1234"), Some("03/15"), Some("1234")),
            (Some("03/14"), Some("1234"), Some("03/14"), Some("4321")),
            (Some("03/14"), Some("1234"), None, Some("1234")),
            (None, None, None, None),
        ];
        for (dob1, ssn1, dob2, ssn2) in cases {
            let mut kit = Kit::new();
            person(&mut kit, "kmorgan", KEVIN, dob1, ssn1);
            person(&mut kit, "kmorgan2", KEVIN, dob2, ssn2);
            assert_eq!(kit.fired(DuplicateIdentity), NONE, "{dob1:?} {dob2:?}");
        }
    }

    #[test]
    fn a_different_name_with_the_same_personal_data_is_another_person() {
        let mut kit = Kit::new();
        person(&mut kit, "kmorgan", KEVIN, Some("03/14"), Some("1234"));
        person(
            &mut kit,
            "kmorse",
            ("Kevin", "Morse"),
            Some("03/14"),
            Some("1234"),
        );
        assert_eq!(kit.fired(DuplicateIdentity), NONE);
    }

    #[test]
    fn both_reasons_for_the_same_pair_make_one_finding_each() {
        let mut kit = Kit::new();
        person(&mut kit, "kmorgan", KEVIN, Some("03/14"), Some("1234"));
        let twin = person(&mut kit, "kmorgan2", KEVIN, Some("03/14"), Some("1234"));
        kit.user_mut(twin).email = "kmorgan@example.org".into();
        assert_eq!(kit.fired(DuplicateIdentity), ["kmorgan", "kmorgan2"]);
        assert_eq!(
            kit.details(DuplicateIdentity)[0],
            "same email address as kmorgan2; same name, day of birth and SSN digits as kmorgan2"
        );
    }

    #[test]
    fn inactive_and_terminated_users_are_not_duplicates() {
        let mut kit = Kit::new();
        kit.user("nsmith");
        let inactive = kit.user("nsmith-old");
        let terminated = kit.user("nsmith-left");
        for user in [inactive, terminated] {
            kit.user_mut(user).email = "nsmith@example.org".into();
        }
        kit.user_mut(inactive).status = UserStatus::Inactive;
        kit.user_mut(terminated).terminated_on = Some(kit.days_ago(1));
        assert_eq!(kit.fired(DuplicateIdentity), NONE);
    }

    #[test]
    fn a_duplicate_is_reported_under_the_users_own_organization() {
        let mut kit = Kit::new();
        let bill = kit.org("ORG-BILL");
        kit.user("sfox");
        let other = kit.user("sfox2");
        kit.user_mut(other).email = "sfox@example.org".into();
        kit.user_mut(other).org = bill;
        assert_eq!(kit.orgs(DuplicateIdentity), ["ORG-A", "ORG-BILL"]);
    }
}
