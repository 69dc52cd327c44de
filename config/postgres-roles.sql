-- posc-review's PostgreSQL roles (README.md, "Security and data").
--
-- Two group roles; each person logs in with a role of their own that is a member of one, so the
-- audit log records who ran each change (`accounts history`, RAN AS). Create them once:
--   CREATE ROLE posc_reviewer NOLOGIN;
--   CREATE ROLE posc_operator NOLOGIN IN ROLE posc_reviewer;
--   CREATE ROLE alice LOGIN PASSWORD '...' IN ROLE posc_operator;
--   CREATE ROLE bob LOGIN PASSWORD '...' IN ROLE posc_reviewer;
-- then run this file as the role that owns the tables (the one that ran `posc-review init` and
-- imports the snapshots), and again after every upgrade that adds a table:
--   psql "$OWNER_URL" -f config/postgres-roles.sql

-- posc_reviewer reads everything (accounts show masks personal data; psql does not) and writes
-- the review history: review, send, decisions import and schedule. It cannot change accounts or
-- the audit log, and cannot import.
GRANT USAGE ON SCHEMA public TO posc_reviewer;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO posc_reviewer;
GRANT INSERT, UPDATE ON runs, findings, run_orgs, outbox, outbox_messages, decisions,
    schedule_claims TO posc_reviewer;

-- posc_operator is a reviewer that may also perform the `accounts` operations: change users and
-- their access, and append to the audit log. UPDATE on pidsls is for the row locks
-- (SELECT ... FOR UPDATE) that serialize two operations on one PID/SL; no operation changes a
-- PID/SL. The audit log's ran_as column is left out: the database fills it in with the role.
GRANT INSERT, UPDATE ON users TO posc_operator;
GRANT INSERT, UPDATE, DELETE ON access TO posc_operator;
GRANT UPDATE (name) ON pidsls TO posc_operator;
GRANT INSERT (at, actor, action, username, username_key, pidsl, services_before, services_after,
    detail) ON audit_log TO posc_operator;
