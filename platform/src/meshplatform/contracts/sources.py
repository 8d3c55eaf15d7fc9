"""Drift between an inbound contract and the dbt source tests of the raw table it describes.

The inbound contract is where a rule of an export is written (required, key, valid values, lower
bound); the loader and the Great Expectations suite read it. A domain's dbt source YAML repeats
those rules as tests (dbt cannot read a contract), so ``mesh contracts check`` compares the two:
for each contract column, the dbt source of ``raw_<domain>.<table>`` must test exactly what the
contract says, no more and no less.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from meshplatform.contracts.findings import Finding, describe_values
from meshplatform.contracts.model import ColumnSpec, SourceSpec

# The only lower bound dbt tests: mesh_conventions.positive_value (> 0).
_POSITIVE = "> 0"


@dataclass(frozen=True)
class _SourceColumnTests:
    """The generic tests dbt runs on one column of a source."""

    not_null: bool
    unique: bool
    accepted_values: frozenset[str] | None
    lower_bound: str | None


def _contract_bound(spec: ColumnSpec) -> str | None:
    if spec.exclusive_minimum is not None:
        return f"> {spec.exclusive_minimum:g}"
    if spec.minimum is not None:
        return f">= {spec.minimum:g}"
    return None


def _source_node(spec: SourceSpec, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    return next(
        (
            node
            for node in manifest["sources"].values()
            if node["package_name"] == spec.domain and (node["schema"], node["identifier"]) == (spec.schema, spec.table)
        ),
        None,
    )


def _tests_on(source_id: str, manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The generic data tests of the source: test metadata plus the column it is attached to."""
    return [
        {**node["test_metadata"], "column_name": node.get("column_name")}
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node.get("test_metadata") and node["depends_on"]["nodes"] == [source_id]
    ]


def _column_tests(tests: list[dict[str, Any]], column: str) -> _SourceColumnTests:
    mine = [t for t in tests if t["column_name"] == column]
    names = {t["name"] for t in mine}
    accepted = next((t["kwargs"].get("values") for t in mine if t["name"] == "accepted_values"), None)
    return _SourceColumnTests(
        not_null="not_null" in names,
        unique="unique" in names,
        accepted_values=frozenset(map(str, accepted)) if accepted is not None else None,
        lower_bound=_POSITIVE if "positive_value" in names else None,
    )


def _column_drift(
    label: str, spec: ColumnSpec, dbt: _SourceColumnTests, key: tuple[str, ...], where: str
) -> Iterable[Finding]:
    def finding(field_name: str, message: str) -> Finding:
        return Finding(label, None, spec.name, field_name, f"{message}, in the {where}")

    def has(flag: bool) -> str:
        return "has" if flag else "has no"

    required = spec.required or spec.primary_key
    if required != dbt.not_null:
        yield finding(
            "required", f"contract says {'required' if required else 'optional'}, dbt {has(dbt.not_null)} not_null test"
        )
    unique = spec.unique or key == (spec.name,)
    if unique != dbt.unique:
        yield finding(
            "unique", f"contract says {'unique' if unique else 'not unique'}, dbt {has(dbt.unique)} unique test"
        )
    allowed = frozenset(spec.allowed_values) if spec.allowed_values is not None else None
    if allowed != dbt.accepted_values:
        dbt_allows = f"dbt accepted_values test allows {describe_values(dbt.accepted_values)}"
        yield finding("validValues", f"contract allows {describe_values(allowed)}, {dbt_allows}")
    bound = _contract_bound(spec)
    if bound != dbt.lower_bound:
        field_name = "minimum" if spec.minimum is not None else "exclusiveMinimum"
        dbt_says = "tests > 0 (mesh_conventions.positive_value)" if dbt.lower_bound else "tests no lower bound"
        fix = "" if bound in (None, _POSITIVE) else "; the only lower bound a dbt source test expresses is > 0"
        yield finding(field_name, f"contract says {bound or 'no lower bound'}, dbt {dbt_says}{fix}")


def _key_drift(label: str, spec: SourceSpec, tests: list[dict[str, Any]], where: str) -> Iterable[Finding]:
    """A composite key is unique as a whole: a unique_combination_of_columns test on the source."""
    if len(spec.key) < 2:
        return
    combinations = [
        frozenset(t["kwargs"].get("combination_of_columns") or ())
        for t in tests
        if t["name"] == "unique_combination_of_columns"
    ]
    if frozenset(spec.key) not in combinations:
        message = (
            f"contract key is {list(spec.key)}, dbt has no unique_combination_of_columns test on it, in the {where}"
        )
        yield Finding(label, None, None, "primaryKey", message)


def _source_findings(spec: SourceSpec, label: str, manifest: Mapping[str, Any]) -> list[Finding]:
    node = _source_node(spec, manifest)
    if node is None:
        missing = f"domain {spec.domain} declares no dbt source for {spec.qualified_table}"
        return [
            Finding(label, None, None, "source", f"{missing}: add it to models/staging/_{spec.domain}__sources.yml")
        ]
    where = f"dbt source {spec.qualified_table} (domains/{spec.domain}/{node['original_file_path']})"
    tests = _tests_on(node["unique_id"], manifest)
    findings = list(_key_drift(label, spec, tests, where))
    for column in spec.columns:
        if column.name not in node["columns"]:
            findings.append(Finding(label, None, column.name, "columns", f"in the contract, missing from the {where}"))
        else:
            findings.extend(_column_drift(label, column, _column_tests(tests, column.name), spec.key, where))
    return findings


def source_drift(
    specs: Iterable[SourceSpec], manifests: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], list[Finding]]:
    """Compare each inbound contract with the dbt source tests of its raw table: (passed, findings)."""
    passed: list[str] = []
    findings: list[Finding] = []
    for spec in specs:
        label = f"{spec.domain}.{spec.contract_path.name.removesuffix('.odcs.yaml')}"
        manifest = manifests.get(spec.domain)
        found = (
            _source_findings(spec, label, manifest)
            if manifest is not None
            else [Finding(label, None, None, "domain", f"no dbt project named {spec.domain} under domains/")]
        )
        findings.extend(found)
        if not found:
            passed.append(f"{label} {spec.version}: dbt source tests of {spec.qualified_table} agree")
    return passed, findings
