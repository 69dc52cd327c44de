-- Trends: each organization's open findings (new and open, not accepted) by severity at each
-- completed review, as JSON ({"critical": 1, "high": 0, ...}), written with the run's
-- findings, so that the trend of the last reviews never reads the findings table.
ALTER TABLE run_orgs ADD COLUMN open_counts TEXT;

-- The history already stored gets its counts from its findings: zeros first (an organization
-- reviewed without findings), then one aggregate over the findings joined to run_orgs by its
-- key, never a query per row. The text is the same as SQLite's json_object writes.
UPDATE run_orgs SET open_counts = '{"critical":0,"high":0,"medium":0,"low":0}';

UPDATE run_orgs
SET open_counts = '{"critical":' || o.critical || ',"high":' || o.high
                  || ',"medium":' || o.medium || ',"low":' || o.low || '}'
FROM (SELECT run_id, org_id,
             COUNT(*) FILTER (WHERE severity = 'critical') AS critical,
             COUNT(*) FILTER (WHERE severity = 'high') AS high,
             COUNT(*) FILTER (WHERE severity = 'medium') AS medium,
             COUNT(*) FILTER (WHERE severity = 'low') AS low
      FROM findings
      WHERE status IN ('new', 'open')
      GROUP BY run_id, org_id) AS o
WHERE o.run_id = run_orgs.run_id AND o.org_id = run_orgs.org_id;

-- An organization's trend reads its last reviews (one review of a few organizations in a
-- statewide store looks up only theirs).
CREATE INDEX run_orgs_by_org ON run_orgs (org_id, run_id);
