with

withdrawals as (

    select * from {{ ref('fct_withdrawals') }}

),

daily_volumes as (

    select
        requested_date,
        fiat_currency,
        status,

        count(*) as withdrawal_count,
        sum(toco_amount) as toco_amount,
        sum(fiat_amount) as fiat_amount

    from withdrawals

    group by requested_date, fiat_currency, status

)

select * from daily_volumes
