"""The daily export files of one domain, appended to chunk by chunk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TextIO

import numpy as np

from meshplatform.sample_data.defects import Defects, malformed_copy
from meshplatform.sample_data.plan import Clock, Plan
from meshplatform.sample_data.randomness import Random
from meshplatform.sample_data.shape import Ints, Rows

LineFormatter = Callable[[Rows, Clock], list[str]]
"""Formats a batch of rows as CSV lines."""


class DailyFiles:
    """<out_dir>/<domain>/<domain>_<date>.csv for every day, appended to chunk by chunk."""

    def __init__(
        self,
        out_dir: Path,
        domain: str,
        plan: Plan,
        columns: tuple[str, ...],
        rnd: Random,
        defects: Defects,
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

    def __enter__(self) -> DailyFiles:
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

    def write(self, rows: Rows, format_lines: LineFormatter, clock: Clock) -> None:
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
            lines.insert(index + 1, malformed_copy(lines[index], defect))
        self.malformed_rows += len(due)
        self.rows_written += len(due)
        return lines


def chunks(total: int, chunk_size: int) -> Iterator[Ints]:
    """Ids 1..total in consecutive chunks."""
    for start in range(1, total + 1, chunk_size):
        yield np.arange(start, min(start + chunk_size, total + 1), dtype=np.int64)
