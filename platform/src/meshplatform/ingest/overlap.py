"""Two files at a time: while the server merges one file, the next one is read, checked and
COPied on a second connection of the same login. Each file keeps its own transaction; the files
merge and commit one after the other, in the order given, and their results are handed back in
that order, so the outcome is the one of loading them one by one.

A file's job gets its connection and a :class:`Turn`: it calls ``turn.wait()`` right before its
first write to shared tables (it returns once the file before was handed back and the caller
asked for the next one) and reports progress through ``turn.progress`` (relayed to the caller's
thread, a file's only once the file before was handed back). When the caller stops early or a
job fails, the jobs after it end without committing: their next ``turn`` call raises
:class:`Abandoned`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Generic, TypeVar

import psycopg

from meshplatform.errors import MeshError

T = TypeVar("T")
# Told (file name, rows read so far, bytes read so far, file size in bytes): once with 0 rows when
# the file's load starts, then after each block sent to COPY. Rendering it is the caller's business.
Progress = Callable[[str, int, int, int], None]
Report = tuple[str, int, int, int]  # the arguments of a progress call
Message = tuple[int, Report | None]  # (job, its report), None: the job ended


class Abandoned(Exception):
    """A file before this one failed or the caller stopped: end without committing."""


@dataclass
class Turn:
    """A job's link to the job before it and to the caller (see the module's description)."""

    index: int
    before: threading.Event  # set when the job before was handed back (or the load stops)
    stop: threading.Event  # set when the jobs still running must not commit
    reports: SimpleQueue[Message]
    ended: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> None:
        """Return once the job before was handed back; raise :class:`Abandoned` if this one must not go on."""
        self.before.wait()
        self._check()

    def progress(self, file_name: str, rows: int, bytes_read: int, size: int) -> None:
        self._check()
        self.reports.put((self.index, (file_name, rows, bytes_read, size)))

    def _check(self) -> None:
        if self.stop.is_set():
            raise Abandoned


@dataclass
class _Running(Generic[T]):
    turn: Turn
    future: Future[T]
    held: list[Report] = field(default_factory=list)  # its first and latest report, not relayed yet
    handed: threading.Event = field(default_factory=threading.Event)  # its result was taken


def second_connection(conn: psycopg.Connection) -> psycopg.Connection:
    """Another autocommit connection with the parameters and login of ``conn``."""
    try:
        return psycopg.connect(conn.info.dsn, password=conn.info.password, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise MeshError(
            f"cannot open a second connection for the load: {exc}",
            hint="the server may be at max_connections; nothing was loaded by this command yet",
        ) from exc


def in_order(
    conn: psycopg.Connection, jobs: Sequence[Callable[[psycopg.Connection, Turn], T]], progress: Progress | None
) -> Iterator[T]:
    """Run the jobs two at a time (``conn`` and a second connection, opened when needed, take
    turns) and yield their results in order. A job's exception is raised when its turn comes;
    the jobs after it end without committing."""
    stop, reports = threading.Event(), SimpleQueue[Message]()
    running: deque[_Running[T]] = deque()
    connections = [conn]
    pool = ThreadPoolExecutor(2, thread_name_prefix="mesh-load")

    def start(index: int) -> None:
        if index % 2 == len(connections):  # the second job: the one connection opened here
            connections.append(second_connection(conn))
        before = running[-1].handed if running else _happened()
        turn = Turn(index, before, stop, reports)
        running.append(_Running(turn, pool.submit(_run, jobs[index], connections[index % 2], turn)))

    try:
        for index in range(min(2, len(jobs))):
            start(index)
        for index in range(len(jobs)):
            current = running[0]
            _relay(current, running, reports, progress)
            if index + 2 < len(jobs) and current.future.exception() is None:
                start(index + 2)  # on the connection the current job used
            running.popleft()
            yield current.future.result()
            current.handed.set()
            if running and progress:
                for report in running[0].held:
                    progress(*report)
            if running:
                running[0].held.clear()
    finally:
        stop.set()  # the jobs still running end without committing
        for run in running:
            run.turn.before.set()  # wakes it if it waits for its turn; it then sees `stop`
            if not run.turn.ended.is_set():
                connections[run.turn.index % 2].cancel_safe()  # ends its statement (e.g. on Ctrl-C)
        pool.shutdown(wait=True)
        for spare in connections[1:]:
            spare.close()


def _happened() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


def _run(job: Callable[[psycopg.Connection, Turn], T], conn: psycopg.Connection, turn: Turn) -> T:
    try:
        return job(conn, turn)
    except BaseException:
        turn.stop.set()  # before the job after this one can pass its turn
        raise
    finally:
        turn.ended.set()
        turn.reports.put((turn.index, None))  # wakes the caller's thread


def _relay(
    current: _Running[T], running: deque[_Running[T]], reports: SimpleQueue[Message], progress: Progress | None
) -> None:
    """Wait for the current job to end, relaying its progress; a later job's first and latest
    report are held until the current job is handed back."""
    later = {run.turn.index: run for run in running}
    while not (current.turn.ended.is_set() and reports.empty()):
        index, report = reports.get()
        if report is None:  # a job ended
            continue
        if index == current.turn.index:
            if progress:
                progress(*report)
        elif (run := later.get(index)) is not None:
            run.held[1:] = [report]
