-- Review history: runs and their findings. An import never touches these tables.
CREATE TABLE runs (
    id TEXT PRIMARY KEY NOT NULL,
    as_of TEXT NOT NULL,
    cadence TEXT,
    org_ids TEXT NOT NULL,
    scope_key TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    error TEXT,
    out_dir TEXT,
    counts TEXT NOT NULL
);

CREATE INDEX runs_by_scope ON runs (scope_key, status, id);

CREATE TABLE findings (
    run_id TEXT NOT NULL REFERENCES runs (id),
    fingerprint TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    org_id TEXT NOT NULL,
    pidsl TEXT NOT NULL,
    username TEXT NOT NULL,
    user_name TEXT NOT NULL,
    detail TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (run_id, fingerprint)
);

-- Which organizations each completed run reviewed, for review-overdue.
CREATE TABLE run_orgs (
    run_id TEXT NOT NULL REFERENCES runs (id),
    org_id TEXT NOT NULL,
    PRIMARY KEY (run_id, org_id)
);
