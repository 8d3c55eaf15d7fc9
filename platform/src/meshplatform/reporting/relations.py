"""The relations present in the warehouse, found by name, and the read-only session that queries them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg

from meshplatform.warehouse.roles import acting_as


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
        """Rows of a query of the platform's own."""
        return self.conn.execute(query, params).fetchall()

    def domain_rows(self, domain: str, query: str) -> list[tuple[Any, ...]]:
        """Rows of a query built from a domain's declaration, run as that domain's role (it reads
        what the domain may read) and as one statement (a prepared statement holds only one)."""
        with self.conn.transaction(), acting_as(self.conn, domain):
            return self.conn.execute(query, prepare=True).fetchall()
