//! The operations: each reads its rows inside a write transaction, checks them against the
//! policy, writes, and records its audit events in the same transaction.

use super::policy::{refused, why_inactive};
use super::*;
use crate::domain::posc::{self, Column};
use crate::domain::ADMIN_SERVICES;

/// Performs one operation as `actor`: lock, read, check, write, audit, commit. A refusal
/// writes nothing; so does a PostgreSQL role without the operator grants (a reviewer's), whose
/// refusal says so.
pub async fn perform(
    store: &dyn Store,
    actor: &str,
    operation: Operation,
    time: &OperationTime,
) -> anyhow::Result<Outcome> {
    perform_as(store, actor, operation, time, Mode::default()).await
}

/// How an operation ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mode<'a> {
    /// Every check is made and every row written, then the transaction is rolled back: what
    /// the operation would do, changing nothing (`decisions apply --dry-run`).
    pub rehearse: bool,
    /// Why it was done, appended to its audit events' detail (e.g. the decision it applies).
    pub because: Option<&'a str>,
}

/// [`perform`], ending as `mode` says.
pub async fn perform_as(
    store: &dyn Store,
    actor: &str,
    operation: Operation,
    time: &OperationTime,
    mode: Mode<'_>,
) -> anyhow::Result<Outcome> {
    let performed =
        async { perform_in_as(store.begin_write().await?, actor, operation, time, mode).await }
            .await;
    let Some(reason) = performed
        .as_ref()
        .err()
        .and_then(crate::store::permission_denied)
    else {
        return performed;
    };
    let role = store
        .database_role()
        .await
        .unwrap_or_else(|_| "in use".into());
    Err(UsageError(format!(
        "the database role {role} may read but not change accounts ({reason}); nothing was changed. \
         Each operator connects with a role of their own that is a member of posc_operator \
         (README, \"Security and data\")"
    ))
    .into())
}

/// Performs one operation inside `tx`, a transaction from [`Store::begin_write`], and commits
/// it; on any error `tx` is dropped, which rolls it back. [`perform`] is this with its own
/// transaction; a test of the locking passes a transaction it watches.
pub async fn perform_in(
    tx: Box<dyn AccountsTx>,
    actor: &str,
    operation: Operation,
    time: &OperationTime,
) -> anyhow::Result<Outcome> {
    perform_in_as(tx, actor, operation, time, Mode::default()).await
}

async fn perform_in_as(
    tx: Box<dyn AccountsTx>,
    actor: &str,
    operation: Operation,
    time: &OperationTime,
    mode: Mode<'_>,
) -> anyhow::Result<Outcome> {
    let mut op = Op {
        tx,
        actor_name: actor.trim().to_string(),
        actor_id: None,
        time,
    };
    let outcome = match operation {
        Operation::Create(new) => op.create(new).await?,
        Operation::Link {
            username,
            pidsl,
            services,
            expires_on,
        } => op.link(&username, &pidsl, services, expires_on).await?,
        Operation::UpdateServices {
            username,
            pidsl,
            services,
        } => op.update_services(&username, &pidsl, services).await?,
        Operation::ResetPassword { username, pidsl } => {
            op.reset_password(&username, &pidsl).await?
        }
        Operation::Remove { username, pidsl } => op.remove(&username, &pidsl).await?,
        Operation::Deactivate { username } => {
            op.set_status(&username, UserStatus::Inactive).await?
        }
        Operation::Reactivate { username } => op.set_status(&username, UserStatus::Active).await?,
        Operation::SetBackup { username, pidsl } => op.set_backup(&username, &pidsl).await?,
    };
    let mut outcome = outcome;
    for event in &mut outcome.events {
        if let Some(because) = mode.because {
            event.detail = format!("{}; {because}", event.detail);
        }
        op.tx.record_audit(event).await?;
    }
    if !mode.rehearse {
        op.tx.commit().await.context("cannot commit the change")?;
    }
    Ok(outcome)
}

/// One operation in progress inside its transaction.
struct Op<'a> {
    tx: Box<dyn AccountsTx>,
    /// As given, then as the store spells it once the actor is found.
    actor_name: String,
    actor_id: Option<i64>,
    time: &'a OperationTime,
}

impl Op<'_> {
    fn today(&self) -> NaiveDate {
        self.time.today
    }

    fn event(
        &self,
        action: &str,
        username: &str,
        pidsl: &str,
        before: Services,
        after: Services,
        detail: String,
    ) -> AuditEvent {
        AuditEvent {
            id: 0,
            at: self.time.at,
            actor: self.actor_name.clone(),
            ran_as: String::new(),
            action: action.to_string(),
            username: username.to_string(),
            pidsl: pidsl.to_string(),
            services_before: before,
            services_after: after,
            detail,
        }
    }

    /// Locks the PID/SL, reads its access list and checks the actor; returns the list.
    async fn authorize(&mut self, pidsl: &PidSl) -> anyhow::Result<(PidSlInfo, Vec<Member>)> {
        let info = self
            .tx
            .lock_pidsl(pidsl)
            .await?
            .ok_or_else(|| refused(format!("unknown PID/SL {pidsl}")))?;
        let members = self.tx.members_of_pidsl(pidsl).await?;
        let actor = self.tx.user_by_name(&self.actor_name).await?;
        if let Some(actor) = &actor {
            self.actor_name = actor.username.clone();
            self.actor_id = Some(actor.id);
        }
        check_actor(
            &self.actor_name,
            actor.as_ref(),
            &members,
            pidsl,
            self.today(),
        )
        .map_err(refused)?;
        Ok((info, members))
    }

    async fn target(&mut self, username: &str) -> anyhow::Result<UserRow> {
        self.tx.user_by_name(username).await?.ok_or_else(|| {
            refused(format!(
                "no user {:?} in the store; `posc-review accounts create` creates one",
                username.trim()
            ))
        })
    }

    fn row_of<'m>(
        members: &'m [Member],
        user: &UserRow,
        pidsl: &PidSl,
    ) -> anyhow::Result<&'m Member> {
        members
            .iter()
            .find(|m| m.user_id == user.id)
            .ok_or_else(|| {
                refused(format!(
                    "{} has no access to {pidsl}; `posc-review accounts link` gives it",
                    user.username
                ))
            })
    }

    async fn create(&mut self, new: NewUser) -> anyhow::Result<Outcome> {
        let (info, _) = self.authorize(&new.pidsl).await?;
        self.tx.lock_users().await?;
        if let Some(existing) = self.tx.user_by_name(&new.username).await? {
            return Err(refused(format!(
                "the username {} is taken by {} (usernames are compared case-insensitively); \
                 `posc-review accounts link` gives an existing user access",
                new.username, existing.username
            )));
        }
        if !self.tx.org_exists(&new.org_id).await? {
            return Err(refused(format!("unknown organization {:?}", new.org_id)));
        }
        let mut services = new.services;
        services.insert(ServiceCode::Portal);
        check_grant(&new.username, Role::Subordinate, services, &new.pidsl).map_err(refused)?;
        let id = self.tx.next_user_id().await?;
        let who = format!("{} {} ({})", new.first_name, new.last_name, new.username);
        self.tx
            .insert_user(&UserRow {
                id,
                username: new.username.clone(),
                first_name: new.first_name,
                last_name: new.last_name,
                middle_initial: String::new(),
                phone: String::new(),
                email: new.email.as_str().to_string(),
                org_id: new.org_id.clone(),
                job_role: new.job_role.unwrap_or_default(),
                status: UserStatus::Active,
                created_on: Some(self.today()),
                last_login_at: None,
                terms_accepted_on: None,
                terminated_on: None,
                dob_mmdd: None,
                ssn_last4: None,
            })
            .await?;
        self.tx
            .put_access(&AccessRow {
                user_id: id,
                pidsl: new.pidsl.clone(),
                role: Role::Subordinate,
                services,
                granted_on: Some(self.today()),
                expires_on: None,
            })
            .await?;
        let mut detail = format!(
            "new user ID in {}; subordinate of {}",
            new.org_id, new.pidsl
        );
        if !new.services.contains(ServiceCode::Portal) {
            detail.push_str("; PORTAL added");
        }
        if new.org_id != info.org_id {
            detail.push_str(&format!("; linked (the PID/SL belongs to {})", info.org_id));
        }
        let event = self.event(
            "create",
            &new.username,
            new.pidsl.as_str(),
            Services::EMPTY,
            services,
            detail,
        );
        Ok(Outcome {
            events: vec![event],
            next_steps: vec![format!(
                "Create the account of {who} in the POSC too ({}), with the same services in \
                 Assigned Services: {}.",
                posc::search_results_button(new.pidsl.as_str(), "New Subordinate"),
                services.display_names()
            )],
        })
    }

    async fn link(
        &mut self,
        username: &str,
        pidsl: &PidSl,
        services: Services,
        expires_on: Option<NaiveDate>,
    ) -> anyhow::Result<Outcome> {
        let (info, members) = self.authorize(pidsl).await?;
        let user = self.target(username).await?;
        if !user_is_active(&user, self.today()) {
            return Err(refused(format!(
                "{}; only an active user may be linked",
                why_inactive(&user, self.today())
            )));
        }
        if let Some(row) = members.iter().find(|m| m.user_id == user.id) {
            return Err(refused(format!(
                "{} already has access to {pidsl} (role {}); `posc-review accounts update-services` changes it",
                user.username, row.role
            )));
        }
        check_grant(&user.username, Role::Subordinate, services, pidsl).map_err(refused)?;
        if let Some(date) = expires_on.filter(|d| *d <= self.today()) {
            return Err(refused(format!(
                "--expires-on {date} is not after today ({})",
                self.today()
            )));
        }
        self.tx
            .put_access(&AccessRow {
                user_id: user.id,
                pidsl: pidsl.clone(),
                role: Role::Subordinate,
                services,
                granted_on: Some(self.today()),
                expires_on,
            })
            .await?;
        let mut detail = if user.org_id == info.org_id {
            format!("subordinate of {pidsl}")
        } else {
            format!(
                "linked user of {} to {pidsl} of {}",
                user.org_id, info.org_id
            )
        };
        if let Some(date) = expires_on {
            detail.push_str(&format!(", until {date}"));
        }
        let event = self.event(
            "link",
            &user.username,
            pidsl.as_str(),
            Services::EMPTY,
            services,
            detail,
        );
        Ok(Outcome {
            events: vec![event],
            next_steps: vec![format!(
                "Link {} in the POSC too ({}).",
                who(&user),
                posc::search_results_button(pidsl.as_str(), "Link Subordinate")
            )],
        })
    }

    async fn update_services(
        &mut self,
        username: &str,
        pidsl: &PidSl,
        services: Services,
    ) -> anyhow::Result<Outcome> {
        let (_, members) = self.authorize(pidsl).await?;
        let user = self.target(username).await?;
        let row = Self::row_of(&members, &user, pidsl)?;
        check_grant(&user.username, row.role, services, pidsl).map_err(refused)?;
        check_primary_user_limit(
            user.id,
            row.services,
            services,
            &members,
            &[],
            pidsl,
            self.today(),
        )
        .map_err(refused)?;
        if row.services == services {
            return Ok(Outcome {
                events: vec![],
                next_steps: vec![format!(
                    "Nothing to change: {} already holds exactly {services} on {pidsl}.",
                    user.username
                )],
            });
        }
        self.tx
            .put_access(&AccessRow {
                services,
                ..row.access_row()
            })
            .await?;
        let event = self.event(
            "update-services",
            &user.username,
            pidsl.as_str(),
            row.services,
            services,
            change_text(row.services, services),
        );
        Ok(Outcome {
            events: vec![event],
            next_steps: vec![format!(
                "Move the services in the POSC too: {}.",
                posc::update_path(
                    pidsl.as_str(),
                    &who(&user),
                    &move_panel(row.services, services)
                )
            )],
        })
    }

    async fn reset_password(&mut self, username: &str, pidsl: &PidSl) -> anyhow::Result<Outcome> {
        let (_, members) = self.authorize(pidsl).await?;
        let user = self.target(username).await?;
        let row = Self::row_of(&members, &user, pidsl)?;
        if self.actor_id == Some(user.id) {
            return Err(refused(format!(
                "a Primary User cannot reset their own password; {} must call MassHealth Customer Service, which does",
                user.username
            )));
        }
        let event = self.event(
            "reset-password",
            &user.username,
            pidsl.as_str(),
            row.services,
            row.services,
            "password reset; the POSC issues a temporary password".into(),
        );
        Ok(Outcome {
            events: vec![event],
            next_steps: vec![
                format!(
                    "In the POSC: {}.",
                    posc::update_path(pidsl.as_str(), &who(&user), "click Reset Password")
                ),
                format!(
                    "The POSC issues a temporary password: give it to {} in person or by phone, not by email; they must change it at their next sign-in.",
                    user.username
                ),
            ],
        })
    }

    async fn remove(&mut self, username: &str, pidsl: &PidSl) -> anyhow::Result<Outcome> {
        let (_, members) = self.authorize(pidsl).await?;
        let user = self.target(username).await?;
        let row = Self::row_of(&members, &user, pidsl)?;
        self.tx.delete_access(user.id, pidsl).await?;
        let event = self.event(
            "remove",
            &user.username,
            pidsl.as_str(),
            row.services,
            Services::EMPTY,
            format!(
                "access to {pidsl} removed (role {}); the user ID stays {}",
                row.role, user.status
            ),
        );
        let mut next_steps = vec![format!(
            "Remove {} in the POSC too: {}. This removes the subordinate from the PID/SL; it \
             doesn't deactivate the user.",
            user.username,
            posc::update_path(pidsl.as_str(), &who(&user), "click Remove")
        )];
        if row.role != Role::Subordinate {
            next_steps.push(format!(
                "{} was the {} of {pidsl}: appoint a new backup with `posc-review accounts set-backup`; for a new Primary User, {}.",
                user.username, row.role, posc::MODIFY_PRIMARY_USER
            ));
        }
        Ok(Outcome {
            events: vec![event],
            next_steps,
        })
    }

    /// Deactivate (`Inactive`) or reactivate (`Active`) a user ID. The actor must be an
    /// active Primary User or backup on a PID/SL of the user's own organization.
    async fn set_status(&mut self, username: &str, status: UserStatus) -> anyhow::Result<Outcome> {
        let user = self.target(username).await?;
        self.tx.lock_pidsls_of_user(user.id).await?;
        // Read again under the locks.
        let user = self.target(username).await?;
        let actor = self.tx.user_by_name(&self.actor_name).await?;
        let only = format!(
            "only an active Primary User or backup of a PID/SL of {} ({}'s organization) may do this",
            user.org_id, user.username
        );
        let Some(actor) = actor else {
            return Err(refused(format!(
                "no user {:?} in the store; {only}",
                self.actor_name
            )));
        };
        self.actor_name = actor.username.clone();
        self.actor_id = Some(actor.id);
        if !user_is_active(&actor, self.today()) {
            return Err(refused(format!(
                "{}; {only}",
                why_inactive(&actor, self.today())
            )));
        }
        if self
            .tx
            .admin_rows_in_org(actor.id, &user.org_id)
            .await?
            .is_empty()
        {
            return Err(refused(format!(
                "{} is not the Primary User or backup of any PID/SL of {}; {only}",
                actor.username, user.org_id
            )));
        }
        if user.status == status {
            return Err(refused(format!(
                "{}'s user ID is already {status}",
                user.username
            )));
        }
        let access = self.tx.access_of_user(user.id).await?;
        let (action, detail) = match status {
            UserStatus::Inactive => (
                "deactivate",
                format!(
                    "status active -> inactive; access to {} kept (`posc-review accounts remove` takes it away)",
                    crate::output::count(access.len(), "PID/SL")
                ),
            ),
            UserStatus::Active => {
                if let Some(date) = user.terminated_on.filter(|d| *d <= self.today()) {
                    return Err(refused(format!(
                        "{} left the organization on {date}; a terminated user is not reactivated",
                        user.username
                    )));
                }
                for row in access
                    .iter()
                    .filter(|r| r.services.contains(ServiceCode::PrimaryUser))
                {
                    let members = self.tx.members_of_pidsl(&row.pidsl).await?;
                    check_primary_user_limit(
                        user.id,
                        Services::EMPTY,
                        row.services,
                        &members,
                        &[],
                        &row.pidsl,
                        self.today(),
                    )
                    .map_err(|e| refused(format!("{} holds PRIMARY_USER on {}, and {e}", user.username, row.pidsl)))?;
                }
                (
                    "reactivate",
                    format!(
                        "status inactive -> active; access to {}",
                        crate::output::count(access.len(), "PID/SL")
                    ),
                )
            }
        };
        self.tx.set_user_status(user.id, status).await?;
        let event = self.event(
            action,
            &user.username,
            "",
            Services::EMPTY,
            Services::EMPTY,
            detail,
        );
        // The job aids' Update Subordinate panel has no button for a user ID's status: the
        // Guide sends the Primary User to MassHealth Customer Service for the security profile.
        let next = if status == UserStatus::Active {
            format!(
                "The POSC has no button to reactivate a user ID: contact {} to have the user ID of \
                 {} reactivated.",
                posc::CUSTOMER_SERVICE,
                who(&user)
            )
        } else {
            format!(
                "The POSC has no button to deactivate a user ID: contact {} to ensure that the \
                 security profile of {} has been updated; removing the user from a PID/SL is \
                 `posc-review accounts remove` (the Update Subordinate panel's Remove button).",
                posc::CUSTOMER_SERVICE,
                who(&user)
            )
        };
        Ok(Outcome {
            events: vec![event],
            next_steps: vec![next],
        })
    }

    /// Makes the user the backup of the PID/SL with every service of its active Primary
    /// User(s); a previous backup becomes a subordinate without PRIMARY_USER and
    /// MANAGE_SUBORDINATES.
    async fn set_backup(&mut self, username: &str, pidsl: &PidSl) -> anyhow::Result<Outcome> {
        let (_, members) = self.authorize(pidsl).await?;
        let user = self.target(username).await?;
        if !user_is_active(&user, self.today()) {
            return Err(refused(format!(
                "{}; only an active user may be the backup",
                why_inactive(&user, self.today())
            )));
        }
        let row = members.iter().find(|m| m.user_id == user.id);
        if let Some(row) = row.filter(|r| r.role == Role::Primary) {
            return Err(refused(format!(
                "{} is the Primary User of {pidsl}, not a candidate for its backup",
                row.username
            )));
        }
        let primary_services = members
            .iter()
            .filter(|m| m.role == Role::Primary && m.is_active(self.today()))
            .fold(Services::EMPTY, |s, m| s.union(m.services));
        if primary_services.is_empty() {
            return Err(refused(format!(
                "{pidsl} has no active Primary User whose services the backup would receive"
            )));
        }
        let previous: Vec<&Member> = members
            .iter()
            .filter(|m| m.role == Role::Backup && m.user_id != user.id)
            .collect();
        let leaving: Vec<i64> = previous.iter().map(|m| m.user_id).collect();
        let before = row.map(|r| r.services).unwrap_or(Services::EMPTY);
        let after = before.union(primary_services);
        check_primary_user_limit(
            user.id,
            before,
            after,
            &members,
            &leaving,
            pidsl,
            self.today(),
        )
        .map_err(refused)?;
        if row.is_some_and(|r| r.role == Role::Backup) && before == after {
            return Ok(Outcome {
                events: vec![],
                next_steps: vec![format!(
                    "Nothing to change: {} is already the backup of {pidsl} with every service of the Primary User.",
                    user.username
                )],
            });
        }
        let mut events = Vec::new();
        for old in &previous {
            let mut services = old.services.minus(ADMIN_SERVICES);
            if services.is_empty() {
                services.insert(ServiceCode::Portal);
            }
            self.tx
                .put_access(&AccessRow {
                    role: Role::Subordinate,
                    services,
                    ..old.access_row()
                })
                .await?;
            events.push(self.event(
                "set-backup",
                &old.username,
                pidsl.as_str(),
                old.services,
                services,
                format!(
                    "backup role passed to {}; role backup -> subordinate",
                    user.username
                ),
            ));
        }
        let access = match row {
            Some(r) => AccessRow {
                role: Role::Backup,
                services: after,
                ..r.access_row()
            },
            None => AccessRow {
                user_id: user.id,
                pidsl: pidsl.clone(),
                role: Role::Backup,
                services: after,
                granted_on: Some(self.today()),
                expires_on: None,
            },
        };
        self.tx.put_access(&access).await?;
        let added = after.minus(before);
        events.push(self.event(
            "set-backup",
            &user.username,
            pidsl.as_str(),
            before,
            after,
            format!(
                "role {} -> backup; services of the Primary User added: {}",
                row.map_or("none (new access)".to_string(), |r| r.role.to_string()),
                if added.is_empty() {
                    "none".to_string()
                } else {
                    added.to_string()
                }
            ),
        ));
        Ok(Outcome {
            events,
            next_steps: vec![format!(
                "Appoint {} as backup in the POSC too: {}.",
                user.username,
                posc::update_path(pidsl.as_str(), &who(&user), &move_panel(before, after))
            )],
        })
    }
}

/// `Erin Walsh (ewalsh)`: a user as the Subordinates Search Results panel lists them, with
/// the username.
fn who(user: &UserRow) -> String {
    format!("{} {} ({})", user.first_name, user.last_name, user.username)
}

/// The Update Subordinate panel's step for a change of services: what to move to Assigned
/// Services and what to Available Services, then Submit.
fn move_panel(before: Services, after: Services) -> String {
    let mut moves = Vec::new();
    let added = after.minus(before);
    let removed = before.minus(after);
    if !added.is_empty() {
        moves.push(format!(
            "move {} to {}",
            added.display_names(),
            Column::Assigned
        ));
    }
    if !removed.is_empty() {
        moves.push(format!(
            "move {} to {}",
            removed.display_names(),
            Column::Available
        ));
    }
    if moves.is_empty() {
        return "click Submit".to_string();
    }
    format!("{}, then click Submit", moves.join(" and "))
}

/// `added: A;B; removed: C` for an audit detail.
pub fn change_text(before: Services, after: Services) -> String {
    let mut parts = Vec::new();
    let added = after.minus(before);
    let removed = before.minus(after);
    if !added.is_empty() {
        parts.push(format!("added {added}"));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {removed}"));
    }
    if parts.is_empty() {
        "no change".into()
    } else {
        parts.join("; ")
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_text_lists_added_and_removed_services() {
        let before = Services::parse_list("PORTAL;CLAIMS").unwrap();
        let after = Services::parse_list("PORTAL;REPORTS").unwrap();
        assert_eq!(change_text(before, after), "added REPORTS; removed CLAIMS");
    }

    #[test]
    fn a_change_of_services_moves_each_to_its_column_then_submits() {
        let before = Services::parse_list("PORTAL;CLAIMS").unwrap();
        let after = Services::parse_list("PORTAL;REPORTS").unwrap();
        assert_eq!(
            move_panel(before, after),
            "move View Provider Reports to Assigned Services and move Claims Submission and \
             Status to Available Services, then click Submit"
        );
        assert_eq!(move_panel(before, before), "click Submit");
    }
}
