"""A self-contained HTML report of the published data products.

One file, inline CSS and inline SVG charts, no scripts and no external resources: it opens
offline, can be mailed around and archived next to a build. Everything is read from the
warehouse (read-only session): the published marts of the domains and the platform's own
bookkeeping in ``mesh_meta``. A relation that does not exist yet turns its section into a short
"not built yet" note instead of failing the report.

    python -m meshplatform.reporting.report [OUT]      # default: $MESH_HOME/report/mesh_report.html
"""

from __future__ import annotations

import html
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from meshplatform.config import Settings
from meshplatform.contracts.model import inbound_sources
from meshplatform.errors import MeshError
from meshplatform.warehouse.connection import ConnectionInfo, connect
from meshplatform.warehouse.meta import SCHEMA as META

REPORT_NAME = "mesh_report.html"

# One accent colour per currency and per status (colour-blind-friendly Tableau 10 palette).
_PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]
CURRENCY_ORDER = ["USD", "EUR", "GBP", "MXN", "BRL", "ARS", "COP"]
STATUS_ORDER = ["requested", "processing", "completed", "failed", "cancelled"]
STATUS_COLORS = {
    "requested": "#9fb3c8",
    "processing": "#4e79a7",
    "completed": "#59a14f",
    "failed": "#e15759",
    "cancelled": "#bab0ac",
}
FLAG_LABELS = {
    "flag_unverified_kyc": "Unverified KYC with completed withdrawals",
    "flag_large_withdrawal": "Large withdrawal",
    "flag_unknown_user": "Unknown user (not in dim_users)",
}


def esc(value: object) -> str:
    """Escape any text for HTML (element content and quoted attribute values)."""
    return html.escape("" if value is None else str(value), quote=True)


# --- numbers ---------------------------------------------------------------------------------


def fmt_int(value: int | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def fmt_amount(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{Decimal(value):,.2f}"


def fmt_pct(part: float, whole: float) -> str:
    return "—" if not whole else f"{100 * part / whole:.1f}%"


def fmt_compact(value: float) -> str:
    """Axis labels: 0, 750, 12.5k, 1.25M."""
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= divisor:
            return f"{value / divisor:.2f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def nice_ticks(top: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Round tick values from 0 to at least ``top``."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in steps if m * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


# --- quarantine reasons ----------------------------------------------------------------------

# A problem of one value, as the extractor writes it: ``<column>: '<value>' <problem>``.
_VALUE_PROBLEM = re.compile(r"(?P<column>[A-Za-z_]\w*): '.*' (?P<problem>(?:is|does|must) .*)", re.S)
# Several problems of one row are joined by '; ' (split only where a new problem starts).
_NEXT_PROBLEM = re.compile(
    r"; (?=[A-Za-z_]\w*: '|missing (?:key|value for) |the last column |too (?:many|few) |blank line)"
)


def reason_kind(reason: str) -> str:
    """The kind of a quarantine reason, without the offending value, so that rows group.

    ``fiat_currency: 'XYZ' is not one of USD, EUR`` -> ``fiat_currency: not one of allowed values``;
    ``too many fields: expected 11, found 12`` -> ``too many fields: expected 11``.
    """
    kinds = [_problem_kind(part.strip()) for part in _NEXT_PROBLEM.split(reason.strip())]
    return "; ".join(dict.fromkeys(k for k in kinds if k)) or "(no reason given)"


def _problem_kind(part: str) -> str:
    match = _VALUE_PROBLEM.fullmatch(part)
    if match:
        problem = match["problem"]
        if problem.startswith("is not one of"):
            problem = "not one of allowed values"
        elif problem.startswith("is "):
            problem = problem[3:]
        return f"{match['column']}: {problem}"
    part = re.sub(r",? found .*$", "", part, flags=re.S)  # the count or value found varies
    if "'" in part:  # unknown shape: keep the text before the first quoted value
        part = part.split("'", 1)[0].rstrip(" :,")
    return part


# --- SVG charts ------------------------------------------------------------------------------


def stacked_bar_chart(
    labels: Sequence[str],
    titles: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    y_title: str,
    value_format: Callable[[float], str],
    integer: bool = False,
    total_format: Callable[[float], str] = fmt_compact,
    aria: str,
) -> str:
    """Vertical stacked bars: one bar per category, one segment per series (name, colour, values)."""
    width, height = 1000, 380
    left, right, top, bottom = 78, 20, 28, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(labels)
    totals = [sum(float(s[2][i]) for s in series) for i in range(n)]
    ticks = nice_ticks(max(totals, default=0), integer=integer)
    y_max = ticks[-1]

    def y(value: float) -> float:
        return top + plot_h - plot_h * value / y_max

    out = [
        f'<div class="chart-wrap"><svg class="chart" viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" '
        f'role="img" aria-label="{esc(aria)}">'
    ]
    for tick in ticks:
        ty = y(tick)
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        out.append(
            f'<text class="tick" x="{left - 8}" y="{ty + 4:.1f}" text-anchor="end">{esc(fmt_compact(tick))}</text>'
        )
    out.append(
        f'<text class="axis-title" transform="translate(16 {top + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{esc(y_title)}</text>'
    )
    band = plot_w / max(n, 1)
    bar = min(band * 0.66, 90)
    label_every = max(1, math.ceil(n / 14))
    for i in range(n):
        x = left + band * i + (band - bar) / 2
        base = 0.0
        for name, color, values in series:
            value = float(values[i])
            if value <= 0:
                continue
            y0, y1 = y(base), y(base + value)
            out.append(
                f'<rect x="{x:.1f}" y="{y1:.1f}" width="{bar:.1f}" height="{max(y0 - y1, 0.5):.1f}" fill="{esc(color)}">'
                f"<title>{esc(titles[i])} · {esc(name)}: {esc(value_format(value))}</title></rect>"
            )
            base += value
        cx = x + bar / 2
        if n <= 20 and totals[i] > 0:
            out.append(
                f'<text class="total" x="{cx:.1f}" y="{y(totals[i]) - 6:.1f}" text-anchor="middle">{esc(total_format(totals[i]))}</text>'
            )
        if i % label_every == 0:
            out.append(
                f'<text class="tick" x="{cx:.1f}" y="{top + plot_h + 20}" text-anchor="middle">{esc(labels[i])}</text>'
            )
    out.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    out.append("</svg></div>")
    return "".join(out)


def horizontal_bar_chart(
    rows: Sequence[tuple[str, float, str]], *, value_format: Callable[[float], str], aria: str
) -> str:
    """One labelled horizontal bar per row (label, value, colour)."""
    width, row_h, left, right = 1000, 38, 400, 190
    height = row_h * len(rows) + 12
    top_value = max((v for _, v, _ in rows), default=0) or 1
    out = [
        f'<div class="chart-wrap"><svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(aria)}">'
    ]
    for i, (label, value, color) in enumerate(rows):
        ty = 6 + i * row_h
        bar = (width - left - right) * value / top_value
        out.append(
            f'<text class="label" x="{left - 12}" y="{ty + row_h / 2 + 1:.1f}" text-anchor="end">{esc(label)}</text>'
        )
        out.append(
            f'<rect x="{left}" y="{ty + 7}" width="{width - left - right}" height="{row_h - 14}" class="track"/>'
        )
        if value > 0:
            out.append(
                f'<rect x="{left}" y="{ty + 7}" width="{max(bar, 2):.1f}" height="{row_h - 14}" fill="{esc(color)}">'
                f"<title>{esc(label)}: {esc(value_format(value))}</title></rect>"
            )
        out.append(
            f'<text class="value" x="{left + max(bar, 2) + 8:.1f}" y="{ty + row_h / 2 + 1:.1f}">{esc(value_format(value))}</text>'
        )
    out.append("</svg></div>")
    return "".join(out)


def legend(items: Iterable[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><i class="swatch" style="background:{esc(color)}"></i>{esc(name)}</span>' for name, color in items
        )
        + "</div>"
    )


def series_colors(
    names: Iterable[str], preferred: Sequence[str], fixed: dict[str, str] | None = None
) -> dict[str, str]:
    """Stable colours: known names in their preferred order first, then the rest alphabetically."""
    fixed = fixed or {p: _PALETTE[i % len(_PALETTE)] for i, p in enumerate(preferred)}
    ordered = sorted(set(names), key=lambda s: (preferred.index(s) if s in preferred else len(preferred), s))
    used = {fixed[name] for name in ordered if name in fixed}
    spare = [c for c in _PALETTE if c not in used] or _PALETTE
    colors, extra = {}, 0
    for name in ordered:
        if name in fixed:
            colors[name] = fixed[name]
        else:
            colors[name] = spare[extra % len(spare)]
            extra += 1
    return colors


# --- HTML pieces -----------------------------------------------------------------------------


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: Iterable[int] = (), raw: Iterable[int] = ()
) -> str:
    """An HTML table; cells are escaped except the columns listed in ``raw`` (already HTML)."""
    numeric, raw = set(numeric), set(raw)
    head = "".join(f"<th{' class=num' if i in numeric else ''}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in numeric else ''}>{cell if i in raw else esc(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def note(text_html: str, kind: str = "info") -> str:
    return f'<p class="note {kind}">{text_html}</p>'


def not_built(*relations: str) -> str:
    names = ", ".join(f"<code>{esc(r)}</code>" for r in relations)
    return note(
        f"<strong>Not built yet:</strong> {names} does not exist in this warehouse. Run the build (<code>mesh build</code>) and regenerate the report.",
        "missing",
    )


def badge(ok: bool | None, text: str | None = None) -> str:
    kind = "ok" if ok else ("fail" if ok is False else "warn")
    return f'<span class="badge {kind}">{esc(text or ("pass" if ok else "fail"))}</span>'


# --- reading the warehouse -------------------------------------------------------------------


def _quote(*parts: str) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


class Warehouse:
    """The relations present in the warehouse and a read-only way to query them."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        rows = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema not in ('pg_catalog', 'information_schema')"
        ).fetchall()
        self.tables = {(schema, name) for schema, name in rows}

    def relation(self, schema: str, name: str) -> str | None:
        """Quoted name of ``schema.name``; a dbt versioned model may be ``name_v<N>`` (latest wins)."""
        if (schema, name) in self.tables:
            return _quote(schema, name)
        versions = [
            (int(m[1]), table)
            for s, table in self.tables
            if s == schema and (m := re.fullmatch(re.escape(name) + r"_v(\d+)", table))
        ]
        return _quote(schema, max(versions)[1]) if versions else None

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(query, params).fetchall()


def _section(section_id: str, title: str, intro: str, body: Callable[[], str]) -> str:
    try:
        content = body()
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        content = note(f"<strong>Could not read this section:</strong> {esc(first)}", "missing")
    intro_html = f'<p class="intro">{intro}</p>' if intro else ""
    return f'<section class="card" id="{esc(section_id)}"><h2>{esc(title)}</h2>{intro_html}{content}</section>'


# --- sections --------------------------------------------------------------------------------


def _headline(wh: Warehouse) -> str:
    fct = wh.relation("withdrawals", "fct_withdrawals")
    dim = wh.relation("users", "dim_users")
    summary = wh.relation("withdrawals", "user_withdrawal_summary")
    cards: list[tuple[str, str, str]] = []
    missing = "not built yet"
    if fct:
        count, volume, completed, first, last = wh.rows(
            f"""select count(*), coalesce(sum(toco_amount), 0), count(*) filter (where status = 'completed'),
                       min(requested_date), max(requested_date) from {fct}"""
        )[0]
        period = f"requested {first:%Y-%m-%d} to {last:%Y-%m-%d}" if first else "no withdrawals yet"
        cards += [
            ("Unique withdrawals", fmt_int(count), period),
            (
                "Total toco volume",
                fmt_int(round(volume)) if volume < 10**8 else fmt_compact(float(volume)),
                f"{fmt_amount(volume)} tocos, all statuses",
            ),
            ("Completed", fmt_pct(completed, count), f"{fmt_int(completed)} of {fmt_int(count)} withdrawals"),
        ]
    else:
        cards += [("Unique withdrawals", "—", missing), ("Total volume", "—", missing), ("Completed", "—", missing)]
    if dim:
        (users,) = wh.rows(f"select count(*) from {dim}")[0]
        cards.insert(1, ("Users", fmt_int(users), "in users.dim_users"))
    else:
        cards.insert(1, ("Users", "—", missing))
    if summary:
        flagged, with_withdrawals = wh.rows(f"select count(*) filter (where is_flagged), count(*) from {summary}")[0]
        cards.append(
            (
                "Flagged users",
                fmt_int(flagged),
                f"{fmt_pct(flagged, with_withdrawals)} of {fmt_int(with_withdrawals)} users who withdrew",
            )
        )
    else:
        cards.append(("Flagged users", "—", missing))
    return (
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><div class="kpi-label">{esc(label)}</div><div class="kpi-value">{esc(value)}</div>'
            f'<div class="kpi-sub">{esc(sub)}</div></div>'
            for label, value, sub in cards
        )
        + "</div>"
    )


def _daily_series(
    rows: list[Any], colors: dict[str, str], value: Callable[[Any], float]
) -> tuple[list[Any], list[tuple[str, str, list[float]]]]:
    """Pivot (day, series name, ...) rows into sorted days and one value list per series (0 when absent)."""
    days = sorted({r[0] for r in rows})
    cell = {(r[0], r[1]): value(r) for r in rows}
    return days, [(name, color, [cell.get((d, name), 0) for d in days]) for name, color in colors.items()]


def _day_labels(days: Sequence[date]) -> list[str]:
    years = {d.year for d in days}
    return [f"{d:%b %d}" if len(years) == 1 else f"{d:%Y-%m-%d}" for d in days]


def _daily_volumes(wh: Warehouse) -> str:
    daily = wh.relation("withdrawals", "fct_daily_withdrawal_volumes")
    if not daily:
        return not_built("withdrawals.fct_daily_withdrawal_volumes")
    rows = wh.rows(
        f"""select requested_date, fiat_currency, coalesce(sum(withdrawal_count), 0), coalesce(sum(toco_amount), 0),
                   coalesce(sum(fiat_amount), 0)
            from {daily} group by 1, 2 order by 1, 2"""
    )
    if not rows:
        return note("The table exists but holds no rows yet.")
    colors = series_colors((r[1] for r in rows), CURRENCY_ORDER)
    days, series = _daily_series(rows, colors, lambda r: float(r[3]))
    cell = {(r[0], r[1]): r for r in rows}  # the per-day fiat table below
    chart = stacked_bar_chart(
        _day_labels(days),
        [f"{d:%Y-%m-%d}" for d in days],
        series,
        y_title="toco amount",
        value_format=lambda v: f"{v:,.2f} tocos",
        aria="Daily withdrawal volume in tocos, stacked by fiat currency",
    )
    totals: dict[str, list[Any]] = {cur: [0, Decimal(0), Decimal(0)] for cur in colors}
    for _, cur, count, toco, fiat in rows:
        totals[cur][0] += count
        totals[cur][1] += toco or 0
        totals[cur][2] += fiat or 0
    grand_toco = sum(t[1] for t in totals.values())
    swatch = '<i class="swatch" style="background:{}"></i>{}'
    currency_table = table(
        [
            "Currency",
            "Withdrawals",
            "Fiat amount (in the currency)",
            "Toco amount",
            "Share of toco volume",
            "Avg. rate (fiat per toco)",
        ],
        [
            (
                swatch.format(esc(colors[cur]), esc(cur)),
                fmt_int(count),
                f"{fmt_amount(fiat)} {cur}",
                fmt_amount(toco),
                fmt_pct(toco, grand_toco),
                f"{fiat / toco:,.4f}" if toco else "—",
            )
            for cur, (count, toco, fiat) in totals.items()
        ],
        numeric=range(1, 6),
        raw=[0],
    )
    per_day = table(
        ["Requested date", *colors],
        [(f"{d:%Y-%m-%d}", *(fmt_amount(cell[(d, c)][4]) if (d, c) in cell else "—" for c in colors)) for d in days],
        numeric=range(1, len(colors) + 1),
    )
    return (
        legend(colors.items())
        + chart
        + "<h3>Totals per currency</h3>"
        + currency_table
        + f"<details><summary>Fiat amount per day and currency ({len(days)} days)</summary>{per_day}</details>"
    )


def _status_breakdown(wh: Warehouse) -> str:
    daily = wh.relation("withdrawals", "fct_daily_withdrawal_volumes")
    if not daily:
        return not_built("withdrawals.fct_daily_withdrawal_volumes")
    rows = wh.rows(
        f"select requested_date, status, coalesce(sum(withdrawal_count), 0) from {daily} group by 1, 2 order by 1, 2"
    )
    if not rows:
        return note("The table exists but holds no rows yet.")
    colors = series_colors((r[1] for r in rows), STATUS_ORDER, STATUS_COLORS)
    days, series = _daily_series(rows, colors, lambda r: int(r[2]))
    chart = stacked_bar_chart(
        _day_labels(days),
        [f"{d:%Y-%m-%d}" for d in days],
        series,
        y_title="withdrawals",
        value_format=lambda v: f"{v:,.0f} withdrawals",
        integer=True,
        total_format=lambda v: f"{v:,.0f}",
        aria="Withdrawals per requested date, stacked by latest status",
    )
    status_totals = {s: sum(v) for s, _, v in series}
    grand = sum(status_totals.values())
    summary = table(
        ["Status", "Withdrawals", "Share"],
        [
            (f'<i class="swatch" style="background:{esc(colors[s])}"></i>{esc(s)}', fmt_int(n), fmt_pct(n, grand))
            for s, n in status_totals.items()
        ],
        numeric=[1, 2],
        raw=[0],
    )
    return legend(colors.items()) + chart + '<div class="narrow">' + summary + "</div>"


def _risk_flags(wh: Warehouse) -> str:
    summary = wh.relation("withdrawals", "user_withdrawal_summary")
    if not summary:
        return not_built("withdrawals.user_withdrawal_summary")
    counts = wh.rows(
        f"""select count(*) filter (where flag_unverified_kyc), count(*) filter (where flag_large_withdrawal),
                   count(*) filter (where flag_unknown_user), count(*) filter (where is_flagged), count(*)
            from {summary}"""
    )[0]
    unverified, large, unknown, flagged, users = (int(c) for c in counts)
    bars = horizontal_bar_chart(
        [
            (FLAG_LABELS["flag_unverified_kyc"], unverified, "#f28e2b"),
            (FLAG_LABELS["flag_large_withdrawal"], large, "#e15759"),
            (FLAG_LABELS["flag_unknown_user"], unknown, "#b07aa1"),
            ("Flagged (any flag)", flagged, "#52606d"),
        ],
        value_format=lambda v: f"{v:,.0f} ({fmt_pct(v, users)})",
        aria="Users per risk flag",
    )
    top = wh.rows(
        f"""select user_id, kyc_status, withdrawal_count, completed_count, total_toco_amount, max_toco_amount,
                   flag_unverified_kyc, flag_large_withdrawal, flag_unknown_user
            from {summary} where is_flagged
            order by total_toco_amount desc nulls last, user_id limit 10"""
    )
    short = {
        "flag_unverified_kyc": "unverified KYC",
        "flag_large_withdrawal": "large withdrawal",
        "flag_unknown_user": "unknown user",
    }
    top_rows = [
        (
            user_id,
            kyc if kyc is not None else "— (not in dim_users)",
            fmt_int(count),
            fmt_int(completed),
            fmt_amount(total),
            fmt_amount(largest),
            " ".join(
                f'<span class="badge flag">{esc(label)}</span>'
                for label, on in zip(short.values(), flags, strict=False)
                if on
            ),
        )
        for user_id, kyc, count, completed, total, largest, *flags in top
    ]
    top_html = (
        table(
            ["User", "KYC status", "Withdrawals", "Completed", "Total tocos", "Largest (tocos)", "Flags"],
            top_rows,
            numeric=[0, 2, 3, 4, 5],
            raw=[6],
        )
        if top_rows
        else note("No user is flagged.")
    )
    return (
        f'<p class="muted">{fmt_int(users)} users have withdrawals; a user can carry several flags.</p>'
        + bars
        + "<h3>Top 10 flagged users by total toco amount</h3>"
        + top_html
    )


def _quarantine(wh: Warehouse) -> str:
    if (META, "quarantine") not in wh.tables:
        return not_built(f"{META}.quarantine")
    rows = wh.rows(f"select domain, source, reason, count(*) from {_quote(META, 'quarantine')} group by 1, 2, 3")
    if not rows:
        return note("No rows quarantined: every row read from the exports was loaded.", "ok")
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, None])
    for domain, source, reason, count in sorted(rows, key=lambda r: r[2]):
        entry = grouped[(f"{domain}.{source}", reason_kind(reason))]
        entry[0] += count
        entry[1] = entry[1] or reason
    total = sum(e[0] for e in grouped.values())
    ordered = sorted(grouped.items(), key=lambda item: (item[0][0], -item[1][0], item[0][1]))
    return (
        f'<p class="muted">{fmt_int(total)} rows quarantined in total (<code>{META}.quarantine</code> holds each raw line). '
        "Reasons are grouped by kind, without the offending value; a row with several problems counts once, "
        "under the combination.</p>"
        + table(
            ["Source", "Reason", "Rows", "Example"],
            [(source, kind, fmt_int(count), example) for (source, kind), (count, example) in ordered],
            numeric=[2],
        )
    )


def _ledger(wh: Warehouse, settings: Settings) -> str:
    if (META, "load_ledger") not in wh.tables:
        return not_built(f"{META}.load_ledger")
    rows = wh.rows(
        f"""select domain, source, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined), max(loaded_at)
            from {_quote(META, "load_ledger")} group by 1, 2 order by 1, 2"""
    )
    found = {(r[0], r[1]): r for r in rows}
    try:
        expected = [(s.domain, s.name) for s in inbound_sources(settings.contracts_dir)]
    except MeshError:
        expected = []
    for key in expected:
        found.setdefault(key, (*key, 0, 0, 0, 0, None))
    if not found:
        return note("No export file has been loaded yet.")
    return table(
        ["Source", "Files", "Rows read", "Rows loaded", "Rows quarantined", "Quarantined share", "Last loaded (UTC)"],
        [
            (
                f"{domain}.{source}",
                fmt_int(files),
                fmt_int(read),
                fmt_int(loaded),
                fmt_int(quarantined),
                fmt_pct(quarantined, read),
                f"{last.astimezone(UTC):%Y-%m-%d %H:%M}" if last else "never",
            )
            for (domain, source), (_, _, files, read, loaded, quarantined, last) in sorted(found.items())
        ],
        numeric=range(1, 6),
    )


def _expectations(wh: Warehouse) -> str:
    if (META, "quality_results") not in wh.tables:
        return not_built(f"{META}.quality_results")
    rows = wh.rows(
        f"""select target, expectation, column_name, success, unexpected_count, element_count, validated_at
            from {_quote(META, "quality_results")} q
            where validated_at = (select max(validated_at) from {_quote(META, "quality_results")} l where l.target = q.target)
            order by target, id"""
    )
    if not rows:
        return note("No Great Expectations validation has run yet.")
    by_target: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_target[row[0]].append(row)
    blocks = []
    for target, results in by_target.items():
        met = sum(1 for r in results if r[3])
        when = results[0][6].astimezone(UTC)
        ordered = sorted(results, key=lambda r: r[3])  # failures first, otherwise in suite order
        blocks.append(
            f'<div class="block"><h3><code>{esc(target)}</code> {badge(met == len(results), f"{met} of {len(results)} met")}</h3>'
            f'<p class="muted">validated {when:%Y-%m-%d %H:%M} UTC</p>'
            + table(
                ["Expectation", "Column", "Result", "Unexpected"],
                [
                    (
                        esc(e.removeprefix("expect_")).replace("_", "_<wbr>"),
                        esc(col or "—"),
                        badge(ok),
                        esc(fmt_int(unexpected) if unexpected is not None else "—"),
                    )
                    for _, e, col, ok, unexpected, _, _ in ordered
                ],
                numeric=[3],
                raw=[0, 1, 2, 3],
            )
            + "</div>"
        )
    return '<div class="columns">' + "".join(blocks) + "</div>"


def _dbt(wh: Warehouse) -> str:
    if (META, "dbt_results") not in wh.tables:
        return not_built(f"{META}.dbt_results")
    results = _quote(META, "dbt_results")
    # per domain: its latest run; per node of that run: its latest result (a run can record a node twice)
    rows = wh.rows(
        f"""with latest_run as (
                select distinct on (domain) domain, run_id from {results} order by domain, id desc
            )
            select distinct on (r.domain, r.unique_id) r.domain, r.run_id, r.unique_id, r.resource_type, r.status,
                   r.recorded_at
            from {results} r join latest_run using (domain, run_id)
            order by r.domain, r.unique_id, r.id desc"""
    )
    if not rows:
        return note("No dbt run has been recorded yet.")
    domains: dict[str, dict[str, Any]] = {}
    problems = []
    for domain, run_id, unique_id, kind, status, recorded in rows:
        d = domains.setdefault(
            domain,
            {
                "run": run_id,
                "at": recorded,
                "built": 0,
                "model_errors": 0,
                "pass": 0,
                "warn": 0,
                "fail": 0,
                "skipped": 0,
            },
        )
        d["at"] = max(d["at"], recorded)
        if kind in ("model", "snapshot", "seed"):
            d["built" if status == "success" else ("skipped" if status == "skipped" else "model_errors")] += 1
        elif kind in ("test", "unit_test"):
            key = {"pass": "pass", "warn": "warn", "skipped": "skipped"}.get(status, "fail")
            d[key] += 1
        if status not in ("success", "pass"):
            problems.append((domain, kind, unique_id, status))
    summary = table(
        ["Domain", "Latest dbt run", "Models built", "Model errors", "Tests passed", "Warned", "Failed", "Skipped"],
        [
            (
                esc(domain),
                f'<code class="nowrap">{esc(d["run"])}</code><br><span class="muted">{d["at"].astimezone(UTC):%Y-%m-%d %H:%M} UTC</span>',
                esc(fmt_int(d["built"])),
                esc(fmt_int(d["model_errors"])) if not d["model_errors"] else badge(False, fmt_int(d["model_errors"])),
                esc(fmt_int(d["pass"])),
                esc(fmt_int(d["warn"])) if not d["warn"] else badge(None, fmt_int(d["warn"])),
                esc(fmt_int(d["fail"])) if not d["fail"] else badge(False, fmt_int(d["fail"])),
                esc(fmt_int(d["skipped"])),
            )
            for domain, d in sorted(domains.items())
        ],
        numeric=range(2, 8),
        raw=range(8),
    )
    if problems:
        detail = "<h3>Nodes that did not pass</h3>" + table(
            ["Domain", "Type", "Node", "Status"],
            [
                (esc(domain), esc(kind), f"<code>{esc(uid)}</code>", badge(None if status == "warn" else False, status))
                for domain, kind, uid, status in sorted(problems)
            ],
            raw=range(4),
        )
    else:
        detail = note("Every model built and every test passed.", "ok")
    return summary + detail


# --- the page --------------------------------------------------------------------------------

_CSS = """
:root { --fg: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --card: #ffffff; --accent: #2f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 48px; }
header.page { margin-bottom: 20px; }
header.page h1 { margin: 0 0 4px; font-size: 26px; font-weight: 650; letter-spacing: -0.01em; }
header.page p { margin: 0; color: var(--muted); font-size: 14px; }
nav { margin: 14px 0 0; display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: 14px; }
nav a { color: var(--accent); text-decoration: none; }
nav a:hover { text-decoration: underline; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 20px 24px 22px; margin: 0 0 20px; }
.card h2 { margin: 0 0 6px; font-size: 19px; font-weight: 620; }
.card h3 { margin: 22px 0 8px; font-size: 15px; font-weight: 620; }
.intro, .muted { color: var(--muted); font-size: 14px; margin: 0 0 12px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 14px; }
.kpi { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; border-top: 3px solid var(--accent); }
.kpi-label { font-size: 13px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.kpi-value { font-size: 28px; font-weight: 650; margin: 2px 0; font-variant-numeric: tabular-nums; }
.kpi-sub { font-size: 13px; color: var(--muted); }
.chart-wrap { overflow-x: auto; }
svg.chart { display: block; width: 100%; min-width: 640px; height: auto; margin: 6px 0 4px; }
svg.chart text { font-family: inherit; font-size: 13px; fill: #52606d; }
svg.chart text.total { font-weight: 600; fill: #1f2933; }
svg.chart text.axis-title { font-size: 13px; fill: #616e7c; }
svg.chart text.label { font-size: 14px; fill: #1f2933; }
svg.chart text.value { font-size: 14px; font-weight: 600; fill: #1f2933; }
svg.chart line.grid { stroke: #e4e7eb; stroke-width: 1; }
svg.chart line.axis { stroke: #9aa5b1; stroke-width: 1; }
svg.chart rect.track { fill: #f0f2f5; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: 14px; margin: 4px 0 2px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 7px; vertical-align: -1px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 7px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { font-size: 12.5px; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .03em; background: #fafbfc; }
td.num, th.num { text-align: right; white-space: nowrap; }
tbody tr:hover td { background: #f8fafc; }
.narrow { max-width: 520px; }
.nowrap { white-space: nowrap; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 8px 24px; }
.columns .block h3 { margin-top: 8px; }
.columns table { font-size: 13.5px; }
.columns th, .columns td { padding: 6px 7px; }
.columns th { letter-spacing: 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; background: #f0f2f5; padding: 1px 5px; border-radius: 4px; overflow-wrap: break-word; }
.badge { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12.5px; font-weight: 600; line-height: 20px; white-space: nowrap; }
.badge.ok { background: #e3f4e6; color: #1f6b33; }
.badge.fail { background: #fde8e8; color: #a61b1b; }
.badge.warn { background: #fff4d6; color: #8a5a00; }
.badge.flag { background: #eef2f8; color: #334e68; margin: 0 4px 2px 0; }
h3 .badge { margin-left: 8px; vertical-align: 1px; }
.note { margin: 8px 0; padding: 10px 14px; border-radius: 6px; font-size: 14px; background: #eef2f8; border-left: 4px solid #6f8fbf; }
.note.missing { background: #fff8e6; border-left-color: #f0b429; }
.note.ok { background: #e9f6ec; border-left-color: #59a14f; }
details { margin-top: 14px; font-size: 14px; }
details summary { cursor: pointer; color: var(--accent); margin-bottom: 8px; }
footer { color: var(--muted); font-size: 13px; margin-top: 8px; }
@media (max-width: 640px) { main { padding: 16px 10px; } .card { padding: 16px 14px; } .columns { grid-template-columns: 1fr; } }
@media print { body { background: #fff; } .card { break-inside: avoid; border-color: #ccc; } nav { display: none; } }
"""


def render_report(
    settings: Settings,
    info: ConnectionInfo,
    conn: psycopg.Connection,
    generated_at: datetime | None = None,
    bookkeeping: psycopg.Connection | None = None,
) -> str:
    """The whole page as a string, from an open connection to the products (and one to ``mesh_meta``)."""
    wh = Warehouse(conn)
    meta = Warehouse(bookkeeping) if bookkeeping is not None else wh
    generated_at = generated_at or datetime.now(UTC)
    sections = [
        ("headline", "Headline numbers", "", lambda: _headline(wh)),
        (
            "volumes",
            "Daily withdrawal volume by fiat currency",
            "Amounts in different fiat currencies cannot be added up, so the chart compares them in "
            "<strong>tocos</strong> (<code>toco_amount</code>), the one unit common to every withdrawal. "
            "Bars are per requested date and include every status. The tables give the fiat amounts in each currency. "
            "Source: <code>withdrawals.fct_daily_withdrawal_volumes</code>.",
            lambda: _daily_volumes(wh),
        ),
        (
            "status",
            "Status breakdown over time",
            "Unique withdrawals per requested date, by their latest status. "
            "Source: <code>withdrawals.fct_daily_withdrawal_volumes</code>.",
            lambda: _status_breakdown(wh),
        ),
        (
            "risk",
            "Per-user risk flags",
            "Users with at least one withdrawal and the risk flags they carry. "
            "Source: <code>withdrawals.user_withdrawal_summary</code>.",
            lambda: _risk_flags(wh),
        ),
        (
            "quarantine",
            "Data quality: quarantined rows",
            "Rows of the exports that broke their source contract and were kept out of the raw tables.",
            lambda: _quarantine(meta),
        ),
        (
            "ledger",
            "Data quality: loads per source",
            f"All export files loaded so far (rows read = loaded + quarantined). Source: <code>{META}.load_ledger</code>.",
            lambda: _ledger(meta, settings),
        ),
        (
            "expectations",
            "Data quality: Great Expectations on the raw tables and published products",
            f"The latest validation of each raw table. Source: <code>{META}.quality_results</code>.",
            lambda: _expectations(meta),
        ),
        (
            "dbt",
            "Data quality: latest dbt build per domain",
            f"Models built and tests run by the latest recorded dbt run of each domain. Source: <code>{META}.dbt_results</code>.",
            lambda: _dbt(meta),
        ),
    ]
    body = "".join(_section(sid, title, intro, fn) for sid, title, intro, fn in sections)
    short = [(sid, title.removeprefix("Data quality: ")) for sid, title, _, _ in sections]
    nav = "".join(f'<a href="#{esc(sid)}">{esc(name[:1].upper() + name[1:])}</a>' for sid, name in short)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Withdrawals data mesh: data products report</title>"
        f"<style>{_CSS}</style></head><body><main>"
        '<header class="page"><h1>Withdrawals data mesh: data products report</h1>'
        f"<p>Generated {generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC from {esc(info.display)}</p>"
        f"<nav>{nav}</nav></header>"
        f"{body}"
        f"<footer>Published data products: <code>users.dim_users</code>, <code>withdrawals.fct_withdrawals</code>; "
        f"domain marts <code>withdrawals.fct_daily_withdrawal_volumes</code>, <code>withdrawals.user_withdrawal_summary</code>. "
        f"Hover a bar for its exact value.</footer>"
        "</main></body></html>\n"
    )


def build_report(
    settings: Settings, info: ConnectionInfo, out: Path, bookkeeping: ConnectionInfo | None = None
) -> Path:
    """Write the report to ``out`` (a file, or a directory to hold ``mesh_report.html``); return its path.
    Products are read as ``info``, the bookkeeping in ``mesh_meta`` as ``bookkeeping`` (default: ``info``)."""
    out = Path(out)
    if out.is_dir():
        out = out / REPORT_NAME
    with connect(info, autocommit=True) as conn, connect(bookkeeping or info, autocommit=True) as meta_conn:
        for reader in (conn, meta_conn):
            reader.execute("set default_transaction_read_only = on")  # the report never writes
        page = render_report(settings, info, conn, bookkeeping=meta_conn)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
