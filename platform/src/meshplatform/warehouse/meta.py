"""The platform's own bookkeeping tables in schema ``mesh_meta``: what was loaded, what was
quarantined, what the quality checks and dbt runs found."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    """Quarantined rows per source and kind of reason, most frequent kind first within a source."""
    rows = conn.execute(
        f"select domain, source, reason, count(*) from {SCHEMA}.quarantine group by domain, source, reason"
    ).fetchall()
    grouped: dict[tuple[str, str, str], list[Any]] = {}
    for domain, source, reason, count in sorted(rows, key=lambda r: r[2]):
        entry = grouped.setdefault((domain, source, reason_kind(reason)), [0, reason])
        entry[0] += count
    kinds = [QuarantineKind(*key, count, example) for key, (count, example) in grouped.items()]
    return sorted(kinds, key=lambda k: (k.domain, k.source, -k.rows, k.kind))


# A problem of one value, as the extractor writes it: ``<column>: '<value>' <problem>``.
_VALUE_PROBLEM = re.compile(r"(?P<column>[A-Za-z_]\w*): '.*' (?P<problem>(?:is|does|must) .*)", re.S)
# Several problems of one row are joined by '; ' (split only where a new problem starts).
_NEXT_PROBLEM = re.compile(
    r"; (?=[A-Za-z_]\w*: '|missing (?:key|value for) |the last column |too (?:many|few) |blank line)"
)


def reason_kind(reason: str) -> str:
    """The kind of a quarantined row (its columns and problems, without the offending values), so rows group.

    The one place that derives a row's problem codes and columns, here from the reason text the
    extractor wrote: ``amount: '-5' must be greater than 0`` -> ``amount: must be greater than 0``;
    ``code: 'XYZ' is not one of A, B`` -> ``code: not one of allowed values``;
    ``too many fields: expected 11, found 12`` -> ``too many fields: expected 11``.
    """
    kinds = [_problem_kind(part.strip()) for part in _NEXT_PROBLEM.split(reason.strip())]
    return "; ".join(dict.fromkeys(k for k in kinds if k)) or "(no reason given)"


def _problem_kind(part: str) -> str:
    match = _VALUE_PROBLEM.fullmatch(part)
    if match:
        problem = match["problem"]
        if problem.startswith("is not one of"):
            problem = "not one of allowed values"
        elif problem.startswith("is "):
            problem = problem[3:]
        return f"{match['column']}: {problem}"
    part = re.sub(r",? found .*$", "", part, flags=re.S)  # the count or value found varies
    if "'" in part:  # unknown shape: keep the text before the first quoted value
        part = part.split("'", 1)[0].rstrip(" :,")
    return part
