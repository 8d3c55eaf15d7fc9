{#
    Generic data test (hand-written, no dbt_utils): the combination of the given columns is unique.
    Usage in YAML, at model level:
        data_tests:
          - mesh_conventions.unique_combination_of_columns:
              arguments:
                combination_of_columns: [col_a, col_b]
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

{%- set columns_csv = combination_of_columns | join(', ') %}

select
    {{ columns_csv }},
    count(*) as n_rows

from {{ model }}

group by {{ columns_csv }}

having count(*) > 1

{% endtest %}
