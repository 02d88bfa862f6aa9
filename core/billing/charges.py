"""What rated usage consists of, per price: the facts an invoice line is built from.

The rating engine prices each CDR; this module groups its results per subscription,
call type and price (the plan's or a time band's price beyond the bundle, a destination
tariff, a roaming zone; per increment scheme, and per price version when a price changed
in the cycle) into `UsageCharge`s: usage inside the bundle and charged beyond it in the
call type's own unit (voice seconds, SMS messages, data KB), the set-ups charged, the
calls billed the minimum charge, EU data beyond the fair-use volume, and the sum of the
CDRs' rated amounts. It reads the engine's results and the price each was rated at; it
never prices anything itself, so the sum of the charges is the engine's total by
construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from core.models import TotalCharge
from core.rating.engine import RatableCdr, RatedCdr
from core.rating.plan import CallType, RatePlan
from core.rating.pricing import Price, prices_for

ZERO = Decimal("0.0000")
_SIZE = {CallType.VOICE: 60, CallType.VOICE_IN: 60, CallType.DATA: 1024}  # stored units per billed unit


class PriceKey(NamedTuple):
    """What makes a price its own invoice line (a line may gather several subscriptions)."""

    call_type: str
    zone: str
    prefix: str
    band: str
    increment: str
    unit_price: Decimal
    setup_fee: Decimal
    minimum_charge: Decimal
    surcharge_per_mb: Decimal


@dataclass(frozen=True)
class UsageCharge:
    """One subscription's usage of one call type at one price, in the cycle.

    A price is the plan's (or a time band's) beyond the bundle, a destination tariff, or
    a roaming zone's, with its increment scheme, set-up fee and minimum charge. Calls
    whose usage and set-up cost less than the minimum charge are counted apart
    (`minimums`): they are billed the minimum, not their seconds.
    """

    subscription_id: int
    call_type: str
    prefix: str  # the destination tariff's prefix, "" for the plan's own price
    unit_price: Decimal  # per minute (voice), message (sms) or MB (data)
    setup_fee: Decimal  # per set-up charged
    count: int  # CDRs
    in_bundle: int  # seconds / messages / KB taken from the bundle
    charged: int  # seconds / messages / KB charged at unit_price
    setups: int  # set-ups charged at setup_fee
    rated_amount: Decimal  # sum of the CDRs' rated amounts (4 dp)
    zone: str = ""  # roaming: "EU", a zone name, or "?" (country unknown); "" at home
    band: str = ""  # the time band of the price, "" for none
    increment: str = ""  # the voice increment scheme "a/b", "" for other call types
    minimum_charge: Decimal = ZERO
    minimums: int = 0  # calls billed the minimum charge
    surcharge_per_mb: Decimal = ZERO  # EU roaming data beyond the fair-use volume
    surcharged: int = 0  # KB beyond the fair-use volume
    first_day: date | None = None  # the dates of the first and last call at this price
    last_day: date | None = None
    used: int = 0  # raw usage: seconds (voice), messages (sms), KB (data), before increments

    @property
    def price_key(self) -> PriceKey:
        return PriceKey(self.call_type, self.zone, self.prefix, self.band, self.increment, self.unit_price,
                        self.setup_fee, self.minimum_charge, self.surcharge_per_mb)


def explain_rating(subscription_id: int, plan: RatePlan, cdrs: Iterable[RatableCdr],
                   rated: Iterable[RatedCdr]) -> list[UsageCharge]:
    """Group one subscription's rated CDRs into charges per call type and price.

    The price of each CDR is the one the engine rated it at (`RatedCdr.price`); a result
    without one is looked up again under `plan` (one version, UTC time bands).
    """
    by_id = {cdr.cdr_id: cdr for cdr in cdrs}
    results = list(rated)
    groups: dict[PriceKey, _Sums] = {}
    by_price: dict[tuple[int, str, CallType], _Sums] = {}  # the engine shares Price objects: look each up once
    eu_used_kb = 0
    for result, price in zip(results, _prices(plan, by_id, results), strict=True):
        cdr = by_id[result.cdr_id]
        call_type = result.call_type
        voice = call_type is CallType.VOICE or call_type is CallType.VOICE_IN
        sums = by_price.get((id(price), result.zone, call_type))
        if sums is None:
            key = PriceKey(call_type.value, result.zone, price.tariff, price.band,
                           str(price.increment) if voice else "", price.per_unit, price.setup_fee,
                           price.minimum_charge, price.surcharge_per_mb)
            sums = by_price[(id(price), result.zone, call_type)] = groups.setdefault(key, _Sums(cdr.call_date))
        sums.count += 1
        sums.rated_amount += result.rated_amount
        sums.in_bundle += result.bundle_used
        if cdr.call_date < sums.first_call:
            sums.first_call = cdr.call_date
        if cdr.call_date > sums.last_call:
            sums.last_call = cdr.call_date
        units = result.billed_s if voice else 1 if call_type is CallType.SMS else cdr.volume_kb
        sums.used += cdr.duration_s if voice else units
        beyond = units - result.bundle_used
        if beyond:
            minimum = price.minimum_charge
            if minimum and price.per_unit * beyond / _SIZE.get(call_type, 1) + price.setup_fee < minimum:
                sums.minimums += 1
            else:
                sums.charged += beyond
                if price.setup_fee:
                    sums.setups += 1
        if price.fair_use_kb is not None and cdr.volume_kb:  # the engine's fair-use accounting
            over = max(Decimal(0), eu_used_kb + cdr.volume_kb - max(price.fair_use_kb, Decimal(eu_used_kb)))
            eu_used_kb += cdr.volume_kb
            sums.surcharged += int(over)
    return [UsageCharge(subscription_id, key.call_type, key.prefix, key.unit_price, key.setup_fee, s.count,
                        s.in_bundle, s.charged, s.setups, s.rated_amount, key.zone, key.band, key.increment,
                        key.minimum_charge, s.minimums, key.surcharge_per_mb, s.surcharged,
                        s.first_call.date(), s.last_call.date(), s.used)
            for key, s in sorted(groups.items())]


class _Sums:
    __slots__ = ("charged", "count", "first_call", "in_bundle", "last_call", "minimums", "rated_amount",
                 "setups", "surcharged", "used")

    def __init__(self, call_date: datetime) -> None:
        self.count = self.in_bundle = self.charged = self.setups = self.minimums = self.surcharged = 0
        self.used = 0
        self.rated_amount = ZERO
        self.first_call = self.last_call = call_date


def _prices(plan: RatePlan, by_id: dict[int, RatableCdr], results: list[RatedCdr]) -> list[Price]:
    """The price of each result: the engine's, else looked up under `plan` per call type."""
    if all(result.price is not None for result in results):
        return [result.price for result in results if result.price is not None]
    looked_up: dict[int, Price] = {}
    for call_type in CallType:
        own = [by_id[r.cdr_id] for r in results if r.call_type is call_type]
        if own:
            looked_up.update(zip((c.cdr_id for c in own), prices_for(plan, None, call_type, own, UTC),
                                 strict=False))
    return [result.price or looked_up[result.cdr_id] for result in results]


def explains(parts: Sequence[UsageCharge], rated_amount: Decimal) -> bool:
    """Whether a subscription's charges of a call type explain its total (the same rating made both)."""
    return bool(parts) and sum((c.rated_amount for c in parts), Decimal(0)) == rated_amount


def store_charges(session: Session, customer_id: int, cycle_start: date,
                  charges: Sequence[UsageCharge]) -> None:
    """Replace the customer-cycle's charges (rating writes them with the ratings)."""
    session.execute(delete(TotalCharge).where(TotalCharge.customer_id == customer_id,
                                              TotalCharge.cycle_start_date == cycle_start))
    if charges:
        session.execute(insert(TotalCharge), [
            {"customer_id": customer_id, "cycle_start_date": cycle_start,
             "subscription_id": c.subscription_id, "call_type": c.call_type, "prefix": c.prefix,
             "unit_price": c.unit_price, "setup_fee": c.setup_fee, "count": c.count,
             "in_bundle": c.in_bundle, "charged": c.charged, "setups": c.setups,
             "rated_amount": c.rated_amount, "zone": c.zone, "band": c.band, "increment": c.increment,
             "minimum_charge": c.minimum_charge, "minimums": c.minimums, "surcharge_per_mb": c.surcharge_per_mb,
             "surcharged": c.surcharged, "first_day": c.first_day, "last_day": c.last_day, "used": c.used}
            for c in charges])


def load_charges(session: Session, customer_id: int, cycle_start: date) -> list[UsageCharge]:
    rows = session.execute(
        select(TotalCharge.subscription_id, TotalCharge.call_type, TotalCharge.prefix,
               TotalCharge.unit_price, TotalCharge.setup_fee, TotalCharge.count, TotalCharge.in_bundle,
               TotalCharge.charged, TotalCharge.setups, TotalCharge.rated_amount, TotalCharge.zone,
               TotalCharge.band, TotalCharge.increment, TotalCharge.minimum_charge, TotalCharge.minimums,
               TotalCharge.surcharge_per_mb, TotalCharge.surcharged, TotalCharge.first_day, TotalCharge.last_day,
               TotalCharge.used)
        .where(TotalCharge.customer_id == customer_id, TotalCharge.cycle_start_date == cycle_start)
        .order_by(TotalCharge.subscription_id, TotalCharge.call_type, TotalCharge.id))
    return [UsageCharge(*row) for row in rows]
