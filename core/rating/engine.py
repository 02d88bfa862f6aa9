"""Rating: the price of each CDR of one subscription in one billing cycle, and the totals.

These are the product's rating rules.

- CDRs are consumed in (call_date, provider_ref, cdr_id) order, call_date compared as an
  instant (UTC), so the result never depends on input order. ``rated`` is in that order.
- Voice: ``billed_s`` is the duration under the plan's increment scheme ``a/b``: 0 s stays
  0, up to ``a`` s is billed ``a``, beyond it the rest is rounded up to steps of ``b``
  (60/60: 61 s becomes 120 s; 60/1: 61 s; 30/6: 66 s). The voice bundle is
  ``voice_bundle_minutes * 60`` seconds of billed time. A call crossing the end of the
  bundle is split: the part inside is free, the rest costs
  ``price_per_minute * seconds / 60``. The plan's ``setup_fee`` is added to every voice
  call billed at least partly outside the bundle, and such a call costs at least the plan's
  ``minimum_charge`` (usage and set-up fee together); a call fully inside costs 0, and so
  does a call with 0 billed seconds (an unanswered attempt), wherever it falls.
- SMS: each CDR is one message; the first ``sms_bundle`` are free, then ``price_per_sms``.
- Data: the bundle is ``data_bundle_mb * 1024`` KB; a session crossing its end is split,
  and the KB beyond it cost ``KB * price_per_mb / 1024``.
- Destination tariffs: the tariff with the longest prefix of the destination for the
  CDR's call type prices the CDR outside the bundle, which it does not consume
  (``bundle_used`` 0): voice at ``price`` per billed minute (the tariff's increment scheme,
  else the plan's) plus the tariff's ``setup_fee``, SMS at ``price + setup_fee`` per
  message, data at ``price`` per MB plus ``setup_fee``; each at least the tariff's
  ``minimum_charge``. Usage of 0 (0 billed seconds, 0 KB) costs nothing.
  Destinations must already be normalised (``normalise_number``); data CDRs usually
  have none and then never match.
- Prices with history (``core.rating.history``): each CDR is priced by the plan version
  in force on its date in the customer's time zone; the bundles it consumes are the
  cycle's (the version in force on the cycle's first day).
- Time bands: a voice call or SMS from the bundle that starts inside a band of the plan
  (weekday and local time in the customer's time zone) is charged beyond the bundle at
  the band's price; a call crossing a band boundary is priced by its start. Destination
  tariffs are not banded.
- Each CDR's amount is quantised once to 4 decimals, ROUND_HALF_UP; totals sum those
  quantised amounts. Nothing is ever negative: a negative duration or volume is a
  ValueError (the importer quarantines such CDRs before rating), and plans reject
  negative prices.
- Totals per call type (only types that occur): count, raw duration_s, raw volume_kb,
  provider cost, rated amount and bundle used.
- The monthly fee is prorated with ``prorate_fee`` when ``fee_days`` and ``cycle_days``
  are given, else the full fee; always 4 decimals.

All arithmetic runs in a private Decimal context (34 digits, ROUND_HALF_UP), so a caller
changing the thread's context cannot change a bill. Prices per second are never
precomputed: ``price * seconds / 60`` is one exact multiplication and one division, so an
amount lying exactly halfway between two 4-decimal values rounds up, as it would on paper
(0.0002/min for 15 s is 0.00005 -> 0.0001; a rounded per-second price would give 0.0000).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from operator import attrgetter

from core.rating.history import PriceHistory
from core.rating.plan import CallType, RatePlan
from core.rating.pricing import Price, prices_for

__all__ = [
    "CallTypeTotals",
    "RatableCdr",
    "RatedCdr",
    "SubscriptionRating",
    "prorate_fee",
    "rate_subscription_cycle",
]

_RATING_CONTEXT = Context(
    prec=34, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_FOUR_PLACES = Decimal("0.0001")
_ZERO_AMOUNT = Decimal("0.0000")
_ZERO = Decimal("0")
_SIXTY = Decimal(60)
_KB_PER_MB = 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_VOICE = CallType.VOICE
_SMS = CallType.SMS
_DATA = CallType.DATA


@dataclass(frozen=True, slots=True)
class RatableCdr:
    cdr_id: int
    call_date: datetime  # tz-aware
    provider_ref: str  # tie-breaker for equal call_date
    call_type: CallType
    destination: str  # normalised number, or "" (data)
    duration_s: int
    volume_kb: int
    provider_cost: Decimal
    roaming: bool = False
    visited_country: str = ""  # ISO 3166 alpha-2 of a roaming CDR, "" when not known


@dataclass(frozen=True, slots=True)
class RatedCdr:
    cdr_id: int
    call_type: CallType
    billed_s: int  # after increment rounding (voice), else 0
    bundle_used: int  # seconds (voice), messages (sms), KB (data) taken from the bundle
    rated_amount: Decimal  # 4 decimals, ROUND_HALF_UP, never negative
    zone: str = ""  # "" at home, "EU", a roaming zone, or "?" (roaming, zone unknown)
    # The price it was rated at, for the invoice's explanation (not part of the result's value).
    price: Price | None = field(default=None, compare=False, repr=False)


@dataclass
class CallTypeTotals:
    """Sums for one call type of one subscription in one cycle."""

    count: int
    duration_s: int
    volume_kb: int
    provider_cost: Decimal
    rated_amount: Decimal
    bundle_used: int


@dataclass
class SubscriptionRating:
    rated: list[RatedCdr]
    totals: dict[CallType, CallTypeTotals]  # only call types that occur
    monthly_fee: Decimal  # prorated, 4 decimals


def prorate_fee(monthly_fee: Decimal, active_days: int, cycle_days: int) -> Decimal:
    """``monthly_fee * active_days / cycle_days``, 4 decimals half-up; full fee from a full cycle."""
    if cycle_days <= 0:
        raise ValueError(f"cycle_days must be positive, got {cycle_days}")
    if active_days < 0:
        raise ValueError(f"active_days must not be negative, got {active_days}")
    if not monthly_fee.is_finite() or monthly_fee < 0:
        raise ValueError(f"monthly_fee must be a finite, non-negative amount, got {monthly_fee}")
    with localcontext(_RATING_CONTEXT):
        if active_days >= cycle_days:
            return monthly_fee.quantize(_FOUR_PLACES, ROUND_HALF_UP)
        return (monthly_fee * active_days / cycle_days).quantize(_FOUR_PLACES, ROUND_HALF_UP)


def rate_subscription_cycle(
    plan: RatePlan,
    cdrs: Iterable[RatableCdr],
    *,
    fee_days: int | None = None,
    cycle_days: int | None = None,
    history: PriceHistory | None = None,
    zone: tzinfo = UTC,
) -> SubscriptionRating:
    """Rate one subscription's CDRs for one cycle under ``plan``; see the module docstring.

    ``plan`` gives the bundles and the monthly fee (the version in force on the cycle's
    first day); ``history``, when given, the prices of each call by its date in ``zone``.
    """
    if (fee_days is None) != (cycle_days is None):
        raise ValueError("give both fee_days and cycle_days to prorate, or neither")
    if fee_days is not None and cycle_days is not None:
        monthly_fee = prorate_fee(plan.monthly_fee, fee_days, cycle_days)
    else:
        monthly_fee = plan.monthly_fee.quantize(_FOUR_PLACES, ROUND_HALF_UP, _RATING_CONTEXT)
    ordered = _in_consumption_order(cdrs)
    with localcontext(_RATING_CONTEXT):
        rated, totals = _rate_in_order(plan, ordered, history, zone)
    return SubscriptionRating(rated=rated, totals=totals, monthly_fee=monthly_fee)


def _in_consumption_order(cdrs: Iterable[RatableCdr]) -> list[RatableCdr]:
    ordered = list(cdrs)
    if all(type(cdr.call_date.tzinfo) is timezone for cdr in ordered):
        # Fixed offsets (CDRs loaded as UTC): datetimes compare as instants, and fast.
        ordered.sort(key=_BY_CALL_DATE)
    else:
        ordered.sort(key=_instant_order)
    return ordered


_BY_CALL_DATE = attrgetter("call_date", "provider_ref", "cdr_id")


def _instant_order(cdr: RatableCdr) -> tuple[timedelta, str, int]:
    moment = cdr.call_date
    if moment.tzinfo is None:
        raise ValueError(f"CDR {cdr.cdr_id}: call_date must be timezone-aware")
    # Two wall times in the repeated DST hour share a tzinfo, and Python then compares
    # them ignoring fold; an offset from the epoch orders them as the instants they are.
    return moment - _EPOCH, cdr.provider_ref, cdr.cdr_id


def _rate_in_order(
    plan: RatePlan, ordered: list[RatableCdr], history: PriceHistory | None, zone: tzinfo
) -> tuple[list[RatedCdr], dict[CallType, CallTypeTotals]]:
    # Each call type has its own bundle, so each is rated in its own tight loop.
    by_type: dict[CallType, list[RatableCdr]] = {call_type: [] for call_type in CallType}
    for cdr in ordered:
        group = by_type.get(cdr.call_type)
        if group is None:
            raise ValueError(f"CDR {cdr.cdr_id}: unknown call type {cdr.call_type!r}")
        group.append(cdr)

    rated_by_type: dict[CallType, Iterator[RatedCdr]] = {}
    totals: dict[CallType, CallTypeTotals] = {}
    for call_type, (rate, bundle) in _RATERS.items():
        group = by_type[call_type]
        if group:
            prices = prices_for(plan, history, call_type, group, zone)
            rated = rate(group, prices, getattr(plan, bundle) if bundle else 0, call_type)
            totals[call_type] = _totals(group, rated)
            rated_by_type[call_type] = iter(rated)
    # Back into consumption order across call types.
    return [next(rated_by_type[cdr.call_type]) for cdr in ordered], totals


def _rate_voice(cdrs: list[RatableCdr], prices: Iterable[Price], bundle: int,
                call_type: CallType) -> list[RatedCdr]:
    bundle_left = bundle * 60
    rated: list[RatedCdr] = []
    append = rated.append
    for cdr, price in zip(cdrs, prices, strict=False):
        duration_s = cdr.duration_s
        if duration_s < 0 or cdr.volume_kb < 0:
            raise _negative_usage(cdr)
        # Increment.billed, inlined: this loop runs for every call of every cycle.
        first_s = price.increment.first_s
        if duration_s <= first_s:
            billed_s = first_s if duration_s else 0
        else:
            step_s = price.increment.step_s
            billed_s = first_s - (-(duration_s - first_s) // step_s) * step_s
        bundle_used = 0
        if price.from_bundle:
            bundle_used = billed_s if billed_s <= bundle_left else bundle_left
            bundle_left -= bundle_used
        charged_s = billed_s - bundle_used
        amount = _ZERO_AMOUNT
        if charged_s:
            amount = _voice_charge(price.per_unit, charged_s, price.setup_fee, price.minimum_charge)
        append(RatedCdr(cdr.cdr_id, call_type, billed_s, bundle_used, amount, price.zone, price))
    return rated


def _rate_sms(cdrs: list[RatableCdr], prices: Iterable[Price], bundle: int,
              call_type: CallType) -> list[RatedCdr]:
    bundle_left = bundle
    rated: list[RatedCdr] = []
    append = rated.append
    for cdr, price in zip(cdrs, prices, strict=False):
        if cdr.duration_s < 0 or cdr.volume_kb < 0:
            raise _negative_usage(cdr)
        bundle_used = 0
        if price.from_bundle and bundle_left:
            bundle_left -= 1
            bundle_used = 1
            amount = _ZERO_AMOUNT
        else:
            amount = _at_least(price.per_unit + price.setup_fee, price.minimum_charge)
        append(RatedCdr(cdr.cdr_id, _SMS, 0, bundle_used, amount, price.zone, price))
    return rated


def _rate_data(cdrs: list[RatableCdr], prices: Iterable[Price], bundle: int,
               call_type: CallType) -> list[RatedCdr]:
    bundle_left = bundle * _KB_PER_MB
    eu_used_kb = 0  # EU/EEA roaming data so far in the cycle, for the fair-use limit
    rated: list[RatedCdr] = []
    append = rated.append
    for cdr, price in zip(cdrs, prices, strict=False):
        volume_kb = cdr.volume_kb
        if volume_kb < 0 or cdr.duration_s < 0:
            raise _negative_usage(cdr)
        bundle_used = 0
        if price.from_bundle:
            bundle_used = volume_kb if volume_kb <= bundle_left else bundle_left
            bundle_left -= bundle_used
        charged_kb = volume_kb - bundle_used
        amount = _ZERO_AMOUNT
        if charged_kb:
            amount = _at_least(price.per_unit * charged_kb / _KB_PER_MB + price.setup_fee,
                               price.minimum_charge)
        if price.fair_use_kb is not None and volume_kb:
            limit = price.fair_use_kb
            beyond = max(_ZERO, eu_used_kb + volume_kb - max(limit, Decimal(eu_used_kb)))
            eu_used_kb += volume_kb
            if beyond:
                amount = (amount + price.surcharge_per_mb * beyond / _KB_PER_MB).quantize(
                    _FOUR_PLACES, ROUND_HALF_UP)
        append(RatedCdr(cdr.cdr_id, _DATA, 0, bundle_used, amount, price.zone, price))
    return rated


_Rater = Callable[[list[RatableCdr], Iterable[Price], int, CallType], list[RatedCdr]]
_RATERS: dict[CallType, tuple[_Rater, str]] = {
    _VOICE: (_rate_voice, "voice_bundle_minutes"),
    _SMS: (_rate_sms, "sms_bundle"),
    _DATA: (_rate_data, "data_bundle_mb"),
    CallType.VOICE_IN: (_rate_voice, ""),  # no bundle: free at home, billed roaming
}


def _totals(cdrs: list[RatableCdr], rated: list[RatedCdr]) -> CallTypeTotals:
    return CallTypeTotals(
        count=len(cdrs),
        duration_s=sum([cdr.duration_s for cdr in cdrs]),
        volume_kb=sum([cdr.volume_kb for cdr in cdrs]),
        provider_cost=sum([cdr.provider_cost for cdr in cdrs], Decimal("0")),
        rated_amount=sum([r.rated_amount for r in rated], _ZERO_AMOUNT),
        bundle_used=sum([r.bundle_used for r in rated]),
    )


def _negative_usage(cdr: RatableCdr) -> ValueError:
    return ValueError(
        f"CDR {cdr.cdr_id}: negative duration ({cdr.duration_s} s) or volume ({cdr.volume_kb} KB)"
    )


def _voice_charge(price_per_minute: Decimal, seconds: int, setup_fee: Decimal,
                  minimum_charge: Decimal) -> Decimal:
    if seconds % 60 == 0:
        usage = price_per_minute * (seconds // 60)  # whole minutes: no division needed
    else:
        usage = price_per_minute * seconds / _SIXTY
    return _at_least(usage + setup_fee, minimum_charge)


def _at_least(amount: Decimal, minimum_charge: Decimal) -> Decimal:
    """``amount`` (usage and set-up fee) raised to the minimum charge, 4 decimals half-up."""
    if amount < minimum_charge:
        amount = minimum_charge
    return amount.quantize(_FOUR_PLACES, ROUND_HALF_UP)
