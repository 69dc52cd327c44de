//! What `accounts show` and `accounts list` read: a user with their access, personal data
//! masked; a PID/SL's users.

use super::*;

/// A user's details for `accounts show`, personal data masked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserView {
    pub username: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub org_id: String,
    pub job_role: String,
    pub status: String,
    pub active: bool,
    pub created_on: Option<NaiveDate>,
    pub last_login_at: Option<String>,
    pub terms_accepted_on: Option<NaiveDate>,
    pub terminated_on: Option<NaiveDate>,
    /// Masked: `**/**`.
    pub dob_mmdd: Option<String>,
    /// Masked: `****`.
    pub ssn_last4: Option<String>,
    pub access: Vec<AccessView>,
}

/// One access row for `accounts show` and `accounts list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccessView {
    pub pidsl: String,
    pub pidsl_org_id: String,
    pub username: String,
    pub name: String,
    pub user_org_id: String,
    pub linked: bool,
    pub role: Role,
    pub active: bool,
    #[serde(serialize_with = "codes")]
    pub services: Services,
    pub granted_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
}

fn codes<S: serde::Serializer>(services: &Services, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(services.iter().map(|c| c.code()))
}

impl AccessView {
    fn of(member: &Member, today: NaiveDate) -> AccessView {
        AccessView {
            pidsl: member.pidsl.to_string(),
            pidsl_org_id: member.pidsl_org_id.clone(),
            username: member.username.clone(),
            name: format!("{} {}", member.first_name, member.last_name),
            user_org_id: member.org_id.clone(),
            linked: member.org_id != member.pidsl_org_id,
            role: member.role,
            active: member.is_active(today),
            services: member.services,
            granted_on: member.granted_on,
            expires_on: member.expires_on,
        }
    }
}

/// `accounts show USER`: the user and their access rows.
pub async fn show(store: &dyn Store, username: &str, today: NaiveDate) -> anyhow::Result<UserView> {
    let mut tx = store.begin_read().await?;
    let user = tx
        .user_by_name(username)
        .await?
        .ok_or_else(|| UsageError(format!("no user {:?} in the store", username.trim())))?;
    let access = tx.access_of_user(user.id).await?;
    Ok(UserView {
        name: format!("{} {}", user.first_name, user.last_name),
        active: user_is_active(&user, today),
        status: user.status.to_string(),
        dob_mmdd: user.dob_mmdd.as_ref().map(Personal::masked),
        ssn_last4: user.ssn_last4.as_ref().map(Personal::masked),
        access: access.iter().map(|m| AccessView::of(m, today)).collect(),
        username: user.username,
        email: user.email,
        phone: user.phone,
        org_id: user.org_id,
        job_role: user.job_role,
        created_on: user.created_on,
        last_login_at: user.last_login_at,
        terms_accepted_on: user.terms_accepted_on,
        terminated_on: user.terminated_on,
    })
}

/// `accounts list --pidsl P` (Subordinates Search): the PID/SL's access list.
pub async fn list(
    store: &dyn Store,
    pidsl: &PidSl,
    today: NaiveDate,
) -> anyhow::Result<(PidSlInfo, Vec<AccessView>)> {
    let mut tx = store.begin_read().await?;
    let info = tx
        .pidsl_info(pidsl)
        .await?
        .ok_or_else(|| UsageError(format!("unknown PID/SL {pidsl}")))?;
    let members = tx.members_of_pidsl(pidsl).await?;
    Ok((
        info,
        members.iter().map(|m| AccessView::of(m, today)).collect(),
    ))
}
