-- Reviewer decisions on a run's findings, imported from the reviewed workbook or a CSV.
-- One decision per finding of a run (a later import replaces it); later runs look up the
-- latest decision per fingerprint.
CREATE TABLE decisions (
    run_id TEXT NOT NULL REFERENCES runs (id),
    fingerprint TEXT NOT NULL,
    decision TEXT NOT NULL,
    justification TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    accepted_until TEXT,
    PRIMARY KEY (run_id, fingerprint)
);

CREATE INDEX decisions_by_fingerprint ON decisions (fingerprint, decided_at);
