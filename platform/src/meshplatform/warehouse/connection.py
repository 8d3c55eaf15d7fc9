"""Connection to the warehouse Postgres: one URL, or the embedded server.

The rest of the platform (and dbt, through ``MESH_PG_*`` variables) only ever sees a
:class:`ConnectionInfo`; whether it points at the embedded server or at the user's own
Postgres is decided here, once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

from meshplatform.config import Settings
from meshplatform.errors import MeshError

if TYPE_CHECKING:  # psycopg is imported where a connection is opened: the DAG file never needs it
    import psycopg

EMBEDDED_DATABASE = "mesh"


@dataclass(frozen=True)
class ConnectionInfo:
    host: str
    port: int
    user: str
    password: str
    database: str
    embedded: bool = False

    @classmethod
    def from_url(cls, url: str) -> ConnectionInfo:
        """Parse a standard ``postgresql://user:pass@host:port/db`` URL."""
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme not in ("postgresql", "postgres"):
            raise MeshError(
                f"MESH_DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}",
                hint="example: MESH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mesh",
            )
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise MeshError(
                "MESH_DATABASE_URL names no database",
                hint="append the database name, e.g. postgresql://postgres@127.0.0.1:5432/mesh, and "
                "percent-encode special characters of the user and password (e.g. '#' as %23, '@' as %40)",
            )
        try:
            port = parts.port or 5432
        except ValueError:  # the message would quote the text after the last ':', maybe a password
            raise MeshError(
                "MESH_DATABASE_URL has no valid port",
                hint="percent-encode special characters of the user and password (e.g. '@' as %40, '/' as %2F)",
            ) from None
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            database=database,
        )

    @property
    def url(self) -> str:
        """URL for psycopg and SQLAlchemy (``postgresql+psycopg://``)."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{quote(self.database)}"

    @property
    def libpq_url(self) -> str:
        return self.url.replace("postgresql+psycopg://", "postgresql://", 1)

    @property
    def display(self) -> str:
        """Where the data is, without the password."""
        kind = "embedded" if self.embedded else "external"
        return f"{kind} Postgres {self.user}@{self.host}:{self.port}/{self.database}"

    def as_login(self, user: str, password: str) -> ConnectionInfo:
        """The same server and database, logged in as another role."""
        return replace(self, user=user, password=password)

    def dbt_env(self, domain: str | None = None) -> dict[str, str]:
        """The variables a domain's profiles.yml reads; the login and password only with ``domain``
        (this connection is then that domain's login)."""
        env = {"MESH_PG_HOST": self.host, "MESH_PG_PORT": str(self.port), "MESH_PG_DATABASE": self.database}
        if domain:
            env[f"MESH_PG_USER_{domain.upper()}"] = self.user
            env[f"MESH_PG_PASSWORD_{domain.upper()}"] = self.password
        return env


def connection_info(settings: Settings) -> ConnectionInfo:
    """The warehouse this process uses: ``MESH_DATABASE_URL`` if set, else the embedded server."""
    if settings.database_url:
        return ConnectionInfo.from_url(settings.database_url)
    from meshplatform.warehouse.embedded import SUPERUSER, EmbeddedPostgres

    return ConnectionInfo(
        host="127.0.0.1",
        port=settings.embedded_port,
        user=SUPERUSER,
        password=EmbeddedPostgres(settings.pgdata_dir, settings.embedded_port).admin_password(),
        database=EMBEDDED_DATABASE,
        embedded=True,
    )


@contextmanager
def connect(info: ConnectionInfo, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """Open a connection, turning connection failures into an actionable message."""
    import psycopg

    try:
        conn = psycopg.connect(info.libpq_url, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        hint = (
            "start it with `mesh db start` (or `make demo`)"
            if info.embedded
            else "check MESH_DATABASE_URL: host, port, user, password and that the database exists"
        )
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MeshError(f"cannot connect to {info.display}: {first_line}", hint=hint) from exc
    try:
        yield conn
    finally:
        conn.close()


def ensure_database(info: ConnectionInfo) -> None:
    """Create the warehouse database if the server lacks it (embedded server only)."""
    admin = ConnectionInfo(info.host, info.port, info.user, info.password, "postgres", info.embedded)
    with connect(admin, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (info.database,)).fetchone()
        if not exists:
            from psycopg import sql

            conn.execute(sql.SQL("create database {}").format(sql.Identifier(info.database)))
