"""`mesh contracts breaking` end to end, in a throwaway git repository holding a copy of the project:
main has dim_users as it was before v2; a branch releases v2 (allowed) or breaks v1 in place
(refused by the contract diff and by dbt's state:modified.contract, against the base revision and
against the published manifests)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from project_copy import (
    DIM_USERS_CONTRACT,
    DIM_USERS_YML,
    PROJECT_DIR,
    copy_project,
    dbt_version,
    edit_yaml,
    git,
    schema_object,
    to_v1_era,
    use_project,
)  # fmt: skip

from meshplatform.cli import main
from meshplatform.contracts.breaking import breaking
from meshplatform.dbt.state import parse_mesh

pytestmark = pytest.mark.dbt

V2_FILES = [DIM_USERS_CONTRACT, DIM_USERS_YML, Path("domains/users/models/marts/dim_users_v2.sql")]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: the v1 era, committed; branch release-v2: the project's files as they are now."""
    repo = copy_project(tmp_path_factory.mktemp("repo"))
    to_v1_era(repo)
    git(repo, "init", "--quiet", "--initial-branch", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "dim_users v1 era")
    git(repo, "checkout", "--quiet", "-b", "release-v2")
    for path in V2_FILES:
        shutil.copyfile(PROJECT_DIR / path, repo / path)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "dim_users v2, v1 deprecated")
    return repo


@pytest.fixture(scope="module")
def published(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with the manifests published from main (the v1 era)."""
    main_tree = tmp_path_factory.mktemp("main_tree")
    git(repo, "worktree", "add", "--quiet", str(main_tree / "tree"), "main")
    return parse_mesh(main_tree / "tree" / "domains", tmp_path_factory.mktemp("published")).registry_dir


def test_releasing_v2_passes_against_the_merge_base(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = breaking(use_project(monkeypatch, repo))
    assert report.ok, [str(f) for f in report.findings]
    assert "merge base of HEAD with main" in report.notes[0]
    text = "\n".join(report.passed)
    assert "users.dim_users: v2 breaks v1" in text and "contract 1.0.0 -> 2.0.0, v1 kept until 2027-03-31" in text
    assert (
        "users: dbt state:modified.contract vs base revision: no breaking change; contracts changed compatibly: model.users.dim_users.v2"
        in text
    )
    assert "withdrawals: dbt state:modified.contract vs base revision: no breaking change" in text


def test_breaking_v1_in_place_is_refused_by_contract_and_dbt(
    repo: Path, published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """v1 loses its country column (contract, YAML and SQL agree, so `check` would pass)."""
    work = tmp_path / "repo"
    shutil.copytree(repo, work)

    def contract(doc: dict) -> None:
        v1 = schema_object(doc, "dim_users_v1")
        v1["properties"] = [p for p in v1["properties"] if p["name"] != "country"]

    def dbt(doc: dict) -> None:
        v1 = dbt_version(doc, 1)
        v1["columns"] = [c for c in v1["columns"] if c.get("name") != "country"]

    edit_yaml(work / DIM_USERS_CONTRACT, contract)
    edit_yaml(work / DIM_USERS_YML, dbt)
    sql = work / "domains/users/models/marts/dim_users_v1.sql"
    sql.write_text(sql.read_text().replace("        country,\n", ""))
    use_project(monkeypatch, work, registry=published)

    assert main(["contracts", "breaking", "--base", "main"]) == 2
    out, err = capsys.readouterr()
    assert "base: main = " in out
    assert ("FAIL users.dim_users v1 column country [column]: column removed or renamed: v1 is published and must not "
            "break; publish the change as a new model version (major contract version) instead") in out  # fmt: skip
    for state in ("base revision", "published manifest"):
        header = (
            f"FAIL users [dbt state:modified.contract vs {state}]: Breaking change to contract Error in model dim_users"
        )
        assert header in out, out
    assert out.count("- Columns were removed:") == 2 and "- country" in out
    assert "withdrawals: dbt state:modified.contract vs published manifest: no breaking change" in out
    assert "contracts breaking: 3 problem(s)" in err and "hint: leave published versions as they are" in err


def test_an_unknown_base_is_a_clear_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_project(monkeypatch, repo)
    assert main(["contracts", "breaking", "--base", "no-such-branch"]) == 2
    assert "git revision 'no-such-branch' not found" in capsys.readouterr().err
