-- Incremental: a run recomputes the users touched since its previous run (the users of the rows
-- loaded since, the user a content correction took a row from, and the users whose attributes in
-- users.dim_users or large-withdrawal flag no longer match) and replaces their rows by user_id.

-- read on incremental runs only (change tracking: previous_user_id)
-- depends_on: {{ ref('stg_withdrawals') }}

with

withdrawals as (

    select * from {{ ref('fct_withdrawals') }}

),

users as (

    -- users.dim_users (users domain, through dbt-loom), via its staging model
    select * from {{ ref('stg_users__dim_users') }}

),

{% if is_incremental() %}

    changed as (

        select
            user_id,
            previous_user_id
        from {{ ref('stg_withdrawals') }}
        where loaded_at > {{ mesh_conventions.incremental_since('last_loaded_at', var('incremental_lookback')) }}

    ),

    outdated_users as (

        -- users whose row no longer matches users.dim_users or the large-withdrawal threshold
        select built.user_id
        from {{ this }} as built
        left join users on built.user_id = users.user_id
        where
            built.kyc_status is distinct from users.kyc_status
            or built.is_kyc_verified <> coalesce(users.is_kyc_verified, false)
            or built.is_known_user <> (users.user_id is not null)
            or built.flag_large_withdrawal <> (built.max_toco_amount >= {{ var('large_withdrawal_toco') }})

    ),

    touched_users as (

        select user_id from changed
        union
        select previous_user_id from changed
        where previous_user_id is not null
        union
        select user_id from outdated_users

    ),

    recomputed as (

        -- an array, so the users are read through the index on user_id
        select * from withdrawals
        where user_id = any(array(select touched_users.user_id from touched_users))

    ),

{% else %}

    recomputed as (

        select * from withdrawals

    ),

{% endif %}

withdrawals_per_user as (

    select
        user_id,

        count(*) as withdrawal_count,
        count(*) filter (where status = 'completed') as completed_count,
        sum(toco_amount) as total_toco_amount,
        max(toco_amount) as max_toco_amount,
        min(requested_at) as first_requested_at,
        max(requested_at) as last_requested_at,
        max(loaded_at) as last_loaded_at

    from recomputed

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

summarised as (

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
        flag_unverified_kyc or flag_large_withdrawal or flag_unknown_user as is_flagged,
        is_kyc_verified,
        last_loaded_at

    from flagged

),

{% if is_incremental() %}

    emptied_users as (

        -- A touched user left without withdrawals (corrections gave them all to another user):
        -- one row with withdrawal_count 0 replaces the old one; the post-hook then deletes it.
        select
            user_id,
            null::text as kyc_status,
            null::boolean as is_known_user,
            0::bigint as withdrawal_count,
            0::bigint as completed_count,
            null::numeric as total_toco_amount,
            null::numeric as max_toco_amount,
            null::timestamptz as first_requested_at,
            null::timestamptz as last_requested_at,
            null::boolean as flag_unverified_kyc,
            null::boolean as flag_large_withdrawal,
            null::boolean as flag_unknown_user,
            null::boolean as is_flagged,
            null::boolean as is_kyc_verified,
            null::timestamptz as last_loaded_at
        from (
            -- a set difference: linear, whatever the planner estimates
            select user_id from touched_users
            except
            select user_id from withdrawals_per_user
        ) as left_without_withdrawals

    ),

    final as (

        select * from summarised
        union all
        select * from emptied_users

    )

{% else %}

    final as (

        select * from summarised

    )

{% endif %}

select * from final
