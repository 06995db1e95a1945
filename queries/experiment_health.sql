-- Experiment health, latest week: units per variant against the planned split, the sample
-- ratio mismatch (SRM) test, and units to exclude (several variants) or with no data.
-- Source: experiment_health_weekly (Experiment pipeline).
SELECT
    experiment_id,
    week,
    units,
    cardinality(observed_split) AS variants,
    element_at(observed_split, 'control') AS control_units,
    element_at(planned_split, 'control') AS control_planned_weight,
    round(chi_square, 3) AS chi_square,
    round(p_value, 4) AS p_value,
    srm_flag,
    units_multiple_variants,
    units_no_data
FROM experiment_health_weekly
WHERE week = (SELECT max(week) FROM experiment_health_weekly)
ORDER BY srm_flag DESC, experiment_id
