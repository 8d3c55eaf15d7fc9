"""OpenLineage datasets of the platform's own tasks, named as the dbt integration names them
(namespace ``postgres://host:port``, name ``database.schema.table``; files ``file`` + absolute
path), so one lineage graph runs from an export file through dbt to the downstream products."""

from __future__ import annotations

from typing import Any

from meshplatform.config import Settings
from meshplatform.contracts.model import inbound_sources, products
from meshplatform.ingest.load import export_files
from meshplatform.warehouse.connection import connection_info


def _table(settings: Settings, relation: str) -> Any:
    from openlineage.client.event_v2 import Dataset

    info = connection_info(settings)
    return Dataset(namespace=f"postgres://{info.host}:{info.port}", name=f"{info.database}.{relation}")


def load_lineage(domain: str, settings: Settings | None = None) -> Any:
    """The load task reads the domain's export files and writes its raw tables."""
    from airflow.providers.openlineage.extractors.base import OperatorLineage
    from openlineage.client.event_v2 import Dataset

    settings = settings or Settings.from_env()
    specs = inbound_sources(settings.contracts_dir, domain)
    files = [path for spec in specs for path in export_files(settings.exports_dir, spec)]
    return OperatorLineage(
        inputs=[Dataset(namespace="file", name=str(path.resolve())) for path in files],
        outputs=[_table(settings, spec.qualified_table) for spec in specs],
    )


def publish_lineage(domain: str, settings: Settings | None = None) -> Any:
    """The publish task releases every version of the domain's data products."""
    from airflow.providers.openlineage.extractors.base import OperatorLineage

    settings = settings or Settings.from_env()
    relations = [v.qualified_table for product in products(settings.contracts_dir, domain) for v in product.versions]
    datasets = [_table(settings, relation) for relation in relations]
    return OperatorLineage(inputs=datasets, outputs=datasets)
