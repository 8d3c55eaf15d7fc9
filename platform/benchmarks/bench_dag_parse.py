"""Benchmark of parsing dags/mesh_build.py, the work the scheduler repeats constantly.

Publishes the manifests first (dbt parse, no database), then times `DagBag` over the DAG folder
in fresh processes. Prints the numbers and writes the "## DAG parse" section of docs/benchmarks.md.

    .venv/bin/python platform/benchmarks/bench_dag_parse.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

from docs_section import replace_section

DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
HEADING = "## DAG parse"
CHILD = """
import time
started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
imported = time.perf_counter()
bag = DagBag(dag_folder={dags!r})
done = time.perf_counter()
assert not bag.import_errors, bag.import_errors
print("RESULT", imported - started, done - imported, len(bag.dags["mesh_build"].tasks))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()

    from meshplatform.config import Settings
    from meshplatform.domains import discover
    from meshplatform.orchestration.runner import airflow_env
    from meshplatform.orchestration.steps import publish_domain

    settings = Settings.from_env()
    for domain in discover(settings.domains_dir):
        publish_domain(domain.name, settings)
    env = {**os.environ, **airflow_env(settings)}
    parses, tasks = [], 0
    for _ in range(args.runs):
        stdout = subprocess.run(
            [sys.executable, "-c", CHILD.format(dags=str(settings.dags_dir))],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        _, imported, parsed, count = next(line for line in stdout.splitlines() if line.startswith("RESULT")).split()
        parses.append(float(parsed))
        tasks = int(count)
        print(f"import airflow {float(imported):.2f} s, parse mesh_build.py {float(parsed):.3f} s ({tasks} tasks)")
    median = statistics.median(parses)
    print(f"median parse of mesh_build.py over {args.runs} runs: {median:.3f} s")
    if not args.no_docs:
        replace_section(
            DOCS,
            HEADING,
            f"{HEADING}\n\nMeasured {date.today()} with `platform/benchmarks/bench_dag_parse.py` ({os.cpu_count()} CPUs): "
            f"`DagBag` over `dags/` in a fresh process after Airflow is imported, {args.runs} runs. "
            "The DAG file reads the domain folders and the published manifests (Cosmos `LoadMode.DBT_MANIFEST`); "
            "it opens no database connection.\n\n"
            "| runs | tasks | median parse s | min s | max s |\n|---:|---:|---:|---:|---:|\n"
            f"| {args.runs} | {tasks} | {median:.3f} | {min(parses):.3f} | {max(parses):.3f} |\n",
        )


if __name__ == "__main__":
    main()
