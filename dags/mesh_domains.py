"""
### One Airflow DAG per domain

`domain_<name>` for every folder under `domains/` with a `dbt_project.yml`: nothing to edit here
to add a domain. Each runs `load >> validate >> dbt >> validate_products >> publish` (plus a
freshness check of every product it publishes or reads), on the timetable of its product
contracts' `frequency` SLA or when a product version it reads is published (an Asset event
`mesh://<domain>/<model>/v<version>`).
"""

from meshplatform.orchestration.dag_factory import domain_dags

globals().update(domain_dags())
