with

withdrawals as (

    select * from {{ ref('stg_withdrawals') }}

),

unique_withdrawals as (

    -- Drop content duplicates: keep the row whose id is the canonical (smallest) id of its group.
    select * from withdrawals

    where
        transaction_id = canonical_transaction_id

        {% if is_incremental() %}
        -- Canonical rows that are new or changed since the previous run, reprocessed by key:
        -- * loaded after the latest loaded_at already in the table, minus a lookback (var
        --   fct_withdrawals_lookback): the loader's _loaded_at is its transaction's start, so a long
        --   load committing after a shorter one, and after a run, has an older _loaded_at;
        -- * or not in the table at all, whenever loaded: a row becomes canonical without being
        --   loaded again when the canonical row of its group gets a content correction and leaves it.
        -- The rows that are no longer canonical (a smaller id of their group arrived, e.g. an original
        -- first quarantined) are deleted by the model's post-hook (fct_withdrawals.yml).
            and (
                loaded_at > (
                    select coalesce(max(built.loaded_at), '-infinity'::timestamptz) as latest_loaded_at
                    from {{ this }} as built
                ) - interval '{{ var("fct_withdrawals_lookback", "1 day") }}'
                -- (the table's primary key: never null, so not in is safe)
                or transaction_id not in (select built.transaction_id from {{ this }} as built)
            )
        {% endif %}

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
