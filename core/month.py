"""Months ("2026-03") and billing cycles: one value type for every month label.

A customer's cycle starts at local midnight on ``billing_day`` (1..28, so it exists in
every month) and ends, exclusive, at local midnight on ``billing_day`` of the next month.
A cycle is labelled by the month it starts in ("2025-10" for 15 Oct - 15 Nov).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import NamedTuple
from zoneinfo import ZoneInfo

__all__ = ["MAX_BILLING_DAY", "CustomerCycle", "Cycle", "Month", "check_billing_day"]

MAX_BILLING_DAY = 28
_LABEL = re.compile(r"([0-9]{4})-([0-9]{2})")


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month; ``str(month)`` is its label "YYYY-MM"."""

    year: int
    number: int  # 1..12

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9999:
            raise ValueError(f"{self.year:04d}-{self.number:02d}: there is no year {self.year}")
        if not 1 <= self.number <= 12:
            raise ValueError(f"{self.year:04d}-{self.number:02d}: there is no month {self.number}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """"2026-03" -> Month(2026, 3); ValueError with one line saying what is wrong."""
        match = _LABEL.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2026-03")
        year, number = int(match[1]), int(match[2])
        if not 1 <= number <= 12:
            raise ValueError(f"{text.strip()}: there is no month {number}")
        return cls(year, number)

    @classmethod
    def of(cls, day: date) -> Month:
        """The month ``day`` (or a datetime, in its own zone) falls in."""
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.number:02d}"

    @property
    def label(self) -> str:
        return str(self)

    def __add__(self, months: int) -> Month:
        index = self.year * 12 + self.number - 1 + months
        return Month(index // 12, index % 12 + 1)

    def __sub__(self, months: int) -> Month:
        return self + -months

    def months_since(self, earlier: Month) -> int:
        """How many months ``earlier`` lies before this one (negative if after)."""
        return (self.year - earlier.year) * 12 + self.number - earlier.number

    @property
    def first_day(self) -> date:
        return date(self.year, self.number, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.number, calendar.monthrange(self.year, self.number)[1])

    def through(self, last: Month) -> list[Month]:
        """This month up to ``last`` inclusive; ValueError if ``last`` is earlier."""
        if last < self:
            raise ValueError(f"month range ends before it starts: {self} .. {last}")
        return list(self._walk(last))

    def _walk(self, last: Month) -> Iterator[Month]:
        month = self
        while month <= last:
            yield month
            month += 1

    def cycle(self, billing_day: int) -> Cycle:
        """The cycle starting on ``billing_day`` of this month."""
        check_billing_day(billing_day)
        return Cycle(self.first_day.replace(day=billing_day),
                     (self + 1).first_day.replace(day=billing_day))


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
    def month(self) -> Month:
        return Month.of(self.start)

    @property
    def label(self) -> str:
        return str(self.month)


class CustomerCycle(NamedTuple):
    """One customer's billing cycle, named by its start date (what totals are keyed on)."""

    customer_id: int
    cycle_start: date

    @property
    def month(self) -> Month:
        return Month.of(self.cycle_start)


def check_billing_day(billing_day: int) -> None:
    if isinstance(billing_day, bool) or not 1 <= billing_day <= MAX_BILLING_DAY:
        raise ValueError(f"billing_day must be 1..{MAX_BILLING_DAY}, got {billing_day!r}")


def _local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    # In a zone whose clocks skip midnight, fold=0 maps 00:00 to the moment of the jump.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
