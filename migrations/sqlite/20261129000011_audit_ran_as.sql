-- Who actually ran each `accounts` change, beside the --by ACTOR it claims to be: on SQLite the
-- OS user and host of the process (user@host), written by posc-review. Events recorded before
-- this column existed keep '' (unknown).
ALTER TABLE audit_log ADD COLUMN ran_as TEXT NOT NULL DEFAULT '';
