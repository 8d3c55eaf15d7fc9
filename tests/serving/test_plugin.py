"""The catalogue, report and Data Docs served in the Airflow UI by the `mesh` plugin: a real
`airflow api-server` process, Airflow's own login, and a real browser (headless Chromium)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import chromium, log_in, needs_chromium

from meshplatform.config import Settings
from meshplatform.orchestration.steps import publish_domain
from meshplatform.reporting.catalog_page import write_catalog

pytestmark = pytest.mark.dbt  # the catalogue is built from manifests published with `dbt parse`

PASSWORD = "catalogue-reader-pw"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def mesh_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A MESH_HOME with published manifests and a catalogue (no warehouse: nothing built yet)."""
    home = tmp_path_factory.mktemp("mesh_home")
    patch = pytest.MonkeyPatch()
    patch.setenv("MESH_HOME", str(home))
    patch.delenv("MESH_REGISTRY_DIR", raising=False)
    settings = Settings.from_env()
    for domain in ("users", "withdrawals"):
        publish_domain(domain, settings)
    write_catalog(settings, None)
    (settings.report_path).write_text("<!doctype html><title>report</title><h1>Mesh report</h1>", encoding="utf-8")
    yield settings
    patch.undo()


@pytest.fixture(scope="module")
def api_server(mesh_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`airflow api-server` on a free port, with one user `reader` whose password we know."""
    airflow_home = tmp_path_factory.mktemp("airflow_home")
    (airflow_home / "passwords.json").write_text(json.dumps({"reader": PASSWORD}), encoding="utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(airflow_home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(mesh_home.plugins_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "reader:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-jwt-secret-of-sufficient-length",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    log = (airflow_home / "api-server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "airflow"), "api-server", "--port", str(port), "--host", "127.0.0.1", "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                urllib.request.urlopen(f"{base}/api/v2/version", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, (airflow_home / "api-server.log").read_text()[-3000:]
                time.sleep(1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _token(base: str) -> str:
    body = json.dumps({"username": "reader", "password": PASSWORD}).encode()
    request = urllib.request.Request(f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["access_token"]


def test_pages_need_an_airflow_login(api_server: str) -> None:
    for path in ("/mesh/catalog/catalog.html", "/mesh/report", "/mesh/data-docs/index.html"):
        status, _ = _get(api_server + path)
        assert status in (401, 403), path


def test_a_logged_in_user_reads_the_catalogue_and_nothing_outside_it(api_server: str, mesh_home: Settings) -> None:
    token = _token(api_server)
    status, page = _get(f"{api_server}/mesh/catalog/catalog.html", token)
    assert status == 200 and "Data product catalogue" in page and "users.dim_users" in page
    status, document = _get(f"{api_server}/mesh/catalog/catalog.json", token)
    assert status == 200 and {p["label"] for p in json.loads(document)["products"]} >= {"users.dim_users"}
    assert _get(f"{api_server}/mesh/report", token)[0] == 200
    status, detail = _get(f"{api_server}/mesh/data-docs/index.html", token)
    assert status == 404 and "not generated yet" in detail  # no validation has run in this MESH_HOME
    for escape in ("/mesh/catalog/..%2F..%2Fetc%2Fpasswd", "/mesh/catalog/%2e%2e/registry/users/manifest.json"):
        assert _get(api_server + escape, token)[0] == 404, escape


@needs_chromium
def test_the_menu_opens_the_catalogue_in_a_real_browser(api_server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium() as browser:
        wait = WebDriverWait(browser, 60)
        log_in(browser, api_server, "reader", PASSWORD)
        for entry in ("Plugins", "Mesh", "Data catalogue"):  # the UI's menu, as a user clicks it
            wait.until(ec.element_to_be_clickable((By.XPATH, f"//*[normalize-space()='{entry}']"))).click()
        frame = wait.until(ec.presence_of_element_located((By.TAG_NAME, "iframe")))
        browser.switch_to.frame(frame)
        product = wait.until(ec.presence_of_element_located((By.ID, "product-users-dim_users")))
        text = product.text
        assert "Maria Gomez" in text  # owner
        assert "freshness: 2 d" in text  # SLA
        assert "never built" in text  # freshness now: this MESH_HOME has no build yet
        assert product.find_elements(By.CSS_SELECTOR, "svg.lineage")  # lineage graph
        browser.switch_to.default_content()
        browser.save_screenshot(str(tmp_path / "airflow-catalog.png"))  # README's docs/images/airflow-catalog.png
