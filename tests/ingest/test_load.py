"""Load into a real Postgres: idempotent on the natural key, accounted, transactional per file."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

import psycopg
import pytest
from paths import PROJECT_DIR

from meshplatform.config import Settings
from meshplatform.contracts.model import SourceSpec, inbound_sources
from meshplatform.errors import ExportRejected, MeshError
from meshplatform.ingest.load import export_files, files_dated, load_source

HEADER = "transaction_id,user_id,requested_at,completed_at,status,toco_amount,fiat_currency,fiat_amount,exchange_rate,updated_at,"


def row(tid: str, status: str, updated: str, completed: str | None = None) -> str:
    """A valid line; a completed withdrawal is completed when it was last updated unless told otherwise."""
    completed = (updated if status == "completed" else "") if completed is None else completed
    return f"{tid},7,2026-11-01T10:00:00Z,{completed},{status},10.00,EUR,9.20,0.920000,{updated},"


@pytest.fixture(scope="module")
def spec() -> SourceSpec:
    return inbound_sources(PROJECT_DIR / "contracts", "withdrawals")[0]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    (tmp_path / "withdrawals").mkdir()
    return tmp_path


def export(inbox: Path, day: str, *lines: str) -> Path:
    path = inbox / "withdrawals" / f"withdrawals_2026-11-{day}.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def table(conn: psycopg.Connection, spec: SourceSpec) -> dict[str, tuple[str, str]]:
    rows = conn.execute(f"select transaction_id, status, _source_file from {spec.qualified_table}").fetchall()
    return {tid: (status, source) for tid, status, source in rows}


@pytest.fixture(autouse=True)
def empty_tables(conn: psycopg.Connection) -> None:
    conn.execute("drop schema if exists raw_withdrawals cascade")
    conn.execute("drop schema if exists mesh_meta cascade")


def test_later_version_wins_and_older_or_repeated_rows_change_nothing(
    conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    export(
        inbox, "01", row("wd_1", "requested", "2026-11-01T10:00:00Z"), row("wd_2", "requested", "2026-11-01T11:00:00Z")
    )
    export(
        inbox,
        "02",
        row("wd_1", "completed", "2026-11-02T09:00:00Z", completed="2026-11-02T09:00:00Z"),
        row("wd_2", "requested", "2026-11-01T11:00:00Z"),  # re-delivered, unchanged
    )
    results = list(load_source(login_conn(spec.domain), spec, export_files(inbox, spec)))
    assert [(r.rows_inserted, r.rows_updated, r.rows_unchanged) for r in results] == [(2, 0, 0), (0, 1, 1)]
    assert table(conn, spec) == {
        "wd_1": ("completed", "withdrawals_2026-11-02.csv"),
        "wd_2": ("requested", "withdrawals_2026-11-01.csv"),
    }
    # an older version delivered late does not roll the status back
    late = export(inbox, "03", row("wd_1", "processing", "2026-11-01T12:00:00Z"))
    (result,) = load_source(login_conn(spec.domain), spec, [late])
    assert (result.rows_loaded, result.rows_updated) == (1, 0)
    assert table(conn, spec)["wd_1"][0] == "completed"


def test_same_key_twice_in_one_file_keeps_the_latest_version(
    conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    path = export(
        inbox, "01", row("wd_1", "completed", "2026-11-01T12:00:00Z"), row("wd_1", "requested", "2026-11-01T10:00:00Z")
    )
    (result,) = load_source(login_conn(spec.domain), spec, [path])
    assert (result.rows_read, result.rows_loaded, result.rows_inserted) == (2, 2, 1)
    assert table(conn, spec)["wd_1"][0] == "completed"


def test_redelivered_file_is_a_no_op(
    conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    path = export(inbox, "01", row("wd_1", "requested", "2026-11-01T10:00:00Z"), "wd_bad,x,,,,,,,,,")
    first = list(load_source(login_conn(spec.domain), spec, [path]))
    again = list(load_source(login_conn(spec.domain), spec, [path]))
    assert not first[0].skipped and again[0].skipped
    assert conn.execute("select count(*) from mesh_meta.load_ledger").fetchone()[0] == 1
    assert conn.execute("select count(*) from mesh_meta.quarantine").fetchone()[0] == 1


def test_reload_of_a_date_range_merges_those_files_again_and_keeps_one_ledger_entry_each(
    conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    export(inbox, "01", row("wd_1", "requested", "2026-11-01T10:00:00Z"), "wd_bad,x,,,,,,,,,")
    export(inbox, "02", row("wd_2", "requested", "2026-11-02T10:00:00Z"))
    export(inbox, "03", row("wd_3", "requested", "2026-11-03T10:00:00Z"))
    files = export_files(inbox, spec)
    list(load_source(login_conn(spec.domain), spec, files))
    conn.execute("delete from raw_withdrawals.withdrawals")  # rows lost after their files were loaded
    assert [p.name for p in files_dated(files, date(2026, 11, 1), date(2026, 11, 2))] == [
        "withdrawals_2026-11-01.csv",
        "withdrawals_2026-11-02.csv",
    ]
    again = files_dated(files, date(2026, 11, 1), date(2026, 11, 2))
    results = list(load_source(login_conn(spec.domain), spec, files, reload=again))
    assert [r.skipped for r in results] == [False, False, True]
    assert sorted(table(conn, spec)) == ["wd_1", "wd_2"]  # the third file was not loaded again
    ledger = conn.execute(
        "select file_name, rows_read, rows_quarantined from mesh_meta.load_ledger order by 1"
    ).fetchall()
    assert ledger == [
        ("withdrawals_2026-11-01.csv", 2, 1),
        ("withdrawals_2026-11-02.csv", 1, 0),
        ("withdrawals_2026-11-03.csv", 1, 0),
    ]
    assert conn.execute("select count(*) from mesh_meta.quarantine").fetchone()[0] == 1  # its bad line kept once


def test_quarantine_keeps_file_line_raw_line_and_reason(
    conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    bad = row("wd_2", "requested", "2026-11-01T10:00:00Z").replace("EUR", "DOGE")
    path = export(inbox, "01", row("wd_1", "requested", "2026-11-01T10:00:00Z"), bad)
    (result,) = load_source(login_conn(spec.domain), spec, [path])
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (2, 1, 1)
    quarantined = conn.execute("select file_name, line_number, raw_line, reason from mesh_meta.quarantine").fetchall()
    assert quarantined == [(path.name, 3, bad, "fiat_currency: 'DOGE' is not one of USD, EUR, GBP, MXN, BRL, ARS, COP")]


def test_rejected_file_loads_nothing_and_the_files_after_it_still_load(
    conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    export(inbox, "01", row("wd_1", "requested", "2026-11-01T10:00:00Z"))
    broken = export(inbox, "02", row("wd_2", "requested", "2026-11-02T10:00:00Z"))
    broken.write_bytes(broken.read_bytes() + "wd_3,7,\xe9\n".encode("latin-1"))
    export(inbox, "03", row("wd_4", "requested", "2026-11-03T10:00:00Z"))
    loaded = []
    with pytest.raises(ExportRejected, match=r"withdrawals_2026-11-02\.csv: line 3, byte 8: not valid UTF-8"):
        for result in load_source(login_conn(spec.domain), spec, export_files(inbox, spec)):
            loaded.append(result.file_name)
    assert loaded == ["withdrawals_2026-11-01.csv", "withdrawals_2026-11-03.csv"]
    assert set(table(conn, spec)) == {"wd_1", "wd_4"}  # wd_2 came before the bad line and was rolled back
    assert conn.execute("select count(*) from mesh_meta.load_ledger").fetchone()[0] == 2
    assert conn.execute("select count(*) from mesh_meta.quarantine").fetchone()[0] == 0


def test_generated_exports_account_for_every_row_and_load_once(
    mesh_env: Settings, conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection]
) -> None:
    from meshplatform.sample_data.generator import generate

    truth = generate(mesh_env.exports_dir, size=3_000, days=4, seed=7)
    counts = {}
    for spec in inbound_sources(mesh_env.contracts_dir):
        results = list(
            load_source(login_conn(spec.domain), spec, export_files(mesh_env.exports_dir, spec), progress=None)
        )
        assert all(r.rows_read == r.rows_loaded + r.rows_quarantined for r in results)
        assert sum(r.rows_read for r in results) == truth.rows_written[spec.name]
        counts[spec.name] = conn.execute(f"select count(*) from {spec.qualified_table}").fetchone()[0]
        snapshot = conn.execute(
            f"select md5(string_agg(t::text, '|' order by t::text)) from {spec.qualified_table} t"
        ).fetchone()
        again = list(load_source(login_conn(spec.domain), spec, export_files(mesh_env.exports_dir, spec)))
        assert all(r.skipped for r in again)
        assert (
            conn.execute(
                f"select md5(string_agg(t::text, '|' order by t::text)) from {spec.qualified_table} t"
            ).fetchone()
            == snapshot
        )
    assert counts == {"users": truth.users, "withdrawals": truth.distinct_transaction_ids}


def test_same_version_with_different_content_is_settled_by_the_later_file_whatever_the_load_order(
    conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    older = export(inbox, "01", row("wd_1", "processing", "2026-11-01T10:00:00Z"))
    newer = export(inbox, "02", row("wd_1", "failed", "2026-11-01T10:00:00Z"))
    list(load_source(login_conn(spec.domain), spec, [newer, older]))  # delivered out of order
    assert table(conn, spec)["wd_1"] == ("failed", "withdrawals_2026-11-02.csv")


def test_timestamp_without_offset_is_read_as_utc(
    conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    loader = login_conn("withdrawals")
    loader.execute("set timezone = 'Asia/Tokyo'")
    path = export(inbox, "01", row("wd_1", "requested", "2026-11-01T10:00:00"))
    list(load_source(loader, spec, [path]))
    stored = conn.execute("select updated_at at time zone 'UTC' from raw_withdrawals.withdrawals").fetchone()[0]
    assert stored.isoformat() == "2026-11-01T10:00:00"


def test_progress_comes_file_by_file_on_the_callers_thread_while_the_next_file_is_read_ahead(
    login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    for day in ("01", "02", "03"):
        export(inbox, day, *(row(f"wd_{day}_{n}", "requested", f"2026-11-{day}T10:00:00Z") for n in range(50)))
    events: list[tuple[str, str]] = []

    def progress(file_name: str, rows: int, bytes_read: int, size: int) -> None:
        assert threading.current_thread() is threading.main_thread()
        events.append(("progress", file_name))

    for result in load_source(login_conn(spec.domain), spec, export_files(inbox, spec), progress=progress):
        events.append(("result", result.file_name))
    names = [name for _, name in events]
    assert names == sorted(names) and [kind for kind, _ in events].count("result") == 3
    assert all(events[i + 1][1] != name for i, (kind, name) in enumerate(events[:-1]) if kind == "result")


def test_a_caller_stopping_after_a_file_gets_none_of_the_later_files_loaded(
    conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    for day in ("01", "02", "03"):
        export(inbox, day, row(f"wd_{day}", "requested", f"2026-11-{day}T10:00:00Z"))
    loader = login_conn(spec.domain)
    results = load_source(loader, spec, export_files(inbox, spec))
    assert next(results).file_name == "withdrawals_2026-11-01.csv"
    results.close()
    assert set(table(conn, spec)) == {"wd_01"}
    assert conn.execute("select count(*) from mesh_meta.load_ledger").fetchone()[0] == 1
    assert loader.execute("select 1").fetchone() == (1,)  # the caller's connection is left usable


def test_a_file_the_database_refuses_stops_the_files_after_it(
    conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    loader = login_conn(spec.domain)
    list(load_source(loader, spec, []))  # the raw table exists
    conn.execute(
        "create function raw_withdrawals.refuse() returns trigger language plpgsql as $$ begin "
        "if new.transaction_id = 'wd_refused' then raise exception 'refused by a trigger'; end if; return new; end $$"
    )
    conn.execute(
        f"create trigger refuse before insert on {spec.qualified_table} for each row execute function raw_withdrawals.refuse()"
    )
    export(
        inbox,
        "01",
        row("wd_1", "requested", "2026-11-01T10:00:00Z"),
        row("wd_refused", "requested", "2026-11-01T10:00:00Z"),
    )
    export(inbox, "02", row("wd_2", "requested", "2026-11-02T10:00:00Z"))
    with pytest.raises(MeshError, match=r"withdrawals_2026-11-01\.csv: the load was rolled back.*refused by a trigger"):
        list(load_source(loader, spec, export_files(inbox, spec)))
    assert table(conn, spec) == {}
    assert conn.execute("select count(*) from mesh_meta.load_ledger").fetchone()[0] == 0


def test_a_load_of_many_files_holds_two_connections_at_most(
    conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection], spec: SourceSpec, inbox: Path
) -> None:
    """A day's backlog of files must not use up the server's connections (the read-ahead of the
    next file takes one more connection, once)."""
    for day in range(1, 13):
        export(inbox, f"{day:02}", row(f"wd_{day}", "requested", f"2026-11-{day:02}T10:00:00Z"))
    loader = login_conn(spec.domain)
    counts = []
    for _ in load_source(loader, spec, export_files(inbox, spec)):
        counts.append(
            conn.execute(
                "select count(*) from pg_stat_activity where usename = %s and datname = current_database()",
                (loader.info.user,),
            ).fetchone()[0]
        )
    assert len(counts) == 12 and set(table(conn, spec)) == {f"wd_{day}" for day in range(1, 13)}
    assert max(counts) <= 2, counts
