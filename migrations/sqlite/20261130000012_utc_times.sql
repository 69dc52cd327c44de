-- Every time this program writes is now fixed-width RFC 3339 UTC text with six decimals
-- (YYYY-MM-DDTHH:MM:SS.ffffffZ): one format, read back as a UTC instant, that sorts as text.
-- Before, runs (started_at, finished_at), the claims (claimed_at, finished_at), the audit log
-- (at) and decisions (decided_at) kept local RFC 3339 with the zone's offset, due_at whole
-- seconds in UTC with a Z, and both heartbeat_at columns Unix seconds in INTEGER columns. The
-- outbox already wrote this format. users.last_login_at stays as imported (the POSC export's
-- value, not a time this program keeps).
--
-- The store applies this with foreign_keys off (SQLite's procedure for recreating a table):
-- runs is recreated under the findings, run_orgs and decisions that refer to it.

-- Each stored text once, with its UTC form. strftime applies the offset to the whole seconds;
-- the fraction, which an offset does not change, is carried over as text, cut or padded to six
-- digits. A text strftime cannot read fails the migration (utc is NOT NULL) rather than being
-- lost.
CREATE TEMP TABLE utc_of (
    stored TEXT PRIMARY KEY NOT NULL,
    utc TEXT NOT NULL
);

INSERT INTO utc_of (stored, utc)
SELECT t,
       strftime('%Y-%m-%dT%H:%M:%S',
                substr(t, 1, 19) || CASE WHEN substr(t, -1) = 'Z' THEN 'Z' ELSE substr(t, -6) END)
       || '.'
       || substr(CASE WHEN substr(t, 20, 1) = '.'
                      THEN substr(t, 21, length(t) - 20 - CASE WHEN substr(t, -1) = 'Z' THEN 1 ELSE 6 END)
                      ELSE '' END || '000000', 1, 6)
       || 'Z'
FROM (SELECT started_at AS t FROM runs
      UNION SELECT finished_at FROM runs
      UNION SELECT due_at FROM schedule_claims
      UNION SELECT claimed_at FROM schedule_claims
      UNION SELECT finished_at FROM schedule_claims
      UNION SELECT at FROM audit_log
      UNION SELECT decided_at FROM decisions)
WHERE t IS NOT NULL;

-- runs: heartbeat_at becomes TEXT, so the table is recreated with its declared types.
CREATE TABLE runs_utc (
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
    counts TEXT NOT NULL,
    owner TEXT,
    heartbeat_at TEXT,
    out_root TEXT
);

INSERT INTO runs_utc (id, as_of, cadence, org_ids, scope_key, started_at, finished_at, status,
                      error, out_dir, counts, owner, heartbeat_at, out_root)
SELECT r.id, r.as_of, r.cadence, r.org_ids, r.scope_key,
       (SELECT u.utc FROM utc_of u WHERE u.stored = r.started_at),
       (SELECT u.utc FROM utc_of u WHERE u.stored = r.finished_at),
       r.status, r.error, r.out_dir, r.counts, r.owner,
       strftime('%Y-%m-%dT%H:%M:%S', r.heartbeat_at, 'unixepoch') || '.000000Z',
       r.out_root
FROM runs r;

DROP TABLE runs;
ALTER TABLE runs_utc RENAME TO runs;
CREATE INDEX runs_by_scope ON runs (scope_key, status, id);

-- schedule_claims: heartbeat_at becomes TEXT likewise.
CREATE TABLE schedule_claims_utc (
    period_key TEXT PRIMARY KEY NOT NULL,
    cadence TEXT NOT NULL,
    due_at TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    run_id TEXT,
    attempts INTEGER NOT NULL,
    claimed_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    finished_at TEXT,
    error TEXT
);

INSERT INTO schedule_claims_utc (period_key, cadence, due_at, state, owner, run_id, attempts,
                                 claimed_at, heartbeat_at, finished_at, error)
SELECT c.period_key, c.cadence,
       (SELECT u.utc FROM utc_of u WHERE u.stored = c.due_at),
       c.state, c.owner, c.run_id, c.attempts,
       (SELECT u.utc FROM utc_of u WHERE u.stored = c.claimed_at),
       strftime('%Y-%m-%dT%H:%M:%S', c.heartbeat_at, 'unixepoch') || '.000000Z',
       (SELECT u.utc FROM utc_of u WHERE u.stored = c.finished_at),
       c.error
FROM schedule_claims c;

DROP TABLE schedule_claims;
ALTER TABLE schedule_claims_utc RENAME TO schedule_claims;
CREATE INDEX schedule_claims_by_cadence ON schedule_claims (cadence, due_at);

UPDATE audit_log SET at = (SELECT u.utc FROM utc_of u WHERE u.stored = audit_log.at);

UPDATE decisions SET decided_at = (SELECT u.utc FROM utc_of u WHERE u.stored = decisions.decided_at);

DROP TABLE utc_of;
