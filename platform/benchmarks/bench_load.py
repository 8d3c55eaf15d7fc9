"""Benchmark of the loader against the practical limit, on the same generated withdrawals files:

- loader: `load_source` (header check, per-value checks, rules across fields, quarantine with line
  numbers, merge on the natural key, ledger, one transaction per file; the next file read and COPied
  on a second connection while the one before merges), in a child process (peak RSS);
- COPY + merge: `psql`, per file `\\copy` into a typed temp table + one `insert ... on conflict` merge,
  on the same files without their malformed lines (which COPY could not take);
- pandas `read_csv` + `to_sql(method="multi", chunksize=5000)`, no merge, on a slice, scaled.

Each path gets a fresh database. Prints the table and writes it to the "## Loader" section of
docs/benchmarks.md with the exact command.

    .venv/bin/python platform/benchmarks/bench_load.py --sizes 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench_databases import create_database, drop_database
from docs_section import replace_section

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "benchmarks.md"
HEADING = "## Loader"
SLICE = 50_000  # lines of the first file that pandas to_sql loads


def run_loader(exports: Path, url: str, clean: Path) -> dict[str, float]:
    """Child process: load the withdrawals files as the domain's login (as the pipeline does), then
    write them without their quarantined lines."""
    from meshplatform.config import Settings
    from meshplatform.contracts.model import inbound_sources
    from meshplatform.ingest.load import export_files, load_source
    from meshplatform.orchestration.steps import setup_warehouse
    from meshplatform.warehouse.connection import connect

    (spec,) = inbound_sources(ROOT / "contracts", "withdrawals")
    files = export_files(exports, spec)
    os.environ.update(MESH_DATABASE_URL=url, MESH_HOME=str(clean.parent / "home"))
    logins = setup_warehouse(Settings.from_env())
    with connect(logins.domain("withdrawals"), autocommit=True) as conn:
        started, cpu = time.perf_counter(), time.process_time()
        results = list(load_source(conn, spec, files))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with connect(logins.bookkeeper()) as conn:
        bad = set(conn.execute("select file_name, line_number from mesh_meta.quarantine").fetchall())
    for path in files:
        with path.open("rb") as source, (clean / path.name).open("wb") as out:
            out.writelines(line for n, line in enumerate(source, 1) if (path.name, n) not in bad)
    return {"seconds": seconds, "peak_mb": peak_mb, "rows": sum(r.rows_read for r in results),
            "valid": sum(r.rows_loaded for r in results), "client_cpu": cpu}  # fmt: skip


def server_cpu(pgdata: Path | None, database: str) -> float:
    """CPU seconds the embedded server's processes used so far (ended backends included; waits
    until the backends of `database` have ended and been counted), or NaN for another server."""
    if pgdata is None:
        return float("nan")
    postmaster = (pgdata / "postmaster.pid").read_text().split()[0]
    for _ in range(100):
        children = [path.parent for path in Path("/proc").glob("[0-9]*/stat") if _stat(path)[1:2] == [postmaster]]
        if not any(f" {database} ".encode() in _read(child / "cmdline") for child in children):
            break
        time.sleep(0.1)
    ticks = sum(int(f) for f in _stat(Path(f"/proc/{postmaster}/stat"))[11:15])  # with its ended children
    ticks += sum(sum(int(f) for f in _stat(child / "stat")[11:13]) for child in children)
    return ticks / os.sysconf("SC_CLK_TCK")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def _stat(path: Path) -> list[str]:
    """The fields of a /proc stat file after the command name (state, parent, ...; empty if gone)."""
    return _read(path).decode().rsplit(")", 1)[-1].split() if path.exists() else []


def run_psql(clean: Path, url: str) -> float:
    """Per file: \\copy into a typed temp table, one merge; each file one transaction."""
    from meshplatform.contracts.model import inbound_sources
    from meshplatform.ingest.load import raw_table_ddl

    (spec,) = inbound_sources(ROOT / "contracts", "withdrawals")
    cols = ", ".join(spec.column_names)
    typed = ", ".join(f"{c.name} {c.physical_type}" for c in spec.columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in spec.column_names if c not in spec.key)
    key = ", ".join(spec.key)
    script = ["set timezone = 'UTC';", f"create schema {spec.schema};", raw_table_ddl(spec).as_string(None) + ";"]
    for path in sorted(clean.glob("*.csv")):
        script += [
            "begin;",
            f"create temp table s ({typed}, _trailing text) on commit drop;",
            f"\\copy s from '{path}' with (format csv, header true)",
            f"insert into {spec.qualified_table} as t ({cols}, _source_file, _source_line) "
            f"select distinct on ({key}) {cols}, '{path.name}', 0 from s order by {key}, updated_at desc "
            f"on conflict ({key}) do update set {updates} where excluded.updated_at > t.updated_at;",
            "commit;",
        ]
    script_path = clean / "baseline.sql"
    script_path.write_text("\n".join(script) + "\n")
    started = time.perf_counter()
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(script_path)], check=True)
    return time.perf_counter() - started


def run_to_sql(clean: Path, url: str) -> tuple[float, int]:
    """pandas read_csv + to_sql of the first SLICE lines of the first file: (seconds, rows)."""
    import pandas as pd
    import sqlalchemy

    first = sorted(clean.glob("*.csv"))[0]
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    started = time.perf_counter()
    frame = pd.read_csv(first, nrows=SLICE, dtype=str, keep_default_na=False).iloc[:, :-1]
    frame.to_sql("withdrawals_to_sql", engine, method="multi", chunksize=5000, index=False)
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, len(frame)


def measure(size: int, admin_url: str, pgdata: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home, clean = Path(tmp) / "home", Path(tmp) / "clean"
        clean.mkdir()
        env = {**os.environ, "MESH_HOME": str(home)}
        env.pop("MESH_EXPORTS_DIR", None)
        subprocess.run([sys.executable, "-m", "meshplatform.cli", "generate", "--size", str(size)], env=env,
                       check=True, capture_output=True)  # fmt: skip
        exports = home / "exports"
        out = {"size": size}
        url = create_database(admin_url)
        try:
            database = url.rsplit("/", 1)[1]
            cpu = server_cpu(pgdata, database)
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(exports), str(clean)],  # the URL (a password) not in argv
                check=True, capture_output=True, text=True, env={**os.environ, "MESH_BENCH_URL": url},
            )  # fmt: skip
            out |= json.loads(child.stdout.strip().splitlines()[-1])
            out["server_cpu"] = server_cpu(pgdata, database) - cpu  # includes the warehouse setup (small)
        finally:
            drop_database(url, admin_url)
        url = create_database(admin_url)
        try:
            database = url.rsplit("/", 1)[1]
            cpu, client = server_cpu(pgdata, database), resource.getrusage(resource.RUSAGE_CHILDREN)
            out["psql_seconds"] = run_psql(clean, url)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            out["psql_server_cpu"] = server_cpu(pgdata, database) - cpu
            out["psql_client_cpu"] = after.ru_utime + after.ru_stime - client.ru_utime - client.ru_stime
            to_sql_seconds, to_sql_rows = run_to_sql(clean, url)
            out["to_sql_seconds"] = to_sql_seconds * out["valid"] / to_sql_rows
        finally:
            drop_database(url, admin_url)
    return out


def _cpu_ratio(r: dict[str, float]) -> float:
    """Throughput per CPU second, COPY + merge = 1 (robust on a shared machine, unlike wall time)."""
    return (r["psql_server_cpu"] + r["psql_client_cpu"]) / (r["server_cpu"] + r["client_cpu"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--url", help="admin URL of a Postgres server (default: a private embedded one)")
    parser.add_argument("--port", type=int, default=55450, help="port of the private embedded server")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        exports, clean = args.child
        print(json.dumps(run_loader(Path(exports), os.environ["MESH_BENCH_URL"], Path(clean))))
        return
    command = "python platform/benchmarks/bench_load.py " + shlex.join(sys.argv[1:])
    server, url, pgdata = None, args.url, None
    if url is None:
        from meshplatform.warehouse.connection import ConnectionInfo
        from meshplatform.warehouse.embedded import EmbeddedPostgres

        pgdata = Path(tempfile.mkdtemp(prefix="mesh-bench-")) / "pgdata"
        server = EmbeddedPostgres(pgdata, args.port)
        server.start()
        url = ConnectionInfo("127.0.0.1", args.port, "postgres", server.admin_password(), "postgres").libpq_url
    results = []
    try:
        for size in args.sizes:
            r = measure(size, url, pgdata)
            results.append(r)
            print(
                f"{size:>11,} withdrawals {r['rows']:>11,} lines: loader {r['seconds']:6.1f} s, psql COPY+merge "
                f"{r['psql_seconds']:6.1f} s ({r['psql_seconds'] / r['seconds']:.2f}x), to_sql {r['to_sql_seconds']:7.1f} s "
                f"({r['to_sql_seconds'] / r['seconds']:.0f}x), loader peak RSS {r['peak_mb']:.0f} MB; CPU s (server + client): "
                f"loader {r['server_cpu']:.1f} + {r['client_cpu']:.1f}, psql {r['psql_server_cpu']:.1f} + "
                f"{r['psql_client_cpu']:.1f} ({_cpu_ratio(r):.2f}x)",
                flush=True,
            )
    finally:
        if server is not None:
            server.stop()
    if not args.no_docs:
        lines = [
            f"{HEADING}\n\n",
            f"Measured {date.today()} with `{command}` ({os.cpu_count()} CPUs, "
            f"{'embedded Postgres 16' if args.url is None else 'external Postgres'}; the machine was shared with "
            "other jobs, so single runs vary by about 30%). The withdrawals files of `mesh generate --size N` "
            "(5 days), a fresh database per path. Loader: `load_source` (header check, per-value checks, rules "
            "across fields, quarantine with line numbers, merge, ledger; one transaction per file; the next file "
            "is read and COPied on a second connection while the one before merges). COPY + merge: "
            "`psql`, per file `\\copy` into a typed temp table and one `insert ... on conflict` merge, on the same "
            'files without their malformed lines. to_sql: pandas `read_csv` + `to_sql(method="multi", '
            f"chunksize=5000)` without merge, on the first {SLICE:,} lines, scaled to all valid lines. Ratios are "
            "throughput relative to the loader (> 1: the loader is faster). CPU s: seconds of CPU the server's "
            "processes and the client (the loader's process; `psql`) used, server + client; their ratio is "
            "throughput per CPU second, which other jobs on the machine disturb far less than wall time.\n\n",
            "| unique withdrawals | lines | loader s | COPY+merge s | loader / COPY+merge | to_sql s (scaled) "
            "| loader / to_sql | loader peak RSS MB | loader CPU s | COPY+merge CPU s | CPU ratio |\n",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        ]
        lines += [
            f"| {r['size']:,} | {r['rows']:,} | {r['seconds']:.1f} | {r['psql_seconds']:.1f} | "
            f"{r['psql_seconds'] / r['seconds']:.2f} | {r['to_sql_seconds']:.0f} | "
            f"{r['to_sql_seconds'] / r['seconds']:.0f} | {r['peak_mb']:.0f} | "
            f"{r['server_cpu']:.1f} + {r['client_cpu']:.1f} | {r['psql_server_cpu']:.1f} + {r['psql_client_cpu']:.1f} | "
            f"{_cpu_ratio(r):.2f} |\n"
            for r in results
        ]
        replace_section(DOCS, HEADING, "".join(lines))


if __name__ == "__main__":
    main()
