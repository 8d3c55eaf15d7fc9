"""What a contract check reports: the findings it refused and what it looked at."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """One disagreement, located as precisely as possible."""

    product: str
    version: int | None
    column: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = [self.product]
        if self.version is not None:
            where.append(f"v{self.version}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{' '.join(where)} [{self.field}]: {self.message}"


@dataclass
class CheckReport:
    """What a check looked at (``passed``) and what it refused (``findings``)."""

    name: str
    passed: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def describe_values(values: frozenset[str] | None) -> str:
    """A set of valid values as a finding shows it; None means no rule."""
    return str(sorted(values)) if values is not None else "anything (no rule)"
