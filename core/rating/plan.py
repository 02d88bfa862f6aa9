"""Rate plans, destination tariffs and phone-number normalisation.

A rate plan prices one subscription for one billing cycle:

- a monthly fee (prorated by the caller for partial cycles, see ``prorate_fee``);
- bundles per cycle: voice minutes, SMS messages and data MB;
- prices beyond the bundle: per minute, per SMS, per MB;
- optional time bands (``TimeBand``): per-minute and per-SMS prices for calls starting
  on given weekdays between given local times (peak, off-peak);
- a voice increment scheme ``a/b`` (``Increment``): the first ``a`` seconds are billed in
  full, then steps of ``b`` ("60/1": first minute in full, then per second; "60/60": whole
  minutes; "1/1": per second);
- a set-up fee per voice call billed at least partly outside the bundle, and a minimum
  charge per charged call;
- destination tariffs (international, premium) matched by the longest prefix of the
  normalised destination and priced outside the bundle, each with an optional increment
  scheme and minimum charge of its own.

Plans are validated on construction: money is ``Decimal`` (never float), finite and never
negative; bundles are never negative; the voice increment is at least one second; a prefix
is ``+`` followed by digits, and a (prefix, call type) pair appears at most once.

Destinations are E.164 numbers with a leading ``+``; ``normalise_number`` (the one
phone-number function, in ``providers.numbers``) turns what providers deliver
("0031 6 ...", "+31 (0)6 ...", Dutch national "06 ...") into that form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cached_property

from core.rating.roaming import RoamingPrice

# the one phone-number function, shared with CDR import (re-exported for callers here)
from providers.base import normalise_number

__all__ = [
    "DAY_NAMES",
    "CallType",
    "DestinationTariff",
    "Increment",
    "TimeBand",
    "RatePlan",
    "TariffMatcher",
    "normalise_number",
]


class CallType(StrEnum):
    VOICE = "voice"
    SMS = "sms"
    DATA = "data"
    VOICE_IN = "voice_in"  # an incoming call: free at home and in the EU/EEA, billed roaming


_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}")
_INCREMENT = re.compile(r"([0-9]{1,5})\s*/\s*([0-9]{1,5})")


def _check_money(what: str, value: object) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a finite, non-negative amount, got {value}")


def _check_count(what: str, value: int, minimum: int = 0) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Increment:
    """A voice increment scheme ``first_s/step_s``: the first block in full, then steps.

    A call of 0 s is billed 0 s; up to ``first_s`` it is billed ``first_s``; beyond, the
    rest is rounded up to whole steps. "N/N" is the plain increment of N seconds.
    """

    first_s: int
    step_s: int

    def __post_init__(self) -> None:
        _check_count("increment first block", self.first_s, minimum=1)
        _check_count("increment step", self.step_s, minimum=1)

    @classmethod
    def parse(cls, text: str) -> Increment:
        """ "60/1" -> Increment(60, 1); a ValueError names what is wrong."""
        match = _INCREMENT.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not an increment scheme like '60/1' "
                             "(first block in seconds / step in seconds)")
        first, step = int(match[1]), int(match[2])
        if first < 1 or step < 1:
            raise ValueError(f"{text!r}: both parts must be at least 1 second")
        return cls(first, step)

    def billed(self, duration_s: int) -> int:
        """The billed seconds of a call of ``duration_s`` seconds."""
        if duration_s <= 0:
            return 0
        first = self.first_s
        if duration_s <= first:
            return first
        step = self.step_s
        return first - (-(duration_s - first) // step) * step

    def __str__(self) -> str:
        return f"{self.first_s}/{self.step_s}"


DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class TimeBand:
    """Prices for calls and messages starting on ``days`` between two local times.

    ``days`` are weekday numbers (0 = Monday); ``start_min`` and ``end_min`` are minutes
    after local midnight, ``start_min < end_min <= 1440`` (the end is excluded). A price
    of None keeps the plan's price for that call type.
    """

    name: str
    days: frozenset[int]
    start_min: int
    end_min: int
    price_per_minute: Decimal | None = None
    price_per_sms: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.days or not self.days <= set(range(7)):
            raise ValueError(f"band {self.name}: days must be weekday numbers 0..6")
        if not 0 <= self.start_min < self.end_min <= _MINUTES_PER_DAY:
            raise ValueError(f"band {self.name}: the start must come before the end "
                             f"({self.start_min} .. {self.end_min} minutes)")
        for what in ("price_per_minute", "price_per_sms"):
            if (price := getattr(self, what)) is not None:
                _check_money(f"band {self.name}: {what}", price)

    @classmethod
    def written(cls, name: str, days: str, start: str, end: str,
                price_per_minute: Decimal | None = None,
                price_per_sms: Decimal | None = None) -> TimeBand:
        """A band as the setup file and the database write it: days "mon,tue", times "08:00"."""
        def minutes(clock: str) -> int:
            hours, mins = clock.split(":")
            return int(hours) * 60 + int(mins)

        weekdays = frozenset(DAY_NAMES.index(day) for day in days.split(","))
        return cls(name, weekdays, minutes(start), minutes(end), price_per_minute, price_per_sms)

    def holds(self, weekday: int, minute_of_day: int) -> bool:
        return weekday in self.days and self.start_min <= minute_of_day < self.end_min

    def overlaps(self, other: TimeBand) -> bool:
        return bool(self.days & other.days) and (self.start_min < other.end_min
                                                 and other.start_min < self.end_min)


@dataclass(frozen=True)
class DestinationTariff:
    """Price for calls to numbers starting with ``prefix``, charged outside the bundle."""

    prefix: str  # normalised E.164 prefix with '+', e.g. "+44", "+3190"
    call_type: CallType
    price: Decimal  # per minute (voice), per message (sms), per MB (data)
    setup_fee: Decimal = Decimal("0")
    voice_increment: Increment | None = None  # None: the plan's scheme
    minimum_charge: Decimal = Decimal("0")  # per charged call or message

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not _PREFIX.fullmatch(self.prefix):
            raise ValueError(f"tariff prefix must be '+' followed by digits, got {self.prefix!r}")
        if not isinstance(self.call_type, CallType):
            raise ValueError(f"tariff call type must be a CallType, got {self.call_type!r}")
        _check_money(f"tariff {self.prefix} price", self.price)
        _check_money(f"tariff {self.prefix} setup_fee", self.setup_fee)
        _check_money(f"tariff {self.prefix} minimum_charge", self.minimum_charge)
        if self.voice_increment is not None and not isinstance(self.voice_increment, Increment):
            raise TypeError(f"tariff {self.prefix} voice_increment must be an Increment")


class TariffMatcher:
    """Longest-prefix lookup of destination tariffs, compiled once per rate plan."""

    __slots__ = ("_tables",)

    def __init__(self, tariffs: Iterable[DestinationTariff]) -> None:
        by_type: dict[CallType, dict[int, dict[str, DestinationTariff]]] = {}
        for tariff in tariffs:
            by_length = by_type.setdefault(tariff.call_type, {})
            table = by_length.setdefault(len(tariff.prefix), {})
            if tariff.prefix in table:
                raise ValueError(f"duplicate {tariff.call_type} tariff for prefix {tariff.prefix}")
            table[tariff.prefix] = tariff
        # Longest prefixes first, so the first hit is the longest match.
        self._tables: dict[CallType, tuple[tuple[int, dict[str, DestinationTariff]], ...]] = {
            call_type: tuple(sorted(by_length.items(), reverse=True))
            for call_type, by_length in by_type.items()
        }

    def has_tariffs(self, call_type: CallType) -> bool:
        return call_type in self._tables

    def match(self, call_type: CallType, destination: str) -> DestinationTariff | None:
        """The tariff with the longest prefix of ``destination``, or None."""
        for length, table in self._tables.get(call_type, ()):
            tariff = table.get(destination[:length])
            if tariff is not None:
                return tariff
        return None


@dataclass(frozen=True)
class RatePlan:
    """Pricing of one subscription per billing cycle; see the module docstring."""

    name: str
    monthly_fee: Decimal
    voice_bundle_minutes: int = 0
    sms_bundle: int = 0
    data_bundle_mb: int = 0
    price_per_minute: Decimal = Decimal("0")
    price_per_sms: Decimal = Decimal("0")
    price_per_mb: Decimal = Decimal("0")
    voice_increment_s: int = 60  # the step: 60 = whole minutes, 1 = per second
    setup_fee: Decimal = Decimal("0")  # per voice call billed outside the bundle
    destination_tariffs: tuple[DestinationTariff, ...] = ()
    voice_first_s: int | None = None  # first block billed in full; None: one step
    minimum_charge: Decimal = Decimal("0")  # per voice call charged outside the bundle
    bands: tuple[TimeBand, ...] = ()  # time bands; outside them the prices above
    roaming: tuple[RoamingPrice, ...] = ()  # prices per roaming zone (EU/EEA is built in)
    eu_fair_use_gb: Decimal | None = None  # EU roaming data per cycle before the surcharge
    eu_surcharge_per_mb: Decimal = Decimal("0")

    def __post_init__(self) -> None:
        for what in (
            "monthly_fee",
            "price_per_minute",
            "price_per_sms",
            "price_per_mb",
            "setup_fee",
            "minimum_charge",
        ):
            _check_money(f"{self.name}: {what}", getattr(self, what))
        for what in ("voice_bundle_minutes", "sms_bundle", "data_bundle_mb"):
            _check_count(f"{self.name}: {what}", getattr(self, what))
        _check_count(f"{self.name}: voice_increment_s", self.voice_increment_s, minimum=1)
        if self.voice_first_s is not None:
            _check_count(f"{self.name}: voice_first_s", self.voice_first_s, minimum=1)
        if not isinstance(self.destination_tariffs, tuple):
            raise TypeError(f"{self.name}: destination_tariffs must be a tuple")
        _check_money(f"{self.name}: eu_surcharge_per_mb", self.eu_surcharge_per_mb)
        if self.eu_fair_use_gb is not None:
            _check_money(f"{self.name}: eu_fair_use_gb", self.eu_fair_use_gb)
        seen: dict[str, str] = {}
        for price in self.roaming:
            for country in price.countries | {f"zone {price.zone}"}:
                if country in seen:
                    raise ValueError(f"{self.name}: {country} is priced in two roaming zones "
                                     f"({seen[country]} and {price.zone})")
                seen[country] = price.zone
        for i, band in enumerate(self.bands):
            for other in self.bands[i + 1:]:
                if band.overlaps(other):
                    raise ValueError(f"{self.name}: bands {band.name} and {other.name} overlap")
        # Compile now so a duplicate prefix fails when the plan is built, not when rated.
        _ = self.tariff_matcher

    @property
    def voice_increment(self) -> Increment:
        """The plan's scheme: ``voice_first_s/voice_increment_s`` ("N/N" without a first block)."""
        first = self.voice_first_s if self.voice_first_s is not None else self.voice_increment_s
        return Increment(first, self.voice_increment_s)

    @cached_property
    def roaming_by_country(self) -> dict[str, RoamingPrice]:
        return {country: price for price in self.roaming for country in price.countries}

    @cached_property
    def tariff_matcher(self) -> TariffMatcher:
        """The plan's compiled prefix lookup (cached on the instance, not a field)."""
        return TariffMatcher(self.destination_tariffs)
