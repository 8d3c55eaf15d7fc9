"""Extract: header checks, row-level quarantine with line numbers, whole-file rejection."""

from __future__ import annotations

from pathlib import Path

import pytest
from paths import PROJECT_DIR

from meshplatform.contracts.model import SourceSpec, inbound_sources
from meshplatform.errors import ExportRejected
from meshplatform.ingest.extract import read_export

HEADER = "transaction_id,user_id,requested_at,completed_at,status,toco_amount,fiat_currency,fiat_amount,exchange_rate,updated_at,"
GOOD = "wd_{n},7,2026-11-01T10:00:00Z,,requested,100.00,USD,100.00,1.000000,2026-11-01T10:00:00Z,"


@pytest.fixture(scope="module")
def spec() -> SourceSpec:
    return inbound_sources(PROJECT_DIR / "contracts", "withdrawals")[0]


def write(tmp_path: Path, *lines: str, name: str = "withdrawals_2026-11-01.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def extract(path: Path, spec: SourceSpec, chunk_rows: int = 2) -> tuple[list[str], dict[int, str], int]:
    loaded, quarantined, read = [], {}, 0
    for chunk in read_export(path, spec, chunk_rows):
        loaded += list(chunk.rows["transaction_id"])
        quarantined |= {q.line_number: q.reason for q in chunk.quarantined}
        read += chunk.rows_read
    return loaded, quarantined, read


def test_trailing_column_is_dropped_and_types_are_kept_as_text(tmp_path: Path, spec: SourceSpec) -> None:
    chunk = next(read_export(write(tmp_path, HEADER, GOOD.format(n=1)), spec))
    assert list(chunk.rows.columns) == [*spec.column_names, "_source_line"]
    assert chunk.rows.iloc[0]["toco_amount"] == "100.00"
    assert chunk.rows.iloc[0]["_source_line"] == 2


def test_every_row_is_either_loaded_or_quarantined_with_its_line_and_reason(tmp_path: Path, spec: SourceSpec) -> None:
    lines = [
        HEADER,
        GOOD.format(n=1),
        GOOD.format(n=2).replace(",7,", ",seven,"),
        GOOD.format(n=3).replace("2026-11-01T10:00:00Z,,", "yesterday,,"),
        GOOD.format(n=4).replace("USD", "XYZ"),
        GOOD.format(n=5).replace("wd_5", ""),
        GOOD.format(n=6)[:-1],
        GOOD.format(n=7) + "surprise",
        "",
        GOOD.format(n=9).replace("100.00,USD", "-3.00,USD"),
        GOOD.format(n=10) + ",,",
        GOOD.format(n=11),
    ]
    loaded, quarantined, read = extract(write(tmp_path, *lines), spec)
    assert loaded == ["wd_1", "wd_11"]
    assert read == len(lines) - 1 == len(loaded) + len(quarantined)
    assert quarantined[3] == "user_id: 'seven' is not an integer"
    assert "requested_at: 'yesterday' is not an ISO-8601 timestamp" in quarantined[4]
    assert "fiat_currency: 'XYZ' is not one of" in quarantined[5]
    assert quarantined[6] == "missing key transaction_id"
    assert quarantined[7] == "too few fields: expected 11, found 10"
    assert "last column carries no information and must be empty, found 'surprise'" in quarantined[8]
    assert quarantined[9] == "blank line"
    assert quarantined[10] == "toco_amount: '-3.00' must be greater than 0"
    assert quarantined[11] == "too many fields: expected 11, found 13"


def test_quoted_field_spanning_lines_keeps_later_line_numbers(tmp_path: Path, spec: SourceSpec) -> None:
    multiline = GOOD.format(n=1).replace("wd_1", '"wd_1\nsecond line"')
    loaded, quarantined, _read = extract(
        write(tmp_path, HEADER, multiline, GOOD.format(n=2).replace(",7,", ",x,")), spec
    )
    assert loaded == ["wd_1\nsecond line"]
    assert list(quarantined) == [4]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
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
    ids=["empty", "renamed-column", "no-trailing-column", "latin-1"],
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


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (GOOD.format(n=2).replace("requested", 'requ"ested'), "status: 'requ\"ested' is not one of"),
        (
            GOOD.format(n=2).replace("requested", '"requested'),
            "unbalanced quote: a quoted field opened on this line never closes",
        ),
        (GOOD.format(n=2).replace("requested", "requ\rested"), "carriage return inside a field"),
    ],
    ids=["quote-inside-field", "quote-never-closed", "bare-carriage-return"],
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
