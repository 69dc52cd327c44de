-- Message texts apart from their delivery state. Claiming, sending and failing a message
-- update its outbox row; with the text in that row, SQLite rewrote the whole message (and its
-- overflow pages) each time, and read through it to reach the columns after it: a statewide
-- run queues about 2 GB of mail.
CREATE TABLE outbox_messages (
    idempotency_key TEXT PRIMARY KEY NOT NULL REFERENCES outbox (idempotency_key),
    message TEXT NOT NULL
);

INSERT INTO outbox_messages (idempotency_key, message)
SELECT idempotency_key, message FROM outbox;

ALTER TABLE outbox DROP COLUMN message;
