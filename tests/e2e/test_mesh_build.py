"""The whole mesh through Airflow (`dag.test()` of mesh_build on a migrated metadata DB), checked
against the generator's ground truth; then re-run, broken, and built by a domain team alone."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import psycopg
import pytest
import yaml

from meshplatform.config import Settings
from meshplatform.dbt.registry import dbt_executable, runtime_env
from meshplatform.orchestration.runner import RunOutcome, init_airflow, run_mesh_build_logged
from meshplatform.orchestration.steps import credentials, publish_domain, setup_warehouse, warehouse
from meshplatform.reporting.catalog import gather
from meshplatform.reporting.catalog_page import write_catalog
from meshplatform.reporting.report import build_report
from meshplatform.sample_data.generator import GroundTruth, generate
from meshplatform.warehouse.connection import ConnectionInfo

pytestmark = pytest.mark.e2e

PUBLISHED = [
    "users.dim_users",
    "users.dim_users_v2",
    "withdrawals.fct_withdrawals",
    "withdrawals.fct_daily_withdrawal_volumes",
    "withdrawals.dim_user_withdrawal_summary",
]


def fingerprint(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Row count and content hash of every published table and raw table."""
    result = {}
    for relation in [*PUBLISHED, "raw_users.users", "raw_withdrawals.withdrawals"]:
        result[relation] = conn.execute(
            f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {relation} t"
        ).fetchone()
    return result


def build(settings: Settings) -> RunOutcome:
    init_airflow(settings)
    for domain in ("users", "withdrawals"):
        publish_domain(domain, settings)
    # in a child process, as `mesh build` runs it: Airflow reads its settings (the secrets backend
    # holding this warehouse's Connections) once per process, and each module has its own warehouse
    return run_mesh_build_logged(settings)[0]


@pytest.fixture(scope="module")
def truth(mesh_env: Settings) -> GroundTruth:
    return generate(mesh_env.exports_dir, size=4_000, days=4, seed=11)


@pytest.fixture(scope="module")
def command_lines() -> list[str]:
    """Every process command line seen on the machine while the first build runs."""
    return []


@pytest.fixture(scope="module")
def first_run(mesh_env: Settings, truth: GroundTruth, command_lines: list[str]) -> RunOutcome:
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.3):
            ps = subprocess.run(["ps", "-eww", "-o", "args="], capture_output=True, text=True, check=False)
            command_lines.extend(ps.stdout.splitlines())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        return build(mesh_env)
    finally:
        done.set()
        sampler.join()


def test_every_task_succeeds(first_run: RunOutcome) -> None:
    assert first_run.state == "success", first_run.failed_tasks
    assert any(task.startswith("withdrawals.dbt.") for task in first_run.task_states)


def test_rows_in_equal_rows_loaded_plus_quarantined(
    first_run: RunOutcome, conn: psycopg.Connection, truth: GroundTruth
) -> None:
    ledger = dict(
        conn.execute(
            """select source, array[sum(rows_read), sum(rows_loaded), sum(rows_quarantined)]
               from mesh_meta.load_ledger group by source"""
        ).fetchall()
    )
    for source in ("users", "withdrawals"):
        read, loaded, quarantined = ledger[source]
        assert read == truth.rows_written[source] == loaded + quarantined
        assert quarantined == truth.malformed_rows[source]
    assert conn.execute("select count(*) from mesh_meta.quarantine").fetchone()[0] == sum(truth.malformed_rows.values())


def test_published_products_match_the_ground_truth(
    first_run: RunOutcome, conn: psycopg.Connection, truth: GroundTruth
) -> None:
    assert conn.execute("select count(*) from users.dim_users").fetchone()[0] == truth.users
    assert conn.execute("select count(*) from users.dim_users_v2").fetchone()[0] == truth.users
    assert conn.execute(
        "select count(*), count(distinct transaction_id) from withdrawals.fct_withdrawals"
    ).fetchone() == (
        truth.unique_withdrawals,
        truth.unique_withdrawals,
    )
    statuses = dict(conn.execute("select status, count(*) from withdrawals.fct_withdrawals group by status").fetchall())
    assert statuses == {s: n for s, n in truth.latest_status_counts.items() if n}
    daily = {
        (str(d), c, s): (n, t, f)
        for d, c, s, n, t, f in conn.execute(
            """select requested_date, fiat_currency, status, withdrawal_count, toco_amount, fiat_amount
               from withdrawals.fct_daily_withdrawal_volumes"""
        ).fetchall()
    }
    expected = {
        (r["requested_date"], r["fiat_currency"], r["status"]): (
            r["withdrawal_count"],
            Decimal(r["toco_amount"]),
            Decimal(r["fiat_amount"]),
        )
        for r in truth.daily
    }
    assert daily == expected
    orphans = conn.execute(
        "select coalesce(sum(withdrawal_count), 0) from withdrawals.dim_user_withdrawal_summary where flag_unknown_user"
    ).fetchone()[0]
    assert orphans == truth.orphan_withdrawals


def test_orphan_users_are_reported_not_dropped(
    first_run: RunOutcome, conn: psycopg.Connection, truth: GroundTruth
) -> None:
    assert truth.orphan_withdrawals > 0
    warned = conn.execute(
        """select count(*) from mesh_meta.dbt_results
           where unique_id like 'test.withdrawals.relationships_%%' and status = 'warn' and run_id = %s""",
        (first_run.run_id,),
    ).fetchone()[0]
    assert warned >= 1


def _contract(mesh_env: Settings, path: str) -> dict:
    return yaml.safe_load((mesh_env.contracts_dir / path).read_text(encoding="utf-8"))


def test_catalog_lists_every_product_version_with_owner_sla_freshness_quality_and_lineage(
    first_run: RunOutcome, mesh_env: Settings
) -> None:
    page = write_catalog(mesh_env, setup_warehouse(mesh_env).bookkeeper())
    catalog = json.loads((page.parent / "catalog.json").read_text(encoding="utf-8"))
    entries = {p["label"]: p for p in catalog["products"]}
    assert set(entries) == {"users.dim_users", "withdrawals.fct_withdrawals"}
    for label, path in (
        ("users.dim_users", "users/dim_users.odcs.yaml"),
        ("withdrawals.fct_withdrawals", "withdrawals/fct_withdrawals.odcs.yaml"),
    ):
        contract = _contract(mesh_env, path)
        owner = next(m for m in contract["team"]["members"] if m["role"] == "owner")
        entry = entries[label]
        assert entry["owner"] == owner["name"]
        assert [s["channel"] for s in entry["support"]] == [s["channel"] for s in contract["support"]]
        freshness = next(s for s in contract["slaProperties"] if s["property"] == "freshness")
        assert (freshness["value"], freshness["unit"]) == (2, "d") and entry["freshness_sla_hours"] == 48
        assert entry["fresh"] is True and entry["last_built"] and entry["last_published"]
        assert {v["relation"] for v in entry["versions"]} == {o["physicalName"] for o in contract["schema"]}
        for version in entry["versions"]:
            assert version["quality_total"] and version["quality_met"] == version["quality_total"], version
            assert all(c["description"] for c in version["columns"])
    dim_users = {v["version"]: v for v in entries["users.dim_users"]["versions"]}
    assert dim_users[1]["status"] == "deprecated" and dim_users[1]["deprecation_date"] == "2027-03-31"
    assert dim_users[2]["status"] == "active" and dim_users[2]["latest"]
    assert dim_users[1]["consumers"] == [{"domain": "withdrawals", "models": ["stg_users__dim_users"]}]
    assert dim_users[2]["consumers"] == []
    edges = {tuple(edge) for edge in catalog["edges"]}
    path = ["users/users_*.csv", "raw_users.users", "users_staging.stg_users", "users.dim_users",
            "withdrawals_staging.stg_users__dim_users", "withdrawals.dim_user_withdrawal_summary"]  # fmt: skip
    assert all(step in edges for step in pairwise(path)), edges
    html = page.read_text(encoding="utf-8")
    assert "Maria Gomez" in html and "deprecated, removed after 2027-03-31" in html and "<svg" in html
    assert (page.parent / "contracts" / "users" / "dim_users.odcs.html").stat().st_size > 0


def test_catalog_reports_a_product_older_than_its_freshness_sla_as_stale(
    first_run: RunOutcome, mesh_env: Settings, conn: psycopg.Connection
) -> None:
    later = datetime.now(UTC) + timedelta(days=3)
    catalog = gather(mesh_env, conn, now=later)
    assert [(p.label, p.fresh) for p in catalog.products] == [
        ("users.dim_users", False),
        ("withdrawals.fct_withdrawals", False),
    ]
    assert all(p.age_hours and p.age_hours > 48 for p in catalog.products)


def _lineage_edges(lineage_file: Path, run_id: str) -> set[tuple[str, str]]:
    """Dataset -> dataset edges of one DAG run's OpenLineage COMPLETE events (read back from the file)."""
    edges = set()
    for line in lineage_file.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        dag_run = event["run"]["facets"].get("airflow", {}).get("dagRun", {})
        if event["eventType"] != "COMPLETE" or dag_run.get("run_id") != run_id:
            continue
        for source in event.get("inputs", []):
            for target in event.get("outputs", []):
                if source["name"] != target["name"]:
                    edges.add((source["name"], target["name"]))
    return edges


def test_lineage_events_connect_each_export_file_to_the_downstream_products(
    first_run: RunOutcome, mesh_env: Settings, lineage_file: Path
) -> None:
    edges = _lineage_edges(lineage_file, first_run.run_id)
    database = warehouse(mesh_env).database
    downstream: dict[str, set[str]] = {}
    for source, target in edges:
        downstream.setdefault(source, set()).add(target)

    def reachable(start: str) -> set[str]:
        seen, frontier = set(), {start}
        while frontier:
            frontier = {t for node in frontier for t in downstream.get(node, ())} - seen
            seen |= frontier
        return seen

    users_files = list((mesh_env.exports_dir / "users").glob("users_*.csv"))
    withdrawals_files = list((mesh_env.exports_dir / "withdrawals").glob("withdrawals_*.csv"))
    assert users_files and withdrawals_files
    for path in users_files:  # export file -> raw -> staging -> product -> the downstream domain's products
        assert {f"{database}.raw_users.users", f"{database}.users_staging.stg_users", f"{database}.users.dim_users",
                f"{database}.withdrawals.dim_user_withdrawal_summary"} <= reachable(str(path.resolve())), path  # fmt: skip
    for path in withdrawals_files:
        assert {f"{database}.raw_withdrawals.withdrawals", f"{database}.withdrawals.fct_withdrawals",
                f"{database}.withdrawals.fct_daily_withdrawal_volumes"} <= reachable(str(path.resolve())), path  # fmt: skip


def test_rerun_changes_nothing(first_run: RunOutcome, mesh_env: Settings, conn: psycopg.Connection) -> None:
    before = fingerprint(conn)
    ledger = conn.execute("select count(*) from mesh_meta.load_ledger").fetchone()[0]
    second = build(mesh_env)
    assert second.state == "success", second.failed_tasks
    assert fingerprint(conn) == before
    assert conn.execute("select count(*) from mesh_meta.load_ledger").fetchone()[0] == ledger


def test_domain_team_builds_withdrawals_alone_with_plain_dbt(
    first_run: RunOutcome, mesh_env: Settings, conn: psycopg.Connection
) -> None:
    before = fingerprint(conn)
    domain_dir = mesh_env.domains_dir / "withdrawals"
    # what `mesh env withdrawals` gives the team: its own login, nothing of the others
    env = {**os.environ, **runtime_env(mesh_env, credentials(mesh_env).domain("withdrawals"), "withdrawals")}
    env.pop("MESH_DATABASE_URL")
    result = subprocess.run(
        [dbt_executable(), "build"], check=False, cwd=domain_dir, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "ERROR=0" in result.stdout
    assert fingerprint(conn) == before


def test_failed_validation_stops_only_the_models_that_read_the_broken_domain(
    first_run: RunOutcome, mesh_env: Settings, conn: psycopg.Connection
) -> None:
    conn.execute(
        "update raw_users.users set kyc_status = 'bogus' where user_id = (select min(user_id) from raw_users.users)"
    )
    before = fingerprint(conn)
    try:
        outcome = build(mesh_env)
        assert outcome.state == "failed"
        assert outcome.task_states["users.validate"] == "failed"
        readers = ("withdrawals.dbt.stg_users__dim_users.", "withdrawals.dbt.dim_user_withdrawal_summary.")
        for task, state in outcome.task_states.items():
            if task.startswith(("users.dbt.", *readers)) or task in ("users.publish", "withdrawals.publish"):
                assert state == "upstream_failed", task
        # what does not read users is built: its raw data, fct_withdrawals and the daily volumes
        for task in (
            "withdrawals.validate",
            "withdrawals.dbt.fct_withdrawals_v1.run",
            "withdrawals.dbt.fct_daily_withdrawal_volumes.run",
        ):
            assert outcome.task_states[task] == "success", task
        # the freshness of each product is measured whatever its build did (both built minutes ago)
        assert outcome.task_states["users.freshness.users__dim_users"] == "success"
        assert fingerprint(conn) == before
        reason = conn.execute(
            """select unexpected_count from mesh_meta.quality_results
               where target = 'raw_users.users' and column_name = 'kyc_status' and not success"""
        ).fetchone()
        assert reason == (1,)
    finally:
        conn.execute("update raw_users.users set kyc_status = 'verified' where kyc_status = 'bogus'")


def test_no_password_in_logs_artifacts_report_airflow_db_or_command_lines(
    first_run: RunOutcome, mesh_env: Settings, command_lines: list[str]
) -> None:
    """Every credential of the run (the admin's, each login role's) is absent from every file the
    run wrote outside the secrets folder (task logs, dbt artifacts, GX context and Data Docs, the
    registry, the report), from Airflow's metadata DB (rendered fields, XComs, connections) and
    from every command line seen while it ran."""
    logins = setup_warehouse(mesh_env)
    secrets = {ConnectionInfo.from_url(mesh_env.database_url).password}
    secrets |= {p.read_text().strip() for p in (mesh_env.home / "secrets").iterdir() if not p.name.endswith(".json")}
    secrets.discard("")
    assert len(secrets) >= 5, "the admin, a login and an observer per domain, the bookkeeper"
    build_report(mesh_env, logins, mesh_env.home / "report.html")
    files = [p for p in mesh_env.home.rglob("*") if p.is_file() and "secrets" not in p.relative_to(mesh_env.home).parts]
    files += [p for p in Path(os.environ["AIRFLOW_HOME"]).rglob("*") if p.is_file()]
    assert any(p.name == "report.html" for p in files) and any(p.suffix == ".log" for p in files)
    leaks = [f"{path}" for path in files for secret in secrets if secret.encode() in path.read_bytes()] + [
        line[:80] for line in command_lines for secret in secrets if secret in line
    ]
    assert not leaks, leaks
    assert command_lines, "the command lines were sampled"
