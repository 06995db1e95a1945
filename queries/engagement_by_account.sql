-- Engagement by account and month: days with activity, sessions, hours in session, clicks,
-- monthly active users (approx_distinct: an estimate on Athena, exact on small sets) and
-- days hit by a stream outage (their numbers are incomplete).
-- Source: engagement_daily and engagement_user_daily (Engagement pipeline).
WITH daily AS (
    SELECT
        account_id,
        date_trunc('month', from_iso8601_date(dt)) AS month,
        count_if(active_users > 0) AS active_days,
        sum(sessions) AS sessions,
        round(sum(session_hours), 2) AS session_hours,
        sum(clicks) AS clicks,
        count_if(NOT complete) AS incomplete_days
    FROM engagement_daily
    GROUP BY 1, 2
),
users AS (
    SELECT
        account_id,
        date_trunc('month', from_iso8601_date(dt)) AS month,
        approx_distinct(user_id) AS monthly_active_users
    FROM engagement_user_daily
    WHERE clicks > 0
    GROUP BY 1, 2
)
SELECT
    d.account_id,
    d.month,
    d.active_days,
    coalesce(u.monthly_active_users, 0) AS monthly_active_users,
    d.sessions,
    d.session_hours,
    d.clicks,
    d.clicks / nullif(d.active_days, 0) AS clicks_per_active_day,
    d.incomplete_days
FROM daily AS d
LEFT JOIN users AS u ON u.account_id = d.account_id AND u.month = d.month
ORDER BY d.month, d.account_id
