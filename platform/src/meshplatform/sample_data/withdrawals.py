"""The withdrawals export: versions, latest status and content duplicates of each original
withdrawal, as CSV lines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meshplatform.sample_data.plan import Clock, Plan, concat, derive, fixed_point, labels
from meshplatform.sample_data.randomness import Random, Stream
from meshplatform.sample_data.shape import (
    AMOUNT_CAP,
    AMOUNT_MEDIAN,
    AMOUNT_SIGMA,
    COMPLETED,
    COUNTRY_CURRENCY,
    CURRENCIES,
    CURRENCY_WEIGHTS,
    DAY,
    DOUBLE_DUPLICATE_SHARE,
    DUPLICATE_NEXT_DAY_SHARE,
    DUPLICATE_SHARE,
    FINAL_STATUS_WEIGHTS,
    FIRST_STATUS_WEIGHTS,
    FOREIGN_CURRENCY_SHARE,
    LARGE_MIN,
    LARGE_SHARE,
    LARGE_SPREAD,
    NULL,
    ORPHAN_SHARE,
    PROCESSING,
    PROCESSING_STEP_SHARE,
    RATE_DAILY_DRIFT,
    RATE_NOISE,
    REQUESTED,
    RESOLUTION_GAP_WEIGHTS,
    RESOLVED_SHARE,
    STATUSES,
    TOCO_RATES,
    USER_SKEW,
    Ints,
    Rows,
)
from meshplatform.sample_data.users import countries


def _request_times(plan: Plan, rnd: Random, ids: Ints) -> Ints:
    """Second offsets, non-decreasing in id: at most id_window - 1 consecutive ids per second."""
    jitter = rnd.below(Stream.REQUEST_TIME, ids, plan.period)
    return ((ids - 1) * plan.period + jitter) // plan.size


def _withdrawal_users(plan: Plan, rnd: Random, ids: Ints, day: Ints) -> Ints:
    """A user already delivered on the request day, or (rarely) an orphan id."""
    known = plan.known_users[day]
    regular = 1 + (known * rnd.uniform(Stream.USER_PICK, ids) ** USER_SKEW).astype(np.int64)
    orphan = plan.n_users + 1 + rnd.below(Stream.ORPHAN_PICK, ids, plan.n_orphan_users)
    return np.where(rnd.chance(Stream.ORPHAN, ids, ORPHAN_SHARE), orphan, regular)


def _currencies(rnd: Random, ids: Ints, users: Ints) -> Ints:
    """The currency of the user's country, sometimes another one."""
    home = np.asarray(COUNTRY_CURRENCY, dtype=np.int64)[countries(rnd, users)]
    foreign = rnd.pick(Stream.CURRENCY_PICK, ids, CURRENCY_WEIGHTS)
    abroad = rnd.chance(Stream.FOREIGN_CURRENCY, ids, FOREIGN_CURRENCY_SHARE)
    return np.where(abroad, foreign, home)


def _toco_cents(plan: Plan, rnd: Random, ids: Ints) -> Ints:
    """Log-normal amounts with a long tail; ids sharing a request second get distinct amounts."""
    a, b = rnd.uniform(Stream.AMOUNT_A, ids), rnd.uniform(Stream.AMOUNT_B, ids)
    normal = np.sqrt(-2.0 * np.log1p(-a)) * np.cos(2.0 * np.pi * b)
    body = np.minimum(AMOUNT_MEDIAN * np.exp(AMOUNT_SIGMA * normal), AMOUNT_CAP)
    large = LARGE_MIN * LARGE_SPREAD**a
    amount = np.where(rnd.chance(Stream.LARGE_AMOUNT, ids, LARGE_SHARE), large, body)
    window = plan.id_window
    cents: Ints = np.maximum(np.rint(amount * 100).astype(np.int64), max(100, window))
    return cents // window * window + ids % window


def _rate_micros(rnd: Random, ids: Ints, day: Ints, currency: Ints) -> Ints:
    """Exchange rate (fiat per toco) in millionths: base rate, daily drift, per-row noise."""
    drift = rnd.uniform(Stream.RATE_DRIFT, day * len(CURRENCIES) + currency) - 0.5
    noise = rnd.uniform(Stream.RATE_NOISE, ids) - 0.5
    base = np.asarray(TOCO_RATES)[currency]
    rate = base * (1 + RATE_DAILY_DRIFT * drift) * (1 + RATE_NOISE * noise)
    return np.rint(rate * 1_000_000).astype(np.int64)


def _first_versions(plan: Plan, rnd: Random, ids: Ints) -> Rows:
    """The row each original withdrawal gets on its request day."""
    requested = _request_times(plan, rnd, ids)
    day = requested // DAY
    users = _withdrawal_users(plan, rnd, ids, day)
    currency = _currencies(rnd, ids, users)
    toco = _toco_cents(plan, rnd, ids)
    rate = _rate_micros(rnd, ids, day, currency)
    status = rnd.pick(Stream.FIRST_STATUS, ids, FIRST_STATUS_WEIGHTS)
    delay = np.select(
        [status == REQUESTED, status == PROCESSING],
        [0, 1 + rnd.below(Stream.FIRST_DELAY, ids, 600)],
        60 + rnd.below(Stream.FIRST_DELAY, ids, 3600),
    )
    updated = np.minimum(requested + delay, (day + 1) * DAY - 1)
    return {
        "origin": ids,
        "id": ids,
        "version": np.zeros_like(ids),
        "user": users,
        "requested": requested,
        "completed": np.where(status == COMPLETED, updated, NULL),
        "status": status,
        "toco": toco,
        "currency": currency,
        "fiat": (toco * rate + 500_000) // 1_000_000,
        "rate": rate,
        "updated": updated,
        "day": day,
    }


@dataclass(frozen=True)
class WithdrawalBatch:
    """Everything one chunk of original withdrawals contributes."""

    originals: Rows  # first version of each original
    latest_status: Ints  # per original: status of its last delivered version
    rows: Rows  # every row to write (versions and content duplicates, no re-deliveries yet)
    duplicates: int


def withdrawal_batch(plan: Plan, rnd: Random, ids: Ints, first_duplicate: int) -> WithdrawalBatch:
    """Versions, latest status and content duplicates of the original withdrawals `ids`."""
    first = _first_versions(plan, rnd, ids)
    day, status = first["day"], first["status"]
    pending = (status == REQUESTED) | (status == PROCESSING)
    resolves = pending & rnd.chance(Stream.RESOLVES, ids, RESOLVED_SHARE)
    final_day = day + 1 + rnd.pick(Stream.RESOLUTION_GAP, ids, RESOLUTION_GAP_WEIGHTS)
    final_status = COMPLETED + rnd.pick(Stream.FINAL_STATUS, ids, FINAL_STATUS_WEIGHTS)
    final_time = final_day * DAY + rnd.below(Stream.FINAL_TIME, ids, DAY)
    final = resolves & (final_day <= plan.last_day)
    step = (
        (status == REQUESTED)
        & (~resolves | (final_day > day + 1))
        & rnd.chance(Stream.PROCESSING_STEP, ids, PROCESSING_STEP_SHARE)
        & (day < plan.last_day)
    )
    step_time = (day + 1) * DAY + rnd.below(Stream.PROCESSING_TIME, ids, DAY)
    latest = np.where(final, final_status, np.where(step, PROCESSING, status))
    versions = [
        first,
        derive(first, step, version=1, status=PROCESSING, updated=step_time, day=day + 1),
        derive(
            first,
            final,
            version=2,
            status=final_status,
            updated=final_time,
            completed=np.where(final_status == COMPLETED, final_time, NULL),
            day=final_day,
        ),
    ]
    duplicates = _content_duplicates(plan, rnd, first, first_duplicate)
    return WithdrawalBatch(first, latest, concat([*versions, duplicates]), len(duplicates["id"]))


def _content_duplicates(plan: Plan, rnd: Random, first: Rows, first_id: int) -> Rows:
    """Copies of some first versions under new ids first_id, first_id + 1, ... (in origin order)."""
    draw = rnd.uniform(Stream.DUPLICATES, first["id"])
    counts = (draw < DUPLICATE_SHARE).astype(np.int64) + (draw < DOUBLE_DUPLICATE_SHARE)
    copies = {field: np.repeat(values, counts) for field, values in first.items()}
    new_ids = first_id + np.arange(len(copies["id"]), dtype=np.int64)
    later = rnd.chance(Stream.DUPLICATE_DAY, new_ids, DUPLICATE_NEXT_DAY_SHARE)
    copies["id"] = new_ids
    copies["day"] = np.minimum(copies["day"] + later, plan.last_day)
    return copies


def withdrawal_lines(rows: Rows, clock: Clock) -> list[str]:
    """CSV lines (trailing empty column, LF) in WITHDRAWAL_COLUMNS order."""
    fields = zip(
        rows["id"].tolist(),
        rows["user"].tolist(),
        clock.timestamps(rows["requested"]),
        clock.timestamps(rows["completed"]),
        labels(STATUSES, rows["status"]),
        fixed_point(rows["toco"], 2),
        labels(CURRENCIES, rows["currency"]),
        fixed_point(rows["fiat"], 2),
        fixed_point(rows["rate"], 6),
        clock.timestamps(rows["updated"]),
        strict=True,
    )
    return [f"wd_{i:010d},{u},{r},{c},{s},{t},{cur},{f},{x},{up},\n" for i, u, r, c, s, t, cur, f, x, up in fields]
