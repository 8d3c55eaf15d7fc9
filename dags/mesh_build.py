"""
### mesh_build

An Airflow DAG that builds the whole withdrawals data mesh, one task group per domain found under `domains/`,
upstream domains first (the order comes from each domain's `dbt_loom.config.yml`):

1. **load**: the domain's export files into its raw schema (idempotent, quarantine, ledger)
2. **validate**: the raw tables with Great Expectations (suites derived from `contracts/`)
3. **dbt**: the domain's dbt project, rendered by Cosmos from its published manifest; tests run after each model
4. **validate_products**: every published version of the domain's data products against its contract (GX)
5. **publish**: the domain's manifest to the registry, where downstream domains `ref()` it through dbt-loom

A failed load, expectation or dbt test stops every domain downstream of it.
"""

from meshplatform.orchestration.dag_factory import mesh_build_dag

dag = mesh_build_dag("mesh_build", doc_md=__doc__)
