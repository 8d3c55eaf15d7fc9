"""The relations present in the warehouse, found by name, and a read-only way to query them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg


def quote(*parts: str) -> str:
    """A quoted, dotted SQL name: ``quote("a", "b")`` -> ``"a"."b"``."""
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


class Warehouse:
    """The tables and views of the warehouse (read once) and the session that reads them."""

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
            return quote(schema, name)
        versions = [
            (int(m[1]), table)
            for s, table in self.tables
            if s == schema and (m := re.fullmatch(re.escape(name) + r"_v(\d+)", table))
        ]
        return quote(schema, max(versions)[1]) if versions else None

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(query, params).fetchall()
