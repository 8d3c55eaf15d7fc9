-- Incremental: a run reads only the raw rows loaded since the previous run (minus the lookback var
-- incremental_lookback, see dbt_project.yml) and recomputes the content groups they touch, found
-- through the index on the grouping columns. The rows it writes replace the old ones by transaction_id.

with

source as (

    select * from {{ source('raw_withdrawals', 'withdrawals') }}

    {% if is_incremental() %}
        where _loaded_at > {{ mesh_conventions.incremental_since('loaded_at', var('incremental_lookback')) }}
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

    -- Every lookup below goes through an index of this table, row by row: a lateral subquery kept
    -- apart by `offset 0`. Left to itself the planner hashes the whole table to join a few thousand
    -- changed rows (it prices an index lookup as a random read from disk), and, when its estimate
    -- of the changed rows is stale (one row), nests loops over them: either made an incremental
    -- run cost as much as a full build, or more.

    changed as (

        -- The changed rows, each with its version built before (if any), and the day and user of an
        -- earlier version when a content correction moved the row away from them (kept until the
        -- next such move): the marts recompute those too.
        select
            renamed.*,
            case
                when previous.requested_date <> renamed.requested_date then previous.requested_date
                else previous.previous_requested_date
            end as previous_requested_date,
            case
                when previous.user_id <> renamed.user_id then previous.user_id
                else previous.previous_user_id
            end as previous_user_id,
            previous.user_id as built_user_id,
            previous.requested_at as built_requested_at,
            previous.toco_amount as built_toco_amount,
            previous.fiat_currency as built_fiat_currency,
            previous.fiat_amount as built_fiat_amount
        from renamed
        left join lateral (
            select * from {{ this }} as built
            where built.transaction_id = renamed.transaction_id  -- noqa: RF03
            offset 0  -- noqa: AM09
        ) as previous on true

    ),

    touched_groups as (

        -- the content groups a changed row enters or leaves
        select
            user_id,
            requested_at,
            toco_amount,
            fiat_currency,
            fiat_amount
        from changed
        union
        select
            built_user_id,
            built_requested_at,
            built_toco_amount,
            built_fiat_currency,
            built_fiat_amount
        from changed
        where built_user_id is not null

    ),

    candidates as (

        -- every row of the touched groups: the changed ones, and the ones built before
        select
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
            loaded_at,
            previous_requested_date,
            previous_user_id,
            true as is_changed
        from changed
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
            built.previous_requested_date,
            built.previous_user_id,
            false as is_changed
        from touched_groups
        cross join lateral (
            select * from {{ this }} as built
            where
                built.user_id = touched_groups.user_id  -- noqa: RF03
                and built.requested_at = touched_groups.requested_at
                and built.toco_amount = touched_groups.toco_amount
                and built.fiat_currency = touched_groups.fiat_currency
                and built.fiat_amount = touched_groups.fiat_amount
            offset 0  -- noqa: AM09
        ) as built

    ),

    group_members as (

        -- A row built before that changed since gives way to its new version.
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
            loaded_at,
            previous_requested_date,
            previous_user_id
        from candidates
        order by transaction_id asc, is_changed desc

    ),

{% else %}

    group_members as (

        select
            *,
            null::date as previous_requested_date,
            null::bigint as previous_user_id
        from renamed

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
