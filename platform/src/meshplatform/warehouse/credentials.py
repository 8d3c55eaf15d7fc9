"""Credentials of the warehouse's login roles (see ``roles``), kept like secrets.

A role's password is the operator's ``MESH_PG_PASSWORD_<DOMAIN>`` for a domain's role when set,
otherwise the one generated on first setup and stored owner-only in ``$MESH_HOME/secrets/<role>``.
Nothing here prints or logs a password. Airflow reads each domain's login as the Connection
``mesh_<domain>`` from an owner-only file of its local-filesystem secrets backend, so no password
is ever in a task's environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from meshplatform.config import Settings
from meshplatform.domains import Domain
from meshplatform.warehouse.connection import ConnectionInfo, connection_info
from meshplatform.warehouse.secret_files import read_or_create, write_private

AIRFLOW_CONNECTIONS = "airflow_connections.json"


def secrets_dir(settings: Settings) -> Path:
    return settings.home / "secrets"


def password_variable(domain: str) -> str:
    """The variable an operator may set to choose the domain's password (a team's profiles.yml reads it too)."""
    return f"MESH_PG_PASSWORD_{domain.upper()}"


def airflow_conn_id(domain: str) -> str:
    """The Airflow Connection the domain's dbt tasks log in with."""
    return f"mesh_{domain}"


class Credentials:
    """Passwords of one warehouse database's login roles, and connections that use them."""

    def __init__(self, settings: Settings, admin: ConnectionInfo | None = None) -> None:
        self.settings = settings
        self.admin = admin or connection_info(settings)
        self.database = self.admin.database

    def password(self, role: str) -> str:
        from meshplatform.warehouse import roles  # psycopg: not at import time (the DAG file imports this module)

        chosen = password_variable("")
        for name, value in os.environ.items():
            if (
                name.startswith(chosen)
                and value
                and role == roles.domain_role(self.database, name[len(chosen) :].lower())
            ):
                return value
        return read_or_create(secrets_dir(self.settings) / role)

    def _login(self, role: str) -> ConnectionInfo:
        return self.admin.as_login(role, self.password(role))

    def domain(self, domain: str) -> ConnectionInfo:
        """The domain's own login: its dbt, its loads and the checks of its raw tables."""
        from meshplatform.warehouse.roles import domain_role

        return self._login(domain_role(self.database, domain))

    def observer(self, domain: str) -> ConnectionInfo:
        """Read-only login of the domain's products (and its upstream's public models)."""
        from meshplatform.warehouse.roles import observer_role

        return self._login(observer_role(self.database, domain))

    def bookkeeper(self) -> ConnectionInfo:
        """Login of ``mesh_meta``; reads no domain object."""
        from meshplatform.warehouse.roles import meta_role

        return self._login(meta_role(self.database))

    def write_airflow_connections(self, domains: list[Domain]) -> Path:
        """The Connections file of Airflow's local-filesystem secrets backend (owner-only)."""
        connections = {}
        for domain in domains:
            login = self.domain(domain.name)
            connections[airflow_conn_id(domain.name)] = {
                "conn_type": "postgres", "host": login.host, "port": login.port, "login": login.user,
                "password": login.password, "schema": login.database,
            }  # fmt: skip
        path = secrets_dir(self.settings) / AIRFLOW_CONNECTIONS
        write_private(path, json.dumps(connections, indent=2))
        return path


def airflow_secrets_env(settings: Settings) -> dict[str, str]:
    """Airflow settings that make it read Connections from the platform's file (no secret in them)."""
    kwargs = {"connections_file_path": str(secrets_dir(settings) / AIRFLOW_CONNECTIONS)}
    return {
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(kwargs),
    }
