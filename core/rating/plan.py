"""Rate plans, destination tariffs and phone-number normalisation.

A rate plan prices one subscription for one billing cycle:

- a monthly fee (prorated by the caller for partial cycles, see ``prorate_fee``);
- bundles per cycle: voice minutes, SMS messages and data MB;
- prices beyond the bundle: per minute, per SMS, per MB;
- a voice billing increment (60 rounds each call up to whole minutes, 1 is per second);
- a set-up fee per voice call billed at least partly outside the bundle;
- destination tariffs (international, premium) matched by the longest prefix of the
  normalised destination and priced outside the bundle.

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

# the one phone-number function, shared with CDR import (re-exported for callers here)
from providers.base import normalise_number

__all__ = [
    "CallType",
    "DestinationTariff",
    "RatePlan",
    "TariffMatcher",
    "normalise_number",
]


class CallType(StrEnum):
    VOICE = "voice"
    SMS = "sms"
    DATA = "data"


_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}")


def _check_money(what: str, value: object) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a finite, non-negative amount, got {value}")


def _check_count(what: str, value: int, minimum: int = 0) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class DestinationTariff:
    """Price for calls to numbers starting with ``prefix``, charged outside the bundle."""

    prefix: str  # normalised E.164 prefix with '+', e.g. "+44", "+3190"
    call_type: CallType
    price: Decimal  # per minute (voice), per message (sms), per MB (data)
    setup_fee: Decimal = Decimal("0")

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not _PREFIX.fullmatch(self.prefix):
            raise ValueError(f"tariff prefix must be '+' followed by digits, got {self.prefix!r}")
        if not isinstance(self.call_type, CallType):
            raise ValueError(f"tariff call type must be a CallType, got {self.call_type!r}")
        _check_money(f"tariff {self.prefix} price", self.price)
        _check_money(f"tariff {self.prefix} setup_fee", self.setup_fee)


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
    voice_increment_s: int = 60  # 60 = whole minutes, 1 = per second
    setup_fee: Decimal = Decimal("0")  # per voice call billed outside the bundle
    destination_tariffs: tuple[DestinationTariff, ...] = ()

    def __post_init__(self) -> None:
        for what in (
            "monthly_fee",
            "price_per_minute",
            "price_per_sms",
            "price_per_mb",
            "setup_fee",
        ):
            _check_money(f"{self.name}: {what}", getattr(self, what))
        for what in ("voice_bundle_minutes", "sms_bundle", "data_bundle_mb"):
            _check_count(f"{self.name}: {what}", getattr(self, what))
        _check_count(f"{self.name}: voice_increment_s", self.voice_increment_s, minimum=1)
        if not isinstance(self.destination_tariffs, tuple):
            raise TypeError(f"{self.name}: destination_tariffs must be a tuple")
        # Compile now so a duplicate prefix fails when the plan is built, not when rated.
        _ = self.tariff_matcher

    @cached_property
    def tariff_matcher(self) -> TariffMatcher:
        """The plan's compiled prefix lookup (cached on the instance, not a field)."""
        return TariffMatcher(self.destination_tariffs)
