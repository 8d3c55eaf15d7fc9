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

import secrets
import shlex
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from airflow_rest import Api, password_of
from compose_local import (
    LocalService,
    Machine,
    fresh_ports,
    load,
    local_service,
    start_in_order,
    wait_healthy,
)
from paths import PROJECT_DIR

from meshplatform.domains import discover

pytestmark = pytest.mark.e2e

COMPOSE = load(PROJECT_DIR / "docker-compose.yml")
ENV_EXAMPLE = PROJECT_DIR / ".env.example"
INIT = "airflow-init"
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
RUN_TIMEOUT = 480


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
        api_server = next(s for s in services if s.env.get("AIRFLOW__API__PORT"))
        yield Stack(
            executor,
            services,
            f"http://127.0.0.1:{api_server.env['AIRFLOW__API__PORT']}",
            Path(api_server.env["AIRFLOW_HOME"]),
        )
    finally:
        for service in reversed(services):
            service.stop()


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
