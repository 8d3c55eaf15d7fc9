"""The warehouse: the connection (one URL or the embedded server), the embedded Postgres itself,
the per-domain roles and grants, and the platform's bookkeeping in ``mesh_meta``.

May import: ``config``, ``errors``, ``domains``. Nothing above it.
"""
