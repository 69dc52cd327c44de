-- A review in progress names its process (owner: host:pid:tag, as the scheduler's claims do)
-- and renews heartbeat_at (Unix seconds) while it runs; out_root is the absolute folder that
-- holds its folders (OUT). A command that writes records a running run whose process is gone
-- as failed and removes its partial folders. A run keeps its owner after it is stored until
-- its folder has its final name, so that a run stored just before a crash gets its folder
-- moved into place by the next command. Runs from before this migration have no owner.
ALTER TABLE runs ADD COLUMN owner TEXT;
ALTER TABLE runs ADD COLUMN heartbeat_at BIGINT;
ALTER TABLE runs ADD COLUMN out_root TEXT;
