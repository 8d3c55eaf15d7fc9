"""Serving: the Airflow 3 plugin that shows the catalogue, the report and the Great Expectations
Data Docs inside the Airflow UI (a FastAPI app on the API server plus menu entries), behind
Airflow's own login.

May import: ``config``, ``errors``.
"""
