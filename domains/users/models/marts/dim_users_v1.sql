with

users as (

    select * from {{ ref('stg_users') }} as stg_users
    {% if is_incremental() %}
        -- only the users whose version is not the one built (see dim_users.yml)
        where not exists (
            select from {{ this }} as built
            where built.user_id = stg_users.user_id and built.updated_at = stg_users.updated_at
        )
    {% endif %}

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
