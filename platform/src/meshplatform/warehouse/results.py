"""Expectation results and dbt results in ``mesh_meta``: how they are recorded and which are the latest.

The summary and the report both read them through this module, so they agree on "latest":

- a target's latest validation is every row of its most recent validation (one validation
  records all its rows in one transaction, so they share ``validated_at``); an expectation that
  left the suite since then no longer counts;
- a domain's latest dbt run is the run that recorded its most recent result; within that run
  each node's last result counts (a retried task records its nodes again under the same run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import psycopg

from meshplatform.warehouse.meta import SCHEMA

MODEL_TYPES = ("model", "snapshot", "seed")
TEST_TYPES = ("test", "unit_test")


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation of one validation of a table (raw table or published product)."""

    domain: str
    target: str
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    element_count: int | None
    validated_at: datetime | None = None  # set by the warehouse when recorded


@dataclass(frozen=True)
class DbtResult:
    """The result of one dbt node in one run."""

    run_id: str
    domain: str
    unique_id: str
    resource_type: str
    status: str
    execution_time: float | None = None
    recorded_at: datetime | None = None  # set by the warehouse when recorded


@dataclass
class DbtRunCounts:
    """What one domain's latest dbt run built and tested."""

    domain: str
    run_id: str
    finished_at: datetime
    built: int = 0
    model_errors: int = 0
    passed: int = 0
    warned: int = 0
    failed: int = 0
    skipped: int = 0
    problems: list[DbtResult] = field(default_factory=list)  # nodes that did not pass, warnings included

    @property
    def errors(self) -> int:
        return self.model_errors + self.failed


def record_expectation_results(conn: psycopg.Connection, results: Sequence[ExpectationResult]) -> None:
    """Store the outcomes of one validation (in one transaction: they share ``validated_at``)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            f"""insert into {SCHEMA}.quality_results
                (domain, target, expectation, column_name, success, unexpected_count, element_count)
                values (%s, %s, %s, %s, %s, %s, %s)""",
            [
                (r.domain, r.target, r.expectation, r.column, r.success, r.unexpected_count, r.element_count)
                for r in results
            ],
        )


def record_dbt_results(conn: psycopg.Connection, results: Sequence[DbtResult]) -> None:
    """Store the node results of one dbt command."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            f"""insert into {SCHEMA}.dbt_results (run_id, domain, unique_id, resource_type, status, execution_time)
                values (%s, %s, %s, %s, %s, %s)""",
            [(r.run_id, r.domain, r.unique_id, r.resource_type, r.status, r.execution_time) for r in results],
        )


def latest_expectation_results(conn: psycopg.Connection) -> list[ExpectationResult]:
    """Every outcome of the latest validation of each target, by target, in suite order."""
    rows = conn.execute(
        f"""select domain, target, expectation, column_name, success, unexpected_count, element_count, validated_at
            from {SCHEMA}.quality_results q
            where validated_at = (select max(validated_at) from {SCHEMA}.quality_results l where l.target = q.target)
            order by target, id"""
    ).fetchall()
    return [ExpectationResult(*row) for row in rows]


def latest_dbt_results(conn: psycopg.Connection) -> list[DbtResult]:
    """The last result of every node of each domain's latest dbt run, by domain and node."""
    rows = conn.execute(
        f"""with latest_run as (
                select distinct on (domain) domain, run_id from {SCHEMA}.dbt_results order by domain, id desc
            )
            select distinct on (r.domain, r.unique_id)
                   r.run_id, r.domain, r.unique_id, r.resource_type, r.status, r.execution_time, r.recorded_at
            from {SCHEMA}.dbt_results r join latest_run using (domain, run_id)
            order by r.domain, r.unique_id, r.id desc"""
    ).fetchall()
    return [DbtResult(*row) for row in rows]


def latest_dbt_runs(conn: psycopg.Connection) -> list[DbtRunCounts]:
    """Per domain (alphabetically), what its latest dbt run built and tested."""
    runs: dict[str, DbtRunCounts] = {}
    for result in latest_dbt_results(conn):
        recorded_at = cast(datetime, result.recorded_at)  # read back: always set
        run = runs.setdefault(result.domain, DbtRunCounts(result.domain, result.run_id, recorded_at))
        run.finished_at = max(run.finished_at, recorded_at)
        if result.resource_type in MODEL_TYPES:
            if result.status == "success":
                run.built += 1
            elif result.status == "skipped":
                run.skipped += 1
            else:
                run.model_errors += 1
        elif result.resource_type in TEST_TYPES:
            if result.status == "pass":
                run.passed += 1
            elif result.status == "warn":
                run.warned += 1
            elif result.status == "skipped":
                run.skipped += 1
            else:
                run.failed += 1
        if result.status not in ("success", "pass"):
            run.problems.append(result)
    return [runs[domain] for domain in sorted(runs)]


def last_successful_builds(conn: psycopg.Connection) -> dict[str, datetime]:
    """When each model was last built successfully, by dbt unique id (a product's data age)."""
    rows = conn.execute(
        f"""select unique_id, max(recorded_at) from {SCHEMA}.dbt_results
            where resource_type = 'model' and status = 'success' group by unique_id"""
    ).fetchall()
    return dict(rows)
