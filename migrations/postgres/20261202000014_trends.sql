-- Trends: each organization's open findings (new and open, not accepted) by severity at each
-- completed review, as JSON ({"critical": 1, "high": 0, ...}), written with the run's
-- findings, so that the trend of the last reviews never reads the findings table.
ALTER TABLE run_orgs ADD COLUMN open_counts TEXT;
