-- MRR by month: recurring revenue at each month's end, ARR, and the movements that explain
-- the change (new, expansion, reactivation, contraction, churn), with net revenue retention.
-- Source: growth_monthly (Growth pipeline). Money is in dollars of the reporting currency.
SELECT
    month,
    date_parse(month || '-01', '%Y-%m-%d') AS month_start,
    accounts_end AS paying_accounts,
    mrr_end_cents / 100.0 AS mrr,
    12 * mrr_end_cents / 100.0 AS arr,
    (mrr_new_cents + mrr_expansion_cents + mrr_reactivation_cents
        - mrr_contraction_cents - mrr_churn_cents) / 100.0 AS net_new_mrr,
    mrr_new_cents / 100.0 AS new_mrr,
    mrr_expansion_cents / 100.0 AS expansion_mrr,
    mrr_reactivation_cents / 100.0 AS reactivation_mrr,
    mrr_contraction_cents / 100.0 AS contraction_mrr,
    mrr_churn_cents / 100.0 AS churned_mrr,
    round(nrr, 4) AS nrr,
    nrr_reason
FROM growth_monthly
ORDER BY month
