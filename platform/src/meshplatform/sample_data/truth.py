"""The ground truth of the exports: what a correct pipeline must find, tallied chunk by chunk."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np

from meshplatform.sample_data.plan import Plan, fixed_point
from meshplatform.sample_data.shape import CURRENCIES, STATUSES
from meshplatform.sample_data.withdrawals import WithdrawalBatch

GROUND_TRUTH_FILE = "ground_truth.json"


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

    def describe(self) -> str:
        """The headline figures, for the console."""
        return f"{self.unique_withdrawals:,} unique withdrawals, {self.users:,} users"

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
        return cls(**document)


class Tally:
    """Aggregates of the unique withdrawals, accumulated chunk by chunk (fixed size)."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._cells = plan.days * len(CURRENCIES) * len(STATUSES)
        self.count = np.zeros(self._cells, dtype=np.int64)
        self.toco = np.zeros(self._cells, dtype=np.int64)
        self.fiat = np.zeros(self._cells, dtype=np.int64)
        self.orphans = 0
        self.duplicates = 0

    def add(self, batch: WithdrawalBatch) -> None:
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
        toco, fiat = fixed_point(self.toco[cells], 2), fixed_point(self.fiat[cells], 2)
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
