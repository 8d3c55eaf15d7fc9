"""Load: stream a file's records into an all-text staging table (COPY), check them against the
contract in one SQL pass, merge the valid rows into the raw table on the natural key, quarantine
the rest with line number and reason, and record the file in the ledger. One transaction per file.

Re-delivering a file (same checksum) is a no-op; a row re-delivered in another file changes
nothing; a later version of a row (greater ``updated_at``) replaces the earlier one. Two versions
with the same ``updated_at`` but different content are settled by the later file (names carry
the export date), so the outcome does not depend on the order files are loaded in.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from queue import Empty, Queue

import psycopg
from psycopg import sql

from meshplatform.contracts.model import SourceSpec
from meshplatform.errors import ExportRejected, MeshError
from meshplatform.ingest import checks
from meshplatform.ingest.extract import SEPARATOR, Batch, kept_text, read_export
from meshplatform.ingest.overlap import Progress, Turn, in_order
from meshplatform.warehouse import meta
from meshplatform.warehouse.meta import LedgerEntry, QuarantineRow
from meshplatform.warehouse.sqlstate import explain


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


def _check_sql(spec: SourceSpec, valid: str) -> sql.Composed:
    """One pass over ``_raw`` (the lines off the fast path): the valid rows join the typed ones in
    ``_typed``, the refused ones go to ``_refused``."""
    names = sql.SQL(", ").join(map(sql.Identifier, spec.column_names))
    return sql.SQL(
        """
        with checked as materialized ({checked}),
        refused as (
            insert into _refused select _source_line, _problems, _raw_text, _raw_bytes from checked
            where _problems is not null
        )
        insert into _typed (_line, {names}) select _source_line, {names} from checked where _problems is null
        """
    ).format(checked=checks.checked_select(spec, valid), names=names)


def _merge_sql(spec: SourceSpec, file_name: str) -> sql.Composed:
    """Merge ``_typed`` into the raw table on the natural key; returns (inserted, updated)."""
    cols = [*spec.column_names, "_source_file", "_source_line"]
    ident = sql.Identifier
    key = sql.SQL(", ").join(map(ident, spec.key))
    compared = [c for c in spec.column_names if c not in spec.key]
    version = ident(spec.version_column)
    return sql.SQL(
        """
        with merged as (
            insert into {target} as t ({cols}, _loaded_at)
            select distinct on ({key}) {values}, {file}, _line, now() from _typed
            where {first} is not null  -- not a placeholder of a line off the fast path
            order by {key}, {version} desc, _line desc
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
        values=sql.SQL(", ").join(map(ident, spec.column_names)),
        file=sql.Literal(file_name),
        key=key,
        first=ident(spec.key[0]),
        version=version,
        updates=sql.SQL(", ").join(sql.SQL("{c} = excluded.{c}").format(c=ident(c)) for c in cols if c not in spec.key),
        old=sql.SQL(", ").join(sql.SQL("t.{}").format(ident(c)) for c in compared),
        new=sql.SQL(", ").join(sql.SQL("excluded.{}").format(ident(c)) for c in compared),
    )


def load_file(
    conn: psycopg.Connection,
    spec: SourceSpec,
    path: Path,
    *,
    progress: Progress | None = None,
    reload: bool = False,
    before_merge: Callable[[], None] | None = None,
) -> FileResult:
    """Load one export file in a single transaction; a re-delivered file is skipped unless
    ``reload`` (then it is merged again and its ledger entry updated). ``conn`` is
    the domain's own login: everything the file's data or the domain's tables trigger runs with
    the domain's rights only. A database error is reported naming the file, with the hint its
    SQLSTATE calls for. ``before_merge`` is called once the file is read and checked, before
    anything but the staging tables is written (it may wait or raise)."""
    if not conn.autocommit:
        raise ValueError("load_file needs an autocommit connection: it opens one transaction per file itself")
    try:
        return _load_file(conn, spec, path, progress, reload, before_merge)
    except psycopg.Error as exc:
        message, hint = explain(exc)
        raise MeshError(f"{path}: the load was rolled back: the database refused: {message}", hint=hint) from exc


def _skipped(sha256: str, entry: LedgerEntry) -> FileResult:
    return FileResult(entry.file_name, sha256, True, entry.rows_read, entry.rows_loaded, entry.rows_quarantined,
                      entry.rows_inserted, entry.rows_updated)  # fmt: skip


def _load_file(
    conn: psycopg.Connection,
    spec: SourceSpec,
    path: Path,
    progress: Progress | None,
    reload: bool,
    before_merge: Callable[[], None] | None,
) -> FileResult:
    sha256 = file_sha256(path)
    if not reload and (done := meta.ledger_entry(conn, spec.domain, sha256)) is not None:
        return _skipped(sha256, done)
    with conn.transaction():
        # Timestamps without an offset mean UTC, whatever the server's time zone.
        conn.execute("set local timezone = 'UTC'")
        conn.execute("set local work_mem = '64MB'")  # the merge sorts a whole file: in memory
        # Two loads of the same file at once: the second waits, then finds it in the ledger.
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (sha256,))
        if not reload and (done := meta.ledger_entry(conn, spec.domain, sha256)) is not None:
            return _skipped(sha256, done)
        valid = checks.valid_function(conn)
        # Staging tables with explicit column lists: nothing of the raw table (defaults, triggers,
        # constraints) is copied; everything here runs as the domain's login.
        conn.execute(checks.raw_stage_ddl(spec))
        conn.execute(checks.typed_stage_ddl(spec))
        conn.execute(checks.refused_stage_ddl())
        read = _copy(conn, spec, path, progress)
        if (recheck := checks.recheck_fast(spec)) is not None:
            conn.execute(recheck)
        conn.execute(_check_sql(spec, valid))
        if before_merge is not None:
            before_merge()
        inserted, updated = conn.execute(_merge_sql(spec, path.name)).fetchone()
        quarantined = _quarantine(conn, spec, path.name, sha256)
        entry = LedgerEntry(path.name, read, read - quarantined, quarantined, inserted, updated)
        meta.record_file(conn, sha256, spec.domain, spec.name, entry)
    return FileResult(path.name, sha256, False, read, read - quarantined, quarantined, inserted, updated)


QUARANTINE_BATCH = 10_000
SPOOL_BYTES = 16 << 20  # text rows kept in memory before they spill to a temporary file


def _ahead(batches: Iterator[Batch], depth: int = 2) -> Iterator[Batch]:
    """The batches, split in a second thread while the caller sends the ones before to the server
    (at most `depth` wait, so memory stays flat); an error there is raised here."""
    queue: Queue[Batch | BaseException | None] = Queue(depth)
    stop = threading.Event()

    def split() -> None:
        try:
            for batch in batches:
                queue.put(batch)
                if stop.is_set():
                    return
            queue.put(None)
        except BaseException as exc:  # handed to the consuming thread
            queue.put(exc)

    worker = threading.Thread(target=split, name="mesh-extract", daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a waiting put, then let the thread end
            with contextlib.suppress(Empty):
                queue.get(timeout=0.1)


def _copy(conn: psycopg.Connection, spec: SourceSpec, path: Path, progress: Progress | None) -> int:
    """Stream the file: fast-path lines straight into ``_typed``, the others (spooled) into
    ``_raw``; return how many records were read."""
    size, read = path.stat().st_size, 0
    if progress:
        progress(path.name, 0, 0, size)
    with tempfile.SpooledTemporaryFile(SPOOL_BYTES) as spool:
        with conn.cursor().copy(checks.typed_copy(spec)) as copy:
            for batch in _ahead(read_export(path, spec)):
                copy.write(batch.typed)
                spool.write(batch.payload)
                read += batch.rows_read
                if progress:
                    progress(path.name, read, batch.bytes_read, size)
        spool.seek(0)
        with conn.cursor().copy("copy _raw from stdin with (format csv)") as copy:
            while block := spool.read(1 << 20):
                copy.write(block)
    return read


def _quarantine(conn: psycopg.Connection, spec: SourceSpec, file_name: str, sha256: str) -> int:
    """Move the rows the checks refused into the quarantine, in batches; return how many."""
    total = 0
    with conn.cursor(name="mesh_quarantined") as cursor:
        cursor.execute("select _source_line, _problems, _raw_text, _raw_bytes from _refused order by _source_line")
        while rows := cursor.fetchmany(QUARANTINE_BATCH):
            total += meta.record_quarantine(conn, spec.domain, spec.name, file_name, sha256, map(_quarantined, rows))
    return total


def _quarantined(row: tuple[int, list[str], str, int | None]) -> QuarantineRow:
    line, problems, raw_text, raw_bytes = row
    parts = [problem.split(SEPARATOR, 2) for problem in problems]
    code, column, _ = parts[0]
    kept = raw_text if raw_bytes is None else kept_text(raw_text.encode("utf-8"), raw_bytes)
    return QuarantineRow(line, kept, "; ".join(reason for _, _, reason in parts), code, column or None)


def export_files(exports_dir: Path, spec: SourceSpec) -> list[Path]:
    """The source's export files, oldest first (the date is part of the name)."""
    return sorted((exports_dir / spec.domain).glob(spec.file_pattern))


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def files_dated(files: list[Path], first: date, last: date) -> list[Path]:
    """The export files whose name carries a date (YYYY-MM-DD) from ``first`` to ``last``."""
    return [p for p in files if (m := _DATE.search(p.name)) and first <= date.fromisoformat(m[0]) <= last]


def load_source(
    conn: psycopg.Connection,
    spec: SourceSpec,
    files: list[Path],
    *,
    progress: Progress | None = None,
    reload: Collection[Path] = (),
) -> Iterator[FileResult]:
    """Load files in order, yielding each result. A rejected file loads nothing but does not stop
    the files after it (the merge does not depend on the order files arrive in, so its
    re-delivery can come later); after the last file the rejections are raised together.

    The next file is read, checked and COPied (on a second connection of the same login) while
    the server merges the one before; files still merge and commit one by one, in order."""
    ensure_tables(conn, spec)

    def job(path: Path) -> Callable[[psycopg.Connection, Turn], FileResult | ExportRejected]:
        def run(connection: psycopg.Connection, turn: Turn) -> FileResult | ExportRejected:
            try:
                return load_file(
                    connection, spec, path, progress=turn.progress, reload=path in reload, before_merge=turn.wait
                )
            except ExportRejected as exc:
                return exc

        return run

    rejected: list[ExportRejected] = []
    with contextlib.closing(in_order(conn, [job(path) for path in files], progress)) as outcomes:
        for outcome in outcomes:
            if isinstance(outcome, ExportRejected):
                rejected.append(outcome)
            else:
                yield outcome
    if len(rejected) == 1:
        raise rejected[0]
    if rejected:
        raise ExportRejected(
            f"{len(rejected)} {spec.name} files were rejected, the others loaded:\n"
            + "\n".join(f"  {exc.message}" for exc in rejected),
            hint=rejected[0].hint,
        )
