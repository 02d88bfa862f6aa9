"""Billing cycles.

A customer's cycle starts at local midnight on ``billing_day`` (1..28, so it exists in every
month) and ends, exclusive, at local midnight on ``billing_day`` of the next month. Dates
are local to the customer's time zone; a CDR's instant is converted to that zone before its
cycle is chosen, so a call at 00:30 local on the 15th belongs to the cycle starting on the
15th even though it is still the 14th in UTC. Around a DST change a cycle is an hour
longer or shorter in real time but still counts its calendar ``days``.

A cycle is labelled by the month it starts in ("2025-10" for 15 Oct - 15 Nov); the month
arithmetic is ``core.month.Month``.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.month import Cycle, Month, check_billing_day

__all__ = ["Cycle", "cycle_for", "cycle_for_label", "month_labels"]


def cycle_for(moment: datetime, billing_day: int, tz: ZoneInfo) -> Cycle:
    """The cycle containing ``moment`` (tz-aware) for a customer billed on ``billing_day``."""
    check_billing_day(billing_day)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"moment must be timezone-aware, got {moment!r}")
    local_day = moment.astimezone(tz).date()
    month = Month.of(local_day)
    return (month if local_day.day >= billing_day else month - 1).cycle(billing_day)


def cycle_for_label(label: str | Month, billing_day: int) -> Cycle:
    """The cycle starting on ``billing_day`` of the month ``label`` ("2025-10")."""
    check_billing_day(billing_day)
    month = label if isinstance(label, Month) else Month.parse(label)
    return month.cycle(billing_day)


def month_labels(first: str, last: str) -> list[str]:
    """Month labels from ``first`` to ``last`` inclusive; ValueError if ``last`` is earlier."""
    return [str(month) for month in Month.parse(first).through(Month.parse(last))]
