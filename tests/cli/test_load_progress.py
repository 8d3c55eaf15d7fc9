"""`mesh load` shows its progress on standard error: one line rewritten in place when that is a
terminal (here a pseudo-terminal), plain lines when it is a pipe, as in logs and Airflow tasks.
Real loads of small generated exports; the rows the progress reports are the rows the loader read."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from meshplatform.config import Settings
from meshplatform.orchestration.progress import CLEAR_TO_END
from meshplatform.sample_data.generator import generate

MESH = str(Path(sys.executable).parent / "mesh")
RESULT = re.compile(r"^(\w+)/(\S+\.csv): loaded: ([\d,]+) read, ", re.MULTILINE)
READ = re.compile(r"(\S+\.csv): ([\d,]+) rows in \d+:\d\d, ([\d,]+|-) rows/s, merging")


@pytest.fixture(scope="module")
def exports(mesh_env: Settings) -> Settings:
    generate(mesh_env.exports_dir, size=2_000, days=2, seed=11)
    return mesh_env


def results(stdout: str) -> dict[str, str]:
    """File name -> rows read, from the result line `mesh load` prints for each loaded file."""
    return {name: rows for _, name, rows in RESULT.findall(stdout)}


def test_plain_lines_when_standard_error_is_a_pipe(exports: Settings) -> None:
    done = subprocess.run([MESH, "load", "withdrawals"], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    loaded = results(done.stdout)
    assert len(loaded) == 2
    assert "\r" not in done.stderr and CLEAR_TO_END not in done.stderr
    # one line per file once it is read, with the rows the loader then reports
    assert [(name, rows) for name, rows, _ in READ.findall(done.stderr)] == list(loaded.items())


def test_one_line_rewritten_in_place_on_a_terminal(exports: Settings) -> None:
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24 rows, 100 columns
    process = subprocess.Popen([MESH, "load", "users"], stdout=subprocess.PIPE, stderr=terminal, text=True)
    os.close(terminal)  # the child holds its own copy: reading ends when it exits
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: no process has the terminal open any more
            break
        if not chunk:
            break
        shown += chunk
    stdout, _ = process.communicate(timeout=600)
    os.close(controller)
    assert process.returncode == 0, shown.decode(errors="replace")
    text = shown.decode()
    loaded = results(stdout)
    assert len(loaded) == 2
    assert "\n" not in text  # the progress never scrolls the terminal
    draws = [d.removesuffix(CLEAR_TO_END) for d in text.split("\r")]
    for name, rows in loaded.items():
        assert any(d.startswith(f"  {name}: reading ") for d in draws)
        assert any(m.groups()[:2] == (name, rows) for d in draws if (m := READ.search(d)))
    assert max(map(len, draws)) < 100  # never wrapped
    assert text.endswith("\r" + CLEAR_TO_END)  # the line is gone before the results are printed
