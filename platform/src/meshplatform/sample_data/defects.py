"""Malformed lines the loader must quarantine: which valid lines get a spoiled copy, and how."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from meshplatform.sample_data.randomness import Random, Stream
from meshplatform.sample_data.shape import USER_COLUMNS, WITHDRAWAL_COLUMNS

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
class Defects:
    """Which valid lines of a domain's files are followed by a malformed copy, and its defect.

    Positions count the valid lines of one file from 0. Block b covers positions
    [b * block, (b + 1) * block) and holds one malformed copy, of the line at a random position
    of the block (of its first `first_window` positions for block 0, so that every file of at
    least first_window lines has one); with max_blocks set, only blocks below it. The copy of
    block b in file `day` is number n = b * days + day of the domain: n keys its position and
    picks its defect, kinds[n % len(kinds)]. All of this depends on the file's own sequence of
    lines only, so the chunk size changes nothing.
    """

    stream: Stream
    first_window: int
    block: int
    max_blocks: int | None
    kinds: tuple[Defect, ...]

    def positions(self, rnd: Random, days: int, day: int, start: int, stop: int) -> list[tuple[int, Defect]]:
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


USER_MALFORMED = Defects(Stream.MALFORMED_USERS, 20, 100, 3, USER_DEFECTS)  # <= 3 per file
WITHDRAWAL_MALFORMED = Defects(Stream.MALFORMED_WITHDRAWALS, 200, 1_000, None, WITHDRAWAL_DEFECTS)


def malformed_copy(line: str, defect: Defect) -> str:
    """A generated line (no quotes, ends with ',\\n') with one defect."""
    fields = line[:-1].split(",")
    defect(fields)
    return ",".join(fields) + "\n"
