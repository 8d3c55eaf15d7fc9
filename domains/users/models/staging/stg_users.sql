with

source as (

    select * from {{ source('raw_users', 'users') }}

),

renamed as (

    select

        ----------  ids
        user_id::bigint as user_id,

        ---------- text
        upper(country)::text as country,
        kyc_status::text as kyc_status,
        account_type::text as account_type,

        ---------- dates and timestamps
        signup_date::date as signup_date,
        updated_at::timestamptz as updated_at,

        ---------- load metadata
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
