{#
    The delete+insert of an incremental model (dbt's `delete+insert` strategy) on a one-column
    unique key: the keys of the new rows as an array, so each old row is found through the key's
    index. dbt's own statement joins the new rows to the target, which Postgres runs as a scan of
    the whole target: most of an incremental run on a large table. Other keys: dbt's own.
    Used through each domain's `dispatch` config (dbt_project.yml).
#}
{% macro postgres__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) %}
    {%- set keys = [unique_key] if unique_key is string else (unique_key or []) -%}
    {%- if keys | length != 1 -%}
        {{ return(dbt.default__get_delete_insert_merge_sql(
            target, source, unique_key, dest_columns, incremental_predicates
        )) }}
    {%- endif -%}
    {%- set columns = get_quoted_csv(dest_columns | map(attribute="name")) -%}
    delete from {{ target }} as dbt_internal_dest
    where {{ keys[0] }} = any(array(select dbt_internal_source.{{ keys[0] }} from {{ source }} as dbt_internal_source))
    {%- for predicate in incremental_predicates or [] %}
        and {{ predicate }}
    {%- endfor %};

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{% endmacro %}
