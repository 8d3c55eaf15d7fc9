"""Attacks from inside a domain team: every one is refused by Postgres (a permission error), and
reading the public product of a declared upstream still works.

The mesh is built for real (generated exports, the loader, published manifests, each domain's
`dbt build` with the environment `mesh env <domain>` prints for its team). Then the withdrawals
team turns hostile: dbt hooks and models, objects on its raw table that the next `mesh load`
meets, and views calling its own functions that the quality checks and the report read."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from project_copy import copy_project

from meshplatform import domains
from meshplatform.config import Settings
from meshplatform.dbt.registry import run_dbt
from meshplatform.domains import Domain
from meshplatform.errors import MeshError
from meshplatform.orchestration import steps
from meshplatform.reporting.report import build_report
from meshplatform.sample_data.generator import generate
from meshplatform.warehouse.connection import ConnectionInfo

pytestmark = pytest.mark.dbt


def team_env(settings: Settings, domain: str) -> dict[str, str]:
    """What `mesh env <domain>` gives the domain's team, read from the real command."""
    result = subprocess.run(
        [sys.executable, "-m", "meshplatform.cli", "env", domain], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    pairs = [shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in result.stdout.splitlines()]
    return dict(pairs)


def team_login(env: dict[str, str], domain: str) -> ConnectionInfo:
    suffix = domain.upper()
    return ConnectionInfo(
        env["MESH_PG_HOST"], int(env["MESH_PG_PORT"]), env[f"MESH_PG_USER_{suffix}"],
        env[f"MESH_PG_PASSWORD_{suffix}"], env["MESH_PG_DATABASE"],
    )  # fmt: skip


@pytest.fixture(scope="module")
def mesh(mesh_env: Settings) -> Settings:
    generate(mesh_env.exports_dir, size=300, days=2, seed=7)
    for name in ("users", "withdrawals"):
        steps.publish_domain(name, mesh_env)
        steps.load_domain(name, mesh_env, progress=None)
        run_dbt(domains.get(mesh_env.domains_dir, name), ["build"], team_env(mesh_env, name))
    return mesh_env


@pytest.fixture(scope="module")
def env(mesh: Settings) -> dict[str, str]:
    return team_env(mesh, "withdrawals")


@pytest.fixture(scope="module")
def roles(env: dict[str, str], mesh: Settings) -> dict[str, str]:
    return {
        "withdrawals": env["MESH_PG_USER_WITHDRAWALS"],
        "users": team_env(mesh, "users")["MESH_PG_USER_USERS"],
        "admin": steps.warehouse(mesh).user,
    }


@pytest.fixture
def hostile(env: dict[str, str]) -> Iterator[psycopg.Connection]:
    """The withdrawals team's own session."""
    with psycopg.connect(team_login(env, "withdrawals").libpq_url, autocommit=True) as conn:
        yield conn


def granted(conn: psycopg.Connection, roles: dict[str, str]) -> bool:
    """Did an attack make withdrawals a member of the users role?"""
    query = "select pg_has_role(%s, %s, 'member')"
    return conn.execute(query, (roles["withdrawals"], roles["users"])).fetchone()[0]


# --- the domain's own session -----------------------------------------------------------------

SESSION_ATTACKS = {
    "reset role, read raw": "reset role; select * from raw_users.users limit 1",
    "set role to users": "set role {users}",
    "set role to the admin": "set role {admin}",
    "set session authorization": "set session authorization {admin}",
    "grant itself the users role": "grant {users} to {withdrawals}",
    "make itself superuser": "alter role {withdrawals} superuser",
    "create a role": "create role intruder",
    "create function in public": "create function public.intruder() returns int language sql as 'select 1'",
    "read mesh_meta quarantine": "select * from mesh_meta.quarantine",
    "read mesh_meta ledger": "select * from mesh_meta.load_ledger",
    "write mesh_meta": "insert into mesh_meta.quality_results (domain, target, expectation, success) values ('x', 'x', 'x', true)",
    "record a load of users": "select mesh_meta.record_load('users', 'users', 'f.csv', 'sha', 0, 0, 0, 0, 0)",
    "pg_read_file": "select pg_read_file('/etc/hostname')",
    "read raw of users": "select * from raw_users.users limit 1",
    "read staging of users": "select * from users_staging.stg_users limit 1",
    "create in users' schema": "create table users.intruder (id int)",
    "write users' product": "update users.dim_users set kyc_status = kyc_status",
}


@pytest.mark.parametrize("statement", SESSION_ATTACKS.values(), ids=SESSION_ATTACKS.keys())
def test_the_domains_own_session_is_refused(hostile: psycopg.Connection, roles: dict[str, str], statement: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        hostile.execute(statement.format(**roles))


def test_the_domain_reads_its_upstreams_public_product_and_is_no_stronger(
    hostile: psycopg.Connection, roles: dict[str, str]
) -> None:
    assert hostile.execute("select count(*) from users.dim_users").fetchone()[0] > 0
    attributes = hostile.execute(
        "select rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls from pg_roles where rolname = current_user"
    ).fetchone()
    assert attributes == (False,) * 5
    reachable = {
        name
        for (name,) in hostile.execute(
            "select rolname from pg_roles where pg_has_role(current_user, oid, 'member') and rolname <> current_user"
        ).fetchall()
    }
    assert reachable == {f"{roles['users']}_readers"}


# --- dbt: a hostile model in the team's project -------------------------------------------------

DBT_ATTACKS = {
    "reset role hook": ("reset role", "select * from raw_users.users"),
    "set role hook": ("set role {users}", "select 1 as x"),
    "set session authorization hook": ("set session authorization {admin}", "select 1 as x"),
    "create function in public": ("create function public.intruder() returns int language sql as $$ select 1 $$", "select 1 as x"),
    "read mesh_meta": (None, "select * from mesh_meta.quarantine"),
    "pg_read_file": (None, "select pg_read_file('/etc/hostname') as x"),
    "write another domain's schema": ("create table users.intruder (id int)", "select 1 as x"),
    "read another domain's raw": (None, "select * from raw_users.users"),
    "read another domain's staging": (None, "select * from users_staging.stg_users"),
}  # fmt: skip


@pytest.fixture(scope="module")
def project(mesh: Settings, tmp_path_factory: pytest.TempPathFactory) -> Domain:
    copy = copy_project(tmp_path_factory.mktemp("hostile"))
    return domains.get(copy / "domains", "withdrawals")


def model(project: Domain, sql: str, hook: str | None = None) -> None:
    config = f"{{{{ config(materialized='table', pre_hook=[{hook!r}]) }}}}\n" if hook else ""
    (project.path / "models" / "marts" / "attack.sql").write_text(config + sql + "\n", encoding="utf-8")


@pytest.mark.parametrize("attack", DBT_ATTACKS.values(), ids=DBT_ATTACKS.keys())
def test_a_hostile_dbt_model_is_refused(
    project: Domain, env: dict[str, str], roles: dict[str, str], attack: tuple[str | None, str]
) -> None:
    hook, sql = attack
    model(project, sql, hook and hook.format(**roles))
    with pytest.raises(MeshError, match="permission denied"):
        run_dbt(project, ["run", "-s", "attack"], env)


def test_a_model_reads_its_upstreams_public_product(project: Domain, env: dict[str, str]) -> None:
    model(project, "select count(*) as users from users.dim_users")
    run_dbt(project, ["run", "-s", "attack"], env)


def test_a_model_sees_no_admin_or_other_domain_secret(
    project: Domain, env: dict[str, str], hostile: psycopg.Connection
) -> None:
    """`env_var()` in a model: the platform's own dbt runs pass no admin URL or password, nor
    another domain's password (MESH_DATABASE_URL is set in this very process)."""
    assert os.environ.get("MESH_DATABASE_URL")
    names = ["MESH_DATABASE_URL", "MESH_PG_PASSWORD", "MESH_PG_PASSWORD_USERS", "PGPASSWORD"]
    model(project, "select " + ", ".join(f"'{{{{ env_var('{n}', 'absent') }}}}' as {n.lower()}" for n in names))
    run_dbt(project, ["run", "-s", "attack"], env)
    seen = hostile.execute("select * from withdrawals.attack").fetchone()
    assert seen == ("absent",) * len(names)


# --- the loader meets objects the domain put on its raw table ----------------------------------

PAYLOADS = {
    "grant the users role": "execute format('grant %I to %I', '{users}', '{withdrawals}')",
    "set role to users": "execute format('set role %I', '{users}')",
    "reset role, read mesh_meta": "reset role; perform count(*) from mesh_meta.quarantine",
    "pg_read_file": "perform pg_read_file('/etc/hostname')",
}
RETURNS = {"default": ("text", "'x'"), "trigger": ("trigger", "new"), "check": ("boolean", "true")}
VECTORS = {
    "default": "alter table raw_withdrawals.withdrawals add column attack text;"
    "alter table raw_withdrawals.withdrawals alter column attack set default raw_withdrawals.attack()",
    "trigger": "create trigger attack before insert or update on raw_withdrawals.withdrawals "
    "for each row execute function raw_withdrawals.attack()",
    "check": "alter table raw_withdrawals.withdrawals add constraint attack check (raw_withdrawals.attack()) not valid",
}
HEADER = "transaction_id,user_id,requested_at,completed_at,status,toco_amount,fiat_currency,fiat_amount,exchange_rate,updated_at,"


def attack_function(conn: psycopg.Connection, schema: str, kind: str, payload: str) -> None:
    returns, value = RETURNS.get(kind, ("boolean", "true"))
    conn.execute(
        f"create or replace function {schema}.attack() returns {returns} language plpgsql "
        f"as $$ begin {payload}; return {value}; end $$"
    )


@pytest.mark.parametrize("vector", VECTORS, ids=VECTORS.keys())
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_objects_on_the_raw_table_run_with_the_domains_rights_during_a_load(
    mesh: Settings, hostile: psycopg.Connection, roles: dict[str, str], vector: str, payload: str
) -> None:
    attack_function(hostile, "raw_withdrawals", vector, payload.format(**roles))
    hostile.execute(VECTORS[vector])
    export = mesh.exports_dir / "withdrawals" / "withdrawals_2099-01-01.csv"
    line = "wd_attack,7,2026-11-01T10:00:00Z,,requested,10.00,EUR,9.20,0.920000,2026-11-01T10:00:00Z,"
    export.write_text(f"{HEADER}\n{line}\n", encoding="utf-8")
    try:
        with pytest.raises(MeshError, match=r"SQLSTATE 42501") as refused:  # the loader names file and code
            steps.load_domain("withdrawals", mesh, progress=None)
        assert isinstance(refused.value.__cause__, psycopg.errors.InsufficientPrivilege)
        assert not granted(hostile, roles)
    finally:
        export.unlink()
        hostile.execute("alter table raw_withdrawals.withdrawals drop column if exists attack")
        hostile.execute("drop trigger if exists attack on raw_withdrawals.withdrawals")
        hostile.execute("alter table raw_withdrawals.withdrawals drop constraint if exists attack")
        hostile.execute("drop function raw_withdrawals.attack()")
    assert steps.load_domain("withdrawals", mesh, progress=None)  # the mesh loads again once they are gone


# --- views calling a domain's own function, read by checks and the report ----------------------

READER_PAYLOADS = {
    "pg_read_file": "perform pg_read_file('/etc/hostname')",
    "read mesh_meta": "perform count(*) from mesh_meta.quarantine",
    "read another domain's raw": "perform count(*) from raw_users.users",
    "grant the users role": "execute format('grant %I to %I', '{users}', '{withdrawals}')",
}


# Postgres's words for SQLSTATE 42501 (PostgreSQL 15 says "must have admin option" to a GRANT)
REFUSED = r"permission denied|must have admin option"


@contextmanager
def view_instead_of(conn: psycopg.Connection, schema: str, table: str, payload: str) -> Iterator[None]:
    """Replace ``schema.table`` by a view over it that calls the owner's function on every row."""
    attack_function(conn, schema, "view", payload)
    conn.execute(f"alter table {schema}.{table} rename to {table}_real")
    conn.execute(f"create view {schema}.{table} as select * from {schema}.{table}_real where {schema}.attack()")
    try:
        yield
    finally:
        conn.execute(f"drop view {schema}.{table}")
        conn.execute(f"alter table {schema}.{table}_real rename to {table}")
        conn.execute(f"drop function {schema}.attack()")


@pytest.mark.parametrize("payload", READER_PAYLOADS.values(), ids=READER_PAYLOADS.keys())
def test_validating_a_raw_view_runs_its_function_with_no_more_than_the_domains_rights(
    mesh: Settings, hostile: psycopg.Connection, roles: dict[str, str], payload: str
) -> None:
    attack = view_instead_of(hostile, "raw_withdrawals", "withdrawals", payload.format(**roles))
    with attack, pytest.raises(MeshError, match=REFUSED):
        steps.validate_domain("withdrawals", mesh)
    assert not granted(hostile, roles)


@pytest.mark.parametrize("payload", READER_PAYLOADS.values(), ids=READER_PAYLOADS.keys())
def test_validating_a_product_view_runs_its_function_with_no_more_than_the_domains_rights(
    mesh: Settings, hostile: psycopg.Connection, roles: dict[str, str], payload: str
) -> None:
    attack = view_instead_of(hostile, "withdrawals", "fct_withdrawals", payload.format(**roles))
    with attack, pytest.raises(MeshError, match=REFUSED):
        steps.validate_products("withdrawals", mesh)
    assert not granted(hostile, roles)


@pytest.mark.parametrize("payload", READER_PAYLOADS.values(), ids=READER_PAYLOADS.keys())
def test_the_report_reads_a_product_view_with_no_more_than_the_domains_rights(
    mesh: Settings, hostile: psycopg.Connection, roles: dict[str, str], payload: str, tmp_path: Path
) -> None:
    logins = steps.credentials(mesh)
    reader = logins.observer("withdrawals")
    with view_instead_of(hostile, "withdrawals", "fct_withdrawals", payload.format(**roles)):
        page = build_report(mesh, logins, tmp_path / "report.html").read_text(encoding="utf-8")
    # the report's sessions are read-only too, which Postgres checks before a GRANT's privilege
    # a panel shows the refusal as a note, a headline card as its detail
    refusal = rf"({REFUSED}|cannot execute [A-Z ]+ in a read-only)"
    assert re.search(rf"(Could not read this section:</strong>|could not read:) {refusal}", page)
    assert not granted(hostile, roles)
    with psycopg.connect(reader.libpq_url) as conn:  # the upstream product stays readable
        assert conn.execute("select count(*) from users.dim_users").fetchone()[0] > 0


def test_the_report_reads_an_upstream_products_view_without_the_readers_raw_data(
    mesh: Settings, roles: dict[str, str], tmp_path: Path
) -> None:
    """The users team hides a function reading withdrawals' raw table in its public product."""
    logins = steps.credentials(mesh)
    payload = "perform count(*) from raw_withdrawals.withdrawals"
    login = team_login(team_env(mesh, "users"), "users")
    with (
        psycopg.connect(login.libpq_url, autocommit=True) as users,
        view_instead_of(users, "users", "dim_users", payload),
    ):
        users.execute(f"grant select on users.dim_users to {roles['users']}_readers")
        page = build_report(mesh, logins, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "permission denied for schema raw_withdrawals" in page
