-- Incremental: a run reads only the raw rows loaded since the previous run (minus the lookback var
-- fct_withdrawals_lookback, see dbt_project.yml) and recomputes the content groups they touch, found
-- through the index on the grouping columns. The rows it writes replace the old ones by transaction_id.

with

source as (

    select * from {{ source('raw_withdrawals', 'withdrawals') }}

    {% if is_incremental() %}
        where _loaded_at > (
            select coalesce(max(built.loaded_at), '-infinity'::timestamptz) as latest_loaded_at
            from {{ this }} as built
        ) - interval '{{ var("fct_withdrawals_lookback", "1 day") }}'
    {% endif %}

),

renamed as (

    select

        ----------  ids
        transaction_id::text as transaction_id,
        user_id::bigint as user_id,

        ---------- text
        status::text as status,
        fiat_currency::text as fiat_currency,

        ---------- numerics
        toco_amount::numeric(18, 2) as toco_amount,
        fiat_amount::numeric(18, 2) as fiat_amount,
        exchange_rate::numeric(18, 6) as exchange_rate,

        ---------- dates and timestamps
        requested_at::timestamptz as requested_at,
        -- calendar day in UTC, whatever the session time zone
        (requested_at at time zone 'UTC')::date as requested_date,
        completed_at::timestamptz as completed_at,
        updated_at::timestamptz as updated_at,

        ---------- load metadata
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

),

{% if is_incremental() %}

    touched_groups as (

        -- the content a changed row has now, and the content it had when last built
        select
            user_id,
            requested_at,
            toco_amount,
            fiat_currency,
            fiat_amount
        from renamed
        union
        select
            built.user_id,
            built.requested_at,
            built.toco_amount,
            built.fiat_currency,
            built.fiat_amount
        from {{ this }} as built
        inner join renamed on built.transaction_id = renamed.transaction_id

    ),

    candidates as (

        -- every row of the touched groups: the changed ones, and the ones built before
        select
            *,
            true as is_changed
        from renamed
        union all
        select
            built.transaction_id,
            built.user_id,
            built.status,
            built.fiat_currency,
            built.toco_amount,
            built.fiat_amount,
            built.exchange_rate,
            built.requested_at,
            built.requested_date,
            built.completed_at,
            built.updated_at,
            built.source_file,
            built.loaded_at,
            false as is_changed
        from {{ this }} as built
        inner join touched_groups
            on
                built.user_id = touched_groups.user_id
                and built.requested_at = touched_groups.requested_at
                and built.toco_amount = touched_groups.toco_amount
                and built.fiat_currency = touched_groups.fiat_currency
                and built.fiat_amount = touched_groups.fiat_amount

    ),

    group_members as (

        -- A row built before that changed since gives way to its new version. A sort, not an
        -- anti-join against renamed: the planner estimates the five-column join above at one row
        -- (its columns are correlated) and would rescan renamed for each of the many it returns.
        select distinct on (transaction_id)
            transaction_id,
            user_id,
            status,
            fiat_currency,
            toco_amount,
            fiat_amount,
            exchange_rate,
            requested_at,
            requested_date,
            completed_at,
            updated_at,
            source_file,
            loaded_at
        from candidates
        order by transaction_id asc, is_changed desc

    ),

{% else %}

    group_members as (

        select * from renamed

    ),

{% endif %}

content_groups as (

    select
        *,

        -- The same withdrawal can be exported again under a new transaction_id (the new id
        -- always sorts after the original). Rows with the same content form one group; its
        -- canonical id is the smallest one. An incremental run recomputes every group a changed
        -- row enters or leaves, with all its members, so the id is right even when the duplicate
        -- arrives in a later load.
        min(transaction_id) over (
            partition by user_id, requested_at, toco_amount, fiat_currency, fiat_amount
        ) as canonical_transaction_id

    from group_members

)

select * from content_groups
