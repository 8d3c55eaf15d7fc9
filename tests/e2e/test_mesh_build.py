"""The whole mesh through Airflow (`dag.test()` of mesh_build on a migrated metadata DB), checked
against the generator's ground truth; then re-run, broken, and built by a domain team alone."""

from __future__ import annotations

import os
import subprocess
from decimal import Decimal

import psycopg
import pytest

from meshplatform.config import Settings
from meshplatform.dbt.registry import dbt_executable, runtime_env
from meshplatform.orchestration.runner import RunOutcome, init_airflow, run_mesh_build
from meshplatform.orchestration.steps import publish_domain, warehouse
from meshplatform.sample_data.generator import GroundTruth, generate

pytestmark = pytest.mark.e2e

PUBLISHED = [
    "users.dim_users",
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
    return run_mesh_build(settings)


@pytest.fixture(scope="module")
def truth(mesh_env: Settings) -> GroundTruth:
    return generate(mesh_env.exports_dir, size=4_000, days=4, seed=11)


@pytest.fixture(scope="module")
def first_run(mesh_env: Settings, truth: GroundTruth) -> RunOutcome:
    return build(mesh_env)


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
    env = {**os.environ, **runtime_env(mesh_env, warehouse(mesh_env))}
    result = subprocess.run(
        [dbt_executable(), "build"], check=False, cwd=domain_dir, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "ERROR=0" in result.stdout
    assert fingerprint(conn) == before


def test_failed_validation_stops_downstream_domains(
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
        for task, state in outcome.task_states.items():
            if task.startswith(("users.dbt.", "withdrawals.dbt.")) or task in ("users.publish", "withdrawals.publish"):
                assert state == "upstream_failed", task
        assert outcome.task_states["withdrawals.validate"] == "success"
        assert fingerprint(conn) == before
        reason = conn.execute(
            """select unexpected_count from mesh_meta.quality_results
               where target = 'raw_users.users' and column_name = 'kyc_status' and not success"""
        ).fetchone()
        assert reason == (1,)
    finally:
        conn.execute("update raw_users.users set kyc_status = 'verified' where kyc_status = 'bogus'")
