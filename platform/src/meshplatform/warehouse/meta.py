"""The platform's own bookkeeping tables in schema ``mesh_meta``: what was loaded, what was
quarantined, what the quality checks and dbt runs found.

The loader writes and reads the load ledger and the quarantine only through the functions at the
end of this module (no inline SQL on ``mesh_meta`` elsewhere), so how they run can change in one
place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # psycopg is imported by callers that open a connection
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
"""


def ensure_meta(conn: psycopg.Connection) -> None:
    """Create the bookkeeping tables if missing (safe when several tasks do it at once)."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('mesh_meta_ddl'))")
        conn.execute(_DDL)


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


def ledger_entry(conn: psycopg.Connection, sha256: str) -> LedgerEntry | None:
    """The ledger entry of the file with this checksum, if it was loaded."""
    row = conn.execute(
        f"""select file_name, rows_read, rows_loaded, rows_quarantined, rows_inserted, rows_updated
            from {SCHEMA}.load_ledger where file_sha256 = %s""",
        (sha256,),
    ).fetchone()
    return None if row is None else LedgerEntry(*row)


def record_file(conn: psycopg.Connection, sha256: str, domain: str, source: str, entry: LedgerEntry) -> None:
    """Enter a loaded file in the ledger (in the file's transaction)."""
    conn.execute(
        f"""insert into {SCHEMA}.load_ledger (file_sha256, domain, source, file_name, rows_read,
                rows_loaded, rows_quarantined, rows_inserted, rows_updated)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (sha256, domain, source, entry.file_name, entry.rows_read, entry.rows_loaded, entry.rows_quarantined,
         entry.rows_inserted, entry.rows_updated),
    )  # fmt: skip


def record_quarantine(
    conn: psycopg.Connection, domain: str, source: str, file_name: str, sha256: str, rows: Iterable[QuarantineRow]
) -> int:
    """Store quarantined lines of a file (in the file's transaction); return how many."""
    columns = "domain, source, file_name, file_sha256, line_number, raw_line, reason, reason_code, column_name"
    count = 0
    with conn.cursor().copy(f"copy {SCHEMA}.quarantine ({columns}) from stdin") as copy:
        for q in rows:
            copy.write_row((domain, source, file_name, sha256, q.line_number, q.raw_line, q.reason, q.reason_code,
                            q.column_name))  # fmt: skip
            count += 1
    return count


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
