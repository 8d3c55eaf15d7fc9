"""Inbound contracts: the loader builds DDL from them, so only safe targets and types pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from paths import PROJECT_DIR

from meshplatform.contracts.model import source_spec
from meshplatform.errors import MeshError

CONTRACT = PROJECT_DIR / "contracts" / "users" / "users_export.odcs.yaml"


@pytest.mark.parametrize(
    ("original", "replacement", "message"),
    [
        ("physicalName: raw_users.users", "physicalName: raw_withdrawals.users", "must be raw_users.<table>"),
        ("physicalName: raw_users.users", 'physicalName: "raw_users.users; drop table x"', "must be raw_users.<table>"),
        ("physicalType: date", "physicalType: date; drop table x", "cannot be loaded"),
    ],
    ids=["other-domain-schema", "injected-table-name", "injected-type"],
)
def test_unsafe_inbound_contract_is_refused(tmp_path: Path, original: str, replacement: str, message: str) -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    assert original in text
    copy = tmp_path / CONTRACT.name
    copy.write_text(text.replace(original, replacement, 1), encoding="utf-8")
    with pytest.raises(MeshError, match=message):
        source_spec(copy)


def test_the_real_contract_is_accepted() -> None:
    spec = source_spec(CONTRACT)
    assert (spec.qualified_table, spec.key, spec.trailing_empty_column) == ("raw_users.users", ("user_id",), True)
