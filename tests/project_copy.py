"""Helpers of the contract-check tests: change a copy of the project, never the project itself."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from paths import PROJECT_DIR

from meshplatform.config import Settings

DIM_USERS_CONTRACT = Path("contracts/users/dim_users.odcs.yaml")
FCT_WITHDRAWALS_CONTRACT = Path("contracts/withdrawals/fct_withdrawals.odcs.yaml")
DIM_USERS_YML = Path("domains/users/models/marts/dim_users.yml")
FCT_WITHDRAWALS_YML = Path("domains/withdrawals/models/marts/fct_withdrawals.yml")


# dbt's output in a domain folder (a standalone `dbt build` there leaves it; the copy must not)
DBT_OUTPUT = ("target", "logs", "dbt_packages", ".user.yml", "*.tmp")


def copy_project(dest: Path) -> Path:
    """contracts/, domains/ and the shared dbt package platform/dbt/ (without build output), ready to be changed."""
    shutil.copytree(PROJECT_DIR / "contracts", dest / "contracts")
    ignore = shutil.ignore_patterns(*DBT_OUTPUT)
    shutil.copytree(PROJECT_DIR / "domains", dest / "domains", ignore=ignore)
    shutil.copytree(PROJECT_DIR / "platform" / "dbt", dest / "platform" / "dbt", ignore=ignore)
    return dest


def edit_yaml(path: Path, change: Callable[[dict[str, Any]], object]) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def schema_object(contract: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in contract["schema"] if o["name"] == name)


def prop(contract: dict[str, Any], obj: str, column: str) -> dict[str, Any]:
    return next(p for p in schema_object(contract, obj)["properties"] if p["name"] == column)


def dbt_model(document: dict[str, Any]) -> dict[str, Any]:
    (model,) = document["models"]
    return model


def dbt_version(document: dict[str, Any], v: int) -> dict[str, Any]:
    return next(x for x in dbt_model(document)["versions"] if x["v"] == v)


def dbt_column(columns: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(c for c in columns if c.get("name") == name)


def to_v1_era(project: Path) -> None:
    """Turn a copy into the state before dim_users v2: contract 1.0.0 with v1 only, dbt latest_version 1."""

    def contract(document: dict[str, Any]) -> None:
        v1 = schema_object(document, "dim_users_v1")
        v1.pop("tags", None)
        v1["customProperties"] = [c for c in v1["customProperties"] if c["property"] != "deprecationDate"]
        document["version"] = "1.0.0"
        document["schema"] = [v1]

    def dbt(document: dict[str, Any]) -> None:
        model = dbt_model(document)
        v1 = dbt_version(document, 1)
        model["latest_version"] = 1
        model["columns"] = [c for c in v1.pop("columns") if "name" in c]
        v1.pop("deprecation_date")
        model["versions"] = [v1]
        document["unit_tests"] = [t for t in document["unit_tests"] if t["versions"]["include"] == [1]]
        for test in document["unit_tests"]:
            test.pop("versions")

    edit_yaml(project / DIM_USERS_CONTRACT, contract)
    edit_yaml(project / DIM_USERS_YML, dbt)
    (project / "domains/users/models/marts/dim_users_v2.sql").unlink()


def git(repo: Path, *args: str) -> str:
    """git in a throwaway repository of a test (never in the project)."""
    assert repo.resolve() != PROJECT_DIR.resolve()
    result = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def use_project(monkeypatch: pytest.MonkeyPatch, project: Path, registry: Path | None = None) -> Settings:
    """Point the platform at a copy of the project (and a registry folder, empty by default)."""
    monkeypatch.setenv("MESH_PROJECT_DIR", str(project))
    monkeypatch.setenv("MESH_HOME", str(project / ".mesh"))
    monkeypatch.setenv("MESH_REGISTRY_DIR", str(registry or project / ".mesh" / "registry"))
    return Settings.from_env()
