"""Run the ``mesh_build`` Airflow DAG locally: a migrated metadata DB and ``dag.test()``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from meshplatform.config import Settings
from meshplatform.errors import MeshError
from meshplatform.warehouse.credentials import airflow_secrets_env

DAG_ID = "mesh_build"


def airflow_env(settings: Settings) -> dict[str, str]:
    """Airflow settings of the local path; values the user already set win."""
    home = settings.airflow_home
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.plugins_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.logs_dir / "airflow"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        # Cosmos keeps dbt's partial-parse state between runs here; its default (/tmp/cosmos) is
        # shared by every MESH_HOME on the machine, whose profiles differ, so dbt would parse afresh
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
        # Lineage events of every task (OpenLineage): a file by default; set an HTTP transport for
        # Marquez or any OpenLineage backend, e.g. '{"type": "http", "url": "http://marquez:5000"}'.
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "mesh",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(settings.lineage_file), "append": True}
        ),
    }
    # each domain's warehouse login is a Connection in an owner-only file of this MESH_HOME
    return {**{k: os.environ.get(k, v) for k, v in defaults.items()}, **airflow_secrets_env(settings)}


def _apply_env(settings: Settings) -> None:
    """Set Airflow's variables; must run before `airflow` is first imported (it reads them once)."""
    os.environ.update(airflow_env(settings))
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)  # the lineage file transport writes there


def init_airflow(settings: Settings) -> None:
    """Create or upgrade the Airflow metadata DB (idempotent)."""
    _apply_env(settings)
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise MeshError(
            f"`airflow db migrate` failed:\n{tail}",
            hint=f"metadata DB: {_without_password(os.environ['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'])}",
        )


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    state: str
    task_states: dict[str, str]

    @property
    def failed_tasks(self) -> list[str]:
        return [t for t, s in self.task_states.items() if s in ("failed", "upstream_failed")]


def run_mesh_build(settings: Settings, dag_id: str = DAG_ID, conf: dict[str, object] | None = None) -> RunOutcome:
    """Parse the DAG folder and run ``dag_id`` (``mesh_build`` or a domain's DAG) once with
    ``dag.test()``, with ``conf`` as its params."""
    _apply_env(settings)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(settings.dags_dir))
    if bag.import_errors:
        errors = "\n".join(f"{path}:\n{error}" for path, error in bag.import_errors.items())
        raise MeshError(f"the DAG folder has import errors:\n{errors}")
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise MeshError(f"no DAG {dag_id!r} in {settings.dags_dir}", hint=f"DAGs found: {', '.join(sorted(bag.dags))}")
    run = dag.test(run_conf=conf)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    return RunOutcome(run.run_id, str(run.state), states)


_TASK_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")
_EXCEPTION = re.compile(r"^(\w+\.)*\w*(Error|Exception): ")
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT")
_NEW_STATE = re.compile(r"new_state=(\w+)")


def run_mesh_build_logged(
    settings: Settings, dag_id: str = DAG_ID, conf: dict[str, object] | None = None
) -> tuple[RunOutcome, Path]:
    """Run ``dag_id`` in a child process with its full log in a file; print one line per task
    and, for a failed task, the error it raised."""
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_path = settings.logs_dir / f"{dag_id}-{stamp}.log"
    outcome_path = log_path.with_suffix(".json")
    with log_path.open("w") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "meshplatform.orchestration.runner", str(outcome_path), dag_id, json.dumps(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        with log_path.open() as follow:
            error: list[str] = []
            state = "done"
            printed: set[tuple[str, str]] = set()  # Airflow may log a task's end twice (a teardown)
            while True:
                line = follow.readline()
                if not line:
                    if child.poll() is not None:
                        break
                    time.sleep(0.2)
                    continue
                if _EXCEPTION.match(line):
                    error = [line.rstrip()]
                elif error and not _LOG_LINE.match(line) and len(error) < 15:
                    error.append(line.rstrip())
                elif match := _NEW_STATE.search(line):
                    state = match[1]
                elif match := _TASK_END.search(line):
                    if (state, match[1]) not in printed:
                        printed.add((state, match[1]))
                        print(f"  {state:8} {match[1]}", flush=True)
                        for detail in error:
                            print(f"           {detail}", flush=True)
                    error, state = [], "done"
    if not outcome_path.exists():
        raise MeshError(f"{dag_id} did not run; see {log_path}")
    return RunOutcome(**json.loads(outcome_path.read_text())), log_path


def standalone(settings: Settings) -> None:
    """Replace this process with `airflow standalone` (UI, scheduler, triggerer) on the local warehouse."""
    init_airflow(settings)
    os.environ.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    bin_dir = Path(sys.executable).parent
    # `airflow standalone` starts its components as `airflow ...` subprocesses found on PATH.
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    airflow = str(bin_dir / "airflow")
    os.execv(airflow, [airflow, "standalone"])


if __name__ == "__main__":
    outcome = run_mesh_build(Settings.from_env(), sys.argv[2], json.loads(sys.argv[3]))
    Path(sys.argv[1]).write_text(json.dumps(asdict(outcome)))
