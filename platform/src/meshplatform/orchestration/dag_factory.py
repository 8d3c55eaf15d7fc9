"""Build the ``mesh_build`` DAG from the domain folders: one task group per domain, upstream first.

Called by ``dags/mesh_build.py`` at parse time, so it reads files only (the domain projects and
their published manifests) and imports nothing heavy: each task imports what it needs when it runs.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, TaskGroup, task
from cosmos import DbtTaskGroup, ExecutionConfig, LoadMode, ProfileConfig, ProjectConfig, RenderConfig

from meshplatform.config import Settings, disable_telemetry
from meshplatform.dbt.registry import runtime_env
from meshplatform.domains import Domain, discover
from meshplatform.errors import MeshError
from meshplatform.orchestration.operators import LoadDomainOperator, PublishDomainOperator
from meshplatform.warehouse.connection import connection_info

EXECUTION = ExecutionConfig(dbt_executable_path=str(Path(sys.executable).parent / "dbt"))
RENDER = RenderConfig(load_method=LoadMode.DBT_MANIFEST, should_detach_multiple_parents_tests=True)
OPERATOR_ARGS = {"install_deps": False, "callback": "meshplatform.orchestration.callbacks.record_dbt_results"}


@task
def validate(domain: str) -> int:
    from meshplatform.orchestration.steps import validate_domain

    return sum(len(report.outcomes) for report in validate_domain(domain))


@task
def validate_products(domain: str) -> int:
    from meshplatform.orchestration import steps

    return sum(len(report.outcomes) for report in steps.validate_products(domain))


@task
def refresh_docs() -> list[str]:
    from meshplatform.orchestration.steps import refresh_docs as refresh

    return [str(path) for path in refresh()]


def _dbt_group(domain: Domain, manifest: Path) -> DbtTaskGroup:
    return DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(dbt_project_path=domain.path, manifest_path=manifest, project_name=domain.name),
        profile_config=ProfileConfig(
            profile_name=domain.name, target_name="dev", profiles_yml_filepath=domain.profiles_yml
        ),
        execution_config=EXECUTION,
        render_config=RENDER,
        operator_args=OPERATOR_ARGS,
    )


def mesh_build_dag(dag_id: str = "mesh_build", *, doc_md: str | None = None) -> DAG:
    """The whole mesh: per domain ``load >> validate >> dbt >> validate_products >> publish``,
    each domain's dbt group after the publish of every domain it reads."""
    disable_telemetry()
    settings = Settings.from_env()
    # dbt profiles and dbt-loom read these; tasks run in processes that import the DAG file.
    os.environ.update(runtime_env(settings, connection_info(settings)))
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2026, 11, 1),
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md,
        tags=["mesh"],
    ) as dag:
        published = {}
        for domain in discover(settings.domains_dir):
            manifest = domain.manifest_in(settings.registry_dir)
            if not manifest.exists():
                raise MeshError(
                    f"no published manifest for domain {domain.name} at {manifest}", hint="run `mesh publish`"
                )
            with TaskGroup(group_id=domain.name):
                dbt = _dbt_group(domain, manifest)
                (
                    LoadDomainOperator(task_id="load", domain=domain.name)
                    >> validate.override(task_id="validate")(domain.name)
                    >> dbt
                )
                products = validate_products.override(task_id="validate_products")(domain.name)
                published[domain.name] = dbt >> products >> PublishDomainOperator(task_id="publish", domain=domain.name)
            for upstream in domain.upstream:
                published[upstream] >> dbt
        # After a build in which every domain published: the report and catalogue in the Airflow UI.
        list(published.values()) >> refresh_docs()
    return dag
