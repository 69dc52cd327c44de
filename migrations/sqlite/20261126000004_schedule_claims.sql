-- The scheduler's period claims: one row per cadence period (e.g. quarterly:2026-Q4), taken
-- before the period's review runs, so that a restarted or second scheduler on the same
-- database reviews each period exactly once. state: claimed, running, completed or failed.
-- heartbeat_at (Unix seconds) is renewed while the run is in progress; a claimed or running
-- row whose heartbeat has gone stale was left by a process that died, and may be taken over.
CREATE TABLE schedule_claims (
    period_key TEXT PRIMARY KEY NOT NULL,
    cadence TEXT NOT NULL,
    due_at TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    run_id TEXT,
    attempts INTEGER NOT NULL,
    claimed_at TEXT NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    finished_at TEXT,
    error TEXT
);

CREATE INDEX schedule_claims_by_cadence ON schedule_claims (cadence, due_at);
