"""`mesh contracts check`, inbound side: the dbt source tests of each raw table must test exactly
what its inbound contract says (required, unique, valid values, lower bound). A changed copy of a
contract or of a source YAML fails with a FAIL line naming the export, the column and the rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from project_copy import PROJECT_DIR, copy_project, edit_yaml, use_project

from meshplatform.cli import main
from meshplatform.contracts.model import inbound_sources, source_spec
from meshplatform.contracts.sources import source_drift
from meshplatform.dbt.state import parse_mesh

pytestmark = pytest.mark.dbt

WITHDRAWALS_EXPORT = Path("contracts/withdrawals/withdrawals_export.odcs.yaml")
USERS_EXPORT = Path("contracts/users/users_export.odcs.yaml")
WITHDRAWALS_SOURCES = Path("domains/withdrawals/models/staging/_withdrawals__sources.yml")


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The project's domains as dbt parses them (no database)."""
    mesh = parse_mesh(PROJECT_DIR / "domains", tmp_path_factory.mktemp("parse"))
    return {d.name: mesh.manifest(d.name) for d in mesh.domains}


def contract_column(document: dict[str, Any], column: str) -> dict[str, Any]:
    (obj,) = document["schema"]
    return next(p for p in obj["properties"] if p["name"] == column)


def source_column(document: dict[str, Any], column: str) -> dict[str, Any]:
    (source,) = document["sources"]
    (table,) = source["tables"]
    return next(c for c in table["columns"] if c["name"] == column)


def test_the_project_sources_agree_with_their_inbound_contracts(manifests: dict[str, dict[str, Any]]) -> None:
    passed, findings = source_drift(inbound_sources(PROJECT_DIR / "contracts"), manifests)
    assert findings == []
    assert passed == [
        "users.users_export 1.0.0: dbt source tests of raw_users.users agree",
        "withdrawals.withdrawals_export 1.0.0: dbt source tests of raw_withdrawals.withdrawals agree",
    ]


def _loosen_fiat_amount(doc: dict[str, Any]) -> None:
    contract_column(doc, "fiat_amount")["logicalTypeOptions"] = {"minimum": 0}


def _drop_a_status(doc: dict[str, Any]) -> None:
    contract_column(doc, "status")["quality"][0]["arguments"]["validValues"].remove("cancelled")


def _no_bound_on_rate(doc: dict[str, Any]) -> None:
    del contract_column(doc, "exchange_rate")["logicalTypeOptions"]


def _country_optional(doc: dict[str, Any]) -> None:
    contract_column(doc, "country")["required"] = False


def _signup_date_unique(doc: dict[str, Any]) -> None:
    contract_column(doc, "signup_date")["unique"] = True


@pytest.mark.parametrize(
    ("contract", "change", "expected"),
    [
        (WITHDRAWALS_EXPORT, _loosen_fiat_amount, ("withdrawals.withdrawals_export", "fiat_amount", "minimum")),
        (WITHDRAWALS_EXPORT, _drop_a_status, ("withdrawals.withdrawals_export", "status", "validValues")),
        (
            WITHDRAWALS_EXPORT,
            _no_bound_on_rate,
            ("withdrawals.withdrawals_export", "exchange_rate", "exclusiveMinimum"),
        ),
        (USERS_EXPORT, _country_optional, ("users.users_export", "country", "required")),
        (USERS_EXPORT, _signup_date_unique, ("users.users_export", "signup_date", "unique")),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_a_contract_rule_the_dbt_sources_do_not_test_is_one_finding(
    manifests: dict[str, dict[str, Any]], tmp_path: Path, contract: Path, change: Any, expected: tuple[str, ...]
) -> None:
    project = copy_project(tmp_path)
    edit_yaml(project / contract, change)
    passed, findings = source_drift([source_spec(project / contract)], manifests)
    assert [(f.product, f.column, f.field) for f in findings] == [expected]
    assert passed == []


def test_check_fails_on_drift_in_either_file_with_clear_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The case this check was written for: `minimum: 0` in the contract, positive_value in dbt; and
    a dbt source that stops testing a required column."""
    project = copy_project(tmp_path)
    edit_yaml(project / WITHDRAWALS_EXPORT, _loosen_fiat_amount)
    edit_yaml(project / WITHDRAWALS_SOURCES, lambda doc: source_column(doc, "user_id").pop("data_tests"))
    use_project(monkeypatch, project)

    assert main(["contracts", "check"]) == 2
    out, err = capsys.readouterr()
    where = (
        "in the dbt source raw_withdrawals.withdrawals (domains/withdrawals/models/staging/_withdrawals__sources.yml)"
    )
    for line in [
        "FAIL withdrawals.withdrawals_export column fiat_amount [minimum]: contract says >= 0, dbt tests > 0 "
        f"(mesh_conventions.positive_value); the only lower bound a dbt source test expresses is > 0, {where}",
        "FAIL withdrawals.withdrawals_export column user_id [required]: contract says required, "
        f"dbt has no not_null test, {where}",
        "ok   users.users_export 1.0.0: dbt source tests of raw_users.users agree",
    ]:
        assert line in out, out
    assert "contracts check: 3 ok, 2 problem(s)" in out
    assert "error: contracts check: 2 problem(s)" in err


def test_a_raw_table_without_a_dbt_source_is_a_finding(manifests: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    edit_yaml(project / USERS_EXPORT, lambda doc: doc["schema"][0].update(physicalName="raw_users.accounts"))
    _, findings = source_drift([source_spec(project / USERS_EXPORT)], manifests)
    assert [(f.product, f.field) for f in findings] == [("users.users_export", "source")]
    assert "declares no dbt source for raw_users.accounts" in findings[0].message
