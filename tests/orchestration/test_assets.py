"""What a domain DAG produces, reads and when it runs, derived from contracts and manifests, and
the reload range of its params."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from paths import PROJECT_DIR

from meshplatform.domains import Domain
from meshplatform.errors import MeshError
from meshplatform.orchestration import assets
from meshplatform.orchestration.steps import reload_range

CONTRACTS = PROJECT_DIR / "contracts"


def test_produced_versions_are_the_contracts_schema_objects() -> None:
    assert assets.produced(CONTRACTS, "users") == ["mesh://users/dim_users/v2", "mesh://users/dim_users/v1"]
    assert assets.produced(CONTRACTS, "nobody") == []


def test_consumed_versions_are_the_upstream_models_its_models_depend_on(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    nodes = {
        "model.sales.a": {"resource_type": "model", "package_name": "sales",
                          "depends_on": {"nodes": ["model.users.dim_users.v1", "model.sales.b"]}},
        "model.sales.b": {"resource_type": "model", "package_name": "sales",
                          "depends_on": {"nodes": ["model.users.dim_accounts", "model.other.x.v3"]}},
        "test.sales.t": {"resource_type": "test", "package_name": "sales",
                         "depends_on": {"nodes": ["model.users.dim_users.v2"]}},
    }  # fmt: skip
    manifest.write_text(json.dumps({"nodes": nodes}))
    domain = Domain("sales", tmp_path, ("users",))
    # a pinned version as pinned; an unversioned model as v1; a domain not in dbt_loom.config.yml ignored
    assert assets.consumed(domain, manifest) == [
        assets.ProductRef("users", "dim_accounts", 1),
        assets.ProductRef("users", "dim_users", 1),
    ]
    assert assets.readers_of_upstream(domain, manifest) == ["model.sales.a", "model.sales.b", "test.sales.t"]
    assert assets.consumed(domain, tmp_path / "missing.json") == []
    assert assets.consumed(Domain("sales", tmp_path, ()), manifest) == []


def _contract(folder: Path, source: str, domain: str, schedule: str | None) -> None:
    text = (CONTRACTS / "users" / "dim_users.odcs.yaml").read_text(encoding="utf-8")
    text = text.replace("domain: users", f"domain: {domain}").replace('"0 6 * * *"', f'"{schedule}"')
    if schedule is None:
        text = text.replace("    scheduler: cron\n", "").replace('    schedule: "None"\n', "")
    (folder / domain).mkdir(parents=True, exist_ok=True)
    (folder / domain / source).write_text(text, encoding="utf-8")


def test_schedule_is_the_frequency_sla_of_the_domains_product_contracts(tmp_path: Path) -> None:
    assert assets.schedule(CONTRACTS, "users") == "0 6 * * *"
    _contract(tmp_path, "a.odcs.yaml", "sales", "30 2 * * 1-5")
    assert assets.schedule(tmp_path, "sales") == "30 2 * * 1-5"
    _contract(tmp_path, "b.odcs.yaml", "sales", "0 3 * * *")
    with pytest.raises(MeshError, match=r"different schedules: \['0 3 \* \* \*', '30 2 \* \* 1-5'\]"):
        assets.schedule(tmp_path, "sales")
    _contract(tmp_path, "a.odcs.yaml", "hr", None)
    assert assets.schedule(tmp_path, "hr") == "@daily"
    shutil.rmtree(tmp_path / "hr")
    assert assets.schedule(tmp_path, "hr") == "@daily"  # no product contract at all


def test_reload_range_reads_the_params_and_refuses_nonsense() -> None:
    assert reload_range("", "") is None
    assert reload_range("2026-11-02", "") == (date(2026, 11, 2), date(2026, 11, 2))
    assert reload_range("2026-11-01", "2026-11-03") == (date(2026, 11, 1), date(2026, 11, 3))
    with pytest.raises(MeshError, match="reload_to is set but reload_from is not"):
        reload_range("", "2026-11-03")
    with pytest.raises(MeshError, match="must be dates"):
        reload_range("yesterday", "")
    with pytest.raises(MeshError, match="reload_from 2026-11-03 is after reload_to 2026-11-01"):
        reload_range("2026-11-03", "2026-11-01")
