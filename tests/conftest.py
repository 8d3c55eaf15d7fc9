"""Shared fixtures: a fresh warehouse database per test module, on the embedded server and, when
``MESH_DATABASE_URL`` is set for the test run, also on that external server."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from meshplatform.config import TELEMETRY_OFF, Settings
from meshplatform.warehouse.connection import ConnectionInfo
from meshplatform.warehouse.credentials import Credentials
from meshplatform.warehouse.embedded import EmbeddedPostgres

# The URL given to the test run names the external server to test against; each test module
# gets its own database on it. The platform under test only sees the per-module URL.
EXTERNAL_ADMIN_URL = os.environ.pop("MESH_DATABASE_URL", None)
os.environ.update(TELEMETRY_OFF)
# Airflow reads its configuration once per process: one metadata DB for the whole test session.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="mesh-test-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# OpenLineage reads its transport once per process too: every in-process run of the session
# appends its events here (tests tell their runs apart by run id).
LINEAGE_FILE = _AIRFLOW_HOME / "openlineage.jsonl"
os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
    {"type": "file", "log_file_path": str(LINEAGE_FILE), "append": True}
)
SERVERS = ["embedded", "external"] if EXTERNAL_ADMIN_URL else ["embedded"]


@pytest.fixture(scope="session")
def embedded_admin_url() -> Iterator[str]:
    port = int(os.environ.get("MESH_TEST_EMBEDDED_PORT", "55433"))
    # Not below pytest's basetemp: pytest resets that folder to 0700 at every session start, which
    # would close it again to the server user of another session's server (run as root).
    home = Path(tempfile.mkdtemp(prefix="mesh-test-embedded-"))
    server = EmbeddedPostgres(home / "pgdata", port)
    server.start()
    yield ConnectionInfo("127.0.0.1", port, "postgres", server.admin_password(), "postgres").libpq_url
    server.stop()
    shutil.rmtree(home, ignore_errors=True)


def _admin(url: str) -> psycopg.Connection:
    info = ConnectionInfo.from_url(url)
    admin = ConnectionInfo(info.host, info.port, info.user, info.password, "postgres")
    return psycopg.connect(admin.libpq_url, autocommit=True)


@pytest.fixture(scope="session")
def server_admin_url(request: pytest.FixtureRequest) -> str:
    """Admin URL of one server under test: the external one when given, else the embedded one
    (for tests too slow to repeat on both)."""
    return EXTERNAL_ADMIN_URL or request.getfixturevalue("embedded_admin_url")


def create_database(admin_url: str, name: str, template: str | None = None) -> str:
    """Create database `name` (a copy of `template` if given) on the admin URL's server; returns
    its URL (same credentials)."""
    with _admin(admin_url) as conn:
        conn.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
    info = ConnectionInfo.from_url(admin_url)
    return ConnectionInfo(info.host, info.port, info.user, info.password, name).libpq_url


def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name` and the platform's roles named after it (server-wide)."""
    with _admin(admin_url) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        for (role,) in conn.execute("select rolname from pg_roles where starts_with(rolname, %s)", (name + "_",)):
            conn.execute(f'drop role if exists "{role}"')


@pytest.fixture(scope="module")
def new_database(server_admin_url: str) -> Iterator[Callable[..., str]]:
    """Create databases on the one server under test: `new_database(template=None)` returns the URL
    of a fresh database (or a copy of `template`, a database name); all dropped, with the
    platform's roles named after them, when the module ends."""
    created: list[str] = []

    def make(template: str | None = None) -> str:
        created.append(f"mesh_test_{uuid.uuid4().hex[:10]}")
        return create_database(server_admin_url, created[-1], template)

    yield make
    for name in created:
        drop_database(server_admin_url, name)


@pytest.fixture(scope="module", params=SERVERS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh, empty database on one of the servers under test."""
    admin_url = request.getfixturevalue("embedded_admin_url") if request.param == "embedded" else EXTERNAL_ADMIN_URL
    name = f"mesh_test_{uuid.uuid4().hex[:10]}"
    yield create_database(admin_url, name)
    drop_database(admin_url, name)


@pytest.fixture(scope="module")
def mesh_env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Point the platform at the module's database and a private MESH_HOME; yield its settings."""
    home = tmp_path_factory.mktemp("mesh_home")
    patch = pytest.MonkeyPatch()
    patch.setenv("MESH_DATABASE_URL", database_url)
    patch.setenv("MESH_HOME", str(home))
    patch.delenv("MESH_REGISTRY_DIR", raising=False)
    patch.delenv("MESH_EXPORTS_DIR", raising=False)
    yield Settings.from_env()
    patch.undo()


@pytest.fixture(scope="module")
def logins(mesh_env: Settings) -> Credentials:
    """The warehouse set up (roles, schemas, grants, bookkeeping) and its logins' credentials."""
    from meshplatform.orchestration.steps import setup_warehouse

    return setup_warehouse(mesh_env)


@pytest.fixture
def login_conn(mesh_env: Settings) -> Iterator[Callable[[str], psycopg.Connection]]:
    """Open an autocommit connection as a domain's own login (the warehouse is set up first)."""
    from meshplatform.orchestration.steps import setup_warehouse

    opened: list[psycopg.Connection] = []

    def open_as(domain: str) -> psycopg.Connection:
        login = setup_warehouse(mesh_env).domain(domain)
        opened.append(psycopg.connect(login.libpq_url, autocommit=True))
        return opened[-1]

    yield open_as
    for connection in opened:
        connection.close()


@pytest.fixture
def conn(mesh_env: Settings) -> Iterator[psycopg.Connection]:
    from meshplatform.warehouse.connection import connect, connection_info

    with connect(connection_info(mesh_env), autocommit=True) as connection:
        yield connection


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that gets a warehouse database is a `db` test; `dbt` and `e2e` are set per module."""
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def lineage_file() -> Path:
    """Where the in-process Airflow runs of this test session write their OpenLineage events."""
    return LINEAGE_FILE
