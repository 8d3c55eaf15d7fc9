"""Great Expectations on the raw tables, with suites derived from the inbound contracts."""

from __future__ import annotations

import shutil
import subprocess

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


def test_data_docs_load_no_cdn_and_list_the_validations_offline(loaded: Settings) -> None:
    validate_domain("users", loaded)
    site = loaded.data_docs_dir
    index = (site / "index.html").read_text(encoding="utf-8")
    for cdn in ("code.jquery.com", "unpkg.com/bootstrap-table", "bootstrapcdn.com", "cdnjs.cloudflare.com"):
        assert cdn not in index, cdn
    for asset in ("jquery.min.js", "bootstrap-table.min.js", "fontawesome/css/all.min.css", "licenses/jquery.txt"):
        assert (site / "static" / "offline" / asset).is_file(), asset
    page = next((site / "validations").rglob("*.html"))
    assert "static/offline/jquery.min.js" in page.read_text(
        encoding="utf-8"
    ) and "code.jquery.com" not in page.read_text(encoding="utf-8")
    if not shutil.which("chromium"):
        pytest.skip("needs Debian's chromium to render the page")
    offline = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=5000",
    ]
    dom = subprocess.run(
        ["chromium", *offline, "--dump-dom", (site / "index.html").as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "raw_users.users" in dom  # the index table is filled by bootstrap-table, which now loads offline
