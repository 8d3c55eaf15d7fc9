"""Record what each dbt command of an Airflow run did (Cosmos calls this after every dbt task)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshplatform.config import Settings
from meshplatform.warehouse import results as bookkeeping
from meshplatform.warehouse.connection import connect
from meshplatform.warehouse.credentials import Credentials


def record_dbt_results(project_dir: str, context: Any = None, **_: Any) -> None:
    """Copy the node results of ``target/run_results.json`` into ``mesh_meta.dbt_results``."""
    path = Path(project_dir) / "target" / "run_results.json"
    if not path.exists():
        return
    run_id = str(context["run_id"]) if context else "manual"
    results = [
        bookkeeping.DbtResult(
            run_id=run_id,
            domain=r["unique_id"].split(".")[1],
            unique_id=r["unique_id"],
            resource_type=r["unique_id"].split(".")[0],
            status=r["status"],
            execution_time=r.get("execution_time"),
        )
        for r in json.loads(path.read_text(encoding="utf-8")).get("results", [])
    ]
    if results:
        # the bookkeeper's login: the results are data read from a file, no domain SQL runs here
        with connect(Credentials(Settings.from_env()).bookkeeper()) as conn:
            bookkeeping.record_dbt_results(conn, results)
