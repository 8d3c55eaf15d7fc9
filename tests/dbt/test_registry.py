"""Publishing a domain's manifest: dbt parse needs no database, and the platform's dbt writes
nothing into the domain folder (its target/ and logs/ go to $MESH_HOME/dbt/<domain>/), so
domains/ may be read-only, as in docker-compose.

Runs on a copy of the repository's domains/ (without their target/ and logs/): the real folders
may hold artifacts of other runs, which would hide a write.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from project_copy import DBT_OUTPUT, copy_project

from meshplatform.config import Settings
from meshplatform.dbt import registry
from meshplatform.domains import get
from meshplatform.errors import MeshError
from meshplatform.warehouse.connection import connection_info

pytestmark = pytest.mark.dbt


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder`` with its modification time and size."""
    return {
        str(path.relative_to(folder)): (path.stat().st_mtime_ns, path.stat().st_size)
        for path in [folder, *folder.rglob("*")]
    }


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A copy of the project's domains/ and an empty MESH_HOME; the warehouse URL names a closed port."""
    project = copy_project(tmp_path / "project")
    monkeypatch.setenv("MESH_PROJECT_DIR", str(project))
    monkeypatch.setenv("MESH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MESH_REGISTRY_DIR", raising=False)
    monkeypatch.setenv("MESH_DATABASE_URL", f"postgresql://postgres:unused@127.0.0.1:{_unused_port()}/mesh")
    # a user's dbt settings pointing into the domain must not send the artifacts there
    monkeypatch.setenv("DBT_TARGET_PATH", str(project / "domains" / "users" / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(project / "domains" / "users" / "logs"))
    return Settings.from_env()


def _publish(settings: Settings, name: str) -> Path:
    return registry.publish(get(settings.domains_dir, name), settings, connection_info(settings))


def test_publish_writes_the_manifest_to_the_registry_and_nothing_into_the_domain(settings: Settings) -> None:
    before = _snapshot(settings.domains_dir)

    published = _publish(settings, "users")

    assert published == settings.registry_dir / "users" / "manifest.json"
    manifest = json.loads(published.read_text(encoding="utf-8"))
    assert manifest["metadata"]["project_name"] == "users"
    assert "model.users.dim_users.v1" in manifest["nodes"], sorted(manifest["nodes"])[:10]
    # dbt's own output is in MESH_HOME, and the registry holds exactly the manifest dbt wrote there
    output = registry.dbt_output_dir(settings, get(settings.domains_dir, "users"))
    assert output == settings.home / "dbt" / "users"
    assert (output / "target" / "manifest.json").read_bytes() == published.read_bytes()
    assert (output / "logs" / "dbt.log").exists()
    # dbt deps installed the shared conventions package there too (a link to the local package)
    installed = output / "dbt_packages" / "mesh_conventions"
    assert installed.resolve() == (settings.project_dir / "platform" / "dbt" / "mesh_conventions").resolve()
    # the domain folder is exactly as before: no target/, logs/, dbt_packages/, .user.yml, partial
    # parse state, and no rewritten package-lock.yml
    assert _snapshot(settings.domains_dir) == before
    leftovers = [p for name in DBT_OUTPUT for p in settings.domains_dir.rglob(name)]
    assert not leftovers, leftovers
    assert not (settings.home / "registry" / "users" / "manifest.json.tmp").exists()


def test_downstream_domain_publishes_against_the_registry(settings: Settings) -> None:
    """withdrawals refs users through dbt-loom, which reads the registry; dbt still runs in the
    domain folder (dbt-loom finds dbt_loom.config.yml there) and writes nothing into it."""
    before = _snapshot(settings.domains_dir)
    with pytest.raises(MeshError, match="needs the published manifest"):
        _publish(settings, "withdrawals")

    _publish(settings, "users")
    published = _publish(settings, "withdrawals")
    # again: the second parse reuses the partial parse state kept in MESH_HOME
    assert _publish(settings, "withdrawals") == published

    manifest = json.loads(published.read_text(encoding="utf-8"))
    assert manifest["metadata"]["project_name"] == "withdrawals"
    injected = [uid for uid in manifest["nodes"] if uid.startswith("model.users.")]
    assert injected, "dbt-loom did not inject the users models from the registry"
    assert (settings.home / "dbt" / "withdrawals" / "target" / "partial_parse.msgpack").exists()
    assert _snapshot(settings.domains_dir) == before
