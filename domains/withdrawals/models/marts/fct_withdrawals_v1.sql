with

-- read twice on an incremental run: not materialized, so each read uses the table's indexes
withdrawals as not materialized (

    select * from {{ ref('stg_withdrawals') }}

),

{% if is_incremental() %}

    changed as (

        -- rows loaded after the latest loaded_at already in the table, minus a lookback (var
        -- incremental_lookback): the loader's _loaded_at is its transaction's start, so a long
        -- load committing after a shorter one, and after a run, has an older _loaded_at
        select * from withdrawals
        where loaded_at > {{ mesh_conventions.incremental_since('loaded_at', var('incremental_lookback')) }}

    ),

    touched_groups as (

        -- The content groups whose canonical row may have changed: the group a changed row is in
        -- now, and the group of its previous version when that was the canonical row here (a row
        -- that was not canonical leaves its group's canonical row as it was). Both lookups, here
        -- and in candidates, go by index, row by row (see stg_withdrawals).
        select
            user_id,
            requested_at,
            toco_amount,
            fiat_currency,
            fiat_amount
        from changed
        union
        select
            built.user_id,
            built.requested_at,
            built.toco_amount,
            built.fiat_currency,
            built.fiat_amount
        from changed
        cross join lateral (
            select * from {{ this }} as built
            where built.transaction_id = changed.transaction_id  -- noqa: RF03
            offset 0  -- noqa: AM09
        ) as built

    ),

    candidates as (

        select withdrawals.*
        from touched_groups
        cross join lateral (
            select * from withdrawals
            where
                withdrawals.user_id = touched_groups.user_id  -- noqa: RF03
                and withdrawals.requested_at = touched_groups.requested_at
                and withdrawals.toco_amount = touched_groups.toco_amount
                and withdrawals.fiat_currency = touched_groups.fiat_currency
                and withdrawals.fiat_amount = touched_groups.fiat_amount
            offset 0  -- noqa: AM09
        ) as withdrawals

    ),

{% else %}

    candidates as (

        select * from withdrawals

    ),

{% endif %}

unique_withdrawals as (

    -- Drop content duplicates: keep the row whose id is the canonical (smallest) id of its group.
    -- An incremental run replaces the canonical rows of the touched groups by key; the rows that
    -- are no longer canonical (a smaller id of their group arrived, e.g. an original first
    -- quarantined) are deleted by the model's post-hook (fct_withdrawals.yml).
    select * from candidates
    where transaction_id = canonical_transaction_id

),

final as (

    select
        transaction_id,
        user_id,
        requested_at,
        requested_date,
        completed_at,
        status,
        toco_amount,
        fiat_currency,
        fiat_amount,
        exchange_rate,
        updated_at,
        loaded_at

    from unique_withdrawals

)

select * from final
