"""Prices with history: a rate plan as in force on each date (issue 13.7).

A plan's base prices hold from the beginning; each price change holds from its
``valid_from`` date until the next one, and changes only the fields it names (the rest
carry over from the version before). A destination tariff with a ``valid_from`` date
replaces the tariff for the same (prefix, call type) from that date on; one without a
date holds from the beginning. Calls are rated at the version in force on their local
date; bundles and the monthly fee come from the version in force on the cycle's first
day, so a cycle has one bundle and one fee.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from core.rating.plan import CallType, DestinationTariff, RatePlan

__all__ = ["PRICE_FIELDS", "PriceChange", "PriceHistory"]

# The fields a dated price change may set (everything but the name and the tariffs).
PRICE_FIELDS: tuple[str, ...] = (
    "monthly_fee",
    "voice_bundle_minutes",
    "sms_bundle",
    "data_bundle_mb",
    "price_per_minute",
    "price_per_sms",
    "price_per_mb",
    "voice_first_s",
    "voice_increment_s",
    "setup_fee",
    "minimum_charge",
)


@dataclass(frozen=True)
class PriceChange:
    """The fields of a plan that change from ``valid_from`` on."""

    valid_from: date
    fields: Mapping[str, object]

    def __post_init__(self) -> None:
        unknown = set(self.fields) - set(PRICE_FIELDS)
        if unknown:
            raise ValueError(f"a price change cannot set {', '.join(sorted(unknown))}")


@dataclass(frozen=True)
class PriceHistory:
    """The plan's versions, each in force from its date (the first from the beginning)."""

    starts: tuple[date, ...]  # ascending; starts[0] is date.min
    versions: tuple[RatePlan, ...]

    @classmethod
    def of(cls, plan: RatePlan) -> PriceHistory:
        """A plan without history: one version, in force always."""
        return cls((date.min,), (plan,))

    @classmethod
    def build(cls, base: RatePlan, changes: Iterable[PriceChange] = (),
              dated_tariffs: Iterable[tuple[date, DestinationTariff]] = ()) -> PriceHistory:
        """Versions from ``base`` (its tariffs hold from the beginning) and the dated changes."""
        by_date = sorted(changes, key=lambda c: c.valid_from)
        if len({c.valid_from for c in by_date}) != len(by_date):
            raise ValueError(f"{base.name}: two price changes from the same date")
        tariffs = sorted(dated_tariffs, key=lambda t: t[0])
        starts = sorted({date.min, *(c.valid_from for c in by_date), *(d for d, _ in tariffs)})
        versions: list[RatePlan] = []
        fields: dict[str, object] = {}
        in_force: dict[tuple[str, CallType], DestinationTariff] = {
            (t.prefix, t.call_type): t for t in base.destination_tariffs}
        for start in starts:
            for change in by_date:
                if change.valid_from == start:
                    fields.update(change.fields)
            for valid_from, tariff in tariffs:
                if valid_from == start:
                    in_force[(tariff.prefix, tariff.call_type)] = tariff
            versions.append(replace(base, **fields,  # type: ignore[arg-type]
                                    destination_tariffs=tuple(in_force.values())))
        return cls(tuple(starts), tuple(versions))

    def in_force(self, day: date) -> RatePlan:
        """The version in force on ``day``."""
        return self.versions[self.index_on(day)]

    def index_on(self, day: date) -> int:
        """The index in ``versions`` of the version in force on ``day``."""
        return bisect_right(self.starts, day) - 1

    @property
    def changes(self) -> bool:
        return len(self.versions) > 1
