-- Restatements: published numbers that changed afterwards, by table, metric and reason,
-- with the number of changes, the periods touched and the largest change.
-- Read before quoting an older figure. Source: restatements (all pipelines).
SELECT
    month AS restated_in,
    table_name,
    metric,
    reason,
    count(*) AS changes,
    count(DISTINCT period) AS periods,
    min(period) AS first_period,
    max(period) AS last_period,
    max(abs(coalesce(new_value, 0) - coalesce(old_value, 0))) AS largest_change,
    max(restated_at) AS last_restated_at
FROM restatements
GROUP BY month, table_name, metric, reason
ORDER BY month, table_name, metric, reason
