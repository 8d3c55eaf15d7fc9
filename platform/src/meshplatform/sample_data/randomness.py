"""Counter-based randomness: every random value is a pure function of (seed, stream, key)."""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

from meshplatform.sample_data.shape import Floats, Ints


class Stream(IntEnum):
    """Independent random streams: one per decision."""

    REQUEST_TIME = 1
    ORPHAN = 2
    USER_PICK = 3
    ORPHAN_PICK = 4
    FOREIGN_CURRENCY = 5
    CURRENCY_PICK = 6
    LARGE_AMOUNT = 7
    AMOUNT_A = 8
    AMOUNT_B = 9
    RATE_DRIFT = 10
    RATE_NOISE = 11
    FIRST_STATUS = 12
    FIRST_DELAY = 13
    RESOLVES = 14
    RESOLUTION_GAP = 15
    FINAL_STATUS = 16
    FINAL_TIME = 17
    PROCESSING_STEP = 18
    PROCESSING_TIME = 19
    DUPLICATES = 20
    DUPLICATE_DAY = 21
    REDELIVERY = 22
    COUNTRY = 23
    SIGNUP = 24
    USER_TIME = 25
    KYC = 26
    ACCOUNT = 27
    KYC_CHANGE = 28
    KYC_GAP = 29
    KYC_NEW = 30
    KYC_TIME = 31
    MALFORMED_USERS = 32
    MALFORMED_WITHDRAWALS = 33


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class Random:
    """Counter-based randomness: uniform(stream, keys) depends only on (seed, stream, key)."""

    def __init__(self, seed: int) -> None:
        self._seed = np.array([seed % 2**64], dtype=np.uint64)

    def uniform(self, stream: Stream, keys: Ints) -> Floats:
        """Uniform floats in [0, 1), one per key."""
        offset = _mix(self._seed * _GOLDEN + np.uint64(stream))
        bits = _mix(keys.astype(np.uint64) * _GOLDEN + offset)
        return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def below(self, stream: Stream, keys: Ints, bound: Ints | int) -> Ints:
        """Uniform integers in [0, bound), one per key."""
        return (self.uniform(stream, keys) * bound).astype(np.int64)

    def pick(self, stream: Stream, keys: Ints, weights: tuple[float, ...]) -> Ints:
        """Index into `weights`, drawn with those relative weights, one per key."""
        cumulative = np.cumsum(weights) / np.sum(weights)
        index = np.searchsorted(cumulative, self.uniform(stream, keys), side="right")
        return np.minimum(index, len(weights) - 1).astype(np.int64)

    def chance(self, stream: Stream, keys: Ints, share: float) -> npt.NDArray[np.bool_]:
        """True with probability `share`, one per key."""
        return self.uniform(stream, keys) < share
