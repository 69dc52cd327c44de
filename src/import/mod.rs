//! `posc-review import DIR [--merge]`: reads a CSV snapshot, validates every file before
//! anything is written, then replaces (or merges into) the account store in one transaction.
//!
//! Two passes keep memory small at statewide size: the first validates every row and keeps only
//! the keys (org ids, PID/SLs, username -> id); the second reads users.csv and access.csv again
//! and writes them in batches.

mod csvfile;

pub use csvfile::{Issue, Issues};

use crate::domain::{
    parse_bool, parse_date, parse_dob_mmdd, parse_ssn_last4, timestamp_date, Cadence, Email,
    OrgKind, PidSl, Role, Services, UserStatus,
};
use crate::progress;
use crate::snapshot::Personal;
use crate::store::{AccessRow, KnownAccounts, OrgRow, PidSlRow, Store, UserRow};
use anyhow::Context;
use chrono::NaiveDate;
use csvfile::{optional, required, ColumnSpec, CsvFile, Row};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// At most this many errors are listed; the rest are counted.
const MAX_ERRORS_LISTED: usize = 100;
/// Rows written per batch in the second pass.
const WRITE_BATCH: usize = 10_000;

const ORGANIZATIONS: &[ColumnSpec] = &[
    required("org_id"),
    required("name"),
    optional("kind"),
    optional("review_cadence"),
    required("management_emails"),
    optional("last_review_on"),
];
const PIDSLS: &[ColumnSpec] = &[
    required("pidsl"),
    required("org_id"),
    optional("name"),
    optional("provider_type"),
    optional("active"),
];
const USERS: &[ColumnSpec] = &[
    required("username"),
    required("first_name"),
    required("last_name"),
    optional("middle_initial"),
    optional("phone"),
    required("email"),
    required("org_id"),
    optional("job_role"),
    optional("status"),
    optional("created_on"),
    optional("last_login_at"),
    optional("terms_accepted_on"),
    optional("terminated_on"),
    optional("dob_mmdd"),
    optional("ssn_last4"),
];
const ACCESS: &[ColumnSpec] = &[
    required("username"),
    required("pidsl"),
    optional("role"),
    required("services"),
    optional("granted_on"),
    optional("expires_on"),
];
const ROSTER: &[ColumnSpec] = &[
    optional("username"),
    optional("email"),
    required("terminated_on"),
];

/// The input was invalid: every problem found, and nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("{}\nnothing was imported: {}; fix them and import again", .0.render(), crate::output::count(.0.total, "error"))]
pub struct InvalidSnapshot(pub Issues);

/// What an import wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub organizations: usize,
    pub pidsls: usize,
    pub users: usize,
    pub access_rows: usize,
    pub roster_rows: usize,
    pub roster_matched_users: usize,
    pub merged: bool,
    pub warnings: Vec<String>,
}

/// The row-by-row checks of one record: collects every problem of the row.
struct Check<'a, 'r> {
    row: &'a Row<'r>,
    issues: Vec<Issue>,
}

impl<'a, 'r> Check<'a, 'r> {
    fn new(row: &'a Row<'r>) -> Self {
        Check {
            row,
            issues: Vec::new(),
        }
    }

    /// A required cell, parsed.
    fn required<T>(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.row.get(column) {
            None => {
                self.issues
                    .push(self.row.issue(column, "required value is empty"));
                None
            }
            Some(cell) => self.parsed(column, parse(cell)),
        }
    }

    /// An optional cell, parsed; `Some(None)` when empty.
    fn optional<T>(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match self.row.get(column) {
            None => Some(None),
            Some(cell) => self.parsed(column, parse(cell)).map(Some),
        }
    }

    fn text(&self, column: &str) -> String {
        self.row.get(column).unwrap_or_default().to_string()
    }

    fn parsed<T>(&mut self, column: &str, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|message| self.issues.push(self.row.issue(column, message)))
            .ok()
    }

    fn fail(&mut self, column: &str, message: impl Into<String>) {
        self.issues.push(self.row.issue(column, message));
    }
}

fn text(cell: &str) -> Result<String, String> {
    Ok(cell.to_string())
}

/// The longest key (org_id, username, job_role), in characters: an org_id is part of file
/// names, and keys are repeated in every finding and log line.
const MAX_KEY_CHARS: usize = 64;

fn key(cell: &str) -> Result<String, String> {
    let chars = cell.chars().count();
    if chars > MAX_KEY_CHARS {
        return Err(format!(
            "{chars} characters, more than the {MAX_KEY_CHARS} a key may hold"
        ));
    }
    Ok(cell.to_string())
}

fn email_list(cell: &str) -> Result<Vec<String>, String> {
    let emails = cell
        .split(';')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| Email::parse(e).map(|e| e.as_str().to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if emails.is_empty() {
        return Err("at least one address is required".into());
    }
    Ok(emails)
}

fn parse_org(row: &Row) -> Result<OrgRow, Vec<Issue>> {
    let mut c = Check::new(row);
    let org = (|| {
        Some(OrgRow {
            org_id: c.required("org_id", key)?,
            name: c.required("name", text)?,
            kind: c
                .optional("kind", OrgKind::parse)?
                .unwrap_or(OrgKind::Provider),
            cadence: c
                .optional("review_cadence", Cadence::parse)?
                .unwrap_or(Cadence::Quarterly),
            management_emails: c.required("management_emails", email_list)?,
            last_review_on: c.optional("last_review_on", parse_date)?,
        })
    })();
    finish(c, org)
}

fn parse_pidsl(row: &Row) -> Result<PidSlRow, Vec<Issue>> {
    let mut c = Check::new(row);
    let pidsl = c.required("pidsl", PidSl::parse);
    let org_id = c.required("org_id", key);
    let provider_type = c.optional("provider_type", |cell| Ok(cell.to_ascii_lowercase()));
    let active = c.optional("active", parse_bool);
    let name = c.text("name");
    let parsed = (|| {
        Some(PidSlRow {
            pidsl: pidsl?,
            org_id: org_id?,
            name,
            provider_type: provider_type?.unwrap_or_default(),
            active: active?.unwrap_or(true),
        })
    })();
    finish(c, parsed)
}

/// A users.csv row before its id is assigned.
fn parse_user(row: &Row, zone: chrono_tz::Tz) -> Result<UserRow, Vec<Issue>> {
    let mut c = Check::new(row);
    let username = c.required("username", key);
    let first_name = c.required("first_name", text);
    let last_name = c.required("last_name", text);
    let email = c.required("email", Email::parse);
    let org_id = c.required("org_id", key);
    let job_role = c.optional("job_role", key);
    let status = c.optional("status", UserStatus::parse);
    let created_on = c.optional("created_on", parse_date);
    let last_login_at = c.optional("last_login_at", |cell| {
        timestamp_date(cell, zone).map(|_| cell.to_string())
    });
    let terms_accepted_on = c.optional("terms_accepted_on", parse_date);
    let terminated_on = c.optional("terminated_on", parse_date);
    let dob_mmdd = c.optional("dob_mmdd", parse_dob_mmdd);
    let ssn_last4 = c.optional("ssn_last4", parse_ssn_last4);
    let parsed = (|| {
        Some(UserRow {
            id: 0,
            username: username?,
            first_name: first_name?,
            last_name: last_name?,
            middle_initial: c.text("middle_initial"),
            phone: c.text("phone"),
            email: email?.as_str().to_string(),
            org_id: org_id?,
            job_role: job_role?.unwrap_or_default(),
            status: status?.unwrap_or(UserStatus::Active),
            created_on: created_on?,
            last_login_at: last_login_at?,
            terms_accepted_on: terms_accepted_on?,
            terminated_on: terminated_on?,
            dob_mmdd: dob_mmdd?.map(Personal::new),
            ssn_last4: ssn_last4?.map(Personal::new),
        })
    })();
    finish(c, parsed)
}

/// An access.csv row, its username not yet resolved to an id.
struct AccessDraft {
    username: String,
    row: AccessRow,
}

fn parse_access(row: &Row) -> Result<AccessDraft, Vec<Issue>> {
    let mut c = Check::new(row);
    let username = c.required("username", key);
    let pidsl = c.required("pidsl", PidSl::parse);
    let role = c.optional("role", Role::parse);
    let services = c.required("services", Services::parse_list);
    let granted_on = c.optional("granted_on", parse_date);
    let expires_on = c.optional("expires_on", parse_date);
    let parsed = (|| {
        Some(AccessDraft {
            username: username?,
            row: AccessRow {
                user_id: 0,
                pidsl: pidsl?,
                role: role?.unwrap_or(Role::Subordinate),
                services: services?,
                granted_on: granted_on?,
                expires_on: expires_on?,
            },
        })
    })();
    finish(c, parsed)
}

struct RosterEntry {
    line: u64,
    username: Option<String>,
    email: Option<String>,
    terminated_on: NaiveDate,
}

fn parse_roster(row: &Row) -> Result<RosterEntry, Vec<Issue>> {
    let mut c = Check::new(row);
    let username = row.get("username").map(str::to_lowercase);
    let email = row.get("email").map(str::to_lowercase);
    if username.is_none() && email.is_none() {
        c.fail("username", "a roster row needs a username or an email");
    }
    let terminated_on = c.required("terminated_on", parse_date);
    let parsed = terminated_on.map(|terminated_on| RosterEntry {
        line: row.line,
        username,
        email,
        terminated_on,
    });
    finish(c, parsed)
}

fn finish<T>(c: Check, parsed: Option<T>) -> Result<T, Vec<Issue>> {
    match parsed {
        Some(value) if c.issues.is_empty() => Ok(value),
        _ => Err(c.issues),
    }
}

/// What the first pass learns: everything needed to write, except the big files' rows.
struct Validated {
    orgs: Vec<OrgRow>,
    pidsls: Vec<PidSlRow>,
    /// Rows in users.csv.
    users: usize,
    /// Lower-cased username -> id, for every user of users.csv and (with --merge) the store.
    user_ids: HashMap<String, i64>,
    /// User id -> terminated_on from the roster.
    roster: HashMap<i64, NaiveDate>,
    roster_rows: usize,
    access_rows: usize,
}

/// What an import needs of the configuration.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    /// The zone of the files' times (`last_login_at` without an offset).
    pub time_zone: chrono_tz::Tz,
    /// The job roles a user's `job_role` may name.
    pub roles: std::collections::BTreeMap<String, crate::domain::Services>,
}

/// Imports the snapshot in `dir`; see the module documentation. The store is shared with the
/// blocking thread that writes.
pub async fn import_dir(
    store: &Arc<dyn Store>,
    settings: &ImportSettings,
    dir: &Path,
    merge: bool,
    clock: &crate::clock::SharedClock,
) -> anyhow::Result<ImportSummary> {
    if !dir.is_dir() {
        let mut issues = Issues::with_cap(MAX_ERRORS_LISTED);
        issues.push(Issue {
            file: dir.display().to_string(),
            line: 0,
            column: None,
            message: "not a directory".into(),
        });
        return Err(InvalidSnapshot(issues).into());
    }
    let known = if merge {
        store.known_accounts().await?
    } else {
        KnownAccounts::default()
    };
    let mut warnings = Vec::new();
    let started = std::time::Instant::now();
    let validated = validate(dir, settings, &known, &mut warnings)?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "snapshot validated"
    );
    let summary = ImportSummary {
        organizations: validated.orgs.len(),
        pidsls: validated.pidsls.len(),
        users: validated.users,
        access_rows: validated.access_rows,
        roster_rows: validated.roster_rows,
        roster_matched_users: validated.roster.len(),
        merged: merge,
        warnings,
    };
    let started = std::time::Instant::now();
    let (store_, settings_, dir_) = (Arc::clone(store), settings.clone(), dir.to_path_buf());
    let handle = tokio::runtime::Handle::current();
    let imported_at = clock.now();
    tokio::task::spawn_blocking(move || {
        write(
            store_.as_ref(),
            handle,
            &settings_,
            &dir_,
            (merge, imported_at),
            &validated,
        )
    })
    .await
    .context("the import writer stopped")??;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "snapshot written"
    );
    tracing::info!(
        organizations = summary.organizations,
        pidsls = summary.pidsls,
        users = summary.users,
        access_rows = summary.access_rows,
        merged = merge,
        "import committed"
    );
    Ok(summary)
}

fn validate(
    dir: &Path,
    settings: &ImportSettings,
    known: &KnownAccounts,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Validated> {
    let mut issues = Issues::with_cap(MAX_ERRORS_LISTED);
    let zone = settings.time_zone;
    let bar = progress::bar(None, "validating rows");

    let mut orgs = Vec::new();
    let mut org_ids: HashSet<String> = HashSet::new();
    if let Some(mut file) = CsvFile::open(
        dir,
        "organizations.csv",
        ORGANIZATIONS,
        &mut issues,
        warnings,
    ) {
        let mut row_issues = Vec::new();
        file.for_each_row(&mut issues, |row| match parse_org(row) {
            Ok(org) if !org_ids.insert(org.org_id.clone()) => {
                row_issues.push(row.issue("org_id", format!("duplicate org_id {:?}", org.org_id)))
            }
            Ok(org) => orgs.push(org),
            Err(e) => {
                // Remember the key anyway, so rows that refer to it raise no further errors.
                if let Some(org_id) = row.get("org_id") {
                    org_ids.insert(org_id.to_string());
                }
                row_issues.extend(e)
            }
        });
        row_issues.into_iter().for_each(|i| issues.push(i));
    }
    let org_exists = |org_id: &str| org_ids.contains(org_id) || known.org_ids.contains(org_id);

    let mut pidsls = Vec::new();
    let mut pidsl_keys: HashSet<String> = HashSet::new();
    if let Some(mut file) = CsvFile::open(dir, "pidsls.csv", PIDSLS, &mut issues, warnings) {
        let mut row_issues = Vec::new();
        file.for_each_row(&mut issues, |row| match parse_pidsl(row) {
            Ok(p) if !pidsl_keys.insert(p.pidsl.as_str().to_string()) => {
                row_issues.push(row.issue("pidsl", format!("duplicate PID/SL {}", p.pidsl)))
            }
            Ok(p) if !org_exists(&p.org_id) => row_issues.push(row.issue(
                "org_id",
                format!("unknown org_id {:?}: not in organizations.csv", p.org_id),
            )),
            Ok(p) => pidsls.push(p),
            Err(e) => {
                if let Some(pidsl) = row.get("pidsl").and_then(|cell| PidSl::parse(cell).ok()) {
                    pidsl_keys.insert(pidsl.as_str().to_string());
                }
                row_issues.extend(e)
            }
        });
        row_issues.into_iter().for_each(|i| issues.push(i));
    }
    let pidsl_exists = |pidsl: &PidSl| {
        pidsl_keys.contains(pidsl.as_str()) || known.pidsls.contains(pidsl.as_str())
    };

    // The roster is read first (it is small) so that users.csv's pass only remembers the
    // emails the roster names.
    let mut roster = Vec::new();
    if dir.join("roster.csv").exists() {
        if let Some(mut file) = CsvFile::open(dir, "roster.csv", ROSTER, &mut issues, warnings) {
            if !file.has_column("username") && !file.has_column("email") {
                issues.push(Issue {
                    file: file.display.clone(),
                    line: 1,
                    column: Some("username".into()),
                    message: "the roster needs a username or an email column".into(),
                });
            }
            let mut row_issues = Vec::new();
            file.for_each_row(&mut issues, |row| match parse_roster(row) {
                Ok(entry) => roster.push(entry),
                Err(e) => row_issues.extend(e),
            });
            row_issues.into_iter().for_each(|i| issues.push(i));
        }
    }
    let roster_emails: HashSet<&str> = roster.iter().filter_map(|r| r.email.as_deref()).collect();

    let mut user_ids: HashMap<String, i64> = HashMap::new();
    let mut emails_named_by_roster: HashMap<String, Vec<i64>> = HashMap::new();
    let mut next_id = known.max_user_id;
    let mut unknown_roles: HashMap<String, usize> = HashMap::new();
    if let Some(mut file) = CsvFile::open(dir, "users.csv", USERS, &mut issues, warnings) {
        let mut row_issues = Vec::new();
        let display = file.display.clone();
        file.for_each_row(&mut issues, |row| {
            bar.inc(1);
            match parse_user(row, zone) {
                Ok(user) => {
                    let key = user.username.to_lowercase();
                    if user_ids.contains_key(&key) {
                        row_issues.push(row.issue("username", format!("duplicate username {:?}", user.username)));
                        return;
                    }
                    if !org_exists(&user.org_id) {
                        row_issues.push(row.issue("org_id", format!("unknown org_id {:?}: not in organizations.csv", user.org_id)));
                    }
                    if !user.job_role.is_empty() && !settings.roles.contains_key(&user.job_role) {
                        let count = unknown_roles.entry(user.job_role.clone()).or_default();
                        if *count == 0 {
                            warnings.push(format!(
                                "{display}:{}: job_role: {:?} is not a [roles] key of the configuration; the user counts as having no profile",
                                row.line, user.job_role
                            ));
                        }
                        *count += 1;
                    }
                    let id = known.users.get(&key).copied().unwrap_or_else(|| {
                        next_id += 1;
                        next_id
                    });
                    let email = user.email.to_lowercase();
                    if roster_emails.contains(email.as_str()) {
                        emails_named_by_roster.entry(email).or_default().push(id);
                    }
                    user_ids.insert(key, id);
                }
                Err(e) => {
                    if let Some(username) = row.get("username") {
                        user_ids.entry(username.to_lowercase()).or_insert(0);
                    }
                    row_issues.extend(e)
                }
            }
        });
        row_issues.into_iter().for_each(|i| issues.push(i));
    }
    let user_id = |username: &str| {
        let key = username.to_lowercase();
        user_ids
            .get(&key)
            .or_else(|| known.users.get(&key))
            .copied()
    };

    let mut access_rows = 0;
    if dir.join("access.csv").exists() {
        if let Some(mut file) = CsvFile::open(dir, "access.csv", ACCESS, &mut issues, warnings) {
            let mut pairs: HashSet<(i64, PidSl)> = HashSet::new();
            let mut row_issues = Vec::new();
            file.for_each_row(&mut issues, |row| {
                bar.inc(1);
                match parse_access(row) {
                    Ok(draft) => {
                        let id = user_id(&draft.username);
                        if id.is_none() {
                            row_issues.push(row.issue(
                                "username",
                                format!("unknown username {:?}: not in users.csv", draft.username),
                            ));
                        }
                        if !pidsl_exists(&draft.row.pidsl) {
                            row_issues.push(row.issue(
                                "pidsl",
                                format!("unknown PID/SL {}: not in pidsls.csv", draft.row.pidsl),
                            ));
                        }
                        if let Some(id) = id {
                            if !pairs.insert((id, draft.row.pidsl.clone())) {
                                row_issues.push(row.issue(
                                    "pidsl",
                                    format!(
                                        "duplicate access row for {} on {}",
                                        draft.username, draft.row.pidsl
                                    ),
                                ));
                            }
                        }
                        access_rows += 1;
                    }
                    Err(e) => row_issues.extend(e),
                }
            });
            row_issues.into_iter().for_each(|i| issues.push(i));
        }
    }
    bar.finish_and_clear();
    for (role, count) in unknown_roles.into_iter().filter(|(_, n)| *n > 1) {
        warnings.push(format!(
            "users.csv: job_role {role:?} is unknown on {count} rows in all"
        ));
    }
    if !issues.is_empty() {
        return Err(InvalidSnapshot(issues).into());
    }

    // Roster: by username when that cell names a user, otherwise by email.
    let mut terminated = HashMap::new();
    for entry in &roster {
        let by_username = entry.username.as_deref().and_then(user_id);
        let matched: Vec<i64> = match (by_username, entry.email.as_deref()) {
            (Some(id), _) => vec![id],
            (None, Some(email)) => emails_named_by_roster
                .get(email)
                .cloned()
                .or_else(|| known.emails.get(email).cloned())
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        };
        if matched.is_empty() {
            let who = entry
                .username
                .as_deref()
                .or(entry.email.as_deref())
                .unwrap_or_default();
            warnings.push(format!(
                "{}:{}: roster row for {who:?} matches no user; ignored",
                dir.join("roster.csv").display(),
                entry.line
            ));
        }
        for id in matched {
            terminated.insert(id, entry.terminated_on);
        }
    }
    let users = user_ids.len();
    // Access rows and the roster may name users already in the store (--merge).
    let mut all_user_ids = known.users.clone();
    all_user_ids.extend(user_ids);
    Ok(Validated {
        orgs,
        pidsls,
        users,
        user_ids: all_user_ids,
        roster: terminated,
        roster_rows: roster.len(),
        access_rows,
    })
}

/// Rows for the writer, in the order they are written.
enum Batch {
    Users(Vec<UserRow>),
    Access(Vec<AccessRow>),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Batch::Users(rows) => rows.len(),
            Batch::Access(rows) => rows.len(),
        }
    }
}

/// Reads users.csv and access.csv again (both validated) and sends their rows in batches;
/// returns the issues (a file that changed since validation) and the ids of the users read.
fn read_batches(
    dir: &Path,
    zone: chrono_tz::Tz,
    v: &Validated,
    sender: &std::sync::mpsc::SyncSender<Batch>,
) -> anyhow::Result<(Issues, HashSet<i64>)> {
    let stopped = || anyhow::anyhow!("the import writer stopped");
    let mut issues = Issues::with_cap(MAX_ERRORS_LISTED);
    let mut written_ids = HashSet::new();
    let mut file = CsvFile::open(dir, "users.csv", USERS, &mut issues, &mut Vec::new())
        .context("users.csv vanished")?;
    let mut users = Vec::with_capacity(WRITE_BATCH);
    while let Some(row) = file.next_row(&mut issues) {
        if let Ok(mut user) = parse_user(&row, zone) {
            user.id = v.user_ids[&user.username.to_lowercase()];
            if let Some(date) = v.roster.get(&user.id) {
                user.terminated_on = Some(*date);
            }
            written_ids.insert(user.id);
            users.push(user);
        }
        if users.len() == WRITE_BATCH {
            sender
                .send(Batch::Users(std::mem::take(&mut users)))
                .map_err(|_| stopped())?;
        }
    }
    sender.send(Batch::Users(users)).map_err(|_| stopped())?;
    if dir.join("access.csv").exists() {
        let mut file = CsvFile::open(dir, "access.csv", ACCESS, &mut issues, &mut Vec::new())
            .context("access.csv vanished")?;
        let mut access = Vec::with_capacity(WRITE_BATCH);
        while let Some(row) = file.next_row(&mut issues) {
            if let Ok(mut draft) = parse_access(&row) {
                match v.user_ids.get(&draft.username.to_lowercase()) {
                    Some(id) => draft.row.user_id = *id,
                    None => continue,
                }
                access.push(draft.row);
            }
            if access.len() == WRITE_BATCH {
                sender
                    .send(Batch::Access(std::mem::take(&mut access)))
                    .map_err(|_| stopped())?;
            }
        }
        sender.send(Batch::Access(access)).map_err(|_| stopped())?;
    }
    Ok((issues, written_ids))
}

/// The second pass: one transaction for the whole snapshot, on a blocking thread (the CSV
/// reader is synchronous, and so is SQLite's writer).
fn write(
    store: &dyn Store,
    handle: tokio::runtime::Handle,
    settings: &ImportSettings,
    dir: &Path,
    (merge, imported_at): (bool, chrono::DateTime<chrono::Utc>),
    v: &Validated,
) -> anyhow::Result<()> {
    let zone = settings.time_zone;
    let mut writer = store.import_writer(handle, !merge, imported_at)?;
    writer.write_orgs(&v.orgs)?;
    writer.write_pidsls(&v.pidsls)?;

    let bar = progress::bar(
        Some((v.users + v.access_rows) as u64),
        "writing users and access",
    );
    // One thread reads and parses the CSV files again while this one writes: the two take
    // about the same time at statewide size.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Batch>(4);
    let (issues, written_ids) =
        std::thread::scope(|scope| -> anyhow::Result<(Issues, HashSet<i64>)> {
            let reader = scope.spawn(move || read_batches(dir, zone, v, &sender));
            let written = receiver.iter().try_for_each(|batch| {
                match &batch {
                    Batch::Users(rows) => writer.write_users(rows)?,
                    Batch::Access(rows) => writer.write_access(rows)?,
                }
                bar.inc(batch.len() as u64);
                anyhow::Ok(())
            });
            // On a write error the reader's next send fails and it stops.
            drop(receiver);
            let read = reader.join().expect("the CSV reader panicked");
            written?;
            read
        })?;
    bar.finish_and_clear();
    if !issues.is_empty() {
        // Dropping the writer rolls the transaction back.
        anyhow::bail!(
            "the input files changed during the import; nothing was written:\n{}",
            issues.render()
        );
    }
    // Roster matches of users that are only in the store (a --merge import).
    let store_only: Vec<(i64, NaiveDate)> = v
        .roster
        .iter()
        .filter(|(id, _)| !written_ids.contains(*id))
        .map(|(id, d)| (*id, *d))
        .collect();
    writer.set_terminated(&store_only)?;
    writer.commit()
}
