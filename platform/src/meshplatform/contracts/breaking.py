"""Breaking changes to published data products: refused unless they come as a new version.

Two independent views of the same change, both against a git base revision:

1. The contracts. Each product contract at the base is compared with today's, one published
   model version (schema object) at a time, by datacontract-cli's breaking-change detector from
   the consumers' perspective (a removed or renamed column, a changed type, required -> optional,
   a dropped key or uniqueness, widened valid values, a dropped pattern...):
   - a version published at the base must not change incompatibly;
   - a version may disappear only after its deprecation date;
   - a new latest version incompatible with the previous latest needs the contract's major
     version bumped and the previous version kept, with a deprecation date.
2. dbt. ``dbt ls -s state:modified.contract --state <manifest>`` in each producer project (dbt-loom
   drops contracts from injected nodes, so only the producer can tell), against the manifests
   parsed from the base revision and against the published manifests in the registry. A versioned
   public model raises ContractBreakingChangeError.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from meshplatform.config import Settings
from meshplatform.contracts import gitbase
from meshplatform.contracts.checks import CheckReport, Finding
from meshplatform.contracts.model import ProductSpec, products, read_contract
from meshplatform.dbt.state import ParsedMesh, compare_contracts, parse_mesh

_SAME_NAME = "published_version"


class Incompatibility(NamedTuple):
    """One change of a published version that breaks its consumers."""

    column: str | None
    field: str
    what: str


def _one_version(document: dict[str, Any], object_name: str) -> str:
    """The contract reduced to one schema object, renamed so that two versions line up."""
    (obj,) = [o for o in document["schema"] if o["name"] == object_name]
    return yaml.safe_dump({**document, "schema": [{**obj, "name": _SAME_NAME}]}, sort_keys=False)


def _describe(entry: Any) -> str:
    kind, old, new = entry.change_type.value, entry.old_value, entry.new_value
    if kind == "updated":
        change = f"changed from {old} to {new}"
    elif kind == "removed":
        change = "removed" + (f" (was {old})" if old is not None else "")
    else:
        change = "added" + (f" {new}" if new is not None else "")
    return f"{change} [{entry.rule_id}]"


def incompatibilities(before: tuple[dict[str, Any], str], after: tuple[dict[str, Any], str]) -> list[Incompatibility]:
    """What breaks consumers between two schema objects, each given as (contract document, object name)."""
    from datacontract.data_contract import DataContract

    old, new = (DataContract(data_contract_str=_one_version(doc, name)) for doc, name in (before, after))
    found = []
    for entry in old.breaking(new).entries:
        if entry.level.value != "error":
            continue
        path = entry.path.split(".")[2:]  # without "schema.<object name>"
        if path[:1] != ["properties"] or len(path) < 2:
            found.append(Incompatibility(None, ".".join(path) or "schema", _describe(entry)))
        elif len(path) == 2 and entry.change_type.value == "removed":
            found.append(Incompatibility(path[1], "column", "column removed or renamed"))
        else:
            found.append(Incompatibility(path[1], ".".join(path[2:]) or "column", _describe(entry)))
    return found


def _semver(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3] if part.isdigit())


def _published_versions(base: ProductSpec, head: ProductSpec, today: date) -> Iterable[Finding]:
    """Every version published at the base is still there, unbroken, or past its deprecation date."""
    base_doc, head_doc = read_contract(base.contract_path), read_contract(head.contract_path)
    for old in base.versions:
        new = head.version_spec(old.version)
        if new is None:
            if old.deprecation_date is None or old.deprecation_date >= today:
                when = f"before its deprecation date {old.deprecation_date}" if old.deprecation_date else "without one"
                removed = f"v{old.version} was removed {when}; consumers may still read it"
                yield Finding(base.label, old.version, None, "versions", removed)
            continue
        rule = (
            f"v{old.version} is published and must not break; "
            "publish the change as a new model version (major contract version) instead"
        )
        for change in incompatibilities((base_doc, old.object_name), (head_doc, new.object_name)):
            yield Finding(base.label, old.version, change.column, change.field, f"{change.what}: {rule}")


def _new_latest(base: ProductSpec, head: ProductSpec, changes: list[Incompatibility]) -> Iterable[Finding]:
    """A new latest version that breaks the previous one: major bump, previous version kept and deprecated."""
    previous, latest = base.latest, head.latest
    if head.major <= base.major:
        breaks = f"v{latest.version} breaks v{previous.version} ({len(changes)} incompatible changes)"
        bump = f"bump the contract's major version ({base.version} -> {base.major + 1}.0.0)"
        yield Finding(base.label, latest.version, None, "version", f"{breaks}: {bump}")
    kept = head.version_spec(previous.version)
    if kept is not None and kept.deprecation_date is None:
        why = f"v{previous.version} stays published while consumers move to v{latest.version}"
        fix = "give it a deprecation date (contract and dbt)"
        yield Finding(base.label, previous.version, None, "deprecationDate", f"{why}: {fix}")


def contract_changes(
    base: ProductSpec, head: ProductSpec | None, today: date | None = None
) -> tuple[list[Finding], list[str]]:
    """Findings, and what passed, for one product published at the base revision."""
    today = today or date.today()
    if head is None:
        live = [f"v{v.version}" for v in base.versions if not (v.deprecation_date and v.deprecation_date < today)]
        if live:
            removed = f"the contract was removed while {', '.join(live)} are published"
            return [Finding(base.label, None, None, "contract", removed)], []
        return [], [f"{base.label}: retired (every version was past its deprecation date)"]
    findings = list(_published_versions(base, head, today))
    if _semver(head.version) < _semver(base.version):
        back = f"contract version went back from {base.version} to {head.version}"
        findings.append(Finding(base.label, None, None, "version", back))
    previous, latest = base.latest, head.latest
    changes: list[Incompatibility] = []
    if latest.version < previous.version:
        back = f"the latest version went back from v{previous.version}"
        findings.append(Finding(base.label, latest.version, None, "versions", back))
    elif latest.version > previous.version:
        base_doc, head_doc = read_contract(base.contract_path), read_contract(head.contract_path)
        changes = incompatibilities((base_doc, previous.object_name), (head_doc, latest.object_name))
        findings.extend(_new_latest(base, head, changes) if changes else ())
    if findings:
        return findings, []
    if changes:
        summary = "; ".join(f"{c.column or 'model'}.{c.field}: {c.what}" for c in changes)
        kept = head.version_spec(previous.version)
        until = kept.deprecation_date if kept else "-"
        release = f"contract {base.version} -> {head.version}, v{previous.version} kept until {until}"
        breaks = f"v{latest.version} breaks v{previous.version} ({summary})"
        return [], [f"{base.label}: {breaks} and is published as a new version: {release}"]
    return [], [f"{base.label}: {base.version} -> {head.version}, no breaking change to a published version"]


def _products_by_id(contracts_dir: Path) -> dict[str, ProductSpec]:
    return {p.id: p for p in products(contracts_dir)} if contracts_dir.is_dir() else {}


def _compare_contracts(base_dir: Path, head_dir: Path, report: CheckReport) -> None:
    base, head = _products_by_id(base_dir), _products_by_id(head_dir)
    for product_id, before in base.items():
        findings, passed = contract_changes(before, head.get(product_id))
        report.findings.extend(findings)
        report.passed.extend(passed)
    for product_id in sorted(head.keys() - base.keys()):
        new = head[product_id]
        report.passed.append(f"{new.label}: new product {new.version} (nothing published at the base)")


def _states(settings: Settings, base: ParsedMesh | None, domain: str) -> Iterable[tuple[str, Path]]:
    if base is not None and (base.manifest_dir(domain) / "manifest.json").exists():
        yield "base revision", base.manifest_dir(domain)
    if (settings.registry_dir / domain / "manifest.json").exists():
        yield "published manifest", settings.registry_dir / domain


def _compare_dbt(settings: Settings, base_tree: Path, scratch: Path, report: CheckReport) -> None:
    head = parse_mesh(settings.domains_dir, scratch / "head")
    base = parse_mesh(base_tree / "domains", scratch / "base") if (base_tree / "domains").is_dir() else None
    for domain in head.domains:
        states = list(_states(settings, base, domain.name))
        if not states:
            report.notes.append(f"{domain.name}: no base or published manifest to compare with (new domain)")
        for label, state_dir in states:
            result = compare_contracts(head, domain, state_dir)
            check = f"dbt state:modified.contract vs {label}"
            if result.breaking:
                report.findings.append(Finding(domain.name, None, None, check, result.breaking))
            else:
                changed = f"; contracts changed compatibly: {', '.join(result.modified)}" if result.modified else ""
                report.passed.append(f"{domain.name}: {check}: no breaking change{changed}")


def breaking(settings: Settings, rev: str | None = None) -> CheckReport:
    """Refuse breaking changes to published products since ``rev`` (default: the merge base with main)."""
    base = gitbase.resolve(settings.project_dir, rev)
    report = CheckReport("breaking", notes=[f"base: {base.rev} = {base.commit[:12]} ({base.why})"])
    with tempfile.TemporaryDirectory(prefix="mesh-breaking-") as scratch:
        tree = gitbase.export_tree(settings.project_dir, base.commit, Path(scratch) / "tree")
        _compare_contracts(tree / "contracts", settings.contracts_dir, report)
        _compare_dbt(settings, tree, Path(scratch), report)
    return report
