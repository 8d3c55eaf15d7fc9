"""`mesh_conventions.<macro>` as the models call it (see __init__.py)."""


def incremental_since(column: str, lookback: str) -> str:
    """Shape of mesh_conventions/macros/incremental/incremental_since.sql: a timestamptz literal."""
    return "'-infinity'::timestamptz"
