"""Text of the report: HTML escaping, a small inline markup for declared prose, and number formats."""

from __future__ import annotations

import html
import math
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

# The formats a declared value may ask for; "auto" picks one from the value's type.
FORMATS = ("auto", "int", "amount", "ratio", "percent", "compact", "text", "tags")
NUMERIC_FORMATS = ("int", "amount", "ratio", "percent", "compact")


def esc(value: object) -> str:
    """Escape any text for HTML (element content and quoted attribute values)."""
    return html.escape("" if value is None else str(value), quote=True)


def markup(text: str) -> str:
    """Escaped text with ``**bold**`` and ```code``` turned into HTML (the prose of a declaration)."""
    out = esc(text.strip())
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)


def fmt_int(value: float | None) -> str:
    return "—" if value is None else f"{round(value):,}"


def fmt_amount(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{Decimal(value):,.2f}"


def fmt_pct(part: float, whole: float) -> str:
    return "—" if not whole else f"{100 * part / whole:.1f}%"


def fmt_compact(value: float) -> str:
    """Axis labels: 0, 750, 12.5k, 1.25M."""
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= divisor:
            return f"{value / divisor:.2f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def fmt_value(value: Any, fmt: str = "auto") -> str:
    """One value of a declared query, in the declared format ("—" for NULL)."""
    if value is None:
        return "—"
    if fmt == "auto":
        fmt = auto_format(value)
    if fmt == "int":
        return fmt_int(float(value))
    if fmt == "amount":
        return fmt_amount(value)
    if fmt == "ratio":
        return f"{float(value):,.4f}"
    if fmt == "percent":
        return fmt_pct(float(value), 1)
    if fmt == "compact":
        return fmt_compact(float(value))
    if fmt == "tags":
        return " ".join(str(v) for v in value)
    return f"{value:%Y-%m-%d}" if isinstance(value, date) and not isinstance(value, datetime) else str(value)


def auto_format(value: Any) -> str:
    """The format "auto" stands for: whole numbers for numbers (compact from 10^8 on), text otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return "text"
    if isinstance(value, int):
        return "int"
    return "int" if abs(value) < 10**8 else "compact"


def nice_ticks(top: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Round tick values from 0 to at least ``top``."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in steps if m * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]
