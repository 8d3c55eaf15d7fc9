"""The ``mesh`` Airflow plugin, loaded from ``platform/airflow_plugins`` (Airflow's plugins folder
in ``make airflow`` and in the compose stack, ``AIRFLOW__CORE__PLUGINS_FOLDER``).

The API server mounts :data:`app` under ``/mesh``; the menu entries open its pages inside the UI.
Every route requires an authenticated Airflow user (the UI's session cookie or a bearer token).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from airflow.api_fastapi.core_api.security import requires_authenticated
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from meshplatform.config import Settings

PREFIX = "/mesh"

app = FastAPI(title="Mesh docs", dependencies=[Depends(requires_authenticated())])


def _served(root: Path, path: str) -> FileResponse:
    """A file under ``root``; nothing outside it, and a clear 404 for what is not generated yet."""
    root = root.resolve()
    target = (root / (path or "index.html")).resolve()
    if root != target and root not in target.parents:
        raise HTTPException(status_code=404)
    if not target.is_file():
        raise HTTPException(status_code=404, detail=f"{target.name} is not generated yet: run the mesh_build DAG")
    return FileResponse(target)


@app.get("/", response_class=HTMLResponse)
def index() -> str:
    return (
        "<!doctype html><title>Mesh docs</title><h1>Mesh docs</h1><ul>"
        f'<li><a href="{PREFIX}/catalog/catalog.html">Data product catalogue</a></li>'
        f'<li><a href="{PREFIX}/report">Report of the published products</a></li>'
        f'<li><a href="{PREFIX}/data-docs/index.html">Great Expectations Data Docs</a></li></ul>'
    )


@app.get("/catalog/{path:path}")
def catalog(path: str) -> FileResponse:
    return _served(Settings.from_env().catalog_dir, path)


@app.get("/report")
def report() -> FileResponse:
    settings = Settings.from_env()
    return _served(settings.report_path.parent, settings.report_path.name)


@app.get("/data-docs/{path:path}")
def data_docs(path: str) -> FileResponse:
    return _served(Settings.from_env().data_docs_dir, path)


def _view(name: str, href: str, route: str) -> dict[str, str]:
    """A menu entry under "Mesh" that opens ``href`` inside the Airflow UI at /plugin/<route>."""
    return {"name": name, "href": PREFIX + href, "destination": "nav", "category": "Mesh", "url_route": route}


class MeshPlugin(AirflowPlugin):
    name = "mesh"
    fastapi_apps: ClassVar[list[dict[str, object]]] = [{"app": app, "url_prefix": PREFIX, "name": "Mesh docs"}]
    external_views: ClassVar[list[dict[str, str]]] = [
        _view("Data catalogue", "/catalog/catalog.html", "mesh-catalog"),
        _view("Mesh report", "/report", "mesh-report"),
        _view("Data Docs", "/data-docs/index.html", "mesh-data-docs"),
    ]
