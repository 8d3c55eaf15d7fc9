"""The shape of the sample data: the export columns, their labels, and the shares and weights
that make the data realistic."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Rows = dict[str, Ints]
"""A batch of rows: one int64 array per field (labels are stored as indexes)."""

USER_COLUMNS = ("user_id", "signup_date", "country", "kyc_status", "account_type", "updated_at")
WITHDRAWAL_COLUMNS = (
    "transaction_id", "user_id", "requested_at", "completed_at", "status", "toco_amount",
    "fiat_currency", "fiat_amount", "exchange_rate", "updated_at",
)  # fmt: skip
STATUSES = ("requested", "processing", "completed", "failed", "cancelled")
CURRENCIES = ("USD", "EUR", "GBP", "MXN", "BRL", "ARS", "COP")
KYC_STATUSES = ("verified", "pending", "rejected", "unverified")
ACCOUNT_TYPES = ("personal", "business")

REQUESTED, PROCESSING, COMPLETED, FAILED, CANCELLED = range(len(STATUSES))
VERIFIED, PENDING, REJECTED, UNVERIFIED = range(len(KYC_STATUSES))

DAY = 86_400
NULL = np.iinfo(np.int64).min  # marks an empty field (NULL) in a timestamp column
MAX_TRANSACTION_NUMBER = 9_999_999_999  # 'wd_' + 10 digits

# --- shape of the data (shares are per original withdrawal unless stated) ---
MIN_USERS = 50
WITHDRAWALS_PER_USER = 8
FIRST_DAY_USER_SHARE = 0.8
HISTORY_DAYS = 3 * 365  # signup dates of the first-day users go back this far
USER_SKEW = 1.5  # > 1: older (lower) user ids withdraw more often
ORPHAN_SHARE = 0.005
ORPHAN_USERS_PER_USER = 0.005
FOREIGN_CURRENCY_SHARE = 0.08  # withdrawals not in the currency of the user's country
AMOUNT_MEDIAN, AMOUNT_SIGMA, AMOUNT_CAP = 120.0, 1.0, 1_000_000.0
LARGE_SHARE, LARGE_MIN, LARGE_SPREAD = 0.003, 5_001.0, 5.0  # log-uniform in [5001, 25005)
RATE_DAILY_DRIFT, RATE_NOISE = 0.02, 0.006
FIRST_STATUS_WEIGHTS = (55, 25, 15, 5, 0)  # over STATUSES, on the request day
RESOLVED_SHARE = 0.9  # of withdrawals still requested/processing after their first day
RESOLUTION_GAP_WEIGHTS = (70, 20, 10)  # final status arrives 1, 2 or 3 days later
FINAL_STATUS_WEIGHTS = (88, 7, 5)  # completed, failed, cancelled
PROCESSING_STEP_SHARE = 0.5  # of requested ones not final on the next day: processing version then
DUPLICATE_SHARE, DOUBLE_DUPLICATE_SHARE = 0.01, 0.001  # get >= 1 / 2 content duplicates
DUPLICATE_NEXT_DAY_SHARE = 0.4
REDELIVERY_SHARE = 0.02  # of all rows
KYC_CHANGE_SHARE = 0.5  # of pending/unverified users
KYC_WEIGHTS = (60, 20, 5, 15)  # over KYC_STATUSES
BUSINESS_SHARE = 0.15
COUNTRIES = ("US", "MX", "BR", "AR", "CO", "GB", "DE", "ES", "FR", "NL", "IT")
COUNTRY_WEIGHTS = (25, 15, 15, 8, 7, 10, 6, 5, 5, 2, 2)
COUNTRY_CURRENCY = (0, 3, 4, 5, 6, 2, 1, 1, 1, 1, 1)  # index into CURRENCIES
CURRENCY_WEIGHTS = (40, 20, 10, 10, 10, 5, 5)  # of foreign-currency withdrawals
TOCO_RATES = (1.0, 0.92, 0.79, 17.2, 5.05, 1010.0, 3950.0)  # fiat per toco, by CURRENCIES
