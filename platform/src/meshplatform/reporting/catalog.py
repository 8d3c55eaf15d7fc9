"""The catalogue of data products: what the mesh publishes, who owns it, how fresh and how good
it is, who reads it and where it comes from.

Gathered from the product contracts (owner, support, SLA, columns, versions), the published
manifests in the registry (lineage, consumers, last publish) and the bookkeeping in ``mesh_meta``
(last successful build, latest Great Expectations result). :func:`gather` builds it; it is written
as JSON (``catalog.json``) and as an offline HTML page (``reporting.catalog_page``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from meshplatform.config import Settings
from meshplatform.contracts.model import ProductSpec, inbound_sources, products, read_contract
from meshplatform.contracts.ownership import ownership
from meshplatform.domains import Domain, discover
from meshplatform.warehouse import results


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class Consumer:
    domain: str
    models: tuple[str, ...]


@dataclass
class VersionEntry:
    version: int
    relation: str
    latest: bool
    status: str  # active | deprecated
    deprecation_date: str | None
    columns: list[Column]
    consumers: list[Consumer]
    last_built: str | None = None
    quality_met: int | None = None
    quality_total: int | None = None
    quality_validated_at: str | None = None


@dataclass
class ProductEntry:
    id: str
    label: str
    domain: str
    name: str
    contract_version: str
    contract_file: str
    purpose: str
    usage: str
    team: str | None
    owner: str | None
    members: list[dict[str, str | None]]
    support: list[dict[str, str | None]]
    sla: list[dict[str, Any]]
    freshness_sla_hours: float | None
    last_published: str | None
    last_built: str | None
    age_hours: float | None
    fresh: bool | None  # None: never built, so freshness cannot be measured
    producers: list[str]
    versions: list[VersionEntry]
    links: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LineageNode:
    id: str
    label: str
    kind: str  # export | raw | model | product
    domain: str


@dataclass
class Catalog:
    generated_at: str
    products: list[ProductEntry]
    nodes: list[LineageNode]
    edges: list[tuple[str, str]]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str) + "\n"


# --- lineage from the published manifests ----------------------------------------------------------


def _manifest(domain: Domain, settings: Settings) -> dict[str, Any] | None:
    path = domain.manifest_in(settings.registry_dir)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _relation(node: dict[str, Any]) -> str | None:
    name = node.get("relation_name")
    return ".".join(part.strip('"') for part in name.split(".")[1:]) if name else None


def _node_id(node: dict[str, Any]) -> str:
    """Relations are the lineage nodes; an ephemeral model (no relation) is named by its dbt name."""
    return _relation(node) or f"{node['package_name']}.{node['name']}"


def _lineage(
    settings: Settings, manifests: dict[str, dict[str, Any]]
) -> tuple[list[LineageNode], list[tuple[str, str]]]:
    nodes: dict[str, LineageNode] = {}
    edges: set[tuple[str, str]] = set()
    for spec in inbound_sources(settings.contracts_dir):
        export = f"{spec.domain}/{spec.file_pattern}"
        nodes[export] = LineageNode(export, spec.file_pattern, "export", spec.domain)
        nodes[spec.qualified_table] = LineageNode(spec.qualified_table, spec.qualified_table, "raw", spec.domain)
        edges.add((export, spec.qualified_table))
    for domain, manifest in manifests.items():
        known = {**manifest.get("sources", {}), **manifest.get("nodes", {})}
        for node in manifest.get("nodes", {}).values():
            if node.get("resource_type") != "model" or node.get("package_name") != domain:
                continue  # a model of an upstream domain is drawn from that domain's own manifest
            target = _node_id(node)
            kind = "product" if node.get("access") == "public" else "model"
            nodes[target] = LineageNode(target, target, kind, domain)
            for parent_id in node.get("depends_on", {}).get("nodes", []):
                if parent_id in known:
                    edges.add((_node_id(known[parent_id]), target))
    for source, target in edges:  # a source table without an inbound contract still gets a node
        for name in (source, target):
            nodes.setdefault(name, LineageNode(name, name, "raw", name.split(".")[0]))
    return sorted(nodes.values(), key=lambda n: n.id), sorted(edges)


def _consumers(product: ProductSpec, version: int, manifests: dict[str, dict[str, Any]]) -> list[Consumer]:
    unique_id = f"model.{product.domain}.{product.versions[0].model}.v{version}"
    found = []
    for domain, manifest in manifests.items():
        if domain == product.domain:
            continue
        models = sorted(
            node["name"]
            for node in manifest.get("nodes", {}).values()
            if node.get("resource_type") == "model"
            and node.get("package_name") == domain
            and unique_id in node.get("depends_on", {}).get("nodes", [])
        )
        if models:
            found.append(Consumer(domain, tuple(models)))
    return found


# --- bookkeeping: last build and latest quality result -------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def _bookkeeping(conn: Any, product: ProductSpec, entries: list[VersionEntry]) -> None:
    """Last successful build of each version's model and its latest validation, from mesh_meta."""
    built = results.last_successful_builds(conn)
    expectations = results.latest_expectation_results(conn)
    for entry in entries:
        entry.last_built = _iso(built.get(f"model.{product.domain}.{product.versions[0].model}.v{entry.version}"))
        mine = [r for r in expectations if r.target == entry.relation]
        if mine:
            entry.quality_met = sum(1 for r in mine if r.success)
            entry.quality_total = len(mine)
            entry.quality_validated_at = _iso(max(r.validated_at for r in mine if r.validated_at))


# --- products --------------------------------------------------------------------------------------


def _product(product: ProductSpec, manifests: dict[str, dict[str, Any]]) -> ProductEntry:
    document = read_contract(product.contract_path)
    owned = ownership(document)
    description = document.get("description") or {}
    versions = [
        VersionEntry(
            version=v.version,
            relation=v.qualified_table,
            latest=v.version == product.latest.version,
            status="deprecated" if v.deprecation_date else "active",
            deprecation_date=v.deprecation_date.isoformat() if v.deprecation_date else None,
            columns=[
                Column(c.name, c.physical_type, c.required, _description(document, v.object_name, c.name))
                for c in v.columns
            ],
            consumers=_consumers(product, v.version, manifests),
        )
        for v in sorted(product.versions, key=lambda v: -v.version)
    ]
    manifest = manifests.get(product.domain)
    freshness = owned.freshness
    return ProductEntry(
        id=product.id,
        label=product.label,
        domain=product.domain,
        name=product.name,
        contract_version=product.version,
        contract_file=str(product.contract_path.relative_to(product.contract_path.parents[2])),
        purpose=str(description.get("purpose", "")).strip(),
        usage=str(description.get("usage", "")).strip(),
        team=owned.team,
        owner=owned.owner.name or owned.owner.username if owned.owner else None,
        members=[asdict(m) for m in owned.members],
        support=[asdict(s) for s in owned.support],
        sla=[{**asdict(s), "text": s.describe()} for s in owned.sla],
        freshness_sla_hours=freshness / timedelta(hours=1) if freshness else None,
        last_published=manifest["metadata"].get("generated_at") if manifest else None,
        last_built=None,
        age_hours=None,
        fresh=None,
        producers=[],
        versions=versions,
    )


def _description(document: dict[str, Any], object_name: str, column: str) -> str:
    for obj in document.get("schema", []):
        if obj.get("name") == object_name:
            for prop in obj.get("properties", []):
                if prop.get("name") == column:
                    return str(prop.get("description", "")).strip()
    return ""


def _measure_freshness(entry: ProductEntry, now: datetime) -> None:
    built = [v.last_built for v in entry.versions if v.last_built]
    entry.last_built = max(built) if built else None
    if entry.last_built is None:
        return
    entry.age_hours = round((now - datetime.fromisoformat(entry.last_built)) / timedelta(hours=1), 2)
    if entry.freshness_sla_hours is not None:
        entry.fresh = entry.age_hours <= entry.freshness_sla_hours


def describe_freshness(entry: ProductEntry) -> str:
    """One line on a product's measured freshness: the DAG's check, the summary and the report say it so."""
    if entry.last_built is None:
        return f"{entry.label}: never built successfully, so its freshness cannot be measured"
    age = f"{entry.label}: last built successfully {entry.last_built}, {entry.age_hours:g} h ago"
    if entry.freshness_sla_hours is None:
        return f"{age}; its contract states no freshness SLA"
    verdict = "fresh" if entry.fresh else "STALE, freshness SLA breached"
    return f"{age}: {verdict} (contract's freshness SLA: {entry.freshness_sla_hours:g} h)"


def _upstream_of(relation: str, edges: list[tuple[str, str]]) -> list[str]:
    """Every node the relation is built from, nearest first."""
    parents: dict[str, list[str]] = {}
    for source, target in edges:
        parents.setdefault(target, []).append(source)
    seen: list[str] = []
    frontier = [relation]
    while frontier:
        frontier = [p for node in frontier for p in sorted(parents.get(node, [])) if p not in seen]
        seen.extend(dict.fromkeys(frontier))
    return seen


def gather(settings: Settings, conn: Any | None, *, now: datetime | None = None) -> Catalog:
    """The catalogue now. ``conn`` reads mesh_meta; without it, build and quality stay unknown."""
    now = now or datetime.now(UTC)
    manifests = {d.name: m for d in discover(settings.domains_dir) if (m := _manifest(d, settings)) is not None}
    nodes, edges = _lineage(settings, manifests)
    entries = []
    for product in products(settings.contracts_dir):
        entry = _product(product, manifests)
        if conn is not None:
            _bookkeeping(conn, product, entry.versions)
        _measure_freshness(entry, now)
        entry.producers = _upstream_of(entry.versions[0].relation, edges)
        entries.append(entry)
    return Catalog(_iso(now) or "", entries, nodes, edges)
