-- The one place where the withdrawals domain reads the users domain's data product
-- (users.dim_users, injected by dbt-loom from the published users manifest). Pinned to v1 so a
-- new latest version upstream cannot change this domain silently. Marts ref this model, which
-- also lets their unit tests give it as an input: dbt unit tests cannot take a loom-injected
-- cross-project model as input (dbt-loom issue #159: "referenced node is protected").
-- A table on purpose (materialized in YAML): a view here would depend on the users domain's table,
-- and every rebuild of users.dim_users (drop ... cascade) would silently drop it; an ephemeral
-- model leaves no relation, so lineage (OpenLineage) could not follow users -> withdrawals.

with

users as (

    select * from {{ ref('users', 'dim_users', v=1) }} as dim_users
    {% if is_incremental() %}
        -- only the users whose version is not the one copied (see stg_users__dim_users.yml)
        where not exists (
            select from {{ this }} as copied
            where copied.user_id = dim_users.user_id and copied.updated_at = dim_users.updated_at
        )
    {% endif %}

),

renamed as (

    select
        user_id,
        kyc_status,
        is_kyc_verified,
        updated_at

    from users

)

select * from renamed
