"""Benchmark of extract + load: rows/s and peak memory for a first load and a re-delivery.

Each size runs in a fresh child process against a fresh database on an embedded Postgres of its
own (or on --url's server), so peak RSS is that of the loader alone. Prints a table and writes it
to the "## Loader" section of docs/benchmarks.md.

    .venv/bin/python platform/benchmarks/bench_load.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from docs_section import replace_section

DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
HEADING = "## Loader"


def run_one(size: int, admin_url: str) -> dict[str, float]:
    """Generate `size` withdrawals, load them twice into a fresh database, time both loads."""
    import psycopg

    from meshplatform.config import Settings
    from meshplatform.contracts.model import inbound_sources
    from meshplatform.ingest.load import export_files, load_source
    from meshplatform.orchestration.steps import setup_warehouse
    from meshplatform.sample_data.generator import generate
    from meshplatform.warehouse.connection import ConnectionInfo, connect

    admin = ConnectionInfo.from_url(admin_url)
    database = f"mesh_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin.libpq_url, autocommit=True) as conn:
        conn.execute(f'create database "{database}"')
    info = ConnectionInfo(admin.host, admin.port, admin.user, admin.password, database)
    contracts = Path(__file__).resolve().parents[2] / "contracts"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            truth = generate(Path(tmp), size=size, days=5, seed=42)
            rows = sum(truth.rows_written.values())
            timings = []
            # each domain's files load as the domain's own login, as in the pipeline
            os.environ.update(MESH_DATABASE_URL=info.libpq_url, MESH_HOME=str(Path(tmp) / "home"))
            logins = setup_warehouse(Settings.from_env())
            for _ in range(2):
                started = time.perf_counter()
                for spec in inbound_sources(contracts):
                    with connect(logins.domain(spec.domain), autocommit=True) as conn:
                        for _result in load_source(conn, spec, export_files(Path(tmp), spec)):
                            pass
                timings.append(time.perf_counter() - started)
    finally:
        with psycopg.connect(admin.libpq_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{database}" with (force)')
            for (role,) in conn.execute(
                "select rolname from pg_roles where starts_with(rolname, %s)", (database + "_",)
            ):
                conn.execute(f'drop role "{role}"')
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size": size, "rows": rows, "first_s": timings[0], "again_s": timings[1], "peak_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--url", help="admin URL of a Postgres server (default: a private embedded one)")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, os.environ["MESH_BENCH_ADMIN_URL"])))
        return

    server = None
    url = args.url
    if url is None:
        from meshplatform.warehouse.connection import ConnectionInfo
        from meshplatform.warehouse.embedded import EmbeddedPostgres

        server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="mesh-bench-")) / "pgdata", 55450)
        server.start()
        url = ConnectionInfo("127.0.0.1", 55450, "postgres", server.admin_password(), "postgres").libpq_url
    results = []
    try:
        for size in args.sizes:
            out = (
                subprocess.run(
                    [sys.executable, __file__, "--child", str(size)],  # the URL (a password) not in argv
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1", "MESH_BENCH_ADMIN_URL": url},
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            result = json.loads(out)
            results.append(result)
            print(
                f"{result['size']:>12,} withdrawals  {result['rows']:>12,} rows  first load {result['first_s']:7.1f} s "
                f"({result['rows'] / result['first_s']:>9,.0f} rows/s)  re-delivery {result['again_s']:5.1f} s  "
                f"peak RSS {result['peak_mb']:,.0f} MB",
                flush=True,
            )
    finally:
        if server is not None:
            server.stop()
    if not args.no_docs:
        lines = [
            f"{HEADING}\n",
            f"\nMeasured {date.today()} with `platform/benchmarks/bench_load.py` ({os.cpu_count()} CPUs, "
            f"{'embedded Postgres 16' if args.url is None else 'external Postgres'}). Both domains' exports of 5 days, "
            "extracted with pandas in 100,000-row chunks, COPY into a staging table, merged on the natural key; "
            "the second load re-delivers the same files (ledger hit: checksum only).\n\n",
            "| unique withdrawals | rows | first load s | rows/s | re-delivery s | peak RSS MB |\n",
            "|---:|---:|---:|---:|---:|---:|\n",
        ]
        lines += [
            f"| {r['size']:,} | {r['rows']:,} | {r['first_s']:.1f} | {r['rows'] / r['first_s']:,.0f} | "
            f"{r['again_s']:.1f} | {r['peak_mb']:,.0f} |\n"
            for r in results
        ]
        replace_section(DOCS, HEADING, "".join(lines))


if __name__ == "__main__":
    main()
