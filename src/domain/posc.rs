//! The POSC's navigation, in the job aids' words. Every path a rule's remediation or an
//! operation's next step names is spelled here once: the macro gives literals for the static
//! rule table, the functions the same paths with the PID/SL and the user filled in.

/// `Administer Account > Manage Subordinate Accounts`, where a Primary User administers a
/// PID/SL's users; with `(WHO, STEPS)`, the path to STEPS on a user a rule names generically
/// (`... > choose the PID/SL > Search > select WHO > STEPS`).
macro_rules! manage_subordinates {
    () => {
        "Administer Account > Manage Subordinate Accounts"
    };
    ($who:literal, $steps:literal) => {
        concat!(
            $crate::domain::posc::manage_subordinates!(),
            " > choose the PID/SL > Search > select ",
            $who,
            " > ",
            $steps
        )
    };
}
pub(crate) use manage_subordinates;

pub const MANAGE_SUBORDINATES: &str = manage_subordinates!();

/// The Update Subordinate panel of a user a rule names generically.
pub const UPDATE_SUBORDINATE: &str = manage_subordinates!("the user", "Update Subordinate panel");

/// The path to `step` on `username` of `pidsl`, e.g. `... > 110000001A > Search > jdoe >
/// Reset Password`.
pub fn user_step(pidsl: &str, username: &str, step: &str) -> String {
    format!("{MANAGE_SUBORDINATES} > {pidsl} > Search > {username} > {step}")
}

/// The path to a PID/SL's own `step` (Create Subordinate Account, Link Subordinate).
pub fn pidsl_step(pidsl: &str, step: &str) -> String {
    format!("{MANAGE_SUBORDINATES} > {pidsl} > {step}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_job_aids_words() {
        assert_eq!(
            manage_subordinates!("the user", "Remove"),
            "Administer Account > Manage Subordinate Accounts > choose the PID/SL > Search > \
             select the user > Remove"
        );
        assert_eq!(
            user_step("110000001A", "jdoe", "Reset Password"),
            "Administer Account > Manage Subordinate Accounts > 110000001A > Search > jdoe > \
             Reset Password"
        );
    }
}
