"""`mesh` starts fast because it imports only what a command needs: the help and the summary run
in fresh processes and must leave none of the heavy libraries in ``sys.modules``; the help still
lists every command. (How fast it starts is measured by platform/benchmarks/bench_cli.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from meshplatform.cli import build_parser
from meshplatform.config import Settings

# The libraries that cost a CLI start hundreds of milliseconds: only the commands that use them
# import them (load: the driver; build: Airflow, Cosmos, dbt; validate: Great Expectations; ...).
HEAVY = (
    "pandas", "numpy", "pyarrow", "sqlalchemy", "airflow", "cosmos", "dbt", "great_expectations", "datacontract",
)  # fmt: skip
# What `mesh --help` needs beyond them: nothing of the database either.
NOT_FOR_HELP = (*HEAVY, "psycopg", "yaml")
COMMANDS = {
    "db", "env", "setup", "generate", "load", "validate", "publish", "contracts", "domains", "airflow", "build",
    "summary", "report", "catalog", "demo",
}  # fmt: skip

# Runs `mesh` in-process in a fresh interpreter, then reports what it imported (also when the
# command exits through SystemExit, as --help does).
CHILD = """
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted({{m.split(".")[0] for m in sys.modules}}))))
from meshplatform.cli import main
sys.exit(main({argv!r}))
"""


def run_mesh(*argv: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(argv=list(argv))],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )
    output, marker = result.stdout.rsplit("MODULES ", 1)
    result.stdout = output
    return result, set(json.loads(marker))


def test_help_imports_no_heavy_library_and_lists_every_command() -> None:
    result, modules = run_mesh("--help")
    assert result.returncode == 0, result.stderr
    assert "meshplatform" in modules  # the probe saw the CLI's own imports
    assert not modules & set(NOT_FOR_HELP), f"`mesh --help` imported {sorted(modules & set(NOT_FOR_HELP))}"
    listed = re.findall(r"^    (\w+)", result.stdout, flags=re.MULTILINE)
    registered = set(next(a for a in build_parser()._actions if a.dest == "command").choices)
    assert sorted(listed) == sorted(registered) == sorted(COMMANDS)


def test_command_help_imports_no_heavy_library() -> None:
    result, modules = run_mesh("load", "--help")
    assert result.returncode == 0, result.stderr
    assert "domain names" in result.stdout
    assert not modules & set(NOT_FOR_HELP)


def test_summary_imports_no_heavy_library_and_reads_the_warehouse(mesh_env: Settings, tmp_path: Path) -> None:
    # A fresh warehouse: the first summary also sets it up (its logins cannot log in yet); the
    # second reads with the logins only. Both print the same and import nothing heavy.
    env = {"MESH_DATABASE_URL": os.environ["MESH_DATABASE_URL"], "MESH_HOME": str(mesh_env.home)}
    outputs = []
    for _ in range(2):
        result, modules = run_mesh("summary", env=env)
        assert result.returncode == 0, result.stderr
        assert "psycopg" in modules  # it did reach the database
        assert not modules & set(HEAVY), f"`mesh summary` imported {sorted(modules & set(HEAVY))}"
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert "Sources (all files loaded so far" in outputs[0]
    assert "withdrawals.withdrawals" in outputs[0]
    assert "no dbt results recorded" in outputs[0]
