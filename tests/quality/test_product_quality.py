"""Great Expectations suites of the published products, derived from the product contracts, run
on a real Postgres against tables shaped like the published relations."""

from __future__ import annotations

import psycopg
import pytest
from project_copy import PROJECT_DIR

from meshplatform.config import Settings
from meshplatform.contracts.model import ProductSpec, product_spec
from meshplatform.orchestration.steps import credentials
from meshplatform.quality.validation import product_expectations, validate_product
from meshplatform.warehouse.connection import ConnectionInfo

DIM_USERS = product_spec(PROJECT_DIR / "contracts/users/dim_users.odcs.yaml")
FCT_WITHDRAWALS = product_spec(PROJECT_DIR / "contracts/withdrawals/fct_withdrawals.odcs.yaml")


def kinds(expectations: list) -> set[tuple[str, str | None]]:
    return {(e.expectation_type, getattr(e, "column", None)) for e in expectations}


def test_suite_follows_the_contract() -> None:
    v2 = DIM_USERS.version_spec(2)
    assert v2 is not None
    suite = product_expectations(v2)
    assert suite[0].column_set == v2.column_names and suite[0].exact_match is True
    assert {
        ("expect_column_values_to_not_be_null", "user_id"),
        ("expect_column_values_to_be_unique", "user_id"),
        ("expect_column_values_to_match_regex", "country_code"),
        ("expect_column_values_to_be_in_set", "kyc_status"),
        ("expect_column_values_to_be_in_set", "account_type"),
    } <= kinds(suite)
    fct = kinds(product_expectations(FCT_WITHDRAWALS.latest))
    assert ("expect_column_values_to_be_between", "toco_amount") in fct
    assert ("expect_column_values_to_not_be_null", "completed_at") not in fct  # optional in the contract


def _create(conn: psycopg.Connection, product: ProductSpec) -> None:
    for version in product.versions:
        columns = ", ".join(f"{c.name} {c.physical_type}" for c in version.columns)
        conn.execute(f"create table {version.qualified_table} ({columns})")


def readers(settings: Settings) -> tuple[ConnectionInfo, ConnectionInfo]:
    """What validate_products reads and records with: the domain's observer, the bookkeeper."""
    logins = credentials(settings)
    return logins.observer("users"), logins.bookkeeper()


@pytest.fixture(scope="module")
def published(mesh_env: Settings) -> Settings:
    from meshplatform.orchestration.steps import setup_warehouse
    from meshplatform.warehouse.connection import connect

    with connect(setup_warehouse(mesh_env).domain("users"), autocommit=True) as conn:  # as the domain's dbt would
        _create(conn, DIM_USERS)
        conn.execute("""insert into users.dim_users values
            (1, '2026-01-01', 'MX', 'verified', 'personal', true, '2026-11-01'),
            (2, '2026-01-02', 'BR', 'pending', 'business', false, '2026-11-01')""")
        conn.execute("""insert into users.dim_users_v2 values
            (1, '2026-01-01', 'MX', 'verified', 'personal', '2026-11-01'),
            (2, '2026-01-02', 'BR', 'pending', 'business', '2026-11-01')""")
    return mesh_env


def test_published_versions_meet_their_contract(published: Settings, conn: psycopg.Connection) -> None:
    reports = validate_product(readers(published)[0], DIM_USERS, readers(published)[1])
    assert [r.target for r in reports] == ["users.dim_users_v2", "users.dim_users"]
    assert all(r.success for r in reports), [o.describe() for r in reports for o in r.failed]
    recorded = conn.execute(
        "select count(*) from mesh_meta.quality_results where target like 'users.dim_users%'"
    ).fetchone()
    assert recorded == (sum(len(r.outcomes) for r in reports),)


def test_a_version_breaking_its_contract_fails_naming_column_and_rows(
    published: Settings, conn: psycopg.Connection
) -> None:
    conn.execute("insert into users.dim_users_v2 values (2, '2026-01-03', 'mex', 'blocked', 'personal', '2026-11-02')")
    v2, v1 = validate_product(readers(published)[0], DIM_USERS, readers(published)[1])
    assert v1.success
    failed = {o.describe() for o in v2.failed}
    assert "expect_column_values_to_be_unique on column user_id: 2 of 3 rows unexpected (e.g. 2, 2)" in failed
    assert "expect_column_values_to_be_in_set on column kyc_status: 1 of 3 rows unexpected (e.g. 'blocked')" in failed
    assert "expect_column_values_to_match_regex on column country_code: 1 of 3 rows unexpected (e.g. 'mex')" in failed
