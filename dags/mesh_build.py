"""
### mesh_build

Builds the whole withdrawals data mesh, one task group per domain found under `domains/`,
upstream domains first (the order comes from each domain's `dbt_loom.config.yml`):

1. **load**: the domain's export files into its raw schema (idempotent, quarantine, ledger)
2. **validate**: the raw tables with Great Expectations (suites derived from `contracts/`)
3. **dbt**: the domain's dbt project, rendered by Cosmos from its published manifest; tests run after each model
4. **validate_products**: every published version of the domain's data products against its contract (GX)
5. **publish**: the domain's manifest to the registry, where downstream domains `ref()` it through dbt-loom

A failed load, expectation or dbt test stops every domain downstream of it.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
import sys

from airflow.sdk import DAG, TaskGroup, task
from cosmos import DbtTaskGroup, ExecutionConfig, LoadMode, ProfileConfig, ProjectConfig, RenderConfig

from meshplatform.config import Settings, disable_telemetry
from meshplatform.domains import discover
from meshplatform.errors import MeshError
from meshplatform.registry import runtime_env
from meshplatform.warehouse import connection_info

disable_telemetry()
SETTINGS = Settings.from_env()
# dbt profiles and dbt-loom read these; tasks run in processes that import this file.
os.environ.update(runtime_env(SETTINGS, connection_info(SETTINGS)))

EXECUTION = ExecutionConfig(dbt_executable_path=str(Path(sys.executable).parent / "dbt"))
RENDER = RenderConfig(load_method=LoadMode.DBT_MANIFEST, should_detach_multiple_parents_tests=True)
OPERATOR_ARGS = {"install_deps": False, "callback": "meshplatform.results.record_dbt_results"}


@task
def load(domain: str) -> dict[str, int]:
    from meshplatform.pipeline import load_domain

    results = load_domain(domain)
    return {
        "files": len(results),
        "rows_read": sum(r.rows_read for r in results),
        "rows_loaded": sum(r.rows_loaded for r in results),
        "rows_quarantined": sum(r.rows_quarantined for r in results),
    }


@task
def validate(domain: str) -> int:
    from meshplatform.pipeline import validate_domain

    return sum(len(report.outcomes) for report in validate_domain(domain))


@task
def validate_products(domain: str) -> int:
    from meshplatform.pipeline import validate_products

    return sum(len(report.outcomes) for report in validate_products(domain))


@task
def publish(domain: str) -> str:
    from meshplatform.pipeline import publish_domain

    return str(publish_domain(domain))


with DAG(
    dag_id="mesh_build",
    schedule=None,
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["mesh"],
) as dag:
    published = {}
    for domain in discover(SETTINGS.domains_dir):
        manifest = domain.manifest_in(SETTINGS.registry_dir)
        if not manifest.exists():
            raise MeshError(f"no published manifest for domain {domain.name} at {manifest}", hint="run `mesh publish`")
        with TaskGroup(group_id=domain.name) as group:
            dbt = DbtTaskGroup(
                group_id="dbt",
                project_config=ProjectConfig(
                    dbt_project_path=domain.path, manifest_path=manifest, project_name=domain.name
                ),
                profile_config=ProfileConfig(
                    profile_name=domain.name, target_name="dev", profiles_yml_filepath=domain.profiles_yml
                ),
                execution_config=EXECUTION,
                render_config=RENDER,
                operator_args=OPERATOR_ARGS,
            )
            load.override(task_id="load")(domain.name) >> validate.override(task_id="validate")(domain.name) >> dbt
            products = validate_products.override(task_id="validate_products")(domain.name)
            published[domain.name] = dbt >> products >> publish.override(task_id="publish")(domain.name)
        for upstream in domain.upstream:
            published[upstream] >> dbt
