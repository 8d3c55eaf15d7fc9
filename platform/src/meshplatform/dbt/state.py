"""dbt without a database: parse the domain projects of a tree and compare their contracts with a state.

Everything dbt writes goes to a scratch folder (``--target-path``, ``--log-path``, the installed
packages, a scratch registry for dbt-loom), so a check never touches a domain's own ``target/``
or the published registry, and the same functions work on a checkout of another git revision.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshplatform.config import TELEMETRY_OFF
from meshplatform.dbt.registry import output_args, parse_project, run_dbt
from meshplatform.domains import Domain, discover
from meshplatform.errors import MeshError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A breaking change to an unversioned public model is only a warning in dbt; here it fails too.
_WARN_ERROR = '{"error": ["UnversionedBreakingChange"]}'


@dataclass(frozen=True)
class ParsedMesh:
    """The manifests of every domain of one tree, in a scratch registry (``<domain>/manifest.json``)."""

    domains: tuple[Domain, ...]
    registry_dir: Path
    work_dir: Path

    def manifest_dir(self, domain: str) -> Path:
        return self.registry_dir / domain

    def manifest(self, domain: str) -> dict[str, Any]:
        return json.loads((self.manifest_dir(domain) / "manifest.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class StateComparison:
    """What dbt's ``state:modified.contract`` says about one domain compared with a state."""

    domain: str
    modified: tuple[str, ...]
    breaking: str | None


def _scratch_args(work_dir: Path, domain: Domain) -> list[str]:
    """dbt's output of ``domain`` goes to the scratch folder, never to the project's target/ or logs/."""
    return output_args(work_dir / domain.name)


def _env(work_dir: Path, registry_dir: Path) -> dict[str, str]:
    """dbt-loom reads the scratch registry; the domain's packages are those parse_mesh installed."""
    return {**TELEMETRY_OFF, "MESH_REGISTRY_DIR": str(registry_dir), "MESH_DBT_DIR": str(work_dir)}


def parse_mesh(domains_dir: Path, work_dir: Path) -> ParsedMesh:
    """``dbt parse`` every domain under ``domains_dir``, upstream first (dbt-loom reads the scratch registry)."""
    registry_dir = work_dir / "registry"
    found = tuple(discover(domains_dir))
    for domain in found:
        manifest = parse_project(domain, work_dir, _env(work_dir, registry_dir))
        published = registry_dir / domain.name / "manifest.json"
        published.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(manifest, published)
    return ParsedMesh(found, registry_dir, work_dir)


def compare_contracts(mesh: ParsedMesh, domain: Domain, state_dir: Path) -> StateComparison:
    """Run ``dbt ls -s state:modified.contract --state <state_dir>`` in ``domain``.

    dbt raises ContractBreakingChangeError for a breaking change to a versioned model with an
    enforced contract (a removed or retyped column, a dropped constraint, a deleted version
    before its deprecation_date); its message becomes ``breaking``.
    """
    args = [
        "ls", "--quiet", "--select", "state:modified.contract", "--state", str(state_dir),
        "--resource-type", "model", "--output", "json", "--output-keys", "unique_id",
        # the target path of the parse: dbt reuses its partial-parse state instead of parsing again
        "--warn-error-options", _WARN_ERROR, *_scratch_args(mesh.work_dir, domain),
    ]  # fmt: skip
    try:
        output = run_dbt(domain, args, _env(mesh.work_dir, mesh.registry_dir))
    except MeshError as exc:
        text = _ANSI.sub("", exc.message)
        start = re.search("breaking change", text, re.IGNORECASE)
        if start is None:
            raise
        return StateComparison(domain.name, (), text[start.start() :].strip())
    ids = [json.loads(line)["unique_id"] for line in output.splitlines() if line.startswith("{")]
    own = tuple(i for i in ids if i.startswith(f"model.{domain.name}."))
    return StateComparison(domain.name, own, None)
