-- The daily volumes account for every unique withdrawal exactly once: totals match fct_withdrawals.
-- Returns a row (fails) when counts or sums differ.

with

withdrawals as (

    select
        count(*) as withdrawal_count,
        coalesce(sum(toco_amount), 0) as toco_amount,
        coalesce(sum(fiat_amount), 0) as fiat_amount

    from {{ ref('fct_withdrawals') }}

),

daily_volumes as (

    select
        coalesce(sum(withdrawal_count), 0) as withdrawal_count,
        coalesce(sum(toco_amount), 0) as toco_amount,
        coalesce(sum(fiat_amount), 0) as fiat_amount

    from {{ ref('fct_daily_withdrawal_volumes') }}

)

select
    withdrawals.withdrawal_count as fct_withdrawal_count,
    daily_volumes.withdrawal_count as daily_withdrawal_count,
    withdrawals.toco_amount as fct_toco_amount,
    daily_volumes.toco_amount as daily_toco_amount

from withdrawals

cross join daily_volumes

where
    withdrawals.withdrawal_count <> daily_volumes.withdrawal_count
    or withdrawals.toco_amount <> daily_volumes.toco_amount
    or withdrawals.fiat_amount <> daily_volumes.fiat_amount
