"""The one place that reads the wall clock.

Everything in `core/` and `scheduler/` that needs "now" takes a `Clock` (a callable
returning an aware UTC datetime) and defaults to `system_clock`; tests pass a frozen one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def local_date(time_zone: str, clock: Clock = system_clock) -> date:
    """Today's date in `time_zone` by `clock`."""
    return clock().astimezone(ZoneInfo(time_zone)).date()
