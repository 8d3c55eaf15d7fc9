"""The quickstart as a user runs it: `mesh demo` prints one line per task, a summary whose counts
match the generator's ground truth and the report's path; a broken build names the failed task
and its error, and exits non-zero."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from meshplatform.config import Settings
from meshplatform.sample_data.generator import GroundTruth

pytestmark = pytest.mark.e2e

MESH = str(Path(sys.executable).parent / "mesh")


def mesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MESH, *args], check=False, env=dict(os.environ), capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def demo(mesh_env: Settings) -> subprocess.CompletedProcess[str]:
    return mesh("demo", "--size", "3000", "--days", "3", "--seed", "7")


def _summary_row(stdout: str, source: str) -> list[int]:
    """The numbers of one source's row in the summary table."""
    line = next(line for line in stdout.splitlines() if line.strip().startswith(source + " "))
    return [int(value.replace(",", "")) for value in line.split()[1:]]


def test_demo_succeeds_with_one_line_per_task(demo: subprocess.CompletedProcess[str]) -> None:
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    task_lines = re.findall(r"^  (\w+)\s+(\S+)$", demo.stdout, flags=re.MULTILINE)
    tasks = {task: state for state, task in task_lines}
    for domain in ("users", "withdrawals"):
        for step in ("load", "validate", "validate_products", "publish"):
            assert tasks.get(f"{domain}.{step}") == "success", (domain, step, tasks)
    assert any(task.startswith("withdrawals.dbt.") for task in tasks)
    assert set(tasks.values()) == {"success"}
    assert re.search(r"mesh_build run \S+: success \(full log: .+\.log\)", demo.stdout)


def test_summary_counts_match_the_ground_truth(
    demo: subprocess.CompletedProcess[str], mesh_env: Settings, database_url: str
) -> None:
    truth = GroundTruth.load(mesh_env.exports_dir)
    with psycopg.connect(database_url) as conn:
        raw = {
            "users.users": conn.execute("select count(*) from raw_users.users").fetchone()[0],
            "withdrawals.withdrawals": conn.execute("select count(*) from raw_withdrawals.withdrawals").fetchone()[0],
        }
    for source, domain in (("users.users", "users"), ("withdrawals.withdrawals", "withdrawals")):
        files, read, loaded, quarantined, rows = _summary_row(demo.stdout, source)
        assert files == truth.days
        assert read == truth.rows_written[domain]
        assert quarantined == truth.malformed_rows[domain]
        assert loaded == read - quarantined
        assert rows == raw[source]
    assert f"{truth.unique_withdrawals:,} unique withdrawals, {truth.users:,} users" in demo.stdout
    report = re.search(r"^report: (\S+)", demo.stdout, flags=re.MULTILINE)
    assert report and Path(report[1]).stat().st_size > 0


def test_a_failed_task_is_named_with_its_error(demo: subprocess.CompletedProcess[str], database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        user_id, country = conn.execute(
            "select user_id, country from raw_users.users order by user_id limit 1"
        ).fetchone()
        conn.execute("update raw_users.users set country = 'nowhere' where user_id = %s", (user_id,))
        try:
            result = mesh("build")
        finally:
            conn.execute("update raw_users.users set country = %s where user_id = %s", (country, user_id))
    assert result.returncode != 0
    lines = result.stdout.splitlines()
    failed = next(i for i, line in enumerate(lines) if re.match(r"^  failed\s+users\.validate$", line))
    assert "Great Expectations" in lines[failed + 1] and "raw_users.users" in lines[failed + 1]
    assert "error: mesh_build failed; failed or not run:" in result.stderr
    assert "users.validate" in result.stderr
    assert "Traceback" not in result.stderr
