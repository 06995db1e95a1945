-- Lifecycle data-quality issues by month: transitions that skipped a required step (for
-- example a churn with no cancellation), how many accounts they touch, and what status
-- the pipeline inferred. Worth raising with the Accounts team when a month has many.
-- Source: lifecycle_issues (Growth pipeline).
SELECT
    month,
    missing_step,
    to_event_type,
    inferred_status,
    count(*) AS issues,
    approx_distinct(account_id) AS accounts,
    min(to_event_time) AS first_seen,
    max(to_event_time) AS last_seen
FROM lifecycle_issues
GROUP BY month, missing_step, to_event_type, inferred_status
ORDER BY month, issues DESC, missing_step, to_event_type
