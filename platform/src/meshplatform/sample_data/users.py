"""The users export: every delivered version of each user, as CSV lines."""

from __future__ import annotations

import numpy as np

from meshplatform.sample_data.plan import Clock, Plan, concat, derive, labels
from meshplatform.sample_data.randomness import Random, Stream
from meshplatform.sample_data.shape import (
    ACCOUNT_TYPES,
    BUSINESS_SHARE,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    DAY,
    HISTORY_DAYS,
    KYC_CHANGE_SHARE,
    KYC_STATUSES,
    KYC_WEIGHTS,
    PENDING,
    REJECTED,
    UNVERIFIED,
    VERIFIED,
    Ints,
    Rows,
)


def countries(rnd: Random, user_ids: Ints) -> Ints:
    """Country index of each user id (also of orphan ids, which have no users row)."""
    return rnd.pick(Stream.COUNTRY, user_ids, COUNTRY_WEIGHTS)


def user_rows(plan: Plan, rnd: Random, ids: Ints) -> Rows:
    """All delivered versions of users `ids`: first delivery plus kyc_status changes."""
    arrival = np.searchsorted(plan.known_users, ids).astype(np.int64)
    signup = np.where(arrival == 0, -1 - rnd.below(Stream.SIGNUP, ids, HISTORY_DAYS), arrival)
    earliest, until = signup * DAY, (arrival + 1) * DAY
    first = {
        "origin": ids,
        "id": ids,
        "version": np.zeros_like(ids),
        "signup": signup,
        "country": countries(rnd, ids),
        "kyc": rnd.pick(Stream.KYC, ids, KYC_WEIGHTS),
        "account": rnd.chance(Stream.ACCOUNT, ids, BUSINESS_SHARE).astype(np.int64),
        "updated": earliest + rnd.below(Stream.USER_TIME, ids, until - earliest),
        "day": arrival,
    }
    change_day = arrival + 1 + rnd.chance(Stream.KYC_GAP, ids, 0.3)
    changes = (
        np.isin(first["kyc"], (PENDING, UNVERIFIED))
        & rnd.chance(Stream.KYC_CHANGE, ids, KYC_CHANGE_SHARE)
        & (change_day <= plan.last_day)
    )
    changed = derive(
        first,
        changes,
        version=1,
        kyc=np.where(rnd.chance(Stream.KYC_NEW, ids, 0.8), VERIFIED, REJECTED),
        updated=change_day * DAY + rnd.below(Stream.KYC_TIME, ids, DAY),
        day=change_day,
    )
    return concat([first, changed])


def user_lines(rows: Rows, clock: Clock) -> list[str]:
    """CSV lines (trailing empty column, LF) in USER_COLUMNS order."""
    fields = zip(
        rows["id"].tolist(),
        clock.dates(rows["signup"]),
        labels(COUNTRIES, rows["country"]),
        labels(KYC_STATUSES, rows["kyc"]),
        labels(ACCOUNT_TYPES, rows["account"]),
        clock.timestamps(rows["updated"]),
        strict=True,
    )
    return [f"{u},{s},{c},{k},{a},{t},\n" for u, s, c, k, a, t in fields]
