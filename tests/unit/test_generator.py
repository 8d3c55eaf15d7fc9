"""Tests of the export generator: format, determinism, awkward cases, and a ground truth that is
recomputed independently from the CSV files (csv module + Decimal, no generator internals)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from pathlib import Path

import pytest

from meshplatform.generator import GroundTruth, generate

USER_HEADER = ["user_id", "signup_date", "country", "kyc_status", "account_type", "updated_at", ""]
WITHDRAWAL_HEADER = [
    "transaction_id", "user_id", "requested_at", "completed_at", "status", "toco_amount",
    "fiat_currency", "fiat_amount", "exchange_rate", "updated_at", "",
]  # fmt: skip
GROUND_TRUTH_KEYS = [
    "seed", "size", "days", "files", "rows_written", "users", "unique_withdrawals",
    "distinct_transaction_ids", "content_duplicates", "orphan_withdrawals",
    "latest_status_counts", "daily",
]  # fmt: skip
CONTENT = ("user_id", "requested_at", "toco_amount", "fiat_currency", "fiat_amount")
STAMP = "%Y-%m-%dT%H:%M:%SZ"
SIZE, DAYS, SEED = 5_000, 5, 7


@dataclass(frozen=True)
class Row:
    """One data line of an export file, with where it came from."""

    day: int  # index of the file in date order
    line: str
    values: dict[str, str]


@dataclass(frozen=True)
class Exports:
    root: Path
    files: dict[str, list[str]]
    users: list[Row]
    withdrawals: list[Row]


def read_domain(root: Path, domain: str, header: list[str]) -> tuple[list[str], list[Row]]:
    """Relative file names (date order) and rows of a domain; checks header and trailing column."""
    names, rows = [], []
    for day, path in enumerate(sorted((root / domain).glob(f"{domain}_*.csv"))):
        names.append(path.relative_to(root).as_posix())
        with path.open(encoding="utf-8", newline="") as handle:
            records = csv.reader(handle)
            assert next(records) == header
            for record in records:
                assert len(record) == len(header) and record[-1] == "", record
                line = ",".join(record)
                rows.append(Row(day, line, dict(zip(header[:-1], record[:-1], strict=True))))
    return names, rows


def load_exports(root: Path) -> Exports:
    user_files, users = read_domain(root, "users", USER_HEADER)
    withdrawal_files, withdrawals = read_domain(root, "withdrawals", WITHDRAWAL_HEADER)
    return Exports(root, {"users": user_files, "withdrawals": withdrawal_files}, users, withdrawals)


def stamp(text: str) -> datetime:
    return datetime.strptime(text, STAMP)


def latest_versions(rows: list[Row], key: str) -> dict[str, dict[str, str]]:
    """Greatest updated_at per key; rows sharing a key and updated_at must be identical."""
    latest: dict[str, dict[str, str]] = {}
    for row in rows:
        current = latest.get(row.values[key])
        if current is None or stamp(row.values["updated_at"]) > stamp(current["updated_at"]):
            latest[row.values[key]] = row.values
        elif current["updated_at"] == row.values["updated_at"]:
            assert current == row.values
    return latest


def duplicate_groups(latest: dict[str, dict[str, str]]) -> dict[tuple[str, ...], list[str]]:
    """transaction_ids (sorted) per content (user_id, requested_at, amounts, currency)."""
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for transaction_id, values in latest.items():
        groups[tuple(values[field] for field in CONTENT)].append(transaction_id)
    return {content: sorted(ids) for content, ids in groups.items()}


def recompute_truth(exports: Exports) -> dict[str, object]:
    """The ground truth, from the CSV files only."""
    latest = latest_versions(exports.withdrawals, "transaction_id")
    unique = [latest[ids[0]] for ids in duplicate_groups(latest).values()]
    known_users = {row.values["user_id"] for row in exports.users}
    statuses = ["requested", "processing", "completed", "failed", "cancelled"]
    status_counts = dict.fromkeys(statuses, 0)
    cells: dict[tuple[str, str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for values in unique:
        status_counts[values["status"]] += 1
        cell = cells[(values["requested_at"][:10], values["fiat_currency"], values["status"])]
        cell[0] += 1
        cell[1] += Decimal(values["toco_amount"])
        cell[2] += Decimal(values["fiat_amount"])
    daily = [
        {
            "requested_date": day,
            "fiat_currency": currency,
            "status": status,
            "withdrawal_count": int(count),
            "toco_amount": f"{toco:.2f}",
            "fiat_amount": f"{fiat:.2f}",
        }
        for (day, currency, status), (count, toco, fiat) in sorted(cells.items())
    ]
    return {
        "files": exports.files,
        "rows_written": {"users": len(exports.users), "withdrawals": len(exports.withdrawals)},
        "users": len(known_users),
        "unique_withdrawals": len(unique),
        "distinct_transaction_ids": len(latest),
        "content_duplicates": len(latest) - len(unique),
        "orphan_withdrawals": sum(values["user_id"] not in known_users for values in unique),
        "latest_status_counts": status_counts,
        "daily": daily,
    }


def checksums(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    root = tmp_path_factory.mktemp("exports")
    generate(root, size=SIZE, days=DAYS, seed=SEED)
    return load_exports(root)


# --- ground truth ---------------------------------------------------------------------------


def test_ground_truth_matches_independent_recomputation(exports: Exports) -> None:
    written = json.loads((exports.root / "ground_truth.json").read_text(encoding="utf-8"))
    assert list(written) == GROUND_TRUTH_KEYS
    assert (written["seed"], written["size"], written["days"]) == (SEED, SIZE, DAYS)
    expected = recompute_truth(exports)
    cell_key = itemgetter("requested_date", "fiat_currency", "status")
    assert sorted(written.pop("daily"), key=cell_key) == expected.pop("daily")
    assert {key: written[key] for key in expected} == expected
    assert written["unique_withdrawals"] == SIZE


def test_returned_ground_truth_equals_written_file(tmp_path: Path) -> None:
    returned = generate(tmp_path, size=300, days=3, seed=1)
    assert GroundTruth.load(tmp_path) == returned
    assert GroundTruth.load(tmp_path / "ground_truth.json") == returned


# --- format ---------------------------------------------------------------------------------


def test_every_line_ends_with_an_empty_last_column_and_lf(exports: Exports) -> None:
    for path in sorted(exports.root.glob("*/*.csv")):
        data = path.read_bytes()
        assert b"\r" not in data and data.endswith(b",\n")
        assert all(line.endswith(b",") for line in data.split(b"\n")[:-1]), path


def test_field_formats(exports: Exports) -> None:
    timestamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    user_pattern = re.compile(
        rf"\d+,\d{{4}}-\d\d-\d\d,[A-Z]{{2}},(verified|pending|rejected|unverified),"
        rf"(personal|business),{timestamp}"
    )
    withdrawal_pattern = re.compile(
        rf"wd_\d{{10}},\d+,{timestamp},({timestamp})?,"
        rf"(requested|processing|completed|failed|cancelled),\d+\.\d\d,"
        rf"(USD|EUR|GBP|MXN|BRL|ARS|COP),\d+\.\d\d,\d+\.\d{{6}},{timestamp}"
    )
    assert all(user_pattern.fullmatch(row.line[:-1]) for row in exports.users)
    assert all(withdrawal_pattern.fullmatch(row.line[:-1]) for row in exports.withdrawals)


def test_withdrawal_values_are_consistent(exports: Exports) -> None:
    for row in exports.withdrawals:
        values = row.values
        toco, rate = Decimal(values["toco_amount"]), Decimal(values["exchange_rate"])
        assert toco > 0
        fiat = (toco * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert Decimal(values["fiat_amount"]) == fiat
        assert (values["status"] == "completed") == (values["completed_at"] != "")
        assert stamp(values["requested_at"]) <= stamp(values["updated_at"])
        if values["completed_at"]:
            assert stamp(values["requested_at"]) <= stamp(values["completed_at"])


def test_rows_are_not_from_the_future_of_their_file(exports: Exports) -> None:
    dates = [date.fromisoformat(name[-14:-4]) for name in exports.files["withdrawals"]]
    for row in exports.users + exports.withdrawals:
        assert stamp(row.values["updated_at"]).date() <= dates[row.day]


def test_known_users_are_delivered_no_later_than_their_withdrawals(exports: Exports) -> None:
    first_delivery: dict[str, int] = {}
    for row in exports.users:
        first_delivery.setdefault(row.values["user_id"], row.day)
    for row in exports.withdrawals:
        user = row.values["user_id"]
        assert user not in first_delivery or first_delivery[user] <= row.day


# --- awkward cases --------------------------------------------------------------------------


def test_rows_are_redelivered_identically_in_later_files(exports: Exports) -> None:
    for rows in (exports.users, exports.withdrawals):
        days_of_line: dict[str, set[int]] = defaultdict(set)
        for row in rows:
            days_of_line[row.line].add(row.day)
        assert any(len(days) > 1 for days in days_of_line.values())


def test_withdrawals_get_status_updates_in_later_files(exports: Exports) -> None:
    versions: dict[str, list[Row]] = defaultdict(list)
    for row in exports.withdrawals:
        versions[row.values["transaction_id"]].append(row)
    chains = {}
    for transaction_id, rows in versions.items():
        distinct = {row.values["updated_at"]: row for row in rows}
        chain = [distinct[key] for key in sorted(distinct)]
        assert [row.day for row in chain] == sorted(row.day for row in chain)
        chains[transaction_id] = [row.values["status"] for row in chain]
    assert ["requested", "completed"] in chains.values()
    assert ["requested", "processing", "completed"] in chains.values()
    assert {"failed", "cancelled"} <= {chain[-1] for chain in chains.values() if len(chain) > 1}
    assert sum(len(chain) > 1 for chain in chains.values()) > len(chains) / 2


def test_some_withdrawals_are_final_on_their_request_day(exports: Exports) -> None:
    same_day = {
        row.values["status"]
        for row in exports.withdrawals
        if row.values["updated_at"][:10] == row.values["requested_at"][:10]
    }
    assert {"requested", "processing", "completed", "failed"} <= same_day


def test_content_duplicates_have_later_ids_in_same_or_later_files(exports: Exports) -> None:
    first_day: dict[str, int] = {}
    for row in exports.withdrawals:
        first_day.setdefault(row.values["transaction_id"], row.day)
    latest = latest_versions(exports.withdrawals, "transaction_id")
    groups = [ids for ids in duplicate_groups(latest).values() if len(ids) > 1]
    assert groups and any(len(ids) > 2 for ids in groups)
    for original, *copies in groups:
        assert all(copy > original and first_day[copy] >= first_day[original] for copy in copies)
    assert any(first_day[ids[1]] == first_day[ids[0]] for ids in groups)
    assert any(first_day[ids[1]] > first_day[ids[0]] for ids in groups)


def test_orphan_user_ids_exist(exports: Exports) -> None:
    known = {row.values["user_id"] for row in exports.users}
    assert any(row.values["user_id"] not in known for row in exports.withdrawals)


def test_users_change_kyc_status_in_later_files(exports: Exports) -> None:
    versions: dict[str, set[tuple[str, str, int]]] = defaultdict(set)
    for row in exports.users:
        values = row.values
        versions[values["user_id"]].add((values["updated_at"], values["kyc_status"], row.day))
    changed = [sorted(v) for v in versions.values() if len({status for _, status, _ in v}) > 1]
    assert changed
    assert all(chain[0][2] < chain[-1][2] for chain in changed)


def test_new_users_arrive_on_later_days(exports: Exports) -> None:
    first_day: dict[str, int] = {}
    for row in exports.users:
        first_day.setdefault(row.values["user_id"], row.day)
    assert set(first_day.values()) == set(range(DAYS))
    assert list(first_day.values()).count(0) > len(first_day) / 2


def test_currencies_large_amounts_and_nulls_are_present(exports: Exports) -> None:
    values = [row.values for row in exports.withdrawals]
    assert {v["fiat_currency"] for v in values} == {"USD", "EUR", "GBP", "MXN", "BRL", "ARS", "COP"}
    assert any(Decimal(v["toco_amount"]) > 5000 for v in values)
    assert any(v["completed_at"] == "" for v in values)


# --- determinism and arguments --------------------------------------------------------------


def test_same_seed_gives_identical_files_whatever_the_chunk_size(tmp_path: Path) -> None:
    generate(tmp_path / "a", size=2_000, days=4, seed=3)
    generate(tmp_path / "b", size=2_000, days=4, seed=3, chunk_size=333)
    generate(tmp_path / "c", size=2_000, days=4, seed=4)
    assert checksums(tmp_path / "a") == checksums(tmp_path / "b")
    first, other = checksums(tmp_path / "a"), checksums(tmp_path / "c")
    assert first.keys() == other.keys()
    assert all(first[name] != other[name] for name in first)


def test_a_single_day_and_a_later_start_date(tmp_path: Path) -> None:
    truth = generate(tmp_path, size=200, days=1, seed=5, start_date=date(2027, 2, 28))
    assert truth.files == {
        "users": ["users/users_2027-02-28.csv"],
        "withdrawals": ["withdrawals/withdrawals_2027-02-28.csv"],
    }
    expected = recompute_truth(load_exports(tmp_path))
    assert {key: getattr(truth, key) for key in expected if key != "daily"} == {
        key: value for key, value in expected.items() if key != "daily"
    }


def test_progress_reports_every_chunk(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    generate(tmp_path, size=250, days=2, chunk_size=100, progress=lambda *call: calls.append(call))
    assert calls == [("users", 50)] + [("withdrawals", done) for done in (100, 200, 250)]


@pytest.mark.parametrize(("size", "days"), [(0, 5), (10, 0)])
def test_invalid_arguments_are_rejected(tmp_path: Path, size: int, days: int) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, size=size, days=days)
