"""Great Expectations on the raw tables, with suites derived from the inbound contracts."""

from __future__ import annotations

import psycopg
import pytest

from meshplatform.config import Settings
from meshplatform.errors import MeshError
from meshplatform.orchestration.steps import load_domain, validate_domain
from meshplatform.sample_data.generator import generate


@pytest.fixture(scope="module")
def loaded(mesh_env: Settings) -> Settings:
    generate(mesh_env.exports_dir, size=600, days=2, seed=5)
    for domain in ("users", "withdrawals"):
        load_domain(domain, mesh_env, progress=None)
    return mesh_env


def test_clean_load_meets_every_expectation_and_is_recorded(loaded: Settings, conn: psycopg.Connection) -> None:
    (report,) = validate_domain("withdrawals", loaded)
    assert report.success
    kinds = {o.expectation for o in report.outcomes}
    assert {
        "expect_column_values_to_be_unique",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_null",
    } <= kinds
    recorded = conn.execute(
        "select count(*), bool_and(success) from mesh_meta.quality_results where target = 'raw_withdrawals.withdrawals'"
    ).fetchone()
    assert recorded == (len(report.outcomes), True)


def test_failed_expectation_names_expectation_column_and_row_count(loaded: Settings, conn: psycopg.Connection) -> None:
    originals = conn.execute(
        "select transaction_id, fiat_currency from raw_withdrawals.withdrawals order by 1 limit 3"
    ).fetchall()
    conn.execute(
        "update raw_withdrawals.withdrawals set fiat_currency = 'DOGE' where transaction_id = any(%s)",
        ([tid for tid, _ in originals],),
    )
    try:
        with pytest.raises(MeshError) as error:
            validate_domain("withdrawals", loaded)
        message = str(error.value)
        assert "expectations failed on raw_withdrawals.withdrawals" in message
        assert "expect_column_values_to_be_in_set on column fiat_currency: 3 of" in message
        assert "'DOGE'" in message
    finally:
        with conn.cursor() as cur:
            cur.executemany(
                "update raw_withdrawals.withdrawals set fiat_currency = %s where transaction_id = %s",
                [(currency, tid) for tid, currency in originals],
            )
