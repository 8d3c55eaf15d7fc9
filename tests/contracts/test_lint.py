"""`mesh contracts lint`: every contract validates against the ODCS JSON schema and the platform reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from project_copy import DIM_USERS_CONTRACT, PROJECT_DIR, copy_project, edit_yaml, prop, schema_object

from meshplatform.cli import main
from meshplatform.contracts.checks import lint


def test_the_project_contracts_are_valid_odcs() -> None:
    report = lint(PROJECT_DIR / "contracts")
    assert report.ok, [str(f) for f in report.findings]
    assert len(report.passed) == 4
    assert all("valid against ODCS v3.1.0" in line for line in report.passed)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: prop(d, "dim_users_v2", "user_id").update(required="yes"), "'yes' is not of type 'boolean'"),
        (lambda d: prop(d, "dim_users_v2", "updated_at").update(logicalType="datetime"), "'datetime' is not one of"),
        (lambda d: d.update(apiVersion="v3.0.2"), "'timestamp' is not one of"),  # timestamp is ODCS 3.1
        (lambda d: d.pop("id"), "'id' is a required property"),
    ],
    ids=["required-not-boolean", "unknown-logical-type", "older-standard", "no-id"],
)
def test_an_invalid_contract_fails_naming_the_file_and_the_error(tmp_path: Path, change: object, words: str) -> None:
    project = copy_project(tmp_path)
    edit_yaml(project / DIM_USERS_CONTRACT, change)  # type: ignore[arg-type]
    report = lint(project / "contracts")
    assert {(f.product, f.field) for f in report.findings} == {(str(DIM_USERS_CONTRACT), "odcs")}
    assert any(words in f.message for f in report.findings), [str(f) for f in report.findings]
    assert len(report.passed) == 3


def test_a_product_contract_the_platform_cannot_read_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Valid ODCS, but no dbtVersion: the platform cannot tie the schema object to a dbt model version."""
    project = copy_project(tmp_path)
    edit_yaml(project / DIM_USERS_CONTRACT, lambda d: schema_object(d, "dim_users_v2")["customProperties"].pop(1))
    (finding,) = lint(project / "contracts").findings
    assert (
        finding.field == "platform"
        and "product contract is incomplete" in finding.message
        and "dbtVersion" in finding.message
    )


def test_cli_exit_code_and_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = copy_project(tmp_path)
    monkeypatch.setenv("MESH_PROJECT_DIR", str(project))
    assert main(["contracts", "lint"]) == 0
    assert "contracts lint: 4 ok, passed" in capsys.readouterr().out
    edit_yaml(project / DIM_USERS_CONTRACT, lambda d: d.update(kind="Contract"))
    assert main(["contracts", "lint"]) == 2
    captured = capsys.readouterr()
    assert f"FAIL {DIM_USERS_CONTRACT}" in captured.out
    assert "contracts lint: 1 problem(s)" in captured.err and "hint:" in captured.err


def _drop_owner(document: dict) -> None:
    document["team"]["members"] = [m for m in document["team"]["members"] if m.get("role") != "owner"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_drop_owner, "no team member with role: owner"),
        (lambda d: d.pop("support"), "no support channel"),
        (
            lambda d: d.update(slaProperties=[s for s in d["slaProperties"] if s["property"] != "freshness"]),
            "freshness",
        ),
    ],
    ids=["no-owner", "no-support", "no-freshness-sla"],
)
def test_a_product_contract_without_owner_support_or_freshness_fails(
    tmp_path: Path, change: object, words: str
) -> None:
    project = copy_project(tmp_path)
    edit_yaml(project / DIM_USERS_CONTRACT, change)  # type: ignore[arg-type]
    report = lint(project / "contracts")
    assert [(f.product, f.field) for f in report.findings] == [(str(DIM_USERS_CONTRACT), "ownership")]
    assert words in report.findings[0].message
    assert len(report.passed) == 3
