"""Orchestration: the steps a domain's Airflow tasks run (``steps``), the warehouse set-up they and
the CLI share (``setup``), how a load's progress is shown (``progress``), the callback that records
dbt results (``callbacks``) and the local Airflow runner (``runner``: metadata DB, ``dag.test()``,
standalone).

May import every room below it: ``warehouse``, ``ingest``, ``contracts``, ``quality``, ``dbt``,
``reporting``.
"""
