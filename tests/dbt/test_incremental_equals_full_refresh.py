"""An incremental build of both domains after new exports gives exactly the rows of a
``--full-refresh`` build: the staging tables and every mart, column by column.

The exports of the last day arrive after a first build (new withdrawals, status updates, content
duplicates of earlier originals, user updates). Then content corrections: a withdrawal that has a
duplicate changes, so its duplicate becomes the canonical row; the withdrawals of a whole day move
to the next day (the day is left empty); the only withdrawal of a user goes to another user (the
user is left without any); a user's KYC status changes. Real Postgres, real dbt, as the domains'
own logins.
"""

from __future__ import annotations

import json
import shutil

import psycopg
import pytest

from meshplatform.config import Settings
from meshplatform.dbt import registry
from meshplatform.domains import get
from meshplatform.orchestration.steps import load_domain, publish_domain, setup_warehouse
from meshplatform.sample_data.generator import generate

pytestmark = pytest.mark.dbt

RELATIONS = [
    "users.dim_users",
    "users.dim_users_v2",
    "withdrawals_staging.stg_users__dim_users",
    "withdrawals_staging.stg_withdrawals",
    "withdrawals.fct_withdrawals",
    "withdrawals.fct_daily_withdrawal_volumes",
    "withdrawals.dim_user_withdrawal_summary",
]
# what an incremental run changed (only a run can know it): the rest must be equal
CHANGE_TRACKING = ["previous_requested_date", "previous_user_id"]
# the loads of one test run are seconds apart: a lookback shorter than that, as an hour is in production
LOOKBACK = ["--vars", '{"incremental_lookback": "1 millisecond"}']


def dbt(settings: Settings, name: str, *args: str) -> None:
    domain = get(settings.domains_dir, name)
    env = registry.runtime_env(settings, setup_warehouse(settings).domain(name), name)
    registry.run_dbt(domain, [*args, *registry.output_args(registry.dbt_output_dir(settings, domain))], env)


def rows(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    return {
        relation: conn.execute(
            f"select to_jsonb(t) - %s::text[] as r from {relation} t order by 1", (CHANGE_TRACKING,)
        ).fetchall()
        for relation in RELATIONS
    }


@pytest.fixture(scope="module")
def built_incrementally(mesh_env: Settings) -> Settings:
    """Three days of exports built in full, then the fourth day loaded and built incrementally."""
    generate(mesh_env.exports_dir, size=3_000, days=4, seed=7)
    held_back = mesh_env.home / "held_back"
    held_back.mkdir()
    for path in mesh_env.exports_dir.glob("*/*_2026-11-04.csv"):
        shutil.move(path, held_back / path.name)
    for name in ("users", "withdrawals"):
        load_domain(name, mesh_env, progress=None)
        publish_domain(name, mesh_env)
        dbt(mesh_env, name, "build")
    for path in held_back.iterdir():
        shutil.move(path, mesh_env.exports_dir / path.name.split("_")[0] / path.name)
    for name in ("users", "withdrawals"):
        load_domain(name, mesh_env, progress=None)
    dbt(mesh_env, "users", "build")
    return mesh_env


def test_incremental_run_after_new_exports_and_a_correction_equals_a_full_refresh(
    built_incrementally: Settings, login_conn, conn: psycopg.Connection
) -> None:
    settings = built_incrementally
    # a content correction of an original that has a duplicate: the duplicate becomes canonical
    corrected = (
        login_conn("withdrawals")
        .execute(
            """update raw_withdrawals.withdrawals
           set requested_at = requested_at - interval '1 minute', updated_at = updated_at + interval '1 minute',
               _loaded_at = clock_timestamp()
           where transaction_id = (
               select min(original.transaction_id) from raw_withdrawals.withdrawals original
               join raw_withdrawals.withdrawals duplicate
                 on (duplicate.user_id, duplicate.requested_at, duplicate.toco_amount, duplicate.fiat_currency,
                     duplicate.fiat_amount) = (original.user_id, original.requested_at, original.toco_amount,
                     original.fiat_currency, original.fiat_amount)
                and duplicate.transaction_id > original.transaction_id)"""
        )
        .rowcount
    )
    assert corrected == 1
    withdrawals = login_conn("withdrawals")
    # every withdrawal of the first day moves to the next day
    moved = withdrawals.execute(
        """update raw_withdrawals.withdrawals
           set requested_at = requested_at + interval '1 day', updated_at = updated_at + interval '1 minute',
               _loaded_at = clock_timestamp()
           where (requested_at at time zone 'UTC')::date = (
               select min((requested_at at time zone 'UTC')::date) from raw_withdrawals.withdrawals)"""
    ).rowcount
    # the only withdrawal of a user goes to another user
    given = withdrawals.execute(
        """update raw_withdrawals.withdrawals
           set user_id = user_id + 1000000, updated_at = updated_at + interval '1 minute',
               _loaded_at = clock_timestamp()
           where user_id = (select user_id from raw_withdrawals.withdrawals group by user_id
                            having count(*) = 1 order by user_id limit 1)"""
    ).rowcount
    assert moved > 0 and given == 1
    # a user with withdrawals changes KYC status, and users builds incrementally
    kyc = (
        login_conn("users")
        .execute(
            """update raw_users.users
               set kyc_status = case kyc_status when 'verified' then 'rejected' else 'verified' end,
                   updated_at = updated_at + interval '1 minute', _loaded_at = clock_timestamp()
               where user_id = (select min(user_id) from raw_users.users)"""
        )
        .rowcount
    )
    assert kyc == 1
    dbt(settings, "users", "build")
    dbt(settings, "withdrawals", "build", *LOOKBACK)
    incremental = rows(conn)
    # it was incremental: staging rewrote only the rows of the latest loads (the lookback counts from the
    # latest load already built, which is read again) and the other rows of their content groups
    target = registry.dbt_output_dir(settings, get(settings.domains_dir, "withdrawals")) / "target"
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    (staged,) = [r for r in results if r["unique_id"] == "model.withdrawals.stg_withdrawals"]
    assert 0 < staged["adapter_response"]["rows_affected"] < len(incremental["withdrawals_staging.stg_withdrawals"])

    for name in ("users", "withdrawals"):
        dbt(settings, name, "build", "--full-refresh")
    full = rows(conn)
    for relation in RELATIONS:
        assert full[relation], relation
        assert incremental[relation] == full[relation], relation


def test_an_incremental_run_without_new_rows_changes_nothing(built_incrementally: Settings, conn) -> None:
    before = rows(conn)
    dbt(built_incrementally, "withdrawals", "run", *LOOKBACK)
    assert rows(conn) == before
