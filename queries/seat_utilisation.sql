-- Seat utilisation of paying accounts on the latest day, lowest first: MAU against licensed
-- seats, with status, plan and MRR from the latest weekly snapshot. Accounts under 50% are
-- flagged at_risk: a list for customer success, not a churn prediction.
-- Source: active_users_daily (Engagement) and account_status_weekly (Growth).
WITH latest_day AS (
    SELECT account_id, dt, mau, licensed_seats, seat_utilisation
    FROM active_users_daily
    WHERE dt = (SELECT max(dt) FROM active_users_daily)
),
latest_status AS (
    SELECT account_id, status, plan, mrr_cents
    FROM account_status_weekly
    WHERE week = (SELECT max(week) FROM account_status_weekly)
)
SELECT
    rank() OVER (ORDER BY d.seat_utilisation) AS utilisation_rank,
    d.account_id,
    d.dt AS day,
    s.status,
    s.plan,
    s.mrr_cents / 100.0 AS mrr,
    d.mau,
    d.licensed_seats,
    round(d.seat_utilisation, 3) AS seat_utilisation,
    d.seat_utilisation < 0.5 AS at_risk
FROM latest_day AS d
JOIN latest_status AS s ON s.account_id = d.account_id
WHERE s.status IN ('active', 'renewal_due', 'cancelled')
ORDER BY d.seat_utilisation NULLS FIRST, d.account_id
