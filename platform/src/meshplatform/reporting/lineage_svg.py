"""Draw a lineage graph as inline SVG (no JavaScript, no network): one column per step from the
export files to the last products, edges as curves, one node highlighted on request."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Protocol

NODE_W, NODE_H, COL_GAP, ROW_GAP, MARGIN = 215, 30, 45, 12, 10
KIND_CLASS = {"export": "n-export", "raw": "n-raw", "model": "n-model", "product": "n-product"}


class Node(Protocol):
    id: str
    label: str
    kind: str
    domain: str


def _layers(ids: Sequence[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Longest distance from a root: a node sits one column right of its furthest parent."""
    parents: dict[str, list[str]] = {i: [] for i in ids}
    for source, target in edges:
        parents.setdefault(target, []).append(source)
    layer: dict[str, int] = {}

    def depth(node: str, seen: frozenset[str] = frozenset()) -> int:
        if node not in layer:
            if node in seen:  # a cycle cannot come from dbt; draw it flat rather than loop
                return 0
            layer[node] = 1 + max((depth(p, seen | {node}) for p in parents.get(node, [])), default=-1)
        return layer[node]

    for node in ids:
        depth(node)
    return layer


def lineage_svg(nodes: Sequence[Node], edges: Sequence[tuple[str, str]], *, highlight: Iterable[str] = ()) -> str:
    """The graph as an SVG element; ``highlight`` nodes (and the edges between them) stand out."""
    if not nodes:
        return '<p class="muted">No lineage yet: publish the domains (<code>mesh publish</code>).</p>'
    layer = _layers([n.id for n in nodes], edges)
    columns: dict[int, list[Node]] = {}
    for node in sorted(nodes, key=lambda n: (n.domain, n.label)):
        columns.setdefault(layer[node.id], []).append(node)
    position = {
        node.id: (MARGIN + col * (NODE_W + COL_GAP), MARGIN + row * (NODE_H + ROW_GAP))
        for col, members in columns.items()
        for row, node in enumerate(members)
    }
    width = MARGIN * 2 + (max(columns) + 1) * (NODE_W + COL_GAP) - COL_GAP
    height = MARGIN * 2 + max(len(m) for m in columns.values()) * (NODE_H + ROW_GAP) - ROW_GAP
    marked = set(highlight)
    parts = [
        f'<svg class="lineage" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="lineage from export files to data products">'
    ]
    for source, target in edges:
        (x1, y1), (x2, y2) = position[source], position[target]
        x1, y1, y2 = x1 + NODE_W, y1 + NODE_H / 2, y2 + NODE_H / 2
        bend = (x2 - x1) / 2
        css = "edge on" if source in marked and target in marked else "edge"
        parts.append(
            f'<path class="{css}" d="M{x1},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} {x2},{y2:.0f}"/>'
        )
    for node in nodes:
        x, y = position[node.id]
        css = KIND_CLASS.get(node.kind, "n-model") + (" on" if node.id in marked else "")
        label = node.label if len(node.label) <= 30 else node.label[:29] + "…"
        parts.append(
            f'<g class="node {css}"><title>{html.escape(node.id)} ({html.escape(node.kind)}, '
            f"domain {html.escape(node.domain)})</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text x="{x + 10}" y="{y + NODE_H / 2 + 4:.0f}">{html.escape(label)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
