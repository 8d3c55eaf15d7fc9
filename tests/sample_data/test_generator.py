"""Tests of the export generator: format, determinism, awkward cases, and a ground truth that is
recomputed independently from the CSV files (csv module + Decimal, no generator internals).

Malformed lines are told apart from valid ones by checking every record against the rules of the
inbound contracts (contracts/*/*_export.odcs.yaml) with plain Python, not with generator code;
the real extractor must then quarantine exactly those lines."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from pathlib import Path

import psycopg
import pytest
from paths import PROJECT_DIR

from meshplatform.contracts.model import inbound_sources
from meshplatform.ingest.load import load_source
from meshplatform.sample_data.generator import GroundTruth, generate

USER_HEADER = ["user_id", "signup_date", "country", "kyc_status", "account_type", "updated_at", ""]
WITHDRAWAL_HEADER = [
    "transaction_id", "user_id", "requested_at", "completed_at", "status", "toco_amount",
    "fiat_currency", "fiat_amount", "exchange_rate", "updated_at", "",
]  # fmt: skip
GROUND_TRUTH_KEYS = [
    "seed", "size", "days", "files", "rows_written", "malformed_rows", "users",
    "unique_withdrawals", "distinct_transaction_ids", "content_duplicates", "orphan_withdrawals",
    "latest_status_counts", "daily",
]  # fmt: skip
CONTENT = ("user_id", "requested_at", "toco_amount", "fiat_currency", "fiat_amount")
STAMP = "%Y-%m-%dT%H:%M:%SZ"
SIZE, DAYS, SEED = 5_000, 5, 7


# --- the contract rules, in plain Python ---------------------------------------------------

Check = Callable[[str], bool]


def is_integer(value: str) -> bool:
    return re.fullmatch(r"-?\d{1,18}", value) is not None


def is_number(scale: int, above: Decimal | None = None) -> Check:
    """numeric(18, scale): at most `scale` decimals, with an exclusive minimum."""

    def check(value: str) -> bool:
        if re.fullmatch(rf"-?\d{{1,{18 - scale}}}(\.\d{{1,{scale}}})?", value) is None:
            return False
        number = Decimal(value)
        return above is None or number > above

    return check


def is_date(value: str) -> bool:
    if re.fullmatch(r"\d{4}-\d\d-\d\d", value) is None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_timestamp(value: str) -> bool:
    try:
        datetime.strptime(value, STAMP)
    except ValueError:
        return False
    return True


def one_of(*allowed: str) -> Check:
    return lambda value: value in allowed


def required(check: Check) -> Check:
    return lambda value: value != "" and check(value)


def optional(check: Check) -> Check:
    return lambda value: value == "" or check(value)


USER_RULES: dict[str, Check] = {
    "user_id": required(is_integer),
    "signup_date": required(is_date),
    "country": required(lambda value: re.fullmatch(r"[A-Z]{2}", value) is not None),
    "kyc_status": required(one_of("verified", "pending", "rejected", "unverified")),
    "account_type": required(one_of("personal", "business")),
    "updated_at": required(is_timestamp),
}
WITHDRAWAL_RULES: dict[str, Check] = {
    "transaction_id": required(lambda value: True),
    "user_id": required(is_integer),
    "requested_at": required(is_timestamp),
    "completed_at": optional(is_timestamp),
    "status": required(one_of("requested", "processing", "completed", "failed", "cancelled")),
    "toco_amount": required(is_number(2, above=Decimal(0))),
    "fiat_currency": required(one_of("USD", "EUR", "GBP", "MXN", "BRL", "ARS", "COP")),
    "fiat_amount": required(is_number(2, above=Decimal(0))),
    "exchange_rate": required(is_number(6, above=Decimal(0))),
    "updated_at": required(is_timestamp),
}
RULES = {"users": USER_RULES, "withdrawals": WITHDRAWAL_RULES}
HEADERS = {"users": USER_HEADER, "withdrawals": WITHDRAWAL_HEADER}


def conforms(record: list[str], rules: dict[str, Check]) -> bool:
    """Right field count, every field valid, and an empty trailing column."""
    if len(record) != len(rules) + 1 or record[-1] != "":
        return False
    return all(check(value) for check, value in zip(rules.values(), record, strict=False))


# --- reading the exports --------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One valid data line of an export file, with where it came from."""

    day: int  # index of the file in date order
    line_number: int
    line: str
    values: dict[str, str]


@dataclass(frozen=True)
class Malformed:
    """A data line that breaks the contract, and the record just before it in its file."""

    day: int
    line_number: int
    fields: list[str]
    previous: list[str]


@dataclass(frozen=True)
class Exports:
    root: Path
    files: dict[str, list[str]]
    users: list[Row]
    withdrawals: list[Row]
    malformed: dict[str, list[Malformed]]

    def malformed_lines(self) -> set[tuple[str, int]]:
        """(file name, line number) of every malformed line."""
        return {
            (self.files[domain][bad.day], bad.line_number) for domain, lines in self.malformed.items() for bad in lines
        }


def read_domain(root: Path, domain: str) -> tuple[list[str], list[Row], list[Malformed]]:
    """Relative file names (date order), valid rows and malformed lines of a domain."""
    header, rules = HEADERS[domain], RULES[domain]
    names, rows, malformed = [], [], []
    for day, path in enumerate(sorted((root / domain).glob(f"{domain}_*.csv"))):
        names.append(path.relative_to(root).as_posix())
        with path.open(encoding="utf-8", newline="") as handle:
            records = csv.reader(handle)
            previous = next(records)
            assert previous == header
            for record in records:
                if conforms(record, rules):
                    values = dict(zip(header[:-1], record[:-1], strict=True))
                    rows.append(Row(day, records.line_num, ",".join(record), values))
                else:
                    malformed.append(Malformed(day, records.line_num, record, previous))
                previous = record
    return names, rows, malformed


def load_exports(root: Path) -> Exports:
    user_files, users, bad_users = read_domain(root, "users")
    withdrawal_files, withdrawals, bad_withdrawals = read_domain(root, "withdrawals")
    return Exports(
        root,
        {"users": user_files, "withdrawals": withdrawal_files},
        users,
        withdrawals,
        {"users": bad_users, "withdrawals": bad_withdrawals},
    )


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
    """The ground truth, from the CSV files only (figures other than line counts: valid lines)."""
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
        "rows_written": {
            "users": len(exports.users) + len(exports.malformed["users"]),
            "withdrawals": len(exports.withdrawals) + len(exports.malformed["withdrawals"]),
        },
        "malformed_rows": {domain: len(lines) for domain, lines in exports.malformed.items()},
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


# --- malformed lines ------------------------------------------------------------------------


def one_defect_apart(original: list[str], copy: list[str]) -> bool:
    """`copy` is `original` with exactly one field changed, or with one field left out."""
    if len(copy) == len(original):
        return sum(a != b for a, b in zip(original, copy, strict=True)) == 1
    return len(copy) == len(original) - 1 and any(
        original[:i] + original[i + 1 :] == copy for i in range(len(original))
    )


def test_malformed_lines_are_extra_copies_of_the_valid_line_before_them(exports: Exports) -> None:
    for domain, lines in exports.malformed.items():
        assert lines, domain
        for bad in lines:
            assert conforms(bad.previous, RULES[domain]), (domain, bad)
            assert one_defect_apart(bad.previous, bad.fields), (domain, bad)


def test_malformed_lines_are_about_a_thousandth_of_each_withdrawals_file(exports: Exports) -> None:
    """One in the first 200 lines of a file and then one per 1000 (users: a few per file)."""
    for domain, at_least, at_most in [
        ("withdrawals", lambda n: max(n >= 200, n // 1000), lambda n: -(-n // 1000)),
        ("users", lambda n: int(n >= 20), lambda n: 3),
    ]:
        valid = Counter(row.day for row in getattr(exports, domain))
        malformed = Counter(bad.day for bad in exports.malformed[domain])
        assert set(malformed) <= set(valid) == set(range(DAYS))
        for day, lines in valid.items():
            assert at_least(lines) <= malformed[day] <= at_most(lines), (domain, day, lines)
            assert at_least(lines) >= 1  # every file of the fixture is big enough for one


def quarantine(
    root: Path, conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection]
) -> dict[str, tuple[int, list[tuple[str, int, str]]]]:
    """Per source, rows read and (file, line number, reason) of each quarantined row, from the
    real loader (as each domain's login) over the generated files, into a database emptied first."""
    for schema in ("mesh_meta", "raw_users", "raw_withdrawals"):
        conn.execute(f"drop schema if exists {schema} cascade")
    out = {}
    for spec in inbound_sources(PROJECT_DIR / "contracts"):
        files = sorted((root / spec.domain).glob(spec.file_pattern))
        results = list(load_source(login_conn(spec.domain), spec, files))
        rows = conn.execute(
            "select file_name, line_number, reason from mesh_meta.quarantine where source = %s order by 1, 2",
            (spec.name,),
        ).fetchall()
        out[spec.name] = (sum(r.rows_read for r in results), [(f"{spec.domain}/{f}", n, r) for f, n, r in rows])
    return out


def test_the_loader_quarantines_exactly_the_malformed_lines(
    exports: Exports, conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection]
) -> None:
    truth = GroundTruth.load(exports.root)
    found = quarantine(exports.root, conn, login_conn)
    assert set(found) == {"users", "withdrawals"}
    for source, (read, quarantined) in found.items():
        assert read == truth.rows_written[source]
        assert len(quarantined) == truth.malformed_rows[source] > 0
    quarantined_lines = {(name, line) for _, rows in found.values() for name, line, _ in rows}
    assert quarantined_lines == exports.malformed_lines()


WITHDRAWAL_DEFECTS = [
    r"toco_amount: '[^']*' is not a number with at most 2 decimals",
    r"requested_at: '[^']*' is not an ISO-8601 timestamp",
    r"missing key transaction_id",
    r"fiat_currency: '[^']*' is not one of .*",
    r"status: '[^']*' is not one of .*",
    r"toco_amount: '-[^']*' must be greater than 0",
    r"the last column carries no information and must be empty, found '.+'",
    r"too few fields: expected 11, found 10",
]
USER_DEFECTS = [
    r"user_id: '[^']*' is not an integer",
    r"signup_date: '[^']*' is not a date \(YYYY-MM-DD\)",
    r"missing key user_id",
    r"kyc_status: '[^']*' is not one of .*",
    r"country: '[^']*' does not match .*",
    r"the last column carries no information and must be empty, found '.+'",
    r"too few fields: expected 7, found 6",
]


def test_malformed_lines_rotate_through_every_kind_of_defect(
    tmp_path: Path, conn: psycopg.Connection, login_conn: Callable[[str], psycopg.Connection]
) -> None:
    truth = generate(tmp_path, size=8_000, days=8, seed=11)  # 8 files of >= 20 lines
    exports = load_exports(tmp_path)
    found = quarantine(tmp_path, conn, login_conn)
    for source, kinds in [("withdrawals", WITHDRAWAL_DEFECTS), ("users", USER_DEFECTS)]:
        read, quarantined = found[source]
        assert read == truth.rows_written[source]
        assert len(quarantined) == truth.malformed_rows[source] == len(exports.malformed[source])
        reasons = [reason for _, _, reason in quarantined]
        for kind in kinds:  # one defect per line: the reason names only that one
            assert any(re.fullmatch(kind, reason) for reason in reasons), (source, kind)
        assert all(any(re.fullmatch(kind, reason) for kind in kinds) for reason in reasons)
    assert recompute_truth(exports)["malformed_rows"] == truth.malformed_rows


# --- format ---------------------------------------------------------------------------------


def test_every_line_ends_with_an_empty_last_column_and_lf(exports: Exports) -> None:
    malformed = exports.malformed_lines()
    for path in sorted(exports.root.glob("*/*.csv")):
        name, data = path.relative_to(exports.root).as_posix(), path.read_bytes()
        assert b"\r" not in data and data.endswith(b"\n")
        for number, line in enumerate(data.split(b"\n")[:-1], start=1):
            assert line.endswith(b",") or (name, number) in malformed, (name, number)


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
    generate(tmp_path / "b2", size=2_000, days=4, seed=3, chunk_size=37)
    generate(tmp_path / "c", size=2_000, days=4, seed=4)
    assert checksums(tmp_path / "a") == checksums(tmp_path / "b") == checksums(tmp_path / "b2")
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


@pytest.mark.parametrize(("size", "days"), [(0, 5), (10, 0)])
def test_invalid_arguments_are_rejected(tmp_path: Path, size: int, days: int) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, size=size, days=days)
