"""The progress of a long load as people see it. The loader only reports (file, rows read, bytes
read, file size) through its callback (``ingest.load.Progress``); this renders it: on a terminal
one line rewritten in place (rows, rows/s, share of the file, time left), in logs and Airflow
tasks plain lines at a modest rate (one when a file is read, and at most one per ``LOG_EVERY``
seconds while it is)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

TERMINAL_EVERY = 0.2  # seconds between two redraws of the terminal line
LOG_EVERY = 10.0  # seconds between two plain lines about the same file
CLEAR_TO_END = "\x1b[K"


def duration(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def describe(file_name: str, rows: int, bytes_read: int, size: int, elapsed: float) -> str:
    """One line about a file being read: rows, rows/s, share of the file, time left (or the
    phase that follows the reading)."""
    rate = f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 and rows else "- rows/s"
    if bytes_read >= size:
        return f"{file_name}: {rows:,} rows in {duration(elapsed)}, {rate}, merging"
    share = bytes_read / size
    left = f"ETA {duration(elapsed * (1 - share) / share)}" if share > 0 else "ETA -"
    return f"{file_name}: {rows:,} rows, {rate}, {share:.0%}, {left}"


class LoadProgress:
    """The loader's progress callback, rendered on ``stream`` (standard error by default): a line
    rewritten in place when the stream is a terminal, plain lines otherwise. Use it as a context
    manager, or call ``end_file`` before printing anything else, so the terminal line is gone."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        terminal: bool | None = None,
        every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.every = every if every is not None else (TERMINAL_EVERY if self.terminal else LOG_EVERY)
        self._clock = clock
        self._file: str | None = None
        self._started = self._shown = 0.0
        self._drawn = self._read = False

    def __call__(self, file_name: str, rows: int, bytes_read: int, size: int) -> None:
        now = self._clock()
        if file_name != self._file:
            self._file, self._started, self._shown, self._read = file_name, now, now, False
            if self.terminal:
                self._draw(f"{file_name}: reading {megabytes(size)}")
            return
        if bytes_read < size and now - self._shown < self.every:
            return
        if bytes_read >= size:  # said once per file (the reader's last block may come twice)
            if self._read:
                return
            self._read = True
        self._shown = now
        text = describe(file_name, rows, bytes_read, size, now - self._started)
        if self.terminal:
            self._draw(text)
        else:
            self.stream.write(f"  {text}\n")
            self.stream.flush()

    def _draw(self, text: str) -> None:
        width = self._width() - 1  # a wrapped line could not be rewritten in place
        self.stream.write(f"\r  {text}"[: width + 1] + CLEAR_TO_END)
        self.stream.flush()
        self._drawn = True

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):  # not a real terminal: assume the classic width
            columns = 0
        return columns if columns >= 20 else 80

    def end_file(self) -> None:
        """The file is done: take the terminal line away (the caller prints the file's result)."""
        if self._drawn:
            self.stream.write("\r" + CLEAR_TO_END)
            self.stream.flush()
            self._drawn = False
        self._file = None

    def __enter__(self) -> LoadProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.end_file()
