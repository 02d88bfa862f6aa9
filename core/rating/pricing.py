"""The price of each CDR: plan or band price from the bundle, destination tariff, roaming zone.

One ``Price`` says how a CDR is charged; the engine's raters only apply bundles and
arithmetic. Which price applies (see ``core.rating.engine`` for the rules):

1. a roaming CDR outside the EU/EEA: its zone's price, outside the bundle (an unknown
   country or zone: the plan's most expensive zone, flagged ``UNKNOWN_ZONE``);
2. a destination tariff matching the destination: the tariff, outside the bundle;
3. otherwise the plan's price beyond the bundle, or the price of the time band the call
   starts in (at home and roaming in the EU/EEA alike); incoming calls cost nothing there
   (destination tariffs never apply to them).

The version of the plan is the one in force on the CDR's local date.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from decimal import Decimal
from itertools import repeat
from typing import Protocol

from core.rating.history import PriceHistory
from core.rating.plan import CallType, DestinationTariff, Increment, RatePlan, TimeBand
from core.rating.roaming import EU_EEA, EU_ZONE, UNKNOWN_ZONE, RoamingPrice

__all__ = ["Price", "PricedCdr", "prices_for"]

_ZERO = Decimal("0")
_KB_PER_GB = 1024 * 1024
_VOICE, _SMS, _DATA, _VOICE_IN = CallType.VOICE, CallType.SMS, CallType.DATA, CallType.VOICE_IN


class PricedCdr(Protocol):
    """What pricing reads of a CDR (``RatableCdr`` has it)."""

    @property
    def call_date(self) -> datetime: ...
    @property
    def destination(self) -> str: ...
    @property
    def roaming(self) -> bool: ...
    @property
    def visited_country(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Price:
    """How one CDR is charged: from the bundle at the price beyond it, or outside it."""

    per_unit: Decimal  # per minute (voice), per message (sms), per MB (data)
    setup_fee: Decimal
    minimum_charge: Decimal
    increment: Increment  # voice only
    from_bundle: bool
    zone: str = ""  # "" at home, EU_ZONE, a zone name, or UNKNOWN_ZONE (flagged)
    fair_use_kb: Decimal | None = None  # EU data: the cycle's volume before the surcharge
    surcharge_per_mb: Decimal = _ZERO
    tariff: str = ""  # the destination tariff's prefix that priced it, "" for none
    band: str = ""  # the time band whose price applies, "" for none


def prices_for(plan: RatePlan, history: PriceHistory | None, call_type: CallType,
               cdrs: Sequence[PricedCdr], zone: tzinfo) -> Iterable[Price]:
    """The price of each CDR of one call type, in order."""
    if history is None:
        history = PriceHistory.of(plan)
    simple = (not history.changes and not any(cdr.roaming for cdr in cdrs)
              and not (plan.bands and call_type in (_VOICE, _SMS)))
    if simple:
        return _by_destination(plan, call_type, cdrs)
    return list(_each(history, call_type, cdrs, zone))


def _by_destination(plan: RatePlan, call_type: CallType, cdrs: Sequence[PricedCdr]) -> Iterable[Price]:
    """The fast path (one version, no band, no roaming): each destination looked up once."""
    base = plan_price(plan, call_type)
    matcher = plan.tariff_matcher
    if call_type is _VOICE_IN or not matcher.has_tariffs(call_type):
        return repeat(base)
    price_of: dict[str, Price] = {}
    for destination in {cdr.destination for cdr in cdrs}:
        tariff = matcher.match(call_type, destination)
        price_of[destination] = base if tariff is None else tariff_price(plan, tariff)
    return [price_of[cdr.destination] for cdr in cdrs]


def _each(history: PriceHistory, call_type: CallType, cdrs: Sequence[PricedCdr],
          zone: tzinfo) -> Iterator[Price]:
    cache: dict[tuple[int, int, str, str | None], Price] = {}
    for cdr in cdrs:
        local = cdr.call_date.astimezone(zone)
        index = history.index_on(local.date())
        version = history.versions[index]
        band = -1
        if version.bands and call_type in (_VOICE, _SMS):
            minute, weekday = local.hour * 60 + local.minute, local.weekday()
            band = next((i for i, b in enumerate(version.bands) if b.holds(weekday, minute)), -1)
        country = cdr.visited_country if cdr.roaming else None
        key = (index, band, cdr.destination, country)
        price = cache.get(key)
        if price is None:
            price = _price(version, call_type, cdr.destination, country,
                           version.bands[band] if band >= 0 else None)
            cache[key] = price
        yield price


def _price(plan: RatePlan, call_type: CallType, destination: str, country: str | None,
           band: TimeBand | None) -> Price:
    if country is not None and country not in EU_EEA:
        zone_price = plan.roaming_by_country.get(country)
        if zone_price is not None:
            return roaming_price(zone_price, call_type, zone_price.zone)
        if plan.roaming:  # unknown country or unpriced zone: the most expensive, flagged
            return roaming_price(max(plan.roaming, key=lambda p: _per_unit(p, call_type)),
                                 call_type, UNKNOWN_ZONE)
    zone = "" if country is None else (EU_ZONE if country in EU_EEA else UNKNOWN_ZONE)
    # An incoming call's "destination" is its caller: tariffs never apply to it.
    tariff = None if call_type is _VOICE_IN else plan.tariff_matcher.match(call_type, destination)
    price = tariff_price(plan, tariff) if tariff is not None else plan_price(plan, call_type, band)
    if zone == EU_ZONE and call_type is _DATA and plan.eu_fair_use_gb is not None:
        return replace(price, zone=zone, fair_use_kb=plan.eu_fair_use_gb * _KB_PER_GB,
                       surcharge_per_mb=plan.eu_surcharge_per_mb)
    return replace(price, zone=zone)


def plan_price(plan: RatePlan, call_type: CallType, band: TimeBand | None = None) -> Price:
    """The plan's price beyond the bundle (or the band's); incoming calls are free."""
    if call_type is _VOICE:
        if band is not None and band.price_per_minute is not None:
            return Price(band.price_per_minute, plan.setup_fee, plan.minimum_charge, plan.voice_increment,
                         True, band=band.name)
        return Price(plan.price_per_minute, plan.setup_fee, plan.minimum_charge, plan.voice_increment, True)
    if call_type is _SMS:
        if band is not None and band.price_per_sms is not None:
            return Price(band.price_per_sms, _ZERO, _ZERO, plan.voice_increment, True, band=band.name)
        return Price(plan.price_per_sms, _ZERO, _ZERO, plan.voice_increment, True)
    if call_type is _VOICE_IN:
        return Price(_ZERO, _ZERO, _ZERO, plan.voice_increment, False)
    return Price(plan.price_per_mb, _ZERO, _ZERO, plan.voice_increment, True)


def tariff_price(plan: RatePlan, tariff: DestinationTariff) -> Price:
    increment = tariff.voice_increment or plan.voice_increment
    return Price(tariff.price, tariff.setup_fee, tariff.minimum_charge, increment, False, tariff=tariff.prefix)


def roaming_price(zone_price: RoamingPrice, call_type: CallType, zone: str) -> Price:
    increment = Increment(zone_price.voice_first_s, zone_price.voice_increment_s)
    return Price(_per_unit(zone_price, call_type), _ZERO, _ZERO, increment, False, zone)


def _per_unit(zone_price: RoamingPrice, call_type: CallType) -> Decimal:
    if call_type is _VOICE:
        return zone_price.voice_out_per_min
    if call_type is _VOICE_IN:
        return zone_price.voice_in_per_min
    if call_type is _SMS:
        return zone_price.sms_per_message
    return zone_price.data_per_mb
