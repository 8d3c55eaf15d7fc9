"""A third domain, added the way README's "Add a domain" says, builds with no change under
platform/ or dags/: loaded, validated, checked against its contracts, published, rendered in the
mesh_build DAG and in its own DAG, and built by dbt.

It runs on a copy of the project: the scaffold (profiles.yml, dbt_project.yml, packages.yml and its
lock, the group) is copied from the users domain and renamed; the rest (one inbound contract, one
export file, a staging model, one public model and its product contract) is written here.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import PROJECT_DIR
from project_copy import copy_project

from meshplatform.cli import main
from meshplatform.config import Settings
from meshplatform.dbt.registry import run_dbt, runtime_env
from meshplatform.domains import discover, get
from meshplatform.orchestration import steps
from meshplatform.orchestration.runner import airflow_env
from meshplatform.warehouse.connection import connect

pytestmark = pytest.mark.dbt

NAME = "rewards"
# copied from the users domain and renamed (README "Add a domain", step 1)
SCAFFOLD = ("dbt_project.yml", "profiles.yml", "packages.yml", "package-lock.yml", "models/_groups.yml")

INBOUND_CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: urn:mesh:rewards:rewards-export
name: rewards_export
version: 1.0.0
status: active
domain: rewards
dataProduct: rewards_export
tags: [inbound]
schema:
  - name: rewards
    physicalName: raw_rewards.rewards
    physicalType: table
    customProperties:
      - property: filePattern
        value: rewards_*.csv
      - property: versionColumn
        value: updated_at
    properties:
      - {name: reward_id, logicalType: string, physicalType: text, required: true, primaryKey: true,
         primaryKeyPosition: 1, unique: true}
      - {name: user_id, logicalType: integer, physicalType: bigint, required: true}
      - name: reward_type
        logicalType: string
        physicalType: text
        required: true
        quality:
          - {type: library, metric: invalidValues, arguments: {validValues: [signup, referral]}, mustBe: 0}
      - {name: toco_amount, logicalType: number, physicalType: "numeric(18,2)", required: true,
         logicalTypeOptions: {exclusiveMinimum: 0}}
      - {name: updated_at, logicalType: timestamp, physicalType: timestamptz, required: true}
"""

PRODUCT_CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: urn:mesh:rewards:fct-rewards
name: fct_rewards
version: 1.0.0
status: active
domain: rewards
dataProduct: fct_rewards
tags: [product]
schema:
  - name: fct_rewards_v1
    physicalName: rewards.fct_rewards
    physicalType: table
    customProperties:
      - {property: dbtModel, value: fct_rewards}
      - {property: dbtVersion, value: 1}
    properties:
      - {name: reward_id, logicalType: string, physicalType: text, required: true, primaryKey: true,
         primaryKeyPosition: 1, unique: true}
      - {name: user_id, logicalType: integer, physicalType: bigint, required: true}
      - name: reward_type
        logicalType: string
        physicalType: text
        required: true
        quality:
          - {type: library, metric: invalidValues, arguments: {validValues: [signup, referral]}, mustBe: 0}
      - {name: toco_amount, logicalType: number, physicalType: "numeric(18,2)", required: true,
         logicalTypeOptions: {exclusiveMinimum: 0}}
"""

SOURCES_YML = """\
version: 2
sources:
  - name: raw_rewards
    schema: raw_rewards
    tables:
      - name: rewards
        columns:
          - {name: reward_id, data_tests: [unique, not_null]}
          - {name: user_id, data_tests: [not_null]}
          - name: reward_type
            data_tests: [not_null, {accepted_values: {arguments: {values: [signup, referral]}}}]
          - {name: toco_amount, data_tests: [not_null, mesh_conventions.positive_value]}
          - {name: updated_at, data_tests: [not_null]}
"""

STG_SQL = """\
with

source as (

    select * from {{ source('raw_rewards', 'rewards') }}

),

renamed as (

    select
        reward_id::text as reward_id,
        user_id::bigint as user_id,
        reward_type::text as reward_type,
        toco_amount::numeric(18, 2) as toco_amount

    from source

)

select * from renamed
"""

FCT_SQL = """\
select
    reward_id,
    user_id,
    reward_type,
    toco_amount

from {{ ref('stg_rewards') }}
"""

FCT_YML = """\
version: 2
models:
  - name: fct_rewards
    latest_version: 1
    config: {access: public, contract: {enforced: true}}
    constraints: [{type: primary_key, columns: [reward_id]}]
    columns:
      - {name: reward_id, data_type: text, constraints: [{type: not_null}], data_tests: [unique]}
      - {name: user_id, data_type: bigint, constraints: [{type: not_null}]}
      - name: reward_type
        data_type: text
        constraints: [{type: not_null}]
        data_tests: [{accepted_values: {arguments: {values: [signup, referral]}}}]
      - name: toco_amount
        data_type: numeric(18,2)
        constraints: [{type: not_null}]
        data_tests: [mesh_conventions.positive_value]
    versions:
      - v: 1
        config: {alias: fct_rewards}  # the relation the contract names (dbt's default: fct_rewards_v1)
"""

EXPORT = """\
reward_id,user_id,reward_type,toco_amount,updated_at
rw_1,1,signup,10.00,2026-11-01T08:00:00Z
rw_2,2,referral,2.50,2026-11-01T09:00:00Z
rw_3,2,referral,0.00,2026-11-01T10:00:00Z
rw_1,1,signup,12.00,2026-11-02T08:00:00Z
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def add_domain(project: Path) -> None:
    """README "Add a domain", steps 1 to 3, for a domain named rewards."""
    template, domain = project / "domains" / "users", project / "domains" / NAME
    for name in SCAFFOLD:
        text = (template / name).read_text(encoding="utf-8")
        renamed = text.replace("users", NAME).replace("Users", NAME.capitalize()).replace("USERS", NAME.upper())
        _write(domain / name, renamed)
    _write(domain / "models/staging/_rewards__sources.yml", SOURCES_YML)
    _write(domain / "models/staging/stg_rewards.sql", STG_SQL)
    _write(domain / "models/marts/fct_rewards.yml", FCT_YML)
    _write(domain / "models/marts/fct_rewards_v1.sql", FCT_SQL)
    _write(project / "contracts" / NAME / "rewards_export.odcs.yaml", INBOUND_CONTRACT)
    _write(project / "contracts" / NAME / "fct_rewards.odcs.yaml", PRODUCT_CONTRACT)


@pytest.fixture(scope="module")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A copy of the project (with dags/) plus the rewards domain, on the module's database."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    shutil.copytree(PROJECT_DIR / "dags", project / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    add_domain(project)
    patch = pytest.MonkeyPatch()
    patch.setenv("MESH_PROJECT_DIR", str(project))
    patch.setenv("MESH_HOME", str(project / ".mesh"))
    patch.setenv("MESH_DATABASE_URL", database_url)
    patch.delenv("MESH_REGISTRY_DIR", raising=False)
    patch.delenv("MESH_EXPORTS_DIR", raising=False)
    settings = Settings.from_env()
    _write(settings.exports_dir / NAME / "rewards_2026-11-01.csv", EXPORT)
    yield settings
    patch.undo()


def _files(root: Path) -> dict[Path, bytes]:
    return {
        p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_platform_and_dags_are_those_of_the_repository(settings: Settings) -> None:
    """The new domain lives in domains/rewards and contracts/rewards: dags/ and the shared dbt package
    are the repository's, byte for byte (and the platform package is the one under test)."""
    for folder in ("dags", "platform/dbt"):
        assert _files(settings.project_dir / folder) == _files(PROJECT_DIR / folder), folder
    assert {d.name for d in discover(settings.domains_dir)} == {"users", NAME, "withdrawals"}


def test_contracts_check_covers_the_new_domain(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["contracts", "check"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ok   rewards.fct_rewards 1.0.0: dbt agrees (v1 rewards.fct_rewards)" in out
    assert "ok   rewards.rewards_export 1.0.0: dbt source tests of raw_rewards.rewards agree" in out


def test_load_validate_publish_render_and_build(settings: Settings) -> None:
    results = steps.load_domain(NAME, settings, progress=None)
    assert [(r.rows_read, r.rows_loaded, r.rows_quarantined) for r in results] == [(4, 3, 1)]  # 0.00 is not > 0
    assert [len(r.failed) for r in steps.validate_domain(NAME, settings)] == [0]

    for domain in discover(settings.domains_dir):
        steps.publish_domain(domain.name, settings)
    bag = _dag_bag(settings)
    dag = bag.dags["mesh_build"]
    # its own DAG too, with the same steps: nothing was edited in dags/
    assert {"load", "validate", "dbt.fct_rewards_v1.run", "publish"} <= set(bag.dags[f"domain_{NAME}"].task_dict)
    # Cosmos: a model with tests is a group (run, test), one without a single task
    for task in ("load", "validate", "dbt.stg_rewards_run", "dbt.fct_rewards_v1.run", "validate_products", "publish"):
        assert f"{NAME}.{task}" in dag.task_dict, sorted(t for t in dag.task_dict if t.startswith(NAME))
    upstream = dag.get_task("rewards.publish").get_flat_relative_ids(upstream=True)
    assert {
        "rewards.load",
        "rewards.validate",
        "rewards.dbt.fct_rewards_v1.test",
        "rewards.validate_products",
    } <= upstream

    info = steps.warehouse(settings)
    login = steps.credentials(settings).domain(NAME)  # the new domain's own login, as its team runs dbt
    output = run_dbt(get(settings.domains_dir, NAME), ["build"], runtime_env(settings, login, NAME))
    assert "ERROR=0" in output and "WARN=0" in output, output[-2000:]
    assert [len(r.failed) for r in steps.validate_products(NAME, settings)] == [0]
    with connect(info, autocommit=True) as conn:
        rows = conn.execute("select reward_id, toco_amount::text from rewards.fct_rewards order by 1").fetchall()
        assert rows == [("rw_1", "12.00"), ("rw_2", "2.50")]  # the later version of rw_1 won
        # the grant post-hook of the shared package: readers of the domain may read its public model
        readers = f"{login.user}_readers"  # role names start with the warehouse database's name
        readable = "select has_table_privilege(%s, 'rewards.fct_rewards', 'select')"
        assert conn.execute(readable, (readers,)).fetchone() == (True,)


def _dag_bag(settings: Settings):
    from airflow.dag_processing.dagbag import DagBag

    patch = pytest.MonkeyPatch()
    patch.setenv("AIRFLOW__CORE__DAGS_FOLDER", airflow_env(settings)["AIRFLOW__CORE__DAGS_FOLDER"])
    try:
        bag = DagBag(dag_folder=str(settings.dags_dir))
    finally:
        patch.undo()
    assert bag.import_errors == {}
    return bag
