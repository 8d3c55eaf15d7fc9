"""Breaking changes seen in the contracts: a copy of a product contract at a "base" and changed
copies of it; only a new model version with a major bump and a deprecated old version may break."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from project_copy import (
    DIM_USERS_CONTRACT,
    FCT_WITHDRAWALS_CONTRACT,
    PROJECT_DIR,
    copy_project,
    edit_yaml,
    prop,
    schema_object,
    to_v1_era,
)  # fmt: skip

from meshplatform.contracts.breaking import contract_changes
from meshplatform.contracts.model import ProductSpec, product_spec

pytestmark = pytest.mark.dbt


@pytest.fixture(scope="module")
def v1_era(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dim_users contract as it was before v2: 1.0.0, v1 only."""
    project = copy_project(tmp_path_factory.mktemp("v1_era"))
    to_v1_era(project)
    return project / DIM_USERS_CONTRACT


def changed(source: Path, tmp_path: Path, change: Callable[[dict[str, Any]], object]) -> ProductSpec:
    target = tmp_path / source.name
    target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    edit_yaml(target, change)
    return product_spec(target)


def fields(findings: list[Any]) -> set[tuple[int | None, str | None, str]]:
    return {(f.version, f.column, f.field) for f in findings}


def test_v2_with_major_bump_and_deprecated_v1_passes(v1_era: Path) -> None:
    findings, passed = contract_changes(product_spec(v1_era), product_spec(PROJECT_DIR / DIM_USERS_CONTRACT))
    assert findings == []
    (line,) = passed
    assert "v2 breaks v1" in line and "country" in line and "is_kyc_verified" in line
    assert "1.0.0 -> 2.0.0" in line and "v1 kept until 2027-03-31" in line


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(version="1.1.0"), (2, None, "version")),
        (lambda d: schema_object(d, "dim_users_v1")["customProperties"].pop(), (1, None, "deprecationDate")),
        (lambda d: d["schema"].pop(), (1, None, "versions")),
    ],
    ids=["no-major-bump", "v1-not-deprecated", "v1-dropped"],
)
def test_v2_without_the_release_rules_is_refused(v1_era: Path, tmp_path: Path, change: Any, expected: Any) -> None:
    head = changed(PROJECT_DIR / DIM_USERS_CONTRACT, tmp_path, change)
    findings, _ = contract_changes(product_spec(v1_era), head)
    assert expected in fields(findings), [str(f) for f in findings]
    assert all(f.product == "users.dim_users" for f in findings)


@pytest.mark.parametrize(
    ("change", "column", "field", "words"),
    [
        (lambda d: schema_object(d, "dim_users_v1")["properties"].pop(2), "country", "column", "column removed or renamed"),
        (lambda d: prop(d, "dim_users_v1", "country").update(name="country_code"), "country", "column", "removed or renamed"),
        (lambda d: prop(d, "dim_users_v1", "user_id").update(physicalType="integer"), "user_id", "physicalType", "from bigint to integer"),
        (lambda d: prop(d, "dim_users_v1", "signup_date").update(required=False), "signup_date", "required", "from True to False"),
        (lambda d: prop(d, "dim_users_v1", "user_id").pop("primaryKey"), "user_id", "primaryKey", "removed"),
        (lambda d: prop(d, "dim_users_v1", "user_id").pop("unique"), "user_id", "unique", "removed"),
        (
            lambda d: prop(d, "dim_users_v1", "kyc_status")["quality"][0]["arguments"]["validValues"].append("blocked"),
            "kyc_status", "quality.[0].arguments.validValues.blocked", "added",
        ),
        (lambda d: prop(d, "dim_users_v1", "country").pop("logicalTypeOptions"), "country", "logicalTypeOptions.pattern", "removed"),
    ],
    ids=["column-removed", "column-renamed", "type-changed", "required-to-optional", "key-dropped", "unique-dropped",
         "valid-values-widened", "pattern-dropped"],
)  # fmt: skip
def test_breaking_change_to_a_published_version_is_refused(
    v1_era: Path, tmp_path: Path, change: Any, column: str, field: str, words: str
) -> None:
    """Even with a major bump: a published version never changes incompatibly in place."""
    head = changed(v1_era, tmp_path, lambda d: (change(d), d.update(version="2.0.0")))
    findings, passed = contract_changes(product_spec(v1_era), head)
    assert passed == []
    match = [f for f in findings if (f.version, f.column, f.field) == (1, column, field)]
    assert match, [str(f) for f in findings]
    assert words in match[0].message
    assert "v1 is published and must not break; publish the change as a new model version" in str(match[0])
    assert str(match[0]).startswith(f"users.dim_users v1 column {column} [{field}]:")


def test_fct_withdrawals_precision_change_is_refused(tmp_path: Path) -> None:
    """numeric(18,2) -> numeric(18,4): dbt itself ignores precision, the contract check does not."""
    base = product_spec(PROJECT_DIR / FCT_WITHDRAWALS_CONTRACT)
    head = changed(PROJECT_DIR / FCT_WITHDRAWALS_CONTRACT, tmp_path,
                   lambda d: prop(d, "fct_withdrawals_v1", "toco_amount").update(physicalType="numeric(18,4)"))  # fmt: skip
    findings, _ = contract_changes(base, head)
    assert fields(findings) == {(1, "toco_amount", "physicalType")}
    assert (
        "withdrawals.fct_withdrawals v1 column toco_amount [physicalType]: changed from numeric(18,2) to numeric(18,4)"
        in str(findings[0])
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda d: (schema_object(d, "dim_users_v1")["properties"].append(
            {"name": "segment", "logicalType": "string", "physicalType": "text", "required": False}), d.update(version="1.1.0")),
        lambda d: prop(d, "dim_users_v1", "country").update(description="Two-letter country code."),
        lambda d: prop(d, "dim_users_v1", "signup_date").update(unique=False),
    ],
    ids=["optional-column-added", "description-changed", "explicit-not-unique"],
)  # fmt: skip
def test_additive_changes_pass(v1_era: Path, tmp_path: Path, change: Any) -> None:
    findings, passed = contract_changes(product_spec(v1_era), changed(v1_era, tmp_path, change))
    assert findings == [], [str(f) for f in findings]
    assert passed


def test_a_version_may_go_after_its_deprecation_date(tmp_path: Path) -> None:
    base = product_spec(PROJECT_DIR / DIM_USERS_CONTRACT)
    head = changed(PROJECT_DIR / DIM_USERS_CONTRACT, tmp_path, lambda d: (d["schema"].pop(), d.update(version="3.0.0")))
    before, _ = contract_changes(base, head, today=date(2027, 3, 1))
    after, _ = contract_changes(base, head, today=date(2027, 4, 1))
    assert fields(before) == {(1, None, "versions")}
    assert "v1 was removed before its deprecation date 2027-03-31" in before[0].message
    assert after == []
