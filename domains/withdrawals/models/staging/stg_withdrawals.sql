with

source as (

    select * from {{ source('raw_withdrawals', 'withdrawals') }}

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

content_groups as (

    select
        *,

        -- The same withdrawal can be exported again under a new transaction_id (the new id
        -- always sorts after the original). Rows with the same content form one group; its
        -- canonical id is the smallest one. The window runs over the whole raw table (this is a
        -- view), so the canonical id is right even when the duplicate arrives in a later load.
        min(transaction_id) over (
            partition by user_id, requested_at, toco_amount, fiat_currency, fiat_amount
        ) as canonical_transaction_id

    from renamed

)

select * from content_groups
