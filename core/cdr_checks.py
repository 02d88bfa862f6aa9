"""What a CDR may hold before the database sees it: the same limits on SQLite and MariaDB.

A value outside its range is a quarantine reason, never clipped or rounded: the
columns (INT, DECIMAL(18,4)) and the plausibility settings (date window, cost cap)
are checked here, so both databases accept exactly the same rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from core.clock import Clock, system_clock
from providers.base import PLATFORMS, ProviderCdr

CALL_TYPES = frozenset({"voice", "voice_in", "sms", "data"})
INT_COLUMN_MAX = 2**31 - 1  # duration_s and volume_kb are INT on MariaDB
COST_COLUMN_MAX = Decimal("99999999999999.9999")  # DECIMAL(18,4)
MAX_DECIMALS = 4
FOUR_PLACES = Decimal(1).scaleb(-MAX_DECIMALS)
TEXT_LIMITS = (("provider_ref", 80), ("number", 20), ("destination", 32))


class UnknownProvider(ValueError):
    """A provider name outside the fixed set: it would become a second dedup key."""


def normalise_provider(name: str) -> str:
    """The provider's dedup name: stripped, lower case, one of the known platforms."""
    provider = name.strip().lower()
    if provider not in PLATFORMS:
        raise UnknownProvider(f"unknown provider {name!r}: use one of {', '.join(PLATFORMS)}")
    return provider


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, searched in C (a per-row hot path)


def control_character(text: str) -> str | None:
    """The first NUL or other control character in `text`, shown as U+XXXX, or None."""
    found = _CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


@dataclass(frozen=True)
class CdrLimits:
    """Ranges for one import; `clock` decides what "the future" is."""

    earliest: date = date(2000, 1, 1)
    future_days: int = 1
    max_duration_s: int = 31 * 86_400
    max_volume_kb: int = INT_COLUMN_MAX
    max_cost: Decimal = Decimal("1000")
    clock: Clock = system_clock

    @classmethod
    def from_settings(cls, settings: Any, clock: Clock = system_clock) -> CdrLimits:
        return cls(earliest=date.fromisoformat(settings.cdr_earliest_date),
                   future_days=settings.cdr_max_future_days, max_cost=settings.cdr_max_cost, clock=clock)

    def window(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.earliest, time(), UTC)
        return start, self.clock() + timedelta(days=self.future_days)

    def check(self, cdr: ProviderCdr, window: tuple[datetime, datetime] | None = None) -> str | None:
        """The reason `cdr` cannot be stored, or None."""
        start, end = window or self.window()
        when, cost, ref, number = cdr.call_date, cdr.provider_cost, cdr.provider_ref, cdr.number
        destination = cdr.destination or ""
        cap = min(self.max_cost, COST_COLUMN_MAX)
        if (cdr.call_type in CALL_TYPES and 0 <= cdr.duration_s <= min(self.max_duration_s, INT_COLUMN_MAX)
                and 0 <= cdr.volume_kb <= min(self.max_volume_kb, INT_COLUMN_MAX) and when.tzinfo is not None
                and start <= when <= end and 0 < len(ref) <= 80 and len(number) <= 20 and len(destination) <= 32
                and not _CONTROL.search(ref + number + destination) and cost.is_finite() and -cap <= cost <= cap
                and cost == cost.quantize(FOUR_PLACES, rounding=ROUND_DOWN)):
            return None  # the common case in one expression (this runs for every CDR); else say why
        return self._reason(cdr, start, end)

    def _reason(self, cdr: ProviderCdr, start: datetime, end: datetime) -> str | None:
        reason = _shape(cdr)
        if reason is not None:
            return reason
        if cdr.call_date < start:
            return f"call date {cdr.call_date.isoformat()} is before {self.earliest.isoformat()}"
        if cdr.call_date > end:
            return f"call date {cdr.call_date.isoformat()} is more than {self.future_days} day(s) in the future"
        if cdr.duration_s > min(self.max_duration_s, INT_COLUMN_MAX):
            return f"duration {cdr.duration_s} s is longer than {self.max_duration_s} s"
        if cdr.volume_kb > min(self.max_volume_kb, INT_COLUMN_MAX):
            return f"volume {cdr.volume_kb} KB is above {min(self.max_volume_kb, INT_COLUMN_MAX)} KB"
        return self._cost(cdr.provider_cost)

    def _cost(self, cost: Decimal) -> str | None:
        if not cost.is_finite():
            return f"cost {cost} is not a number"
        limit = min(self.max_cost, COST_COLUMN_MAX)
        if abs(cost) > limit:
            return f"cost {cost} is above the limit of {limit} per CDR"
        if cost != cost.quantize(FOUR_PLACES, rounding=ROUND_DOWN):
            return f"cost {cost} has more than {MAX_DECIMALS} decimals"
        return None


def _shape(cdr: ProviderCdr) -> str | None:
    if cdr.call_type not in CALL_TYPES:
        return f"unknown call type {cdr.call_type!r}"
    if cdr.duration_s < 0:
        return f"negative duration {cdr.duration_s}"
    if cdr.volume_kb < 0:
        return f"negative volume {cdr.volume_kb}"
    if cdr.call_date.tzinfo is None:
        return "call date has no time zone"
    if not cdr.provider_ref:
        return "empty provider_ref"
    if cdr.visited_country and not (len(cdr.visited_country) == 2 and cdr.visited_country.isupper()
                                    and cdr.visited_country.isascii() and cdr.visited_country.isalpha()):
        return f"bad visited_country {cdr.visited_country!r}"
    for name, limit in TEXT_LIMITS:
        value = getattr(cdr, name) or ""
        if len(value) > limit:
            return f"{name} longer than {limit} characters"
        bad = control_character(value)
        if bad is not None:
            return f"{name} contains a control character ({bad})"
    return None
