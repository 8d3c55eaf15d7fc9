"""Record what each dbt command of an Airflow run did (Cosmos calls this after every dbt task)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshplatform.config import Settings
from meshplatform.warehouse.connection import connect
from meshplatform.warehouse.credentials import Credentials
from meshplatform.warehouse.meta import SCHEMA


def record_dbt_results(project_dir: str, context: Any = None, **_: Any) -> None:
    """Copy the node results of ``target/run_results.json`` into ``mesh_meta.dbt_results``."""
    path = Path(project_dir) / "target" / "run_results.json"
    if not path.exists():
        return
    results = json.loads(path.read_text(encoding="utf-8")).get("results", [])
    run_id = str(context["run_id"]) if context else "manual"
    rows = [
        (
            run_id,
            r["unique_id"].split(".")[1],
            r["unique_id"],
            r["unique_id"].split(".")[0],
            r["status"],
            r.get("execution_time"),
        )
        for r in results
    ]
    if not rows:
        return
    # the bookkeeper's login: the results are data read from a file, no domain SQL runs here
    with connect(Credentials(Settings.from_env()).bookkeeper()) as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            f"""insert into {SCHEMA}.dbt_results (run_id, domain, unique_id, resource_type, status, execution_time)
                    values (%s, %s, %s, %s, %s, %s)""",
            rows,
        )
