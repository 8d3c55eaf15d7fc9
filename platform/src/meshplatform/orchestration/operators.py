"""The platform's Airflow operators: a domain's load and publish, each reporting its OpenLineage
datasets (files -> raw tables; published product versions)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator


class LoadDomainOperator(BaseOperator):
    """Load the domain's export files into its raw schema (idempotent, quarantine, ledger); the
    files dated ``reload_from`` to ``reload_to`` (YYYY-MM-DD, templated) are loaded again."""

    template_fields = ("domain", "reload_from", "reload_to")

    def __init__(self, *, domain: str, reload_from: str = "", reload_to: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.domain = domain
        self.reload_from = reload_from
        self.reload_to = reload_to

    def execute(self, context: Any) -> dict[str, int]:
        from meshplatform.orchestration.steps import load_domain, reload_range

        results = load_domain(self.domain, reload=reload_range(self.reload_from, self.reload_to))
        return {
            "files": len(results),
            "rows_read": sum(r.rows_read for r in results),
            "rows_loaded": sum(r.rows_loaded for r in results),
            "rows_quarantined": sum(r.rows_quarantined for r in results),
        }

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from meshplatform.orchestration.lineage import load_lineage

        return load_lineage(self.domain)


class PublishDomainOperator(BaseOperator):
    """Publish the domain's manifest to the registry, where downstream domains read it (dbt-loom);
    on success Airflow emits an Asset event for each of its ``outlets`` (the product versions)."""

    template_fields = ("domain",)

    def __init__(self, *, domain: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.domain = domain

    def execute(self, context: Any) -> str:
        from meshplatform.orchestration.steps import publish_domain

        return str(publish_domain(self.domain))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from meshplatform.orchestration.lineage import publish_lineage

        return publish_lineage(self.domain)
