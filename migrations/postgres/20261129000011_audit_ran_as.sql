-- Who actually ran each `accounts` change, beside the --by ACTOR it claims to be: on PostgreSQL
-- the database role, filled in by the database itself from the session (`current_user`, and
-- the login role too when SET ROLE changed it). An operator role is granted INSERT on the other
-- columns only (config/postgres-roles.sql), so it cannot write this one. Events recorded before
-- this column existed keep '' (unknown).
ALTER TABLE audit_log ADD COLUMN ran_as TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ALTER COLUMN ran_as SET DEFAULT (
    CASE WHEN session_user = current_user THEN current_user::text
         ELSE session_user::text || ' as ' || current_user::text END
);
