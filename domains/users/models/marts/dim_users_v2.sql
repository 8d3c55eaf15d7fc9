with

users as (

    select * from {{ ref('stg_users') }}

),

final as (

    select
        user_id,
        signup_date,
        country as country_code,
        kyc_status,
        account_type,
        updated_at

    from users

)

select * from final
