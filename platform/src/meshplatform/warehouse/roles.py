"""Isolation in Postgres: one role per domain.

Each domain gets a ``NOLOGIN`` role (``mesh_<domain>``) that owns the domain's schemas
(``raw_<domain>``, ``<domain>_staging``, ``<domain>``) and everything in them: the loader writes
the raw schema as that role and the domain's dbt runs as it (``role:`` in its profiles.yml). The
platform connects as one admin user, which may ``SET ROLE`` to every domain role, and keeps
``mesh_meta`` to itself.

Reading across domains goes through a second role per domain, ``<role>_readers``: it has
``USAGE`` on the domain's published schema, and the domain's dbt grants it ``SELECT`` on each
``access: public`` model (a post-hook in dbt_project.yml), never on protected or private ones.
Its members are the roles of the domains whose ``dbt_loom.config.yml`` reads this domain, so
the grants follow what the domains declare.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import pq, sql

from meshplatform.domains import Domain

_LOCK = "select pg_advisory_xact_lock(hashtext('mesh_roles_ddl'))"


def role_of(domain: str) -> str:
    """The role the domain's loader and dbt run as; its profiles.yml reads the same variable."""
    return os.environ.get(f"MESH_PG_ROLE_{domain.upper()}") or f"mesh_{domain}"


def readers_of(domain: str) -> str:
    """The role whose members may read the domain's public models."""
    return f"{role_of(domain)}_readers"


def schemas_of(domain: str) -> tuple[str, str, str]:
    """The domain's schemas: raw (loader), staging and published (dbt's ``<target>_<custom>``)."""
    return f"raw_{domain}", f"{domain}_staging", domain


def _on_shared_catalog(conn: psycopg.Connection, statement: sql.Composable) -> None:
    """Run a role statement that may already be done: roles belong to the whole server, so the
    platform of another database on it may run the same one at the same moment (the advisory
    lock covers one database only)."""
    conn.execute(
        sql.SQL("do $$ begin {}; exception when duplicate_object or unique_violation then null; end $$").format(
            statement
        )
    )


def _ensure_domain(conn: psycopg.Connection, domain: str, schemas: Sequence[str]) -> None:
    role, readers = sql.Identifier(role_of(domain)), sql.Identifier(readers_of(domain))
    for name in (role, readers):
        _on_shared_catalog(conn, sql.SQL("create role {} nologin").format(name))
    # The admin must be able to SET ROLE (a superuser can anyway; a CREATEROLE user needs this).
    _on_shared_catalog(conn, sql.SQL("grant {} to current_user").format(role))
    for schema in map(sql.Identifier, schemas):
        conn.execute(sql.SQL("create schema if not exists {} authorization {}").format(schema, role))
        conn.execute(sql.SQL("alter schema {} owner to {}").format(schema, role))
    # Relations an earlier platform version created as admin: the domain owns them from now on.
    others = conn.execute(
        """select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
             and c.relowner <> (select oid from pg_roles where rolname = %s)""",
        (list(schemas), role_of(domain)),
    ).fetchall()
    for schema, relation in others:
        conn.execute(sql.SQL("alter table {} owner to {}").format(sql.Identifier(schema, relation), role))
    if domain in schemas:
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(domain), readers))


def ensure_raw_schema(conn: psycopg.Connection, domain: str) -> None:
    """What the loader needs: the domain's role and its raw schema, owned by the role. Idempotent."""
    with conn.transaction():
        conn.execute(_LOCK)
        raw_schema = schemas_of(domain)[0]
        _ensure_domain(conn, domain, [raw_schema])


def ensure_roles(conn: psycopg.Connection, domains: Sequence[Domain]) -> None:
    """Set up every domain's roles and schemas, and make each domain's role a reader of exactly
    the domains it reads (``Domain.upstream``). Idempotent; safe when several tasks run it."""
    with conn.transaction():
        conn.execute(_LOCK)
        # Before PostgreSQL 15 every role may create objects in schema public.
        conn.execute("revoke create on schema public from public")
        for domain in domains:
            _ensure_domain(conn, domain.name, schemas_of(domain.name))
        members = set(
            conn.execute(
                """select r.rolname, m.rolname from pg_auth_members a
                   join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member"""
            ).fetchall()
        )
        for consumer in domains:
            for producer in domains:
                pair = (readers_of(producer.name), role_of(consumer.name))
                wanted = producer.name in consumer.upstream
                if wanted and pair not in members:
                    _on_shared_catalog(conn, sql.SQL("grant {} to {}").format(*map(sql.Identifier, pair)))
                elif not wanted and pair in members:
                    conn.execute(sql.SQL("revoke {} from {}").format(*map(sql.Identifier, pair)))


@contextmanager
def acting_as(conn: psycopg.Connection, domain: str) -> Iterator[None]:
    """Run the block's statements as the domain's role. Only inside a transaction: the role
    reverts when the transaction ends, also when the block fails."""
    if conn.info.transaction_status != pq.TransactionStatus.INTRANS:
        raise ValueError("acting_as needs an open transaction")
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role_of(domain))))
    yield
    conn.execute("set local role none")
