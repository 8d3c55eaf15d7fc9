{#
    Post-hook of every model of a domain (set in its dbt_project.yml):
        +post-hook: ["{{ mesh_conventions.grant_select_to_readers() }}"]
    A public model (whatever its version) becomes readable by <the domain's login>_readers, the
    role the platform grants to the domains that read this one (from their dbt_loom.config.yml).
    Protected and private models get no grant. Runs after every build: tables are recreated.
#}
{% macro grant_select_to_readers() %}
    {%- if model.access == 'public' -%}
        grant select on {{ this }} to {{ target.user }}_readers
    {%- endif -%}
{% endmacro %}
