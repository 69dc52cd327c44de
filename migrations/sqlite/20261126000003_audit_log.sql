-- The audit log of the account store's job-aid operations (`posc-review accounts ...`).
-- One row per accepted operation, written in the same transaction as the change it records.
-- Usernames are kept as text (no foreign key), so an event outlives the user it names; an
-- import never touches this table. Services are `;`-separated code lists; pidsl is '' for
-- user-level operations (deactivate, reactivate).
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL,
    pidsl TEXT NOT NULL,
    services_before TEXT NOT NULL,
    services_after TEXT NOT NULL,
    detail TEXT NOT NULL
);

CREATE INDEX audit_log_by_user ON audit_log (username_key, id);
