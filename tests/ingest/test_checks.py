"""No value can abort a file: every bad value or row is quarantined with its line, reason, code and
column (checked by the real Postgres), read = loaded + quarantined, and later files still load."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from paths import PROJECT_DIR

from meshplatform.contracts.model import SourceSpec, inbound_sources
from meshplatform.errors import ExportRejected, MeshError
from meshplatform.ingest.extract import KEPT_BYTES
from meshplatform.ingest.load import export_files, load_file, load_source
from meshplatform.warehouse.connection import ConnectionInfo

HEADER = "transaction_id,user_id,requested_at,completed_at,status,toco_amount,fiat_currency,fiat_amount,exchange_rate,updated_at,"
GOOD = "wd_{n},7,2026-11-01T10:00:00Z,,requested,100.00,USD,100.00,1.000000,2026-11-01T10:00:00Z,"
DONE = "wd_{n},7,2026-11-01T10:00:00Z,2026-11-01T11:00:00Z,completed,10.00,EUR,9.20,0.920000,2026-11-01T11:00:00Z,"


@pytest.fixture(scope="module")
def spec() -> SourceSpec:
    return inbound_sources(PROJECT_DIR / "contracts", "withdrawals")[0]


@pytest.fixture(autouse=True)
def empty_tables(conn: psycopg.Connection) -> None:
    conn.execute("drop schema if exists raw_withdrawals cascade")
    conn.execute("drop schema if exists mesh_meta cascade")


@pytest.fixture
def loader(empty_tables: None, login_conn: Callable[[str], psycopg.Connection]) -> psycopg.Connection:
    """The withdrawals domain's own login, as the pipeline loads (the warehouse set up anew)."""
    return login_conn("withdrawals")


def export(tmp_path: Path, day: str, *lines: str | bytes) -> Path:
    folder = tmp_path / "withdrawals"
    folder.mkdir(exist_ok=True)
    path = folder / f"withdrawals_2026-11-{day}.csv"
    raw = [line if isinstance(line, bytes) else line.encode() for line in (HEADER, *lines)]
    path.write_bytes(b"\n".join(raw) + b"\n")
    return path


def quarantine(conn: psycopg.Connection) -> dict[int, tuple[str, str, str | None, str]]:
    rows = conn.execute("select line_number, reason, reason_code, column_name, raw_line from mesh_meta.quarantine")
    return {line: (reason, code, column, raw) for line, reason, code, column, raw in rows.fetchall()}


def loaded_ids(conn: psycopg.Connection) -> set[str]:
    return {tid for (tid,) in conn.execute("select transaction_id from raw_withdrawals.withdrawals").fetchall()}


def load_day(
    conn: psycopg.Connection, loader: psycopg.Connection, spec: SourceSpec, tmp_path: Path, *lines: str | bytes
) -> dict:
    """Load a file with `lines` and a later, clean file; both must load; return the quarantine."""
    export(tmp_path, "01", *lines)
    export(tmp_path, "02", GOOD.format(n=99))
    first, later = load_source(loader, spec, export_files(tmp_path, spec))
    assert first.rows_read == len(lines) == first.rows_loaded + first.rows_quarantined
    assert (later.rows_read, later.rows_loaded) == (1, 1) and "wd_99" in loaded_ids(conn)
    return quarantine(conn)


def test_every_bad_value_is_quarantined_with_line_reason_code_and_column(
    conn: psycopg.Connection, loader: psycopg.Connection, spec: SourceSpec, tmp_path: Path
) -> None:
    found = load_day(
        conn, loader, spec, tmp_path,
        GOOD.format(n=1),
        GOOD.format(n=2).replace(",7,", ",seven,"),
        GOOD.format(n=3).replace("2026-11-01T10:00:00Z,,", "yesterday,,"),
        GOOD.format(n=4).replace("USD", "XYZ"),
        GOOD.format(n=5).replace("wd_5", ""),
        GOOD.format(n=6) + "surprise",
        GOOD.format(n=7).replace("100.00,USD", "-3.00,USD"),
        GOOD.format(n=8).replace("100.00,USD", "12345678901234567.00,USD"),  # beyond numeric(18,2)
        GOOD.format(n=9).replace(",7,", ",12345678901234567890,"),  # beyond bigint
        GOOD.format(n=10).replace("2026-11-01T10:00:00Z,,", "2026-02-30T10:00:00Z,,"),  # no such day
        GOOD.format(n=11).replace("2026-11-01T10:00:00Z,,", "0000-01-01T10:00:00Z,,"),  # no year 0
        GOOD.format(n=12).replace("requested", "requ\"ested"),  # a quote is a character here
        GOOD.format(n=13).replace("2026-11-01T10:00:00Z,,", "2026-11-01 12:00:00+02:00,,"),  # valid ISO form
    )  # fmt: skip
    assert {line: (reason, code, column) for line, (reason, code, column, _) in found.items()} == {
        3: ("user_id: 'seven' is not an integer", "wrong_type", "user_id"),
        4: ("requested_at: 'yesterday' is not an ISO-8601 timestamp", "wrong_type", "requested_at"),
        5: ("fiat_currency: 'XYZ' is not one of USD, EUR, GBP, MXN, BRL, ARS, COP", "not_allowed", "fiat_currency"),
        6: ("missing key transaction_id", "missing", "transaction_id"),
        7: ("the last column carries no information and must be empty, found 'surprise'", "trailing_not_empty", None),
        8: ("toco_amount: '-3.00' must be greater than 0", "below_minimum", "toco_amount"),  # rules need valid values
        9: ("toco_amount: '12345678901234567.00' is not a number with at most 2 decimals", "wrong_type", "toco_amount"),
        10: ("user_id: '12345678901234567890' is not an integer", "wrong_type", "user_id"),
        11: ("requested_at: '2026-02-30T10:00:00Z' is not an ISO-8601 timestamp", "wrong_type", "requested_at"),
        12: ("requested_at: '0000-01-01T10:00:00Z' is not an ISO-8601 timestamp", "wrong_type", "requested_at"),
        13: ("status: 'requ\"ested' is not one of requested, processing, completed, failed, cancelled",
             "not_allowed", "status"),
    }  # fmt: skip
    assert found[3][3] == GOOD.format(n=2).replace(",7,", ",seven,")  # the raw line as delivered
    assert loaded_ids(conn) == {"wd_1", "wd_13", "wd_99"}


@pytest.mark.parametrize(
    ("line", "code", "column", "reason"),
    [
        (DONE.format(n=1).replace("2026-11-01T11:00:00Z,completed", ",completed"), "completed_at_iff_completed",
         "completed_at", "completed_at: present exactly when status is completed, found status 'completed' and "
         "completed_at empty"),
        (GOOD.format(n=1).replace("Z,,requested", "Z,2026-11-01T10:00:00Z,requested"), "completed_at_iff_completed",
         "completed_at", "completed_at: present exactly when status is completed, found status 'requested' and "
         "completed_at '2026-11-01T10:00:00Z'"),
        (DONE.format(n=1).replace("2026-11-01T11:00:00Z,completed", "2026-11-01T09:00:00Z,completed"),
         "completed_not_before_requested", "completed_at",
         "completed_at: not before requested_at, found '2026-11-01T09:00:00Z' < '2026-11-01T10:00:00Z'"),
        (GOOD.format(n=1)[: -len("2026-11-01T10:00:00Z,")] + "2026-11-01T09:59:59Z,", "updated_not_before_requested",
         "updated_at", "updated_at: not before requested_at, found '2026-11-01T09:59:59Z' < '2026-11-01T10:00:00Z'"),
        (GOOD.format(n=1)[: -len("2026-11-01T10:00:00Z,")] + "2999-01-01T00:00:00Z,", "updated_not_in_future",
         "updated_at", "updated_at: at most PT1H after the load, found '2999-01-01T00:00:00Z'"),
        (DONE.format(n=1).replace("9.20", "9.30"), "fiat_is_toco_times_rate", "fiat_amount",
         "fiat_amount: toco_amount * exchange_rate within 0.01, found '9.30' vs 9.20000000"),
        (DONE.format(n=1).replace(",7,", ",007,").replace("9.20", "9.3"), "fiat_is_toco_times_rate", "fiat_amount",
         "fiat_amount: toco_amount * exchange_rate within 0.01, found '9.3' vs 9.20000000"),
    ],
    ids=["completed-without-time", "time-without-completed", "completed-before-request", "updated-before-request",
         "in-the-future", "fiat-not-toco-times-rate", "fiat-not-toco-times-rate-short-form"],
)  # fmt: skip
def test_a_row_breaking_a_rule_across_fields_is_quarantined(
    conn: psycopg.Connection,
    loader: psycopg.Connection,
    spec: SourceSpec,
    tmp_path: Path,
    line: str,
    code: str,
    column: str,
    reason: str,
) -> None:
    found = load_day(conn, loader, spec, tmp_path, DONE.format(n=0), line)
    assert found == {3: (reason, code, column, line)}  # the line as delivered, whichever way it was checked
    assert loaded_ids(conn) == {"wd_0", "wd_99"}


def test_a_nul_byte_costs_only_its_line(
    conn: psycopg.Connection, loader: psycopg.Connection, spec: SourceSpec, tmp_path: Path
) -> None:
    bad = GOOD.format(n=2).encode().replace(b"requested", b"reque\x00sted")
    found = load_day(conn, loader, spec, tmp_path, GOOD.format(n=1), bad, GOOD.format(n=3))
    reason, code, column, raw = found[3]
    assert (reason, code, column) == ("NUL byte in status: not allowed in text", "nul_byte", "status")
    assert raw == bad.decode().replace("\x00", "\u2400")
    assert loaded_ids(conn) == {"wd_1", "wd_3", "wd_99"}


def test_invalid_utf8_inside_a_quoted_field_costs_only_its_line(
    conn: psycopg.Connection, loader: psycopg.Connection, spec: SourceSpec, tmp_path: Path
) -> None:
    bad = GOOD.format(n=2).encode().replace(b"wd_2", b'"wd_\xe92"')
    found = load_day(conn, loader, spec, tmp_path, GOOD.format(n=1), bad)
    assert found[3][:3] == ("line 3, byte 5: not valid UTF-8 inside a quoted field", "invalid_utf8", "transaction_id")


@pytest.mark.parametrize("max_length", [64, None], ids=["contract-max-length", "no-max-length-index-limit"])
def test_an_overlong_key_is_quarantined_not_refused_by_the_index(
    conn: psycopg.Connection, loader: psycopg.Connection, spec: SourceSpec, tmp_path: Path, max_length: int | None
) -> None:
    columns = tuple(dataclasses.replace(c, max_length=max_length) if c.primary_key else c for c in spec.columns)
    spec = dataclasses.replace(spec, columns=columns)
    key = "wd_" + "9" * 9_000
    found = load_day(conn, loader, spec, tmp_path, GOOD.format(n=1), GOOD.format(n=2).replace("wd_2", key))
    reason, code, column, raw = found[3]
    line_bytes = len(GOOD.format(n=2)) - len("wd_2") + len(key)
    limit = "64 characters" if max_length else "2000 bytes (a key)"
    assert (reason, code, column) == (f"transaction_id: 'wd_{'9' * 37}…' is longer than {limit}", "too_long",
                                      "transaction_id")  # fmt: skip
    assert raw.startswith("wd_999") and raw.endswith(f"[cut: {line_bytes:,} bytes in total]")


def test_a_20_mb_field_is_stored_as_a_bounded_prefix(
    conn: psycopg.Connection, loader: psycopg.Connection, spec: SourceSpec, tmp_path: Path
) -> None:
    huge = "x" * 20_000_000
    found = load_day(conn, loader, spec, tmp_path, GOOD.format(n=1), GOOD.format(n=2).replace("USD", huge))
    reason, code, column, raw = found[3]
    assert (code, column) == ("not_allowed", "fiat_currency") and len(reason) < 200
    assert len(raw.encode()) <= KEPT_BYTES + 100 and raw.endswith("bytes in total]")
    stored = conn.execute("select sum(octet_length(raw_line) + octet_length(reason)) from mesh_meta.quarantine")
    assert stored.fetchone()[0] < 2 * KEPT_BYTES


def test_an_empty_file_is_rejected_by_name_and_the_later_files_load(
    conn: psycopg.Connection, loader: psycopg.Connection, spec: SourceSpec, tmp_path: Path
) -> None:
    export(tmp_path, "01", GOOD.format(n=1))
    empty = export(tmp_path, "02")
    empty.write_bytes(b"")
    export(tmp_path, "03", GOOD.format(n=3))
    loaded = []
    with pytest.raises(ExportRejected, match=rf"{empty}: the file is empty \(0 bytes\)"):
        for result in load_source(loader, spec, export_files(tmp_path, spec)):
            loaded.append(result.file_name)
    assert loaded == ["withdrawals_2026-11-01.csv", "withdrawals_2026-11-03.csv"]
    assert loaded_ids(conn) == {"wd_1", "wd_3"}


def test_a_lost_connection_names_the_file_and_gives_the_connection_hint(
    conn: psycopg.Connection, loader: psycopg.Connection, spec: SourceSpec, tmp_path: Path, database_url: str
) -> None:
    path = export(tmp_path, "01", GOOD.format(n=1))
    list(load_source(loader, spec, []))  # tables exist
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("select pg_terminate_backend(%s)", (loader.info.backend_pid,))
    with pytest.raises(MeshError) as error:
        load_file(loader, spec, path)
    assert str(path) in error.value.message and "the load was rolled back" in error.value.message
    assert "CREATEROLE" not in str(error.value) and "run the command again" in (error.value.hint or "")


def test_a_missing_privilege_gives_the_privilege_hint(
    conn: psycopg.Connection, loader: psycopg.Connection, spec: SourceSpec, tmp_path: Path, database_url: str
) -> None:
    path = export(tmp_path, "01", GOOD.format(n=1))
    list(load_source(loader, spec, []))
    role = f"mesh_test_nobody_{uuid.uuid4().hex[:8]}"
    conn.execute(f"create role {role} login password 'nobody-pw'")
    info = dataclasses.replace(ConnectionInfo.from_url(database_url), user=role, password="nobody-pw")
    try:
        with psycopg.connect(info.libpq_url, autocommit=True) as nobody, pytest.raises(MeshError) as error:
            load_file(nobody, spec, path)
    finally:
        conn.execute(f"drop role {role}")
    assert str(path) in error.value.message and "SQLSTATE 42501" in error.value.message
    assert "may not do this" in (error.value.hint or "")
