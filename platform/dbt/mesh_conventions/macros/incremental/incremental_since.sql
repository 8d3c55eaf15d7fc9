{#
    Where an incremental run starts: the latest `column` in the model's table minus `lookback` (a
    Postgres interval), as a timestamptz literal; '-infinity' for an empty table. A literal and not
    a subquery: with a subquery the planner cannot use the column's statistics, assumes a third of
    the table is new and reads every row; with the literal it reads the new rows through an index.
    A unit test gives `this` as a fixture, so there the subquery stays.
#}
{% macro incremental_since(column, lookback) %}
    {%- set subquery -%}
        (
            select coalesce(max(built.{{ column }}), '-infinity'::timestamptz) - interval '{{ lookback }}'
            from {{ this }} as built
        )
    {%- endset -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ return(subquery) }}
    {%- endif -%}
    {%- set since = run_query("select (" ~ subquery ~ ")::text").columns[0].values()[0] -%}
    {{ return("'" ~ since ~ "'::timestamptz") }}
{% endmacro %}
