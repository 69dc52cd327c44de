-- The mail outbox: each message once per idempotency key (run, kind, recipient unit).
-- Timestamps are UTC RFC 3339 text of fixed width, so they compare as text.
CREATE TABLE outbox (
    idempotency_key TEXT PRIMARY KEY NOT NULL,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    to_addresses TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    next_attempt_at TEXT NOT NULL,
    claimed_at TEXT,
    sent_at TEXT,
    created_at TEXT NOT NULL
);

CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
