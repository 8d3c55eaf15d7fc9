"""The domains' part of the report: headline cards and panels, drawn from their declarations.

Nothing here knows a domain: every query is built from a declaration (``declarations.py``) and
every colour comes from the palette in the order the declaration gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import psycopg

from meshplatform.reporting.charts import PALETTE, horizontal_bar_chart, legend, series_colors, stacked_bar_chart
from meshplatform.reporting.declarations import Bars, Block, Kpi, Panel, Pivot, StackedBars, Table, Template, Text
from meshplatform.reporting.elements import not_built, note, swatch, table
from meshplatform.reporting.formats import NUMERIC_FORMATS, auto_format, esc, fmt_compact, fmt_pct, fmt_value, markup
from meshplatform.reporting.relations import Warehouse

Colors = dict[str, dict[str, str]]
"""Per stacked dimension of a panel (its SQL expression), the colour of each of its values."""


class _Query:
    """Queries over one declared relation, run as the domain that declares it."""

    def __init__(self, wh: Warehouse, domain: str, relation: str) -> None:
        self.wh, self.domain, self.relation = wh, domain, relation

    def rows(self, select: str, rest: str = "") -> list[tuple[Any, ...]]:
        return self.wh.domain_rows(self.domain, f"select {select} from {self.relation} {rest}".rstrip())


def kpi_card(wh: Warehouse, kpi: Kpi) -> tuple[str, str, str]:
    """(label, value, detail) of one headline card; a missing relation or a failed query shows why."""
    relation = wh.relation(*kpi.relation)
    if not relation:
        return kpi.label, "—", "not built yet"
    details = kpi.detail.expressions if kpi.detail else []
    try:
        row = _Query(wh, kpi.domain, relation).rows(", ".join([kpi.value, *(e for e, _ in details)]))[0]
    except psycopg.Error as exc:
        return kpi.label, "—", f"could not read: {str(exc).strip().splitlines()[0]}"
    return kpi.label, fmt_value(row[0], kpi.format), _fill(kpi.detail, row[1:]) if kpi.detail else ""


def intro(panel: Panel) -> str:
    """The panel's intro (declared prose) and the relation it reads."""
    source = f"Source: <code>{esc('.'.join(panel.relation))}</code>."
    return f"{markup(panel.intro)} {source}" if panel.intro else source


def panel_body(wh: Warehouse, panel: Panel) -> str:
    """Every block of a panel, or a note when its relation is missing or empty."""
    relation = wh.relation(*panel.relation)
    if not relation:
        return not_built(".".join(panel.relation))
    q = _Query(wh, panel.domain, relation)
    if not q.rows("1", "limit 1"):
        return note("The table exists but holds no rows yet.")
    colors: Colors = {}
    return "".join(_block(q, block, colors) for block in panel.blocks)


def _block(q: _Query, block: Block, colors: Colors) -> str:
    if isinstance(block, Text):
        expressions = block.text.expressions
        row = q.rows(", ".join(e for e, _ in expressions))[0] if expressions else ()
        return f'<p class="muted">{esc(_fill(block.text, row))}</p>'
    if isinstance(block, StackedBars):
        return _stacked_bars(q, block, colors)
    if isinstance(block, Bars):
        return _bars(q, block)
    if isinstance(block, Table):
        return _table(q, block, colors)
    return _pivot(q, block, colors)


def _fill(template: Template, values: Sequence[Any]) -> str:
    found = iter(values)
    return "".join(part if isinstance(part, str) else fmt_value(next(found), part[1]) for part in template.parts)


def _label(value: Any) -> str:
    return "—" if value is None else fmt_value(value, "text")


def _humanize(expression: str) -> str:
    return expression.replace("_", " ").capitalize()


def _stacked_bars(q: _Query, block: StackedBars, colors: Colors) -> str:
    rows = q.rows(f"{block.x}, {block.stack}, coalesce({block.value}, 0)", "group by 1, 2 order by 1, 2")
    palette = colors[block.stack] = series_colors((_label(r[1]) for r in rows), block.order, block.colors)
    xs = list(dict.fromkeys(r[0] for r in rows))
    cell = {(r[0], _label(r[1])): float(r[2]) for r in rows}
    series = [(name, color, [cell.get((x, name), 0.0) for x in xs]) for name, color in palette.items()]
    integer = block.format == "int"
    dates = [x for x in xs if isinstance(x, date)]
    one_year = len(dates) == len(xs) and len({d.year for d in dates}) == 1
    chart = stacked_bar_chart(
        [f"{x:%b %d}" if one_year else _label(x) for x in xs],
        [_label(x) for x in xs],
        series,
        y_title=block.axis,
        value_format=lambda v: f"{fmt_value(v, block.format)} {block.unit}".rstrip(),
        integer=integer,
        total_format=(lambda v: fmt_value(v, "int")) if integer else fmt_compact,
        aria=f"{block.axis or block.value} per {_humanize(block.x).lower()}, stacked by {_humanize(block.stack).lower()}",
    )
    return legend(palette.items()) + chart


def _bars(q: _Query, block: Bars) -> str:
    expressions = [value for _, value in block.bars] + ([block.share_of] if block.share_of else [])
    row = q.rows(", ".join(expressions))[0]
    whole = float(row[-1] or 0) if block.share_of else None

    def value_format(value: float) -> str:
        return fmt_value(value) + (f" ({fmt_pct(value, whole)})" if whole is not None else "")

    bars = [
        (label, float(value or 0), PALETTE[i % len(PALETTE)])
        for i, ((label, _), value) in enumerate(zip(block.bars, row, strict=False))
    ]
    return horizontal_bar_chart(bars, value_format=value_format, aria=", ".join(label for label, _ in block.bars))


def _table(q: _Query, block: Table, colors: Colors) -> str:
    rest = f"where {block.where} " if block.where else ""
    rest += f"group by {block.group_by} " if block.group_by else ""
    rest += f"order by {block.order_by or 1}"
    rest += f" limit {block.limit}" if block.limit else ""
    rows = q.rows(", ".join(c.value for c in block.columns), rest)
    title = f"<h3>{esc(block.title)}</h3>" if block.title else ""
    if not rows:
        return title + note(esc(block.empty))
    palettes = [colors.get(c.value) for c in block.columns]
    if palettes[0] and not block.order_by:  # rows of a coloured dimension follow its colour order
        order = list(palettes[0])
        rows.sort(key=lambda r: order.index(_label(r[0])) if _label(r[0]) in order else len(order))
    formats = [
        c.format if c.format != "auto" else auto_format(next((r[i] for r in rows if r[i] is not None), None))
        for i, c in enumerate(block.columns)
    ]

    def cell(value: Any, fmt: str, palette: dict[str, str] | None) -> str:
        if fmt == "tags":
            return " ".join(f'<span class="badge flag">{esc(tag)}</span>' for tag in value or ())
        if palette and _label(value) in palette:
            return swatch(palette[_label(value)], _label(value))
        return esc(fmt_value(value, fmt))

    body = table(
        [c.label for c in block.columns],
        [[cell(v, f, p) for v, f, p in zip(row, formats, palettes, strict=True)] for row in rows],
        numeric=[i for i, f in enumerate(formats) if f in NUMERIC_FORMATS],
        raw=range(len(block.columns)),
    )
    return title + (f'<div class="narrow">{body}</div>' if len(block.columns) <= 3 else body)


def _pivot(q: _Query, block: Pivot, colors: Colors) -> str:
    rows = q.rows(f"{block.rows}, {block.columns}, {block.value}", "group by 1, 2 order by 1, 2")
    names = list(colors.get(block.columns) or dict.fromkeys(_label(r[1]) for r in rows))
    keys = list(dict.fromkeys(r[0] for r in rows))
    cell = {(r[0], _label(r[1])): r[2] for r in rows}
    body = table(
        [_humanize(block.rows), *names],
        [(_label(key), *(fmt_value(cell.get((key, n)), block.format) for n in names)) for key in keys],
        numeric=range(1, len(names) + 1),
    )
    title = block.title or f"{_humanize(block.value)} per {block.rows} and {block.columns}"
    return f"<details><summary>{esc(title)} ({len(keys)} rows)</summary>{body}</details>"
