"""Who owns a contract's data and what they promise: ODCS v3.1 ``team``, ``support``,
``slaProperties`` and ``servers``, read from the contract document.

Every product contract must name an owner, a support channel and a freshness SLA
(:func:`problems` says what is missing; ``mesh contracts lint`` reports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

_UNITS = {
    "m": timedelta(minutes=1), "min": timedelta(minutes=1), "minutes": timedelta(minutes=1),
    "h": timedelta(hours=1), "hour": timedelta(hours=1), "hours": timedelta(hours=1),
    "d": timedelta(days=1), "day": timedelta(days=1), "days": timedelta(days=1),
    "w": timedelta(weeks=1), "week": timedelta(weeks=1), "weeks": timedelta(weeks=1),
    "y": timedelta(days=365), "yr": timedelta(days=365), "years": timedelta(days=365),
}  # fmt: skip


@dataclass(frozen=True)
class Member:
    username: str
    name: str | None
    role: str | None


@dataclass(frozen=True)
class SupportChannel:
    channel: str
    tool: str | None
    url: str | None
    scope: str | None


@dataclass(frozen=True)
class Sla:
    """One SLA property: its value, unit and description as the contract states them."""

    property: str
    value: Any
    unit: str | None
    description: str | None
    schedule: str | None = None  # a cron expression (e.g. on ``frequency`` with ``scheduler: cron``)

    @property
    def duration(self) -> timedelta | None:
        """The value as a duration, when it is a number with a time unit."""
        step = _UNITS.get((self.unit or "").lower())
        if step is None or isinstance(self.value, bool) or not isinstance(self.value, int | float):
            return None
        return step * self.value

    def describe(self) -> str:
        amount = f"{self.value} {self.unit}" if self.unit else str(self.value)
        return f"{self.property}: {amount}"


@dataclass(frozen=True)
class Ownership:
    team: str | None
    members: tuple[Member, ...]
    support: tuple[SupportChannel, ...]
    sla: tuple[Sla, ...]
    servers: tuple[dict[str, Any], ...]

    @property
    def owner(self) -> Member | None:
        return next((m for m in self.members if (m.role or "").lower() == "owner"), None)

    def sla_of(self, name: str) -> Sla | None:
        return next((s for s in self.sla if s.property == name), None)

    @property
    def freshness(self) -> timedelta | None:
        """How old the data may get (``slaProperties`` freshness), if the contract states it."""
        sla = self.sla_of("freshness")
        return sla.duration if sla else None


def ownership(document: dict[str, Any]) -> Ownership:
    """Read team, support, SLA and servers from an ODCS v3.1 contract document."""
    team = document.get("team")
    members = team.get("members", []) if isinstance(team, dict) else team or []  # v3.0 had a bare list
    return Ownership(
        team=team.get("name") if isinstance(team, dict) else None,
        members=tuple(Member(m["username"], m.get("name"), m.get("role")) for m in members),
        support=tuple(
            SupportChannel(s["channel"], s.get("tool"), s.get("url"), s.get("scope"))
            for s in document.get("support") or []
        ),
        sla=tuple(
            Sla(s["property"], s.get("value"), s.get("unit"), s.get("description"), s.get("schedule"))
            for s in document.get("slaProperties") or []
        ),
        servers=tuple(document.get("servers") or ()),
    )


def problems(document: dict[str, Any]) -> list[str]:
    """What a product contract lacks: an owner, a support channel, a freshness SLA."""
    found = ownership(document)
    missing = []
    if found.owner is None:
        missing.append("no team member with role: owner (team.members)")
    if not found.support:
        missing.append("no support channel (support)")
    if found.freshness is None:
        missing.append("no freshness SLA with a time unit (slaProperties: property freshness, value, unit)")
    return missing
