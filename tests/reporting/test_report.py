"""The HTML report: real content from a real warehouse, no external resources, and a missing
relation turns into a 'not built yet' note instead of an exception.

The raw layer and the platform's bookkeeping come from the real loader (hand-written exports with
known bad rows); the dbt marts are created by SQL with known values and handed to the domains'
roles, as dbt would own them (the domains' declared panels are read as those roles)."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from paths import PROJECT_DIR

from meshplatform.config import Settings
from meshplatform.contracts.model import inbound_sources
from meshplatform.ingest.load import export_files, load_source
from meshplatform.orchestration.steps import setup_warehouse
from meshplatform.reporting.report import build_report
from meshplatform.reporting.summary import build_summary
from meshplatform.warehouse.connection import connect
from meshplatform.warehouse.credentials import Credentials

HEADER = "transaction_id,user_id,requested_at,completed_at,status,toco_amount,fiat_currency,fiat_amount,exchange_rate,updated_at,"
GOOD = [
    "wd_1,1,2026-11-01T10:00:00Z,2026-11-01T11:00:00Z,completed,100.00,EUR,92.00,0.920000,2026-11-01T11:00:00Z,",
    "wd_2,2,2026-11-01T12:00:00Z,,requested,50.00,USD,50.00,1.000000,2026-11-01T12:00:00Z,",
]
BAD = [
    "wd_3,abc,2026-11-01T13:00:00Z,,requested,10.00,USD,10.00,1.000000,2026-11-01T13:00:00Z,",  # not an integer
    "wd_4,1.5,2026-11-01T13:00:00Z,,requested,10.00,USD,10.00,1.000000,2026-11-01T13:00:00Z,",  # not an integer
    "wd_5,1,2026-11-01T13:00:00Z,,requested,-5.00,USD,10.00,1.000000,2026-11-01T13:00:00Z,",  # negative amount
    "wd_6,1,2026-11-01T13:00:00Z,,requested,10.00,USD,10.00,1.000000,2026-11-01T13:00:00Z,,extra",  # too many fields
]

MARTS = """
create schema if not exists users;
create table users.dim_users (
    user_id bigint primary key, signup_date date, country text, kyc_status text, account_type text,
    is_kyc_verified boolean, updated_at timestamptz);
insert into users.dim_users values
    (1, '2026-01-01', 'DE', 'verified', 'personal', true, '2026-11-01T00:00:00Z'),
    (2, '2026-01-02', 'MX', 'pending', 'personal', false, '2026-11-01T00:00:00Z'),
    (3, '2026-01-03', 'US', 'verified', 'business', true, '2026-11-01T00:00:00Z');

create schema if not exists withdrawals;
create table withdrawals.fct_withdrawals (
    transaction_id text primary key, user_id bigint, requested_at timestamptz, requested_date date,
    completed_at timestamptz, status text, toco_amount numeric(18,2), fiat_currency text,
    fiat_amount numeric(18,2), exchange_rate numeric(18,6), updated_at timestamptz);
insert into withdrawals.fct_withdrawals values
    ('wd_1', 1, '2026-11-01T10:00:00Z', '2026-11-01', '2026-11-01T11:00:00Z', 'completed', 100.00, 'EUR', 92.00, 0.92, now()),
    ('wd_2', 2, '2026-11-01T12:00:00Z', '2026-11-01', null, 'requested', 50.00, 'USD', 50.00, 1, now()),
    ('wd_7', 2, '2026-11-02T09:00:00Z', '2026-11-02', '2026-11-02T10:00:00Z', 'completed', 6000.00, 'MXN', 102000.00, 17, now()),
    ('wd_8', 99, '2026-11-02T11:00:00Z', '2026-11-02', null, 'failed', 25.00, 'EUR', 23.00, 0.92, now());

create table withdrawals.fct_daily_withdrawal_volumes (
    requested_date date, fiat_currency text, status text, withdrawal_count bigint, toco_amount numeric, fiat_amount numeric);
insert into withdrawals.fct_daily_withdrawal_volumes values
    ('2026-11-01', 'EUR', 'completed', 1, 100.00, 92.00),
    ('2026-11-01', 'USD', 'requested', 1, 50.00, 50.00),
    ('2026-11-02', 'MXN', 'completed', 1, 6000.00, 102000.00),
    ('2026-11-02', 'EUR', 'failed', 1, 25.00, 23.00),
    ('2026-11-02', '<b>X', 'failed', 1, 1.00, 1.00);

create table withdrawals.dim_user_withdrawal_summary (
    user_id bigint, kyc_status text, is_known_user boolean, withdrawal_count bigint, completed_count bigint,
    total_toco_amount numeric, max_toco_amount numeric, first_requested_at timestamptz, last_requested_at timestamptz,
    flag_unverified_kyc boolean, flag_large_withdrawal boolean, flag_unknown_user boolean, is_flagged boolean);
insert into withdrawals.dim_user_withdrawal_summary values
    (1, 'verified', true, 1, 1, 100.00, 100.00, now(), now(), false, false, false, false),
    (2, 'pending', true, 2, 1, 6050.00, 6000.00, now(), now(), true, true, false, true),
    (99, null, false, 1, 0, 25.00, 25.00, now(), now(), false, false, true, true);
"""

META = """
insert into mesh_meta.quality_results (domain, target, expectation, column_name, success, unexpected_count, element_count, validated_at) values
    ('withdrawals', 'raw_withdrawals.withdrawals', 'expect_an_old_suite_only', 'user_id', false, 7, 2, '2026-11-01T00:00:00Z'),
    ('withdrawals', 'raw_withdrawals.withdrawals', 'expect_column_values_to_be_unique', 'transaction_id', true, 0, 2, '2026-11-02T00:00:00Z'),
    ('withdrawals', 'raw_withdrawals.withdrawals', 'expect_column_values_to_be_in_set', 'fiat_currency', false, 3, 2, '2026-11-02T00:00:00Z');
insert into mesh_meta.dbt_results (run_id, domain, unique_id, resource_type, status, execution_time) values
    ('run_old', 'withdrawals', 'model.withdrawals.fct_withdrawals.v1', 'model', 'error', 1.0),
    ('run_new', 'users', 'model.users.dim_users.v1', 'model', 'success', 1.0),
    ('run_new', 'users', 'test.users.unique_dim_users_user_id', 'test', 'pass', 0.1),
    ('run_new', 'withdrawals', 'model.withdrawals.fct_withdrawals.v1', 'model', 'success', 1.0),
    ('run_new', 'withdrawals', 'model.withdrawals.fct_daily_withdrawal_volumes', 'model', 'success', 1.0),
    ('run_new', 'withdrawals', 'test.withdrawals.not_null_fct_withdrawals_user_id', 'test', 'pass', 0.1),
    ('run_new', 'withdrawals', 'test.withdrawals.relationships_fct_withdrawals_user_id', 'test', 'warn', 0.1),
    ('run_new', 'withdrawals', 'test.withdrawals.assert_volumes_reconcile', 'test', 'fail', 0.1);
"""


@pytest.fixture(autouse=True)
def empty_warehouse(conn: psycopg.Connection) -> None:
    for schema in ("raw_users", "raw_withdrawals", "users", "withdrawals", "mesh_meta"):
        conn.execute(f"drop schema if exists {schema} cascade")


@pytest.fixture
def info(mesh_env: Settings) -> Credentials:
    """The warehouse set up as the platform does (logins, schemas, mesh_meta): the report reads through them."""
    return setup_warehouse(mesh_env)


def load_exports(logins: Credentials, inbox: Path) -> None:
    """Run the real loader on one withdrawals export with 2 good and 4 bad rows."""
    (inbox / "withdrawals").mkdir(parents=True)
    path = inbox / "withdrawals" / "withdrawals_2026-11-01.csv"
    path.write_text("\n".join([HEADER, *GOOD, *BAD]) + "\n", encoding="utf-8")
    (spec,) = inbound_sources(PROJECT_DIR / "contracts", "withdrawals")
    with connect(logins.domain("withdrawals"), autocommit=True) as conn:  # the loader runs as the domain
        (result,) = load_source(conn, spec, export_files(inbox, spec))
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (6, 2, 4)


def build_marts(conn: psycopg.Connection, settings: Settings) -> None:
    """The marts with known values, owned by the domains' roles as dbt's would be (the setup hands
    relations of the domains' schemas to them)."""
    conn.execute(MARTS)
    setup_warehouse(settings)


def section(page: str, section_id: str) -> str:
    match = re.search(rf'<section class="card" id="{section_id}">(.*?)</section>', page, re.S)
    assert match, f"section {section_id} missing"
    return match[1]


def text(fragment: str) -> str:
    """Visible text of an HTML fragment, one space between elements."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment.replace("<wbr>", ""))).strip()


def assert_self_contained(page: str) -> None:
    assert not re.search(r"""(?:src|href|xlink:href|action)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"https?://", page, re.I)
    for marker in ("<script", "<link", "<iframe", "@import", "url("):
        assert marker not in page.lower()


def test_report_shows_the_numbers_of_the_warehouse(
    conn: psycopg.Connection, mesh_env: Settings, info: Credentials, tmp_path: Path
) -> None:
    load_exports(info, tmp_path / "inbox")
    build_marts(conn, mesh_env)
    conn.execute(META)

    out = build_report(mesh_env, info, tmp_path / "out" / "report.html")
    page = out.read_text(encoding="utf-8")
    assert out.name == "report.html" and page.startswith("<!DOCTYPE html>")
    assert_self_contained(page)
    assert "Not built yet" not in page

    headline = text(section(page, "headline"))
    assert "Unique withdrawals 4 " in headline
    assert "Users 3 " in headline
    assert "Total toco volume 6,175 6,175.00 tocos" in headline  # 100 + 50 + 6000 + 25
    assert "Completed 50.0% 2 of 4 withdrawals" in headline
    assert "Flagged users 2 66.7% of 3 users who withdrew" in headline

    volumes = section(page, "withdrawals-volumes")
    assert "<svg" in volumes and "toco_amount" in volumes
    volumes_text = text(volumes)
    assert "EUR 2 115.00 125.00 " in volumes_text  # count, fiat total, toco total
    assert "MXN 1 102,000.00 6,000.00 " in volumes_text
    assert "&lt;b&gt;X" in volumes and "<b>X" not in page  # database text is escaped

    status = text(section(page, "withdrawals-status"))
    assert "completed 2 40.0%" in status and "failed 2 40.0%" in status

    risk = section(page, "withdrawals-risk")
    risk_text = text(risk)
    assert "3 users have withdrawals" in risk_text
    assert "Unverified KYC with completed withdrawals" in risk_text and "1 (33.3%)" in risk_text
    top = risk_text.split("Top 10 flagged users")[1]
    assert top.index("2 pending 2 1 6,050.00 6,000.00") < top.index("99 — (not in dim_users) 1 0 25.00")
    assert "unverified KYC large withdrawal" in top and "unknown user" in top

    quarantine = text(section(page, "quarantine"))
    assert "4 rows quarantined in total" in quarantine
    assert "withdrawals.withdrawals user_id: wrong_type 2 " in quarantine
    assert "withdrawals.withdrawals toco_amount: below_minimum 1 " in quarantine
    assert "withdrawals.withdrawals field_count 1 " in quarantine

    ledger = text(section(page, "ledger"))
    assert "withdrawals.withdrawals 1 6 2 4 66.7%" in ledger
    assert "users.users 0 0 0 0 — never" in ledger  # a source of the contracts without files yet

    expectations = text(section(page, "expectations"))
    assert "raw_withdrawals.withdrawals 1 of 2 met" in expectations
    assert "column_values_to_be_in_set fiat_currency fail 3" in expectations
    assert "an_old_suite_only" not in expectations  # only the latest validation counts

    dbt = text(section(page, "dbt"))
    assert "run_old" not in dbt
    assert "users run_new" in dbt and " 1 0 1 0 0 0 " in dbt.split("withdrawals run_new")[0]
    assert re.search(r"withdrawals run_new \S+ \S+ UTC 2 0 1 1 1 0", dbt)
    assert "test.withdrawals.assert_volumes_reconcile fail" in dbt


def test_summary_and_report_agree_on_what_is_latest(
    conn: psycopg.Connection, mesh_env: Settings, info: Credentials, tmp_path: Path
) -> None:
    load_exports(info, tmp_path / "inbox")
    build_marts(conn, mesh_env)
    conn.execute(META)
    # later, the withdrawals team rebuilds its domain alone (a plain `dbt build` records run "manual")
    conn.execute(
        """insert into mesh_meta.dbt_results (run_id, domain, unique_id, resource_type, status, execution_time) values
               ('manual', 'withdrawals', 'model.withdrawals.fct_withdrawals.v1', 'model', 'success', 1.0),
               ('manual', 'withdrawals', 'test.withdrawals.not_null_fct_withdrawals_user_id', 'test', 'pass', 0.1)"""
    )

    summary = build_summary(mesh_env, info)
    page = build_report(mesh_env, info, tmp_path / "report.html").read_text(encoding="utf-8")

    # dbt: each domain's own latest run, each node's last result in it
    assert re.search(r"users +run_new +1 +1 +0 +0\n", summary)
    assert re.search(r"withdrawals +manual +1 +1 +0 +0\n", summary)
    dbt = text(section(page, "dbt"))
    assert re.search(r"users run_new \S+ \S+ UTC 1 0 1 0 0 0", dbt)
    assert re.search(r"withdrawals manual \S+ \S+ UTC 1 0 1 0 0 0", dbt)
    # Great Expectations: the latest validation of each target; the expectation it no longer has is gone
    assert "Great Expectations: 1 of 2 expectations met" in summary
    assert "raw_withdrawals.withdrawals 1 of 2 met" in text(section(page, "expectations"))
    # the load ledger: 1 file, 6 rows read, 2 loaded, 4 quarantined (and 2 rows in the raw table)
    assert re.search(r"withdrawals\.withdrawals +1 +6 +2 +4 +2\n", summary)
    assert "withdrawals.withdrawals 1 6 2 4 66.7%" in text(section(page, "ledger"))
    # freshness: the age of each product's last successful build against its contract's SLA (2 d)
    conn.execute(
        "update mesh_meta.dbt_results set recorded_at = now() - interval '3 days' where unique_id = 'model.users.dim_users.v1'"
    )
    summary = build_summary(mesh_env, info)
    page = build_report(mesh_env, info, tmp_path / "report.html").read_text(encoding="utf-8")
    assert re.search(
        r"users\.dim_users: last built successfully \S+, 72(\.\d+)? h ago: STALE, freshness SLA breached", summary
    )
    assert re.search(r"withdrawals\.fct_withdrawals: last built successfully \S+, 0(\.\d+)? h ago: fresh", summary)
    freshness = text(section(page, "freshness"))
    assert re.search(r"users\.dim_users \S+ 72(\.\d+)? h 48 h stale", freshness)
    assert re.search(r"withdrawals\.fct_withdrawals \S+ 0(\.\d+)? h 48 h fresh", freshness)


def test_a_fresh_warehouse_gives_not_built_notes_instead_of_errors(
    mesh_env: Settings, info: Credentials, tmp_path: Path
) -> None:
    page = build_report(mesh_env, info, tmp_path / "report.html").read_text(encoding="utf-8")
    assert_self_contained(page)
    for section_id in ("withdrawals-volumes", "withdrawals-status", "withdrawals-risk"):
        assert "Not built yet" in section(page, section_id), section_id
    # set up, nothing loaded or built yet: the bookkeeping sections say so, none fails
    assert "No rows quarantined" in text(section(page, "quarantine"))
    assert "No Great Expectations validation has run yet" in section(page, "expectations")
    for section_id in ("ledger", "dbt"):
        assert "Could not read" not in section(page, section_id), section_id
    assert "withdrawals.fct_daily_withdrawal_volumes" in text(section(page, "withdrawals-volumes"))
    assert text(section(page, "headline")).count("not built yet") == 5


def test_loaded_but_not_built_shows_the_load_and_notes_the_marts(
    conn: psycopg.Connection, mesh_env: Settings, info: Credentials, tmp_path: Path
) -> None:
    load_exports(info, tmp_path / "inbox")
    page = build_report(mesh_env, info, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Not built yet" in section(page, "withdrawals-risk")
    assert "Not built yet" not in section(page, "quarantine")
    assert "4 rows quarantined in total" in text(section(page, "quarantine"))
    assert "No Great Expectations validation has run yet" in section(page, "expectations")
    assert "No dbt run has been recorded yet" in section(page, "dbt")
