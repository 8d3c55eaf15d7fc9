"""The platform's part of the report: loads, quarantine, Great Expectations and dbt results.

Views over the same reads of ``mesh_meta`` as the text summary (``warehouse.meta``,
``warehouse.results``), so the two agree.
"""

from __future__ import annotations

from datetime import UTC

from meshplatform.config import Settings
from meshplatform.contracts.model import inbound_sources
from meshplatform.errors import MeshError
from meshplatform.reporting.catalog import gather
from meshplatform.reporting.elements import badge, not_built, note, table
from meshplatform.reporting.formats import esc, fmt_int, fmt_pct
from meshplatform.reporting.relations import Warehouse
from meshplatform.warehouse.meta import SCHEMA as META
from meshplatform.warehouse.meta import SourceLoads, quarantine_kinds, source_loads
from meshplatform.warehouse.results import ExpectationResult, latest_dbt_runs, latest_expectation_results


def _missing(wh: Warehouse, table_name: str) -> str | None:
    return None if (META, table_name) in wh.tables else not_built(f"{META}.{table_name}")


def quarantine(wh: Warehouse) -> str:
    if missing := _missing(wh, "quarantine"):
        return missing
    kinds = quarantine_kinds(wh.conn)
    if not kinds:
        return note("No rows quarantined: every row read from the exports was loaded.", "ok")
    return (
        f'<p class="muted">{fmt_int(sum(k.rows for k in kinds))} rows quarantined in total '
        f"(<code>{META}.quarantine</code> holds each raw line). Reasons are grouped by kind, without the "
        "offending value; a row with several problems counts once, under the combination.</p>"
        + table(
            ["Source", "Reason", "Rows", "Example"],
            [(f"{k.domain}.{k.source}", k.kind, fmt_int(k.rows), k.example) for k in kinds],
            numeric=[2],
        )
    )


def ledger(wh: Warehouse, settings: Settings) -> str:
    if missing := _missing(wh, "load_ledger"):
        return missing
    found = {(s.domain, s.source): s for s in source_loads(wh.conn)}
    try:
        expected = [(s.domain, s.name) for s in inbound_sources(settings.contracts_dir)]
    except MeshError:
        expected = []
    for domain, source in expected:  # a source of the contracts without files yet
        found.setdefault((domain, source), SourceLoads(domain, source, 0, 0, 0, 0, None))
    if not found:
        return note("No export file has been loaded yet.")
    return table(
        ["Source", "Files", "Rows read", "Rows loaded", "Rows quarantined", "Quarantined share", "Last loaded (UTC)"],
        [
            (
                f"{s.domain}.{s.source}",
                fmt_int(s.files),
                fmt_int(s.rows_read),
                fmt_int(s.rows_loaded),
                fmt_int(s.rows_quarantined),
                fmt_pct(s.rows_quarantined, s.rows_read),
                f"{s.last_loaded_at.astimezone(UTC):%Y-%m-%d %H:%M}" if s.last_loaded_at else "never",
            )
            for _, s in sorted(found.items())
        ],
        numeric=range(1, 6),
    )


def expectations(wh: Warehouse) -> str:
    if missing := _missing(wh, "quality_results"):
        return missing
    by_target: dict[str, list[ExpectationResult]] = {}
    for result in latest_expectation_results(wh.conn):
        by_target.setdefault(result.target, []).append(result)
    if not by_target:
        return note("No Great Expectations validation has run yet.")
    blocks = []
    for target, results in by_target.items():
        met = sum(1 for r in results if r.success)
        when = results[0].validated_at
        ordered = sorted(results, key=lambda r: r.success)  # failures first, otherwise in suite order
        blocks.append(
            f'<div class="block"><h3><code>{esc(target)}</code> {badge(met == len(results), f"{met} of {len(results)} met")}</h3>'
            f'<p class="muted">validated {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC</p>'
            + table(
                ["Expectation", "Column", "Result", "Unexpected"],
                [
                    (
                        esc(r.expectation.removeprefix("expect_")).replace("_", "_<wbr>"),
                        esc(r.column or "—"),
                        badge(r.success),
                        esc(fmt_int(r.unexpected_count)),
                    )
                    for r in ordered
                ],
                numeric=[3],
                raw=[0, 1, 2, 3],
            )
            + "</div>"
        )
    return '<div class="columns">' + "".join(blocks) + "</div>"


def dbt(wh: Warehouse) -> str:
    if missing := _missing(wh, "dbt_results"):
        return missing
    runs = latest_dbt_runs(wh.conn)
    if not runs:
        return note("No dbt run has been recorded yet.")

    def count(n: int, ok: bool | None = True) -> str:
        return esc(fmt_int(n)) if not n or ok else badge(ok, fmt_int(n))

    summary = table(
        ["Domain", "Latest dbt run", "Models built", "Model errors", "Tests passed", "Warned", "Failed", "Skipped"],
        [
            (
                esc(r.domain),
                f'<code class="nowrap">{esc(r.run_id)}</code><br>'
                f'<span class="muted">{r.finished_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC</span>',
                count(r.built),
                count(r.model_errors, False),
                count(r.passed),
                count(r.warned, None),
                count(r.failed, False),
                count(r.skipped),
            )
            for r in runs
        ],
        numeric=range(2, 8),
        raw=range(8),
    )
    problems = sorted((p.domain, p.resource_type, p.unique_id, p.status) for r in runs for p in r.problems)
    if not problems:
        return summary + note("Every model built and every test passed.", "ok")
    return (
        summary
        + "<h3>Nodes that did not pass</h3>"
        + table(
            ["Domain", "Type", "Node", "Status"],
            [
                (esc(domain), esc(kind), f"<code>{esc(uid)}</code>", badge(None if status == "warn" else False, status))
                for domain, kind, uid, status in problems
            ],
            raw=range(4),
        )
    )


def freshness(wh: Warehouse, settings: Settings) -> str:
    """Each product's age (since its model was last built successfully) against its contract's SLA."""
    if missing := _missing(wh, "dbt_results"):
        return missing
    entries = gather(settings, wh.conn).products
    if not entries:
        return note("No product contract yet.")
    return table(
        ["Product", "Last built (UTC)", "Age", "Freshness SLA", "State"],
        [
            (
                e.label,
                e.last_built or "never",
                f"{e.age_hours:g} h" if e.age_hours is not None else "—",
                f"{e.freshness_sla_hours:g} h" if e.freshness_sla_hours is not None else "none stated",
                badge(e.fresh, "fresh" if e.fresh else "stale" if e.fresh is False else "unmeasured"),
            )
            for e in entries
        ],
        raw=[4],
    )
