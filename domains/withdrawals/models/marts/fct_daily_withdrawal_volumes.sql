-- Incremental: a run recomputes whole the days touched since its previous run (the requested_date
-- of the rows loaded since, and the day a content correction moved a row away from) and replaces
-- their rows (unique_key requested_date, delete+insert; see the YAML).

-- read on incremental runs only (change tracking: previous_requested_date)
-- depends_on: {{ ref('stg_withdrawals') }}

with

withdrawals as (

    select * from {{ ref('fct_withdrawals') }}

),

{% if is_incremental() %}

    changed as (

        select
            requested_date,
            previous_requested_date
        from {{ ref('stg_withdrawals') }}
        where loaded_at > {{ mesh_conventions.incremental_since('last_loaded_at', var('incremental_lookback')) }}

    ),

    touched_days as (

        select requested_date from changed
        union
        select previous_requested_date from changed
        where previous_requested_date is not null

    ),

    recomputed as (

        -- an array, so the days are read through the index on requested_date
        select * from withdrawals
        where requested_date = any(array(select touched_days.requested_date from touched_days))

    ),

{% else %}

    recomputed as (

        select * from withdrawals

    ),

{% endif %}

daily_volumes as (

    select
        requested_date,
        fiat_currency,
        status,

        count(*) as withdrawal_count,
        sum(toco_amount) as toco_amount,
        sum(fiat_amount) as fiat_amount,
        max(loaded_at) as last_loaded_at

    from recomputed

    group by requested_date, fiat_currency, status

),

{% if is_incremental() %}

    emptied_days as (

        -- A touched day left without withdrawals (corrections moved them all away): one row with
        -- withdrawal_count 0 replaces its old rows; the post-hook then deletes it.
        select
            requested_date,
            null::text as fiat_currency,
            null::text as status,
            0::bigint as withdrawal_count,
            0::numeric as toco_amount,
            0::numeric as fiat_amount,
            null::timestamptz as last_loaded_at
        from (
            -- a set difference: linear, whatever the planner estimates
            select requested_date from touched_days
            except
            select requested_date from daily_volumes
        ) as left_without_withdrawals

    ),

    final as (

        select * from daily_volumes
        union all
        select * from emptied_days

    )

{% else %}

    final as (

        select * from daily_volumes

    )

{% endif %}

select * from final
