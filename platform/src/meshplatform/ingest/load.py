"""Load: COPY a file's valid rows into a staging table, merge them into the raw table on the
natural key, quarantine the rest, and record the file in the ledger. One transaction per file.

Re-delivering a file (same checksum) is a no-op; a row re-delivered in another file changes
nothing; a later version of a row (greater ``updated_at``) replaces the earlier one. Two versions
with the same ``updated_at`` but different content are settled by the later file (names carry
the export date), so the outcome does not depend on the order files are loaded in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from meshplatform.contracts.model import SourceSpec
from meshplatform.ingest.extract import DEFAULT_CHUNK_ROWS, Quarantined, read_export
from meshplatform.warehouse import meta

Progress = Callable[[str, int, int], None]  # (file name, rows read so far, percent of the file)


@dataclass(frozen=True)
class FileResult:
    file_name: str
    sha256: str
    skipped: bool
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_inserted: int
    rows_updated: int

    @property
    def rows_unchanged(self) -> int:
        return self.rows_loaded - self.rows_inserted - self.rows_updated


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def raw_table_ddl(spec: SourceSpec) -> sql.Composed:
    """DDL of the raw table, derived from the inbound contract."""
    columns = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name), sql.SQL(c.physical_type), sql.SQL(" not null" if c.required else "")
        )
        for c in spec.columns
    ]
    columns += [
        sql.SQL("_source_file text not null"),
        sql.SQL("_source_line integer not null"),
        sql.SQL("_loaded_at timestamptz not null default now()"),
        sql.SQL("primary key ({})").format(sql.SQL(", ").join(map(sql.Identifier, spec.key))),
    ]
    return sql.SQL("create table if not exists {} ({})").format(
        sql.Identifier(spec.schema, spec.table), sql.SQL(", ").join(columns)
    )


def ensure_tables(conn: psycopg.Connection, spec: SourceSpec) -> None:
    """Create the source's raw table if missing (the connection is the domain's login, so the
    domain owns it; the platform's setup made the schema)."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('mesh_meta_ddl'))")
        conn.execute(raw_table_ddl(spec))


def _merge_sql(spec: SourceSpec) -> sql.Composed:
    cols = [*spec.column_names, "_source_file", "_source_line"]
    ident = sql.Identifier
    key = sql.SQL(", ").join(map(ident, spec.key))
    compared = [c for c in spec.column_names if c not in spec.key]
    version = ident(spec.version_column)
    return sql.SQL(
        """
        with merged as (
            insert into {target} as t ({cols}, _loaded_at)
            select distinct on ({key}) {cols}, now() from _stage
            order by {key}, {version} desc, _source_line desc
            on conflict ({key}) do update set {updates}, _loaded_at = excluded._loaded_at
            where excluded.{version} > t.{version}
               or (excluded.{version} = t.{version} and ({old}) is distinct from ({new})
                   and (excluded._source_file, excluded._source_line) > (t._source_file, t._source_line))
            returning (xmax = 0) as inserted
        )
        select count(*) filter (where inserted), count(*) filter (where not inserted) from merged
        """
    ).format(
        target=sql.Identifier(spec.schema, spec.table),
        cols=sql.SQL(", ").join(map(ident, cols)),
        key=key,
        version=version,
        updates=sql.SQL(", ").join(sql.SQL("{c} = excluded.{c}").format(c=ident(c)) for c in cols if c not in spec.key),
        old=sql.SQL(", ").join(sql.SQL("t.{}").format(ident(c)) for c in compared),
        new=sql.SQL(", ").join(sql.SQL("excluded.{}").format(ident(c)) for c in compared),
    )


def _ledger_entry(conn: psycopg.Connection, spec: SourceSpec, sha256: str) -> FileResult | None:
    row = meta.ledger_entry(conn, spec.domain, sha256)
    return None if row is None else FileResult(row[0], sha256, True, *row[1:])


def load_file(
    conn: psycopg.Connection,
    spec: SourceSpec,
    path: Path,
    *,
    progress: Progress | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> FileResult:
    """Load one export file in a single transaction; a re-delivered file is skipped. ``conn`` is
    the domain's own login: everything the file's data or the domain's tables trigger runs with
    the domain's rights only."""
    if not conn.autocommit:
        raise ValueError("load_file needs an autocommit connection: it opens one transaction per file itself")
    sha256 = file_sha256(path)
    if (done := _ledger_entry(conn, spec, sha256)) is not None:
        return done
    estimated_lines = _line_estimate(path)
    read = loaded = quarantined = 0
    with conn.transaction():
        # Timestamps without an offset mean UTC, whatever the server's time zone.
        conn.execute("set local timezone = 'UTC'")
        # Two loads of the same file at once: the second waits, then finds it in the ledger.
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (sha256,))
        if (done := _ledger_entry(conn, spec, sha256)) is not None:
            return done
        # An explicit column list: nothing of the raw table (defaults, constraints) is copied.
        columns = [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.physical_type)) for c in spec.columns]
        columns += [sql.SQL("_source_file text"), sql.SQL("_source_line integer")]
        conn.execute(sql.SQL("create temp table _stage ({}) on commit drop").format(sql.SQL(", ").join(columns)))
        copy_sql = sql.SQL("copy _stage ({}) from stdin with (format csv)").format(
            sql.SQL(", ").join(map(sql.Identifier, [*spec.column_names, "_source_line", "_source_file"]))
        )
        for chunk in read_export(path, spec, chunk_rows):
            if len(chunk.rows):
                chunk.rows["_source_file"] = path.name
                with conn.cursor().copy(copy_sql) as copy:
                    copy.write(chunk.rows.to_csv(header=False, index=False))
            _quarantine(conn, spec, path.name, sha256, chunk.quarantined)
            read += chunk.rows_read
            loaded += len(chunk.rows)
            quarantined += len(chunk.quarantined)
            if progress:
                progress(path.name, read, min(99, 100 * read // estimated_lines))
        inserted, updated = conn.execute(_merge_sql(spec)).fetchone()
        meta.record_load(
            conn, spec.domain, spec.name, path.name, sha256, (read, loaded, quarantined, inserted, updated)
        )
    return FileResult(path.name, sha256, False, read, loaded, quarantined, inserted, updated)


def _line_estimate(path: Path) -> int:
    """Rough number of lines, from the first 64 KiB: enough for a progress percentage."""
    with path.open("rb") as handle:
        sample = handle.read(1 << 16)
    lines = max(1, sample.count(b"\n"))
    return max(1, int(path.stat().st_size / (len(sample) / lines)))


def _quarantine(
    conn: psycopg.Connection, spec: SourceSpec, file_name: str, sha256: str, rows: Iterable[Quarantined]
) -> None:
    lines = [(q.line_number, q.raw_line, q.reason) for q in rows]
    meta.record_quarantine(conn, spec.domain, spec.name, file_name, sha256, lines)


def export_files(exports_dir: Path, spec: SourceSpec) -> list[Path]:
    """The source's export files, oldest first (the date is part of the name)."""
    return sorted((exports_dir / spec.domain).glob(spec.file_pattern))


def load_source(
    conn: psycopg.Connection, spec: SourceSpec, files: list[Path], *, progress: Progress | None = None
) -> Iterator[FileResult]:
    """Load files in order, yielding each result. A rejected file raises :class:`ExportRejected`
    and stops the load (later files may update its rows); files loaded before it stay loaded."""
    ensure_tables(conn, spec)
    for path in files:
        yield load_file(conn, spec, path, progress=progress)
