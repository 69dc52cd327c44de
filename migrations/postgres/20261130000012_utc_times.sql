-- Every time this program writes becomes a timestamptz: one instant, compared and ordered by
-- the database, whatever zone or format wrote it. Before, runs and the audit log kept local
-- RFC 3339 text with its offset, the outbox and the claims UTC text, and the heartbeats Unix
-- seconds. Each text value carries its offset, so the cast does not depend on the session's
-- TimeZone. The indexes on these columns are rebuilt by ALTER COLUMN TYPE; none has a default.
-- Dates (as_of, first_seen, accepted_until, the account tables' dates) and users.last_login_at
-- (the POSC export's own value) stay as they are.
ALTER TABLE runs
    ALTER COLUMN started_at TYPE timestamptz USING started_at::timestamptz,
    ALTER COLUMN finished_at TYPE timestamptz USING NULLIF(finished_at, '')::timestamptz,
    ALTER COLUMN heartbeat_at TYPE timestamptz USING to_timestamp(heartbeat_at);

ALTER TABLE schedule_claims
    ALTER COLUMN due_at TYPE timestamptz USING due_at::timestamptz,
    ALTER COLUMN claimed_at TYPE timestamptz USING claimed_at::timestamptz,
    ALTER COLUMN heartbeat_at TYPE timestamptz USING to_timestamp(heartbeat_at),
    ALTER COLUMN finished_at TYPE timestamptz USING NULLIF(finished_at, '')::timestamptz;

ALTER TABLE outbox
    ALTER COLUMN next_attempt_at TYPE timestamptz USING next_attempt_at::timestamptz,
    ALTER COLUMN claimed_at TYPE timestamptz USING NULLIF(claimed_at, '')::timestamptz,
    ALTER COLUMN sent_at TYPE timestamptz USING NULLIF(sent_at, '')::timestamptz,
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;

ALTER TABLE audit_log
    ALTER COLUMN at TYPE timestamptz USING at::timestamptz;

ALTER TABLE decisions
    ALTER COLUMN decided_at TYPE timestamptz USING decided_at::timestamptz;
