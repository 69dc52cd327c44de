//! `posc-review accounts ...`: parse the arguments into domain values, perform the operation,
//! and print what happened and what the actor must still do in the POSC.

use crate::accounts::{self, AccessView, NewUser, Operation, OperationTime, Outcome, UserView};
use crate::cli::{AccountsArgs, AccountsCommand, OutputFormat};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::{parse_date, Email, PidSl, Services};
use crate::error::UsageError;
use crate::outln;
use crate::output::{count, json_in_zone, local_instant, local_time, Table};
use crate::store::AuditEvent;
use chrono_tz::Tz;

pub async fn accounts_command(
    settings: &Settings,
    args: AccountsArgs,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let zone = settings.review.time_zone;
    let time = OperationTime::read(clock.as_ref(), zone);
    let (by, operation) = match args.command {
        AccountsCommand::List(a) => {
            let pidsl = pidsl(&a.pidsl)?;
            let store = super::open(settings).await?;
            let listed = accounts::list(store.as_ref(), &pidsl, time.today).await;
            store.close().await;
            let (info, rows) = listed?;
            return match a.format {
                OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&rows)?),
                OutputFormat::Text => {
                    outln!(
                        "{} of {}{}: {}",
                        info.pidsl,
                        info.org_id,
                        if info.active {
                            ""
                        } else {
                            " (inactive PID/SL)"
                        },
                        count(rows.len(), "user")
                    )?;
                    print_access(&rows, false)
                }
            };
        }
        AccountsCommand::Show(a) => {
            let store = super::open(settings).await?;
            let shown = accounts::show(store.as_ref(), &a.user, time.today).await;
            store.close().await;
            let view = shown?;
            return match a.format {
                OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&view)?),
                OutputFormat::Text => print_user(&view, zone),
            };
        }
        AccountsCommand::History(a) => {
            let store = super::open(settings).await?;
            let events = store.audit_events(a.user.as_deref()).await;
            store.close().await;
            let events = events?;
            return match a.format {
                OutputFormat::Json => outln!("{}", json_in_zone(&events, zone)?),
                OutputFormat::Text => print_history(&events, zone),
            };
        }
        AccountsCommand::Create(a) => {
            let username = a.user.trim().to_string();
            if username.is_empty()
                || username
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(UsageError(format!(
                    "{username:?} is not a username: it must be one word without spaces"
                ))
                .into());
            }
            let first_name = required("--first-name", &a.first_name)?;
            let last_name = required("--last-name", &a.last_name)?;
            let email = Email::parse(&a.email).map_err(|e| UsageError(format!("--email: {e}")))?;
            let job_role = a
                .job_role
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty());
            if let Some(role) = job_role.as_deref() {
                if settings.role_profile(role).is_none() {
                    eprintln!(
                        "warning: --job-role {role:?} is not a key of [roles] in the configuration; it counts as no profile"
                    );
                }
            }
            let new = NewUser {
                username,
                first_name,
                last_name,
                email,
                org_id: required("--org", &a.org)?,
                job_role,
                pidsl: pidsl(&a.pidsl)?,
                services: services(&a.services)?,
            };
            (a.by, Operation::Create(new))
        }
        AccountsCommand::Link(a) => {
            let expires_on = a
                .expires_on
                .as_deref()
                .map(parse_date)
                .transpose()
                .map_err(|e| UsageError(format!("--expires-on: {e}")))?;
            (
                a.by,
                Operation::Link {
                    username: a.user,
                    pidsl: pidsl(&a.pidsl)?,
                    services: services(&a.services)?,
                    expires_on,
                },
            )
        }
        AccountsCommand::UpdateServices(a) => (
            a.by,
            Operation::UpdateServices {
                username: a.user,
                pidsl: pidsl(&a.pidsl)?,
                services: services(&a.services)?,
            },
        ),
        AccountsCommand::ResetPassword(a) => (
            a.by,
            Operation::ResetPassword {
                username: a.user,
                pidsl: pidsl(&a.pidsl)?,
            },
        ),
        AccountsCommand::Remove(a) => (
            a.by,
            Operation::Remove {
                username: a.user,
                pidsl: pidsl(&a.pidsl)?,
            },
        ),
        AccountsCommand::Deactivate(a) => (a.by, Operation::Deactivate { username: a.user }),
        AccountsCommand::Reactivate(a) => (a.by, Operation::Reactivate { username: a.user }),
        AccountsCommand::SetBackup(a) => (
            a.by,
            Operation::SetBackup {
                username: a.user,
                pidsl: pidsl(&a.pidsl)?,
            },
        ),
    };
    let store = super::open_for_writing(settings, clock).await?;
    let outcome = accounts::perform(store.as_ref(), &by, operation, &time).await;
    store.close().await;
    print_outcome(&outcome?)
}

fn pidsl(text: &str) -> anyhow::Result<PidSl> {
    Ok(PidSl::parse(text).map_err(|e| UsageError(format!("--pidsl: {e}")))?)
}

/// `;`- or `,`-separated codes or display names.
fn services(text: &str) -> anyhow::Result<Services> {
    Ok(Services::parse_list(&text.replace(',', ";"))
        .map_err(|e| UsageError(format!("--services: {e}")))?)
}

fn required(flag: &str, text: &str) -> anyhow::Result<String> {
    let value = text.trim();
    if value.is_empty() {
        return Err(UsageError(format!("{flag} must not be empty")).into());
    }
    Ok(value.to_string())
}

fn or_dash(services: Services) -> String {
    if services.is_empty() {
        "-".into()
    } else {
        services.to_string()
    }
}

fn print_outcome(outcome: &Outcome) -> anyhow::Result<()> {
    for event in &outcome.events {
        let target = if event.pidsl.is_empty() {
            event.username.clone()
        } else {
            format!("{} on {}", event.username, event.pidsl)
        };
        outln!("{} {target}: {}", event.action, event.detail)?;
        if event.services_before != event.services_after {
            outln!(
                "  services: {} -> {}",
                or_dash(event.services_before),
                or_dash(event.services_after)
            )?;
        }
    }
    if let Some(event) = outcome.events.last() {
        outln!(
            "Recorded in the audit log (`posc-review accounts history {}`).",
            event.username
        )?;
    }
    for step in &outcome.next_steps {
        outln!("Next: {step}")?;
    }
    Ok(())
}

fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map_or_else(|| "-".into(), |d| d.to_string())
}

fn print_access(rows: &[AccessView], by_pidsl: bool) -> anyhow::Result<()> {
    let mut table = Table::new(&[
        if by_pidsl { "PID/SL" } else { "USERNAME" },
        if by_pidsl { "ORG" } else { "NAME" },
        "ROLE",
        "ACTIVE",
        "LINKED",
        "GRANTED",
        "EXPIRES",
        "SERVICES",
    ]);
    for row in rows {
        table.row([
            if by_pidsl {
                row.pidsl.clone()
            } else {
                row.username.clone()
            },
            if by_pidsl {
                row.pidsl_org_id.clone()
            } else {
                row.name.clone()
            },
            row.role.as_str().to_string(),
            (if row.active { "yes" } else { "no" }).to_string(),
            if row.linked {
                row.user_org_id.clone()
            } else {
                String::new()
            },
            date(row.granted_on),
            date(row.expires_on),
            or_dash(row.services),
        ]);
    }
    table.print()
}

fn print_user(view: &UserView, zone: Tz) -> anyhow::Result<()> {
    let field = |name: &str, value: &str| {
        outln!(
            "  {name:<18} {}",
            if value.is_empty() { "-" } else { value }
        )
    };
    outln!("{} ({})", view.username, view.name)?;
    field("email", &view.email)?;
    field("phone", &view.phone)?;
    field("organization", &view.org_id)?;
    field("job role", &view.job_role)?;
    field(
        "status",
        &format!(
            "{}{}",
            view.status,
            if view.active {
                ""
            } else {
                " (not an active user)"
            }
        ),
    )?;
    field("created on", &date(view.created_on))?;
    field(
        "last sign-in",
        &view
            .last_login_at
            .as_deref()
            .map_or_else(String::new, |t| local_time(t, zone)),
    )?;
    field("terms accepted on", &date(view.terms_accepted_on))?;
    field("terminated on", &date(view.terminated_on))?;
    field("dob (MM/DD)", view.dob_mmdd.as_deref().unwrap_or(""))?;
    field("ssn last 4", view.ssn_last4.as_deref().unwrap_or(""))?;
    outln!("Access to {}:", count(view.access.len(), "PID/SL"))?;
    if view.access.is_empty() {
        return Ok(());
    }
    print_access(&view.access, true)
}

fn print_history(events: &[AuditEvent], zone: Tz) -> anyhow::Result<()> {
    if events.is_empty() {
        return outln!("No audit events.");
    }
    // ACTOR is the --by claim; RAN AS who ran the command (OS user@host, or database role).
    let mut table = Table::new(&[
        "AT", "ACTOR", "RAN AS", "ACTION", "USERNAME", "PID/SL", "BEFORE", "AFTER", "DETAIL",
    ]);
    for e in events {
        table.row([
            local_instant(e.at, zone),
            e.actor.clone(),
            if e.ran_as.is_empty() {
                "(unknown)".into()
            } else {
                e.ran_as.clone()
            },
            e.action.clone(),
            e.username.clone(),
            if e.pidsl.is_empty() {
                "-".into()
            } else {
                e.pidsl.clone()
            },
            or_dash(e.services_before),
            or_dash(e.services_after),
            e.detail.clone(),
        ]);
    }
    table.print()?;
    outln!("{}", count(events.len(), "event"))
}
