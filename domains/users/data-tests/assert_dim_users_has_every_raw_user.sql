-- dim_users publishes every user of the raw registry, once: no user is lost or duplicated
-- between raw_users.users and the data product. Returns the user_ids that differ (fails).

with

raw_users as (

    select user_id from {{ source('raw_users', 'users') }}

),

dim_users as (

    select user_id from {{ ref('dim_users') }}

),

missing_or_extra as (

    select coalesce(raw_users.user_id, dim_users.user_id) as user_id

    from raw_users

    full outer join dim_users
        on raw_users.user_id = dim_users.user_id

    where
        raw_users.user_id is null
        or dim_users.user_id is null

)

select * from missing_or_extra
