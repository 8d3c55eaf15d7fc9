"""docker-compose.yml's Airflow services as local processes: the file is the one truth of what the
stack runs, here and in Docker.

Each service's `entrypoint` + `command`, `environment` and `healthcheck` come from the compose file
(compose interpolation of `${VAR...}` with the given variables, `$$` unescaped) and are translated
for this machine, standing in for what Docker provides:

- hosts: a URL naming a compose service points at this machine: a database URL at the test's
  Postgres server (its credentials, the test's database for each compose database), any other
  service (redis, airflow-apiserver) at 127.0.0.1;
- paths: a container path inside a mount maps to the mount's source (bind mounts to the checkout,
  a named volume to a local folder); the rest of /opt/mesh to the checkout, which the image mirrors;
- ports: every container has its own network, here all share one, so each container port an
  Airflow component listens on gets a free local port, set through the option that chooses it
  (`PORT_OPTIONS`); `localhost:<port>` in a healthcheck follows;
- the host name: Docker sets HOSTNAME, and in a container the fully qualified name Airflow records
  for its jobs is that same name; here Airflow is told to record `socket.gethostname()`, HOSTNAME.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

IMAGE_ROOT = "/opt/mesh"  # platform/Dockerfile's WORKDIR: the repository root in the image
BIN = Path(sys.executable).parent
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<netloc>[^/\s\"']*)(?P<path>/[^\s\"'?#]*)?")
# container port -> (host option, port option) of the Airflow component listening on it
PORT_OPTIONS = {
    8080: ("AIRFLOW__API__HOST", "AIRFLOW__API__PORT"),
    8974: (
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT",
    ),
    5555: ("AIRFLOW__CELERY__FLOWER_HOST", "AIRFLOW__CELERY__FLOWER_PORT"),
    8793: (None, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"),
    8794: (None, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"),
}


# ---------------------------------------------------------------------------------------------
# reading the compose file


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose-style interpolation of ${VAR}, ${VAR:-default}, ${VAR:?err}; `$$` is a literal `$`."""

    def replace(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        current = env.get(name)
        if op in (":-", "-"):
            return current if current not in (None, "") or (op == "-" and current is not None) else arg
        if op in (":?", "?") and not current:
            raise AssertionError(f"required variable {name} is not set: {arg}")
        return current or ""

    placeholder = "\0"
    return REFERENCE.sub(replace, value.replace("$$", placeholder)).replace(placeholder, "$")


def environment(service: dict) -> dict[str, str]:
    """A service's `environment`, map or list syntax, as strings (not interpolated)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def depends_on(service: dict) -> dict[str, str]:
    """A service's `depends_on` as {service: condition}."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def mounts(service: dict) -> list[dict]:
    """The service's volumes as {source, target, kind, read_only}, short (`src:dst[:ro]`) or long syntax."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source, target = str(volume.get("source", "")), str(volume["target"])
            kind = volume.get("type", "volume")
            read_only = bool(volume.get("read_only", False))
        else:
            source, target, *options = str(volume).split(":")
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            read_only = "ro" in ",".join(options).split(",")
        found.append({"source": source, "target": target, "kind": kind, "read_only": read_only})
    return found


def healthcheck_argv(service: dict) -> list[str]:
    """The healthcheck `test` as an argv (CMD-SHELL runs through /bin/sh -c, as Docker does)."""
    test = as_list((service.get("healthcheck") or {}).get("test"))
    if not test:
        return []
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", " ".join(test)]


# ---------------------------------------------------------------------------------------------
# the translation


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_ports() -> dict[int, int]:
    """A free local port for each container port of PORT_OPTIONS."""
    return {port: free_port() for port in PORT_OPTIONS}


@dataclass(frozen=True)
class Machine:
    """What stands in for Docker on this machine."""

    project_dir: Path
    volumes: dict[str, Path]  # named volume -> local folder
    databases: dict[str, str]  # database name in the compose URLs -> local libpq URL (the test server)
    variables: dict[str, str]  # the values a user puts in .env
    settings: dict[str, str] = field(default_factory=dict)  # Airflow options the caller adds, named there
    ports: dict[int, int] = field(default_factory=fresh_ports)

    def url(self, match: re.Match, database_hosts: set[str], services: set[str]) -> str:
        scheme, netloc, path = match["scheme"], match["netloc"], match["path"] or ""
        host_port = netloc.rpartition("@")[2]
        host, _, port = host_port.partition(":")
        if host in database_hosts:
            local = urlsplit(self.databases[path.strip("/")])
            return f"{scheme}://{local.netloc}{local.path}"
        if host in services or host == "localhost":
            userinfo = netloc.rpartition("@")[0]
            local_port = self.ports.get(int(port), int(port)) if port else None
            netloc = (f"{userinfo}@" if "@" in netloc else "") + "127.0.0.1" + (f":{local_port}" if local_port else "")
        return f"{scheme}://{netloc}{path}"

    def path(self, container_path: str, service: dict) -> str:
        """A container path as the local path it stands for."""
        for mount in sorted(mounts(service), key=lambda m: -len(m["target"])):
            target = mount["target"].rstrip("/")
            if container_path == target or container_path.startswith(target + "/"):
                rest = container_path[len(target) :].lstrip("/")
                base = (
                    self.volumes[mount["source"]] if mount["kind"] == "volume" else self.project_dir / mount["source"]
                )
                return str((base / rest).resolve() if rest else base.resolve())
        rest = container_path[len(IMAGE_ROOT) :].lstrip("/")
        return str(self.project_dir / rest)

    def translate(self, value: str, service: dict, compose: dict) -> str:
        services = set(compose["services"])
        database_hosts = {
            name for name, s in compose["services"].items() if str(s.get("image", "")).startswith("postgres")
        }
        value = interpolate(value, self.variables)
        value = URL.sub(lambda m: self.url(m, database_hosts, services), value)
        return re.sub(rf"{re.escape(IMAGE_ROOT)}(?=/|$|[\s\"'])[^\s\"']*", lambda m: self.path(m[0], service), value)


@dataclass
class LocalService:
    """One compose service as a process of this machine."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    healthcheck: list[str]
    depends_on: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def run_to_completion(self, timeout: float) -> int:
        self.start()
        assert self.process
        return self.process.wait(timeout=timeout)

    def healthy(self, timeout: float = 30) -> bool:
        try:
            check = subprocess.run(
                self.healthcheck, check=False, env=self.env, cwd=self.cwd, capture_output=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return False
        return check.returncode == 0

    def stop(self) -> None:
        """SIGTERM to the service's process group (its own children too), SIGKILL after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                return

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return f"--- {self.name} ({self.log}), last {lines} lines:\n" + "\n".join(text.splitlines()[-lines:])


def local_service(compose: dict, name: str, machine: Machine, log_dir: Path) -> LocalService:
    """The compose service `name` translated for this machine."""
    service = compose["services"][name]
    env = {key: machine.translate(value, service, compose) for key, value in environment(service).items()}
    for port, (host_option, port_option) in PORT_OPTIONS.items():
        env[port_option] = str(machine.ports[port])
        if host_option:
            env[host_option] = "127.0.0.1"
    env.update(
        PATH=f"{BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        HOME=str(log_dir / "home"),
        LANG="C.UTF-8",
        PYTHONUNBUFFERED="1",
        HOSTNAME=socket.gethostname(),
        AIRFLOW__CORE__HOSTNAME_CALLABLE="socket.gethostname",
        **machine.settings,
    )
    (log_dir / "home").mkdir(parents=True, exist_ok=True)
    argv = [machine.translate(part, service, compose) for part in as_list(service.get("entrypoint"))]
    argv += [machine.translate(part, service, compose) for part in as_list(service.get("command"))]
    check = [machine.translate(part, service, compose) for part in healthcheck_argv(service)]
    return LocalService(name, argv, env, machine.project_dir, check, depends_on(service), log_dir / f"{name}.log")


def load(compose_file: Path) -> dict:
    return yaml.safe_load(compose_file.read_text())


def wait_healthy(services: list[LocalService], timeout: float) -> list[LocalService]:
    """Run each service's healthcheck (all at once, each again a second after it failed) until it
    passes; returns those that did not within `timeout`, or whose process ended."""
    deadline = time.monotonic() + timeout

    def until_healthy(service: LocalService) -> bool:
        while time.monotonic() < deadline:
            if service.process is not None and service.process.poll() is not None:
                return False
            if service.healthy():
                return True
            time.sleep(1)
        return False

    with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
        passed = list(pool.map(until_healthy, services))
    return [service for service, ok in zip(services, passed, strict=True) if not ok]


def stop_all(services: list[LocalService]) -> None:
    """Stop every service at once (each waits for its own process group)."""
    with ThreadPoolExecutor(max_workers=max(1, len(services))) as pool:
        list(pool.map(LocalService.stop, services))


def start_in_order(services: list[LocalService], done: set[str], timeout: float) -> list[LocalService]:
    """Start the services as compose does: each once the services it depends on are started,
    healthy or completed, as its `depends_on` asks. A dependency not among `services` is in `done`
    (completed, like airflow-init) or provided by this machine (postgres, redis). Returns the
    services that never started (a dependency never turned healthy)."""
    local = {service.name for service in services}
    healthy: set[str] = set()
    pending = list(services)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for service in list(pending):
            met = all(
                (name not in local and (condition != "service_completed_successfully" or name in done))
                or (condition == "service_started" and name not in (s.name for s in pending))
                or (condition == "service_healthy" and name in healthy)
                for name, condition in service.depends_on.items()
            )
            if met:
                service.start()
                pending.remove(service)
        awaited = {name for s in pending for name, c in s.depends_on.items() if c == "service_healthy"}
        for service in services:
            if service.name in awaited and service.name not in healthy and service.process and service.healthy():
                healthy.add(service.name)
        if pending:
            time.sleep(1)
    return pending
