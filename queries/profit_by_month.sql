-- Profit by month: revenue (money paid), ops expenses, salaries (all teams together),
-- profit, margin and profit per paying subscriber, with the publication status
-- (preliminary until reconciled with the ledger).
-- Source: profit_monthly (Profit pipeline). Money is in dollars of the reporting currency.
SELECT
    month,
    revenue_cents / 100.0 AS revenue,
    expenses_cents / 100.0 AS expenses,
    salaries_cents / 100.0 AS salaries,
    profit_cents / 100.0 AS profit,
    round(CAST(profit_cents AS double) / nullif(revenue_cents, 0), 4) AS margin,
    paying_subscribers,
    round(unit_profit_cents / 100.0, 2) AS profit_per_subscriber,
    unit_profit_cents_reason AS profit_per_subscriber_reason,
    publication_status
FROM profit_monthly
ORDER BY month
