"""Benchmark of the dbt builds on the same loaded data, side by side in one run:

1. full build: the plain sequential `dbt build` of every domain (as each domain's login, upstream
   first, as `mesh` runs it) vs the orchestrated build: `dag.test()` of the dbt task groups of the
   `mesh_build` DAG (Cosmos watcher mode), each from empty schemas;
2. incremental: after one more day of exports (the last of `--days`, about 1 % new withdrawals plus
   status updates) is loaded, `dbt build` vs `dbt build --full-refresh` of every domain, compared
   in model execution time: the sum of `execution_time` of the models in dbt's run_results.json
   (dbt's start-up and the tests excluded).

A fresh database on a private embedded server (or `--url`). Prints the ratios and writes the
"## dbt builds" section of docs/benchmarks.md with the exact command.

    .venv/bin/python platform/benchmarks/bench_build.py --size 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bench_databases import create_database, drop_database
from docs_section import replace_section

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "benchmarks.md"
HEADING = "## dbt builds"
DOMAINS = ("users", "withdrawals")  # upstream first
# No load runs while the benchmark builds, so the incremental run needs no lookback (the var
# covers loads that commit after a run; in production it makes a run read the last hour again).
LOOKBACK = ["--vars", '{"incremental_lookback": "0 seconds"}']


def _dbt(settings, name: str, *args: str) -> dict[str, float]:
    """`dbt <args>` of a domain as its own login: wall seconds and model execution seconds."""
    from meshplatform.dbt import registry
    from meshplatform.domains import get
    from meshplatform.orchestration.steps import credentials

    domain = get(settings.domains_dir, name)
    output = registry.dbt_output_dir(settings, domain)
    env = registry.runtime_env(settings, credentials(settings).domain(name), name)
    started = time.perf_counter()
    registry.run_dbt(domain, [*args, *registry.output_args(output)], env)
    wall = time.perf_counter() - started
    results = json.loads((output / "target" / "run_results.json").read_text(encoding="utf-8"))["results"]
    per_model = {r["unique_id"]: r["execution_time"] for r in results if r["unique_id"].startswith("model.")}
    print(
        "    dbt "
        + " ".join(args[:2])
        + ": "
        + ", ".join(f"{k.split('.', 2)[2]} {v:.2f} s" for k, v in per_model.items())
    )
    return {"wall": wall, "models": sum(per_model.values()), "per_model": per_model}


def _empty_schemas(settings) -> None:
    """Drop every relation dbt built, as each domain's login, so the next build starts from nothing."""
    from meshplatform.orchestration.steps import credentials
    from meshplatform.warehouse.connection import connect

    for name in reversed(DOMAINS):
        with connect(credentials(settings).domain(name), autocommit=True) as conn:
            relations = conn.execute(
                "select format('drop %%s if exists %%I.%%I cascade', case when c.relkind = 'v' then 'view' else 'table' end, "
                "n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = any(%s) and c.relkind in ('r', 'v')",
                ([name, f"{name}_staging"],),
            ).fetchall()
            for (statement,) in relations:
                conn.execute(statement)


def run_orchestrated() -> float:
    """Child process (Airflow reads its settings once per process): dag.test() of the dbt groups."""
    from meshplatform.orchestration.dag_factory import mesh_build_dag

    whole = mesh_build_dag()
    dbt_tasks = [task_id for task_id in whole.task_dict if task_id.split(".")[1:2] == ["dbt"]]
    dag = whole.partial_subset(task_ids=dbt_tasks, include_upstream=False)
    # in the DAG a domain's dbt waits for the publish of the domains it reads, which is not in the subset
    for downstream, upstream in zip(DOMAINS[1:], DOMAINS, strict=False):
        (
            dag.task_dict[f"{upstream}.dbt.dbt_producer_watcher_done"]
            >> dag.task_dict[f"{downstream}.dbt.dbt_producer_watcher"]
        )
    started = time.perf_counter()
    run = dag.test()
    seconds = time.perf_counter() - started
    if run.state != "success" or len(dbt_tasks) < 10:
        failed = [ti.task_id for ti in run.get_task_instances() if ti.state != "success"]
        raise SystemExit(f"orchestrated build of {len(dbt_tasks)} tasks: {run.state}; not successful: {failed}")
    return seconds


def _orchestrated(settings) -> float:
    from meshplatform.config import TELEMETRY_OFF
    from meshplatform.orchestration.runner import airflow_env, init_airflow

    init_airflow(settings)
    env = {**os.environ, **airflow_env(settings), **TELEMETRY_OFF}
    child = subprocess.run(
        [sys.executable, __file__, "--child-orchestrated"], env=env, check=False, capture_output=True, text=True
    )
    if child.returncode != 0:
        log = settings.logs_dir / "bench_orchestrated.log"
        log.write_text(child.stdout + child.stderr, encoding="utf-8")
        raise SystemExit(
            f"the orchestrated build failed: {(child.stdout + child.stderr).splitlines()[-1]} (log: {log})"
        )
    (line,) = [line for line in child.stdout.splitlines() if line.startswith("seconds=")]
    return float(line.removeprefix("seconds="))


def measure(size: int, days: int, admin_url: str) -> dict[str, float]:
    from meshplatform.config import Settings
    from meshplatform.orchestration.steps import load_domain, publish_domain, setup_warehouse
    from meshplatform.sample_data.generator import generate

    home = Path(tempfile.mkdtemp(prefix="mesh-bench-build-"))
    url = create_database(admin_url)
    os.environ.update(MESH_DATABASE_URL=url, MESH_HOME=str(home))
    os.environ.pop("MESH_EXPORTS_DIR", None)
    os.environ.pop("MESH_REGISTRY_DIR", None)
    try:
        settings = Settings.from_env()
        # `mesh generate --size N --days D`, ending yesterday: the loader refuses timestamps in the future
        generate(settings.exports_dir, size=size, days=days, start_date=date.today() - timedelta(days=days))
        held_back = home / "held_back"
        held_back.mkdir()
        last = sorted(settings.exports_dir.glob("withdrawals/*.csv"))[-1].name.split("_", 1)[1]
        for path in settings.exports_dir.glob(f"*/*_{last}"):
            shutil.move(path, held_back / path.name)
        setup_warehouse(settings)
        started = time.perf_counter()
        for name in DOMAINS:
            load_domain(name, settings, progress=None)
            publish_domain(name, settings)
        out: dict[str, float] = {"size": size, "days": days, "load": time.perf_counter() - started}
        print(f"  loaded {days - 1} days in {out['load']:.0f} s", flush=True)

        # the first run of a DAG parses each project afresh; later runs reuse Cosmos' partial-parse cache,
        # as the plain builds reuse the state `mesh publish` left
        out["orchestrated_first"] = _orchestrated(settings)
        _empty_schemas(settings)
        out["orchestrated"] = _orchestrated(settings)
        print(f"  orchestrated dbt build: {out['orchestrated']:.1f} s (first run {out['orchestrated_first']:.1f} s)")
        _empty_schemas(settings)
        out["plain"] = sum(_dbt(settings, name, "build")["wall"] for name in DOMAINS)
        print(f"  plain dbt builds: {out['plain']:.1f} s", flush=True)

        for path in held_back.iterdir():
            shutil.move(path, settings.exports_dir / path.name.split("_")[0] / path.name)
        for name in DOMAINS:
            load_domain(name, settings, progress=None)
        incremental = [_dbt(settings, name, "build", *LOOKBACK) for name in DOMAINS]
        full = [_dbt(settings, name, "build", "--full-refresh") for name in DOMAINS]
        for name, inc, whole in zip(DOMAINS, incremental, full, strict=True):
            out[f"incremental_{name}"], out[f"full_{name}"] = inc["models"], whole["models"]
        out["per_model"] = {  # type: ignore[assignment]
            model.split(".", 2)[2]: (inc["per_model"][model], whole["per_model"][model])
            for inc, whole in zip(incremental, full, strict=True)
            for model in inc["per_model"]
        }
        out["incremental"] = sum(r["models"] for r in incremental)
        out["full"] = sum(r["models"] for r in full)
        print(f"  model execution: incremental {out['incremental']:.2f} s, full {out['full']:.2f} s", flush=True)
        return out
    finally:
        drop_database(url, admin_url)
        if "MESH_BENCH_KEEP" not in os.environ:
            shutil.rmtree(home, ignore_errors=True)


def _docs(results: list[dict[str, float]], command: str, external: bool) -> str:
    lines = [
        f"{HEADING}\n\n",
        f"Measured {date.today()} with `{command}` ({os.cpu_count()} CPUs, "
        f"{'external Postgres' if external else 'embedded Postgres 16'}; the machine was shared with other jobs, "
        "so single runs vary). `mesh generate --size N --days D` ending yesterday, all days but the last loaded. **Full build**: "
        "the plain `dbt build` of each domain in turn, as its own login (wall time, dbt start-up included), vs "
        "`dag.test()` of the dbt task groups of `mesh_build` (Cosmos watcher mode: one `dbt build` per domain, "
        "a task per model and test), both from empty schemas; the orchestrated time is of the second run (the first, in brackets, "
        "has no dbt partial-parse state yet). **Incremental**: the last day loaded (about 1 % "
        "new withdrawals and the status updates of earlier ones), then `dbt build` (lookback var 0: no load "
        "runs during the benchmark's builds) vs `dbt build --full-refresh`, in model execution time "
        "(sum of `execution_time` of the models in `run_results.json`, which includes dbt's own statements "
        "per model; dbt start-up and tests excluded).\n\n",
        "| unique withdrawals | days | plain dbt builds s | orchestrated s | orchestrated / plain "
        "| incremental models s | full models s | incremental / full | withdrawals incr. / full s |\n",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    ]
    lines += [
        f"| {r['size']:,} | {r['days']} | {r['plain']:.1f} | {r['orchestrated']:.1f} | "
        f"{r['orchestrated'] / r['plain']:.2f} ({r['orchestrated_first'] / r['plain']:.2f}) | {r['incremental']:.2f} | {r['full']:.2f} | "
        f"{r['incremental'] / r['full']:.1%} | {r['incremental_withdrawals']:.2f} / {r['full_withdrawals']:.2f} |\n"
        for r in results
    ]
    for r in results:
        lines.append(f"\nPer model at {r['size']:,} withdrawals, incremental / full s: ")
        lines.append(", ".join(f"{m} {i:.2f} / {f:.2f}" for m, (i, f) in r["per_model"].items()) + ".\n")
    return "".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000])
    parser.add_argument("--days", type=int, default=100, help="export days; the last one is the incremental load")
    parser.add_argument("--url", help="admin URL of a Postgres server (default: a private embedded one)")
    parser.add_argument("--port", type=int, default=55451, help="port of the private embedded server")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--child-orchestrated", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_orchestrated:
        print(f"seconds={run_orchestrated()}")
        return
    command = "python platform/benchmarks/bench_build.py " + shlex.join(sys.argv[1:])
    server, url = None, args.url
    if url is None:
        from meshplatform.warehouse.connection import ConnectionInfo
        from meshplatform.warehouse.embedded import EmbeddedPostgres

        server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="mesh-bench-")) / "pgdata", args.port)
        server.start()
        url = ConnectionInfo("127.0.0.1", args.port, "postgres", server.admin_password(), "postgres").libpq_url
    results = []
    try:
        for size in args.sizes:
            print(f"{size:,} withdrawals, {args.days} days", flush=True)
            r = measure(size, args.days, url)
            results.append(r)
            print(
                f"{size:>11,}: orchestrated / plain dbt builds {r['orchestrated']:.1f} / {r['plain']:.1f} s = "
                f"{r['orchestrated'] / r['plain']:.2f}; incremental / full model time {r['incremental']:.2f} / "
                f"{r['full']:.2f} s = {r['incremental'] / r['full']:.1%}",
                flush=True,
            )
    finally:
        if server is not None:
            server.stop()
    if not args.no_docs:
        replace_section(DOCS, HEADING, _docs(results, command, args.url is not None))


if __name__ == "__main__":
    main()
