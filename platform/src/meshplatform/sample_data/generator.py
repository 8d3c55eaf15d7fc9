"""Deterministic generator of the daily CSV exports (users, withdrawals) and their ground truth.

Every random value is a pure function of (seed, stream, key): a splitmix64 hash evaluated on
numpy arrays. Nothing about earlier rows is remembered, so memory stays flat whatever the size;
the same seed, size and days give byte-identical files, whatever the chunk size.

Layout and format follow the inbound contracts in contracts/. The data model in short:

- users 1..n_users (n_users = max(50, size // 8)); 80% delivered on day 1, the rest spread over
  the later days (a user's withdrawals start on the day the user is delivered). Some pending or
  unverified users are re-delivered later with a new kyc_status and a later updated_at.
- withdrawals wd_0000000001..wd_<size> are the originals, in request order. A withdrawal first
  appears on its request day (requested, processing, or already completed/failed); most get a
  final status (completed, failed, cancelled) 1-3 days later, some a processing step in between.
  Updates that would arrive after the last day never arrive.
- content duplicates get new ids above <size>, allocated in the order of their original, and
  copy the original's first version; they arrive in the same file or the next one.
- orphan user ids are n_users + 1 .. n_users + n_orphan_users (never in a users file).
- about 2% of all rows are re-delivered unchanged in the next day's file.
- fiat_amount = round_half_up(toco_amount * exchange_rate, 2), computed in integers.
- within a file, rows are ordered by original id, then transaction id, then version.
- malformed lines, which the loader must quarantine: an extra copy of a valid line of the same
  file with one deliberate defect, written right after it (so every ground-truth figure except
  rows_written and malformed_rows is unaffected). They sit at fixed positions of each file's
  sequence of valid lines: one in the first window, then one per block (see _Defects); about
  0.1% of the withdrawals lines (at least one in a file of >= 200 lines) and a few per users
  file. The defect kind rotates over the malformed lines numbered block by block, file by file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from enum import IntEnum
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TextIO, TypedDict

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Rows = dict[str, Ints]
"""A batch of rows: one int64 array per field (labels are stored as indexes)."""
LineFormatter = Callable[[Rows, "_Clock"], list[str]]

GROUND_TRUTH_FILE = "ground_truth.json"
CHUNK_SIZE = 100_000

USER_COLUMNS = ("user_id", "signup_date", "country", "kyc_status", "account_type", "updated_at")
WITHDRAWAL_COLUMNS = (
    "transaction_id", "user_id", "requested_at", "completed_at", "status", "toco_amount",
    "fiat_currency", "fiat_amount", "exchange_rate", "updated_at",
)  # fmt: skip
STATUSES = ("requested", "processing", "completed", "failed", "cancelled")
CURRENCIES = ("USD", "EUR", "GBP", "MXN", "BRL", "ARS", "COP")
KYC_STATUSES = ("verified", "pending", "rejected", "unverified")
ACCOUNT_TYPES = ("personal", "business")

REQUESTED, PROCESSING, COMPLETED, FAILED, CANCELLED = range(len(STATUSES))
VERIFIED, PENDING, REJECTED, UNVERIFIED = range(len(KYC_STATUSES))

DAY = 86_400
NULL = np.iinfo(np.int64).min  # marks an empty field (NULL) in a timestamp column
MAX_TRANSACTION_NUMBER = 9_999_999_999  # 'wd_' + 10 digits

# --- shape of the data (shares are per original withdrawal unless stated) ---
MIN_USERS = 50
WITHDRAWALS_PER_USER = 8
FIRST_DAY_USER_SHARE = 0.8
HISTORY_DAYS = 3 * 365  # signup dates of the first-day users go back this far
USER_SKEW = 1.5  # > 1: older (lower) user ids withdraw more often
ORPHAN_SHARE = 0.005
ORPHAN_USERS_PER_USER = 0.005
FOREIGN_CURRENCY_SHARE = 0.08  # withdrawals not in the currency of the user's country
AMOUNT_MEDIAN, AMOUNT_SIGMA, AMOUNT_CAP = 120.0, 1.0, 1_000_000.0
LARGE_SHARE, LARGE_MIN, LARGE_SPREAD = 0.003, 5_001.0, 5.0  # log-uniform in [5001, 25005)
RATE_DAILY_DRIFT, RATE_NOISE = 0.02, 0.006
FIRST_STATUS_WEIGHTS = (55, 25, 15, 5, 0)  # over STATUSES, on the request day
RESOLVED_SHARE = 0.9  # of withdrawals still requested/processing after their first day
RESOLUTION_GAP_WEIGHTS = (70, 20, 10)  # final status arrives 1, 2 or 3 days later
FINAL_STATUS_WEIGHTS = (88, 7, 5)  # completed, failed, cancelled
PROCESSING_STEP_SHARE = 0.5  # of requested ones not final on the next day: processing version then
DUPLICATE_SHARE, DOUBLE_DUPLICATE_SHARE = 0.01, 0.001  # get >= 1 / 2 content duplicates
DUPLICATE_NEXT_DAY_SHARE = 0.4
REDELIVERY_SHARE = 0.02  # of all rows
KYC_CHANGE_SHARE = 0.5  # of pending/unverified users
KYC_WEIGHTS = (60, 20, 5, 15)  # over KYC_STATUSES
BUSINESS_SHARE = 0.15
COUNTRIES = ("US", "MX", "BR", "AR", "CO", "GB", "DE", "ES", "FR", "NL", "IT")
COUNTRY_WEIGHTS = (25, 15, 15, 8, 7, 10, 6, 5, 5, 2, 2)
COUNTRY_CURRENCY = (0, 3, 4, 5, 6, 2, 1, 1, 1, 1, 1)  # index into CURRENCIES
CURRENCY_WEIGHTS = (40, 20, 10, 10, 10, 5, 5)  # of foreign-currency withdrawals
TOCO_RATES = (1.0, 0.92, 0.79, 17.2, 5.05, 1010.0, 3950.0)  # fiat per toco, by CURRENCIES


class DailyVolume(TypedDict):
    """One row of the daily aggregates: requested_date x fiat_currency x latest status."""

    requested_date: str
    fiat_currency: str
    status: str
    withdrawal_count: int
    toco_amount: str
    fiat_amount: str


@dataclass(frozen=True)
class GroundTruth:
    """What a correct pipeline must find in the exports (the ground_truth.json document)."""

    seed: int
    size: int
    days: int
    files: dict[str, list[str]]
    rows_written: dict[str, int]
    malformed_rows: dict[str, int]
    users: int
    unique_withdrawals: int
    distinct_transaction_ids: int
    content_duplicates: int
    orphan_withdrawals: int
    latest_status_counts: dict[str, int]
    daily: list[DailyVolume]

    def write(self, out_dir: Path) -> Path:
        """Write <out_dir>/ground_truth.json and return its path."""
        path = out_dir / GROUND_TRUTH_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> GroundTruth:
        """Read a ground_truth.json file, or the one inside an exports directory."""
        path = Path(path)
        if path.is_dir():
            path = path / GROUND_TRUTH_FILE
        document = json.loads(path.read_text(encoding="utf-8"))
        document.setdefault("malformed_rows", {"users": 0, "withdrawals": 0})  # older generator
        return cls(**document)


class _Stream(IntEnum):
    """Independent random streams: one per decision."""

    REQUEST_TIME = 1
    ORPHAN = 2
    USER_PICK = 3
    ORPHAN_PICK = 4
    FOREIGN_CURRENCY = 5
    CURRENCY_PICK = 6
    LARGE_AMOUNT = 7
    AMOUNT_A = 8
    AMOUNT_B = 9
    RATE_DRIFT = 10
    RATE_NOISE = 11
    FIRST_STATUS = 12
    FIRST_DELAY = 13
    RESOLVES = 14
    RESOLUTION_GAP = 15
    FINAL_STATUS = 16
    FINAL_TIME = 17
    PROCESSING_STEP = 18
    PROCESSING_TIME = 19
    DUPLICATES = 20
    DUPLICATE_DAY = 21
    REDELIVERY = 22
    COUNTRY = 23
    SIGNUP = 24
    USER_TIME = 25
    KYC = 26
    ACCOUNT = 27
    KYC_CHANGE = 28
    KYC_GAP = 29
    KYC_NEW = 30
    KYC_TIME = 31
    MALFORMED_USERS = 32
    MALFORMED_WITHDRAWALS = 33


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class _Random:
    """Counter-based randomness: uniform(stream, keys) depends only on (seed, stream, key)."""

    def __init__(self, seed: int) -> None:
        self._seed = np.array([seed % 2**64], dtype=np.uint64)

    def uniform(self, stream: _Stream, keys: Ints) -> Floats:
        """Uniform floats in [0, 1), one per key."""
        offset = _mix(self._seed * _GOLDEN + np.uint64(stream))
        bits = _mix(keys.astype(np.uint64) * _GOLDEN + offset)
        return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def below(self, stream: _Stream, keys: Ints, bound: Ints | int) -> Ints:
        """Uniform integers in [0, bound), one per key."""
        return (self.uniform(stream, keys) * bound).astype(np.int64)

    def pick(self, stream: _Stream, keys: Ints, weights: tuple[float, ...]) -> Ints:
        """Index into `weights`, drawn with those relative weights, one per key."""
        cumulative = np.cumsum(weights) / np.sum(weights)
        index = np.searchsorted(cumulative, self.uniform(stream, keys), side="right")
        return np.minimum(index, len(weights) - 1).astype(np.int64)

    def chance(self, stream: _Stream, keys: Ints, share: float) -> npt.NDArray[np.bool_]:
        """True with probability `share`, one per key."""
        return self.uniform(stream, keys) < share


@dataclass(frozen=True)
class _Plan:
    """The sizes every chunk agrees on, derived from the generate() arguments."""

    size: int
    days: int
    start_date: date

    def __post_init__(self) -> None:
        if self.size < 1 or self.days < 1:
            raise ValueError("size and days must be at least 1")
        if self.size * (1 + 2 * DUPLICATE_SHARE) > MAX_TRANSACTION_NUMBER:
            raise ValueError(f"size must stay well below {MAX_TRANSACTION_NUMBER}")

    @property
    def last_day(self) -> int:
        return self.days - 1

    @property
    def period(self) -> int:
        """Seconds covered by the exports."""
        return self.days * DAY

    @property
    def n_users(self) -> int:
        return max(MIN_USERS, self.size // WITHDRAWALS_PER_USER)

    @property
    def n_orphan_users(self) -> int:
        return max(3, round(self.n_users * ORPHAN_USERS_PER_USER))

    @property
    def id_window(self) -> int:
        """More than the number of consecutive original ids that can share a request second."""
        return self.size // self.period + 2

    @cached_property
    def known_users(self) -> Ints:
        """known_users[d] = users delivered up to and including day d (users 1..known_users[d])."""
        if self.days == 1:
            return np.array([self.n_users], dtype=np.int64)
        first = round(self.n_users * FIRST_DAY_USER_SHARE)
        later = (np.arange(self.days) * (self.n_users - first)) // self.last_day
        return (first + later).astype(np.int64)

    def day_name(self, day: int) -> str:
        return (self.start_date + timedelta(days=day)).isoformat()


class _Clock:
    """Formats day offsets and second offsets (from start_date 00:00:00 UTC) as ISO text."""

    def __init__(self, plan: _Plan) -> None:
        self._first_day = -HISTORY_DAYS - 1
        names = [plan.day_name(day) for day in range(self._first_day, plan.days)]
        self._dates = np.array([*names, ""], dtype=object)
        self._stamp_dates = np.array([f"{name}T" for name in names] + [""], dtype=object)
        times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(DAY)]
        self._times = np.array([*times, ""], dtype=object)

    def dates(self, days: Ints) -> list[str]:
        """'2026-11-01' per day offset."""
        names: list[str] = self._dates[days - self._first_day].tolist()
        return names

    def timestamps(self, seconds: Ints) -> list[str]:
        """'2026-11-01T13:45:12Z' per second offset; NULL gives ''."""
        null = seconds == NULL
        days, times = np.divmod(np.where(null, 0, seconds), DAY)
        day_index = np.where(null, len(self._stamp_dates) - 1, days - self._first_day)
        time_index = np.where(null, len(self._times) - 1, times)
        stamp_dates: list[str] = self._stamp_dates[day_index].tolist()
        times_of_day: list[str] = self._times[time_index].tolist()
        return [d + t for d, t in zip(stamp_dates, times_of_day, strict=True)]


def _labels(names: tuple[str, ...], index: Ints) -> list[str]:
    labels: list[str] = np.array(names, dtype=object)[index].tolist()
    return labels


def _fixed_point(values: Ints, places: int) -> list[str]:
    """Non-negative integers scaled by 10**places as decimal text: 12345, 2 -> '123.45'."""
    whole, fraction = np.divmod(values, 10**places)
    return [f"{w}.{f:0{places}d}" for w, f in zip(whole.tolist(), fraction.tolist(), strict=True)]


def _version(base: Rows, mask: npt.NDArray[np.bool_], **changes: Ints | int) -> Rows:
    """The rows of `base` selected by `mask`, with some fields replaced (arrays or scalars)."""
    out = {}
    for field, values in base.items():
        new = changes.get(field, values)
        out[field] = np.broadcast_to(np.asarray(new, dtype=np.int64), values.shape)[mask]
    return out


def _concat(parts: list[Rows]) -> Rows:
    return {field: np.concatenate([part[field] for part in parts]) for field in parts[0]}


def _with_redeliveries(plan: _Plan, rnd: _Random, rows: Rows) -> Rows:
    """Add an identical copy, in the next day's file, of about REDELIVERY_SHARE of the rows."""
    keys = rows["id"] * 4 + rows["version"]
    again = rnd.chance(_Stream.REDELIVERY, keys, REDELIVERY_SHARE) & (rows["day"] < plan.last_day)
    return _concat([rows, _version(rows, again, day=rows["day"] + 1)])


# --- users -----------------------------------------------------------------------------------


def _countries(rnd: _Random, user_ids: Ints) -> Ints:
    """Country index of each user id (also of orphan ids, which have no users row)."""
    return rnd.pick(_Stream.COUNTRY, user_ids, COUNTRY_WEIGHTS)


def _user_rows(plan: _Plan, rnd: _Random, ids: Ints) -> Rows:
    """All delivered versions of users `ids`: first delivery plus kyc_status changes."""
    arrival = np.searchsorted(plan.known_users, ids).astype(np.int64)
    signup = np.where(arrival == 0, -1 - rnd.below(_Stream.SIGNUP, ids, HISTORY_DAYS), arrival)
    earliest, until = signup * DAY, (arrival + 1) * DAY
    first = {
        "origin": ids,
        "id": ids,
        "version": np.zeros_like(ids),
        "signup": signup,
        "country": _countries(rnd, ids),
        "kyc": rnd.pick(_Stream.KYC, ids, KYC_WEIGHTS),
        "account": rnd.chance(_Stream.ACCOUNT, ids, BUSINESS_SHARE).astype(np.int64),
        "updated": earliest + rnd.below(_Stream.USER_TIME, ids, until - earliest),
        "day": arrival,
    }
    change_day = arrival + 1 + rnd.chance(_Stream.KYC_GAP, ids, 0.3)
    changes = (
        np.isin(first["kyc"], (PENDING, UNVERIFIED))
        & rnd.chance(_Stream.KYC_CHANGE, ids, KYC_CHANGE_SHARE)
        & (change_day <= plan.last_day)
    )
    changed = _version(
        first,
        changes,
        version=1,
        kyc=np.where(rnd.chance(_Stream.KYC_NEW, ids, 0.8), VERIFIED, REJECTED),
        updated=change_day * DAY + rnd.below(_Stream.KYC_TIME, ids, DAY),
        day=change_day,
    )
    return _concat([first, changed])


def _user_lines(rows: Rows, clock: _Clock) -> list[str]:
    """CSV lines (trailing empty column, LF) in USER_COLUMNS order."""
    fields = zip(
        rows["id"].tolist(),
        clock.dates(rows["signup"]),
        _labels(COUNTRIES, rows["country"]),
        _labels(KYC_STATUSES, rows["kyc"]),
        _labels(ACCOUNT_TYPES, rows["account"]),
        clock.timestamps(rows["updated"]),
        strict=True,
    )
    return [f"{u},{s},{c},{k},{a},{t},\n" for u, s, c, k, a, t in fields]


# --- withdrawals -----------------------------------------------------------------------------


def _request_times(plan: _Plan, rnd: _Random, ids: Ints) -> Ints:
    """Second offsets, non-decreasing in id: at most id_window - 1 consecutive ids per second."""
    jitter = rnd.below(_Stream.REQUEST_TIME, ids, plan.period)
    return ((ids - 1) * plan.period + jitter) // plan.size


def _withdrawal_users(plan: _Plan, rnd: _Random, ids: Ints, day: Ints) -> Ints:
    """A user already delivered on the request day, or (rarely) an orphan id."""
    known = plan.known_users[day]
    regular = 1 + (known * rnd.uniform(_Stream.USER_PICK, ids) ** USER_SKEW).astype(np.int64)
    orphan = plan.n_users + 1 + rnd.below(_Stream.ORPHAN_PICK, ids, plan.n_orphan_users)
    return np.where(rnd.chance(_Stream.ORPHAN, ids, ORPHAN_SHARE), orphan, regular)


def _currencies(rnd: _Random, ids: Ints, users: Ints) -> Ints:
    """The currency of the user's country, sometimes another one."""
    home = np.asarray(COUNTRY_CURRENCY, dtype=np.int64)[_countries(rnd, users)]
    foreign = rnd.pick(_Stream.CURRENCY_PICK, ids, CURRENCY_WEIGHTS)
    abroad = rnd.chance(_Stream.FOREIGN_CURRENCY, ids, FOREIGN_CURRENCY_SHARE)
    return np.where(abroad, foreign, home)


def _toco_cents(plan: _Plan, rnd: _Random, ids: Ints) -> Ints:
    """Log-normal amounts with a long tail; ids sharing a request second get distinct amounts."""
    a, b = rnd.uniform(_Stream.AMOUNT_A, ids), rnd.uniform(_Stream.AMOUNT_B, ids)
    normal = np.sqrt(-2.0 * np.log1p(-a)) * np.cos(2.0 * np.pi * b)
    body = np.minimum(AMOUNT_MEDIAN * np.exp(AMOUNT_SIGMA * normal), AMOUNT_CAP)
    large = LARGE_MIN * LARGE_SPREAD**a
    amount = np.where(rnd.chance(_Stream.LARGE_AMOUNT, ids, LARGE_SHARE), large, body)
    window = plan.id_window
    cents: Ints = np.maximum(np.rint(amount * 100).astype(np.int64), max(100, window))
    return cents // window * window + ids % window


def _rate_micros(rnd: _Random, ids: Ints, day: Ints, currency: Ints) -> Ints:
    """Exchange rate (fiat per toco) in millionths: base rate, daily drift, per-row noise."""
    drift = rnd.uniform(_Stream.RATE_DRIFT, day * len(CURRENCIES) + currency) - 0.5
    noise = rnd.uniform(_Stream.RATE_NOISE, ids) - 0.5
    base = np.asarray(TOCO_RATES)[currency]
    rate = base * (1 + RATE_DAILY_DRIFT * drift) * (1 + RATE_NOISE * noise)
    return np.rint(rate * 1_000_000).astype(np.int64)


def _first_versions(plan: _Plan, rnd: _Random, ids: Ints) -> Rows:
    """The row each original withdrawal gets on its request day."""
    requested = _request_times(plan, rnd, ids)
    day = requested // DAY
    users = _withdrawal_users(plan, rnd, ids, day)
    currency = _currencies(rnd, ids, users)
    toco = _toco_cents(plan, rnd, ids)
    rate = _rate_micros(rnd, ids, day, currency)
    status = rnd.pick(_Stream.FIRST_STATUS, ids, FIRST_STATUS_WEIGHTS)
    delay = np.select(
        [status == REQUESTED, status == PROCESSING],
        [0, 1 + rnd.below(_Stream.FIRST_DELAY, ids, 600)],
        60 + rnd.below(_Stream.FIRST_DELAY, ids, 3600),
    )
    updated = np.minimum(requested + delay, (day + 1) * DAY - 1)
    return {
        "origin": ids,
        "id": ids,
        "version": np.zeros_like(ids),
        "user": users,
        "requested": requested,
        "completed": np.where(status == COMPLETED, updated, NULL),
        "status": status,
        "toco": toco,
        "currency": currency,
        "fiat": (toco * rate + 500_000) // 1_000_000,
        "rate": rate,
        "updated": updated,
        "day": day,
    }


@dataclass(frozen=True)
class _WithdrawalBatch:
    """Everything one chunk of original withdrawals contributes."""

    originals: Rows  # first version of each original
    latest_status: Ints  # per original: status of its last delivered version
    rows: Rows  # every row to write (versions and content duplicates, no re-deliveries yet)
    duplicates: int


def _withdrawal_batch(plan: _Plan, rnd: _Random, ids: Ints, first_duplicate: int) -> _WithdrawalBatch:
    """Versions, latest status and content duplicates of the original withdrawals `ids`."""
    first = _first_versions(plan, rnd, ids)
    day, status = first["day"], first["status"]
    pending = (status == REQUESTED) | (status == PROCESSING)
    resolves = pending & rnd.chance(_Stream.RESOLVES, ids, RESOLVED_SHARE)
    final_day = day + 1 + rnd.pick(_Stream.RESOLUTION_GAP, ids, RESOLUTION_GAP_WEIGHTS)
    final_status = COMPLETED + rnd.pick(_Stream.FINAL_STATUS, ids, FINAL_STATUS_WEIGHTS)
    final_time = final_day * DAY + rnd.below(_Stream.FINAL_TIME, ids, DAY)
    final = resolves & (final_day <= plan.last_day)
    step = (
        (status == REQUESTED)
        & (~resolves | (final_day > day + 1))
        & rnd.chance(_Stream.PROCESSING_STEP, ids, PROCESSING_STEP_SHARE)
        & (day < plan.last_day)
    )
    step_time = (day + 1) * DAY + rnd.below(_Stream.PROCESSING_TIME, ids, DAY)
    latest = np.where(final, final_status, np.where(step, PROCESSING, status))
    versions = [
        first,
        _version(first, step, version=1, status=PROCESSING, updated=step_time, day=day + 1),
        _version(
            first,
            final,
            version=2,
            status=final_status,
            updated=final_time,
            completed=np.where(final_status == COMPLETED, final_time, NULL),
            day=final_day,
        ),
    ]
    duplicates = _content_duplicates(plan, rnd, first, first_duplicate)
    return _WithdrawalBatch(first, latest, _concat([*versions, duplicates]), len(duplicates["id"]))


def _content_duplicates(plan: _Plan, rnd: _Random, first: Rows, first_id: int) -> Rows:
    """Copies of some first versions under new ids first_id, first_id + 1, ... (in origin order)."""
    draw = rnd.uniform(_Stream.DUPLICATES, first["id"])
    counts = (draw < DUPLICATE_SHARE).astype(np.int64) + (draw < DOUBLE_DUPLICATE_SHARE)
    copies = {field: np.repeat(values, counts) for field, values in first.items()}
    new_ids = first_id + np.arange(len(copies["id"]), dtype=np.int64)
    later = rnd.chance(_Stream.DUPLICATE_DAY, new_ids, DUPLICATE_NEXT_DAY_SHARE)
    copies["id"] = new_ids
    copies["day"] = np.minimum(copies["day"] + later, plan.last_day)
    return copies


def _withdrawal_lines(rows: Rows, clock: _Clock) -> list[str]:
    """CSV lines (trailing empty column, LF) in WITHDRAWAL_COLUMNS order."""
    fields = zip(
        rows["id"].tolist(),
        rows["user"].tolist(),
        clock.timestamps(rows["requested"]),
        clock.timestamps(rows["completed"]),
        _labels(STATUSES, rows["status"]),
        _fixed_point(rows["toco"], 2),
        _labels(CURRENCIES, rows["currency"]),
        _fixed_point(rows["fiat"], 2),
        _fixed_point(rows["rate"], 6),
        clock.timestamps(rows["updated"]),
        strict=True,
    )
    return [f"wd_{i:010d},{u},{r},{c},{s},{t},{cur},{f},{x},{up},\n" for i, u, r, c, s, t, cur, f, x, up in fields]


# --- ground truth ----------------------------------------------------------------------------


class _Tally:
    """Aggregates of the unique withdrawals, accumulated chunk by chunk (fixed size)."""

    def __init__(self, plan: _Plan) -> None:
        self._plan = plan
        self._cells = plan.days * len(CURRENCIES) * len(STATUSES)
        self.count = np.zeros(self._cells, dtype=np.int64)
        self.toco = np.zeros(self._cells, dtype=np.int64)
        self.fiat = np.zeros(self._cells, dtype=np.int64)
        self.orphans = 0
        self.duplicates = 0

    def add(self, batch: _WithdrawalBatch) -> None:
        """Count one chunk of originals (by request day, currency, latest status)."""
        originals = batch.originals
        cell = (originals["day"] * len(CURRENCIES) + originals["currency"]) * len(STATUSES)
        cell = cell + batch.latest_status
        self.count += np.bincount(cell, minlength=self._cells)
        np.add.at(self.toco, cell, originals["toco"])
        np.add.at(self.fiat, cell, originals["fiat"])
        self.orphans += int(np.count_nonzero(originals["user"] > self._plan.n_users))
        self.duplicates += batch.duplicates

    def status_counts(self) -> dict[str, int]:
        per_status = self.count.reshape(-1, len(STATUSES)).sum(axis=0)
        return dict(zip(STATUSES, per_status.tolist(), strict=True))

    def daily(self) -> list[DailyVolume]:
        """Non-empty cells, by date, then currency and status in CURRENCIES/STATUSES order."""
        cells = np.flatnonzero(self.count)
        toco, fiat = _fixed_point(self.toco[cells], 2), _fixed_point(self.fiat[cells], 2)
        out: list[DailyVolume] = []
        for n, cell in enumerate(cells.tolist()):
            day_currency, status = divmod(cell, len(STATUSES))
            day, currency = divmod(day_currency, len(CURRENCIES))
            out.append(
                DailyVolume(
                    requested_date=self._plan.day_name(day),
                    fiat_currency=CURRENCIES[currency],
                    status=STATUSES[status],
                    withdrawal_count=int(self.count[cell]),
                    toco_amount=toco[n],
                    fiat_amount=fiat[n],
                )
            )
        return out


# --- malformed lines -------------------------------------------------------------------------

Defect = Callable[[list[str]], None]
"""Spoils the fields of a copied line in place (the last field is the trailing empty column)."""
STRAY_VALUE = "manual correction"


def _replace(column: int, change: Callable[[str], str]) -> Defect:
    def spoil(fields: list[str]) -> None:
        fields[column] = change(fields[column])

    return spoil


def _drop(column: int) -> Defect:
    def spoil(fields: list[str]) -> None:
        del fields[column]

    return spoil


def _month_first_timestamp(stamp: str) -> str:
    """'2026-11-01T13:45:12Z' -> '11/01/2026 13:45:12' (not ISO-8601)."""
    return f"{stamp[5:7]}/{stamp[8:10]}/{stamp[:4]} {stamp[11:19]}"


def _day_first_date(day: str) -> str:
    """'2026-11-01' -> '01/11/2026' (not YYYY-MM-DD)."""
    return f"{day[8:10]}/{day[5:7]}/{day[:4]}"


_USER, _WITHDRAWAL = USER_COLUMNS.index, WITHDRAWAL_COLUMNS.index
USER_DEFECTS: tuple[Defect, ...] = (
    _replace(_USER("user_id"), lambda value: value + ".0"),  # not an integer
    _replace(_USER("signup_date"), _day_first_date),  # not YYYY-MM-DD
    _replace(_USER("user_id"), lambda value: ""),  # missing key
    _replace(_USER("kyc_status"), lambda value: "approved"),  # not an allowed value
    _replace(_USER("country"), str.lower),  # does not match ^[A-Z]{2}$
    _replace(-1, lambda value: STRAY_VALUE),  # the trailing column is not empty
    _drop(_USER("account_type")),  # one field too few
)
WITHDRAWAL_DEFECTS: tuple[Defect, ...] = (
    _replace(_WITHDRAWAL("toco_amount"), lambda value: f'"{value.replace(".", ",")}"'),  # '"12,50"'
    _replace(_WITHDRAWAL("requested_at"), _month_first_timestamp),  # not ISO-8601
    _replace(_WITHDRAWAL("transaction_id"), lambda value: ""),  # missing key
    _replace(_WITHDRAWAL("fiat_currency"), lambda value: "VES"),  # not an allowed value
    _replace(_WITHDRAWAL("status"), lambda value: "pending"),  # not an allowed value
    _replace(_WITHDRAWAL("toco_amount"), lambda value: "-" + value),  # not > 0
    _replace(-1, lambda value: STRAY_VALUE),  # the trailing column is not empty
    _drop(_WITHDRAWAL("exchange_rate")),  # one field too few
)


@dataclass(frozen=True)
class _Defects:
    """Which valid lines of a domain's files are followed by a malformed copy, and its defect.

    Positions count the valid lines of one file from 0. Block b covers positions
    [b * block, (b + 1) * block) and holds one malformed copy, of the line at a random position
    of the block (of its first `first_window` positions for block 0, so that every file of at
    least first_window lines has one); with max_blocks set, only blocks below it. The copy of
    block b in file `day` is number n = b * days + day of the domain: n keys its position and
    picks its defect, kinds[n % len(kinds)]. All of this depends on the file's own sequence of
    lines only, so the chunk size changes nothing.
    """

    stream: _Stream
    first_window: int
    block: int
    max_blocks: int | None
    kinds: tuple[Defect, ...]

    def positions(self, rnd: _Random, days: int, day: int, start: int, stop: int) -> list[tuple[int, Defect]]:
        """(position, defect) of the malformed copies of valid lines start .. stop - 1 of a file."""
        if stop <= start:
            return []
        last = (stop - 1) // self.block
        if self.max_blocks is not None:
            last = min(last, self.max_blocks - 1)
        blocks = np.arange(start // self.block, last + 1, dtype=np.int64)
        numbers = blocks * days + day
        bounds = np.where(blocks == 0, self.first_window, self.block)
        at = blocks * self.block + rnd.below(self.stream, numbers, bounds)
        inside = (at >= start) & (at < stop)
        return [
            (position, self.kinds[number % len(self.kinds)])
            for position, number in zip(at[inside].tolist(), numbers[inside].tolist(), strict=True)
        ]


USER_MALFORMED = _Defects(_Stream.MALFORMED_USERS, 20, 100, 3, USER_DEFECTS)  # <= 3 per file
WITHDRAWAL_MALFORMED = _Defects(_Stream.MALFORMED_WITHDRAWALS, 200, 1_000, None, WITHDRAWAL_DEFECTS)


def _malformed_copy(line: str, defect: Defect) -> str:
    """A generated line (no quotes, ends with ',\\n') with one defect."""
    fields = line[:-1].split(",")
    defect(fields)
    return ",".join(fields) + "\n"


# --- files -----------------------------------------------------------------------------------


class _DailyFiles:
    """<out_dir>/<domain>/<domain>_<date>.csv for every day, appended to chunk by chunk."""

    def __init__(
        self,
        out_dir: Path,
        domain: str,
        plan: _Plan,
        columns: tuple[str, ...],
        rnd: _Random,
        defects: _Defects,
    ) -> None:
        self.names = [f"{domain}/{domain}_{plan.day_name(day)}.csv" for day in range(plan.days)]
        self.rows_written = 0  # data lines, malformed ones included
        self.malformed_rows = 0
        self._out_dir = out_dir
        self._header = ",".join(columns) + ",\n"
        self._handles: list[TextIO] = []
        self._rnd = rnd
        self._defects = defects
        self._valid_lines = [0] * plan.days  # per file

    def __enter__(self) -> _DailyFiles:
        for name in self.names:
            path = self._out_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handles.append(path.open("w", encoding="utf-8", newline=""))
            self._handles[-1].write(self._header)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for handle in self._handles:
            handle.close()

    def write(self, rows: Rows, format_lines: LineFormatter, clock: _Clock) -> None:
        """Append rows to the file of their day, ordered by origin, id, version."""
        order = np.lexsort((rows["version"], rows["id"], rows["origin"], rows["day"]))
        ordered = {field: values[order] for field, values in rows.items()}
        bounds = np.searchsorted(ordered["day"], np.arange(len(self._handles) + 1)).tolist()
        for day, handle in enumerate(self._handles):
            lo, hi = bounds[day], bounds[day + 1]
            part = {field: values[lo:hi] for field, values in ordered.items()}
            handle.write("".join(self._with_malformed(day, format_lines(part, clock))))
        self.rows_written += len(order)

    def _with_malformed(self, day: int, lines: list[str]) -> list[str]:
        """The next valid `lines` of file `day`, with the malformed copies due among them."""
        start = self._valid_lines[day]
        self._valid_lines[day] += len(lines)
        due = self._defects.positions(self._rnd, len(self._handles), day, start, start + len(lines))
        for position, defect in reversed(due):
            index = position - start
            lines.insert(index + 1, _malformed_copy(lines[index], defect))
        self.malformed_rows += len(due)
        self.rows_written += len(due)
        return lines


def _chunks(total: int, chunk_size: int) -> Iterator[Ints]:
    """Ids 1..total in consecutive chunks."""
    for start in range(1, total + 1, chunk_size):
        yield np.arange(start, min(start + chunk_size, total + 1), dtype=np.int64)


# --- entry point -----------------------------------------------------------------------------


def generate(
    out_dir: Path,
    *,
    size: int = 20_000,
    days: int = 5,
    seed: int = 42,
    start_date: date = date(2026, 11, 1),
    progress: Callable[[str, int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> GroundTruth:
    """Write `days` daily users and withdrawals files plus ground_truth.json into `out_dir`.

    `size` is the number of unique withdrawals. Existing files of the same names are
    overwritten; other files are left alone. `progress(domain, done)` is called after each chunk
    with the number of users or unique withdrawals generated so far.
    """
    out_dir = Path(out_dir)
    plan, rnd = _Plan(size, days, start_date), _Random(seed)
    clock = _Clock(plan)
    report = progress or (lambda domain, done: None)

    with _DailyFiles(out_dir, "users", plan, USER_COLUMNS, rnd, USER_MALFORMED) as users:
        for ids in _chunks(plan.n_users, chunk_size):
            rows = _with_redeliveries(plan, rnd, _user_rows(plan, rnd, ids))
            users.write(rows, _user_lines, clock)
            report("users", int(ids[-1]))

    tally = _Tally(plan)
    files = _DailyFiles(out_dir, "withdrawals", plan, WITHDRAWAL_COLUMNS, rnd, WITHDRAWAL_MALFORMED)
    with files as withdrawals:
        for ids in _chunks(size, chunk_size):
            batch = _withdrawal_batch(plan, rnd, ids, first_duplicate=size + tally.duplicates + 1)
            tally.add(batch)
            withdrawals.write(_with_redeliveries(plan, rnd, batch.rows), _withdrawal_lines, clock)
            report("withdrawals", int(ids[-1]))

    truth = GroundTruth(
        seed=seed,
        size=size,
        days=days,
        files={"users": users.names, "withdrawals": withdrawals.names},
        rows_written={"users": users.rows_written, "withdrawals": withdrawals.rows_written},
        malformed_rows={"users": users.malformed_rows, "withdrawals": withdrawals.malformed_rows},
        users=plan.n_users,
        unique_withdrawals=size,
        distinct_transaction_ids=size + tally.duplicates,
        content_duplicates=tally.duplicates,
        orphan_withdrawals=tally.orphans,
        latest_status_counts=tally.status_counts(),
        daily=tally.daily(),
    )
    truth.write(out_dir)
    return truth
