"""What a domain shows in the report, declared in its ``domains/<name>/report.yml``.

A declaration names relations of the domain's own schema and SQL expressions over them; the
platform builds the queries, runs each as one statement with the domain's role in a read-only
transaction (so it reads what the domain may read), and draws the result. The file has two lists:

``headline``: cards at the top of the report, each ``label``, ``from`` (a relation), ``value``
(an aggregate expression), optional ``format`` and ``detail`` (text with ``{expression}`` or
``{expression | format}`` placeholders).

``panels``: one section each: ``title``, ``from``, optional ``id`` and ``intro`` (``**bold**`` and
```code``` allowed), and ``blocks``, each of one ``type``:

- ``text``: ``text`` with placeholders, like a card's detail;
- ``stacked_bars``: one bar per value of ``x``, one segment per value of ``stack``, height
  ``value``; optional ``format`` (int or amount), ``axis`` (its title), ``unit`` (hover text),
  ``order`` (the stack values first, in this order, then the rest) and ``colors`` (value: colour);
- ``bars``: one horizontal bar per item of ``bars`` (``label``, ``value``); with ``share_of``
  each value also shows as a share of that expression;
- ``table``: ``columns`` (``label``, ``value``, ``format``), optional ``title``, ``where``,
  ``group_by``, ``order_by``, ``limit`` and ``empty`` (the note shown when no row matches);
- ``pivot``: ``rows`` by ``columns``, each cell ``value``; optional ``title`` and ``format``;
  shown folded.

Formats: auto (from the value), int, amount (2 decimals), ratio (4 decimals), percent (of a
fraction), compact (12.5k), text, tags (an array shown as badges).
"""

from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from meshplatform import domains
from meshplatform.errors import MeshError
from meshplatform.reporting.formats import FORMATS

DECLARATION_FILE = "report.yml"
_HINT = "see the README, section 'Add a domain', for the shape of report.yml"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class Template:
    """Text with SQL expressions in braces: literal parts and (expression, format) pairs."""

    parts: tuple[str | tuple[str, str], ...]

    @property
    def expressions(self) -> list[tuple[str, str]]:
        return [p for p in self.parts if isinstance(p, tuple)]


@dataclass(frozen=True)
class Kpi:
    domain: str
    label: str
    relation: tuple[str, str]
    value: str
    format: str
    detail: Template | None


@dataclass(frozen=True)
class Column:
    label: str
    value: str
    format: str


@dataclass(frozen=True)
class Text:
    text: Template


@dataclass(frozen=True)
class StackedBars:
    x: str
    stack: str
    value: str
    format: str
    axis: str
    unit: str
    order: tuple[str, ...]
    colors: dict[str, str]


@dataclass(frozen=True)
class Bars:
    bars: tuple[tuple[str, str], ...]
    share_of: str | None


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    title: str
    where: str | None
    group_by: str | None
    order_by: str | None
    limit: int | None
    empty: str


@dataclass(frozen=True)
class Pivot:
    rows: str
    columns: str
    value: str
    title: str
    format: str


Block = Text | StackedBars | Bars | Table | Pivot


@dataclass(frozen=True)
class Panel:
    domain: str
    id: str
    title: str
    intro: str
    relation: tuple[str, str]
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Declaration:
    domain: str
    path: Path
    headline: tuple[Kpi, ...]
    panels: tuple[Panel, ...]


def load_declarations(domains_dir: Path) -> list[Declaration]:
    """The declarations of every domain that has a report.yml, upstream domains first."""
    return [
        read_declaration(domain.name, domain.path / DECLARATION_FILE)
        for domain in domains.discover(domains_dir)
        if (domain.path / DECLARATION_FILE).exists()
    ]


def read_declaration(domain: str, path: Path) -> Declaration:
    """Parse and check one report.yml; a mistake names its file, line and column."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        raise MeshError(f"{path}: not valid YAML: {exc}", hint=_HINT) from exc
    reader = _Reader(path, domain)
    document = document if document is not None else _Node()
    reader.keys(document, "the file", optional={"headline", "panels"})
    headline = tuple(reader.kpi(item) for item in reader.items(document, "headline"))
    panels = tuple(reader.panel(item) for item in reader.items(document, "panels"))
    ids = [p.id for p in panels]
    for panel_id in {i for i in ids if ids.count(i) > 1}:
        reader.fail(document, f"two panels have the id {panel_id!r}; give one an `id:`")
    return Declaration(domain, path, headline, panels)


class _Node(dict[str, Any]):
    """A YAML mapping that remembers where it starts."""

    line = 1
    column = 1


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> _Node:
    mapping = _Node(loader.construct_mapping(node, deep=True))
    mapping.line, mapping.column = node.start_mark.line + 1, node.start_mark.column + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


class _Reader:
    """Checks the parts of one file, failing with its path and the mapping's line and column."""

    def __init__(self, path: Path, domain: str) -> None:
        self.path, self.domain = path, domain

    def fail(self, node: Any, problem: str) -> NoReturn:
        where = f"{self.path}:{node.line}:{node.column}" if isinstance(node, _Node) else str(self.path)
        raise MeshError(f"{where}: {problem}", hint=_HINT)

    def keys(self, node: Any, what: str, required: Set[str] = frozenset(), optional: Set[str] = frozenset()) -> None:
        if not isinstance(node, _Node):
            self.fail(node, f"{what} must be a mapping of keys to values")
        missing, unknown = required - node.keys(), node.keys() - required - optional
        if missing:
            self.fail(node, f"{what} needs {', '.join(sorted(missing))}")
        if unknown:
            self.fail(
                node,
                f"{what} has unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(required | optional))}",
            )

    def items(self, node: _Node, key: str) -> list[Any]:
        value = node.get(key) or []
        if not isinstance(value, list):
            self.fail(node, f"{key} must be a list")
        return value

    def text(self, node: _Node, key: str, default: str | None = None) -> Any:
        value = node.get(key, default)
        if value is not None and not isinstance(value, str | int | float):
            self.fail(node, f"{key} must be text")
        return None if value is None else str(value)

    def format(self, node: _Node, default: str = "auto") -> str:
        fmt = self.text(node, "format", default)
        if fmt not in FORMATS:
            self.fail(node, f"format {fmt!r} is not one of {', '.join(FORMATS)}")
        return fmt

    def relation(self, node: _Node) -> tuple[str, str]:
        name = self.text(node, "from")
        if not _NAME.fullmatch(name):
            self.fail(node, f"from: {name!r} must name a table or view of schema {self.domain} (no schema prefix)")
        return self.domain, name

    def template(self, node: _Node, key: str) -> Template | None:
        text = self.text(node, key)
        if text is None:
            return None
        parts: list[str | tuple[str, str]] = []
        for i, piece in enumerate(_PLACEHOLDER.split(text)):
            if i % 2 == 0:
                parts.append(piece)
                continue
            expression, _, fmt = piece.rpartition(" | ") if " | " in piece else (piece, "", "auto")
            if fmt.strip() not in FORMATS:
                self.fail(node, f"{key}: format {fmt.strip()!r} in {{{piece}}} is not one of {', '.join(FORMATS)}")
            parts.append((expression.strip(), fmt.strip()))
        return Template(tuple(parts))

    def kpi(self, node: Any) -> Kpi:
        self.keys(node, "a headline card", {"label", "from", "value"}, {"format", "detail"})
        return Kpi(
            self.domain,
            self.text(node, "label"), self.relation(node), self.text(node, "value"), self.format(node),
            self.template(node, "detail"),
        )  # fmt: skip

    def panel(self, node: Any) -> Panel:
        self.keys(node, "a panel", {"title", "from", "blocks"}, {"id", "intro"})
        title = self.text(node, "title")
        panel_id = self.text(node, "id") or re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        blocks = tuple(self.block(item) for item in self.items(node, "blocks"))
        return Panel(self.domain, panel_id, title, self.text(node, "intro", ""), self.relation(node), blocks)

    def block(self, node: Any) -> Block:
        kind = node.get("type") if isinstance(node, _Node) else None
        what = f"a {kind} block"
        if kind == "text":
            self.keys(node, what, {"type", "text"})
            return Text(self.template(node, "text"))
        if kind == "stacked_bars":
            self.keys(node, what, {"type", "x", "stack", "value"}, {"format", "axis", "unit", "order", "colors"})
            order, colors = node.get("order") or [], node.get("colors") or {}
            if not isinstance(order, list) or not isinstance(colors, dict):
                self.fail(node, "order must be a list of values and colors a mapping of value to colour")
            fmt = self.format(node, "amount")
            if fmt not in ("int", "amount"):
                self.fail(node, "a stacked_bars block's format is int or amount")
            return StackedBars(
                self.text(node, "x"), self.text(node, "stack"), self.text(node, "value"), fmt,
                self.text(node, "axis", ""), self.text(node, "unit", ""), tuple(map(str, order)),
                {str(k): str(v) for k, v in colors.items()},
            )  # fmt: skip
        if kind == "bars":
            self.keys(node, what, {"type", "bars"}, {"share_of"})
            bars = []
            for bar in self.items(node, "bars"):
                self.keys(bar, "a bar", {"label", "value"})
                bars.append((self.text(bar, "label"), self.text(bar, "value")))
            return Bars(tuple(bars), self.text(node, "share_of"))
        if kind == "table":
            self.keys(node, what, {"type", "columns"}, {"title", "where", "group_by", "order_by", "limit", "empty"})
            columns = []
            for column in self.items(node, "columns"):
                self.keys(column, "a column", {"label", "value"}, {"format"})
                columns.append(Column(self.text(column, "label"), self.text(column, "value"), self.format(column)))
            limit = node.get("limit")
            if limit is not None and (not isinstance(limit, int) or limit < 1):
                self.fail(node, "limit must be a positive whole number")
            return Table(
                tuple(columns), self.text(node, "title", ""), self.text(node, "where"), self.text(node, "group_by"),
                self.text(node, "order_by"), limit, self.text(node, "empty", "No rows."),
            )  # fmt: skip
        if kind == "pivot":
            self.keys(node, what, {"type", "rows", "columns", "value"}, {"title", "format"})
            return Pivot(
                self.text(node, "rows"), self.text(node, "columns"), self.text(node, "value"),
                self.text(node, "title", ""), self.format(node),
            )  # fmt: skip
        self.fail(node, f"a block needs a type: text, stacked_bars, bars, table or pivot (found {kind!r})")
