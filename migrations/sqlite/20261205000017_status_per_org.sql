-- Status per organization (issue 19): a finding is `new` when its organization's previous
-- completed review (by run_orgs, whatever that run's scope) did not have it, and `open` with
-- the first_seen of that review's row when it did; `resolved` counts each organization's
-- previous-review findings that are gone. Before, a run was compared with the last run of its
-- own scope, so a finding of the whole-store run showed as `new` again in the first `--org`
-- or `--cadence` run. This recomputes the stored history that way, in set-based statements.
--
-- The runs each organization has findings in or was reviewed by, in run order: `reviewed` (1 for
-- a review, 0 for a run that stored its findings without reviewing it, its report not made)
-- and `earlier`, the number of its reviews before the run. The previous review of a finding
-- of (run, org) is the org's review numbered `earlier`; the run's own number, if a review,
-- is `earlier + 1`.
CREATE TEMP TABLE status_org_runs AS
SELECT run_id, org_id, as_of, reviewed,
       SUM(reviewed) OVER (PARTITION BY org_id ORDER BY run_order ROWS UNBOUNDED PRECEDING)
           - reviewed AS earlier
FROM (SELECT p.run_id AS run_id, p.org_id AS org_id, r.as_of AS as_of,
             (CAST(substr(r.id, 1, 8) AS BIGINT) * 1000000000
              + CAST(substr(r.id, 10) AS BIGINT)) AS run_order,
             MAX(p.reviewed) AS reviewed
      FROM (SELECT run_id, org_id, 1 AS reviewed FROM run_orgs
            UNION ALL
            SELECT DISTINCT run_id, org_id, 0 AS reviewed FROM findings) p
      JOIN runs r ON r.id = p.run_id AND r.status = 'completed'
      GROUP BY p.run_id, p.org_id, r.as_of, r.id) t;
CREATE INDEX status_org_runs_by_run ON status_org_runs (run_id, org_id);
CREATE INDEX status_org_runs_by_org ON status_org_runs (org_id, earlier);

-- Each reviewed finding with the as_of its streak began: a finding in consecutive reviews of
-- its organization (numbers k, k+1, ...) was first seen at the first of them.
CREATE TEMP TABLE status_seen AS
SELECT org_id, fingerprint, k,
       FIRST_VALUE(as_of) OVER (PARTITION BY org_id, fingerprint, k - n ORDER BY k) AS since
FROM (SELECT f.org_id AS org_id, f.fingerprint AS fingerprint, o.earlier + 1 AS k,
             o.as_of AS as_of,
             ROW_NUMBER() OVER (PARTITION BY f.org_id, f.fingerprint ORDER BY o.earlier) AS n
      FROM findings f
      JOIN status_org_runs o ON o.run_id = f.run_id AND o.org_id = f.org_id
      WHERE o.reviewed = 1) s;
CREATE INDEX status_seen_key ON status_seen (org_id, fingerprint, k);

-- Every stored finding against its organization's previous review: there (since: when its
-- streak began) or not (NULL).
CREATE TEMP TABLE status_recomputed AS
SELECT f.run_id AS run_id, f.fingerprint AS fingerprint, s.since AS since, o.as_of AS as_of
FROM findings f
JOIN status_org_runs o ON o.run_id = f.run_id AND o.org_id = f.org_id
LEFT JOIN status_seen s
    ON s.org_id = f.org_id AND s.fingerprint = f.fingerprint AND s.k = o.earlier;
CREATE INDEX status_recomputed_key ON status_recomputed (run_id, fingerprint);

-- new and open as classify makes them now; accepted and suppressed stay (a decision made
-- them), and every finding gets the first_seen of its streak, as classify carries it.
UPDATE findings
SET status = CASE WHEN findings.status NOT IN ('new', 'open') THEN findings.status
                  WHEN c.since IS NULL THEN 'new'
                  ELSE 'open' END,
    first_seen = COALESCE(c.since, c.as_of)
FROM status_recomputed c
WHERE c.run_id = findings.run_id AND c.fingerprint = findings.fingerprint;

-- Each run's previous-review findings now gone, summed over its organizations.
CREATE TEMP TABLE status_resolved AS
SELECT o.run_id AS run_id, COUNT(*) AS resolved
FROM status_org_runs o
JOIN status_org_runs p ON p.org_id = o.org_id AND p.reviewed = 1 AND p.earlier + 1 = o.earlier
JOIN findings g ON g.run_id = p.run_id AND g.org_id = o.org_id
WHERE NOT EXISTS (SELECT 1 FROM findings f
                  WHERE f.run_id = o.run_id AND f.fingerprint = g.fingerprint)
GROUP BY o.run_id;

CREATE TEMP TABLE status_counts AS
SELECT r.id AS run_id, COALESCE(s.new_count, 0) AS new_count,
       COALESCE(s.open_count, 0) AS open_count, COALESCE(x.resolved, 0) AS resolved
FROM runs r
LEFT JOIN (SELECT run_id, SUM(CASE WHEN status = 'new' THEN 1 ELSE 0 END) AS new_count,
                  SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open_count
           FROM findings GROUP BY run_id) s ON s.run_id = r.id
LEFT JOIN status_resolved x ON x.run_id = r.id
WHERE r.status = 'completed';

UPDATE runs
SET counts = json_set(runs.counts, '$.new', c.new_count, '$.open', c.open_count,
                      '$.resolved', c.resolved)
FROM status_counts c
WHERE c.run_id = runs.id;

DROP TABLE status_counts;
DROP TABLE status_resolved;
DROP TABLE status_recomputed;
DROP TABLE status_seen;
DROP TABLE status_org_runs;

-- A run's reminders and escalations are read by run (Store::follow_ups).
CREATE INDEX outbox_by_run ON outbox (run_id, kind);
