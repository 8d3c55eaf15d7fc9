"""Build the DAGs from the domain folders: one DAG per domain (``domain_<name>``, on its timetable
or when a product it reads is published) and ``mesh_build`` (every domain's same tasks in one DAG,
upstream first).

Called by the files in ``dags/`` at parse time, so it reads files only (the domain projects, the
contracts and the published manifests) and imports nothing heavy: each task imports what it needs
when it runs. A domain without a published manifest gets a failing ``dbt`` task, not an import error.

No credential is read or put in the environment here. Each domain's dbt logs in with the Airflow
Connection ``mesh_<domain>`` (Cosmos builds the profile from it when the task runs) and runs in a
subprocess that inherits nothing but the harmless variables of ``registry.base_env``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import (
    DAG,
    Asset,
    AssetAny,
    AssetOrTimeSchedule,
    BaseOperator,
    CronTriggerTimetable,
    Param,
    TaskGroup,
    task,
)
from cosmos import DbtTaskGroup, ExecutionConfig, LoadMode, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode
from cosmos.profiles import PostgresUserPasswordProfileMapping

from meshplatform.config import TELEMETRY_OFF, Settings, disable_telemetry
from meshplatform.contracts.model import products
from meshplatform.dbt.registry import base_env
from meshplatform.domains import Domain, discover
from meshplatform.errors import MeshError
from meshplatform.orchestration import assets
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
        # the per-model tasks only read the producer's results: no triggerer needed, no worker slot
        # held while dbt runs. Not a shorter interval: under LocalExecutor a task rescheduled sooner
        # than the scheduler processes its previous try's exit is failed as "changed externally".
        "deferrable": False,
        "mode": "reschedule",
        "poke_interval": 10,
    }


START = datetime(2026, 11, 1, tzinfo=UTC)

# The run controls of every DAG (the trigger form in the UI, `--conf` on the CLI and the REST API).
PARAMS = {
    "full_refresh": Param(
        False, type="boolean", description="Rebuild the incremental models from scratch (dbt --full-refresh)."
    ),
    "reload_from": Param(
        None,
        type=["null", "string"],
        format="date",
        description="Load the exports dated from this day (YYYY-MM-DD) again, although the ledger has them.",
    ),
    "reload_to": Param(
        None,
        type=["null", "string"],
        format="date",
        description="Last day (YYYY-MM-DD) of the exports to load again; empty: the same day as reload_from.",
    ),
}


def domain_dag_id(domain: str) -> str:
    return f"domain_{domain}"


@task
def validate(domain: str) -> int:
    from meshplatform.orchestration.steps import validate_domain

    return sum(len(report.outcomes) for report in validate_domain(domain))


@task
def validate_products(domain: str) -> int:
    from meshplatform.orchestration import steps

    return sum(len(report.outcomes) for report in steps.validate_products(domain))


@task
def check_freshness(product: str) -> str:
    """Fail when the product is older than its contract's freshness SLA (age of its last build)."""
    from meshplatform.orchestration.steps import check_freshness as check

    return check(product)


@task
def missing_manifest(domain: str, manifest: str) -> None:
    raise MeshError(
        f"no published manifest for domain {domain} at {manifest}: its dbt project cannot be rendered",
        hint=f"run `mesh publish {domain}`",
    )


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
        operator_args={**_operator_args(settings), "full_refresh": "{{ params.full_refresh }}"},
    )


def _product_label(contracts_dir: Path, ref: assets.ProductRef) -> str:
    """The data product (``domain.name``) of an upstream model version."""
    for product in products(contracts_dir, ref.domain):
        if any(v.model == ref.model for v in product.versions):
            return product.label
    return f"{ref.domain}.{ref.model}"


def _freshness_checks(produced: list[str], publish: BaseOperator, consumed: list[str]) -> None:
    """One check per product, none blocking a task. Of an upstream product it reads: at the start; a
    breach fails the run (it builds on stale data). Of a product it publishes: after ``publish``
    whatever its outcome (a failed build makes data stale), as a teardown, so that the run's state
    stays the build's own (a check downstream of ``publish`` would otherwise decide it)."""
    with TaskGroup(group_id="freshness"):
        for label in consumed:
            check_freshness.override(task_id=label.replace(".", "__"))(label)
        for label in produced:
            publish >> check_freshness.override(task_id=label.replace(".", "__"))(label).as_teardown()


def domain_tasks(
    domain: Domain, settings: Settings, consumed: list[str] | None = None
) -> tuple[DbtTaskGroup | BaseOperator, BaseOperator]:
    """``load >> validate >> dbt >> validate_products >> publish`` and a freshness check of each
    product the domain publishes and of each ``consumed`` upstream product; returns (dbt, publish)."""
    manifest = domain.manifest_in(settings.registry_dir)
    load = LoadDomainOperator(
        task_id="load",
        domain=domain.name,
        reload_from="{{ params.reload_from or '' }}",
        reload_to="{{ params.reload_to or '' }}",
    )
    if manifest.exists():
        dbt: DbtTaskGroup | BaseOperator = _dbt_group(domain, manifest, settings)
    else:
        dbt = missing_manifest.override(task_id="dbt")(domain.name, str(manifest))
    load >> validate.override(task_id="validate")(domain.name) >> dbt
    outlets = [Asset(uri) for uri in assets.produced(settings.contracts_dir, domain.name)]
    publish = PublishDomainOperator(task_id="publish", domain=domain.name, outlets=outlets)
    dbt >> validate_products.override(task_id="validate_products")(domain.name) >> publish
    _freshness_checks([p.label for p in products(settings.contracts_dir, domain.name)], publish, consumed or [])
    return dbt, publish


def _schedule(domain: Domain, settings: Settings, consumed: list[assets.ProductRef]) -> object:
    timetable = CronTriggerTimetable(assets.schedule(settings.contracts_dir, domain.name), timezone="UTC")
    if not consumed:
        return timetable
    return AssetOrTimeSchedule(timetable=timetable, assets=AssetAny(*(Asset(ref.uri) for ref in consumed)))


def domain_dag(domain: Domain, settings: Settings) -> DAG:
    """The DAG of one domain: its own timetable, or a run when a product version it reads is published."""
    consumed = assets.consumed(domain, domain.manifest_in(settings.registry_dir))
    with DAG(
        dag_id=domain_dag_id(domain.name),
        schedule=_schedule(domain, settings, consumed),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        params=PARAMS,
        doc_md=f"### {domain.name}\n\n{DOMAIN_DOC}",
        tags=["mesh", "domain"],
    ) as dag:
        domain_tasks(domain, settings, sorted({_product_label(settings.contracts_dir, ref) for ref in consumed}))
    return dag


def domain_dags() -> dict[str, DAG]:
    """One DAG per domain folder, by DAG id."""
    disable_telemetry()
    settings = Settings.from_env()
    return {domain_dag_id(d.name): domain_dag(d, settings) for d in discover(settings.domains_dir)}


def mesh_build_dag(dag_id: str = "mesh_build", *, doc_md: str | None = None) -> DAG:
    """The whole mesh in one DAG: each domain's tasks in a group, its dbt build after the publish of
    every domain it reads, then the report and catalogue."""
    disable_telemetry()
    settings = Settings.from_env()
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        params=PARAMS,
        doc_md=doc_md,
        tags=["mesh"],
    ) as dag:
        published: dict[str, BaseOperator] = {}
        for domain in discover(settings.domains_dir):
            with TaskGroup(group_id=domain.name):
                dbt, published[domain.name] = domain_tasks(domain, settings)
            # One `dbt build` per domain (watcher mode) reads its upstream products as it goes: it
            # starts once they are published. Load and validate run in parallel with the upstream.
            [published[name] for name in domain.upstream] >> dbt
        # After a build in which every domain published: the report and catalogue in the Airflow UI.
        list(published.values()) >> refresh_docs()
    return dag


DOMAIN_DOC = """The domain's build, generated from its folder under `domains/`:

1. **load**: its export files into its raw schema (idempotent, quarantine, ledger)
2. **validate**: the raw tables with Great Expectations (suites derived from `contracts/`)
3. **dbt**: its dbt project, rendered by Cosmos from its published manifest; tests run after each model
4. **validate_products**: every published version of its data products against its contract (GX)
5. **publish**: its manifest to the registry and an Asset event `mesh://<domain>/<model>/v<version>`
   per product version

**freshness**: one check per product it publishes (after publish, whatever the build did) and per
upstream product it reads (at the start); a product older than its contract's freshness SLA fails
its check and nothing else.

Scheduled by the `frequency` SLA of its product contracts (cron) or when a product version it
reads is published. Params: `full_refresh`, `reload_from` / `reload_to`.
"""
