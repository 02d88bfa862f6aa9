"""Billing cycles.

A customer's cycle starts at local midnight on ``billing_day`` (1..28, so it exists in every
month) and ends, exclusive, at local midnight on ``billing_day`` of the next month. Dates
are local to the customer's time zone; a CDR's instant is converted to that zone before its
cycle is chosen, so a call at 00:30 local on the 15th belongs to the cycle starting on the
15th even though it is still the 14th in UTC. Around a DST change a cycle is an hour
longer or shorter in real time but still counts its calendar ``days``.

A cycle is labelled by the month it starts in ("2025-10" for 15 Oct - 15 Nov).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

__all__ = ["Cycle", "cycle_for", "cycle_for_label", "month_labels"]

_LABEL = re.compile(r"([0-9]{4})-([0-9]{2})")
_MAX_BILLING_DAY = 28


@dataclass(frozen=True)
class Cycle:
    start: date  # cycle_start_date (local date)
    end: date  # exclusive

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"cycle must end after it starts: {self.start} .. {self.end}")

    def start_utc(self, tz: ZoneInfo) -> datetime:
        """The instant the cycle starts: local midnight of ``start`` in ``tz``, in UTC."""
        return _local_midnight_utc(self.start, tz)

    def end_utc(self, tz: ZoneInfo) -> datetime:
        """The instant the cycle ends (exclusive): local midnight of ``end``, in UTC."""
        return _local_midnight_utc(self.end, tz)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def label(self) -> str:
        return f"{self.start.year:04d}-{self.start.month:02d}"


def cycle_for(moment: datetime, billing_day: int, tz: ZoneInfo) -> Cycle:
    """The cycle containing ``moment`` (tz-aware) for a customer billed on ``billing_day``."""
    _check_billing_day(billing_day)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"moment must be timezone-aware, got {moment!r}")
    local_day = moment.astimezone(tz).date()
    year, month = local_day.year, local_day.month
    if local_day.day < billing_day:
        year, month = _previous_month(year, month)
    return _cycle_starting(year, month, billing_day)


def cycle_for_label(label: str, billing_day: int) -> Cycle:
    """The cycle starting on ``billing_day`` of the month ``label`` ("2025-10")."""
    _check_billing_day(billing_day)
    year, month = _parse_label(label)
    return _cycle_starting(year, month, billing_day)


def month_labels(first: str, last: str) -> list[str]:
    """Month labels from ``first`` to ``last`` inclusive; ValueError if ``last`` is earlier."""
    year, month = _parse_label(first)
    last_year, last_month = _parse_label(last)
    if (last_year, last_month) < (year, month):
        raise ValueError(f"month range ends before it starts: {first} .. {last}")
    labels: list[str] = []
    while (year, month) <= (last_year, last_month):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = _next_month(year, month)
    return labels


def _local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    # In a zone whose clocks skip midnight, fold=0 maps 00:00 to the moment of the jump.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _cycle_starting(year: int, month: int, billing_day: int) -> Cycle:
    next_year, next_month = _next_month(year, month)
    return Cycle(date(year, month, billing_day), date(next_year, next_month, billing_day))


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _parse_label(label: str) -> tuple[int, int]:
    match = _LABEL.fullmatch(label)
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise ValueError(f"month label must look like 'YYYY-MM', got {label!r}")
    return int(match[1]), int(match[2])


def _check_billing_day(billing_day: int) -> None:
    if isinstance(billing_day, bool) or not 1 <= billing_day <= _MAX_BILLING_DAY:
        raise ValueError(f"billing_day must be 1..{_MAX_BILLING_DAY}, got {billing_day!r}")
