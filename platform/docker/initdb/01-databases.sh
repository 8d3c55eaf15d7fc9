#!/bin/bash
# Run once by the postgres:16 image on its first start (empty data volume), as POSTGRES_USER.
# One server, two databases, each with its own owner (and no superuser in any URL):
#   airflow  Airflow's metadata DB, owned by user `airflow` (AIRFLOW_DB_PASSWORD)
#   mesh     the warehouse, owned by `mesh_admin` (MESH_ADMIN_PASSWORD), which may create roles
#            (CREATEROLE) but is no superuser: the platform creates the per-domain login roles,
#            schemas and grants itself, exactly as on the local embedded server.
# The passwords arrive percent-encoded (they are also part of URLs); they are decoded here and
# handed to psql as variables, never echoed.
set -euo pipefail

decode() { printf '%b' "${1//%/\\x}"; }

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v airflow_password="$(decode "$AIRFLOW_DB_PASSWORD")" \
    -v admin_password="$(decode "$MESH_ADMIN_PASSWORD")" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
REVOKE CONNECT ON DATABASE airflow FROM PUBLIC;
CREATE ROLE mesh_admin LOGIN CREATEROLE PASSWORD :'admin_password';
CREATE DATABASE mesh OWNER mesh_admin;
SQL
