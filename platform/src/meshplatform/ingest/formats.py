"""The fast path: one regular expression per contract that a plain export line (no quotes) matches
only when every value has a form the database accepts without further checks; it finds whole
runs of such lines in a block at once.

A matching line skips the per-value checks in SQL (its values are cast directly; rules across
fields still run); any other line gets all checks there. So the expression may be stricter than
the contract (a rare valid form, e.g. 29 February or a time-zone offset, simply takes the full
checks), never looser: what it accepts must cast, meet the contract's rules for single values and
print back exactly as written (no leading zeros, all decimals), so that a row a rule across fields
refuses is quarantined with its own text.
"""

from __future__ import annotations

import re

from meshplatform.contracts.model import ColumnSpec, SourceSpec

KEY_BYTES = 2000  # a text key longer than this would not fit a btree index entry (limit ~2700)
_YEAR = r"(?!0000)[0-9]{4}"
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_DATE = f"{_YEAR}-{_MONTH_DAY}"
_TIMESTAMP = _DATE + r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z"


def _value(column: ColumnSpec) -> str | None:
    """The form of a non-empty value that needs no check in SQL, or None (always check there)."""
    kind = column.physical_type
    if column.allowed_values is not None:
        return "(?:" + "|".join(re.escape(v) for v in column.allowed_values if not set(v) & set(',"\r\n\x00')) + ")"
    if kind == "text":  # a pattern is checked in SQL for every row
        most = column.max_length if column.max_length is not None else (KEY_BYTES if column.primary_key else None)
        text = r'[^,\n\r"\x00]'  # what a plain line's field may hold
        return f"{text}{{1,{most}}}" if most is not None else f"{text}+"  # bytes: at most as many characters
    if kind in ("bigint", "integer"):
        return _number(column, 18 if kind == "bigint" else 9, 0)
    if numeric := column.numeric_scale:
        return _number(column, numeric[0] - numeric[1], numeric[1])
    if column.exclusive_minimum is not None or column.minimum is not None:
        return None
    if kind == "date":
        return _DATE
    if kind == "timestamptz":
        return _TIMESTAMP
    return None


def _number(column: ColumnSpec, whole: int, scale: int) -> str | None:
    """A number with at most `whole` digits before the point and exactly `scale` after, no leading
    zeros; without a sign when the contract's minimum is 0, and not zero either when that minimum
    is exclusive (None: another minimum, always checked in SQL)."""
    bounds = (column.exclusive_minimum, column.minimum)
    decimals = rf"\.[0-9]{{{scale}}}" if scale else ""
    nonzero = rf"[1-9][0-9]{{0,{whole - 1}}}{decimals}"
    if bounds == (None, None):
        return rf"(?:0{decimals}|-?{nonzero})"
    if bounds == (None, 0):
        return rf"(?:0{decimals}|{nonzero})"
    if bounds == (0, None):
        return rf"(?:{nonzero}|0\.(?!0{{{scale}}})[0-9]{{{scale}}})" if scale else nonzero
    return None


def fast_lines(spec: SourceSpec) -> re.Pattern[bytes] | None:
    """The expression that finds runs of whole lines (each ending in a newline) that take the fast
    path (None: the contract has no fast path)."""
    parts = []
    for column in spec.columns:
        form = _value(column)
        if form is None:
            return None
        parts.append(form if column.required else f"(?:{form})?")
    if spec.trailing_empty_column:
        parts.append("")
    return re.compile(("(?m)(?:^" + ",".join(parts) + "\n)+").encode("ascii"))
