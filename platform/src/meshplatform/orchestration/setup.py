"""The warehouse as the platform's commands reach it: the embedded server, the admin's set-up of
every domain's roles, schemas and grants, and the logins of a set-up warehouse (read-only commands
use those and leave the admin alone). Kept apart from
``steps`` so that commands which only read the warehouse (``mesh summary``) import no loader,
dbt or Great Expectations code."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from meshplatform import domains
from meshplatform.config import Settings, disable_telemetry
from meshplatform.errors import MeshError
from meshplatform.warehouse import embedded, meta, roles
from meshplatform.warehouse.connection import ConnectionInfo, connect, connection_info, ensure_database
from meshplatform.warehouse.credentials import Credentials

T = TypeVar("T")


def embedded_server(settings: Settings) -> embedded.EmbeddedPostgres:
    return embedded.EmbeddedPostgres(settings.pgdata_dir, settings.embedded_port)


def warehouse(settings: Settings, *, start: bool = False) -> ConnectionInfo:
    """The warehouse connection; with ``start``, start the embedded server when it is the target."""
    disable_telemetry()
    info = connection_info(settings)
    if info.embedded and start:
        embedded_server(settings).start()
        info = connection_info(settings)  # the first start generates the superuser's password
        ensure_database(info)
    return info


def setup_warehouse(settings: Settings) -> Credentials:
    """The admin's only job: every domain's login roles, schemas and grants, the bookkeeping
    schema, and Airflow's Connections file. Idempotent; returns the logins' credentials."""
    info = warehouse(settings)
    credentials = Credentials(settings, info)
    all_domains = domains.discover(settings.domains_dir)
    with connect(info, autocommit=True) as conn:
        roles.ensure_roles(conn, all_domains, credentials.password)
        loaders = {roles.domain_role(info.database, d.name): d.name for d in all_domains}
        meta.ensure_meta(conn, roles.meta_role(info.database), loaders)
    credentials.write_airflow_connections(all_domains)
    return credentials


def credentials(settings: Settings) -> Credentials:
    """The logins of an already set-up warehouse (no admin connection)."""
    return Credentials(settings, warehouse(settings))


def read_with_logins(settings: Settings, read: Callable[[Credentials], T]) -> T:
    """Run a read-only ``read`` with the logins of the set-up warehouse, without the admin's set-up
    work; when they cannot do it yet (first run, a new domain, bookkeeping of an older version), set
    the warehouse up and read again. ``read`` must have no side effects in the database."""
    import psycopg

    try:
        return read(credentials(settings))
    except (psycopg.Error, MeshError) as exc:  # `connect` says a refused login as a MeshError
        if not isinstance(exc, psycopg.Error) and not isinstance(exc.__cause__, psycopg.Error):
            raise
    return read(setup_warehouse(settings))
