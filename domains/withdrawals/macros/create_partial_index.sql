{#
    A post-hook creating an index of `column` on the rows that match `predicate`, when the model's
    relation has no partial index yet (dbt's `indexes` config cannot express a predicate). Checked
    on the relation itself, since a rebuild keeps the old relation's indexes, and their names, on
    its backup until the end of the transaction.
#}
{% macro create_partial_index(column, predicate) %}
    {% if execute %}
        {% set found = run_query(
            "select 1 from pg_index where indrelid = '" ~ this ~ "'::regclass and indpred is not null"
        ) %}
        {% if found.rows | length == 0 %}
            create index on {{ this }} ({{ column }}) where {{ predicate }}
        {% endif %}
    {% endif %}
{% endmacro %}
