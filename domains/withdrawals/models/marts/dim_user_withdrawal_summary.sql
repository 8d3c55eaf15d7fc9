with

withdrawals as (

    select * from {{ ref('fct_withdrawals') }}

),

users as (

    -- users.dim_users (users domain, through dbt-loom), via its staging model
    select * from {{ ref('stg_users__dim_users') }}

),

withdrawals_per_user as (

    select
        user_id,

        count(*) as withdrawal_count,
        count(*) filter (where status = 'completed') as completed_count,
        sum(toco_amount) as total_toco_amount,
        max(toco_amount) as max_toco_amount,
        min(requested_at) as first_requested_at,
        max(requested_at) as last_requested_at

    from withdrawals

    group by user_id

),

joined as (

    select
        withdrawals_per_user.*,
        users.kyc_status,
        coalesce(users.is_kyc_verified, false) as is_kyc_verified,
        users.user_id is not null as is_known_user

    from withdrawals_per_user

    left join users
        on withdrawals_per_user.user_id = users.user_id

),

flagged as (

    select
        *,

        -- completed withdrawals without a verified KYC (an unknown user has no verified KYC either)
        not is_kyc_verified and completed_count > 0 as flag_unverified_kyc,
        max_toco_amount >= {{ var('large_withdrawal_toco') }} as flag_large_withdrawal,
        not is_known_user as flag_unknown_user

    from joined

),

final as (

    select
        user_id,
        kyc_status,
        is_known_user,
        withdrawal_count,
        completed_count,
        total_toco_amount,
        max_toco_amount,
        first_requested_at,
        last_requested_at,
        flag_unverified_kyc,
        flag_large_withdrawal,
        flag_unknown_user,
        flag_unverified_kyc or flag_large_withdrawal or flag_unknown_user as is_flagged

    from flagged

)

select * from final
