//! The account tables' upserts, the same SQL on both backends: the head, then each backend's
//! placeholders for `columns` values, then the tail, which updates a row by its key (what a
//! `--merge` import needs).

pub(crate) struct Upsert {
    /// `INSERT INTO table (columns)`.
    pub head: &'static str,
    pub columns: usize,
    /// `ON CONFLICT (key) DO UPDATE SET ...`.
    pub tail: &'static str,
}

pub(crate) const ORGS: Upsert = Upsert {
    head: "INSERT INTO organizations \
           (org_id, name, kind, review_cadence, management_emails, last_review_on)",
    columns: 6,
    tail: "ON CONFLICT (org_id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
           review_cadence = excluded.review_cadence, management_emails = excluded.management_emails, \
           last_review_on = excluded.last_review_on",
};

pub(crate) const PIDSLS: Upsert = Upsert {
    head: "INSERT INTO pidsls (pidsl, org_id, name, provider_type, active)",
    columns: 5,
    tail: "ON CONFLICT (pidsl) DO UPDATE SET org_id = excluded.org_id, name = excluded.name, \
           provider_type = excluded.provider_type, active = excluded.active",
};

pub(crate) const USERS: Upsert = Upsert {
    head: "INSERT INTO users (id, username, username_key, first_name, last_name, \
           middle_initial, phone, email, org_id, job_role, status, created_on, last_login_at, \
           terms_accepted_on, terminated_on, dob_mmdd, ssn_last4)",
    columns: 17,
    tail: "ON CONFLICT (id) DO UPDATE SET username = excluded.username, \
           first_name = excluded.first_name, last_name = excluded.last_name, \
           middle_initial = excluded.middle_initial, phone = excluded.phone, email = excluded.email, \
           org_id = excluded.org_id, job_role = excluded.job_role, status = excluded.status, \
           created_on = excluded.created_on, last_login_at = excluded.last_login_at, \
           terms_accepted_on = excluded.terms_accepted_on, terminated_on = excluded.terminated_on, \
           dob_mmdd = excluded.dob_mmdd, ssn_last4 = excluded.ssn_last4",
};

pub(crate) const ACCESS: Upsert = Upsert {
    head: "INSERT INTO access (user_id, pidsl, role, services, granted_on, expires_on)",
    columns: 6,
    tail: "ON CONFLICT (user_id, pidsl) DO UPDATE SET role = excluded.role, \
           services = excluded.services, granted_on = excluded.granted_on, \
           expires_on = excluded.expires_on",
};
