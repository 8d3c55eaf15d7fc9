"""How a load's progress is rendered, driven by a fake clock: plain lines at a modest rate for
logs, one line rewritten in place on a terminal, with rows, rows/s, share of the file and ETA."""

from __future__ import annotations

import io

from meshplatform.orchestration.progress import CLEAR_TO_END, LOG_EVERY, LoadProgress, duration

MB = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_durations_read_as_clock_time() -> None:
    assert [duration(s) for s in (0, 9.6, 75, 3600 + 62)] == ["0:00", "0:10", "1:15", "1:01:02"]


def test_plain_lines_at_most_every_log_interval_and_one_when_the_file_is_read() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = LoadProgress(stream, clock=clock)
    assert not progress.terminal  # a StringIO is no terminal: plain lines
    progress("w.csv", 0, 0, 8 * MB)
    seen = []
    for second, rows in [(1, 1_000), (5, 5_000), (LOG_EVERY + 2, 12_000), (LOG_EVERY + 3, 13_000)]:
        clock.now = 100.0 + second
        progress("w.csv", rows, rows * 200, 8 * MB)
        seen.append(stream.getvalue().count("\n"))
    assert seen == [0, 0, 1, 1]  # nothing before LOG_EVERY seconds, then one line, then quiet again
    clock.now = 100.0 + 32
    progress("w.csv", 40_000, 8 * MB, 8 * MB)  # the whole file is read: always said, once
    progress("w.csv", 40_000, 8 * MB, 8 * MB)
    progress.end_file()
    lines = stream.getvalue().splitlines()
    # 12,000 rows in 12 s; 2.4 MB of 8 MB read, so 28 s left at that pace
    assert lines[0] == "  w.csv: 12,000 rows, 1,000 rows/s, 30%, ETA 0:28"
    assert lines[1] == "  w.csv: 40,000 rows in 0:32, 1,250 rows/s, merging"
    assert len(lines) == 2
    assert "\r" not in stream.getvalue() and CLEAR_TO_END not in stream.getvalue()


def test_terminal_line_is_rewritten_in_place_and_cleared_at_the_end_of_the_file() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = LoadProgress(stream, terminal=True, clock=clock)
    progress("u.csv", 0, 0, 4 * MB)
    clock.now += 0.05
    progress("u.csv", 100, 10_000, 4 * MB)  # too soon after the last draw: not drawn
    clock.now += 1
    progress("u.csv", 10_000, 1 * MB, 4 * MB)
    text = stream.getvalue()
    assert "\n" not in text  # one line, never scrolled
    draws = [d.removesuffix(CLEAR_TO_END) for d in text.split("\r")[1:]]
    assert draws == ["  u.csv: reading 4.0 MB", "  u.csv: 10,000 rows, 9,524 rows/s, 25%, ETA 0:03"]
    progress.end_file()
    assert stream.getvalue().endswith("\r" + CLEAR_TO_END)  # the caller prints the file's result on a clean line


def test_terminal_line_never_wraps() -> None:
    stream = io.StringIO()
    progress = LoadProgress(stream, terminal=True)
    progress("a_very_long_export_file_name_" * 6 + ".csv", 0, 0, MB)
    (draw,) = stream.getvalue().split("\r")[1:]
    assert len(draw.removesuffix(CLEAR_TO_END)) <= 80  # no terminal behind a StringIO: the classic width


def test_a_new_file_restarts_the_clock() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = LoadProgress(stream, clock=clock)
    progress("a.csv", 0, 0, MB)
    clock.now += 50
    progress("a.csv", 5_000, MB, MB)
    progress.end_file()
    clock.now += 100  # e.g. a skipped file, or the merge of a.csv
    progress("b.csv", 0, 0, MB)
    clock.now += 2
    progress("b.csv", 4_000, MB, MB)
    assert stream.getvalue().splitlines()[-1] == "  b.csv: 4,000 rows in 0:02, 2,000 rows/s, merging"
