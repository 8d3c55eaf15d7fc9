"""Where things live and which environment variables change that.

Everything is derived from a handful of environment variables so that the CLI, Airflow tasks,
dbt and docker-compose all agree without a config file:

- ``MESH_DATABASE_URL``: a standard ``postgresql://user:pass@host:port/db`` URL. When set, the
  platform uses that server and starts nothing. When unset, it runs its own embedded Postgres.
- ``MESH_HOME``: local state (embedded Postgres data, exports, registry, Airflow home, logs);
  defaults to ``<project>/.mesh`` and is git-ignored.
- ``MESH_REGISTRY_DIR``: where published manifests live; defaults to ``$MESH_HOME/registry``.
- ``MESH_EMBEDDED_PORT``: TCP port of the embedded Postgres (default 55432).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from meshplatform.errors import MeshError

TELEMETRY_OFF = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "SCARF_ANALYTICS": "false",
}


def disable_telemetry() -> None:
    """Turn off usage pings of every tool, unless the user explicitly set the variable."""
    for name, value in TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)


def _project_dir() -> Path:
    if "MESH_PROJECT_DIR" in os.environ:
        return Path(os.environ["MESH_PROJECT_DIR"]).resolve()
    # platform/src/meshplatform/config.py -> project root (the package is installed editable)
    return Path(__file__).resolve().parents[3]


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise MeshError(f"MESH_EMBEDDED_PORT must be a TCP port number, got {text!r}")
    return int(text)


@dataclass(frozen=True)
class Settings:
    """Resolved locations and connection choice of one platform process."""

    project_dir: Path
    home: Path
    registry_dir: Path
    database_url: str | None
    embedded_port: int

    @classmethod
    def from_env(cls) -> Settings:
        project_dir = _project_dir()
        home = Path(os.environ.get("MESH_HOME") or project_dir / ".mesh").resolve()
        registry = Path(os.environ.get("MESH_REGISTRY_DIR") or home / "registry").resolve()
        return cls(
            project_dir=project_dir,
            home=home,
            registry_dir=registry,
            database_url=os.environ.get("MESH_DATABASE_URL") or None,
            embedded_port=_port(os.environ.get("MESH_EMBEDDED_PORT", "55432")),
        )

    @property
    def domains_dir(self) -> Path:
        return self.project_dir / "domains"

    @property
    def contracts_dir(self) -> Path:
        return self.project_dir / "contracts"

    @property
    def dags_dir(self) -> Path:
        return self.project_dir / "dags"

    @property
    def plugins_dir(self) -> Path:
        """Airflow's plugins folder: the plugin that serves the catalogue and report in the UI."""
        return self.project_dir / "platform" / "airflow_plugins"

    @property
    def dbt_dir(self) -> Path:
        """The platform's dbt output: ``<this>/<domain>/`` holds target/, logs/ and dbt_packages/."""
        return self.home / "dbt"

    @property
    def exports_dir(self) -> Path:
        return Path(os.environ.get("MESH_EXPORTS_DIR") or self.home / "exports")

    @property
    def pgdata_dir(self) -> Path:
        return self.home / "pgdata"

    @property
    def airflow_home(self) -> Path:
        return Path(os.environ.get("AIRFLOW_HOME") or self.home / "airflow")

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def lineage_file(self) -> Path:
        """OpenLineage events of the Airflow runs (file transport, one JSON event per line)."""
        return self.logs_dir / "openlineage.jsonl"

    @property
    def report_path(self) -> Path:
        """The HTML report of the published products (`mesh report`)."""
        return self.home / "report.html"

    @property
    def catalog_dir(self) -> Path:
        """The data product catalogue: catalog.html, catalog.json, contract pages (`mesh catalog`)."""
        return self.home / "catalog"

    @property
    def gx_dir(self) -> Path:
        """The Great Expectations file context; its Data Docs site is under uncommitted/data_docs/local_site."""
        return self.home / "gx"

    @property
    def data_docs_dir(self) -> Path:
        return self.gx_dir / "uncommitted" / "data_docs" / "local_site"
