"""The closing summary of a build: what was loaded, quarantined, built and tested, and where."""

from __future__ import annotations

from psycopg import sql

from meshplatform.config import Settings
from meshplatform.contracts.model import inbound_sources
from meshplatform.quality.validation import data_docs_index
from meshplatform.warehouse.connection import connect
from meshplatform.warehouse.credentials import Credentials
from meshplatform.warehouse.meta import SCHEMA


def _table(headers: list[str], rows: list[tuple[object, ...]]) -> str:
    cells = [headers, *[[f"{v:,}" if isinstance(v, int) else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=False)))
        for row in cells
    ]
    return "\n".join("  " + line for line in lines)


def _raw_rows(logins: Credentials, domain: str, schema: str, table: str) -> int:
    """Rows in a raw table, counted as its domain (the bookkeeper reads no domain object)."""
    with connect(logins.domain(domain)) as conn:
        if not conn.execute("select to_regclass(%s)", (f"{schema}.{table}",)).fetchone()[0]:
            return 0
        return conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))).fetchone()[0]


def build_summary(settings: Settings, logins: Credentials, run_id: str | None = None) -> str:
    """Text summary from the ledger, the raw tables, the quality results and the dbt results."""
    with connect(logins.bookkeeper()) as conn:
        sources = []
        for spec in inbound_sources(settings.contracts_dir):
            ledger = conn.execute(
                f"""select count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0),
                           coalesce(sum(rows_quarantined), 0)
                    from {SCHEMA}.load_ledger where domain = %s and source = %s""",
                (spec.domain, spec.name),
            ).fetchone()
            rows = _raw_rows(logins, spec.domain, spec.schema, spec.table)
            sources.append((f"{spec.domain}.{spec.name}", *ledger, rows))
        run_id = (
            run_id
            or (conn.execute(f"select run_id from {SCHEMA}.dbt_results order by id desc limit 1").fetchone() or [None])[
                0
            ]
        )
        # A retried task records its nodes again under the same run: count each node's last result.
        dbt = conn.execute(
            f"""select domain,
                       count(*) filter (where resource_type = 'model' and status = 'success'),
                       count(*) filter (where resource_type in ('test', 'unit_test') and status = 'pass'),
                       count(*) filter (where resource_type in ('test', 'unit_test') and status = 'warn'),
                       count(*) filter (where status in ('error', 'fail'))
                from (select distinct on (unique_id) * from {SCHEMA}.dbt_results
                      where run_id = %s order by unique_id, id desc) latest
                group by domain order by domain""",
            (run_id,),
        ).fetchall()
        quality = conn.execute(
            f"""select distinct on (target, expectation, column_name) target, success
                from {SCHEMA}.quality_results order by target, expectation, column_name, id desc"""
        ).fetchall()
    met = sum(1 for _, ok in quality if ok)
    parts = [
        "Sources (all files loaded so far; rows read = loaded + quarantined):",
        _table(["source", "files", "read", "loaded", "quarantined", "rows in raw table"], sources),
        "",
        f"Domains (dbt run {run_id}):",
        _table(["domain", "models built", "tests passed", "tests warned", "errors"], dbt)
        if dbt
        else "  no dbt results recorded",
        "",
        f"Great Expectations: {met} of {len(quality)} expectations met on the raw tables and published products;",
        f"  Data Docs: {data_docs_index(settings.home)}",
        "",
        f"Warehouse: {logins.admin.display}",
        f"  quarantined rows: select * from {SCHEMA}.quarantine;",
        f"Local state: {settings.home} (exports, registry, Airflow home and logs under {settings.logs_dir})",
    ]
    return "\n".join(parts)
