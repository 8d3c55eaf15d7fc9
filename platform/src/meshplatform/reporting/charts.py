"""Inline SVG charts (no scripts): stacked bars over a category axis, labelled horizontal bars,
their legend, and the colours of the series."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from meshplatform.reporting.formats import esc, fmt_compact, nice_ticks

# Colour-blind-friendly Tableau 10 palette, assigned in order.
PALETTE = [
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
    names: Iterable[str], order: Sequence[str] = (), fixed: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Stable colours: names in ``order`` first, each with the palette colour of its place there
    (present or not, so a colour keeps its meaning across reports), then the rest alphabetically
    with the colours left over; a colour in ``fixed`` wins."""
    assigned = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(order)} | dict(fixed or {})
    ordered = sorted(set(names), key=lambda s: (order.index(s) if s in order else len(order), s))
    used = {assigned[name] for name in ordered if name in assigned}
    spare = [c for c in PALETTE if c not in used] or PALETTE
    colors, extra = {}, 0
    for name in ordered:
        if name in assigned:
            colors[name] = assigned[name]
        else:
            colors[name] = spare[extra % len(spare)]
            extra += 1
    return colors
