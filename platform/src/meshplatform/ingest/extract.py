"""Extract: read an export file in chunks with pandas and split it into loadable and quarantined rows.

Every data record of a file ends up in exactly one of the two: ``rows read = rows loaded + rows
quarantined``. A file that is unusable as a whole (empty, wrong header, not UTF-8) raises
:class:`ExportRejected` naming the file, the line and what to do.
"""

from __future__ import annotations

import csv
import io
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from meshplatform.contracts.model import ColumnSpec, SourceSpec
from meshplatform.errors import ExportRejected

TRAILING = "__trailing"
DEFAULT_CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class Quarantined:
    line_number: int
    raw_line: str
    reason: str


@dataclass
class Chunk:
    """Rows of one slice of a file: ``rows`` hold the contract's columns plus ``_source_line``."""

    rows: pd.DataFrame
    quarantined: list[Quarantined] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.rows) + len(self.quarantined)


MAX_RECORD_LINES = 100  # a quoted field spanning more lines than this is an unbalanced quote


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) of every line, failing on the first byte that is not UTF-8."""
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                yield line_number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ExportRejected(
                    f"{path}: line {line_number}, byte {exc.start + 1}: not valid UTF-8 ({exc.reason})",
                    hint="re-export the file as UTF-8; nothing of it was loaded",
                ) from exc


def _inside_quotes_after(text: str, inside: bool) -> bool:
    """Whether a record is still inside a quoted field after `text` (RFC 4180: a quote opens a
    field only at its start, and "" inside a quoted field is an escaped quote)."""
    field_start = not inside
    i = 0
    while i < len(text):
        char = text[i]
        if inside:
            if char == '"':
                if text[i + 1 : i + 2] == '"':
                    i += 1
                else:
                    inside = False
        elif char == '"' and field_start:
            inside = True
        field_start = char == "," and not inside
        i += 1
    return inside


UNBALANCED = "unbalanced quote: a quoted field opened on this line never closes"


def _records(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """Yield (first line number, record text, problem) for each record; a quoted field may span
    lines. A quote that never closes makes only its own line a bad record; reading resumes on
    the next line, so one stray quote cannot swallow the rows after it."""
    lines = _lines(path)
    pushed_back: deque[tuple[int, str]] = deque()
    pending: list[tuple[int, str]] = []
    inside = False
    while True:
        item = pushed_back.popleft() if pushed_back else next(lines, None)
        if item is None and not pending:
            return
        if item is not None:
            pending.append(item)
            if inside or '"' in item[1]:
                inside = _inside_quotes_after(item[1], inside)
            if not inside:
                text = "".join(line for _, line in pending).rstrip("\r\n").replace("\r\n", "\n")
                yield pending[0][0], text, None
                pending = []
                continue
            if len(pending) <= MAX_RECORD_LINES:
                continue
        # the quote opened on the first pending line never closed: report that line, re-read the rest
        yield pending[0][0], pending[0][1].rstrip("\r\n"), UNBALANCED
        pushed_back.extendleft(reversed(pending[1:]))
        pending, inside = [], False


def _check_header(path: Path, spec: SourceSpec, header_line: str) -> None:
    found = next(csv.reader([header_line.lstrip("\ufeff")]))
    expected = spec.header()
    if found == expected:
        return
    missing = [c for c in spec.column_names if c not in found]
    unexpected = [c for c in found if c and c not in spec.column_names]
    details = []
    if missing:
        details.append(f"missing column(s) {missing}")
    if unexpected:
        details.append(f"unexpected column(s) {unexpected}")
    if not details:
        details.append("columns are out of order or the empty trailing column is missing")
    raise ExportRejected(
        f"{path}: line 1: header does not match the {spec.name} export contract: {'; '.join(details)}",
        hint=f"expected exactly: {','.join(expected)} (see {spec.contract_path.name}); nothing of the file was loaded",
    )


def read_export(path: Path, spec: SourceSpec, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[Chunk]:
    """Check the header, then yield the file's records in validated chunks."""
    records = _records(path)
    first = next(records, None)
    if first is None or not first[1].strip():
        raise ExportRejected(
            f"{path}: the file is empty (no header line)",
            hint="an export always has a header line; ask for a re-delivery; nothing was loaded",
        )
    _check_header(path, spec, first[1])
    batch: list[tuple[int, str, str | None]] = []
    for record in records:
        batch.append(record)
        if len(batch) >= chunk_rows:
            yield _validate(batch, spec)
            batch = []
    if batch:
        yield _validate(batch, spec)


def _field_count(text: str) -> int:
    return len(next(csv.reader([text]))) if '"' in text else text.count(",") + 1


def _record_problem(text: str, expected_fields: int) -> str | None:
    """What makes a record unparseable as a row of the contract, if anything."""
    if not text.strip():
        return "blank line"
    if "\r" in text:
        return "carriage return inside a field"
    try:
        fields = _field_count(text)
    except csv.Error as exc:
        return f"not parseable as CSV: {exc}"
    if fields != expected_fields:
        return f"{'too many' if fields > expected_fields else 'too few'} fields: expected {expected_fields}, found {fields}"
    return None


def _validate(batch: list[tuple[int, str, str | None]], spec: SourceSpec) -> Chunk:
    quarantined: list[Quarantined] = []
    names = spec.column_names + ([TRAILING] if spec.trailing_empty_column else [])
    parseable = []
    for line_number, text, problem in batch:
        problem = problem or _record_problem(text, len(names))
        if problem:
            quarantined.append(Quarantined(line_number, text, problem))
        else:
            parseable.append((line_number, text))
    if parseable:
        frame = pd.read_csv(
            io.StringIO("\n".join(text for _, text in parseable)),
            header=None,
            names=names,
            dtype=str,
            keep_default_na=False,
            engine="c",
            lineterminator="\n",
        )
        if len(frame) != len(parseable):  # guards the record splitting above; a bug if it fires
            raise RuntimeError(f"parsed {len(frame)} rows from {len(parseable)} records")
        frame["_source_line"] = [line for line, _ in parseable]
        reasons = _reasons(frame, spec)
        bad = (reasons != "").to_numpy()
        for (line_number, text), reason in zip(
            (p for p, b in zip(parseable, bad, strict=False) if b), reasons[bad], strict=True
        ):
            quarantined.append(Quarantined(line_number, text, reason))
        good = frame.loc[~bad, [*spec.column_names, "_source_line"]].reset_index(drop=True)
    else:
        good = pd.DataFrame(columns=[*spec.column_names, "_source_line"])
    return Chunk(good, sorted(quarantined, key=lambda q: q.line_number))


def _reasons(frame: pd.DataFrame, spec: SourceSpec) -> pd.Series:
    """One message per row, empty when the row is loadable; several problems are joined by '; '."""
    found = [_problems(frame[column.name], column) for column in spec.columns]
    if spec.trailing_empty_column:
        stray = frame.loc[frame[TRAILING] != "", TRAILING]
        found.append("the last column carries no information and must be empty, found '" + stray + "'")
    found = [problems for problems in found if len(problems)]
    if not found:
        return pd.Series("", index=frame.index, dtype=object)
    joined = pd.concat(found).groupby(level=0, sort=False).agg("; ".join)
    return joined.reindex(frame.index, fill_value="")


def _problems(values: pd.Series, column: ColumnSpec) -> pd.Series:
    """Messages for the values of one column that break the contract (only failing rows, by index).
    Each value gets its first problem: a value of the wrong type is not also checked against the set."""
    values = values.fillna("")
    empty = values == ""
    messages = []
    if column.required and empty.any():
        label = "missing key " if column.primary_key else "missing value for "
        messages.append(pd.Series(label + column.name, index=values.index[empty], dtype=object))
    rest = values[~empty]
    for ok, expectation in _checks(column):
        bad = ~ok(rest).to_numpy(dtype=bool)
        if bad.any():
            messages.append(column.name + ": '" + rest[bad] + "' " + expectation)
            rest = rest[~bad]
    return pd.concat(messages) if messages else pd.Series(dtype=object)


Check = Callable[[pd.Series], pd.Series]


def _checks(column: ColumnSpec) -> list[tuple[Check, str]]:
    """The contract's rules for one column, in the order they are reported."""
    checks: list[tuple[Check, str]] = [(lambda v: _type_ok(v, column), _type_expectation(column))]
    if (allowed := column.allowed_values) is not None:
        checks.append((lambda v: v.isin(allowed), "is not one of " + ", ".join(allowed)))
    if (pattern := column.pattern) is not None:
        checks.append((lambda v: v.str.fullmatch(pattern).fillna(False), f"does not match {pattern}"))
    if (low := column.exclusive_minimum) is not None:
        checks.append((lambda v: pd.to_numeric(v, errors="coerce") > low, f"must be greater than {low}"))
    if (least := column.minimum) is not None:
        checks.append((lambda v: pd.to_numeric(v, errors="coerce") >= least, f"must be at least {least}"))
    return checks


_INTEGER = re.compile(r"-?\d{1,18}")


def _type_ok(values: pd.Series, column: ColumnSpec) -> pd.Series:
    kind = column.physical_type
    if kind in ("bigint", "integer"):
        return values.str.fullmatch(_INTEGER.pattern)
    if numeric := column.numeric_scale:
        precision, scale = numeric
        return values.str.fullmatch(rf"-?\d{{1,{precision - scale}}}(\.\d{{1,{scale}}})?")
    if kind == "date":
        return pd.to_datetime(values, format="%Y-%m-%d", errors="coerce").notna()
    if kind == "timestamptz":
        return pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce").notna()
    return pd.Series(True, index=values.index)


def _type_expectation(column: ColumnSpec) -> str:
    kind = column.physical_type
    if kind in ("bigint", "integer"):
        return "is not an integer"
    if numeric := column.numeric_scale:
        return f"is not a number with at most {numeric[1]} decimals"
    if kind == "date":
        return "is not a date (YYYY-MM-DD)"
    if kind == "timestamptz":
        return "is not an ISO-8601 timestamp"
    return "has the wrong type"
