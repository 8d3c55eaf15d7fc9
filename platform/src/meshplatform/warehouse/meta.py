"""The platform's own bookkeeping in schema ``mesh_meta``: what was loaded, what was quarantined,
what the quality checks and dbt runs found.

``mesh_meta`` belongs to the bookkeeper role (``roles.meta_role``); domains have no right on its
tables. A domain's loader writes its ledger and quarantine rows through ``SECURITY DEFINER``
functions (owned by the bookkeeper, ``search_path`` pinned) that record only the caller's own
domain, in the loader's transaction, so a file's data and its ledger row commit together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

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
-- Added after the first release: a structured reason (code and column) beside the human one.
alter table {SCHEMA}.quarantine add column if not exists reason_code text;
alter table {SCHEMA}.quarantine add column if not exists column_name text;
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
    values (p_sha256, p_domain, p_source, p_file_name, p_read, p_loaded, p_quarantined, p_inserted, p_updated)
    -- a file loaded again on request (a reload) gets the counts and time of its latest load
    on conflict (file_sha256) do update set file_name = excluded.file_name, rows_read = excluded.rows_read,
        rows_loaded = excluded.rows_loaded, rows_quarantined = excluded.rows_quarantined,
        rows_inserted = excluded.rows_inserted, rows_updated = excluded.rows_updated, loaded_at = now()
        where {SCHEMA}.load_ledger.domain = excluded.domain;
end $$;
create or replace function {SCHEMA}.record_quarantine(p_domain text, p_source text, p_file_name text,
    p_sha256 text, p_lines integer[], p_raw_lines text[], p_reasons text[], p_codes text[], p_columns text[])
returns void {_DEFINER} as $$
begin
    perform {SCHEMA}.check_caller(p_domain);
    insert into {SCHEMA}.quarantine (domain, source, file_name, file_sha256, line_number, raw_line, reason,
                                      reason_code, column_name)
    select p_domain, p_source, p_file_name, p_sha256, l, r, q, c, n
    from unnest(p_lines, p_raw_lines, p_reasons, p_codes, p_columns) as u(l, r, q, c, n)
    on conflict (file_sha256, line_number) do nothing;  -- a reloaded file's lines are kept once
end $$;
"""
_LOADER_FUNCTIONS = ("loaded_file(text, text)", "record_load(text, text, text, text, integer, integer, integer, "
                     "integer, integer)", "record_quarantine(text, text, text, text, integer[], text[], text[], text[], text[])")  # fmt: skip


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


@dataclass(frozen=True)
class LedgerEntry:
    """A file in the load ledger: loaded once, identified by its checksum."""

    file_name: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_inserted: int
    rows_updated: int


@dataclass(frozen=True)
class QuarantineRow:
    """One line that was not loaded: where, its text (a bounded prefix), why (text, code, column)."""

    line_number: int
    raw_line: str
    reason: str
    reason_code: str
    column_name: str | None = None


def ledger_entry(conn: psycopg.Connection, domain: str, sha256: str) -> LedgerEntry | None:
    """The ledger entry of a file the domain loaded (by checksum), if it was loaded."""
    row = conn.execute(f"select * from {SCHEMA}.loaded_file(%s, %s)", (domain, sha256)).fetchone()
    return None if row is None else LedgerEntry(*row)


def record_file(conn: psycopg.Connection, sha256: str, domain: str, source: str, entry: LedgerEntry) -> None:
    """Enter a loaded file in the ledger, in the file's transaction (through the definer function)."""
    conn.execute(
        f"select {SCHEMA}.record_load(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (domain, source, entry.file_name, sha256, entry.rows_read, entry.rows_loaded, entry.rows_quarantined,
         entry.rows_inserted, entry.rows_updated),
    )  # fmt: skip


def record_quarantine(
    conn: psycopg.Connection, domain: str, source: str, file_name: str, sha256: str, rows: Iterable[QuarantineRow]
) -> int:
    """Store quarantined lines of a file, in the file's transaction; return how many."""
    rows = list(rows)
    if rows:
        conn.execute(
            f"select {SCHEMA}.record_quarantine(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (domain, source, file_name, sha256, [q.line_number for q in rows], [q.raw_line for q in rows],
             [q.reason for q in rows], [q.reason_code for q in rows], [q.column_name for q in rows]),
        )  # fmt: skip
    return len(rows)


# --- reading the load ledger and the quarantine (the summary and the report read them here) ---


@dataclass(frozen=True)
class SourceLoads:
    """Totals of the load ledger for one source, over every file loaded so far."""

    domain: str
    source: str
    files: int
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    last_loaded_at: datetime | None


def source_loads(conn: psycopg.Connection) -> list[SourceLoads]:
    """Load ledger totals per source that has files, by domain and source."""
    rows = conn.execute(
        f"""select domain, source, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined), max(loaded_at)
            from {SCHEMA}.load_ledger group by domain, source order by domain, source"""
    ).fetchall()
    return [SourceLoads(*row) for row in rows]


@dataclass(frozen=True)
class QuarantineKind:
    """Quarantined rows of one source that share the kind of their reason."""

    domain: str
    source: str
    kind: str
    rows: int
    example: str  # one full reason of this kind


def quarantine_kinds(conn: psycopg.Connection) -> list[QuarantineKind]:
    """Quarantined rows per source and kind (the stored column and reason code of a row's first
    problem), most frequent kind first within a source."""
    rows = conn.execute(
        f"""select domain, source, coalesce(column_name || ': ', '') || coalesce(reason_code, 'unknown'),
                   count(*), min(reason)
            from {SCHEMA}.quarantine group by 1, 2, 3 order by 1, 2, 4 desc, 3"""
    ).fetchall()
    return [QuarantineKind(*row) for row in rows]
