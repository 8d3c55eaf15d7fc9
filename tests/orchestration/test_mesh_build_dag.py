"""The DAG files: a DAG per domain (tasks, Assets, schedule) and mesh_build (the same groups in
dbt-loom order), parsed with no database; a missing manifest is a failing task."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from meshplatform.config import Settings
from meshplatform.domains import discover
from meshplatform.errors import MeshError
from meshplatform.orchestration.runner import airflow_env

pytestmark = pytest.mark.dbt


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Publish real manifests (dbt parse needs no database) into a private registry."""
    from meshplatform.orchestration.steps import publish_domain

    home = tmp_path_factory.mktemp("dag_home")
    patch = pytest.MonkeyPatch()
    patch.setenv("MESH_HOME", str(home))
    patch.setenv("MESH_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/unused")
    settings = Settings.from_env()
    for domain in discover(settings.domains_dir):
        publish_domain(domain.name, settings)
    patch.setenv("AIRFLOW__CORE__DAGS_FOLDER", airflow_env(settings)["AIRFLOW__CORE__DAGS_FOLDER"])
    yield settings.registry_dir
    patch.undo()


def load_dag(dags_dir: Path):
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(dags_dir))
    print(f"DagBag parse of {dags_dir}: {time.perf_counter() - started:.2f}s")
    return bag


def test_dag_imports_without_errors_and_without_a_database(registry: Path) -> None:
    settings = Settings.from_env()
    bag = load_dag(settings.dags_dir)
    assert bag.import_errors == {}
    assert sorted(bag.dags) == ["domain_users", "domain_withdrawals", "mesh_build"]


def _chain(dag, prefix: str = "") -> None:
    """load >> validate >> dbt >> validate_products >> publish, and the dbt models in between."""
    upstream = dag.get_task(f"{prefix}publish").get_flat_relative_ids(upstream=True)
    for step in ("load", "validate", "validate_products"):
        assert f"{prefix}{step}" in upstream
    models = [t for t in upstream if t.startswith(f"{prefix}dbt.") and t.endswith(".run")]
    assert models, f"no dbt model tasks rendered before {prefix}publish"
    for model in models:
        assert f"{prefix}validate" in dag.get_task(model).get_flat_relative_ids(upstream=True)
        assert f"{prefix}load" in dag.get_task(model).get_flat_relative_ids(upstream=True)


def test_each_domain_dag_builds_its_domain_and_emits_an_asset_per_product_version(registry: Path) -> None:
    bag = load_dag(Settings.from_env().dags_dir)
    users, withdrawals = bag.dags["domain_users"], bag.dags["domain_withdrawals"]
    for dag in (users, withdrawals):
        _chain(dag)
        assert not any(t.startswith(("users.", "withdrawals.")) for t in dag.task_dict)  # its own tasks only
        assert set(dag.params) == {"full_refresh", "reload_from", "reload_to"}
    # the product versions of the contracts (contracts/users/dim_users.odcs.yaml: v2 and v1)
    assert [a.uri for a in users.get_task("publish").outlets] == [
        "mesh://users/dim_users/v2",
        "mesh://users/dim_users/v1",
    ]
    assert [a.uri for a in withdrawals.get_task("publish").outlets] == ["mesh://withdrawals/fct_withdrawals/v1"]
    assert not any(t.startswith("dbt.") and ".users" in t for t in withdrawals.task_dict)  # no users model rendered


def test_domain_schedules_come_from_the_contract_and_the_products_it_reads(registry: Path) -> None:
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    bag = load_dag(Settings.from_env().dags_dir)
    users = bag.dags["domain_users"].timetable
    assert isinstance(users, CronTriggerTimetable)
    assert users.expression == "0 6 * * *"  # slaProperties frequency schedule of dim_users' contract
    withdrawals = bag.dags["domain_withdrawals"].timetable
    assert isinstance(withdrawals, AssetOrTimeSchedule)
    assert withdrawals.timetable.expression == "0 6 * * *"
    # it reads ref('users', 'dim_users', v=1) (through dbt-loom): that version only, not v2
    assert [a.uri for a in withdrawals.asset_condition.objects] == ["mesh://users/dim_users/v1"]
    assert bag.dags["mesh_build"].timetable.asset_condition is None


def test_freshness_checks_block_nothing(registry: Path) -> None:
    dag = load_dag(Settings.from_env().dags_dir).dags["domain_withdrawals"]
    produced = dag.get_task("freshness.withdrawals__fct_withdrawals")
    assert produced.upstream_task_ids == {"publish"} and not produced.downstream_task_ids
    # measured after a failed build too, and the run's state stays the build's
    assert produced.trigger_rule == "all_done_setup_success" and produced.is_teardown
    assert not produced.on_failure_fail_dagrun
    consumed = dag.get_task("freshness.users__dim_users")
    assert not consumed.upstream_task_ids and not consumed.downstream_task_ids


def test_mesh_build_renders_every_domain_and_only_readers_of_users_wait_for_it(registry: Path) -> None:
    settings = Settings.from_env()
    dag = load_dag(settings.dags_dir).dags["mesh_build"]
    assert [d.name for d in discover(settings.domains_dir)] == ["users", "withdrawals"]
    for domain in ("users", "withdrawals"):
        _chain(dag, f"{domain}.")
        assert (
            f"{domain}.freshness.{domain}__{'dim_users' if domain == 'users' else 'fct_withdrawals'}" in dag.task_dict
        )
    after_users = dag.get_task("users.publish").get_flat_relative_ids(upstream=False)
    for reader in ("stg_users__dim_users", "dim_user_withdrawal_summary"):
        assert f"withdrawals.dbt.{reader}.run" in after_users
    for independent in ("stg_withdrawals", "fct_withdrawals_v1", "fct_daily_withdrawal_volumes"):
        assert f"withdrawals.dbt.{independent}.run" not in after_users
    assert "withdrawals.load" not in after_users  # loading may start in parallel


def test_missing_published_manifest_is_one_failing_task_not_an_import_error(
    registry: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.sdk import CronTriggerTimetable

    only_users = tmp_path / "registry"
    shutil.copytree(registry / "users", only_users / "users")
    monkeypatch.setenv("MESH_REGISTRY_DIR", str(only_users))
    bag = load_dag(Settings.from_env().dags_dir)
    assert bag.import_errors == {}
    assert sorted(bag.dags) == ["domain_users", "domain_withdrawals", "mesh_build"]
    assert any(t.startswith("dbt.") for t in bag.dags["domain_users"].task_dict)  # users is unaffected
    for dag, prefix in ((bag.dags["domain_withdrawals"], ""), (bag.dags["mesh_build"], "withdrawals.")):
        task = dag.get_task(f"{prefix}dbt")
        assert not any(t.startswith(f"{prefix}dbt.") for t in dag.task_dict)
        assert f"{prefix}publish" in task.get_flat_relative_ids(upstream=False)
        with pytest.raises(MeshError) as failure:
            task.python_callable(*task.op_args)
        assert "no published manifest for domain withdrawals" in str(failure.value)
        assert "run `mesh publish withdrawals`" in str(failure.value)
    # without a manifest nothing says what it reads: it runs on its timetable only
    assert isinstance(bag.dags["domain_withdrawals"].timetable, CronTriggerTimetable)


def test_domain_cycle_is_reported(tmp_path: Path) -> None:
    for name, upstream in [("a", "b"), ("b", "a")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "dbt_project.yml").write_text(f"name: {name}\n")
        (tmp_path / name / "dbt_loom.config.yml").write_text(f"manifests:\n  - name: {upstream}\n")
    with pytest.raises(MeshError, match="cycle"):
        discover(tmp_path)
