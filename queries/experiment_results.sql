-- Experiment results per variant: units, days observed, clicks and hours in session per
-- unit, the share of observed days a unit was active, and days since first exposure.
-- Units assigned to more than one variant are excluded, as the data scientists do.
-- Source: experiment_unit_daily and experiment_assignments (Experiment pipeline).
WITH clean_units AS (
    SELECT experiment_id, unit_id, variant, assigned_at
    FROM experiment_assignments
    WHERE NOT multiple_variants
),
per_unit AS (
    SELECT
        d.experiment_id,
        d.variant,
        d.unit_id,
        count(*) AS days_observed,
        sum(d.clicks) AS clicks,
        sum(d.session_hours) AS session_hours,
        count_if(d.active_users > 0) AS active_days,
        max(date_diff('day', date(u.assigned_at), d."date")) AS days_since_exposure
    FROM experiment_unit_daily AS d
    JOIN clean_units AS u
        ON u.experiment_id = d.experiment_id
        AND u.unit_id = d.unit_id
        AND u.variant = d.variant
    GROUP BY 1, 2, 3
)
SELECT
    experiment_id,
    variant,
    count(*) AS units,
    sum(days_observed) AS unit_days,
    round(avg(clicks), 3) AS clicks_per_unit,
    round(avg(session_hours), 3) AS hours_per_unit,
    round(avg(CAST(active_days AS double) / days_observed), 4) AS active_day_rate,
    max(days_since_exposure) AS max_days_since_exposure
FROM per_unit
GROUP BY experiment_id, variant
ORDER BY experiment_id, variant
