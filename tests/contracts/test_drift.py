"""`mesh contracts check`: the dbt YAML of the public models (as dbt parses it) must say what the
product contracts say. Changed copies of a contract or of a model fail, naming product, version,
column and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from project_copy import (
    DIM_USERS_CONTRACT,
    DIM_USERS_YML,
    FCT_WITHDRAWALS_CONTRACT,
    FCT_WITHDRAWALS_YML,
    PROJECT_DIR,
    copy_project,
    dbt_column,
    dbt_model,
    dbt_version,
    edit_yaml,
    prop,
    schema_object,
)  # fmt: skip

from meshplatform.cli import main
from meshplatform.contracts.checks import drift
from meshplatform.contracts.model import products
from meshplatform.dbt.state import parse_mesh

pytestmark = pytest.mark.dbt


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The project's domains as dbt parses them (no database)."""
    mesh = parse_mesh(PROJECT_DIR / "domains", tmp_path_factory.mktemp("parse"))
    return {d.name: mesh.manifest(d.name) for d in mesh.domains}


def located(report: Any) -> set[tuple[str, int | None, str | None, str]]:
    return {(f.product, f.version, f.column, f.field) for f in report.findings}


def test_the_project_models_agree_with_their_contracts(manifests: dict[str, dict[str, Any]]) -> None:
    report = drift(products(PROJECT_DIR / "contracts"), manifests)
    assert report.ok, [str(f) for f in report.findings]
    assert report.passed == [
        "users.dim_users 2.0.0: dbt agrees (v2 users.dim_users_v2, v1 users.dim_users)",
        "withdrawals.fct_withdrawals 1.0.0: dbt agrees (v1 withdrawals.fct_withdrawals)",
    ]


DIM = "users.dim_users"
FCT = "withdrawals.fct_withdrawals"


@pytest.mark.parametrize(
    ("contract", "change", "expected", "words"),
    [
        (DIM_USERS_CONTRACT, lambda d: prop(d, "dim_users_v2", "country_code").update(physicalType="varchar"),
         (DIM, 2, "country_code", "data_type"), "contract physicalType is varchar, dbt data_type is text"),
        (DIM_USERS_CONTRACT, lambda d: prop(d, "dim_users_v2", "account_type").update(logicalType="integer"),
         (DIM, 2, "account_type", "logicalType"), "contract logicalType is integer, text is string"),
        (DIM_USERS_CONTRACT, lambda d: prop(d, "dim_users_v1", "signup_date").update(required=False),
         (DIM, 1, "signup_date", "required"), "contract says optional, dbt has not_null constraint"),
        (DIM_USERS_CONTRACT, lambda d: prop(d, "dim_users_v2", "kyc_status")["quality"][0]["arguments"]["validValues"].append("blocked"),
         (DIM, 2, "kyc_status", "validValues"), "'blocked'"),
        (DIM_USERS_CONTRACT, lambda d: schema_object(d, "dim_users_v2")["properties"].append(
            {"name": "segment", "logicalType": "string", "physicalType": "text", "required": False}),
         (DIM, 2, "segment", "columns"), "in the contract, missing from the dbt model"),
        (DIM_USERS_CONTRACT, lambda d: schema_object(d, "dim_users_v1")["customProperties"][2].update(value="2027-06-30"),
         (DIM, 1, None, "deprecationDate"), "contract says 2027-06-30, dbt deprecation_date is 2027-03-31"),
        (DIM_USERS_CONTRACT, lambda d: d.update(version="3.0.0"),
         (DIM, 2, None, "latest_version"), "contract version 3.0.0 means latest_version 3, dbt has latest_version 2"),
        (DIM_USERS_CONTRACT, lambda d: schema_object(d, "dim_users_v2").update(physicalName="users.dim_users"),
         (DIM, 2, None, "physicalName"), "contract says users.dim_users, dbt builds users.dim_users_v2"),
        (DIM_USERS_CONTRACT, lambda d: d["schema"].pop(),
         (DIM, 1, None, "contract"), "public dbt model model.users.dim_users.v1 has no product contract"),
        (FCT_WITHDRAWALS_CONTRACT, lambda d: prop(d, "fct_withdrawals_v1", "transaction_id").update(primaryKey=False),
         (FCT, 1, "transaction_id", "primaryKey"), "dbt has primary_key constraint on it"),
        (FCT_WITHDRAWALS_CONTRACT, lambda d: prop(d, "fct_withdrawals_v1", "toco_amount").pop("logicalTypeOptions"),
         (FCT, 1, "toco_amount", "exclusiveMinimum"), "dbt has positive_value test"),
    ],
    ids=["type", "logical-type", "required", "valid-values", "extra-column", "deprecation-date", "major-vs-latest",
         "relation", "version-without-contract", "primary-key", "lower-bound"],
)  # fmt: skip
def test_a_changed_contract_disagrees_with_dbt(
    tmp_path: Path,
    manifests: dict[str, dict[str, Any]],
    contract: Path,
    change: Any,
    expected: tuple[Any, ...],
    words: str,
) -> None:
    project = copy_project(tmp_path)
    edit_yaml(project / contract, change)
    report = drift(products(project / "contracts"), manifests)
    assert expected in located(report), [str(f) for f in report.findings]
    message = next(str(f) for f in report.findings if (f.product, f.version, f.column, f.field) == expected)
    assert words in message


def test_a_public_model_made_protected_disagrees(manifests: dict[str, dict[str, Any]]) -> None:
    """(Through the manifest: a downstream domain that reads it would not even parse.)"""
    changed = copy.deepcopy(manifests)
    changed["users"]["nodes"]["model.users.dim_users.v2"]["access"] = "protected"
    report = drift(products(PROJECT_DIR / "contracts"), changed)
    assert located(report) == {(DIM, 2, None, "access")}
    assert "dbt model dim_users v2 has access protected, a data product is public" in str(report.findings[0])


def _drift_the_models(project: Path) -> None:
    def dim_users(doc: dict[str, Any]) -> None:
        v2_columns = dbt_model(doc)["columns"]
        dbt_column(v2_columns, "account_type")["constraints"] = []  # not_null dropped
        dbt_column(v2_columns, "kyc_status")["data_tests"][1]["accepted_values"]["arguments"]["values"].remove(
            "unverified"
        )
        dbt_version(doc, 1).pop("deprecation_date")

    def fct_withdrawals(doc: dict[str, Any]) -> None:
        model = dbt_model(doc)
        dbt_column(model["columns"], "toco_amount")["data_type"] = "numeric(18,4)"
        model["config"]["contract"]["enforced"] = False

    edit_yaml(project / DIM_USERS_YML, dim_users)
    edit_yaml(project / FCT_WITHDRAWALS_YML, fct_withdrawals)
    staging = project / "domains/withdrawals/models/staging/stg_users__dim_users.sql"
    staging.write_text(staging.read_text().replace("ref('users', 'dim_users', v=1)", "ref('users', 'dim_users')"))


def test_changed_models_fail_the_check_naming_product_version_column_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = copy_project(tmp_path)
    _drift_the_models(project)
    monkeypatch.setenv("MESH_PROJECT_DIR", str(project))
    monkeypatch.setenv("MESH_HOME", str(project / ".mesh"))
    assert main(["contracts", "check"]) == 2
    out, err = capsys.readouterr()
    for line in [
        "FAIL users.dim_users v2 column account_type [required]: contract says required, dbt has no not_null constraint",
        "FAIL users.dim_users v2 column kyc_status [validValues]: contract allows ['pending', 'rejected', 'unverified', "
        "'verified'], dbt accepted_values test allows ['pending', 'rejected', 'verified']",
        "FAIL users.dim_users v1 [deprecationDate]: contract says 2027-03-31, dbt deprecation_date is none",
        "FAIL withdrawals.fct_withdrawals v1 column toco_amount [data_type]: contract physicalType is numeric(18,2), "
        "dbt data_type is numeric(18,4)",
        "FAIL withdrawals.fct_withdrawals v1 [contract.enforced]: dbt model fct_withdrawals v1 does not enforce its contract",
        "FAIL users.dim_users [ref]: model.withdrawals.stg_users__dim_users refs it without a version: pin it",
    ]:
        assert line in out, out
    assert "contracts check: 6 problem(s)" in err
    assert "hint: make the dbt YAML of the model (or the dbt source tests of the raw table) say what" in err


def test_the_check_runs_on_the_real_project(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", "check"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "ok   users.dim_users 2.0.0: dbt agrees" in out and "contracts check: 4 ok, passed" in out
