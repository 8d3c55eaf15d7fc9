"""The embedded server requires passwords, listens on 127.0.0.1 only, keeps its superuser's
password owner-only, and opens no folder above its data to other users."""

from __future__ import annotations

import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from meshplatform.warehouse.embedded import EmbeddedPostgres


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedPostgres]:
    # a private parent (0700), outside pytest's basetemp (conftest.py says why)
    parent = Path(tempfile.mkdtemp(prefix="mesh-test-private-"))
    server = EmbeddedPostgres(parent / "home" / "pgdata", free_port())
    server.start()
    yield server
    server.stop()
    shutil.rmtree(parent)


def test_a_login_without_the_password_is_refused(server: EmbeddedPostgres) -> None:
    with pytest.raises(psycopg.OperationalError, match=r"no password supplied|password authentication failed"):
        psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="postgres")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", password="guess", dbname="postgres")
    rules = [line for line in (server.pgdata / "pg_hba.conf").read_text().splitlines() if not line.startswith("#")]
    assert rules == ["host all all 127.0.0.1/32 scram-sha-256"]


def test_it_listens_on_localhost_only_and_keeps_the_password_owner_only(server: EmbeddedPostgres) -> None:
    with psycopg.connect(
        host="127.0.0.1", port=server.port, user="postgres", password=server.admin_password(), dbname="postgres"
    ) as conn:
        assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("show unix_socket_directories").fetchone() == ("",)
        assert conn.execute("show password_encryption").fetchone() == ("scram-sha-256",)
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.password_file.parent.stat().st_mode) == 0o700


def test_no_folder_above_the_data_is_opened_to_other_users(server: EmbeddedPostgres) -> None:
    private = server.pgdata.parent.parent  # created 0700 by the fixture
    assert stat.S_IMODE(private.stat().st_mode) & 0o007 == 0
    assert stat.S_IMODE(server.pgdata.stat().st_mode) == 0o700
