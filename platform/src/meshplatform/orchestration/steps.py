"""The steps of a domain's build, shared by the CLI and the Airflow tasks."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from meshplatform import domains
from meshplatform.config import Settings, disable_telemetry
from meshplatform.contracts.model import inbound_sources, products
from meshplatform.dbt import registry
from meshplatform.errors import MeshError
from meshplatform.ingest.load import FileResult, Progress, export_files, files_dated, load_source
from meshplatform.quality import validation as quality
from meshplatform.warehouse import embedded, meta, roles
from meshplatform.warehouse.connection import ConnectionInfo, connect, connection_info, ensure_database
from meshplatform.warehouse.credentials import Credentials


def embedded_server(settings: Settings) -> embedded.EmbeddedPostgres:
    return embedded.EmbeddedPostgres(settings.pgdata_dir, settings.embedded_port)


def warehouse(settings: Settings, *, start: bool = False) -> ConnectionInfo:
    """The warehouse connection; with ``start``, start the embedded server when it is the target."""
    disable_telemetry()
    info = connection_info(settings)
    if info.embedded and start:
        embedded_server(settings).start()
        info = connection_info(settings)  # the first start generates the superuser's password
        ensure_database(info)
    return info


def setup_warehouse(settings: Settings) -> Credentials:
    """The admin's only job: every domain's login roles, schemas and grants, the bookkeeping
    schema, and Airflow's Connections file. Idempotent; returns the logins' credentials."""
    info = warehouse(settings)
    credentials = Credentials(settings, info)
    all_domains = domains.discover(settings.domains_dir)
    with connect(info, autocommit=True) as conn:
        roles.ensure_roles(conn, all_domains, credentials.password)
        loaders = {roles.domain_role(info.database, d.name): d.name for d in all_domains}
        meta.ensure_meta(conn, roles.meta_role(info.database), loaders)
    credentials.write_airflow_connections(all_domains)
    return credentials


def credentials(settings: Settings) -> Credentials:
    """The logins of an already set-up warehouse (no admin connection)."""
    return Credentials(settings, warehouse(settings))


def print_progress(file_name: str, rows: int, percent: int) -> None:
    print(f"  {file_name}: {rows:,} rows read (~{percent}%)", file=sys.stderr, flush=True)


def reload_range(first: str, last: str) -> tuple[date, date] | None:
    """The days whose exports to load again (the DAG params ``reload_from`` / ``reload_to``)."""
    if not first and not last:
        return None
    if not first:
        raise MeshError("reload_to is set but reload_from is not", hint="set reload_from (YYYY-MM-DD) too")
    try:
        days = date.fromisoformat(first), date.fromisoformat(last or first)
    except ValueError as exc:
        raise MeshError(f"reload_from / reload_to must be dates (YYYY-MM-DD): {exc}") from exc
    if days[0] > days[1]:
        raise MeshError(f"reload_from {days[0]} is after reload_to {days[1]}", hint="swap the two dates")
    return days


def load_domain(
    name: str,
    settings: Settings | None = None,
    *,
    progress: Progress | None = print_progress,
    reload: tuple[date, date] | None = None,
) -> list[FileResult]:
    """Load every export of the domain's inbound sources, oldest file first, logged in as the domain;
    the files dated within ``reload`` (first, last day) are loaded again although the ledger has them.

    First make sure every domain's roles, schemas and read grants exist (the first task of each
    domain in the DAG, so the domain's dbt finds them)."""
    settings = settings or Settings.from_env()
    login = setup_warehouse(settings).domain(name)
    results: list[FileResult] = []
    with connect(login, autocommit=True) as conn:
        for spec in inbound_sources(settings.contracts_dir, name):
            files = export_files(settings.exports_dir, spec)
            again = files_dated(files, *reload) if reload else []
            if not files or (reload and not again):
                folder = settings.exports_dir / spec.domain
                wanted = f"dated {reload[0]} to {reload[1]} " if reload else ""
                print(
                    f"warning: no {spec.name} exports {wanted}({spec.file_pattern}) in {folder}: nothing to "
                    + ("load again" if reload else "load"),
                    file=sys.stderr,
                )
            for result in load_source(conn, spec, files, progress=progress, reload=again):
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
    """Validate the domain's raw tables with Great Expectations, read as the domain's own login;
    raise on any failed expectation."""
    settings = settings or Settings.from_env()
    logins = credentials(settings)
    reader, bookkeeping = logins.domain(name), logins.bookkeeper()
    specs = inbound_sources(settings.contracts_dir, name)
    return _checked([quality.validate_source(reader, spec, bookkeeping) for spec in specs])


def validate_products(name: str, settings: Settings | None = None) -> list[quality.ValidationReport]:
    """Validate every published version of the domain's data products against its contract, read
    as the domain's observer."""
    settings = settings or Settings.from_env()
    logins = credentials(settings)
    reader, bookkeeping = logins.observer(name), logins.bookkeeper()
    found = products(settings.contracts_dir, name)
    return _checked([r for product in found for r in quality.validate_product(reader, product, bookkeeping)])


def publish_domain(name: str, settings: Settings | None = None) -> Path:
    """Publish the domain's manifest to the registry (downstream domains ref it through dbt-loom)."""
    settings = settings or Settings.from_env()
    domain = domains.get(settings.domains_dir, name)
    path = registry.publish(domain, settings, warehouse(settings))
    print(f"published {domain.name} manifest to {path}")
    return path


def check_freshness(label: str, settings: Settings | None = None) -> str:
    """Measure the product's age (time since its model was last built successfully, as the
    catalogue measures it) against its contract's freshness SLA; raise when it is breached or
    cannot be measured."""
    from meshplatform.reporting.catalog import describe_freshness, gather

    settings = settings or Settings.from_env()
    with connect(credentials(settings).bookkeeper()) as conn:
        entry = next((p for p in gather(settings, conn).products if p.label == label), None)
    if entry is None:
        raise MeshError(f"no product contract for {label} in {settings.contracts_dir}")
    text = describe_freshness(entry)
    if entry.fresh is not True and entry.freshness_sla_hours is not None:
        raise MeshError(text, hint=f"rebuild {entry.domain}: its DAG, or `mesh build`")
    print(text)
    return text


def refresh_docs(settings: Settings | None = None) -> tuple[Path, Path]:
    """Rewrite the HTML report and the data product catalogue (served in the Airflow UI)."""
    from meshplatform.reporting.catalog_page import write_catalog
    from meshplatform.reporting.report import build_report

    settings = settings or Settings.from_env()
    logins = credentials(settings)
    report = build_report(settings, logins, settings.report_path)
    catalog = write_catalog(settings, logins.bookkeeper())
    print(f"report: {report}\ncatalog: {catalog}")
    return report, catalog
