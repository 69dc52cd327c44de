//! The POSC's navigation, in the job aids' words ("Update Subordinate Accounts", both
//! editions): Administer Account > Manage Subordinate Accounts, the PID/SL from the Provider
//! dropdown, Search on the Subordinates Search panel, the subordinate's name on the
//! Subordinates Search Results panel, the Update Subordinate panel (Cancel Service, Return to
//! Search Results, Remove, Submit, Reset Password), then Close on the Confirmation panel. Where
//! the POSC has no button for a step (a user ID's deactivation, a Primary User's own
//! password), the documents send the Primary User to MassHealth Customer Service, and so do
//! we. Every path a rule's remediation or an operation's next step names is spelled here once:
//! the macros give literals for the static rule table, the functions the same paths with the
//! PID/SL and the user filled in.

/// `Administer Account > Manage Subordinate Accounts`, where a Primary User administers a
/// PID/SL's users.
macro_rules! manage_subordinates {
    () => {
        "Administer Account > Manage Subordinate Accounts"
    };
}
pub(crate) use manage_subordinates;

/// The job aids' last step after Submit, Remove or Reset Password.
macro_rules! confirmation {
    () => {
        "on the Confirmation panel, click Close after verifying that your update has been performed"
    };
}
pub(crate) use confirmation;

/// MassHealth Customer Service and the number the Guide for the Primary User and the job aid
/// give (the All Provider Bulletin writes it (800) 841-2900).
macro_rules! customer_service {
    () => {
        "MassHealth Customer Service at 1-800-841-2900"
    };
}
pub(crate) use customer_service;

/// The path to the Update Subordinate panel of a user a rule names generically, then `$panel`
/// (`move ... to Available Services, then click Submit`, `click Remove`), then the
/// Confirmation panel: [`update_path`] with "the PID/SL" and `$who`.
macro_rules! update_subordinate {
    ($who:literal, $panel:literal) => {
        concat!(
            $crate::domain::posc::manage_subordinates!(),
            " > choose the PID/SL from the Provider dropdown > Search > click the name of ",
            $who,
            " > on the Update Subordinate panel, ",
            $panel,
            " > ",
            $crate::domain::posc::confirmation!()
        )
    };
}
pub(crate) use update_subordinate;

/// The path to a button of the Subordinates Search Results panel (New Subordinate, Link
/// Subordinate) of a PID/SL a rule names generically: [`search_results_button`] with "the
/// PID/SL".
macro_rules! search_results {
    ($button:literal) => {
        concat!(
            $crate::domain::posc::manage_subordinates!(),
            " > choose the PID/SL from the Provider dropdown > Search > on the Subordinates \
             Search Results panel, click ",
            $button
        )
    };
}
pub(crate) use search_results;

/// The Guide for the Primary User's steps 2 and 3 for deleting a subordinate's account (Delete
/// Subordinate Accounts); step 1, removing the user from your account, is the Remove button.
macro_rules! delete_subordinate_rest {
    () => {
        concat!(
            "2. inform other organizations and entities that are linked to the terminated user so \
             that they can remove access to that user's account; 3. contact ",
            $crate::domain::posc::customer_service!(),
            " to ensure that the user's security profile has been updated"
        )
    };
}
pub(crate) use delete_subordinate_rest;

/// The Guide for the Primary User's three steps when a Primary User leaves (Delete Primary
/// Users), with the All Provider Bulletin's form for modifying the Primary User of a PID/SL.
macro_rules! delete_primary_user {
    () => {
        concat!(
            "1. establish another primary user within the organization (",
            $crate::domain::posc::modify_primary_user!(),
            "); 2. establish a new backup primary user or ensure that the new primary establishes \
             a backup primary user; 3. notify ",
            $crate::domain::posc::customer_service!(),
            " of the change so its security profile can be updated"
        )
    };
}
pub(crate) use delete_primary_user;

pub const MANAGE_SUBORDINATES: &str = manage_subordinates!();

/// The Guide's steps 2 and 3 for deleting a subordinate's account.
pub const DELETE_SUBORDINATE_REST: &str = delete_subordinate_rest!();

/// The Guide's three steps when a Primary User leaves.
pub const DELETE_PRIMARY_USER: &str = delete_primary_user!();

/// How the Primary User of an existing PID/SL changes (All Provider Bulletin, Primary User
/// Assignment and Maintenance): the POSC has no button for it.
macro_rules! modify_primary_user {
    () => {
        "complete the Existing Provider Modification Data Collection Form and submit it to \
         MassHealth (the process and FAQ are at mass.gov/RegisterMassHealthProvider)"
    };
}
pub(crate) use modify_primary_user;

pub const MODIFY_PRIMARY_USER: &str = modify_primary_user!();

/// The Confirmation panel's step.
pub const CONFIRMATION: &str = confirmation!();

/// Where the documents send a Primary User for what the POSC has no button for.
pub const CUSTOMER_SERVICE: &str = customer_service!();

/// The Update Subordinate panel of a user a rule names generically.
pub const UPDATE_SUBORDINATE: &str = concat!(
    manage_subordinates!(),
    " > choose the PID/SL from the Provider dropdown > Search > click the name of the user > \
     the Update Subordinate panel"
);

/// The path to the Update Subordinate panel of `who` on `pidsl`, then `panel` there, then
/// Close on the Confirmation panel, e.g. `... > choose 110000001A from the Provider dropdown >
/// Search > click the name of Erin Walsh (ewalsh) > on the Update Subordinate panel, click
/// Remove > on the Confirmation panel, click Close ...`.
pub fn update_path(pidsl: &str, who: &str, panel: &str) -> String {
    format!(
        "{MANAGE_SUBORDINATES} > choose {pidsl} from the Provider dropdown > Search > click the \
         name of {who} > on the Update Subordinate panel, {panel} > {CONFIRMATION}"
    )
}

/// `move A, B to Available Services, then click Submit` (or Assigned Services): the job aid's
/// steps 6 and 7 on the Update Subordinate panel.
pub fn move_services(names: &str, column: Column) -> String {
    format!("move {names} to {column}, then click Submit")
}

/// The Update Subordinate panel's two columns of services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Available,
    Assigned,
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Column::Available => "Available Services",
            Column::Assigned => "Assigned Services",
        })
    }
}

/// The path to a button of `pidsl`'s Subordinates Search Results panel (New Subordinate, Link
/// Subordinate).
pub fn search_results_button(pidsl: &str, button: &str) -> String {
    format!(
        "{MANAGE_SUBORDINATES} > choose {pidsl} from the Provider dropdown > Search > on the \
         Subordinates Search Results panel, click {button}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_job_aids_words() {
        assert_eq!(
            update_subordinate!("the user", "click Remove"),
            "Administer Account > Manage Subordinate Accounts > choose the PID/SL from the \
             Provider dropdown > Search > click the name of the user > on the Update Subordinate \
             panel, click Remove > on the Confirmation panel, click Close after verifying that \
             your update has been performed"
        );
        assert_eq!(
            update_path(
                "110000001A",
                "Erin Walsh (ewalsh)",
                &move_services("View Financial Data", Column::Available)
            ),
            "Administer Account > Manage Subordinate Accounts > choose 110000001A from the \
             Provider dropdown > Search > click the name of Erin Walsh (ewalsh) > on the Update \
             Subordinate panel, move View Financial Data to Available Services, then click \
             Submit > on the Confirmation panel, click Close after verifying that your update \
             has been performed"
        );
    }

    #[test]
    fn the_macro_and_the_function_say_the_same() {
        assert_eq!(
            update_subordinate!("the user", "click Reset Password"),
            update_path("the PID/SL", "the user", "click Reset Password")
        );
    }

    #[test]
    fn the_search_results_buttons_are_new_and_link_subordinate() {
        assert_eq!(
            search_results_button("110000001A", "Link Subordinate"),
            "Administer Account > Manage Subordinate Accounts > choose 110000001A from the \
             Provider dropdown > Search > on the Subordinates Search Results panel, click Link \
             Subordinate"
        );
    }
}
