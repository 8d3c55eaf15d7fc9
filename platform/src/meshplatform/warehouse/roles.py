"""Isolation in Postgres: every domain logs in as itself.

Per warehouse database the platform keeps these roles (``<p>`` is the database name, or
``MESH_PG_ROLE_PREFIX``; roles belong to the whole server, so the prefix keeps the roles of two
warehouse databases on one server apart):

- ``<p>_<domain>`` (LOGIN): owns the domain's schemas (``raw_<domain>``, ``<domain>_staging``,
  ``<domain>``) and everything in them. The domain's dbt and the loader of its files log in as
  it. Not a superuser, no ``CREATEROLE``/``CREATEDB``; its only memberships are the readers
  roles of the domains it declares upstream, so ``SET ROLE``/``RESET ROLE`` lead nowhere stronger.
- ``<p>_<domain>_readers`` (NOLOGIN): ``USAGE`` on the published schema; the domain's dbt grants
  it ``SELECT`` on each ``access: public`` model (post-hook in dbt_project.yml). Its members are
  the roles (and observers) of the domains whose ``dbt_loom.config.yml`` reads this domain.
- ``<p>_<domain>_observer`` (LOGIN): reads the domain's published schema (default privileges)
  and what the domain reads upstream; writes nothing. Quality checks of products and the report
  read through it.
- ``<p>_meta`` (LOGIN): owns ``mesh_meta`` (bookkeeping) and reads no domain object.

The admin connection (``MESH_DATABASE_URL`` or the embedded server's superuser) only creates these
roles, schemas and grants: it never reads a domain's relations or runs SQL a domain wrote.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence

import psycopg
from psycopg import sql

from meshplatform.domains import Domain
from meshplatform.errors import MeshError

_LOCK = "select pg_advisory_xact_lock(hashtext('mesh_roles_ddl'))"
_MAX_NAME = 63  # NAMEDATALEN - 1
_STRONG = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls")

Passwords = Callable[[str], str]  # role name -> its password


def prefix(database: str) -> str:
    """What every role name of this warehouse database starts with."""
    return os.environ.get("MESH_PG_ROLE_PREFIX") or re.sub(r"[^a-z0-9_]", "_", database.lower())


def _name(database: str, *parts: str) -> str:
    name = "_".join([prefix(database), *parts])
    if len(name.encode()) > _MAX_NAME:
        raise MeshError(
            f"role name {name!r} is longer than Postgres allows ({_MAX_NAME} bytes)",
            hint="set MESH_PG_ROLE_PREFIX to a shorter prefix for this warehouse's roles",
        )
    return name


def domain_role(database: str, domain: str) -> str:
    """The login role the domain's dbt and loads run as (also dbt's ``target.user``)."""
    return _name(database, domain)


def readers_role(database: str, domain: str) -> str:
    """The role whose members may read the domain's public models: ``<domain role>_readers``."""
    return _name(database, domain, "readers")


def observer_role(database: str, domain: str) -> str:
    """The read-only login role that checks and reports read the domain's products as."""
    return _name(database, domain, "observer")


def meta_role(database: str) -> str:
    """The login role that owns the bookkeeping in ``mesh_meta``."""
    return _name(database, "meta")


def login_roles(database: str, domains: Sequence[Domain]) -> list[str]:
    """Every login role of the warehouse: one per domain, its observer, and the bookkeeper."""
    names = [meta_role(database)]
    for domain in domains:
        names += [domain_role(database, domain.name), observer_role(database, domain.name)]
    return names


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


def _login(conn: psycopg.Connection, role: str, password: str) -> None:
    """Create or update a login role; the password travels as a SCRAM verifier, never in clear."""
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    name = sql.Identifier(role)
    _on_shared_catalog(conn, sql.SQL("create role {} login").format(name))
    conn.execute(sql.SQL("alter role {} with login password {}").format(name, sql.Literal(verifier)))
    # JIT compiling cost more than it saved in every statement measured (docs/benchmarks.md): 1.5 s
    # on an incremental staging query that runs in 0.7 s without it, nothing gained on a full build.
    conn.execute(sql.SQL("alter role {} set jit = off").format(name))
    row = conn.execute(f"select {', '.join(_STRONG)} from pg_roles where rolname = %s", (role,)).fetchone()
    if any(row):
        raise MeshError(
            f"role {role} holds {[a for a, on in zip(_STRONG, row, strict=True) if on]}: a domain or platform "
            "login must not; the platform does not take such rights away by itself",
            hint=f"as a superuser: alter role {role} nosuperuser nocreaterole nocreatedb noreplication nobypassrls",
        )


def _ensure_schemas(conn: psycopg.Connection, owner: str, schemas: Sequence[str]) -> None:
    ident = sql.Identifier(owner)
    for schema in map(sql.Identifier, schemas):
        conn.execute(sql.SQL("create schema if not exists {} authorization {}").format(schema, ident))
        conn.execute(sql.SQL("alter schema {} owner to {}").format(schema, ident))
    # Relations an earlier platform version created as admin: the domain owns them from now on.
    others = conn.execute(
        """select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
             and c.relowner <> (select oid from pg_roles where rolname = %s)""",
        (list(schemas), owner),
    ).fetchall()
    for schema, relation in others:
        conn.execute(sql.SQL("alter table {} owner to {}").format(sql.Identifier(schema, relation), ident))


def _ensure_domain(conn: psycopg.Connection, database: str, domain: str, passwords: Passwords) -> None:
    role, observer = domain_role(database, domain), observer_role(database, domain)
    readers = readers_role(database, domain)
    _on_shared_catalog(conn, sql.SQL("create role {} nologin").format(sql.Identifier(readers)))
    for login in (role, observer):
        _login(conn, login, passwords(login))
    # A CREATEROLE admin must be able to SET ROLE to create schemas for the role (a superuser can anyway).
    _on_shared_catalog(conn, sql.SQL("grant {} to current_user").format(sql.Identifier(role)))
    _ensure_schemas(conn, role, schemas_of(domain))
    published = sql.Identifier(domain)
    for grantee in (readers, observer):
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(published, sql.Identifier(grantee)))
    # The observer reads every relation of the published schema, also those dbt recreates later.
    conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(published, sql.Identifier(observer)))
    conn.execute(
        sql.SQL("alter default privileges for role {} in schema {} grant select on tables to {}").format(
            sql.Identifier(role), published, sql.Identifier(observer)
        )
    )


def _memberships(conn: psycopg.Connection, roles: Sequence[str]) -> set[tuple[str, str]]:
    """(granted role, member) pairs whose member is one of ``roles``."""
    rows = conn.execute(
        """select r.rolname, m.rolname from pg_auth_members a
           join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member
           where m.rolname = any(%s)""",
        (list(roles),),
    ).fetchall()
    return set(rows)


def ensure_roles(conn: psycopg.Connection, domains: Sequence[Domain], passwords: Passwords) -> None:
    """Set up every domain's roles and schemas, and make each domain's role (and observer) a
    reader of exactly the domains it reads (``Domain.upstream``); any other membership of those
    login roles is revoked. Idempotent; safe when several tasks run it."""
    database = conn.info.dbname
    if any(domain_role(database, d.name) == meta_role(database) for d in domains):
        raise MeshError("a domain may not be named 'meta': its role would be the bookkeeper's")
    with conn.transaction():
        conn.execute(_LOCK)
        # Before PostgreSQL 15 every role may create objects in schema public.
        conn.execute("revoke create on schema public from public")
        bookkeeper = meta_role(database)
        _login(conn, bookkeeper, passwords(bookkeeper))
        _on_shared_catalog(conn, sql.SQL("grant {} to current_user").format(sql.Identifier(bookkeeper)))
        for domain in domains:
            _ensure_domain(conn, database, domain.name, passwords)
        wanted = {
            (readers_role(database, producer), member)
            for consumer in domains
            for producer in consumer.upstream
            for member in (domain_role(database, consumer.name), observer_role(database, consumer.name))
        }
        logins = login_roles(database, domains)
        present = _memberships(conn, logins)
        for granted, member in sorted(wanted - present):
            _on_shared_catalog(conn, sql.SQL("grant {} to {}").format(sql.Identifier(granted), sql.Identifier(member)))
        for granted, member in sorted(present - wanted):
            conn.execute(sql.SQL("revoke {} from {}").format(sql.Identifier(granted), sql.Identifier(member)))
