"""What rated usage consists of, per price: the facts an invoice line is built from.

The rating engine prices each CDR; this module groups its results per subscription,
call type and price (the plan's price beyond the bundle, or the destination tariff that
matched) into `UsageCharge`s: usage inside the bundle and charged beyond it in the call
type's own unit (voice seconds, SMS messages, data KB), the set-ups charged, and the sum
of the CDRs' rated amounts. It reads the engine's results (billed seconds, bundle use,
amount) and the plan's public tariff lookup; it never prices anything itself, so the sum
of the charges is the engine's total by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from core.models import TotalCharge
from core.rating.engine import RatableCdr, RatedCdr
from core.rating.plan import CallType, RatePlan

ZERO = Decimal("0.0000")
ROAMING = "@"  # prefix of a roaming charge's key: "@EU", "@world1"


@dataclass(frozen=True)
class UsageCharge:
    """One subscription's usage of one call type at one price, in the cycle."""

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

    @property
    def key(self) -> tuple[int, str, str, Decimal, Decimal]:
        return self.subscription_id, self.call_type, self.prefix, self.unit_price, self.setup_fee


def explain_rating(subscription_id: int, plan: RatePlan, cdrs: Iterable[RatableCdr],
                   rated: Iterable[RatedCdr]) -> list[UsageCharge]:
    """Group one subscription's rated CDRs into charges per call type and price."""
    by_id = {cdr.cdr_id: cdr for cdr in cdrs}
    matcher = plan.tariff_matcher
    groups: dict[tuple[int, str, str, Decimal, Decimal], list[int | Decimal]] = {}
    for result in rated:
        cdr = by_id[result.cdr_id]
        call_type = result.call_type
        if result.zone:  # roaming: priced by its zone, shown as 1 x its amount
            key = (subscription_id, call_type.value, ROAMING + result.zone, ZERO, ZERO)
            sums = groups.setdefault(key, [0, 0, 0, 0, ZERO])
            sums[0] += 1
            sums[4] += result.rated_amount
            continue
        tariff = matcher.match(call_type, cdr.destination) if matcher.has_tariffs(call_type) else None
        if call_type is CallType.VOICE:
            units, setup_counts = result.billed_s, result.billed_s > result.bundle_used
            price, setup = (tariff.price, tariff.setup_fee) if tariff else (plan.price_per_minute,
                                                                            plan.setup_fee)
        elif call_type is CallType.SMS:
            units, setup_counts = 1, tariff is not None
            price, setup = (tariff.price, tariff.setup_fee) if tariff else (plan.price_per_sms, ZERO)
        else:
            units, setup_counts = cdr.volume_kb, tariff is not None and cdr.volume_kb > 0
            price, setup = (tariff.price, tariff.setup_fee) if tariff else (plan.price_per_mb, ZERO)
        key = (subscription_id, call_type.value, tariff.prefix if tariff else "", price, setup)
        sums = groups.setdefault(key, [0, 0, 0, 0, ZERO])
        sums[0] += 1
        sums[1] += result.bundle_used
        sums[2] += units - result.bundle_used
        sums[3] += 1 if setup_counts and setup else 0
        sums[4] += result.rated_amount
    return [UsageCharge(sub, call_type, prefix, price, setup, int(n), int(inside), int(beyond),
                        int(setups), Decimal(amount))
            for (sub, call_type, prefix, price, setup), (n, inside, beyond, setups, amount)
            in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1], item[0][2]))]


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
             "rated_amount": c.rated_amount} for c in charges])


def load_charges(session: Session, customer_id: int, cycle_start: date) -> list[UsageCharge]:
    rows = session.execute(
        select(TotalCharge.subscription_id, TotalCharge.call_type, TotalCharge.prefix,
               TotalCharge.unit_price, TotalCharge.setup_fee, TotalCharge.count, TotalCharge.in_bundle,
               TotalCharge.charged, TotalCharge.setups, TotalCharge.rated_amount)
        .where(TotalCharge.customer_id == customer_id, TotalCharge.cycle_start_date == cycle_start)
        .order_by(TotalCharge.subscription_id, TotalCharge.call_type, TotalCharge.prefix))
    return [UsageCharge(sub, call_type, prefix, price, setup, count, inside, charged, setups, amount)
            for sub, call_type, prefix, price, setup, count, inside, charged, setups, amount in rows]
