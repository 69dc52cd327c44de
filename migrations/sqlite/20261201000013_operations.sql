-- Unattended operation. The store gets an identity, made once at random when the store is
-- created (or first migrated): Message-IDs carry it, so two stores never send the same one.
-- It also records when accounts were last imported, for `posc-review status`.
CREATE TABLE store_info (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    store_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_import_at TEXT
);

INSERT INTO store_info (singleton, store_id, created_at, last_import_at)
VALUES (1, lower(hex(randomblob(8))), strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'), NULL);

-- Which problem of a message the operator was told of: NULL (none), 'pending' (waiting past
-- mail.alert_pending_hours) or 'failed' (failed for good), so each is alerted once.
ALTER TABLE outbox ADD COLUMN alerted TEXT;
