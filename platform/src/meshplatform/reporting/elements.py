"""HTML pieces of the report: tables, notes, badges, headline cards, and the card of one section."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import psycopg

from meshplatform.reporting.formats import esc


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
        f"<strong>Not built yet:</strong> {names} does not exist in this warehouse. "
        "Run the build (<code>mesh build</code>) and regenerate the report.",
        "missing",
    )


def badge(ok: bool | None, text: str | None = None, kind: str | None = None) -> str:
    kind = kind or ("ok" if ok else ("fail" if ok is False else "warn"))
    return f'<span class="badge {kind}">{esc(text or ("pass" if ok else "fail"))}</span>'


def swatch(color: str, label: object) -> str:
    return f'<i class="swatch" style="background:{esc(color)}"></i>{esc(label)}'


def kpi_cards(cards: Iterable[tuple[str, str, str]]) -> str:
    """Headline cards: (label, value, one line of detail)."""
    return (
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><div class="kpi-label">{esc(label)}</div><div class="kpi-value">{esc(value)}</div>'
            f'<div class="kpi-sub">{esc(sub)}</div></div>'
            for label, value, sub in cards
        )
        + "</div>"
    )


def section(section_id: str, title: str, intro_html: str, body: Callable[[], str]) -> str:
    """One card of the page; a query that fails turns into a note in the card, not a failed report."""
    try:
        content = body()
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        content = note(f"<strong>Could not read this section:</strong> {esc(first)}", "missing")
    intro = f'<p class="intro">{intro_html}</p>' if intro_html else ""
    return f'<section class="card" id="{esc(section_id)}"><h2>{esc(title)}</h2>{intro}{content}</section>'
