"""The contracts in ``contracts/`` are the source of truth: lint them, check the dbt models against them.

- ``lint``: every contract validates against the ODCS JSON schema of its ``apiVersion``
  (datacontract-cli) and the platform can read it; a product contract names its owner, a support
  channel and a freshness SLA.
- ``check`` (drift): the dbt YAML of each public model, as dbt itself parses it, says what the
  product contract says: versions, relation, access, enforced contract, deprecation dates, and per
  column the data type, required, primary key, unique and valid values. Every public model has a
  contract, and every cross-domain ref to a versioned model pins a version. The dbt source tests
  of each raw table say what its inbound contract says (``sources``).

Each disagreement is a :class:`Finding` naming the product, version, column and field.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from meshplatform.config import Settings
from meshplatform.contracts.findings import CheckReport, Finding, describe_values
from meshplatform.contracts.model import (
    ColumnSpec,
    ModelVersionSpec,
    ProductSpec,
    inbound_sources,
    product_spec,
    products,
    read_contract,
    source_spec,
)  # fmt: skip
from meshplatform.contracts.ownership import problems as ownership_problems
from meshplatform.contracts.sources import source_drift
from meshplatform.dbt.state import parse_mesh
from meshplatform.errors import MeshError

# dbt data_type (Postgres) -> the ODCS logicalType a contract must give it
_LOGICAL_TYPES = {
    "bigint": "integer", "integer": "integer", "int": "integer", "smallint": "integer",
    "text": "string", "varchar": "string", "character varying": "string",
    "date": "date", "timestamptz": "timestamp", "timestamp": "timestamp",
    "boolean": "boolean", "numeric": "number", "double precision": "number", "real": "number",
}  # fmt: skip
# contract physicalType of a schema object -> dbt materializations that build it
_MATERIALIZATIONS = {"table": ("table", "incremental"), "view": ("view",)}


HINTS = {
    "lint": "make the contract validate against the ODCS JSON schema of its apiVersion "
    "(`datacontract lint <file>` shows the same)",
    "check": "make the dbt YAML of the model (or the dbt source tests of the raw table) say what its contract in "
    "contracts/ says: the contract is the source of truth",
    "breaking": "leave published versions as they are: add the change as a new model version (dbt versions + a schema "
    "object in the contract), bump the contract's major version, keep the old version with a deprecation date "
    "(docs/decisions/0006-contracts-source-of-truth.md)",
}


def render(report: CheckReport) -> str:
    """The report as a reviewer reads it: what was compared, what passed, what to fix."""
    lines = [f"== contracts {report.name}"]
    lines += [f"   {note}" for note in report.notes]
    lines += [f"ok   {line}" for line in report.passed]
    lines += [f"FAIL {finding}" for finding in report.findings]
    verdict = "passed" if report.ok else f"{len(report.findings)} problem(s)"
    lines.append(f"contracts {report.name}: {len(report.passed)} ok, {verdict}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- lint


def lint(contracts_dir: Path) -> CheckReport:
    """Validate every contract against the ODCS JSON schema and read it as the platform does."""
    from datacontract.data_contract import DataContract

    report = CheckReport("lint")
    for path in sorted(contracts_dir.glob("*/*.odcs.yaml")):
        label = str(path.relative_to(contracts_dir.parent))
        run = DataContract(data_contract_file=str(path), all_errors=True).lint()
        problems = [c for c in run.checks if c.result.value not in ("passed", "info")]
        report.findings.extend(Finding(label, None, c.field, "odcs", f"{c.name}: {c.reason}") for c in problems)
        if problems:
            continue
        try:
            kind = _read_as_platform(path)
        except MeshError as exc:
            report.findings.append(Finding(label, None, None, "platform", str(exc)))
            continue
        if kind == "data product" and (missing := ownership_problems(read_contract(path))):
            report.findings.extend(Finding(label, None, None, "ownership", problem) for problem in missing)
            continue
        report.passed.append(f"{label}: {'; '.join(c.name for c in run.checks)} ({kind})")
    if not report.passed and not report.findings:
        report.findings.append(Finding(str(contracts_dir), None, None, "contracts", "no *.odcs.yaml contract found"))
    return report


def _read_as_platform(path: Path) -> str:
    tags = read_contract(path).get("tags") or []
    if "inbound" in tags:
        source_spec(path)
        return "inbound export"
    if "product" in tags:
        product_spec(path)
        return "data product"
    raise MeshError("the contract is tagged neither inbound nor product, so the platform does not read it")


# --------------------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class _DbtColumn:
    """What dbt guarantees about one column of a model version: constraints and generic tests."""

    data_type: str | None
    not_null: bool
    primary_key: bool
    unique: bool
    accepted_values: frozenset[str] | None
    positive: bool


def _norm_type(data_type: str | None) -> str:
    return " ".join((data_type or "").lower().split()).replace(", ", ",")


_Tests = Mapping[tuple[str, str], list[dict[str, Any]]]


def _tests_by_column(manifest: Mapping[str, Any]) -> _Tests:
    """The generic data tests of each (model unique_id, column)."""
    tests: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for node in manifest["nodes"].values():
        metadata = node.get("test_metadata")
        if node["resource_type"] == "test" and metadata and node.get("attached_node") and node.get("column_name"):
            tests[(node["attached_node"], node["column_name"])].append(metadata)
    return tests


def _dbt_columns(node: Mapping[str, Any], tests: _Tests) -> dict[str, _DbtColumn]:
    model_pk = {c for k in node.get("constraints", []) if k["type"] == "primary_key" for c in k.get("columns", [])}
    model_unique = {c for k in node.get("constraints", []) if k["type"] == "unique" for c in k.get("columns", [])}
    columns = {}
    for name, column in node["columns"].items():
        kinds = {k["type"] for k in column.get("constraints", [])}
        column_tests = tests.get((node["unique_id"], name), [])
        names = {t["name"] for t in column_tests}
        accepted = next((t["kwargs"].get("values") for t in column_tests if t["name"] == "accepted_values"), None)
        primary_key = "primary_key" in kinds or name in model_pk
        columns[name] = _DbtColumn(
            data_type=column.get("data_type"),
            not_null="not_null" in kinds or primary_key,
            primary_key=primary_key,
            unique="unique" in names or "unique" in kinds or name in model_unique or primary_key,
            accepted_values=frozenset(map(str, accepted)) if accepted is not None else None,
            positive="positive_value" in names,
        )
    return columns


def _has(flag: bool) -> str:
    return "has" if flag else "has no"


def _column_drift(
    product: ProductSpec, version: ModelVersionSpec, spec: ColumnSpec, dbt: _DbtColumn
) -> Iterable[Finding]:
    def finding(field_name: str, message: str) -> Finding:
        return Finding(product.label, version.version, spec.name, field_name, message)

    physical = _norm_type(spec.physical_type)
    if physical != _norm_type(dbt.data_type):
        yield finding("data_type", f"contract physicalType is {spec.physical_type}, dbt data_type is {dbt.data_type}")
    logical = _LOGICAL_TYPES.get(physical.split("(")[0])
    if logical and spec.logical_type != logical:
        yield finding("logicalType", f"contract logicalType is {spec.logical_type}, {physical} is {logical}")
    if spec.required != dbt.not_null:
        said = "required" if spec.required else "optional"
        yield finding("required", f"contract says {said}, dbt {_has(dbt.not_null)} not_null constraint")
    if spec.primary_key != dbt.primary_key:
        said = "part of" if spec.primary_key else "not part of"
        has = _has(dbt.primary_key)
        yield finding("primaryKey", f"contract says {said} the primary key, dbt {has} primary_key constraint on it")
    if (spec.unique or spec.primary_key) != dbt.unique:
        said = "unique" if spec.unique else "not unique"
        yield finding("unique", f"contract says {said}, dbt {_has(dbt.unique)} unique test or constraint")
    allowed = frozenset(spec.allowed_values) if spec.allowed_values is not None else None
    if allowed != dbt.accepted_values:
        dbt_allows = f"dbt accepted_values test allows {describe_values(dbt.accepted_values)}"
        yield finding("validValues", f"contract allows {describe_values(allowed)}, {dbt_allows}")
    positive = spec.exclusive_minimum == 0
    if positive != dbt.positive:
        said = "> 0" if positive else "no lower bound of 0"
        yield finding("exclusiveMinimum", f"contract says {said}, dbt {_has(dbt.positive)} positive_value test")


def _version_drift(
    product: ProductSpec, version: ModelVersionSpec, node: Mapping[str, Any], tests: _Tests
) -> Iterable[Finding]:
    def finding(field_name: str, message: str) -> Finding:
        return Finding(product.label, version.version, None, field_name, message)

    model = f"dbt model {version.model} v{version.version}"
    if node.get("access") != "public":
        yield finding("access", f"{model} has access {node.get('access')}, a data product is public")
    if not node["contract"]["enforced"]:
        yield finding("contract.enforced", f"{model} does not enforce its contract")
    if node.get("latest_version") != product.major:
        expected = f"contract version {product.version} means latest_version {product.major}"
        yield finding("latest_version", f"{expected}, dbt has latest_version {node.get('latest_version')}")
    relation = f"{node['schema']}.{node['alias']}"
    if relation != version.qualified_table:
        yield finding("physicalName", f"contract says {version.qualified_table}, dbt builds {relation} (schema/alias)")
    materialized = node["config"]["materialized"]
    if materialized not in _MATERIALIZATIONS.get(version.materialization, ()):
        yield finding("physicalType", f"contract says {version.materialization}, dbt materializes {materialized}")
    dbt_date = date.fromisoformat(node["deprecation_date"][:10]) if node.get("deprecation_date") else None
    if dbt_date != version.deprecation_date:
        said = version.deprecation_date or "none"
        yield finding("deprecationDate", f"contract says {said}, dbt deprecation_date is {dbt_date or 'none'}")
    if version.version != product.latest.version and version.deprecation_date is None:
        older = f"v{version.version} is older than the latest v{product.latest.version}"
        yield finding("deprecationDate", f"{older}: give it a deprecation date")
    dbt_columns = _dbt_columns(node, tests)
    for name in [c for c in version.column_names if c not in dbt_columns]:
        yield Finding(product.label, version.version, name, "columns", "in the contract, missing from the dbt model")
    for name in [c for c in dbt_columns if c not in version.column_names]:
        yield Finding(product.label, version.version, name, "columns", "in the dbt model, missing from the contract")
    for spec in version.columns:
        if spec.name in dbt_columns:
            yield from _column_drift(product, version, spec, dbt_columns[spec.name])


def _product_drift(product: ProductSpec, manifest: Mapping[str, Any]) -> Iterable[Finding]:
    tests = _tests_by_column(manifest)
    for version in product.versions:
        node = manifest["nodes"].get(_unique_id(product, version))
        if node is None:
            missing = f"no dbt model {version.model} with version {version.version} in domain {product.domain}"
            yield Finding(product.label, version.version, None, "versions", missing)
        else:
            yield from _version_drift(product, version, node, tests)


def _unique_id(product: ProductSpec, version: ModelVersionSpec) -> str:
    return f"model.{product.domain}.{version.model}.v{version.version}"


def drift(product_specs: Iterable[ProductSpec], manifests: Mapping[str, Mapping[str, Any]]) -> CheckReport:
    """Compare each product contract with its producer's parsed dbt manifest."""
    report = CheckReport("check")
    covered: set[str] = set()
    for product in product_specs:
        covered.update(_unique_id(product, v) for v in product.versions)
        manifest = manifests.get(product.domain)
        findings = (
            list(_product_drift(product, manifest))
            if manifest is not None
            else [Finding(product.label, None, None, "domain", f"no dbt project named {product.domain} under domains/")]
        )
        report.findings.extend(findings)
        if not findings:
            listed = ", ".join(f"v{v.version} {v.qualified_table}" for v in product.versions)
            report.passed.append(f"{product.label} {product.version}: dbt agrees ({listed})")
    for domain, manifest in manifests.items():
        report.findings.extend(_uncovered_public_models(domain, manifest, covered))
        report.findings.extend(_unpinned_refs(domain, manifest))
    return report


def _uncovered_public_models(domain: str, manifest: Mapping[str, Any], covered: set[str]) -> Iterable[Finding]:
    for unique_id, node in manifest["nodes"].items():
        own_model = node["resource_type"] == "model" and node["package_name"] == domain
        if own_model and node.get("access") == "public" and unique_id not in covered:
            missing = f"public dbt model {unique_id} has no product contract (schema object) in contracts/{domain}/"
            yield Finding(f"{domain}.{node['name']}", node.get("version"), None, "contract", missing)


def _unpinned_refs(domain: str, manifest: Mapping[str, Any]) -> Iterable[Finding]:
    """A cross-domain ref to a versioned model must pin the version (a new latest must not move it)."""
    versioned = {(n["package_name"], n["name"]) for n in manifest["nodes"].values() if n.get("version") is not None}
    for unique_id, node in manifest["nodes"].items():
        if node["package_name"] != domain:
            continue
        for ref in node.get("refs", []):
            package, name = ref.get("package"), ref["name"]
            if package not in (None, domain) and (package, name) in versioned and ref.get("version") is None:
                fix = f"pin it, e.g. ref('{package}', '{name}', v=1)"
                yield Finding(f"{package}.{name}", None, None, "ref", f"{unique_id} refs it without a version: {fix}")


def check(settings: Settings) -> CheckReport:
    """Parse every domain (no database); compare the public models with their product contracts and
    the dbt source tests of each raw table with its inbound contract."""
    with tempfile.TemporaryDirectory(prefix="mesh-contracts-") as scratch:
        mesh = parse_mesh(settings.domains_dir, Path(scratch))
        manifests = {d.name: mesh.manifest(d.name) for d in mesh.domains}
    report = drift(products(settings.contracts_dir), manifests)
    passed, findings = source_drift(inbound_sources(settings.contracts_dir), manifests)
    report.passed.extend(passed)
    report.findings.extend(findings)
    return report
