"""The mesh_build DAG file: imports cleanly, one group per domain, wired in dbt-loom order."""

from __future__ import annotations

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
    assert list(bag.dags) == ["mesh_build"]


def test_each_domain_is_a_group_and_downstream_waits_for_upstream_publish(registry: Path) -> None:
    settings = Settings.from_env()
    dag = load_dag(settings.dags_dir).dags["mesh_build"]
    domains = discover(settings.domains_dir)
    assert [d.name for d in domains] == ["users", "withdrawals"]
    for domain in domains:
        for step in ("load", "validate", "publish"):
            assert f"{domain.name}.{step}" in dag.task_dict
        models = [t for t in dag.task_dict if t.startswith(f"{domain.name}.dbt.") and t.endswith(".run")]
        assert models, f"no dbt model tasks rendered for {domain.name}"
    users_publish = dag.get_task("users.publish")
    downstream_of_users = users_publish.get_flat_relative_ids(upstream=False)
    withdrawals_dbt = {t for t in dag.task_dict if t.startswith("withdrawals.dbt.")}
    assert withdrawals_dbt <= downstream_of_users
    assert "withdrawals.load" not in downstream_of_users  # loading may start in parallel
    # a dbt model of withdrawals cannot run before its raw table is validated
    assert "withdrawals.validate" in dag.get_task("withdrawals.dbt.stg_withdrawals.run").get_flat_relative_ids(
        upstream=True
    )


def test_missing_published_manifest_is_a_clear_import_error(
    registry: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MESH_REGISTRY_DIR", str(tmp_path / "empty-registry"))
    bag = load_dag(Settings.from_env().dags_dir)
    (error,) = bag.import_errors.values()
    assert "no published manifest for domain users" in error
    assert "mesh publish" in error


def test_domain_cycle_is_reported(tmp_path: Path) -> None:
    for name, upstream in [("a", "b"), ("b", "a")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "dbt_project.yml").write_text(f"name: {name}\n")
        (tmp_path / name / "dbt_loom.config.yml").write_text(f"manifests:\n  - name: {upstream}\n")
    with pytest.raises(MeshError, match="cycle"):
        discover(tmp_path)
