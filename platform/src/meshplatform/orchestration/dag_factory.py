"""Build the ``mesh_build`` DAG from the domain folders: one task group per domain, upstream first.

Called by ``dags/mesh_build.py`` at parse time, so it reads files only (the domain projects and
their published manifests) and imports nothing heavy: each task imports what it needs when it runs.

No credential is read or put in the environment here. Each domain's dbt logs in with the Airflow
Connection ``mesh_<domain>`` (Cosmos builds the profile from it when the task runs) and runs in a
subprocess that inherits nothing but the harmless variables of ``registry.base_env``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, TaskGroup, task
from cosmos import DbtTaskGroup, ExecutionConfig, LoadMode, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode
from cosmos.profiles import PostgresUserPasswordProfileMapping

from meshplatform.config import TELEMETRY_OFF, Settings, disable_telemetry
from meshplatform.dbt.registry import base_env
from meshplatform.domains import Domain, discover
from meshplatform.errors import MeshError
from meshplatform.orchestration.operators import LoadDomainOperator, PublishDomainOperator
from meshplatform.warehouse.credentials import airflow_conn_id

# One `dbt build` per domain (the watcher "producer" task) instead of one dbt process per model and
# per test; each model and test keeps its own task, which reports the state dbt gave it. A
# subprocess, not dbt in the task's own process: it gets only the environment given here.
EXECUTION = ExecutionConfig(
    execution_mode=ExecutionMode.WATCHER,
    dbt_executable_path=str(Path(sys.executable).parent / "dbt"),
    invocation_mode=InvocationMode.SUBPROCESS,
)
# A test of several models belongs to the test task of each of them: the producer's `dbt build` runs it
# once, after all its models, and each of those tasks reports it (a detached test task would wait
# for a status the producer never reports).
RENDER = RenderConfig(load_method=LoadMode.DBT_MANIFEST, should_detach_multiple_parents_tests=False)


def _operator_args(settings: Settings) -> dict[str, object]:
    env = {
        **base_env(),
        "MESH_REGISTRY_DIR": str(settings.registry_dir),
        "MESH_DBT_DIR": str(settings.dbt_dir),  # where `mesh publish` installed the shared dbt package
        **TELEMETRY_OFF,
    }
    return {
        "install_deps": False,
        "callback": "meshplatform.orchestration.callbacks.record_dbt_results",
        "append_env": False,
        "env": env,
        # the per-model tasks only read the producer's results: a short poke, no triggerer needed, no
        # worker slot held while dbt runs
        "deferrable": False,
        "mode": "reschedule",
        "poke_interval": 1,
    }


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


def _dbt_group(domain: Domain, manifest: Path, settings: Settings) -> DbtTaskGroup:
    profile = PostgresUserPasswordProfileMapping(
        conn_id=airflow_conn_id(domain.name), profile_args={"schema": domain.name, "threads": 4, "connect_timeout": 10}
    )
    return DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(dbt_project_path=domain.path, manifest_path=manifest, project_name=domain.name),
        profile_config=ProfileConfig(profile_name=domain.name, target_name="dev", profile_mapping=profile),
        execution_config=EXECUTION,
        render_config=RENDER,
        operator_args=_operator_args(settings),
    )


def mesh_build_dag(dag_id: str = "mesh_build", *, doc_md: str | None = None) -> DAG:
    """The whole mesh: per domain ``load >> validate >> dbt >> validate_products >> publish``,
    each domain's dbt group after the publish of every domain it reads."""
    disable_telemetry()
    settings = Settings.from_env()
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
                dbt = _dbt_group(domain, manifest, settings)
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
