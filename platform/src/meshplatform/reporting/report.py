"""The self-contained HTML report: the domains' declared panels and the platform's bookkeeping.

One file, inline CSS and inline SVG charts, no scripts and no external resources: it opens
offline, can be mailed around and archived next to a build. Everything is read from the
warehouse in a read-only session. The headline cards and the panels come from each domain's
``report.yml`` (see ``declarations.py``); loads, quarantine, Great Expectations and dbt results
from ``mesh_meta``. A relation that does not exist yet turns its part into a short "not built
yet" note instead of failing the report.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import psycopg

from meshplatform.config import Settings
from meshplatform.reporting import bookkeeping, panels
from meshplatform.reporting.declarations import Declaration, load_declarations
from meshplatform.reporting.elements import kpi_cards, note, section
from meshplatform.reporting.formats import esc
from meshplatform.reporting.relations import Warehouse
from meshplatform.warehouse.connection import ConnectionInfo, connect
from meshplatform.warehouse.credentials import Credentials
from meshplatform.warehouse.meta import SCHEMA as META

TITLE = "Data mesh: data products report"

Section = tuple[str, str, str, Callable[[], str]]
"""(id, title, intro HTML, body): one card of the page."""


def _headline(wh: Warehouse, declarations: list[Declaration]) -> str:
    cards = [panels.kpi_card(wh, kpi) for declaration in declarations for kpi in declaration.headline]
    return kpi_cards(cards) if cards else note("No domain declares headline numbers in its report.yml yet.")


def _sections(wh: Warehouse, settings: Settings, declarations: list[Declaration]) -> list[Section]:
    domain_panels: list[Section] = [
        (f"{p.domain}-{p.id}", p.title, panels.intro(p), lambda p=p: panels.panel_body(wh, p))
        for declaration in declarations
        for p in declaration.panels
    ]
    return [
        ("headline", "Headline numbers", "", lambda: _headline(wh, declarations)),
        *domain_panels,
        (
            "quarantine",
            "Data quality: quarantined rows",
            "Rows of the exports that broke their source contract and were kept out of the raw tables.",
            lambda: bookkeeping.quarantine(wh),
        ),
        (
            "ledger",
            "Data quality: loads per source",
            f"All export files loaded so far (rows read = loaded + quarantined). Source: <code>{META}.load_ledger</code>.",
            lambda: bookkeeping.ledger(wh, settings),
        ),
        (
            "expectations",
            "Data quality: Great Expectations on the raw tables and published products",
            f"The latest validation of each table. Source: <code>{META}.quality_results</code>.",
            lambda: bookkeeping.expectations(wh),
        ),
        (
            "freshness",
            "Data quality: freshness of the data products",
            "Time since each product's model was last built successfully, against its contract's freshness SLA "
            f"(ODCS <code>slaProperties</code>). Source: <code>{META}.dbt_results</code>.",
            lambda: bookkeeping.freshness(wh, settings),
        ),
        (
            "dbt",
            "Data quality: latest dbt build per domain",
            f"Models built and tests run by the latest recorded dbt run of each domain. Source: <code>{META}.dbt_results</code>.",
            lambda: bookkeeping.dbt(wh),
        ),
    ]


def render_report(settings: Settings, wh: Warehouse, declarations: list[Declaration], source: str) -> str:
    """The whole page as a string, read through the report's sessions."""
    sections = _sections(wh, settings, declarations)
    body = "".join(section(sid, title, intro, fn) for sid, title, intro, fn in sections)
    short = [(sid, title.removeprefix("Data quality: ")) for sid, title, _, _ in sections]
    nav = "".join(f'<a href="#{esc(sid)}">{esc(name[:1].upper() + name[1:])}</a>' for sid, name in short)
    relations = sorted({".".join(p.relation) for d in declarations for p in d.panels} | _kpi_relations(declarations))
    shown = ", ".join(f"<code>{esc(r)}</code>" for r in relations) or "none declared yet"
    css = resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(TITLE)}</title>"
        f"<style>{css}</style></head><body><main>"
        f'<header class="page"><h1>{esc(TITLE)}</h1>'
        f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from {esc(source)}</p>"
        f"<nav>{nav}</nav></header>"
        f"{body}"
        f"<footer>Relations shown, as each domain's <code>report.yml</code> declares them: {shown}. "
        "Hover a bar for its exact value.</footer>"
        "</main></body></html>\n"
    )


def _kpi_relations(declarations: list[Declaration]) -> set[str]:
    return {".".join(kpi.relation) for d in declarations for kpi in d.headline}


def _read_only(stack: ExitStack, info: ConnectionInfo) -> psycopg.Connection:
    conn = stack.enter_context(connect(info, autocommit=True))
    conn.execute("set default_transaction_read_only = on")  # the report never writes
    return conn


def build_report(settings: Settings, logins: Credentials, out: Path) -> Path:
    """Write the report to the file ``out`` (atomically: a reader never sees half a page); return its path.

    Least privilege: the bookkeeping is read by the bookkeeper's login, each domain's panels by that
    domain's observer login; the admin connection runs nothing the domains wrote."""
    declarations = load_declarations(settings.domains_dir)
    with ExitStack() as stack:
        observers = {d.domain: _read_only(stack, logins.observer(d.domain)) for d in declarations}
        wh = Warehouse(_read_only(stack, logins.bookkeeper()), observers)
        page = render_report(settings, wh, declarations, logins.admin.display)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
