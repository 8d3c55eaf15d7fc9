"""The closing summary of a build: what was loaded, quarantined, built and tested, and where.

A text view over the same bookkeeping reads as the HTML report (``warehouse.meta`` and
``warehouse.results``), so both count the same files, runs and validations.
"""

from __future__ import annotations

from psycopg import sql

from meshplatform.config import Settings
from meshplatform.contracts.model import inbound_sources
from meshplatform.reporting.catalog import describe_freshness, gather
from meshplatform.warehouse.connection import connect
from meshplatform.warehouse.credentials import Credentials
from meshplatform.warehouse.meta import SCHEMA, source_loads
from meshplatform.warehouse.results import latest_dbt_runs, latest_expectation_results


def _table(headers: list[str], rows: list[tuple[object, ...]]) -> str:
    """Plain-text columns: numbers right-aligned (with their header), text left-aligned."""
    cells = [headers, *[[f"{v:,}" if isinstance(v, int) else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [bool(rows) and all(isinstance(row[i], int) for row in rows) for i in range(len(headers))]
    lines = [
        "  ".join(c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, numeric, strict=True))
        for row in cells
    ]
    return "\n".join("  " + line for line in lines)


def _raw_rows(logins: Credentials, domain: str, schema: str, table: str) -> int:
    """Rows in a raw table, counted as its domain (the bookkeeper reads no domain object)."""
    with connect(logins.domain(domain)) as conn:
        if not conn.execute("select to_regclass(%s)", (f"{schema}.{table}",)).fetchone()[0]:
            return 0
        return conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))).fetchone()[0]


def build_summary(settings: Settings, logins: Credentials) -> str:
    """Text summary from the ledger, the raw tables, the quality results and the dbt results."""
    with connect(logins.bookkeeper()) as conn:
        loads = {(s.domain, s.source): s for s in source_loads(conn)}
        runs = latest_dbt_runs(conn)
        quality = latest_expectation_results(conn)
        freshness = [describe_freshness(product) for product in gather(settings, conn).products]
    sources = []
    for spec in inbound_sources(settings.contracts_dir):
        ledger = loads.get((spec.domain, spec.name))
        totals = (ledger.files, ledger.rows_read, ledger.rows_loaded, ledger.rows_quarantined) if ledger else (0,) * 4
        sources.append((f"{spec.domain}.{spec.name}", *totals, _raw_rows(logins, spec.domain, spec.schema, spec.table)))
    met = sum(1 for result in quality if result.success)
    dbt = [(r.domain, r.run_id, r.built, r.passed, r.warned, r.errors) for r in runs]
    parts = [
        "Sources (all files loaded so far; rows read = loaded + quarantined):",
        _table(["source", "files", "read", "loaded", "quarantined", "rows in raw table"], sources),
        "",
        "Domains (latest dbt run of each):",
        _table(["domain", "dbt run", "models built", "tests passed", "tests warned", "errors"], dbt)
        if dbt
        else "  no dbt results recorded",
        "",
        "Freshness of the data products (time since last built successfully, against the contract's SLA):",
        *(f"  {line}" for line in freshness),
        "",
        f"Great Expectations: {met} of {len(quality)} expectations met in the latest validation of "
        "each raw table and published product;",
        f"  Data Docs: {settings.data_docs_dir / 'index.html'}",
        "",
        f"Warehouse: {logins.admin.display}",
        f"  quarantined rows: select * from {SCHEMA}.quarantine;",
        f"Local state: {settings.home} (exports, registry, Airflow home and logs under {settings.logs_dir})",
    ]
    return "\n".join(parts)
