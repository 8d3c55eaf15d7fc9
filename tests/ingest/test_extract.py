"""Extract: header checks, records with exact line numbers, lines COPY could not take set aside,
whole-file rejection. (The values are checked by the database: tests/ingest/test_checks.py.)"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from paths import PROJECT_DIR

from meshplatform.contracts.model import SourceSpec, inbound_sources
from meshplatform.errors import ExportRejected
from meshplatform.ingest.extract import SEPARATOR, Batch, read_export
from meshplatform.ingest.formats import fast_lines

HEADER = "transaction_id,user_id,requested_at,completed_at,status,toco_amount,fiat_currency,fiat_amount,exchange_rate,updated_at,"
GOOD = "wd_{n},7,2026-11-01T10:00:00Z,,requested,100.00,USD,100.00,1.000000,2026-11-01T10:00:00Z,"


@pytest.fixture(scope="module")
def spec() -> SourceSpec:
    return inbound_sources(PROJECT_DIR / "contracts", "withdrawals")[0]


def write(tmp_path: Path, *lines: str, name: str = "withdrawals_2026-11-01.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def records(batch: Batch, first: int = 2) -> list[tuple[int, str, list[str]]]:
    """(line, problem, fields) of the batch's typed (fast path; numbered by position from `first`,
    placeholders left out) and text rows, by line."""
    typed = csv.reader(io.StringIO(batch.typed.decode(), newline=""))
    fast = [(line, "", fields) for line, fields in enumerate(typed, first) if any(fields)]
    text = csv.reader(io.StringIO(batch.payload.decode(), newline=""))
    return sorted([*fast, *((int(line), problem, fields) for line, _text, problem, *fields in text)])


def extract(path: Path, spec: SourceSpec, block_bytes: int = 64) -> tuple[list[str], dict[int, str], int]:
    """(first field of each record passed on, {line: reason} of lines set aside, rows read);
    small blocks, so that records cross block boundaries."""
    loaded, quarantined, read, first = [], {}, 0, 2
    for batch in read_export(path, spec, block_bytes):
        for line, problem, fields in records(batch, first):
            if problem:
                quarantined[line] = problem.split(SEPARATOR)[2]
            else:
                loaded.append(fields[0])
        read += batch.rows_read
        first += batch.typed.count(b"\n")
    return loaded, quarantined, read


def test_every_record_is_passed_on_or_set_aside_with_its_line_and_reason(tmp_path: Path, spec: SourceSpec) -> None:
    lines = [
        HEADER,
        GOOD.format(n=1),
        GOOD.format(n=2).replace(",7,", ",seven,"),  # a value problem: the database's to find
        GOOD.format(n=3)[:-1],
        "",
        GOOD.format(n=5) + ",,",
        GOOD.format(n=6).replace("wd_6", "wd\x006"),
        GOOD.format(n=7),
    ]
    loaded, quarantined, read = extract(write(tmp_path, *lines), spec)
    assert loaded == ["wd_1", "wd_2", "wd_7"]
    assert read == len(lines) - 1 == len(loaded) + len(quarantined)
    assert quarantined == {
        4: "too few fields: expected 11, found 10",
        5: "blank line",
        6: "too many fields: expected 11, found 13",
        7: "NUL byte in transaction_id: not allowed in text",
    }


def test_quoted_field_spanning_lines_keeps_later_line_numbers(tmp_path: Path, spec: SourceSpec) -> None:
    multiline = GOOD.format(n=1).replace("wd_1", '"wd_1\nsecond line"')
    loaded, quarantined, _read = extract(write(tmp_path, HEADER, multiline, GOOD.format(n=2)[:-1]), spec)
    assert loaded == ["wd_1\nsecond line"]
    assert list(quarantined) == [4]


@pytest.mark.parametrize("block_bytes", [64, 1 << 20])
def test_a_good_line_inside_a_quoted_field_is_part_of_that_field(
    tmp_path: Path, spec: SourceSpec, block_bytes: int
) -> None:
    inner = GOOD.format(n=2)  # a line of the fast path's form, but inside the quotes of line 3
    spanning = GOOD.format(n=1).replace("wd_1", f'"wd_1\n{inner}\nend"')
    path = write(tmp_path, HEADER, GOOD.format(n=0), spanning, GOOD.format(n=6))
    loaded, quarantined, read = extract(path, spec, block_bytes)
    assert loaded == ["wd_0", f"wd_1\n{inner}\nend", "wd_6"] and not quarantined and read == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty (0 bytes)"),
        (b"\n\n", "the file is empty (no header line)"),
        (HEADER.encode("utf-16"), "not a text file"),
        (
            HEADER.replace("status,", "state,").encode() + b"\n",
            "missing column(s) ['status']; unexpected column(s) ['state']",
        ),
        (HEADER[:-1].encode() + b"\n", "columns are out of order or the empty trailing column is missing"),
        (
            (HEADER + "\n" + GOOD.format(n=1) + "\n").encode() + "wd_2,7,caf\u00e9".encode("latin-1") + b"\n",
            "line 3, byte 11: not valid UTF-8",
        ),
    ],
    ids=["0-bytes", "blank", "utf-16", "renamed-column", "no-trailing-column", "latin-1"],
)
def test_unusable_file_is_rejected_naming_file_and_problem(
    tmp_path: Path, spec: SourceSpec, content: bytes, message: str
) -> None:
    path = tmp_path / "withdrawals_2026-11-02.csv"
    path.write_bytes(content)
    with pytest.raises(ExportRejected) as error:
        for _ in read_export(path, spec):
            pass
    assert str(path) in str(error.value)
    assert message in str(error.value)
    assert error.value.hint


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path, spec: SourceSpec) -> None:
    path = tmp_path / "withdrawals_2026-11-01.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\n" + GOOD.format(n=1) + "\n").encode())
    loaded, quarantined, _ = extract(path, spec)
    assert loaded == ["wd_1"] and not quarantined


def test_a_quote_inside_an_unquoted_field_is_kept_as_a_character(tmp_path: Path, spec: SourceSpec) -> None:
    path = write(tmp_path, HEADER, GOOD.format(n=1).replace("requested", 'requ"ested'), GOOD.format(n=2))
    batch = next(read_export(path, spec))
    rows = records(batch)
    assert [line for line, _, _ in rows] == [2, 3]
    assert rows[0][2][spec.column_names.index("status")] == 'requ"ested'


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (
            GOOD.format(n=2).replace("requested", '"requested'),
            "unbalanced quote: a quoted field opened on this line never closes",
        ),
        (GOOD.format(n=2).replace("requested", "requ\rested"), "carriage return inside a field"),
    ],
    ids=["quote-never-closed", "bare-carriage-return"],
)
def test_a_stray_quote_or_carriage_return_costs_only_its_own_line(
    tmp_path: Path, spec: SourceSpec, bad_line: str, reason: str
) -> None:
    path = tmp_path / "withdrawals_2026-11-01.csv"
    lines = [HEADER, GOOD.format(n=1), bad_line, GOOD.format(n=3), GOOD.format(n=4)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    loaded, quarantined, read = extract(path, spec)
    assert loaded == ["wd_1", "wd_3", "wd_4"]
    assert list(quarantined) == [3] and reason in quarantined[3]
    assert read == 4


def test_windows_line_endings_are_accepted(tmp_path: Path, spec: SourceSpec) -> None:
    path = tmp_path / "withdrawals_2026-11-01.csv"
    path.write_bytes(("\r\n".join([HEADER, GOOD.format(n=1), GOOD.format(n=2)]) + "\r\n").encode())
    loaded, quarantined, _ = extract(path, spec)
    assert loaded == ["wd_1", "wd_2"] and not quarantined


@pytest.mark.parametrize(
    ("amount", "fast"),
    [("100.00", True), ("0.01", True), ("0.00", False), ("-3.00", False), ("007.00", False), ("1.5", False)],
)
def test_only_a_positive_amount_as_the_database_prints_it_takes_the_fast_path(
    spec: SourceSpec, amount: str, fast: bool
) -> None:
    line = GOOD.format(n=1).replace("100.00,USD", f"{amount},USD").encode() + b"\n"
    assert bool(fast_lines(spec).fullmatch(line)) is fast
