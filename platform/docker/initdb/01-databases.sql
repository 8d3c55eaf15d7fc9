-- Run once by the postgres:16 image on its first start (empty data volume), as POSTGRES_USER.
-- One server, two databases:
--   airflow  Airflow's metadata DB (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)
--   mesh     the warehouse (MESH_DATABASE_URL); the platform creates the per-domain schemas
--            (raw_users, users_staging, users, raw_withdrawals, withdrawals_staging,
--            withdrawals, mesh_meta) and roles itself, exactly as on the local embedded server.
-- No passwords here: the only credentials are POSTGRES_USER/POSTGRES_PASSWORD from .env.
CREATE DATABASE airflow;
CREATE DATABASE mesh;
