"""The steps of a domain's build, shared by the CLI and the Airflow tasks."""

from __future__ import annotations

import sys
from pathlib import Path

from meshplatform import domains
from meshplatform.config import Settings, disable_telemetry
from meshplatform.contracts.model import inbound_sources, products
from meshplatform.dbt import registry
from meshplatform.ingest.load import FileResult, Progress, export_files, load_source
from meshplatform.quality import validation as quality
from meshplatform.warehouse import embedded, roles
from meshplatform.warehouse.connection import ConnectionInfo, connect, connection_info, ensure_database


def embedded_server(settings: Settings) -> embedded.EmbeddedPostgres:
    return embedded.EmbeddedPostgres(settings.pgdata_dir, settings.embedded_port)


def warehouse(settings: Settings, *, start: bool = False) -> ConnectionInfo:
    """The warehouse connection; with ``start``, start the embedded server when it is the target."""
    disable_telemetry()
    info = connection_info(settings)
    if info.embedded and start:
        embedded_server(settings).start()
        ensure_database(info)
    return info


def print_progress(file_name: str, rows: int, percent: int) -> None:
    print(f"  {file_name}: {rows:,} rows read (~{percent}%)", file=sys.stderr, flush=True)


def load_domain(
    name: str, settings: Settings | None = None, *, progress: Progress | None = print_progress
) -> list[FileResult]:
    """Load every export of the domain's inbound sources, oldest file first, as the domain's role.

    First make sure every domain's role, schemas and read grants exist (the first task of each
    domain in the DAG, so the domain's dbt finds them)."""
    settings = settings or Settings.from_env()
    info = warehouse(settings)
    results: list[FileResult] = []
    with connect(info, autocommit=True) as conn:
        roles.ensure_roles(conn, domains.discover(settings.domains_dir))
        for spec in inbound_sources(settings.contracts_dir, name):
            files = export_files(settings.exports_dir, spec)
            if not files:
                folder = settings.exports_dir / spec.domain
                print(
                    f"warning: no {spec.name} exports ({spec.file_pattern}) in {folder}: nothing to load",
                    file=sys.stderr,
                )
            for result in load_source(conn, spec, files, progress=progress):
                state = "skipped (already loaded)" if result.skipped else "loaded"
                print(
                    f"{spec.domain}/{result.file_name}: {state}: {result.rows_read:,} read, "
                    f"{result.rows_loaded:,} loaded, {result.rows_quarantined:,} quarantined",
                    flush=True,
                )
                results.append(result)
    return results


def _checked(reports: list[quality.ValidationReport]) -> list[quality.ValidationReport]:
    for report in reports:
        print(f"{report.target}: {len(report.outcomes) - len(report.failed)}/{len(report.outcomes)} expectations met")
        quality.raise_on_failure(report)
    return reports


def validate_domain(name: str, settings: Settings | None = None) -> list[quality.ValidationReport]:
    """Validate the domain's raw tables with Great Expectations; raise on any failed expectation."""
    settings = settings or Settings.from_env()
    info = warehouse(settings)
    return _checked([quality.validate_source(info, spec) for spec in inbound_sources(settings.contracts_dir, name)])


def validate_products(name: str, settings: Settings | None = None) -> list[quality.ValidationReport]:
    """Validate every published version of the domain's data products against its contract."""
    settings = settings or Settings.from_env()
    info = warehouse(settings)
    reports = [r for product in products(settings.contracts_dir, name) for r in quality.validate_product(info, product)]
    return _checked(reports)


def publish_domain(name: str, settings: Settings | None = None) -> Path:
    """Publish the domain's manifest to the registry (downstream domains ref it through dbt-loom)."""
    settings = settings or Settings.from_env()
    domain = domains.get(settings.domains_dir, name)
    path = registry.publish(domain, settings, warehouse(settings))
    print(f"published {domain.name} manifest to {path}")
    return path


def refresh_docs(settings: Settings | None = None) -> tuple[Path, Path]:
    """Rewrite the HTML report and the data product catalogue (served in the Airflow UI)."""
    from meshplatform.reporting.catalog_page import write_catalog
    from meshplatform.reporting.report import build_report

    settings = settings or Settings.from_env()
    info = warehouse(settings)
    report = build_report(settings, info, settings.report_path)
    catalog = write_catalog(settings, info)
    print(f"report: {report}\ncatalog: {catalog}")
    return report, catalog
