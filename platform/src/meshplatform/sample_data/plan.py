"""The sizes every chunk agrees on, the clock that formats offsets as ISO text, and the row
helpers shared by users and withdrawals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

import numpy as np
import numpy.typing as npt

from meshplatform.sample_data.randomness import Random, Stream
from meshplatform.sample_data.shape import (
    DAY,
    DUPLICATE_SHARE,
    FIRST_DAY_USER_SHARE,
    HISTORY_DAYS,
    MAX_TRANSACTION_NUMBER,
    MIN_USERS,
    NULL,
    ORPHAN_USERS_PER_USER,
    REDELIVERY_SHARE,
    WITHDRAWALS_PER_USER,
    Ints,
    Rows,
)


@dataclass(frozen=True)
class Plan:
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


class Clock:
    """Formats day offsets and second offsets (from start_date 00:00:00 UTC) as ISO text."""

    def __init__(self, plan: Plan) -> None:
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


def labels(names: tuple[str, ...], index: Ints) -> list[str]:
    labels: list[str] = np.array(names, dtype=object)[index].tolist()
    return labels


def fixed_point(values: Ints, places: int) -> list[str]:
    """Non-negative integers scaled by 10**places as decimal text: 12345, 2 -> '123.45'."""
    whole, fraction = np.divmod(values, 10**places)
    return [f"{w}.{f:0{places}d}" for w, f in zip(whole.tolist(), fraction.tolist(), strict=True)]


def derive(base: Rows, mask: npt.NDArray[np.bool_], **changes: Ints | int) -> Rows:
    """The rows of `base` selected by `mask`, with some fields replaced (arrays or scalars)."""
    out = {}
    for field, values in base.items():
        new = changes.get(field, values)
        out[field] = np.broadcast_to(np.asarray(new, dtype=np.int64), values.shape)[mask]
    return out


def concat(parts: list[Rows]) -> Rows:
    return {field: np.concatenate([part[field] for part in parts]) for field in parts[0]}


def with_redeliveries(plan: Plan, rnd: Random, rows: Rows) -> Rows:
    """Add an identical copy, in the next day's file, of about REDELIVERY_SHARE of the rows."""
    keys = rows["id"] * 4 + rows["version"]
    again = rnd.chance(Stream.REDELIVERY, keys, REDELIVERY_SHARE) & (rows["day"] < plan.last_day)
    return concat([rows, derive(rows, again, day=rows["day"] + 1)])
