"""What a domain's DAG produces, consumes and when it runs, read from files at parse time.

- Produced: one Asset URI per data product version the domain publishes, from its product
  contracts (``mesh://<domain>/<model>/v<version>``; the publish task emits an event for each).
- Consumed: the upstream product versions its dbt models read, from its published manifest: the
  nodes of the domains in its ``dbt_loom.config.yml`` that its models depend on (a pinned
  ``ref('users', 'dim_users', v=1)`` is ``model.users.dim_users.v1`` there).
- Timetable: the cron ``schedule`` of the ``frequency`` SLA in the domain's product contracts
  (ODCS ``slaProperties``), the one source of truth for when a domain rebuilds; ``@daily`` when
  no contract states one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from meshplatform.contracts.model import products, read_contract
from meshplatform.contracts.ownership import ownership
from meshplatform.domains import Domain
from meshplatform.errors import MeshError

DEFAULT_SCHEDULE = "@daily"


def product_uri(domain: str, model: str, version: int) -> str:
    """The Asset URI of one data product version."""
    return f"mesh://{domain}/{model}/v{version}"


@dataclass(frozen=True, order=True)
class ProductRef:
    """One version of a data product, as a dbt model version of its domain."""

    domain: str
    model: str
    version: int

    @property
    def uri(self) -> str:
        return product_uri(self.domain, self.model, self.version)


def produced(contracts_dir: Path, domain: str) -> list[str]:
    """Every product version the domain publishes, as Asset URIs (latest version first)."""
    return [
        product_uri(domain, v.model, v.version)
        for product in products(contracts_dir, domain)
        for v in sorted(product.versions, key=lambda v: -v.version)
    ]


def consumed(domain: Domain, manifest: Path) -> list[ProductRef]:
    """The upstream product versions the domain's models read (none without a published
    manifest: the domain then has nothing to build either)."""
    if not domain.upstream or not manifest.exists():
        return []
    nodes = json.loads(manifest.read_text(encoding="utf-8")).get("nodes", {})
    found: set[ProductRef] = set()
    for node in nodes.values():
        if node.get("resource_type") != "model" or node.get("package_name") != domain.name:
            continue
        for parent in node.get("depends_on", {}).get("nodes", []):
            kind, package, *name = parent.split(".")
            if kind == "model" and package in domain.upstream:
                model, version = (name[0], name[1]) if len(name) == 2 else (name[0], "v1")
                found.add(ProductRef(package, model, int(version.removeprefix("v"))))
    return sorted(found)


def readers_of_upstream(domain: Domain, manifest: Path) -> list[str]:
    """The domain's models that read an upstream domain's model directly (dbt unique ids)."""
    if not domain.upstream or not manifest.exists():
        return []
    nodes = json.loads(manifest.read_text(encoding="utf-8")).get("nodes", {})
    return sorted(
        unique_id
        for unique_id, node in nodes.items()
        if node.get("package_name") == domain.name
        and any(p.split(".")[1] in domain.upstream for p in node.get("depends_on", {}).get("nodes", []))
    )


def schedule(contracts_dir: Path, domain: str) -> str:
    """The domain's cron: the ``frequency`` SLA ``schedule`` of its product contracts."""
    found = set()
    for product in products(contracts_dir, domain):
        sla = ownership(read_contract(product.contract_path)).sla_of("frequency")
        if sla and sla.schedule:
            found.add(sla.schedule)
    if len(found) > 1:
        raise MeshError(
            f"the product contracts of domain {domain} state different schedules: {sorted(found)}",
            hint="one domain builds on one timetable: give every frequency SLA the same schedule",
        )
    return found.pop() if found else DEFAULT_SCHEDULE
