"""A throwaway database per benchmarked path on the benchmark's server, and its removal."""

from __future__ import annotations

import uuid


def create_database(admin_url: str) -> str:
    """A new, empty database; returns its URL (the admin's credentials)."""
    import psycopg

    name = f"mesh_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str, admin_url: str) -> None:
    """Drop the database and the login roles the platform made for it."""
    import psycopg

    database = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{database}" with (force)')
        for (role,) in conn.execute("select rolname from pg_roles where starts_with(rolname, %s)", (database + "_",)):
            conn.execute(f'drop role "{role}"')
