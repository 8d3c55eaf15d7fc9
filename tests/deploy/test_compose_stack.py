"""The stack of docker-compose.yml, run without Docker: every Airflow service's command, environment
and healthcheck, read from the compose file and translated for this machine (compose_local.py), as
a local process, on databases of the test's Postgres server and on this machine's Redis.

Per executor (the compose file's CeleryExecutor with its worker and Flower, then the LocalExecutor
without them), one stack serves three tests: every service's healthcheck passes; the mesh runs on
the real scheduler, triggered through the REST API as a user would, until every domain's DAG has
succeeded, a downstream one started by its upstream's Asset event; a real browser shows the grid.
airflow-init (migration, exports, manifests, roles) runs once; the second stack gets a copy of the
migrated metadata database.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from airflow_rest import Api, password_of
from browser import chromium, log_in, needs_chromium, page_shown_on_failure
from compose_local import (
    LocalService,
    Machine,
    fresh_ports,
    load,
    local_service,
    start_in_order,
    stop_all,
    wait_healthy,
)
from paths import PROJECT_DIR

from meshplatform.domains import discover

pytestmark = pytest.mark.e2e

COMPOSE = load(PROJECT_DIR / "docker-compose.yml")
ENV_EXAMPLE = PROJECT_DIR / ".env.example"
INIT = "airflow-init"
API_SERVER = "airflow-apiserver"
# The Airflow services: those built from the platform's image; the long-running ones have a healthcheck.
AIRFLOW = [name for name, service in COMPOSE["services"].items() if "build" in service]
LONG_RUNNING = [name for name in AIRFLOW if COMPOSE["services"][name].get("healthcheck")]
CELERY_ONLY = [name for name in LONG_RUNNING if COMPOSE["services"][name]["command"][:2] == ["airflow", "celery"]]
EXECUTORS = ["CeleryExecutor", "LocalExecutor"]
DOMAINS = discover(PROJECT_DIR / "domains")
# Options this test adds, none of which the compose file sets: small exports, quick scheduling, one
# parse of each DAG file, and a Celery queue of its own on the machine's shared Redis.
SAMPLE = {"MESH_SAMPLE_SIZE": "1000", "MESH_SAMPLE_DAYS": "2"}
QUICK = {
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "600",
    "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"mesh-test-{uuid.uuid4().hex[:8]}",
}
RUN_TIMEOUT = 900  # a cap for a loaded machine: a run under ~10 load on 2 cores took ~480 s


def _dotenv() -> dict[str, str]:
    """A user's .env: .env.example with every change-me-* placeholder replaced by a fresh secret."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key] = secrets.token_urlsafe(24) if value.startswith("change-me") else value
    return {**values, **SAMPLE}


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _tails(services: list[LocalService]) -> str:
    return "\n\n".join(service.tail() for service in services)


@pytest.fixture(scope="module")
def metadata_copies(new_database, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Machine]:
    """airflow-init run once, as compose runs it; then one machine per executor, each with its own
    copy of the migrated metadata database."""
    metadata = new_database()
    machine = Machine(
        project_dir=PROJECT_DIR,
        volumes={"mesh-home": tmp_path_factory.mktemp("mesh-home")},
        databases={"mesh": new_database(), "airflow": metadata},
        variables=_dotenv(),
        settings=QUICK,
    )
    init = local_service(COMPOSE, INIT, machine, tmp_path_factory.mktemp("logs-init"))
    started = time.monotonic()
    code = init.run_to_completion(timeout=600)
    print(f"\n{INIT}: exit {code} after {time.monotonic() - started:.1f} s")
    assert code == 0, f"{INIT} failed: `{shlex.join(init.argv)}`\n{init.tail(80)}"
    copies = {EXECUTORS[0]: machine}
    for executor in EXECUTORS[1:]:
        copy = new_database(template=_database_name(metadata))
        copies[executor] = replace(machine, databases={**machine.databases, "airflow": copy})
    return copies


@dataclass
class Stack:
    executor: str
    services: list[LocalService]
    base_url: str
    airflow_home: Path

    def api(self) -> Api:
        return Api(self.base_url).log_in("admin", password_of(self.airflow_home, "admin"))


@pytest.fixture(scope="module", params=EXECUTORS)
def stack(
    request: pytest.FixtureRequest, metadata_copies: dict[str, Machine], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The long-running Airflow services of the compose file as local processes, started in the
    order of their depends_on; stopped (whole process groups) at the end."""
    executor = request.param
    if executor == "CeleryExecutor" and not _redis_answers():
        pytest.skip("no Redis answers on 127.0.0.1:6379: the CeleryExecutor stack needs one as its broker")
    machine = metadata_copies[executor]
    settings = {**machine.settings}
    names = LONG_RUNNING
    if executor != "CeleryExecutor":
        settings["AIRFLOW__CORE__EXECUTOR"] = executor
        names = [name for name in LONG_RUNNING if name not in CELERY_ONLY]
    machine = replace(machine, settings=settings, ports=fresh_ports())
    logs = tmp_path_factory.mktemp(f"logs-{executor}")
    services = [local_service(COMPOSE, name, machine, logs) for name in names]
    try:
        never = start_in_order(services, done={INIT}, timeout=240)
        assert not never, f"never started: {[s.name for s in never]}\n{_tails(services)}"
        api_server = next(s for s in services if s.name == API_SERVER)
        yield Stack(executor, services, f"http://127.0.0.1:{machine.ports[8080]}", Path(api_server.env["AIRFLOW_HOME"]))
    finally:
        stop_all(services)


def test_every_service_of_the_compose_file_turns_healthy(stack: Stack) -> None:
    """Each service's own healthcheck, translated like its command, passes: a wrong command, a
    missing variable or a bad healthcheck fails here, naming the service and showing its log."""
    unhealthy = wait_healthy(stack.services, timeout=240)
    assert not unhealthy, "\n\n".join(
        f"{service.name}: healthcheck `{shlex.join(service.healthcheck)}` did not pass "
        f"(process {'exited ' + str(service.process.returncode) if service.process and service.process.poll() is not None else 'running'})\n"
        + service.tail()
        for service in unhealthy
    )


# ---------------------------------------------------------------------------------------------
# the mesh on the real scheduler, through the REST API

DAG_OF = {d.name: f"domain_{d.name}" for d in DOMAINS}
ROOTS = [DAG_OF[d.name] for d in DOMAINS if not d.upstream]  # read no other domain
DOWNSTREAM = [DAG_OF[d.name] for d in DOMAINS if d.upstream]  # also run on the Assets they read
UPSTREAM_OF = {DAG_OF[d.name]: [DAG_OF[u] for u in d.upstream] for d in DOMAINS}


@dataclass
class MeshRun:
    runs: list[dict]
    seconds: float


def _wait_for_dags(api: Api, stack: Stack) -> None:
    """Until the dag-processor has parsed every domain DAG (an import error fails at once)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        errors = api.import_errors()
        assert not errors, "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in errors) + _tails(stack.services)
        if api.dags().keys() >= {*ROOTS, *DOWNSTREAM}:
            return
        time.sleep(2)
    pytest.fail(f"DAGs {sorted({*ROOTS, *DOWNSTREAM} - api.dags().keys())} never appeared\n{_tails(stack.services)}")


def _built(api: Api, runs: list[dict], dag_id: str) -> bool:
    """A run of the DAG has built its products: every dbt task succeeded (they publish next)."""
    for run in runs:
        if run["dag_id"] == dag_id and run["state"] in ("running", "success"):
            dbt = [
                ti["state"] for ti in api.task_instances(dag_id, run["dag_run_id"]) if ti["task_id"].startswith("dbt.")
            ]
            if dbt and all(state == "success" for state in dbt):
                return True
    return False


def _settled(runs: list[dict]) -> bool:
    """Every domain DAG has succeeded, each downstream one also in a run its upstream's Asset event
    started, and nothing is left queued or running."""
    succeeded = {(run["dag_id"], run["run_type"]) for run in runs if run["state"] == "success"}
    return (
        all((dag_id, "manual") in succeeded for dag_id in ROOTS)
        and all((dag_id, "asset_triggered") in succeeded for dag_id in DOWNSTREAM)
        and not [run for run in runs if run["state"] in ("queued", "running")]
    )


@pytest.fixture(scope="module")
def mesh_run(stack: Stack) -> MeshRun:
    """The mesh started as a user starts it through the REST API on a fresh stack: trigger each
    domain that reads no other (the run its timetable has due, so the scheduler adds no second
    one) and unpause it; unpause a downstream domain once its upstreams have built their products
    (before that, its due run could only fail). Its due run then reads them, and the upstream's
    publish starts another by its Asset event. Wait until all has settled; a failed run fails at
    once with its failed tasks' logs and the end of every service's log."""
    api_server = [service for service in stack.services if service.name == API_SERVER]
    assert not wait_healthy(api_server, timeout=240), _tails(stack.services)
    api = stack.api()
    _wait_for_dags(api, stack)
    started = time.monotonic()
    for dag_id in ROOTS:
        api.trigger(dag_id, logical_date=api.dag(dag_id)["next_dagrun_logical_date"])
        api.unpause(dag_id)
    paused = list(DOWNSTREAM)
    runs: list[dict] = []
    while time.monotonic() - started < RUN_TIMEOUT:
        runs = api.runs()
        failed = [run for run in runs if run["state"] == "failed"]
        assert not failed, "\n".join(api.failures(run) for run in failed) + "\n\n" + _tails(stack.services)
        for dag_id in list(paused):
            if all(_built(api, runs, upstream) for upstream in UPSTREAM_OF[dag_id]):
                api.unpause(dag_id)
                paused.remove(dag_id)
        if not paused and _settled(runs):
            break
        time.sleep(1)
    else:
        summary = [(r["dag_id"], r["run_type"], r["state"]) for r in runs]
        pytest.fail(f"the mesh did not settle in {RUN_TIMEOUT} s: {summary}\n{_tails(stack.services)}")
    seconds = time.monotonic() - started
    print(f"\n{stack.executor}: the mesh settled {seconds:.1f} s after the trigger")
    return MeshRun(runs, seconds)


def test_the_mesh_runs_on_the_scheduler(mesh_run: MeshRun) -> None:
    """Every domain's DAG succeeded: the upstream ones as triggered, each downstream one also in a
    run its upstream's publish started (an Asset event), not only on its timetable; no run failed."""
    by_dag: dict[str, list[tuple[str, str]]] = {}
    for run in mesh_run.runs:
        by_dag.setdefault(run["dag_id"], []).append((run["run_type"], run["state"]))
    for dag_id in ROOTS:
        assert ("manual", "success") in by_dag[dag_id], by_dag
    for dag_id in DOWNSTREAM:
        assert ("asset_triggered", "success") in by_dag[dag_id], by_dag
    assert all(state == "success" for runs in by_dag.values() for _, state in runs), by_dag


# ---------------------------------------------------------------------------------------------
# the UI in a real browser

UI_EXECUTOR = "LocalExecutor"  # once is enough: the UI does not depend on the executor
SCREENSHOTS = os.environ.get("MESH_UI_SCREENSHOTS")  # e.g. docs/images: where the README's come from


@needs_chromium
def test_the_grid_of_each_domain_shows_its_task_groups(mesh_run: MeshRun, stack: Stack, tmp_path: Path) -> None:
    """Log in with the documented credentials and open each domain DAG's grid after the run: every
    task and task group of the run (as the REST API lists its task instances) is a row, each group
    with its toggle. Screenshots go to tmp_path, and to $MESH_UI_SCREENSHOTS when set (the README's)."""
    if stack.executor != UI_EXECUTOR:
        pytest.skip(f"the UI is checked once, on the {UI_EXECUTOR} stack")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    api = stack.api()
    with chromium(1600, 1100) as browser, page_shown_on_failure(browser, tmp_path):
        wait = WebDriverWait(browser, 120)
        log_in(browser, stack.base_url, "admin", password_of(stack.airflow_home, "admin"))
        wait.until(ec.presence_of_element_located((By.XPATH, "//*[normalize-space()='Welcome']")))
        for dag_id in ROOTS + DOWNSTREAM:
            run = next(r for r in mesh_run.runs if r["dag_id"] == dag_id and r["state"] == "success")
            task_ids = [ti["task_id"] for ti in api.task_instances(dag_id, run["dag_run_id"])]
            groups = sorted({task_id.split(".")[0] for task_id in task_ids if "." in task_id})
            browser.get(f"{stack.base_url}/dags/{dag_id}")
            wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[aria-label='Collapse Details Panel']"))).click()
            for name in sorted({task_id.split(".")[0] for task_id in task_ids}):  # a row per task and group
                wait.until(ec.presence_of_element_located((By.XPATH, f"//*[normalize-space()='{name}']")))
            toggles = browser.find_elements(By.CSS_SELECTOR, "[aria-label='Toggle group']")
            assert len(toggles) >= len(groups) >= 2, (dag_id, groups, len(toggles))
            shot = f"airflow-grid-{dag_id.removeprefix('domain_')}.png"
            browser.save_screenshot(str(tmp_path / shot))
            if SCREENSHOTS:
                shutil.copyfile(tmp_path / shot, Path(SCREENSHOTS) / shot)
