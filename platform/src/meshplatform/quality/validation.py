"""Great Expectations validation of raw tables and published products, with suites derived from contracts.

Suites are generated from the contracts on every run, never edited by hand. GX keeps its results
in a file context under ``$MESH_HOME/gx`` and renders them as Data Docs (HTML); each outcome is
also stored in ``mesh_meta.quality_results`` for the summary and the report.

Whoever reads a table runs the functions its views (or policies) call with the reader's rights,
so the caller passes a least-privileged login (the domain's own for its raw tables, its observer
for its products) and records the outcome on a separate bookkeeping login.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshplatform.config import Settings
from meshplatform.contracts.model import ColumnSpec, ModelVersionSpec, ProductSpec, SourceSpec
from meshplatform.errors import MeshError
from meshplatform.quality.data_docs import make_offline
from meshplatform.warehouse.connection import ConnectionInfo, connect
from meshplatform.warehouse.results import ExpectationResult, record_expectation_results


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int | None
    element_count: int | None
    examples: tuple[Any, ...]
    error: str | None = None  # the database's refusal when the expectation could not be computed

    def describe(self) -> str:
        where = f" on column {self.column}" if self.column else ""
        count = f": {self.unexpected_count} of {self.element_count} rows unexpected" if self.unexpected_count else ""
        sample = f" (e.g. {', '.join(map(repr, self.examples[:3]))})" if self.examples else ""
        error = f": could not be computed: {self.error}" if self.error else ""
        return f"{self.expectation}{where}{count}{sample}{error}"


@dataclass(frozen=True)
class ValidationReport:
    domain: str
    target: str
    outcomes: tuple[ExpectationOutcome, ...]

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


def _column_expectations(columns: Iterable[ColumnSpec]) -> list[Any]:
    """The expectations a contract's column rules stand for (required, key/unique, values, pattern, bounds)."""
    import great_expectations.expectations as gxe

    suite: list[Any] = []
    for column in columns:
        name = column.name
        if column.required:
            suite.append(gxe.ExpectColumnValuesToNotBeNull(column=name))
        if column.primary_key or column.unique:
            suite.append(gxe.ExpectColumnValuesToBeUnique(column=name))
        if column.allowed_values is not None:
            suite.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=list(column.allowed_values)))
        if column.pattern is not None:
            suite.append(gxe.ExpectColumnValuesToMatchRegex(column=name, regex=column.pattern))
        if column.exclusive_minimum is not None:
            suite.append(
                gxe.ExpectColumnValuesToBeBetween(column=name, min_value=column.exclusive_minimum, strict_min=True)
            )
        if column.minimum is not None:
            suite.append(gxe.ExpectColumnValuesToBeBetween(column=name, min_value=column.minimum))
    return suite


def expectations_for(spec: SourceSpec) -> list[Any]:
    """The expectation suite of a raw table, derived from its inbound contract."""
    import great_expectations.expectations as gxe

    # the raw table also carries the loader's own columns (_loaded_at, ...): a subset match
    columns = gxe.ExpectTableColumnsToMatchSet(column_set=spec.column_names, exact_match=False)
    return [columns, *_column_expectations(spec.columns)]


def product_expectations(version: ModelVersionSpec) -> list[Any]:
    """The expectation suite of one published version of a data product, derived from its contract."""
    import great_expectations.expectations as gxe

    # a published relation has exactly the contract's columns
    columns = gxe.ExpectTableColumnsToMatchSet(column_set=version.column_names, exact_match=True)
    return [columns, *_column_expectations(version.columns)]


def validate_source(info: ConnectionInfo, spec: SourceSpec, bookkeeping: ConnectionInfo) -> ValidationReport:
    """Run the contract's suite against the raw table (read as ``info``) and record the outcome."""
    name = f"{spec.domain}.{spec.name}.raw"
    report = _validate(info, spec.domain, spec.schema, spec.table, name, expectations_for(spec))
    _record(bookkeeping, report)
    return report


def validate_product(info: ConnectionInfo, product: ProductSpec, bookkeeping: ConnectionInfo) -> list[ValidationReport]:
    """Run each published version's suite against the relation it builds (read as ``info``); record the outcomes."""
    reports = [
        _validate(info, product.domain, v.schema, v.table, f"{product.label}.v{v.version}", product_expectations(v))
        for v in product.versions
    ]
    for report in reports:
        _record(bookkeeping, report)
    return reports


def data_docs_index(home: Path) -> Path:
    """Where the Great Expectations Data Docs (HTML) of every validation are written."""
    return home / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def _validate(
    info: ConnectionInfo, domain: str, schema: str, table: str, name: str, expectations: list[Any]
) -> ValidationReport:
    """Validate one whole table through a checkpoint of the file context in $MESH_HOME/gx, which
    keeps the results and renders them into Data Docs."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    home = Settings.from_env().home
    home.mkdir(parents=True, exist_ok=True)
    # The context's YAML names the variable, never the URL: no password is written to disk; and the
    # variable is gone once the validation is (the process may start other programs later).
    os.environ["MESH_GX_WAREHOUSE_URL"] = info.url.replace("+psycopg://", "+psycopg2://", 1)
    from great_expectations.datasource.fluent.interfaces import TestConnectionError

    try:
        with (home / ".gx.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # parallel tasks share the context's files
            result = _checkpoint(home, schema, table, name, expectations).run()
            make_offline(Settings.from_env().data_docs_dir)  # the pages GX just rendered load no CDN
    except TestConnectionError as exc:  # GX probes the table first: the database's refusal, in one line
        refusal = re.search(r"\(psycopg2\.errors\.\w+\) ([^\n]+)", str(exc))
        raise MeshError(
            f"Great Expectations could not read {schema}.{table} as {info.user}: "
            f"{refusal[1] if refusal else str(exc).splitlines()[0]}",
            hint="the relation must exist and be readable by that role; see README, Troubleshooting",
        ) from None
    finally:
        os.environ.pop("MESH_GX_WAREHOUSE_URL", None)
    (outcome,) = result.run_results.values()
    return ValidationReport(domain, f"{schema}.{table}", tuple(_outcome(r) for r in outcome.results))


def _checkpoint(home: Path, schema: str, table: str, name: str, expectations: list[Any]) -> Any:
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=home)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_or_update_postgres(name="warehouse", connection_string="${MESH_GX_WAREHOUSE_URL}")
    asset_name = f"{schema}.{table}"
    asset = next((a for a in source.assets if a.name == asset_name), None) or source.add_table_asset(
        name=asset_name, table_name=table, schema_name=schema
    )
    batch = next((b for b in asset.batch_definitions if b.name == "whole_table"), None)
    batch = batch or asset.add_batch_definition_whole_table("whole_table")
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name,
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="data_docs")],
            result_format="SUMMARY",
        )
    )


def _outcome(result: Any) -> ExpectationOutcome:
    config = result.expectation_config
    details = result.result or {}
    return ExpectationOutcome(
        expectation=config.type,
        column=config.kwargs.get("column"),
        success=bool(result.success),
        unexpected_count=details.get("unexpected_count"),
        element_count=details.get("element_count"),
        examples=tuple(details.get("partial_unexpected_list") or ()),
        error=_error(result),
    )


def _error(result: Any) -> str | None:
    """The first line of the database error that kept GX from computing an expectation, if any."""
    info = result.exception_info or {}
    infos = [info] if "raised_exception" in info else list(info.values())
    for item in infos:
        if item.get("raised_exception") and item.get("exception_message"):
            message = str(item["exception_message"]).strip().splitlines()
            return next((line for line in message if "permission denied" in line), message[0])
    return None


def _record(info: ConnectionInfo, report: ValidationReport) -> None:
    results = [
        ExpectationResult(
            report.domain, report.target, o.expectation, o.column, o.success, o.unexpected_count, o.element_count
        )
        for o in report.outcomes
    ]
    with connect(info) as conn:
        record_expectation_results(conn, results)


def raise_on_failure(report: ValidationReport) -> None:
    """Stop the pipeline with a message naming each failed expectation, column and row count."""
    if report.success:
        return
    lines = "\n".join(f"  - {o.describe()}" for o in report.failed)
    raise MeshError(
        f"Great Expectations: {len(report.failed)} of {len(report.outcomes)} expectations failed "
        f"on {report.target}:\n{lines}",
        hint="fix the export or the loader; downstream domains were not built",
    )
