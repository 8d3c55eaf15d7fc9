"""Isolation in Postgres: each domain builds as its own login role, owns its schemas, reads only
the public models of the domains it reads, and writes nowhere else. Every refusal is Postgres's.

The domains are built for real: generated exports, the loader, published manifests and
`dbt build` of each domain with its own profile and login (`mesh env <domain>`). Attacks by a
hostile domain: test_attacks.py."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from psycopg.errors import InsufficientPrivilege

from meshplatform import domains
from meshplatform.config import Settings
from meshplatform.contracts.model import inbound_sources
from meshplatform.dbt.registry import run_dbt, runtime_env
from meshplatform.domains import Domain
from meshplatform.ingest.load import load_source
from meshplatform.orchestration.steps import credentials, load_domain, publish_domain, setup_warehouse
from meshplatform.sample_data.generator import generate
from meshplatform.warehouse.connection import connect
from meshplatform.warehouse.roles import domain_role, ensure_roles, meta_role, readers_role, schemas_of

pytestmark = pytest.mark.dbt


def team_env(settings: Settings, domain: str) -> dict[str, str]:
    return runtime_env(settings, credentials(settings).domain(domain), domain)


@pytest.fixture(scope="module")
def built(mesh_env: Settings) -> Settings:
    generate(mesh_env.exports_dir, size=500, days=2, seed=3)
    for name in ("users", "withdrawals"):
        publish_domain(name, mesh_env)
        load_domain(name, mesh_env, progress=None)
    for name in ("users", "withdrawals"):
        run_dbt(domains.get(mesh_env.domains_dir, name), ["build"], team_env(mesh_env, name))
    return mesh_env


def role_of(conn: psycopg.Connection, domain: str) -> str:
    return domain_role(conn.info.dbname, domain)


@contextmanager
def as_role(conn: psycopg.Connection, role: str) -> Iterator[psycopg.Connection]:
    conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
    try:
        yield conn
    finally:
        conn.execute("reset role")


def test_each_domain_owns_its_schemas_and_everything_built_in_them(built: Settings, conn: psycopg.Connection) -> None:
    for domain in ("users", "withdrawals"):
        schemas = list(schemas_of(domain))
        owners = dict(
            conn.execute(
                "select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname = any(%s)", (schemas,)
            ).fetchall()
        )
        assert owners == dict.fromkeys(schemas, role_of(conn, domain))
        relations = dict(
            conn.execute(
                """select c.oid::regclass::text, pg_get_userbyid(c.relowner) from pg_class c
                   join pg_namespace n on n.oid = c.relnamespace
                   where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm')""",
                (schemas,),
            ).fetchall()
        )
        # the loader's raw table and dbt's staging views and marts were all created as the role
        assert {f"raw_{domain}.{domain}", f"{domain}_staging.stg_{domain}"} <= relations.keys()
        assert set(relations.values()) == {role_of(conn, domain)}, relations
    assert conn.execute(
        "select pg_get_userbyid(nspowner) from pg_namespace where nspname = 'mesh_meta'"
    ).fetchone() == (meta_role(conn.info.dbname),)


def test_a_domain_reads_the_public_models_of_the_domains_it_reads(built: Settings, conn: psycopg.Connection) -> None:
    with as_role(conn, role_of(conn, "withdrawals")):
        assert conn.execute("select count(*) from users.dim_users").fetchone()[0] > 0


@pytest.mark.parametrize("relation", ["users_staging.stg_users", "raw_users.users"])
def test_staging_and_raw_relations_of_another_domain_are_refused(
    built: Settings, conn: psycopg.Connection, relation: str
) -> None:
    with as_role(conn, role_of(conn, "withdrawals")), pytest.raises(InsufficientPrivilege):
        conn.execute(f"select * from {relation} limit 1")


@pytest.mark.parametrize("schema", ["users", "users_staging", "raw_users", "mesh_meta", "public"])
def test_creating_in_another_domains_or_the_platforms_schema_is_refused(
    built: Settings, conn: psycopg.Connection, schema: str
) -> None:
    with as_role(conn, role_of(conn, "withdrawals")), pytest.raises(InsufficientPrivilege):
        conn.execute(f"create table {schema}.intruder (id int)")


@pytest.mark.parametrize(
    "statement",
    [
        "insert into withdrawals.fct_withdrawals select * from withdrawals.fct_withdrawals limit 1",
        "delete from raw_withdrawals.withdrawals",
        "create view withdrawals.intruder as select 1 as id",
        "drop table withdrawals.fct_withdrawals",
        "create schema intruder",
    ],
)
def test_writing_into_another_domain_is_refused(built: Settings, conn: psycopg.Connection, statement: str) -> None:
    with as_role(conn, role_of(conn, "users")), pytest.raises(InsufficientPrivilege):
        conn.execute(statement)


def test_reading_a_public_model_is_not_writing_it(built: Settings, conn: psycopg.Connection) -> None:
    with as_role(conn, role_of(conn, "withdrawals")), pytest.raises(InsufficientPrivilege):
        conn.execute("update users.dim_users set kyc_status = kyc_status")


def test_a_reader_sees_the_public_models_it_declares_and_nothing_else(
    built: Settings, conn: psycopg.Connection
) -> None:
    """A third domain (its own role, so the real domains' grants stay as they are) that reads
    withdrawals: its public model yes, its protected models in the same schema no; and once it
    no longer declares withdrawals upstream, not even that."""
    real = domains.discover(built.domains_dir)
    probe = Domain(f"probe_{uuid.uuid4().hex[:8]}", built.domains_dir, upstream=("withdrawals",))
    passwords = credentials(built).password
    try:
        ensure_roles(conn, [*real, probe], passwords)
        with as_role(conn, role_of(conn, probe.name)):
            conn.execute("select * from withdrawals.fct_withdrawals limit 1")
            for relation in (
                "withdrawals.dim_user_withdrawal_summary",
                "withdrawals.fct_daily_withdrawal_volumes",
                "users.dim_users",
            ):
                with pytest.raises(InsufficientPrivilege):
                    conn.execute(f"select * from {relation} limit 1")
        ensure_roles(conn, [*real, dataclasses.replace(probe, upstream=())], passwords)
        with as_role(conn, role_of(conn, probe.name)), pytest.raises(InsufficientPrivilege):
            conn.execute("select * from withdrawals.fct_withdrawals limit 1")
    finally:
        for schema in schemas_of(probe.name):
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        database = conn.info.dbname
        for role in (
            role_of(conn, probe.name),
            readers_role(database, probe.name),
            f"{role_of(conn, probe.name)}_observer",
        ):
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
    member = (role_of(conn, "withdrawals"), readers_role(conn.info.dbname, "users"))
    assert conn.execute("select pg_has_role(%s, %s, 'member')", member).fetchone() == (True,)


def test_the_loader_writes_a_domains_raw_schema_as_the_domain(built: Settings) -> None:
    (spec,) = inbound_sources(built.contracts_dir, "withdrawals")
    misplaced = dataclasses.replace(spec, schema="raw_users")
    login = setup_warehouse(built).domain("withdrawals")
    with connect(login, autocommit=True) as loader, pytest.raises(InsufficientPrivilege):
        list(load_source(loader, misplaced, []))


def test_each_domain_rebuilds_as_its_role(built: Settings, conn: psycopg.Connection) -> None:
    """A full rebuild replaces the tables (dbt drops and recreates them): the grants come back."""
    for name in ("users", "withdrawals"):
        run_dbt(domains.get(built.domains_dir, name), ["build", "--full-refresh"], team_env(built, name))
    with as_role(conn, role_of(conn, "withdrawals")):
        assert conn.execute("select count(*) from users.dim_users").fetchone()[0] > 0
    owner = conn.execute(
        "select pg_get_userbyid(relowner) from pg_class where oid = 'users.dim_users'::regclass"
    ).fetchone()
    assert owner == (role_of(conn, "users"),)


def test_the_platforms_logins_run_without_jit(built: Settings) -> None:
    """JIT compiling cost more than it saved in the builds (docs/benchmarks.md)."""
    logins = setup_warehouse(built)
    for login in [logins.domain("users"), logins.domain("withdrawals"), logins.bookkeeper()]:
        with connect(login, autocommit=True) as session:
            assert session.execute("show jit").fetchone() == ("off",), login.user


def test_relations_created_as_the_admin_are_handed_to_the_domain(built: Settings, conn: psycopg.Connection) -> None:
    """A warehouse built before domains had roles: ensure_roles makes the domain own it all."""
    conn.execute("create table users_staging.legacy (id int)")
    try:
        setup_warehouse(built)
        owner = conn.execute(
            "select pg_get_userbyid(relowner) from pg_class where oid = 'users_staging.legacy'::regclass"
        )
        assert owner.fetchone() == (role_of(conn, "users"),)
    finally:
        conn.execute("drop table users_staging.legacy")
