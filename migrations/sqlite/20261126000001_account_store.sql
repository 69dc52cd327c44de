-- The account store: organizations, PID/SLs, users, their access and services.
-- Dates are ISO text (YYYY-MM-DD); timestamps keep their RFC 3339 text; services are a bit set.
CREATE TABLE organizations (
    org_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    review_cadence TEXT NOT NULL,
    management_emails TEXT NOT NULL,
    last_review_on TEXT
);

CREATE TABLE pidsls (
    pidsl TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (org_id),
    name TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    active INTEGER NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    middle_initial TEXT NOT NULL,
    phone TEXT NOT NULL,
    email TEXT NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (org_id),
    job_role TEXT NOT NULL,
    status TEXT NOT NULL,
    created_on TEXT,
    last_login_at TEXT,
    terms_accepted_on TEXT,
    terminated_on TEXT,
    dob_mmdd TEXT,
    ssn_last4 TEXT
);

CREATE TABLE access (
    user_id INTEGER NOT NULL REFERENCES users (id),
    pidsl TEXT NOT NULL REFERENCES pidsls (pidsl),
    role TEXT NOT NULL,
    services INTEGER NOT NULL,
    granted_on TEXT,
    expires_on TEXT,
    PRIMARY KEY (user_id, pidsl)
);

CREATE INDEX access_by_pidsl ON access (pidsl);
