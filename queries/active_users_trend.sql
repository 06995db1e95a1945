-- Daily, weekly and monthly active users across all accounts, by day: DAU, trailing 7-day
-- WAU, trailing 30-day MAU, stickiness (DAU / MAU) and seat utilisation (MAU / seats).
-- Source: active_users_daily (Engagement pipeline).
SELECT
    from_iso8601_date(dt) AS day,
    day_of_week(from_iso8601_date(dt)) AS iso_weekday,
    sum(dau) AS dau,
    sum(wau) AS wau,
    sum(mau) AS mau,
    round(CAST(sum(dau) AS double) / nullif(sum(mau), 0), 4) AS stickiness,
    round(CAST(sum(mau) AS double) / nullif(sum(licensed_seats), 0), 4) AS seat_utilisation,
    count_if(seat_utilisation IS NULL) AS accounts_without_seats
FROM active_users_daily
GROUP BY dt
ORDER BY day
