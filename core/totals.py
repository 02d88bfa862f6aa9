"""Totals per customer, cycle, subscription and call type: rate, aggregate, replace, back up.

Two steps, as in the source system:
- `rate_cycle` rates every CDR of a rate-plan customer's cycle with the pure engine, stores
  each CDR's rated amount and bundle use, and sums them per subscription and call type in
  the same pass;
- `calculate_totals` replaces the totals in one transaction, after moving the previous
  version to history: from those sums when a rating pass ran in the same transaction
  (CalculateTotalsRateplan does both), else by aggregating the tables in SQL (CalculateTotals).
Customers without rate plans are billed what the provider charged (rated = provider cost).
A dry run executes both steps in a transaction that is rolled back, so it computes
exactly what a real run would, with the same code.
"""

from __future__ import annotations

import gc
import hashlib
import json
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import raw_store
from core.billing.charges import UsageCharge, explain_rating, store_charges
from core.clock import Clock, system_clock
from core.db import Database
from core.models import (
    FEE_CALL_TYPE,
    Cdr,
    CdrRating,
    Customer,
    CustomerStatus,
    RatePlan,
    RoamingZone,
    Subscription,
    Tariff,
    Total,
    TotalHistory,
    TotalsVersion,
)
from core.month import Month
from core.rating.cycles import Cycle
from core.rating.engine import RatableCdr, prorate_fee, rate_subscription_cycle
from core.rating.fast import Refs, compile_plan, rate_rows
from core.rating.history import PRICE_FIELDS, PriceChange, PriceHistory
from core.rating.plan import CallType, DestinationTariff, Increment, TimeBand
from core.rating.plan import RatePlan as Plan
from core.rating.roaming import RoamingPrice

ZERO = Decimal("0.0000")
TOTAL_FIELDS = ("count", "duration_s", "volume_kb", "provider_cost", "rated_amount", "bundle_used")


class UnknownCustomer(LookupError):
    pass


class CycleNotBegun(ValueError):
    """A recalculation (or its dry run) of a cycle that starts after the customer's today: it has
    no usage, and its totals would be a current version of monthly fees not yet due (a typo:
    2030 for 2026)."""


def refuse_unbegun(customer: Customer, cycle_start: date, now: datetime) -> None:
    """CycleNotBegun when the customer-cycle starts after today in the customer's time zone."""
    today = now.astimezone(customer_zone(customer)).date()
    if cycle_start > today:
        raise CycleNotBegun(f"{customer.code} {Month.of(cycle_start)} has not begun (today is {today.isoformat()}): "
                            "there is nothing to recalculate yet")


@dataclass(frozen=True)
class TotalRow:
    subscription_id: int
    call_type: str
    count: int
    duration_s: int
    volume_kb: int
    provider_cost: Decimal
    rated_amount: Decimal
    bundle_used: int

    @property
    def key(self) -> tuple[int, str]:
        return self.subscription_id, self.call_type


def cycle_of(customer: Customer, cycle_start: date) -> Cycle:
    return Month.of(cycle_start).cycle(customer.billing_day)


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise UnknownCustomer(f"no customer with id {customer_id}")
    return customer


def _increment(first_s: int | None, step_s: int | None) -> Increment | None:
    return None if step_s is None else Increment(first_s or step_s, step_s)


def roaming_zones(session: Session) -> dict[str, frozenset[str]]:
    """The named roaming zones and their countries (the EU/EEA zone is built in)."""
    return {name: frozenset(filter(None, countries.split(",")))
            for name, countries in session.execute(select(RoamingZone.name, RoamingZone.countries))}


def to_plan(row: RatePlan, zones: dict[str, frozenset[str]] | None = None) -> Plan:
    """The plan's base version: its undated prices and tariffs (roaming prices need ``zones``)."""
    return Plan(
        name=row.name, monthly_fee=row.monthly_fee, voice_bundle_minutes=row.voice_bundle_minutes,
        sms_bundle=row.sms_bundle, data_bundle_mb=row.data_bundle_mb,
        price_per_minute=row.price_per_minute, price_per_sms=row.price_per_sms,
        price_per_mb=row.price_per_mb, voice_increment_s=row.voice_increment_s,
        setup_fee=row.setup_fee, voice_first_s=row.voice_first_s, minimum_charge=row.minimum_charge,
        destination_tariffs=tuple(_tariff(t) for t in row.tariffs if t.valid_from is None),
        bands=tuple(TimeBand.written(b.name, b.days, b.start, b.end, b.price_per_minute,
                                     b.price_per_sms) for b in row.bands),
        roaming=tuple(RoamingPrice(
            r.zone, (zones or {}).get(r.zone, frozenset()), r.voice_out_per_min, r.voice_in_per_min,
            r.sms_per_message, r.data_per_mb, r.voice_first_s or r.voice_increment_s,
            r.voice_increment_s) for r in row.roaming),
        eu_fair_use_gb=row.eu_fair_use_gb, eu_surcharge_per_mb=row.eu_surcharge_per_mb,
    )


def _tariff(t: Tariff) -> DestinationTariff:
    return DestinationTariff(t.prefix, CallType(t.call_type), t.price, t.setup_fee,
                             voice_increment=_increment(t.voice_first_s, t.voice_increment_s),
                             minimum_charge=t.minimum_charge)


def to_history(row: RatePlan, zones: dict[str, frozenset[str]] | None = None) -> PriceHistory:
    """The plan's prices with their history (issue 13.7): dated changes and dated tariffs."""
    changes = [PriceChange(p.valid_from, {f: v for f in PRICE_FIELDS
                                          if (v := getattr(p, f)) is not None})
               for p in row.prices]
    dated = [(t.valid_from, _tariff(t)) for t in row.tariffs if t.valid_from is not None]
    return PriceHistory.build(to_plan(row, zones), changes, dated)


def active_days(sub: Subscription, cycle: Cycle) -> int:
    """Days of the cycle the subscription was active (start/end dates are inclusive)."""
    first = max(cycle.start, sub.start_date or cycle.start)
    last_exclusive = min(cycle.end, (sub.end_date + timedelta(days=1)) if sub.end_date else cycle.end)
    return max(0, (last_exclusive - first).days)


def cycle_subscriptions(session: Session, customer_id: int, cycle: Cycle) -> list[Subscription]:
    """Subscriptions active at some point in the cycle."""
    subs = session.scalars(select(Subscription).where(Subscription.customer_id == customer_id)).all()
    return [s for s in subs if active_days(s, cycle) > 0]


# -- step 1: rate (CalculateTotalsRateplan) --------------------------------------------------

_CALL_TYPES = {c.value: c for c in CallType}


@dataclass
class RatedSubscription:
    """One subscription-cycle rated: its ratings, invoice charges and totals per call type."""

    ratings: list[raw_store.Rating]
    charges: list[UsageCharge]
    # call type -> count, duration_s, volume_kb, provider cost, rated amount (ten-thousandths), bundle used
    totals: dict[str, tuple[int, int, int, int, int, int]]


def rate_subscription(history: PriceHistory, cycle: Cycle, zone: ZoneInfo, subscription_id: int,
                      rows: Sequence[raw_store.RawCdr], call_date: Callable[[Any], datetime], refs: Refs, *,
                      fast: bool = True) -> RatedSubscription:
    """Rate one subscription's raw CDR rows (`core.raw_store`) for one cycle.

    The integer fast path (`core.rating.fast`) rates them when it covers the plan and the
    rows; otherwise, or with ``fast=False``, the Decimal engine (the reference) does, with
    ``call_date`` decoding the stored dates. Both give the same result (a property test).
    ``refs`` gives rows' provider_refs by id (`core.raw_store.provider_refs`): the fast path
    asks for those of calls of one moment, the engine for all.
    """
    first, last = history.index_on(cycle.start), history.index_on(cycle.end - timedelta(days=1))
    compiled = compile_plan(history.versions[first]) if fast and first == last else None
    rated = rate_rows(compiled, subscription_id, rows, refs) if compiled is not None else None
    if rated is not None:
        return RatedSubscription(
            rated.ratings,
            [UsageCharge(subscription_id, kind, prefix, price, setup, n, inside, charged, setups,
                         Decimal(amount).scaleb(-4), zone, band, increment, minimum, minimums, surcharge, 0,
                         raw_store.stored_day(first), raw_store.stored_day(last), used)
             for (kind, zone, prefix, band, increment, price, setup, minimum, surcharge),
                 (n, inside, charged, setups, amount, minimums, used, first, last)
             in sorted(rated.charges.items(), key=itemgetter(0))],
            {kind: (n, d, v, pc, ra, b) for kind, (n, d, v, pc, ra, b) in rated.totals.items()})
    kinds, units = _CALL_TYPES, raw_store.ten_thousandths
    ref_of = refs([r[0] for r in rows])
    ratable = [RatableCdr(r[0], call_date(r[2]), ref_of[r[0]], kinds[r[3]], r[4], r[5], r[6],
                          Decimal(r[7]).scaleb(-4), r[8] is not None, r[8] or "") for r in rows]
    plan = history.in_force(cycle.start)
    rating = rate_subscription_cycle(plan, ratable, history=history, zone=zone)
    usage = {r[0]: (r[5], r[6], r[7]) for r in rows}
    return RatedSubscription(
        [(x.cdr_id, subscription_id, x.call_type.value, units(x.rated_amount), x.bundle_used, x.zone or None,
          *usage[x.cdr_id]) for x in rating.rated],
        explain_rating(subscription_id, plan, ratable, rating.rated),
        {kind.value: (t.count, t.duration_s, t.volume_kb, units(t.provider_cost), units(t.rated_amount),
                      t.bundle_used) for kind, t in rating.totals.items()})


@dataclass(frozen=True)
class RatedCycle:
    """A customer-cycle rated: how many ratings were written, and its usage and rated sums per
    subscription and call type, summed in the rating pass (the totals without the fees), and
    the price histories of the plans it rated on (the fees come from the same, not read again)."""

    written: int
    usage: list[TotalRow]
    plans: Mapping[int, PriceHistory]


# The cyclic garbage collector is paused while a cycle is rated: the pass allocates some
# 60,000 tuples (rows, ratings, their comparison), none in a reference cycle, and the
# collector scanned them in ~100 young-generation collections a cycle, 10 ms of 180 (load 1.6).
# Freed by reference counting at the end of the pass, they are never scanned. A count, so
# that two worker threads rating at once leave the collector as the first found it.
_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = True


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


def rate_cycle(session: Session, customer_id: int, cycle_start: date) -> RatedCycle:
    """Rate every CDR of the customer-cycle into `cdr_rating`; only changed ratings are written.

    Subscriptions without a rate plan pass the provider's price through. The sums come
    from the same pass over the same rows, so `calculate_totals` needs no second read.
    """
    with _cyclic_gc_paused():
        return _rate_cycle(session, customer_id, cycle_start)


def _rate_cycle(session: Session, customer_id: int, cycle_start: date) -> RatedCycle:
    customer = get_customer(session, customer_id)
    # Locked before any rating is read: two passes over one customer-cycle take turns, so the
    # digest and the stored ratings read here are the ones the last pass left (MariaDB).
    status = lock_status(session, customer_id, cycle_start)
    cycle = cycle_of(customer, cycle_start)
    zone = customer_zone(customer)
    plans: dict[int, PriceHistory] = {}
    zones: dict[str, frozenset[str]] | None = None
    sub_plan: dict[int, int | None] = {sub_id: plan_id for sub_id, plan_id in session.execute(
        select(Subscription.id, Subscription.rate_plan_id).where(Subscription.customer_id == customer_id))}
    fresh: list[raw_store.Rating] = []
    usage: list[TotalRow] = []
    charges: list[UsageCharge] = []
    call_date = raw_store.decoded_call_date(session)
    refs = partial(raw_store.provider_refs, session)
    for sub_id, cdrs in raw_store.cycle_cdrs(session, customer_id, cycle_start).items():
        plan_id = sub_plan.get(sub_id)
        if plan_id is None:
            fresh.extend((r[0], sub_id, r[3], r[7], 0, None, r[5], r[6], r[7]) for r in cdrs)
            usage.extend(_usage_rows(sub_id, _passed_through(cdrs)))
        else:
            if plan_id not in plans:
                if zones is None:
                    zones = roaming_zones(session)
                plans[plan_id] = to_history(session.get_one(RatePlan, plan_id), zones)
            rated = rate_subscription(plans[plan_id], cycle, zone, sub_id, cdrs, call_date, refs)
            charges.extend(rated.charges)
            fresh.extend(rated.ratings)
            usage.extend(_usage_rows(sub_id, rated.totals))
    fresh.sort(key=_CDR_ID)
    digest = ratings_digest(fresh)
    if digest is not None and digest == status.ratings_digest \
            and raw_store.rating_count(session, customer_id, cycle_start) == len(fresh):
        changes: list[raw_store.Rating] = []  # the stored ratings are these: none is read back
    else:
        changes, replace = _changed(fresh, raw_store.stored_ratings(session, customer_id, cycle_start))
        raw_store.store_ratings(session, customer_id, cycle_start, changes, replace=replace)
    status.ratings_digest = digest
    store_charges(session, customer_id, cycle_start, charges)
    return RatedCycle(len(changes), usage, plans)


def _passed_through(rows: Sequence[raw_store.RawCdr]) -> dict[str, list[int]]:
    """The sums of rows billed at the provider's price, per call type (as `RatedSubscription.totals`)."""
    sums: dict[str, list[int]] = {}
    for row in rows:
        total = sums.setdefault(row[3], [0, 0, 0, 0, 0, 0])
        total[0] += 1
        total[1] += row[5]
        total[2] += row[6]
        total[3] += row[7]
        total[4] += row[7]
    return sums


def _usage_rows(subscription_id: int, sums: Mapping[str, Sequence[int]]) -> list[TotalRow]:
    """One subscription's sums per call type (money in ten-thousandths) as total rows."""
    return [TotalRow(subscription_id, kind, n, d, v, Decimal(pc).scaleb(-4), Decimal(ra).scaleb(-4), b)
            for kind, (n, d, v, pc, ra, b) in sums.items()]


_CDR_ID = itemgetter(0)
_COMPARED = itemgetter(0, 3, 4, 5)  # of a Rating: cdr_id, amount, bundle used, zone (a StoredRating)
_DIGESTED = tuple(itemgetter(i) for i in (0, 3, 4))  # of a Rating: cdr_id, amount, bundle used (int64s)
_ZONE = itemgetter(5)


def ratings_digest(ratings: Sequence[raw_store.Rating]) -> str | None:
    """The digest of ratings in cdr_id order: what `_changed` compares of each (cdr_id, amount,
    bundle used, zone), as SHA-256 (128 bits of it) of their count, the columns packed as 64-bit
    integers (this machine's byte order: on another a digest differs, and the pass compares in
    full), and the zones as JSON when any rating has one.

    Equal digests mean equal ratings (SHA-256 is collision resistant; with the CPU's SHA
    instructions it hashes 20,000 ratings' 480 KB in 0.4 ms, BLAKE2b in 1.0); None for a value
    that does not pack (beyond 64 bits), which makes the next pass compare in full. C-level
    passes: 4-5 ms for 20,000 ratings, where reading them back and comparing took 33 ms.
    """
    digest = hashlib.sha256(len(ratings).to_bytes(8, "little"))  # then 3 columns of that length
    try:
        for column in _DIGESTED:
            digest.update(array("q", map(column, ratings)))
    except OverflowError:
        return None
    zones = list(map(_ZONE, ratings))
    if any(zones):  # names and None (at home), as JSON: no name can pass for another or for None
        digest.update(json.dumps(zones).encode())
    return digest.hexdigest()[:32]  # 128 bits


def _changed(fresh: list[raw_store.Rating], stored: list[raw_store.StoredRating]
             ) -> tuple[list[raw_store.Rating], list[int]]:
    """The fresh ratings (in cdr_id order) that differ from the stored ones, and the ids of the
    stored ones they replace.

    Both lists in cdr_id order compare equal in one C-level comparison when nothing changed,
    with no per-rating look-up.
    """
    if not stored:  # a first rating: every rating is new
        return fresh, []
    if list(map(_COMPARED, fresh)) == stored:
        return [], []
    before = {rating[0]: rating[1:] for rating in stored}
    changes = [rating for rating in fresh if before.get(rating[0]) != rating[3:6]]
    return changes, [rating[0] for rating in changes if rating[0] in before]


# -- step 2: aggregate and replace (CalculateTotals) -----------------------------------------

def compute_totals(session: Session, customer: Customer, cycle_start: date,
                   usage: Sequence[TotalRow] | None = None,
                   plans: Mapping[int, PriceHistory] | None = None) -> list[TotalRow]:
    """New totals from the CDR table and the ratings (plus monthly fees for rate-plan customers).

    Rate-plan customers are billed the rated amounts of `cdr_rating`; the others the
    provider's price. `usage` is the sums of a rating pass in this transaction
    (`RatedCycle.usage`); without it, when every CDR of a rate-plan customer-cycle is rated,
    the ratings (which carry their CDR's usage) are summed alone, in one pass over contiguous rows.
    `plans`: price histories already read in this transaction (`RatedCycle.plans`), by plan id.
    """
    rows = list(usage) if usage is not None else \
        _rated_usage(session, customer.id, cycle_start) if customer.rateplan_customer else None
    if rows is None:
        rows = _usage_and_ratings(session, customer, cycle_start)
    if customer.rateplan_customer:
        cycle = cycle_of(customer, cycle_start)
        fees: dict[int, Decimal] = {}
        in_force: dict[int, Plan] = {}
        for sub in cycle_subscriptions(session, customer.id, cycle):
            if sub.rate_plan_id is None:
                continue
            if sub.rate_plan_id not in in_force:
                known = (plans or {}).get(sub.rate_plan_id)
                history = known if known is not None else to_history(session.get_one(RatePlan, sub.rate_plan_id))
                in_force[sub.rate_plan_id] = history.in_force(cycle.start)
            plan = in_force[sub.rate_plan_id]
            fees[sub.id] = prorate_fee(plan.monthly_fee, active_days(sub, cycle), cycle.days)
        rows.extend(TotalRow(sub_id, FEE_CALL_TYPE, 1, 0, 0, ZERO, fee, 0)
                    for sub_id, fee in sorted(fees.items()))
    rows.sort(key=lambda r: r.key)
    return rows


def _rated_usage(session: Session, customer_id: int, cycle_start: date) -> list[TotalRow] | None:
    """Usage and rated sums from `cdr_rating` alone, or None when some CDR has no rating yet."""
    rows = [TotalRow(sub_id, ct, int(n), int(d or 0), int(v or 0), _money(pc), _money(ra), int(b or 0))
            for sub_id, ct, n, d, v, pc, ra, b in session.execute(
                select(CdrRating.subscription_id, CdrRating.call_type, func.count(), func.sum(CdrRating.duration_s),
                       func.sum(CdrRating.volume_kb), func.sum(CdrRating.provider_cost),
                       func.sum(CdrRating.rated_amount), func.sum(CdrRating.bundle_used))
                .where(CdrRating.customer_id == customer_id, CdrRating.cycle_start_date == cycle_start)
                .group_by(CdrRating.subscription_id, CdrRating.call_type))]
    cdrs = session.scalar(select(func.count()).select_from(Cdr).where(
        Cdr.customer_id == customer_id, Cdr.cycle_start_date == cycle_start))
    return rows if cdrs == sum(r.count for r in rows) else None


def _usage_and_ratings(session: Session, customer: Customer, cycle_start: date) -> list[TotalRow]:
    """Usage from the CDR table, rated sums from `cdr_rating` (rate-plan customers) or the provider's price."""
    usage = session.execute(
        select(Cdr.subscription_id, Cdr.call_type, func.count(), func.sum(Cdr.duration_s),
               func.sum(Cdr.volume_kb), func.sum(Cdr.provider_cost))
        .where(Cdr.customer_id == customer.id, Cdr.cycle_start_date == cycle_start)
        .group_by(Cdr.subscription_id, Cdr.call_type)).all()
    rated: dict[tuple[int, str], tuple[Decimal, int]] = {}
    if customer.rateplan_customer:
        rated = {(sub, ct): (_money(amount), int(bundle or 0)) for sub, ct, amount, bundle in session.execute(
            select(CdrRating.subscription_id, CdrRating.call_type, func.sum(CdrRating.rated_amount),
                   func.sum(CdrRating.bundle_used))
            .where(CdrRating.customer_id == customer.id, CdrRating.cycle_start_date == cycle_start)
            .group_by(CdrRating.subscription_id, CdrRating.call_type))}
    rows = []
    for sub_id, ct, n, d, v, pc in usage:
        amount, bundle = rated.get((sub_id, ct), (ZERO, 0)) if customer.rateplan_customer else (_money(pc), 0)
        rows.append(TotalRow(sub_id, ct, int(n), int(d or 0), int(v or 0), _money(pc), amount, bundle))
    return rows


def _money(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(value).quantize(Decimal("0.0001"))


def lock_status(session: Session, customer_id: int, cycle_start: date) -> CustomerStatus:
    """The customer-cycle's status row, created if missing, locked for this transaction."""
    query = select(CustomerStatus).where(CustomerStatus.customer_id == customer_id,
                                         CustomerStatus.cycle_start_date == cycle_start).with_for_update()
    status = session.scalars(query).first()
    if status is None:
        try:
            with session.begin_nested():
                session.add(CustomerStatus(customer_id=customer_id, cycle_start_date=cycle_start))
        except IntegrityError:  # another worker created it first: take theirs
            pass
        status = session.scalars(query.execution_options(populate_existing=True)).one()
    return status


def current_totals(session: Session, customer_id: int, cycle_start: date) -> list[TotalRow]:
    rows = session.execute(select(Total.subscription_id, Total.call_type,
                                  *(getattr(Total, f) for f in TOTAL_FIELDS))
                           .where(Total.customer_id == customer_id, Total.cycle_start_date == cycle_start)
                           .order_by(Total.subscription_id, Total.call_type))
    return [TotalRow(*r) for r in rows]


def _archive(session: Session, status: CustomerStatus, clock: Clock) -> None:
    """Copy the current version to history, once per version."""
    if status.totals_version == 0 or status.backed_up_version >= status.totals_version:
        return
    rows = current_totals(session, status.customer_id, status.cycle_start_date)
    if rows:
        now = clock()
        session.execute(insert(TotalHistory), [
            {"customer_id": status.customer_id, "cycle_start_date": status.cycle_start_date,
             "version": status.totals_version, "subscription_id": r.subscription_id,
             "call_type": r.call_type, "archived_at": now,
             **{f: getattr(r, f) for f in TOTAL_FIELDS}} for r in rows])
    status.backed_up_version = status.totals_version


def calculate_totals(session: Session, customer_id: int, cycle_start: date, *,
                     clock: Clock = system_clock, cause: str = "recalculation",
                     usage: Sequence[TotalRow] | None = None, plans: Mapping[int, PriceHistory] | None = None) -> int:
    """Replace the customer-cycle's totals (previous version to history first); new version,
    recorded with its time and `cause` ("sync", "recalculation by alice", ...). `usage`: the
    sums of a rating pass in this transaction (`rate_cycle`), instead of summing the tables, and
    `plans` the price histories it read."""
    customer = get_customer(session, customer_id)
    status = lock_status(session, customer_id, cycle_start)
    rows = compute_totals(session, customer, cycle_start, usage, plans)
    _archive(session, status, clock)
    session.execute(delete(Total).where(Total.customer_id == customer_id,
                                        Total.cycle_start_date == cycle_start))
    version = status.totals_version + 1
    if rows:
        session.execute(insert(Total), [
            {"customer_id": customer_id, "cycle_start_date": cycle_start, "subscription_id": r.subscription_id,
             "call_type": r.call_type, "version": version, **{f: getattr(r, f) for f in TOTAL_FIELDS}}
            for r in rows])
    status.totals_version = version
    status.last_totals_at = clock()
    session.add(TotalsVersion(customer_id=customer_id, cycle_start_date=cycle_start, version=version,
                              calculated_at=status.last_totals_at, cause=cause[:80]))
    status.status = "calculated"
    return version


def backup_totals(session: Session, customer_id: int, cycle_start: date, *,
                  clock: Clock = system_clock) -> int:
    """DispatchTotalsBackup: snapshot the current version into history (idempotent)."""
    status = lock_status(session, customer_id, cycle_start)
    _archive(session, status, clock)
    return status.backed_up_version


def mark_recalc_requested(session: Session, customer_id: int, cycle_start: date) -> None:
    status = lock_status(session, customer_id, cycle_start)
    status.recalc_requested = True
    status.status = "recalculating"


def save_status(session: Session, customer_id: int, cycle_start: date, *, note: str | None = None) -> None:
    status = lock_status(session, customer_id, cycle_start)
    status.recalc_requested = False
    status.status = "ready"
    if note is not None:
        status.note = note


# -- dry run and comparisons -----------------------------------------------------------------

@dataclass(frozen=True)
class TotalDiff:
    subscription_id: int
    call_type: str
    old: TotalRow | None
    new: TotalRow | None

    @property
    def amount_change(self) -> Decimal:
        return (self.new.rated_amount if self.new else ZERO) - (self.old.rated_amount if self.old else ZERO)


def diff_totals(old: Sequence[TotalRow], new: Sequence[TotalRow]) -> list[TotalDiff]:
    before = {r.key: r for r in old}
    after = {r.key: r for r in new}
    diffs = []
    for key in sorted(set(before) | set(after)):
        o, n = before.get(key), after.get(key)
        if o is None or n is None or any(getattr(o, f) != getattr(n, f) for f in TOTAL_FIELDS):
            diffs.append(TotalDiff(key[0], key[1], o, n))
    return diffs


def preview_recalculation(db: Database, customer_id: int, cycle_start: date, *,
                          clock: Clock = system_clock) -> list[TotalDiff]:
    """What a recalculation would change, computed by the real steps and rolled back; refused,
    as the recalculation is, for a cycle that has not begun (CycleNotBegun)."""
    with db.sessions() as session:
        session.begin()
        try:
            customer = get_customer(session, customer_id)
            refuse_unbegun(customer, cycle_start, clock())
            old = current_totals(session, customer_id, cycle_start)
            usage = rate_cycle(session, customer_id, cycle_start).usage if customer.rateplan_customer else None
            new = compute_totals(session, customer, cycle_start, usage)
        finally:
            session.rollback()
    return diff_totals(old, new)


def history_versions(db: Database, customer_id: int, cycle_start: date) -> list[int]:
    with db.reader() as s:
        return [int(v) for v in s.scalars(
            select(TotalHistory.version).where(TotalHistory.customer_id == customer_id,
                                               TotalHistory.cycle_start_date == cycle_start)
            .distinct().order_by(TotalHistory.version))]


@dataclass(frozen=True)
class VersionSummary:
    """One version of a customer-cycle's totals: when, why, its total, and whether it is current."""

    version: int
    at: datetime | None  # calculated (versions made before this was recorded: archived)
    cause: str  # "sync", "recalculation by alice", ...; "" when not recorded
    rated_total: Decimal
    current: bool


def _current_version(s: Session, customer_id: int, cycle_start: date) -> int:
    return int(s.scalar(select(CustomerStatus.totals_version).where(
        CustomerStatus.customer_id == customer_id, CustomerStatus.cycle_start_date == cycle_start)) or 0)


def version_history(db: Database, customer_id: int, cycle_start: date) -> list[VersionSummary]:
    """Every version of the customer-cycle's totals, newest first; the current one marked."""
    cycle = (customer_id, cycle_start)
    with db.reader() as s:
        current = _current_version(s, *cycle)
        archived: dict[int, tuple[datetime | None, Decimal]] = {int(v): (at, _money(total)) for v, at, total in s.execute(
            select(TotalHistory.version, func.max(TotalHistory.archived_at), func.sum(TotalHistory.rated_amount))
            .where(TotalHistory.customer_id == customer_id, TotalHistory.cycle_start_date == cycle_start)
            .group_by(TotalHistory.version))}
        recorded = {int(v): (at, cause) for v, at, cause in s.execute(
            select(TotalsVersion.version, TotalsVersion.calculated_at, TotalsVersion.cause)
            .where(TotalsVersion.customer_id == customer_id, TotalsVersion.cycle_start_date == cycle_start))}
        if current:
            last_at = s.scalar(select(CustomerStatus.last_totals_at).where(
                CustomerStatus.customer_id == customer_id, CustomerStatus.cycle_start_date == cycle_start))
            total = s.scalar(select(func.sum(Total.rated_amount)).where(
                Total.customer_id == customer_id, Total.cycle_start_date == cycle_start))
            archived[current] = (last_at, _money(total))
    return [VersionSummary(v, recorded.get(v, (at, ""))[0], recorded.get(v, (at, ""))[1], total, v == current)
            for v, (at, total) in sorted(archived.items(), reverse=True)]


def totals_version(db: Database, customer_id: int, cycle_start: date, version: int | None = None) -> list[TotalRow]:
    """Current totals (also when `version` names the current one), or an archived version."""
    with db.reader() as s:
        if version is None or version == _current_version(s, customer_id, cycle_start):
            return current_totals(s, customer_id, cycle_start)
        rows = s.execute(select(TotalHistory.subscription_id, TotalHistory.call_type,
                                *(getattr(TotalHistory, f) for f in TOTAL_FIELDS))
                         .where(TotalHistory.customer_id == customer_id,
                                TotalHistory.cycle_start_date == cycle_start,
                                TotalHistory.version == version)
                         .order_by(TotalHistory.subscription_id, TotalHistory.call_type))
        return [TotalRow(*r) for r in rows]


@dataclass(frozen=True)
class PartnerTotal:
    call_type: str
    customers: int
    count: int
    duration_s: int
    volume_kb: int
    provider_cost: Decimal
    rated_amount: Decimal


def partner_totals(db: Database, partner_id: int, cycle_start: date) -> list[PartnerTotal]:
    """A partner's customers' totals for one cycle, per call type."""
    with db.reader() as s:
        rows = s.execute(
            select(Total.call_type, func.count(func.distinct(Total.customer_id)), func.sum(Total.count),
                   func.sum(Total.duration_s), func.sum(Total.volume_kb), func.sum(Total.provider_cost),
                   func.sum(Total.rated_amount))
            .join(Customer, Customer.id == Total.customer_id)
            .where(Customer.partner_id == partner_id, Total.cycle_start_date == cycle_start)
            .group_by(Total.call_type).order_by(Total.call_type))
        return [PartnerTotal(ct, int(c), int(n or 0), int(d or 0), int(v or 0), _money(pc), _money(ra))
                for ct, c, n, d, v, pc, ra in rows]


def customer_zone(customer: Customer) -> ZoneInfo:
    return ZoneInfo(customer.time_zone)
