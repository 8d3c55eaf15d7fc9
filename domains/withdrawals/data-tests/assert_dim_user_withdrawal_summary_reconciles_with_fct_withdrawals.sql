-- Every user of fct_withdrawals has one summary row and the summary accounts for every
-- withdrawal: counts and toco totals match. Returns a row (fails) when they differ.

with

withdrawals as (

    select
        count(distinct user_id) as user_count,
        count(*) as withdrawal_count,
        coalesce(sum(toco_amount), 0) as toco_amount

    from {{ ref('fct_withdrawals') }}

),

summary as (

    select
        count(*) as user_count,
        coalesce(sum(withdrawal_count), 0) as withdrawal_count,
        coalesce(sum(total_toco_amount), 0) as toco_amount

    from {{ ref('dim_user_withdrawal_summary') }}

)

select
    withdrawals.user_count as fct_user_count,
    summary.user_count as summary_user_count,
    withdrawals.withdrawal_count as fct_withdrawal_count,
    summary.withdrawal_count as summary_withdrawal_count

from withdrawals

cross join summary

where
    withdrawals.user_count <> summary.user_count
    or withdrawals.withdrawal_count <> summary.withdrawal_count
    or withdrawals.toco_amount <> summary.toco_amount
