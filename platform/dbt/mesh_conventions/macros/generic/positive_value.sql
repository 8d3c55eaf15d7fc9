{#
    Generic data test: every non-null value of the column is strictly positive.
    Fails with the offending rows. Usage in YAML (namespaced, like any package's test):
        data_tests: [mesh_conventions.positive_value]
#}
{% test positive_value(model, column_name) %}

select
    {{ column_name }} as non_positive_value

from {{ model }}

where {{ column_name }} <= 0

{% endtest %}
