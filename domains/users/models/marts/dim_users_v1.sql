with

users as (

    select * from {{ ref('stg_users') }}

),

final as (

    select
        user_id,
        signup_date,
        country,
        kyc_status,
        account_type,
        kyc_status = 'verified' as is_kyc_verified,
        updated_at

    from users

)

select * from final
