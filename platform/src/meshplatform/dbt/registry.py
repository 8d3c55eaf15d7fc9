"""Run a domain's dbt project and publish its manifest to the registry.

The registry is a folder (``MESH_REGISTRY_DIR``) with one ``<domain>/manifest.json`` per
domain. Downstream domains read it through dbt-loom; the Airflow DAG renders from it.

The platform's own dbt runs write nothing into a domain's folder: their ``target/`` and ``logs/``
go to ``$MESH_HOME/dbt/<domain>/`` (``--target-path``/``--log-path``, which also override a
``DBT_TARGET_PATH``/``DBT_LOG_PATH`` of the user), and ``dbt deps`` installs the domain's packages
(the local ``mesh_conventions`` package) into ``$MESH_HOME/dbt/<domain>/dbt_packages``: each
domain's ``packages-install-path`` reads ``MESH_DBT_DIR``, and its committed ``package-lock.yml``
keeps dbt from rewriting the lock. So ``domains/`` may be read-only, as in docker-compose, where it
is mounted ``:ro`` and the containers run as another uid.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from meshplatform.config import TELEMETRY_OFF, Settings
from meshplatform.domains import Domain
from meshplatform.errors import MeshError
from meshplatform.warehouse.connection import ConnectionInfo

# What a dbt process inherits from the platform's environment: nothing that could hold a secret
# (MESH_DATABASE_URL, other domains' passwords, ...), since a model can read any variable.
_INHERITED = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "VIRTUAL_ENV")


def base_env() -> dict[str, str]:
    """The harmless part of this process's environment, for a dbt process."""
    return {k: os.environ[k] for k in _INHERITED if k in os.environ}


def runtime_env(settings: Settings, info: ConnectionInfo, domain: str | None = None) -> dict[str, str]:
    """Variables dbt and dbt-loom need; also what `mesh env` prints. The login and password only
    with ``domain``, and then ``info`` must be that domain's own login."""
    return {
        **info.dbt_env(domain),
        "MESH_REGISTRY_DIR": str(settings.registry_dir),
        "MESH_DBT_DIR": str(settings.dbt_dir),
        **{k: os.environ.get(k, v) for k, v in TELEMETRY_OFF.items()},
    }


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def dbt_output_dir(settings: Settings, domain: Domain) -> Path:
    """Where the platform's dbt runs of ``domain`` write: ``<this>/target`` and ``<this>/logs``."""
    return settings.dbt_dir / domain.name


def output_args(output_dir: Path) -> list[str]:
    """dbt flags sending the artifacts (manifest, partial parse state) and dbt.log to ``output_dir``."""
    return ["--target-path", str(output_dir / "target"), "--log-path", str(output_dir / "logs")]


def run_dbt(domain: Domain, args: list[str], env: dict[str, str]) -> str:
    """Run dbt in the domain's folder with its own profile and only ``env`` (plus :func:`base_env`);
    fail with dbt's own last lines."""
    command = [dbt_executable(), *args, "--project-dir", str(domain.path), "--profiles-dir", str(domain.path)]
    result = subprocess.run(
        command, cwd=domain.path, env={**base_env(), **env}, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        tail = tail or f"(no output; exit code {result.returncode})"
        raise MeshError(
            f"`dbt {' '.join(args)}` failed in domain {domain.name}:\n{tail}",
            hint=f'reproduce with: cd {domain.path} && eval "$(mesh env {domain.name})" && dbt {" ".join(args)}',
        )
    return result.stdout


def parse_project(domain: Domain, dbt_dir: Path, env: dict[str, str]) -> Path:
    """``dbt deps`` (local packages only: no network) and ``dbt parse`` of ``domain``, writing only
    under ``dbt_dir/<domain>/`` (packages, target, logs); return the manifest dbt wrote."""
    output_dir = dbt_dir / domain.name
    env = {**env, "MESH_DBT_DIR": str(dbt_dir)}
    run_dbt(domain, ["deps", "--quiet", "--log-path", str(output_dir / "logs")], env)
    run_dbt(domain, ["parse", "--quiet", *output_args(output_dir)], env)
    return output_dir / "target" / "manifest.json"


def publish(domain: Domain, settings: Settings, info: ConnectionInfo) -> Path:
    """Parse the domain (no database needed, so no login either) and publish its manifest atomically."""
    missing = [u for u in domain.upstream if not (settings.registry_dir / u / "manifest.json").exists()]
    if missing:
        raise MeshError(
            f"domain {domain.name} needs the published manifest of {missing} first",
            hint=f"publish upstream domains first: mesh publish {' '.join(missing)}",
        )
    manifest = parse_project(domain, settings.dbt_dir, runtime_env(settings, info))
    target = domain.manifest_in(settings.registry_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".json.tmp")
    shutil.copyfile(manifest, staging)
    staging.replace(target)
    return target
