"""Orchestration: the DAGs (``dag_factory``: a DAG per domain and ``mesh_build``; ``assets``: what
a domain publishes, reads and when it runs), the steps its Airflow tasks run (``steps``), the
callback that records dbt results (``callbacks``) and the local Airflow runner (``runner``: metadata
DB, ``dag.test()``, standalone).

May import every room below it: ``warehouse``, ``ingest``, ``contracts``, ``quality``, ``dbt``,
``reporting``.
"""
