-- The review loop (issue 19). A finding keeps a hash of its facts (its detail and the
-- services its user holds), and a decision the facts it was made on, so that Not a problem
-- holds while they stay the same. A decision made before facts were kept has '' and never
-- suppresses.
ALTER TABLE findings ADD COLUMN facts TEXT NOT NULL DEFAULT '';
ALTER TABLE decisions ADD COLUMN facts TEXT NOT NULL DEFAULT '';

-- The decisions are Fix in POSC, Accept risk and Not a problem; the earlier labels mean:
UPDATE decisions SET decision = 'Fix in POSC'
WHERE decision IN ('Remove access', 'Change services');
UPDATE decisions SET decision = 'Not a problem' WHERE decision = 'Keep';

-- An organization's previous review is read by organization: its findings of one run.
CREATE INDEX findings_by_run_org ON findings (run_id, org_id);
