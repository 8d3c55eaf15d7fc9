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
  sequence of valid lines: one in the first window, then one per block (see Defects); about
  0.1% of the withdrawals lines (at least one in a file of >= 200 lines) and a few per users
  file. The defect kind rotates over the malformed lines numbered block by block, file by file.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from meshplatform.sample_data.defects import USER_MALFORMED, WITHDRAWAL_MALFORMED
from meshplatform.sample_data.files import DailyFiles, chunks
from meshplatform.sample_data.plan import Clock, Plan, with_redeliveries
from meshplatform.sample_data.randomness import Random
from meshplatform.sample_data.shape import USER_COLUMNS, WITHDRAWAL_COLUMNS
from meshplatform.sample_data.truth import GROUND_TRUTH_FILE, GroundTruth, Tally
from meshplatform.sample_data.users import user_lines, user_rows
from meshplatform.sample_data.withdrawals import withdrawal_batch, withdrawal_lines

__all__ = ["CHUNK_SIZE", "GROUND_TRUTH_FILE", "GroundTruth", "generate"]

CHUNK_SIZE = 100_000


def generate(
    out_dir: Path,
    *,
    size: int = 20_000,
    days: int = 5,
    seed: int = 42,
    start_date: date = date(2026, 11, 1),
    chunk_size: int = CHUNK_SIZE,
) -> GroundTruth:
    """Write `days` daily users and withdrawals files plus ground_truth.json into `out_dir`.

    `size` is the number of unique withdrawals. Existing files of the same names are
    overwritten; other files are left alone.
    """
    out_dir = Path(out_dir)
    plan, rnd = Plan(size, days, start_date), Random(seed)
    clock = Clock(plan)

    with DailyFiles(out_dir, "users", plan, USER_COLUMNS, rnd, USER_MALFORMED) as users:
        for ids in chunks(plan.n_users, chunk_size):
            rows = with_redeliveries(plan, rnd, user_rows(plan, rnd, ids))
            users.write(rows, user_lines, clock)

    tally = Tally(plan)
    files = DailyFiles(out_dir, "withdrawals", plan, WITHDRAWAL_COLUMNS, rnd, WITHDRAWAL_MALFORMED)
    with files as withdrawals:
        for ids in chunks(size, chunk_size):
            batch = withdrawal_batch(plan, rnd, ids, first_duplicate=size + tally.duplicates + 1)
            tally.add(batch)
            withdrawals.write(with_redeliveries(plan, rnd, batch.rows), withdrawal_lines, clock)

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
