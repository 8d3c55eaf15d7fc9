"""fct_withdrawals stays right across incremental runs when the canonical id of a content group
moves to another row: a quarantined original delivered again later (it becomes canonical, its
duplicate has to go), a content correction that splits a group (the duplicate left behind becomes
canonical, with an old loaded_at), and a row whose loaded_at is older than the last run's latest
one (a long load committing after a shorter one).

Hand-written exports go through the real loader; dbt builds the real project. After every
incremental run the table holds exactly one row per unique withdrawal, under its canonical id,
and equals what a --full-refresh build makes of the same raw data."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from meshplatform import domains
from meshplatform.config import Settings
from meshplatform.dbt.registry import run_dbt, runtime_env
from meshplatform.orchestration.steps import load_domain, publish_domain, setup_warehouse

pytestmark = pytest.mark.dbt

WITHDRAWALS_HEADER = (
    "transaction_id,user_id,requested_at,completed_at,status,toco_amount,fiat_currency,fiat_amount,"
    "exchange_rate,updated_at,"
)
USERS_HEADER = "user_id,signup_date,country,kyc_status,account_type,updated_at,"

# Content of a withdrawal (what groups duplicates): user_id, requested_at, toco_amount, fiat_currency,
# fiat_amount. wd_2 / wd_3 and wd_5 / wd_9 are the same withdrawals exported twice under two ids.
W1 = "wd_0000000001,1,2026-11-01T08:00:00Z,,requested,100.00,USD,100.00,1.000000,2026-11-01T08:00:00Z,"
W2 = "wd_0000000002,2,2026-11-01T09:00:00Z,,requested,20.00,EUR,18.00,0.900000,2026-11-01T09:00:00Z,"
W3 = "wd_0000000003,2,2026-11-01T09:00:00Z,,requested,20.00,EUR,18.00,0.900000,2026-11-01T09:30:00Z,"
W9 = "wd_0000000009,3,2026-11-01T10:00:00Z,,requested,50.00,GBP,40.00,0.800000,2026-11-01T10:30:00Z,"
# the original of wd_9, spoilt on its first delivery (status not allowed): quarantined
W5_BAD = "wd_0000000005,3,2026-11-01T10:00:00Z,,pending,50.00,GBP,40.00,0.800000,2026-11-01T10:00:00Z,"

DAYS = {
    "2026-11-01": [W1, W2, W3, W5_BAD, W9],
    # wd_2 corrected: its amount was wrong, so it no longer shares wd_3's content; wd_1 completes
    "2026-11-02": [
        "wd_0000000002,2,2026-11-01T09:00:00Z,,requested,25.00,EUR,22.50,0.900000,2026-11-02T09:00:00Z,",
        "wd_0000000001,1,2026-11-01T08:00:00Z,2026-11-02T08:00:00Z,completed,100.00,USD,100.00,1.000000,2026-11-02T08:00:00Z,",
    ],
    # the original wd_5 delivered again, well formed: it is the canonical id of wd_9's group now
    "2026-11-03": [
        "wd_0000000005,3,2026-11-01T10:00:00Z,,processing,50.00,GBP,40.00,0.800000,2026-11-03T10:00:00Z,",
    ],
}

USERS = [
    "1,2026-01-01,US,verified,personal,2026-01-01T00:00:00Z,",
    "2,2026-01-02,DE,verified,personal,2026-01-02T00:00:00Z,",
    "3,2026-01-03,GB,pending,business,2026-01-03T00:00:00Z,",
]

COLUMNS = (
    "transaction_id, user_id, requested_at, requested_date, completed_at, status, toco_amount, "
    "fiat_currency, fiat_amount, exchange_rate, updated_at, loaded_at"
)


def write_export(folder: Path, name: str, header: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")


class Mesh:
    """The two domains of a fresh warehouse; dbt writes its target and logs to a private folder."""

    def __init__(self, settings: Settings, work: Path) -> None:
        self.settings = settings
        self.logins = setup_warehouse(settings)
        self.work = work

    def dbt(self, domain: str, *args: str) -> str:
        private = ["--target-path", str(self.work / domain / "target"), "--log-path", str(self.work / domain / "logs")]
        env = runtime_env(self.settings, self.logins.domain(domain), domain)  # the domain's own login
        return run_dbt(domains.get(self.settings.domains_dir, domain), [*args, *private], env)

    def deliver(self, day: str) -> None:
        folder = self.settings.exports_dir / "withdrawals"
        write_export(folder, f"withdrawals_{day}.csv", WITHDRAWALS_HEADER, DAYS[day])
        load_domain("withdrawals", self.settings, progress=None)

    def build(self, *extra: str) -> None:
        # the whole domain: `-s +fct_withdrawals` would also select the reconciliation tests of the
        # marts built on it (eager indirect selection) without building those marts
        self.dbt("withdrawals", "build", *extra)


@pytest.fixture(scope="module")
def mesh(mesh_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    write_export(mesh_env.exports_dir / "users", "users_2026-11-01.csv", USERS_HEADER, USERS)
    mesh = Mesh(mesh_env, tmp_path_factory.mktemp("dbt"))
    publish_domain("users", mesh_env)
    load_domain("users", mesh_env, progress=None)
    # fct_withdrawals' relationships test reads users.dim_users v1
    mesh.dbt("users", "build")
    publish_domain("withdrawals", mesh_env)
    yield mesh


def fct(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(f"select {COLUMNS} from withdrawals.fct_withdrawals order by transaction_id").fetchall()


def table_oid(conn: psycopg.Connection) -> int:
    return conn.execute("select 'withdrawals.fct_withdrawals'::regclass::oid").fetchone()[0]


def check(mesh: Mesh, conn: psycopg.Connection, expected: dict[str, str]) -> None:
    """fct_withdrawals holds exactly the expected withdrawals ({canonical id: status}), one row each,
    and equals a --full-refresh build of the same raw data (then the table is the full refresh's)."""
    rows = fct(conn)
    assert {r[0]: r[5] for r in rows} == expected
    assert len(rows) == len(expected)
    # what a full refresh selects: the canonical row of every content group of the raw table
    canonical = conn.execute(
        f"""select {COLUMNS} from withdrawals_staging.stg_withdrawals
            where transaction_id = canonical_transaction_id order by transaction_id"""
    ).fetchall()
    assert rows == canonical
    mesh.build("--full-refresh")
    assert fct(conn) == rows


def test_incremental_runs_follow_the_canonical_id(mesh: Mesh, conn: psycopg.Connection) -> None:
    # day 1: wd_5 is quarantined, so wd_9 is the canonical id of its group; wd_3 duplicates wd_2
    mesh.deliver("2026-11-01")
    quarantined = conn.execute("select raw_line from mesh_meta.quarantine").fetchall()
    assert quarantined == [(W5_BAD,)]
    mesh.build()
    check(mesh, conn, {"wd_0000000001": "requested", "wd_0000000002": "requested", "wd_0000000009": "requested"})

    # day 2 (case B): the correction of wd_2 splits it from wd_3, which becomes canonical although
    # it was loaded on day 1; and a status update of wd_1
    oid = table_oid(conn)
    mesh.deliver("2026-11-02")
    mesh.build()
    assert table_oid(conn) == oid  # an incremental run, not a rebuild
    expected = {"wd_0000000001": "completed", "wd_0000000002": "requested", "wd_0000000003": "requested"}
    check(mesh, conn, {**expected, "wd_0000000009": "requested"})
    assert conn.execute(
        "select toco_amount from withdrawals.fct_withdrawals where transaction_id = 'wd_0000000002'"
    ).fetchone() == (Decimal("25.00"),)

    # day 3 (case A): wd_5 arrives well formed; it is canonical now and wd_9 has to leave the table
    oid = table_oid(conn)
    mesh.deliver("2026-11-03")
    mesh.build()
    assert table_oid(conn) == oid
    expected = {**expected, "wd_0000000005": "processing"}
    check(mesh, conn, expected)

    # case C: a load that started (the loader's _loaded_at is its transaction's now()) half an hour
    # before the latest load already in the table, but committed after the last run: wd_3 completes
    # (within the default lookback, var incremental_lookback: 1 hour)
    oid = table_oid(conn)
    conn.execute(
        """update raw_withdrawals.withdrawals
           set status = 'completed', completed_at = '2026-11-03T12:00:00Z',
               updated_at = '2026-11-03T12:00:00Z',
               _loaded_at = (select max(loaded_at) from withdrawals.fct_withdrawals) - interval '30 minutes'
           where transaction_id = 'wd_0000000003'"""
    )
    mesh.build()
    assert table_oid(conn) == oid
    check(mesh, conn, {**expected, "wd_0000000003": "completed"})
