"""The platform's own bookkeeping in schema ``mesh_meta``: what was loaded, what was quarantined,
what the quality checks and dbt runs found.

``mesh_meta`` belongs to the bookkeeper role (``roles.meta_role``); domains have no right on its
tables. A domain's loader writes its ledger and quarantine rows through ``SECURITY DEFINER``
functions (owned by the bookkeeper, ``search_path`` pinned) that record only the caller's own
domain, in the loader's transaction, so a file's data and its ledger row commit together.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

SCHEMA = "mesh_meta"

_TABLES = f"""
create table if not exists {SCHEMA}.load_ledger (
    file_sha256 text primary key,
    domain text not null,
    source text not null,
    file_name text not null,
    rows_read integer not null,
    rows_loaded integer not null,
    rows_quarantined integer not null,
    rows_inserted integer not null,
    rows_updated integer not null,
    loaded_at timestamptz not null default now(),
    check (rows_read = rows_loaded + rows_quarantined)
);
create table if not exists {SCHEMA}.quarantine (
    id bigserial primary key,
    domain text not null,
    source text not null,
    file_name text not null,
    file_sha256 text not null,
    line_number integer not null,
    raw_line text not null,
    reason text not null,
    quarantined_at timestamptz not null default now(),
    unique (file_sha256, line_number)
);
create table if not exists {SCHEMA}.quality_results (
    id bigserial primary key,
    domain text not null,
    target text not null,
    expectation text not null,
    column_name text,
    success boolean not null,
    unexpected_count bigint,
    element_count bigint,
    validated_at timestamptz not null default now()
);
create table if not exists {SCHEMA}.dbt_results (
    id bigserial primary key,
    run_id text not null,
    domain text not null,
    unique_id text not null,
    resource_type text not null,
    status text not null,
    execution_time double precision,
    recorded_at timestamptz not null default now()
);
-- which login role loads which domain's files (kept by the platform's setup)
create table if not exists {SCHEMA}.domain_logins (role_name text primary key, domain text not null);
"""

# Every function runs as the bookkeeper; the caller is session_user (a SECURITY DEFINER function
# cannot be entered with another session user), and must be the login of the domain it records.
_DEFINER = "language plpgsql security definer set search_path = pg_catalog, pg_temp"
_FUNCTIONS = f"""
create or replace function {SCHEMA}.check_caller(p_domain text) returns void {_DEFINER} as $$
begin
    if not exists (select 1 from {SCHEMA}.domain_logins where role_name = session_user and domain = p_domain) then
        raise exception 'role % may not record files of domain %', session_user, p_domain
            using errcode = 'insufficient_privilege';
    end if;
end $$;
create or replace function {SCHEMA}.loaded_file(p_domain text, p_sha256 text)
returns table (file_name text, rows_read integer, rows_loaded integer, rows_quarantined integer,
               rows_inserted integer, rows_updated integer) {_DEFINER} as $$
begin
    perform {SCHEMA}.check_caller(p_domain);
    return query select l.file_name, l.rows_read, l.rows_loaded, l.rows_quarantined, l.rows_inserted,
                        l.rows_updated
                 from {SCHEMA}.load_ledger l where l.file_sha256 = p_sha256 and l.domain = p_domain;
end $$;
create or replace function {SCHEMA}.record_load(p_domain text, p_source text, p_file_name text, p_sha256 text,
    p_read integer, p_loaded integer, p_quarantined integer, p_inserted integer, p_updated integer)
returns void {_DEFINER} as $$
begin
    perform {SCHEMA}.check_caller(p_domain);
    insert into {SCHEMA}.load_ledger (file_sha256, domain, source, file_name, rows_read, rows_loaded,
                                      rows_quarantined, rows_inserted, rows_updated)
    values (p_sha256, p_domain, p_source, p_file_name, p_read, p_loaded, p_quarantined, p_inserted, p_updated);
end $$;
create or replace function {SCHEMA}.record_quarantine(p_domain text, p_source text, p_file_name text,
    p_sha256 text, p_lines integer[], p_raw_lines text[], p_reasons text[])
returns void {_DEFINER} as $$
begin
    perform {SCHEMA}.check_caller(p_domain);
    insert into {SCHEMA}.quarantine (domain, source, file_name, file_sha256, line_number, raw_line, reason)
    select p_domain, p_source, p_file_name, p_sha256, l, r, q from unnest(p_lines, p_raw_lines, p_reasons) as u(l, r, q);
end $$;
"""
_LOADER_FUNCTIONS = ("loaded_file(text, text)", "record_load(text, text, text, text, integer, integer, integer, "
                     "integer, integer)", "record_quarantine(text, text, text, text, integer[], text[], text[])")  # fmt: skip


def ensure_meta(conn: psycopg.Connection, owner: str, loaders: dict[str, str]) -> None:
    """Admin setup: the bookkeeping schema, tables and functions owned by ``owner`` (a role the
    admin may SET ROLE to), and the loader functions executable by exactly ``loaders``
    (login role -> domain). Safe when several tasks run it at once."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('mesh_meta_ddl'))")
        ident = sql.Identifier(owner)
        conn.execute(sql.SQL("create schema if not exists {} authorization {}").format(sql.Identifier(SCHEMA), ident))
        conn.execute(sql.SQL("alter schema {} owner to {}").format(sql.Identifier(SCHEMA), ident))
        conn.execute(sql.SQL("set local role {}").format(ident))  # everything below belongs to the bookkeeper
        conn.execute(_TABLES)
        conn.execute(_FUNCTIONS)
        conn.execute("reset role")
        for (table,) in conn.execute(
            "select c.oid::regclass::text from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind = 'r' and c.relowner <> %s::regrole",
            (SCHEMA, owner),
        ).fetchall():  # tables an earlier platform version created as the admin
            conn.execute(sql.SQL("alter table {} owner to {}").format(sql.SQL(table), ident))
        conn.execute(sql.SQL("delete from {}.domain_logins").format(sql.Identifier(SCHEMA)))
        with conn.cursor() as cur:
            cur.executemany(f"insert into {SCHEMA}.domain_logins values (%s, %s)", list(loaders.items()))
        roles = sql.SQL(", ").join(map(sql.Identifier, loaders))
        conn.execute(sql.SQL("revoke all on schema {} from public").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(SCHEMA), roles))
        for function in (*_LOADER_FUNCTIONS, "check_caller(text)"):
            target = sql.SQL(f"{SCHEMA}.{function}")
            conn.execute(sql.SQL("revoke all on function {} from public").format(target))
        for function in _LOADER_FUNCTIONS:
            conn.execute(sql.SQL("grant execute on function {} to {}").format(sql.SQL(f"{SCHEMA}.{function}"), roles))


def ledger_entry(conn: psycopg.Connection, domain: str, sha256: str) -> tuple[str, int, int, int, int, int] | None:
    """The ledger row of a file the domain loaded: (file name, read, loaded, quarantined, inserted, updated)."""
    return conn.execute(f"select * from {SCHEMA}.loaded_file(%s, %s)", (domain, sha256)).fetchone()


def record_load(
    conn: psycopg.Connection, domain: str, source: str, file_name: str, sha256: str, counts: Sequence[int]
) -> None:
    """Ledger row of a loaded file; ``counts``: read, loaded, quarantined, inserted, updated."""
    conn.execute(
        f"select {SCHEMA}.record_load(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (domain, source, file_name, sha256, *counts),
    )


def record_quarantine(
    conn: psycopg.Connection, domain: str, source: str, file_name: str, sha256: str,
    rows: Sequence[tuple[int, str, str]],
) -> None:  # fmt: skip
    """Quarantine rows of a file: (line number, raw line, reason) each."""
    if rows:
        lines, raw, reasons = (list(column) for column in zip(*rows, strict=True))
        conn.execute(
            f"select {SCHEMA}.record_quarantine(%s, %s, %s, %s, %s, %s, %s)",
            (domain, source, file_name, sha256, lines, raw, reasons),
        )
