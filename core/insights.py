"""Billing insights for a customer-cycle: flatliners, usage spikes, cost trend, top
spenders, margin (of the cycle and of its roaming per zone), roaming without a zone and
bill-shock caps. Statistics (z-scores, trends) use floats: they rank and flag,
they never become an amount on an invoice.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.orm import Session

from core.models import FEE_CALL_TYPE, BillingInsight, Cdr, CdrRating, Customer, Subscription, Total
from core.rating.caps import CapStatus, cap_status
from core.rating.roaming import EU_ZONE, UNKNOWN_ZONE
from core.totals import cycle_of, cycle_subscriptions, get_customer

SPIKE_Z = 3.0
BASELINE_CYCLES = 6
MIN_BASELINE = 3
USAGE_MEASURE = {"voice": ("duration_s", "s"), "voice_in": ("duration_s", "s"), "sms": ("count", "messages"),
                 "data": ("volume_kb", "KB")}


@dataclass(frozen=True)
class Insight:
    kind: str  # flatliner | spike | cost_trend | top_spender | margin | reconciliation
    # | roaming_unknown | bill_shock | roaming_margin
    severity: str  # info | warn
    message: str
    subscription_id: int | None = None
    score: Decimal | None = None


def _score(value: float) -> Decimal:
    return Decimal(f"{value:.4f}")


def compute_insights(session: Session, customer_id: int, cycle_start: date) -> list[Insight]:
    customer = get_customer(session, customer_id)
    cycle = cycle_of(customer, cycle_start)
    rows = session.execute(select(Total).where(Total.customer_id == customer_id,
                                               Total.cycle_start_date == cycle_start)).scalars().all()
    numbers = dict(session.execute(select(Subscription.id, Subscription.number)
                                   .where(Subscription.customer_id == customer_id)).all())
    insights: list[Insight] = []

    used = {r.subscription_id for r in rows if r.call_type != FEE_CALL_TYPE and r.count > 0}
    for sub in cycle_subscriptions(session, customer_id, cycle):
        if sub.id not in used:
            insights.append(Insight("flatliner", "warn",
                                    f"{sub.number} had no usage in cycle {cycle.label}", sub.id))

    # Baselines are cycles with synced usage only: a recalculation over months without CDRs
    # leaves fee-only totals there, and comparing with those would call every call a spike.
    earlier = list(session.scalars(
        select(Total.cycle_start_date).where(Total.customer_id == customer_id,
                                             Total.cycle_start_date < cycle_start,
                                             Total.call_type != FEE_CALL_TYPE, Total.count > 0)
        .distinct().order_by(Total.cycle_start_date.desc()).limit(BASELINE_CYCLES)))
    history: dict[tuple[int, str], dict[date, int]] = defaultdict(dict)
    active_in: dict[int, set[date]] = defaultdict(set)  # the cycles each subscription had usage in
    if earlier:
        for r in session.scalars(select(Total).where(Total.customer_id == customer_id,
                                                     Total.cycle_start_date.in_(earlier))):
            if r.call_type in USAGE_MEASURE:
                history[(r.subscription_id, r.call_type)][r.cycle_start_date] = getattr(
                    r, USAGE_MEASURE[r.call_type][0])
                if r.count > 0:
                    active_in[r.subscription_id].add(r.cycle_start_date)
    for r in rows:
        if r.call_type not in USAGE_MEASURE:
            continue
        attr, unit = USAGE_MEASURE[r.call_type]
        past = history.get((r.subscription_id, r.call_type), {})
        # only cycles in which this subscription was in use (0 of this call type then counts)
        baseline = [float(past.get(d, 0)) for d in earlier if d in active_in[r.subscription_id]]
        if len(baseline) < MIN_BASELINE:
            continue
        mean = statistics.fmean(baseline)
        spread = max(statistics.pstdev(baseline), 0.1 * mean, 1.0)
        z = (float(getattr(r, attr)) - mean) / spread
        if z >= SPIKE_Z:
            insights.append(Insight(
                "spike", "warn",
                f"{numbers.get(r.subscription_id, r.subscription_id)} {r.call_type}: "
                f"{getattr(r, attr):,} {unit} against a usual {mean:,.0f} (z = {z:.1f})",
                r.subscription_id, _score(z)))

    total_now = sum((r.rated_amount for r in rows), Decimal("0"))
    cost_now = sum((r.provider_cost for r in rows), Decimal("0"))
    if earlier:
        past_totals = dict(session.execute(
            select(Total.cycle_start_date, func.sum(Total.rated_amount))
            .where(Total.customer_id == customer_id, Total.cycle_start_date.in_(earlier[:3]))
            .group_by(Total.cycle_start_date)).all())
        amounts = [Decimal(v) for v in past_totals.values() if v is not None]
        if amounts:
            mean_amount = sum(amounts, Decimal("0")) / len(amounts)
            if mean_amount > 0:
                change = float((total_now - mean_amount) / mean_amount * 100)
                insights.append(Insight(
                    "cost_trend", "warn" if change > 50 else "info",
                    f"€ {total_now:.2f} this cycle, {change:+.1f}% against the average "
                    f"of the previous {len(amounts)} cycle(s) (€ {mean_amount:.2f})",
                    score=_score(change)))

    per_sub: dict[int, Decimal] = defaultdict(Decimal)
    for r in rows:
        per_sub[r.subscription_id] += r.rated_amount
    if total_now > 0:
        for sub_id, amount in sorted(per_sub.items(), key=lambda kv: (-kv[1], kv[0]))[:3]:
            share = float(amount / total_now * 100)
            insights.append(Insight("top_spender", "info",
                                    f"{numbers.get(sub_id, sub_id)}: € {amount:.2f} ({share:.1f}% of the cycle)",
                                    sub_id, _score(share)))

    # three of the insights read the cycle's roaming ratings (those with a zone); one look first,
    # so a cycle without roaming costs one scan of its ratings instead of three
    roaming = _has_roaming(session, customer_id, cycle_start)
    if roaming:
        insights.extend(_roaming_without_zone(session, customer_id, cycle_start, numbers))
    for sub_id, status in (bill_shock(session, customer, cycle_start) if roaming else {}).items():
        text = (f"{numbers.get(sub_id, sub_id)}: data roaming outside the EU/EEA € {status.spent:.2f} "
                f"of the € {status.cap:.2f} cap ({status.percent}%)")
        if 100 in status.levels:
            text += (f"; cap reached, € {status.beyond:.2f} beyond it is still rated "
                     "(the provider enforces the block)")
        insights.append(Insight("bill_shock", "warn", text, sub_id, status.percent))

    if total_now or cost_now:
        insights.append(_margin("margin", "", total_now, cost_now))
    if roaming:
        insights.extend(roaming_margins(session, customer_id, cycle_start))
    return insights


def _has_roaming(session: Session, customer_id: int, cycle_start: date) -> bool:
    """Whether some rating of the customer-cycle has a roaming zone (a name: never empty). Asked
    as `zone > ''`, a range SQLite takes from its index of zoned ratings (migration 0022), where
    `IS NOT NULL` let it scan the cycle's ratings."""
    return bool(session.scalar(select(exists().where(
        CdrRating.customer_id == customer_id, CdrRating.cycle_start_date == cycle_start, CdrRating.zone > ""))))


def _margin(kind: str, what: str, rated: Decimal, cost: Decimal) -> Insight:
    """Rated against provider cost: a loss warns; no revenue at a cost is -100 %."""
    margin = rated - cost
    pct = float(margin / rated * 100) if rated else -100.0
    return Insight(kind, "warn" if margin < 0 else "info",
                   f"{what}rated € {rated:.2f} against provider cost € {cost:.2f}: "
                   f"margin € {margin:.2f} ({pct:.1f}%)", score=_score(pct))


_ZONE_NAMES = {EU_ZONE: "EU/EEA", UNKNOWN_ZONE: "unknown zone"}


def roaming_margins(session: Session, customer_id: int, cycle_start: date) -> list[Insight]:
    """The margin of the cycle's roaming per zone (EU/EEA, each named zone, unknown)."""
    rows = session.execute(
        select(CdrRating.zone, func.sum(CdrRating.rated_amount), func.sum(Cdr.provider_cost))
        .join(Cdr, Cdr.id == CdrRating.cdr_id)
        .where(CdrRating.customer_id == customer_id, CdrRating.cycle_start_date == cycle_start,
               CdrRating.zone.is_not(None))
        .group_by(CdrRating.zone).order_by(CdrRating.zone))
    return [_margin("roaming_margin", f"roaming {_ZONE_NAMES.get(str(zone), zone)}: ",
                    Decimal(rated or 0), Decimal(cost or 0))
            for zone, rated, cost in rows if rated or cost]


_LISTED_REFS = 5


def roaming_data_spend(session: Session, customer_id: int, cycle_start: date) -> dict[int, Decimal]:
    """Rated data roaming outside the EU/EEA per subscription (unknown zones included)."""
    rows = session.execute(
        select(CdrRating.subscription_id, func.sum(CdrRating.rated_amount))
        .where(CdrRating.customer_id == customer_id, CdrRating.cycle_start_date == cycle_start,
               CdrRating.call_type == "data", CdrRating.zone.is_not(None), CdrRating.zone != EU_ZONE)
        .group_by(CdrRating.subscription_id))
    return {sub_id: Decimal(amount or 0).quantize(Decimal("0.0001")) for sub_id, amount in rows}


def bill_shock(session: Session, customer: Customer, cycle_start: date) -> dict[int, CapStatus]:
    """Subscriptions at 80 % or more of the customer's roaming data cap this cycle."""
    found = {}
    for sub_id, spent in roaming_data_spend(session, customer.id, cycle_start).items():
        status = cap_status(spent, customer.roaming_data_cap)
        if status is not None:
            found[sub_id] = status
    return found


def _roaming_without_zone(session: Session, customer_id: int, cycle_start: date,
                          numbers: dict[int, str]) -> list[Insight]:
    """Roaming CDRs rated without a known zone (no or an unknown visited country), listed per
    subscription: they were rated at the plan's most expensive zone, not as at home."""
    rows = session.execute(
        select(CdrRating.subscription_id, Cdr.provider_ref, Cdr.visited_country,
               CdrRating.rated_amount)
        .join(Cdr, Cdr.id == CdrRating.cdr_id)
        .where(CdrRating.customer_id == customer_id, CdrRating.cycle_start_date == cycle_start,
               CdrRating.zone == UNKNOWN_ZONE)
        .order_by(CdrRating.subscription_id, Cdr.call_date, Cdr.provider_ref)).all()
    found: dict[int, list[tuple[str, str | None, Decimal]]] = defaultdict(list)
    for sub_id, ref, country, amount in rows:
        found[sub_id].append((ref, country, amount))
    insights = []
    for sub_id, cdrs in found.items():
        amount = sum((a for _, _, a in cdrs), Decimal("0"))
        listed = ", ".join(f"{ref} ({country or 'no country'})" for ref, country, _ in cdrs[:_LISTED_REFS])
        more = f" and {len(cdrs) - _LISTED_REFS} more" if len(cdrs) > _LISTED_REFS else ""
        insights.append(Insight(
            "roaming_unknown", "warn",
            f"{numbers.get(sub_id, sub_id)}: {len(cdrs)} roaming CDR(s) without a known zone, "
            f"rated at the most expensive zone (€ {amount:.2f}): {listed}{more}",
            sub_id, Decimal(len(cdrs))))
    return insights


def replace_insights(session: Session, customer_id: int, cycle_start: date, insights: list[Insight],
                     kinds: tuple[str, ...] | None = None) -> None:
    """Replace the cycle's insights (of the given kinds, default all but reconciliation)."""
    kinds = kinds or ("flatliner", "spike", "cost_trend", "top_spender", "margin",
                      "roaming_unknown", "bill_shock", "roaming_margin")
    session.execute(delete(BillingInsight).where(BillingInsight.customer_id == customer_id,
                                                 BillingInsight.cycle_start_date == cycle_start,
                                                 BillingInsight.kind.in_(kinds)))
    if insights:
        session.execute(insert(BillingInsight), [
            {"customer_id": customer_id, "cycle_start_date": cycle_start, "kind": i.kind,
             "severity": i.severity, "message": i.message, "subscription_id": i.subscription_id,
             "score": i.score} for i in insights])


def list_insights(session: Session, customer_id: int, cycle_start: date) -> list[BillingInsight]:
    return list(session.scalars(select(BillingInsight).where(
        BillingInsight.customer_id == customer_id, BillingInsight.cycle_start_date == cycle_start)
        .order_by(BillingInsight.severity.desc(), BillingInsight.kind, BillingInsight.id)))
