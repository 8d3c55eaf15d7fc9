"""Airflow's plugins folder (AIRFLOW__CORE__PLUGINS_FOLDER): the catalogue, report and Data Docs
of the mesh inside the Airflow UI. The plugin itself lives in the platform package."""

from meshplatform.serving.plugin import MeshPlugin

__all__ = ["MeshPlugin"]
