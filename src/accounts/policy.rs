//! The Primary User Policy's checks on an account operation: pure functions of the rows the
//! operation read.

use super::*;
use crate::domain::{ADMIN_SERVICES, MAX_PRIMARY_USER_HOLDERS};

/// The services only a Primary User or backup may hold.
pub(super) fn refused(reason: impl std::fmt::Display) -> anyhow::Error {
    UsageError(format!("refused: {reason}")).into()
}

/// `status = active` and not terminated as of `today`.
pub fn user_is_active(user: &UserRow, today: NaiveDate) -> bool {
    crate::domain::is_active(user.status, user.terminated_on, today)
}

pub(super) fn why_inactive(user: &UserRow, today: NaiveDate) -> String {
    match user.terminated_on {
        Some(d) if d <= today => format!("{} left the organization on {d}", user.username),
        _ => format!("{}'s user ID is inactive", user.username),
    }
}

/// The actor must be an active user holding role primary or backup on the PID/SL.
pub fn check_actor(
    actor_name: &str,
    actor: Option<&UserRow>,
    members: &[Member],
    pidsl: &PidSl,
    today: NaiveDate,
) -> Result<(), String> {
    let only = format!("only an active Primary User or backup of {pidsl} may manage its users");
    let Some(actor) = actor else {
        return Err(format!("no user {actor_name:?} in the store; {only}"));
    };
    if !user_is_active(actor, today) {
        return Err(format!("{}; {only}", why_inactive(actor, today)));
    }
    match members.iter().find(|m| m.user_id == actor.id) {
        Some(m) if matches!(m.role, Role::Primary | Role::Backup) => Ok(()),
        Some(m) => Err(format!(
            "{} is a {} of {pidsl}, not its Primary User or backup; {only}",
            actor.username, m.role
        )),
        None => Err(format!(
            "{} has no access to {pidsl}; {only}",
            actor.username
        )),
    }
}

/// PRIMARY_USER and MANAGE_SUBORDINATES only for role primary or backup.
pub fn check_grant(
    username: &str,
    role: Role,
    services: Services,
    pidsl: &PidSl,
) -> Result<(), String> {
    if role != Role::Subordinate {
        return Ok(());
    }
    let admin: Vec<&str> = services
        .intersection(ADMIN_SERVICES)
        .iter()
        .map(|c| c.code())
        .collect();
    if admin.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} only for the Primary User and the backup, and {username} is a subordinate of {pidsl}",
            if admin.len() == 1 {
                format!("{} is", admin[0])
            } else {
                format!("{} are", admin.join(" and "))
            }
        ))
    }
}

/// At most two active holders of PRIMARY_USER per PID/SL: refuses a change that makes `user_id`
/// a new holder while two others (besides those in `leaving`, who lose it in the same change)
/// already hold it. A change that keeps or removes PRIMARY_USER is always allowed.
pub fn check_primary_user_limit(
    user_id: i64,
    before: Services,
    after: Services,
    members: &[Member],
    leaving: &[i64],
    pidsl: &PidSl,
    today: NaiveDate,
) -> Result<(), String> {
    let gains =
        after.contains(ServiceCode::PrimaryUser) && !before.contains(ServiceCode::PrimaryUser);
    if !gains {
        return Ok(());
    }
    let holders: Vec<&str> = members
        .iter()
        .filter(|m| {
            m.user_id != user_id
                && !leaving.contains(&m.user_id)
                && m.is_active(today)
                && m.services.contains(ServiceCode::PrimaryUser)
        })
        .map(|m| m.username.as_str())
        .collect();
    if holders.len() >= MAX_PRIMARY_USER_HOLDERS {
        Err(format!(
            "{pidsl} already has {} holders of PRIMARY_USER ({}); at most {MAX_PRIMARY_USER_HOLDERS} are allowed",
            holders.len(),
            holders.join(", ")
        ))
    } else {
        Ok(())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
    }

    fn p() -> PidSl {
        PidSl::parse("110000001A").unwrap()
    }

    fn member(id: i64, name: &str, role: Role, services: &str) -> Member {
        Member {
            user_id: id,
            username: name.into(),
            first_name: name.into(),
            last_name: "X".into(),
            org_id: "ORG".into(),
            status: UserStatus::Active,
            terminated_on: None,
            pidsl: p(),
            pidsl_org_id: "ORG".into(),
            role,
            services: Services::parse_list(services).unwrap(),
            granted_on: None,
            expires_on: None,
        }
    }

    fn user(id: i64, name: &str) -> UserRow {
        UserRow {
            id,
            username: name.into(),
            first_name: name.into(),
            last_name: "X".into(),
            middle_initial: String::new(),
            phone: String::new(),
            email: format!("{name}@example.org"),
            org_id: "ORG".into(),
            job_role: String::new(),
            status: UserStatus::Active,
            created_on: None,
            last_login_at: None,
            terms_accepted_on: None,
            terminated_on: None,
            dob_mmdd: None,
            ssn_last4: None,
        }
    }

    fn list() -> Vec<Member> {
        vec![
            member(
                1,
                "prim",
                Role::Primary,
                "PRIMARY_USER;MANAGE_SUBORDINATES;PORTAL",
            ),
            member(2, "back", Role::Backup, "PORTAL"),
            member(3, "sub", Role::Subordinate, "PORTAL"),
        ]
    }

    #[test]
    fn a_backup_may_act_for_the_pidsl() {
        assert!(check_actor("back", Some(&user(2, "back")), &list(), &p(), today()).is_ok());
    }

    #[test]
    fn a_subordinate_may_not_act_for_the_pidsl() {
        let err = check_actor("sub", Some(&user(3, "sub")), &list(), &p(), today()).unwrap_err();
        assert!(err.contains("subordinate"), "{err}");
    }

    #[test]
    fn a_terminated_primary_may_not_act() {
        let mut gone = user(1, "prim");
        gone.terminated_on = Some(today());
        let err = check_actor("prim", Some(&gone), &list(), &p(), today()).unwrap_err();
        assert!(err.contains("left the organization"), "{err}");
    }

    #[test]
    fn a_primary_terminated_tomorrow_may_still_act() {
        let mut leaving = user(1, "prim");
        leaving.terminated_on = today().succ_opt();
        assert!(check_actor("prim", Some(&leaving), &list(), &p(), today()).is_ok());
    }

    #[test]
    fn subordinates_may_not_hold_manage_subordinates() {
        let services = Services::parse_list("PORTAL;MANAGE_SUBORDINATES").unwrap();
        assert!(check_grant("sub", Role::Subordinate, services, &p()).is_err());
        assert!(check_grant("back", Role::Backup, services, &p()).is_ok());
    }

    #[test]
    fn a_second_primary_user_holder_is_allowed() {
        let after = Services::parse_list("PRIMARY_USER;PORTAL").unwrap();
        assert!(
            check_primary_user_limit(2, Services::EMPTY, after, &list(), &[], &p(), today())
                .is_ok()
        );
    }

    #[test]
    fn a_third_primary_user_holder_is_refused() {
        let mut members = list();
        members[1].services.insert(ServiceCode::PrimaryUser);
        members.push(member(4, "other", Role::Backup, "PORTAL"));
        let after = Services::parse_list("PRIMARY_USER;PORTAL").unwrap();
        let err = check_primary_user_limit(4, Services::EMPTY, after, &members, &[], &p(), today())
            .unwrap_err();
        assert!(err.contains("prim, back"), "{err}");
    }

    #[test]
    fn inactive_holders_do_not_count_toward_the_limit() {
        let mut members = list();
        members[1].services.insert(ServiceCode::PrimaryUser);
        members[1].status = UserStatus::Inactive;
        members.push(member(4, "other", Role::Backup, "PORTAL"));
        let after = Services::parse_list("PRIMARY_USER;PORTAL").unwrap();
        assert!(
            check_primary_user_limit(4, Services::EMPTY, after, &members, &[], &p(), today())
                .is_ok()
        );
    }

    #[test]
    fn keeping_primary_user_is_always_allowed() {
        let mut members = list();
        members[1].services.insert(ServiceCode::PrimaryUser);
        members.push(member(4, "other", Role::Backup, "PRIMARY_USER;PORTAL"));
        let held = Services::parse_list("PRIMARY_USER;PORTAL").unwrap();
        let after = Services::parse_list("PRIMARY_USER;PORTAL;CLAIMS").unwrap();
        assert!(check_primary_user_limit(4, held, after, &members, &[], &p(), today()).is_ok());
    }
}
