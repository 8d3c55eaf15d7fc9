"""Benchmark of the CLI's start: `mesh --help` and `mesh summary` in fresh processes, side by side
with the bare interpreter and with the eager path (every platform module imported at start, as the
CLI did before its imports were lazy; `summary` through the admin's set-up on every call).

The summary reads a warehouse with data: the embedded server in a temporary MESH_HOME (as after
`make demo`; or a fresh database on the server of --url) into which `mesh generate` + `mesh load`
put the sample exports. The eager path
must print the same summary. Prints the medians and writes the "## CLI start" section of
docs/benchmarks.md with the exact command.

    .venv/bin/python platform/benchmarks/bench_cli.py --runs 10
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from docs_section import replace_section

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "benchmarks.md"
HEADING = "## CLI start"
MESH = str(Path(sys.executable).parent / "mesh")
BARE, HELP, SUMMARY = "`python -c pass` (interpreter alone)", "`mesh --help`", "`mesh summary`"
DRIVER = "`python -c 'import psycopg'` (the database driver alone)"
EAGER_HELP_LABEL, EAGER_SUMMARY_LABEL = "`mesh --help`, eager imports", "`mesh summary`, eager imports + admin set-up"
# The eager path: what the CLI imported at start before, then the command as it ran then.
EAGER_HELP = "import meshplatform.orchestration.steps, meshplatform.cli as c; c.main(['--help'])"
EAGER_SUMMARY = """
import meshplatform.orchestration.steps as steps, meshplatform.cli
from meshplatform.config import Settings
from meshplatform.reporting.summary import build_summary
settings = Settings.from_env()
steps.warehouse(settings, start=True)
print(build_summary(settings, steps.setup_warehouse(settings)))
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(commands: dict[str, list[str]], env: dict[str, str], runs: int) -> tuple[dict[str, Timing], dict[str, str]]:
    """Wall and CPU seconds of ``runs`` fresh processes (spawn to exit) of each command, taken in
    turns so that a change in the machine's load hits them alike; and each one's last output."""
    timings = {label: Timing([], []) for label in commands}
    outputs: dict[str, str] = {}
    for _ in range(runs):
        for label, argv in commands.items():
            started, cpu = time.perf_counter(), _cpu()
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            timings[label].wall.append(time.perf_counter() - started)
            timings[label].cpu.append(_cpu() - cpu)
            if done.returncode != 0:
                raise SystemExit(f"{label} failed:\n{done.stderr}")
            outputs[label] = done.stdout
    return timings, outputs


@dataclass
class Timing:
    wall: list[float]
    cpu: list[float]  # user + system of the process: what it costs when it has a CPU to itself

    def row(self, label: str) -> str:
        median = statistics.median
        return f"| {label} | {median(self.wall):.3f} | {min(self.wall):.3f} | {max(self.wall):.3f} | {median(self.cpu):.3f} |\n"


def warehouse(home: Path, port: int, admin_url: str | None) -> dict[str, str]:
    """The environment of the warehouse to read: the platform's own embedded server in ``home`` (as
    after `make demo`), or a fresh database on the server of ``admin_url``."""
    env = {**os.environ, "MESH_HOME": str(home), "MESH_EMBEDDED_PORT": str(port), "MESH_DATABASE_URL": ""}
    if admin_url:
        import psycopg

        name = f"mesh_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        env["MESH_DATABASE_URL"] = admin_url.rsplit("/", 1)[0] + "/" + name
    return env


def remove(env: dict[str, str], admin_url: str | None) -> None:
    """Stop the embedded server, or drop the database and the roles the platform made for it."""
    if not admin_url:
        subprocess.run([MESH, "db", "stop"], env=env, check=True, capture_output=True)
        return
    import psycopg

    database = env["MESH_DATABASE_URL"].rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{database}" with (force)')
        for (role,) in conn.execute("select rolname from pg_roles where starts_with(rolname, %s)", (database + "_",)):
            conn.execute(f'drop role "{role}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--url", help="admin URL of a Postgres server (default: the embedded one, in a temporary home)")
    parser.add_argument("--port", type=int, default=55460, help="port of that embedded server")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    command = "python platform/benchmarks/bench_cli.py " + shlex.join(sys.argv[1:])
    home = Path(tempfile.mkdtemp(prefix="mesh-bench-cli-"))
    env = warehouse(home, args.port, args.url)
    try:
        for step in (["generate"], ["load"]):  # the sample exports, loaded
            subprocess.run([MESH, *step], env=env, check=True, capture_output=True)
        timings, outputs = timed(
            {
                BARE: [sys.executable, "-c", "pass"],
                DRIVER: [sys.executable, "-c", "import psycopg"],
                HELP: [MESH, "--help"],
                EAGER_HELP_LABEL: [sys.executable, "-c", EAGER_HELP],
                SUMMARY: [MESH, "summary"],
                EAGER_SUMMARY_LABEL: [sys.executable, "-c", EAGER_SUMMARY],
            },
            env,
            args.runs,
        )
        if outputs[SUMMARY] != outputs[EAGER_SUMMARY_LABEL]:
            raise SystemExit(f"the summaries differ:\n{outputs[SUMMARY]}\n---\n{outputs[EAGER_SUMMARY_LABEL]}")
    finally:
        remove(env, args.url)
        shutil.rmtree(home, ignore_errors=True)
    load = os.getloadavg()[0]
    cpu = {label: statistics.median(t.cpu) for label, t in timings.items()}
    medians = {label: statistics.median(t.wall) for label, t in timings.items()}
    for label, t in timings.items():
        print(f"{label:48} median {medians[label]:.3f} s (min {min(t.wall):.3f}, max {max(t.wall):.3f}), "
              f"CPU {statistics.median(t.cpu):.3f} s")  # fmt: skip
    ratios = {
        HELP: medians[EAGER_HELP_LABEL] / medians[HELP],
        SUMMARY: medians[EAGER_SUMMARY_LABEL] / medians[SUMMARY],
    }
    for label, ratio in ratios.items():
        print(f"{label}: {ratio:.1f}x faster than the eager path")
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} CPUs")
    if not args.no_docs:
        table = "".join(t.row(label) for label, t in timings.items())
        replace_section(
            DOCS,
            HEADING,
            f"{HEADING}\n\nMeasured {date.today()} with `{command}` ({os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, bytecode compiled as `make env` does; load average {load:.1f} at the end of "
            "the run: on a busy machine wall times rise above the CPU times). Wall time from spawn to exit of {args.runs} fresh processes each. `mesh summary` reads a fresh "
            f"warehouse ({'a database on the --url server' if args.url else 'the embedded Postgres, as after `make demo`'}) "
            "after `mesh generate` + `mesh load` (20,000 withdrawals; no dbt or GX results); the eager path imports every "
            "platform module at start and sets the warehouse up as the admin on every call, as the CLI did before, "
            "and prints the same summary. The commands take turns, run after run. CPU s = user + system time of "
            "the process: what it takes when it has a CPU to itself. Goal of issue 10: both in <= 0.3 s.\n\n"
            "| command | median wall s | min s | max s | median CPU s |\n|---|---:|---:|---:|---:|\n"
            f"{table}\n"
            f"Speed-up over the eager path: `mesh --help` {ratios[HELP]:.1f}x, `mesh summary` {ratios[SUMMARY]:.1f}x. "
            f"`mesh summary` cannot start faster than the interpreter plus its database driver "
            f"({cpu[BARE] + cpu[DRIVER]:.3f} s of CPU here); the rest of its {cpu[SUMMARY]:.3f} s is the platform's "
            "modules, the contracts, making sure the server is up, and the logins that read (the bookkeeper's, and "
            "each domain's for its raw table).\n",
        )


if __name__ == "__main__":
    main()
