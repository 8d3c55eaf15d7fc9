"""The relations the report's logins can see, found by name, and the read-only sessions that query them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from meshplatform.errors import MeshError


def quote(*parts: str) -> str:
    """A quoted, dotted SQL name: ``quote("a", "b")`` -> ``"a"."b"``."""
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


class Warehouse:
    """The tables and views the report's logins see (read once) and their read-only sessions:
    ``conn`` is the bookkeeper's (``mesh_meta``, no domain object), ``observers`` each domain's
    observer login, which runs the queries that domain's ``report.yml`` declares."""

    def __init__(self, conn: psycopg.Connection, observers: Mapping[str, psycopg.Connection]) -> None:
        self.conn = conn
        self.observers = observers
        self.tables: set[tuple[str, str]] = set()
        for session in (conn, *observers.values()):
            rows = session.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema not in ('pg_catalog', 'information_schema')"
            ).fetchall()
            self.tables |= {(schema, name) for schema, name in rows}

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
        """Rows of a query of the platform's own, on the bookkeeping session."""
        return self.conn.execute(query, params).fetchall()

    def domain_rows(self, domain: str, query: str) -> list[tuple[Any, ...]]:
        """Rows of a query built from a domain's declaration, on that domain's observer login (it
        reads what the domain may read, nothing more) and as one statement (a prepared statement
        holds only one)."""
        if domain not in self.observers:
            raise MeshError(f"no observer login for domain {domain!r}: run `mesh setup`")
        return self.observers[domain].execute(query, prepare=True).fetchall()
