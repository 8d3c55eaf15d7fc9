"""The platform's own bookkeeping tables in schema ``mesh_meta``: what was loaded, what was
quarantined, what the quality checks and dbt runs found."""

from __future__ import annotations

import psycopg

SCHEMA = "mesh_meta"

_DDL = f"""
create schema if not exists {SCHEMA};
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
"""


def ensure_meta(conn: psycopg.Connection) -> None:
    """Create the bookkeeping tables if missing (safe when several tasks do it at once)."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('mesh_meta_ddl'))")
        conn.execute(_DDL)
