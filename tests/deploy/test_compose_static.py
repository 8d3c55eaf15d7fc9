"""Static checks of the container stack: docker-compose.yml, platform/Dockerfile, the init SQL.

No Docker engine exists on the development machines, so the stack cannot be started here. These
tests keep it honest instead: every service the design needs exists and is health-checked, the
start order is expressed with depends_on conditions, every `mesh ...` / `airflow ...` command a
container runs is a real command of the installed CLIs, the image installs exactly what the
Makefile installs, mounted paths exist, and no secret is committed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from compose_local import REFERENCE, as_list, depends_on, environment, interpolate
from compose_local import mounts as mounts_of
from paths import PROJECT_DIR as ROOT

from meshplatform.config import TELEMETRY_OFF

COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "platform" / "Dockerfile"
MAKEFILE = ROOT / "Makefile"
LOCK = ROOT / "platform" / "requirements.lock"
ENV_EXAMPLE = ROOT / ".env.example"
INIT_SQL = ROOT / "platform" / "docker" / "initdb" / "01-databases.sh"

# role -> service name in docker-compose.yml
REQUIRED_SERVICES = {
    "postgres": "postgres",
    "broker": "redis",
    "api-server": "airflow-apiserver",
    "scheduler": "airflow-scheduler",
    "dag-processor": "airflow-dag-processor",
    "triggerer": "airflow-triggerer",
    "worker": "airflow-worker",
    "init": "airflow-init",
    "flower": "flower",
}
INIT = REQUIRED_SERVICES["init"]
BACKING = ("postgres", "redis")  # the services Airflow's own wait for
LONG_RUNNING = [name for role, name in REQUIRED_SERVICES.items() if role != "init"]
AIRFLOW_SERVICES = [name for name in REQUIRED_SERVICES.values() if name not in BACKING]
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|FERNET|(^|_)KEY$|PRIVATE", re.IGNORECASE)
# a value that is nothing but a reference to the environment: ${VAR}, ${VAR:?msg}, ${VAR?msg}, ${VAR:-}
PURE_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?\?[^}]*)|:?-)?\}$")


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _simple_commands(script: str) -> list[list[str]]:
    """Split a shell script into its simple commands (argv lists), dropping `exec` and VAR=x prefixes."""
    commands: list[list[str]] = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        for token in [*list(lexer), ";"]:
            if token and set(token) <= set(";&|()"):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(token)
    cleaned = []
    for argv in commands:
        while argv and (argv[0] in ("exec", "command", "time") or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0])):
            argv = argv[1:]
        if argv:
            cleaned.append(argv)
    return cleaned


def _argv_lists(entrypoint: list[str], command: list[str]) -> list[list[str]]:
    """What a container runs, as argv lists of simple commands (a `sh -c SCRIPT` is looked into)."""
    full = [interpolate(part, _env_example()) for part in entrypoint + command]
    if not full:
        return []
    if Path(full[0]).name in ("sh", "bash") and "-c" in full:
        script = full[full.index("-c") + 1]
        return _simple_commands(script)
    return [full]


def _service_commands(services: dict) -> dict[str, list[list[str]]]:
    found: dict[str, list[list[str]]] = {}
    for name, service in services.items():
        argvs = _argv_lists(as_list(service.get("entrypoint")), as_list(service.get("command")))
        test = (service.get("healthcheck") or {}).get("test")
        if isinstance(test, list) and test:
            if test[0] == "CMD-SHELL":
                argvs += _simple_commands(" ".join(test[1:]).replace("$$", "$"))
            elif test[0] == "CMD":
                argvs.append([t.replace("$$", "$") for t in test[1:]])
        elif isinstance(test, str):
            argvs += _simple_commands(test.replace("$$", "$"))
        found[name] = argvs
    return found


def _tool_commands(services: dict, tool: str) -> list[tuple[str, list[str]]]:
    return [
        (name, argv)
        for name, argvs in _service_commands(services).items()
        for argv in argvs
        if Path(argv[0]).name == tool
    ]


def _mount_of(mounts: list[dict], path: str) -> dict | None:
    """The mount a container path lives in (the deepest target containing it), or None."""
    containing = [m for m in mounts if Path(path) == Path(m["target"]) or Path(m["target"]) in Path(path).parents]
    return max(containing, key=lambda m: len(Path(m["target"]).parts), default=None)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions, buffer = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        keyword, _, args = buffer.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        buffer = ""
    return instructions


def _dockerfile_text_resolved() -> str:
    """All Dockerfile instructions with ARG defaults substituted (so pins held in ARGs count)."""
    instructions = _dockerfile_instructions()
    args = {}
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip().strip('"')
    text = "\n".join(f"{k} {v}" for k, v in instructions)
    for key, value in args.items():
        text = text.replace("${" + key + "}", value).replace("$" + key, value)
    return text


# ---------------------------------------------------------------------------------------------
# services, healthchecks, start order


def test_required_services_exist(services: dict) -> None:
    missing = [name for name in REQUIRED_SERVICES.values() if name not in services]
    assert not missing, f"docker-compose.yml lacks services: {missing}"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_have_healthchecks(services: dict, name: str) -> None:
    check = services[name].get("healthcheck")
    assert check, f"{name} has no healthcheck"
    assert not check.get("disable"), f"{name} disables its healthcheck"
    test = check.get("test")
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, (name, test)
    assert services[name].get("restart") in ("always", "unless-stopped", "on-failure"), name


def test_init_is_a_one_shot_that_gates_the_airflow_services(services: dict) -> None:
    init = services[INIT]
    assert str(init.get("restart", "no")).lower() in ("no", "false"), "airflow-init must run once"
    for name in LONG_RUNNING:
        if name in BACKING:
            continue
        assert depends_on(services[name]).get(INIT) == "service_completed_successfully", (
            f"{name} must wait for {INIT} to complete successfully"
        )


def test_airflow_services_wait_for_a_healthy_postgres_and_redis(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        for backing in BACKING:
            assert depends_on(services[name]).get(backing) == "service_healthy", (name, backing)


def test_workers_start_once_the_api_server_is_healthy(services: dict) -> None:
    """Tasks report to the API server's execution API: a worker is useless before it answers."""
    assert depends_on(services["airflow-worker"]).get("airflow-apiserver") == "service_healthy"


def test_flower_is_optional(services: dict) -> None:
    """Flower starts only with `--profile flower`; the core services have no profile."""
    assert services["flower"].get("profiles") == ["flower"]
    assert not [name for name in REQUIRED_SERVICES.values() if name != "flower" and services[name].get("profiles")]


def test_depends_on_targets_exist_and_support_their_condition(services: dict) -> None:
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert condition in ("service_started", "service_healthy", "service_completed_successfully")
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), (
                    f"{name} waits for {target} to be healthy; it has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") in ("no", False), f"{target} never completes"


def test_depends_on_has_no_cycle(services: dict) -> None:
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        assert state.get(name) != "active", f"depends_on cycle: {' -> '.join([*path, name])}"
        state[name] = "active"
        for target in depends_on(services[name]):
            visit(target, [*path, name])
        state[name] = "done"

    for name in services:
        visit(name, [])


def test_services_run_the_documented_commands(services: dict) -> None:
    commands = _service_commands(services)
    expected = {
        "airflow-apiserver": ["airflow", "api-server"],
        "airflow-scheduler": ["airflow", "scheduler"],
        "airflow-dag-processor": ["airflow", "dag-processor"],
        "airflow-triggerer": ["airflow", "triggerer"],
        "airflow-worker": ["airflow", "celery", "worker"],
        "flower": ["airflow", "celery", "flower"],
    }
    for name, argv in expected.items():
        assert commands[name] and commands[name][0] == argv, (name, commands[name])
    init = [argv for argv in commands[INIT] if argv[0] in ("airflow", "mesh")]
    # order matters: the metadata DB first, then the exports, then the manifests the DAG renders from
    assert [argv[:2] if argv[0] == "mesh" else argv for argv in init[:4]] == [
        ["airflow", "db", "migrate"], ["mesh", "generate"], ["mesh", "publish"], ["mesh", "setup"]
    ], init  # fmt: skip


def test_init_script_stops_at_the_first_failure(services: dict) -> None:
    argvs = _argv_lists(as_list(services[INIT].get("entrypoint")), as_list(services[INIT].get("command")))
    assert argvs, "airflow-init runs nothing"
    first = argvs[0]
    assert first[0] == "set" and any(flag.startswith("-") and "e" in flag for flag in first[1:]), (
        f"airflow-init must begin with `set -e...` so a failed step fails the service: {first}"
    )


# ---------------------------------------------------------------------------------------------
# every `mesh ...` / `airflow ...` command exists


def test_mesh_commands_exist_in_the_cli(services: dict) -> None:
    commands = _tool_commands(services, "mesh")
    assert commands, "no service runs a `mesh` command (airflow-init must run generate and publish)"
    from meshplatform.cli import build_parser

    parser = build_parser()
    for service, argv in commands:
        try:
            parser.parse_args(argv[1:])
        except SystemExit as exc:  # argparse rejects unknown subcommands/options with exit 2
            pytest.fail(f"{service} runs `{shlex.join(argv)}`, which the mesh CLI rejects (exit {exc.code})")


def test_airflow_commands_exist_in_the_cli(services: dict, tmp_path: Path) -> None:
    commands = _tool_commands(services, "airflow")
    assert len(commands) >= 5, commands
    dockerfile_cmd = [
        json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        for keyword, rest in _dockerfile_instructions()
        if keyword in ("CMD", "ENTRYPOINT")
    ]
    commands += [("Dockerfile CMD", argv) for argv in dockerfile_cmd if argv and argv[0] == "airflow"]
    script = textwrap.dedent(
        """
        import contextlib, io, json, sys
        from airflow.cli.cli_parser import get_parser
        parser = get_parser()
        results = []
        for argv in json.loads(sys.argv[1]):
            sink = io.StringIO()
            try:
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    parser.parse_args(argv)
                results.append(None)
            except SystemExit as exc:
                results.append(f"exit {exc.code}: {sink.getvalue().strip().splitlines()[-1:]}")
        print("RESULTS=" + json.dumps(results))
        """
    )
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **TELEMETRY_OFF,
    }
    argvs = [argv[1:] for _, argv in commands]
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(argvs)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS=")]
    assert proc.returncode == 0 and lines, f"could not load the airflow CLI parser:\n{proc.stderr[-3000:]}"
    results = json.loads(lines[-1].removeprefix("RESULTS="))
    bad = [
        f"{service}: `{shlex.join(argv)}` -> {error}"
        for (service, argv), error in zip(commands, results, strict=False)
        if error
    ]
    assert not bad, "commands the airflow CLI rejects:\n" + "\n".join(bad)


# ---------------------------------------------------------------------------------------------
# environment, databases, mounts


def test_airflow_environment(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        env = environment(services[name])
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name
        broker = urlsplit(interpolate(env["AIRFLOW__CELERY__BROKER_URL"], _env_example()))
        assert broker.scheme == "redis" and broker.hostname == "redis", f"{name}: the broker is the redis service"
        assert env.get("AIRFLOW__CORE__DAGS_FOLDER") == "/opt/mesh/dags", name
        assert env.get("MESH_HOME") == "/opt/mesh/.mesh", name
        assert env.get("MESH_DATABASE_URL"), f"{name}: MESH_DATABASE_URL must point at the compose Postgres"
        assert env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"), name
        # the image and compose are self-contained: they repeat the platform's TELEMETRY_OFF
        for key, value in TELEMETRY_OFF.items():
            assert env.get(key) == value, f"{name}: {key} must be {value!r} (meshplatform.config.TELEMETRY_OFF)"
        # the DAGs folder Airflow reads must be where dags/ is mounted
        targets = {str(v).split(":")[1] for v in services[name].get("volumes", []) if isinstance(v, str) and ":" in v}
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] in targets, f"{name}: dags/ not mounted at the DAGs folder"
        assert env["MESH_HOME"] in targets, f"{name}: MESH_HOME must be a shared volume"


def test_database_urls_point_at_databases_the_init_sql_creates(services: dict) -> None:
    created = {m.lower() for m in re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", INIT_SQL.read_text(), re.IGNORECASE)}
    assert {"airflow", "mesh"} <= created, created
    env_values = _env_example()
    for name in AIRFLOW_SERVICES:
        env = environment(services[name])
        for key, scheme in (("MESH_DATABASE_URL", "postgresql"), ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql")):
            url = urlsplit(interpolate(env[key], env_values))
            assert url.scheme.split("+")[0] == scheme, (name, key, url.scheme)
            assert url.hostname in services, f"{name}: {key} host {url.hostname!r} is not a compose service"
            assert url.path.lstrip("/") in created, f"{name}: {key} names a database the init SQL does not create"
            assert url.username and url.password, f"{name}: {key} lacks credentials"
        warehouse = urlsplit(interpolate(env["MESH_DATABASE_URL"], env_values)).path.lstrip("/")
        metadata = urlsplit(interpolate(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], env_values)).path.lstrip("/")
        assert warehouse == "mesh" and metadata != warehouse, (warehouse, metadata)
        # Celery keeps task results in the metadata DB, as the same user
        results = urlsplit(interpolate(env["AIRFLOW__CELERY__RESULT_BACKEND"], env_values).removeprefix("db+"))
        sql = urlsplit(interpolate(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], env_values))
        assert (results.hostname, results.username, results.path) == (sql.hostname, sql.username, sql.path), name


def test_postgres_is_16_and_runs_the_init_sql(services: dict) -> None:
    pg = services["postgres"]
    assert pg["image"] == "postgres:16"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in pg.get("volumes", []) if isinstance(v, str)}
    source = mounts.get("/docker-entrypoint-initdb.d")
    assert source, "the init SQL directory is not mounted at /docker-entrypoint-initdb.d"
    assert (ROOT / source).resolve() == INIT_SQL.parent.resolve()


def test_mounted_paths_and_build_context_exist(compose: dict) -> None:
    named = set((compose.get("volumes") or {}).keys())
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            if isinstance(volume, dict):
                source, kind = volume.get("source", ""), volume.get("type", "volume")
            else:
                source = volume.split(":")[0]
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            if kind == "bind":
                assert (ROOT / source).resolve().exists(), f"{name} mounts {source}, which is not in the repo"
            else:
                assert source in named, f"{name} uses named volume {source!r} that is not declared"
        build = service.get("build")
        if build:
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = context / ("Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile"))
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert dockerfile.resolve() == DOCKERFILE.resolve(), f"{name} must build from platform/Dockerfile"
    airflow_mounts = {v.split(":")[0] for v in compose["services"][INIT].get("volumes", []) if isinstance(v, str)}
    assert {"./domains", "./platform/dbt", "./contracts", "./dags"} <= airflow_mounts, airflow_mounts


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_repository_code_is_mounted_read_only(services: dict, name: str) -> None:
    """domains/, platform/dbt, contracts/ and dags/ are read-only in the containers; the only writable
    mount is MESH_HOME.

    The containers run as AIRFLOW_UID (default 50000), which cannot write a host checkout anyway:
    a service that writes there (dbt's target/ or logs/) fails at start-up. `:ro` makes that
    impossible to miss, on every host.
    """
    mounts = mounts_of(services[name])
    by_source = {m["source"]: m for m in mounts}
    for source in ("./domains", "./platform/dbt", "./contracts", "./dags"):
        assert source in by_source, f"{name} does not mount {source}"
        assert by_source[source]["read_only"], f"{name} must mount {source} read-only (`:ro`)"
    writable = [m for m in mounts if not m["read_only"]]
    home = environment(services[name])["MESH_HOME"]
    assert all(m["kind"] == "volume" for m in writable), f"{name}: writable bind mounts {writable}"
    assert [m["target"] for m in writable] == [home], f"{name}: only MESH_HOME ({home}) may be writable: {writable}"


def test_mesh_publish_writes_dbt_artifacts_to_mesh_home(services: dict, tmp_path: Path, monkeypatch) -> None:
    """`mesh publish` (run by airflow-init) installs the domain's dbt packages and parses with dbt's
    dbt_packages/, target/ and logs/ under MESH_HOME, reads the manifest from there, and runs in the
    domain folder (dbt-loom finds its config relative to it; the local package path is relative to it).

    The container's settings are reproduced from the compose file; dbt and the copy are intercepted
    (no container, no write outside tmp_path).
    """
    from meshplatform.config import Settings
    from meshplatform.dbt import registry
    from meshplatform.domains import Domain, discover
    from meshplatform.warehouse.connection import ConnectionInfo

    env = environment(services[INIT])
    mounts = mounts_of(services[INIT])
    home = Path(env["MESH_HOME"])
    domains_mount = next(m for m in mounts if m["source"] == "./domains")
    # the image's layout: /opt/mesh mirrors the repository root (the Dockerfile's WORKDIR)
    project = Path(domains_mount["target"]).parent
    settings = Settings(
        project_dir=project, home=home, registry_dir=tmp_path / "registry",
        database_url=env["MESH_DATABASE_URL"], embedded_port=55432,
    )  # fmt: skip
    info = ConnectionInfo("postgres", 5432, "postgres", "x", "mesh")
    # a user's DBT_TARGET_PATH / DBT_LOG_PATH must not send the artifacts elsewhere
    monkeypatch.setenv("DBT_TARGET_PATH", str(Path(domains_mount["target"]) / "users" / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(Path(domains_mount["target"]) / "users" / "logs"))

    class Stop(Exception):
        pass

    calls: list[dict] = []

    def fake_run(command, cwd=None, env=None, **kwargs):
        calls.append({"command": command, "cwd": Path(cwd), "env": env})
        return subprocess.CompletedProcess(command, 0, "", "")

    def fake_copy(source, destination):
        calls[-1]["manifest"] = Path(source)
        raise Stop

    monkeypatch.setattr(registry.subprocess, "run", fake_run)
    monkeypatch.setattr(registry.shutil, "copyfile", fake_copy)

    for repo_domain in discover(ROOT / "domains"):
        container_path = Path(domains_mount["target"]) / repo_domain.path.name
        domain = Domain(repo_domain.name, container_path, repo_domain.upstream)
        for upstream in domain.upstream:  # upstream manifests already published
            (settings.registry_dir / upstream).mkdir(parents=True, exist_ok=True)
            (settings.registry_dir / upstream / "manifest.json").write_text("{}")
        with pytest.raises(Stop):
            registry.publish(domain, settings, info)
        deps, call = calls[-2:]
        command = call["command"]
        assert call["cwd"] == deps["cwd"] == domain.path, (
            "dbt must run in the domain folder (dbt-loom reads dbt_loom.config.yml there)"
        )
        # dbt deps first: its packages-install-path ($MESH_DBT_DIR/<domain>/dbt_packages) and log are on the volume
        assert "deps" in deps["command"] and "parse" in command, (deps["command"], command)
        packages = Path(deps["env"]["MESH_DBT_DIR"]) / domain.name / "dbt_packages"
        deps_log = Path(deps["command"][deps["command"].index("--log-path") + 1])
        for path in (packages, deps_log):
            mount = _mount_of(mounts, str(path))
            assert home in path.parents and mount and not mount["read_only"], f"{domain.name}: dbt deps writes {path}"
        assert call["env"]["MESH_DBT_DIR"] == deps["env"]["MESH_DBT_DIR"]
        outputs = {}
        for flag in ("--target-path", "--log-path"):
            assert flag in command, f"mesh publish must pass {flag}: {command}"
            outputs[flag] = Path(command[command.index(flag) + 1])
        for flag, path in outputs.items():
            mount = _mount_of(mounts, str(path))
            assert home in path.parents, f"{domain.name}: dbt {flag} {path} is not under MESH_HOME {home}"
            assert mount and not mount["read_only"] and mount["target"] == str(home), (
                f"{domain.name}: dbt {flag} {path} is not on the writable MESH_HOME volume"
            )
        assert call["manifest"] == outputs["--target-path"] / "manifest.json", (
            f"{domain.name}: publish must read the manifest dbt wrote: {call['manifest']}"
        )


# ---------------------------------------------------------------------------------------------
# the image


def test_dockerfile_base_image() -> None:
    froms = [rest for keyword, rest in _dockerfile_instructions() if keyword == "FROM"]
    assert froms and froms[0].split()[0] == "python:3.11-slim", froms


def test_dockerfile_installs_like_the_makefile() -> None:
    make_pins = set(re.findall(r"\buv==([0-9][\w.]*)", MAKEFILE.read_text()))
    assert len(make_pins) == 1, f"the Makefile should pin exactly one uv version: {make_pins}"
    docker_text = _dockerfile_text_resolved()
    docker_pins = set(re.findall(r"\buv==([0-9][\w.]*)", docker_text))
    assert docker_pins == make_pins, f"uv pins differ: Dockerfile {docker_pins} vs Makefile {make_pins}"

    make_lock = re.search(r"^LOCK\s*:?=\s*(\S+)", MAKEFILE.read_text(), re.MULTILINE)
    assert make_lock and (ROOT / make_lock.group(1)).resolve() == LOCK.resolve()

    runs = [rest for keyword, rest in _dockerfile_instructions() if keyword == "RUN"]
    lock_installs = [r for r in runs if re.search(r"uv pip install[^&]*-r\s+\S*requirements\.lock", r)]
    assert lock_installs, "the Dockerfile must `uv pip install -r .../requirements.lock`"
    assert any(re.search(r"uv pip install[^&]*--no-deps[^&]*-e\s+\S+", r) for r in runs), (
        "the platform package must be installed like the Makefile: uv pip install --no-deps -e"
    )
    # uv is installed before it is used, and the lock is copied from the repo's platform/requirements.lock
    (pin,) = make_pins
    first_uv_use = next(i for i, r in enumerate(runs) if "uv pip install" in r)
    assert any(re.search(rf"pip install[^&]*\buv=={re.escape(pin)}\b", r) for r in runs[: first_uv_use + 1]), (
        "uv must be installed (pinned) before the first `uv pip install`"
    )
    context = DOCKERFILE.parent
    copies = [rest.split() for keyword, rest in _dockerfile_instructions() if keyword == "COPY"]
    copied_sources = {(context / src).resolve() for parts in copies for src in parts[:-1] if not src.startswith("--")}
    assert LOCK.resolve() in copied_sources, "platform/requirements.lock is not copied into the image"
    for src in copied_sources:
        assert src.exists(), f"COPY source {src} does not exist"


def test_dockerfile_turns_telemetry_off_like_the_platform() -> None:
    """The image is self-contained: its ENV repeats meshplatform.config.TELEMETRY_OFF, value for value."""
    env_text = " ".join(rest for keyword, rest in _dockerfile_instructions() if keyword == "ENV")
    env = dict(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", env_text))
    assert {k: env.get(k) for k in TELEMETRY_OFF} == TELEMETRY_OFF


def test_dbt_projects_turn_telemetry_off_without_the_platform() -> None:
    """A plain `dbt build` in a domain folder (no `mesh env`) sends no usage stats either."""
    from meshplatform.domains import discover

    for domain in discover(ROOT / "domains"):
        project = yaml.safe_load((domain.path / "dbt_project.yml").read_text())
        assert project.get("flags", {}).get("send_anonymous_usage_stats") is False, domain.name


def test_dockerfile_bakes_no_secrets() -> None:
    for keyword, rest in _dockerfile_instructions():
        if keyword in ("ENV", "ARG"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)(?==)", rest):
                assert not SECRET_NAME.search(name), (
                    f"Dockerfile {keyword} sets {name}: secrets come from the environment"
                )
        if keyword == "COPY":
            assert ".env" not in rest.split(), "the Dockerfile must not copy .env"


# ---------------------------------------------------------------------------------------------
# secrets


def _walk_strings(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk_strings(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_strings(value, (*path, str(i)))
    elif node is not None:
        yield path, str(node)


def test_no_literal_password_in_compose(compose: dict) -> None:
    for path, value in _walk_strings(compose):
        where = ".".join(path)
        # AIRFLOW__SECRETS__*: where Airflow finds its secrets (a backend class and a file path), no secret
        if SECRET_NAME.search(path[-1]) and not path[-1].isdigit() and not path[-1].startswith("AIRFLOW__SECRETS__"):
            assert value == "" or PURE_REFERENCE.match(value), f"{where} holds a literal secret: {value!r}"
        for match in re.finditer(r"[a-z][a-z0-9+.-]*://([^/@\s]*)@", value):
            userinfo = match.group(1)
            if ":" in userinfo:
                password = userinfo.split(":", 1)[1]
                assert PURE_REFERENCE.match(password), f"{where}: URL carries a literal password"
        for name, op, default in REFERENCE.findall(value):
            if SECRET_NAME.search(name) and op in (":-", "-"):
                assert default == "", f"{where}: secret {name} has a committed default"


def test_required_variables_are_documented_and_env_is_ignored(compose: dict) -> None:
    required = {
        name for _, value in _walk_strings(compose) for name, op, _ in REFERENCE.findall(value) if op in (":?", "?")
    }
    assert required, "compose should require its secrets with ${VAR:?message}"
    documented = _env_example()
    assert not required - documented.keys(), f".env.example lacks {sorted(required - documented.keys())}"
    ignored = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}
    assert ".env" in ignored, ".env must be git-ignored"


# ---------------------------------------------------------------------------------------------
# secrets: placeholders refused, URL-special characters, separate users, localhost only

CHECK = "check-secrets"


def _check_script(services: dict) -> str:
    (script,) = as_list(services[CHECK]["command"])
    return script.replace("$$", "$")


def _run_check(services: dict, values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], **values}
    return subprocess.run(["sh", "-c", _check_script(services)], env=env, capture_output=True, text=True, check=False)


def test_placeholder_secrets_stop_the_stack_naming_the_variable_only(services: dict) -> None:
    example = _env_example()
    checked = environment(services[CHECK])
    placeholders = {k: v for k, v in example.items() if v.startswith("change-me")}
    assert set(placeholders) == set(checked), "check-secrets must check every secret .env.example asks for"
    refused = _run_check(services, example)
    assert refused.returncode != 0
    assert all(name in refused.stderr for name in placeholders)
    assert not any(value in refused.stderr + refused.stdout for value in placeholders.values())
    real = {name: f"s3cret-{i}%40x" for i, name in enumerate(placeholders)}
    assert _run_check(services, real).returncode == 0
    one_left = _run_check(services, {**real, "MESH_ADMIN_PASSWORD": "change-me-too"})
    assert one_left.returncode != 0 and "MESH_ADMIN_PASSWORD" in one_left.stderr and "AIRFLOW" not in one_left.stderr
    # nothing starts before the check passed: postgres waits for it, every Airflow service for postgres
    assert str(services[CHECK].get("restart", "no")).lower() in ("no", "false")
    assert depends_on(services["postgres"]).get(CHECK) == "service_completed_successfully"


def test_ports_are_published_on_this_machine_only(services: dict) -> None:
    published = [(name, str(port)) for name, service in services.items() for port in service.get("ports", [])]
    assert published, "the api-server and postgres publish ports"
    for name, port in published:
        assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_airflow_and_the_warehouse_admin_are_separate_non_superusers(services: dict) -> None:
    env = environment(services[INIT])
    values = dict.fromkeys(_env_example(), "x")
    warehouse = urlsplit(interpolate(env["MESH_DATABASE_URL"], values))
    metadata = urlsplit(interpolate(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], values))
    superuser = interpolate(environment(services["postgres"])["POSTGRES_USER"], values)
    assert len({warehouse.username, metadata.username, superuser}) == 3
    script = INIT_SQL.read_text()
    for user in (warehouse.username, metadata.username):
        create = re.search(rf"CREATE ROLE {user} ([^;]+);", script)
        assert create and "LOGIN" in create[1] and "SUPERUSER" not in create[1], user
    assert "CREATEROLE" in re.search(rf"CREATE ROLE {warehouse.username} ([^;]+);", script)[1]
    assert re.search(rf"CREATE DATABASE {warehouse.path.lstrip('/')} OWNER {warehouse.username}", script)


def test_init_script_decodes_percent_encoded_passwords(tmp_path: Path) -> None:
    """The passwords are percent-encoded in .env (they are in URLs); the init script creates the
    users with the decoded ones. A stand-in `psql` records what it is given."""
    fake = tmp_path / "psql"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$RECORD"\ncat >> "$RECORD"\n')
    fake.chmod(0o755)
    record = tmp_path / "record"
    env = {
        "PATH": f"{tmp_path}:{os.environ['PATH']}", "RECORD": str(record), "POSTGRES_USER": "postgres",
        "AIRFLOW_DB_PASSWORD": "a%40b%3Ac%2Fd%25e", "MESH_ADMIN_PASSWORD": "p%23q%3Fr",
    }  # fmt: skip
    result = subprocess.run(["bash", str(INIT_SQL)], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    given = record.read_text()
    assert "airflow_password=a@b:c/d%e" in given and "admin_password=p#q?r" in given
    assert ":'admin_password'" in given  # psql quotes it; it is never spliced into the SQL text

    from meshplatform.warehouse.connection import ConnectionInfo

    info = ConnectionInfo.from_url("postgresql://mesh_admin:p%23q%3Fr@postgres:5432/mesh")
    assert info.password == "p#q?r" and info.user == "mesh_admin"


def test_a_password_never_appears_in_an_error_message() -> None:
    from meshplatform.errors import MeshError
    from meshplatform.warehouse.connection import ConnectionInfo, connect

    with pytest.raises(MeshError) as unencoded:
        ConnectionInfo.from_url("postgresql://admin:s3cr#t:99x@db:5432/mesh")
    assert "s3cr" not in str(unencoded.value) and "percent-encode" in str(unencoded.value)
    info = ConnectionInfo.from_url("postgresql://admin:s3cr%40t-value@127.0.0.1:1/mesh")
    with pytest.raises(MeshError) as refused, connect(info):
        pass
    assert "s3cr" not in str(refused.value) and "admin@127.0.0.1:1/mesh" in str(refused.value)


def test_how_to_log_in_is_documented() -> None:
    header = COMPOSE_FILE.read_text()
    assert "simple_auth_manager_passwords.json.generated" in header and "admin" in header
