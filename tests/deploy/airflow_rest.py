"""A small client of Airflow 3's REST API (/api/v2), logged in as a user of the simple auth manager."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

TERMINAL = {"success", "failed"}


class ApiError(AssertionError):
    pass


def password_of(airflow_home: Path, user: str) -> str:
    """The password the API server generated for `user` (the README says where to read it)."""
    path = airflow_home / "simple_auth_manager_passwords.json.generated"
    return json.loads(path.read_text())[user]


@dataclass
class Api:
    base: str
    token: str = ""

    def call(self, method: str, path: str, body: object = None, **query: object) -> dict:
        url = self.base + path + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            raise ApiError(f"{method} {path}: HTTP {error.code}: {error.read().decode()[:500]}") from error
        return json.loads(text) if text.strip().startswith(("{", "[")) else {"text": text}

    def log_in(self, user: str, password: str) -> Api:
        token = self.call("POST", "/auth/token", {"username": user, "password": password})["access_token"]
        return Api(self.base, token)

    def dags(self) -> dict[str, dict]:
        return {dag["dag_id"]: dag for dag in self.call("GET", "/api/v2/dags", limit=100)["dags"]}

    def import_errors(self) -> list[dict]:
        return self.call("GET", "/api/v2/importErrors")["import_errors"]

    def dag(self, dag_id: str) -> dict:
        return self.call("GET", f"/api/v2/dags/{dag_id}")

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, logical_date: str | None = None) -> str:
        body = {"logical_date": logical_date}
        return self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def runs(self) -> list[dict]:
        return self.call("GET", "/api/v2/dags/~/dagRuns", limit=100)["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances"
        return self.call("GET", path, limit=100)["task_instances"]

    def failures(self, run: dict) -> str:
        """The failed task instances of a run, each with the end of its log."""
        lines = []
        for ti in self.task_instances(run["dag_id"], run["dag_run_id"]):
            if ti["state"] not in ("failed", "upstream_failed"):
                continue
            lines.append(f"{run['dag_id']} {run['dag_run_id']}: {ti['task_id']} {ti['state']}")
            if ti["state"] == "failed":
                run_id = urllib.parse.quote(run["dag_run_id"], safe="")
                path = f"/api/v2/dags/{run['dag_id']}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
                try:
                    content = self.call("GET", path, full_content="true").get("content", [])
                except ApiError as error:
                    content = [str(error)]
                events = [c.get("event", "") if isinstance(c, dict) else str(c) for c in content]
                lines += ["    " + event for event in events[-25:]]
        return "\n".join(lines)
