"""The CLI as a user meets it: clear errors without tracebacks, and the embedded server's lifecycle."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from meshplatform.config import Settings

MESH = str(Path(sys.executable).parent / "mesh")


def mesh(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MESH, *args], check=False, env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@127.0.0.1/mesh", "MESH_DATABASE_URL must be a postgresql:// URL"),
        ("postgresql://postgres@127.0.0.1:5432", "MESH_DATABASE_URL names no database"),
        (f"postgresql://postgres@127.0.0.1:{free_port()}/mesh", "cannot connect to external Postgres"),
    ],
    ids=["scheme", "no-database", "unreachable"],
)
def test_bad_database_url_is_a_clear_error(tmp_path: Path, url: str, message: str) -> None:
    result = mesh("load", env={"MESH_DATABASE_URL": url, "MESH_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert message in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.stderr


def test_rejected_export_names_file_and_line_and_loads_nothing(mesh_env: Settings) -> None:
    inbox = mesh_env.exports_dir / "users"
    inbox.mkdir(parents=True)
    (inbox / "users_2026-11-01.csv").write_text(
        "user_id,signup_date,country,kyc,account_type,updated_at,\n1,2026-01-01,AR,verified,personal,2026-11-01T00:00:00Z,\n"
    )
    result = mesh("load", "users", env={})
    assert result.returncode == 2
    assert "users_2026-11-01.csv: line 1: header does not match the users export contract" in result.stderr
    assert "missing column(s) ['kyc_status']; unexpected column(s) ['kyc']" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_domain_is_a_clear_error(mesh_env: Settings) -> None:
    result = mesh("publish", "payments", env={})
    assert result.returncode == 2
    assert "no domain named 'payments'" in result.stderr


def test_embedded_server_starts_once_reports_status_and_stops() -> None:
    # not below pytest's basetemp, which another pytest session may close again (conftest.py says why)
    home = Path(tempfile.mkdtemp(prefix="mesh-test-cli-"))
    env = {"MESH_HOME": str(home / "home"), "MESH_EMBEDDED_PORT": str(free_port()), "MESH_DATABASE_URL": ""}
    first = mesh("db", "start", env=env)
    assert first.returncode == 0, first.stderr
    try:
        assert "embedded Postgres running" in first.stdout
        assert mesh("db", "start", env=env).returncode == 0  # idempotent
        assert mesh("db", "status", env=env).stdout.startswith("running")
        exports = mesh("env", env=env).stdout
        assert f"export MESH_PG_PORT={env['MESH_EMBEDDED_PORT']}" in exports
        assert "PASSWORD" not in exports  # without a domain: no credential at all
        team = mesh("env", "withdrawals", env=env).stdout
        assert "export MESH_PG_USER_WITHDRAWALS=mesh_withdrawals" in team
        assert "MESH_PG_PASSWORD_WITHDRAWALS=" in team and "USERS" not in team
        admin = (home / "home" / "secrets" / "postgres").read_text().strip()
        assert admin and admin not in team + exports
        assert oct((home / "home" / "secrets" / "postgres").stat().st_mode & 0o777) == "0o600"
    finally:
        assert mesh("db", "stop", env=env).stdout.strip() == "stopped"
    assert mesh("db", "status", env=env).stdout.startswith("not running")
    shutil.rmtree(home)


def test_embedded_server_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env = {"MESH_HOME": str(tmp_path), "MESH_EMBEDDED_PORT": str(busy.getsockname()[1]), "MESH_DATABASE_URL": ""}
        result = mesh("db", "start", env=env)
    assert result.returncode == 2
    assert "is taken by another process" in result.stderr
    assert "MESH_EMBEDDED_PORT" in result.stderr


def test_generate_refuses_to_mix_data_sets_unless_forced(tmp_path: Path) -> None:
    env = {"MESH_HOME": str(tmp_path)}
    assert mesh("generate", "--size", "300", "--days", "3", env=env).returncode == 0
    again = mesh("generate", "--size", "300", "--days", "3", env=env)
    assert again.returncode == 0  # same parameters: the same files again
    other = mesh("generate", "--size", "300", "--days", "2", env=env)
    assert other.returncode == 2 and "would mix two data sets" in other.stderr
    forced = mesh("generate", "--size", "300", "--days", "2", "--force", env=env)
    assert forced.returncode == 0
    assert sorted(p.name for p in (tmp_path / "exports" / "withdrawals").glob("*.csv")) == [
        "withdrawals_2026-11-01.csv",
        "withdrawals_2026-11-02.csv",
    ]
