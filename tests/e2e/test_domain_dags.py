"""The DAG of each domain through Airflow (`dag.test()` in a child process, as `mesh build` runs):
each builds its own domain and emits an Asset event per product version it publishes; its params
re-load a date range and fully refresh dbt; and a broken users domain fails only users' DAG while
withdrawals' DAG builds on the last published users version and its freshness check says how
stale users is."""

from __future__ import annotations

import os
import re
import sqlite3

import psycopg
import pytest

from meshplatform.config import Settings
from meshplatform.orchestration.runner import RunOutcome, init_airflow, run_mesh_build_logged
from meshplatform.orchestration.steps import credentials, publish_domain
from meshplatform.reporting.summary import build_summary
from meshplatform.sample_data.generator import generate

pytestmark = pytest.mark.e2e

USERS_PRODUCTS = ["users.dim_users", "users.dim_users_v2"]


def run(settings: Settings, dag_id: str, conf: dict[str, object] | None = None) -> tuple[RunOutcome, str]:
    outcome, log = run_mesh_build_logged(settings, dag_id, conf)
    return outcome, log.read_text(encoding="utf-8")


def asset_events(dag_id: str) -> list[tuple[str, str]]:
    """(run id, asset URI) of every product Asset event the DAG's runs emitted, from Airflow's
    metadata DB (Cosmos emits its own events per dbt relation besides). The metadata DB is the test
    session's: with two servers under test it also holds the other server's runs."""
    path = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return db.execute(
            """select e.source_run_id, a.uri from asset_event e join asset a on a.id = e.asset_id
               where e.source_dag_id = ? and a.uri like 'mesh://%' order by e.source_run_id, a.uri""",
            (dag_id,),
        ).fetchall()


def content(conn: psycopg.Connection, relations: list[str]) -> dict[str, tuple[int, str]]:
    return {
        r: conn.execute(f"select count(*), md5(string_agg(t::text, '|' order by t::text)) from {r} t").fetchone()
        for r in relations
    }


def dbt_tasks(outcome: RunOutcome) -> dict[str, str]:
    return {task: state for task, state in outcome.task_states.items() if task.startswith("dbt.")}


@pytest.fixture(scope="module")
def first_runs(mesh_env: Settings) -> dict[str, tuple[RunOutcome, str]]:
    generate(mesh_env.exports_dir, size=1_500, days=3, seed=5)
    init_airflow(mesh_env)
    for domain in ("users", "withdrawals"):
        publish_domain(domain, mesh_env)
    return {dag_id: run(mesh_env, dag_id) for dag_id in ("domain_users", "domain_withdrawals")}


def test_each_domain_dag_builds_its_domain_and_emits_an_event_per_product_version(
    first_runs: dict[str, tuple[RunOutcome, str]],
) -> None:
    for dag_id, (outcome, _) in first_runs.items():
        assert outcome.state == "success", (dag_id, outcome.failed_tasks)
        assert dbt_tasks(outcome), dag_id
        assert outcome.task_states["publish"] == "success"
    users, withdrawals = first_runs["domain_users"][0], first_runs["domain_withdrawals"][0]
    assert "dbt.dim_users_v1.run" in users.task_states
    assert not any(t.startswith(("dbt.stg_users.", "dbt.dim_users")) for t in withdrawals.task_states)  # users' own
    ours = {users.run_id, withdrawals.run_id}
    assert [e for e in asset_events("domain_users") if e[0] in ours] == [
        (users.run_id, "mesh://users/dim_users/v1"),
        (users.run_id, "mesh://users/dim_users/v2"),
    ]
    assert [e for e in asset_events("domain_withdrawals") if e[0] in ours] == [
        (withdrawals.run_id, "mesh://withdrawals/fct_withdrawals/v1")
    ]
    # withdrawals reads users v1: its freshness check measured it, fresh after users' run
    assert withdrawals.task_states["freshness.users__dim_users"] == "success"
    assert re.search(
        r"users\.dim_users: last built successfully \S+, 0(\.\d+)? h ago: fresh", first_runs["domain_withdrawals"][1]
    )


def test_params_reload_a_date_range_of_exports_and_fully_refresh_dbt(
    first_runs: dict[str, tuple[RunOutcome, str]], mesh_env: Settings, conn: psycopg.Connection
) -> None:
    files = sorted(p.name for p in (mesh_env.exports_dir / "withdrawals").glob("withdrawals_*.csv"))
    day = files[1].removeprefix("withdrawals_").removesuffix(".csv")
    before = content(conn, ["withdrawals.fct_withdrawals"])
    outcome, log = run(mesh_env, "domain_withdrawals", {"full_refresh": True, "reload_from": day, "reload_to": day})
    assert outcome.state == "success", outcome.failed_tasks
    assert f"withdrawals/{files[1]}: loaded:" in log
    for other in (files[0], files[2]):
        assert f"withdrawals/{other}: skipped (already loaded)" in log
    assert "--full-refresh" in log
    assert content(conn, ["withdrawals.fct_withdrawals"]) == before  # same exports, same product
    # without the params: no reload, no full refresh
    outcome, log = run(mesh_env, "domain_withdrawals")
    assert outcome.state == "success" and "--full-refresh" not in log and ": loaded:" not in log


def test_broken_users_fails_only_its_dag_and_withdrawals_builds_on_the_last_published_version(
    first_runs: dict[str, tuple[RunOutcome, str]], mesh_env: Settings, conn: psycopg.Connection
) -> None:
    conn.execute(
        "update raw_users.users set kyc_status = 'bogus' where user_id = (select min(user_id) from raw_users.users)"
    )
    published = content(conn, USERS_PRODUCTS)
    events = asset_events("domain_users")
    try:
        users, _ = run(mesh_env, "domain_users")
        assert users.state == "failed"
        assert users.task_states["validate"] == "failed"
        assert set(dbt_tasks(users).values()) == {"upstream_failed"}
        assert users.task_states["publish"] == "upstream_failed"
        assert asset_events("domain_users") == events  # nothing new published
        assert content(conn, USERS_PRODUCTS) == published  # consumers keep the last published version

        # users' last successful build was 3 days ago: past the 2-day freshness SLA of its contract
        conn.execute(
            "update mesh_meta.dbt_results set recorded_at = recorded_at - interval '3 days' where domain = 'users'"
        )
        withdrawals, log = run(mesh_env, "domain_withdrawals")
        assert withdrawals.failed_tasks == ["freshness.users__dim_users"]  # the breached check, and only it
        assert set(dbt_tasks(withdrawals).values()) == {"success"}
        for task in ("load", "validate", "validate_products", "publish", "freshness.withdrawals__fct_withdrawals"):
            assert withdrawals.task_states[task] == "success", task
        assert withdrawals.state == "failed"
        stale = r"users\.dim_users: last built successfully \S+, 7\d(\.\d+)? h ago: STALE, freshness SLA breached \(contract's freshness SLA: 48 h\)"
        assert re.search(stale, log)
        assert re.search(stale, build_summary(mesh_env, credentials(mesh_env)))
        # it read users v1 as published before the break: every user id known, none 'bogus'
        assert conn.execute(
            "select count(*) filter (where kyc_status = 'bogus'), count(*) filter (where not is_known_user) "
            "from withdrawals.dim_user_withdrawal_summary s where exists (select 1 from users.dim_users u where u.user_id = s.user_id)"
        ).fetchone() == (0, 0)
    finally:
        conn.execute("update raw_users.users set kyc_status = 'verified' where kyc_status = 'bogus'")
