"""Benchmark of the export generator: wall time, rows/s and peak RSS per size.

Every size runs in a fresh child process (peak RSS is a per-process high-water mark) and writes
into a temporary directory that is removed afterwards. The results are printed and written to
docs/benchmarks.md under the heading "## Generator"; the other sections of that file are kept.

    .venv/bin/python platform/benchmarks/bench_generate.py                 # 1M and 10M
    .venv/bin/python platform/benchmarks/bench_generate.py --sizes 100000 --no-docs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from docs_section import replace_section

DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
HEADING = "## Generator"


@dataclass(frozen=True)
class Result:
    size: int
    days: int
    seconds: float
    rows: int
    output_mb: float
    peak_rss_mb: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    @property
    def withdrawals_per_second(self) -> float:
        return self.size / self.seconds


def run_one(size: int, days: int, seed: int, out_dir: Path) -> Result:
    """Generate once in this process and measure it."""
    from meshplatform.sample_data.generator import generate

    started = time.perf_counter()
    truth = generate(out_dir, size=size, days=days, seed=seed)
    seconds = time.perf_counter() - started
    output = sum(path.stat().st_size for path in out_dir.rglob("*") if path.is_file())
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    rows = truth.rows_written["users"] + truth.rows_written["withdrawals"]
    return Result(size, days, seconds, rows, output / 2**20, peak_kb / 1024)


def run_in_child(size: int, days: int, seed: int) -> Result:
    """Run one size in a fresh interpreter, in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="bench_generate_") as tmp:
        command = [sys.executable, __file__, "--child", str(size), str(days), str(seed), tmp]
        completed = subprocess.run(command, check=True, capture_output=True, text=True)
    return Result(**json.loads(completed.stdout))


def markdown_section(results: list[Result], seed: int) -> str:
    """The "## Generator" section: how it was measured and a table."""
    lines = [
        HEADING,
        "",
        f"Measured {date.today().isoformat()} with `platform/benchmarks/bench_generate.py`"
        f" (seed {seed}; one fresh process per size; CSV files written to a temporary directory"
        f" on local disk). Machine: {os.cpu_count()} CPUs ({platform.machine()}),"
        f" Python {platform.python_version()}, {platform.system()}.",
        "Rows = data lines written across all users and withdrawals files (versions,"
        " re-deliveries and duplicates included). Peak RSS = `ru_maxrss` of the process"
        " (interpreter and numpy included); it stays flat because the generator streams"
        " fixed-size chunks.",
        "",
        "| unique withdrawals | days | rows written | output MB | wall s | rows/s | withdrawals/s | peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.size:,} | {r.days} | {r.rows:,} | {r.output_mb:,.0f} | {r.seconds:,.1f}"
        f" | {r.rows_per_second:,.0f} | {r.withdrawals_per_second:,.0f} | {r.peak_rss_mb:,.0f} |"
        for r in results
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--child", nargs=4, metavar=("SIZE", "DAYS", "SEED", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        size, days, seed, out_dir = args.child
        print(json.dumps(asdict(run_one(int(size), int(days), int(seed), Path(out_dir)))))
        return

    results = []
    for size in args.sizes:
        result = run_in_child(size, args.days, args.seed)
        results.append(result)
        print(
            f"size={size:>12,}  rows={result.rows:>12,}  {result.seconds:8.1f} s"
            f"  {result.rows_per_second:>10,.0f} rows/s  peak RSS {result.peak_rss_mb:,.0f} MB",
            flush=True,
        )
    if not args.no_docs:
        replace_section(DOCS, HEADING, markdown_section(results, args.seed))
        print(f"updated {DOCS}")


if __name__ == "__main__":
    main()
