-- Each finding's own remediation: the rule's POSC steps with the finding's PID/SL, user and
-- services filled in, as findings.csv, the workbook and the action list show it. Findings
-- stored before this column have '' and are shown with the rule's generic steps.
ALTER TABLE findings ADD COLUMN remediation TEXT NOT NULL DEFAULT '';
