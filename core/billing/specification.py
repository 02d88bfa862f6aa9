"""The usage specification: per subscription and call type, what was used and billed (issue 13.2).

An annex of the invoice PDF and a sheet of the Excel export, for customers with
`specification = true` in the setup file. Per subscription (number, cost centre), call
type and roaming zone (issue 17.5: "" at home, "EU", a zone, "?" unknown): the number of
calls, messages or sessions, the usage (minutes, messages, MB), the billed usage taken
from the bundle and charged beyond it, and the amount.

The amounts are in cents and add up, per call type, to the invoice's usage lines of
that call type: each line's share is the rounded running total minus the rounded
running total before it, so no cent is lost or counted twice (each share is within a
cent of its own rated amount).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing.charges import UsageCharge, explains, load_charges
from core.billing.lines import CENT, ZERO, call_type_order, round_cents, unit_of
from core.models import FEE_CALL_TYPE, Subscription

if TYPE_CHECKING:
    from core.totals import TotalRow


@dataclass(frozen=True)
class SubscriptionUsage:
    """One subscription's usage of one call type in a cycle, as rated (the input)."""

    subscription_number: str
    cost_centre: str
    call_type: str
    count: int
    duration_s: int
    volume_kb: int
    in_bundle: int  # billed seconds / messages / KB from the bundle
    charged: int  # billed seconds / messages / KB charged beyond it (passed through: all usage)
    rated_amount: Decimal  # 4 dp
    explained: bool  # priced per rate plan (invoice lines per price), else passed through
    zone: str = ""  # roaming zone of this part of the usage, "" at home


@dataclass(frozen=True)
class SpecificationLine:
    """One row of the specification; quantities in the call type's unit, 2 decimals."""

    subscription_number: str
    cost_centre: str
    call_type: str
    count: int
    usage: Decimal
    in_bundle: Decimal
    beyond: Decimal
    unit: str
    amount: Decimal  # cents
    zone: str = ""


def build_specification(usage: Iterable[SubscriptionUsage], language: str) -> list[SpecificationLine]:
    """Rows by subscription number and call type, amounts allocated in cents (see module doc)."""
    ordered = sorted(usage, key=lambda u: (u.subscription_number, call_type_order(u.call_type), u.zone))
    running: dict[tuple[bool, str], Decimal] = {}
    lines = []
    for item in ordered:
        group = (item.explained, item.call_type)
        before = running.get(group, ZERO)
        running[group] = before + item.rated_amount
        size, unit = unit_of(item.call_type, language)
        used = {60: item.duration_s, 1024: item.volume_kb}.get(size, item.count)
        charged = item.charged if item.explained else used
        lines.append(SpecificationLine(
            item.subscription_number, item.cost_centre, item.call_type, item.count,
            _in_units(used, size), _in_units(item.in_bundle, size), _in_units(charged, size),
            unit, round_cents(running[group]) - round_cents(before), item.zone))
    return lines


def _in_units(stored: int, size: int) -> Decimal:
    return (Decimal(stored) / size).quantize(CENT, ROUND_HALF_UP)


def usage_of(number: str, cost_centre: str, row: TotalRow, parts: Sequence[UsageCharge]) -> list[SubscriptionUsage]:
    """A subscription's usage of a call type: one row per roaming zone its charges explain, else one."""
    if not explains(parts, row.rated_amount):
        return [SubscriptionUsage(number, cost_centre, row.call_type, row.count, row.duration_s, row.volume_kb,
                                  0, 0, row.rated_amount, False)]
    by_zone: dict[str, list[UsageCharge]] = {}
    for part in parts:
        by_zone.setdefault(part.zone, []).append(part)
    rows = []
    for zone, own in by_zone.items():
        # one zone: the totals' raw usage; several: each zone's own (as rated)
        used = sum(c.used for c in own)
        seconds, kilobytes = (row.duration_s, row.volume_kb) if len(by_zone) == 1 else (used, used)
        rows.append(SubscriptionUsage(number, cost_centre, row.call_type, sum(c.count for c in own), seconds,
                                      kilobytes, sum(c.in_bundle for c in own), sum(c.charged for c in own),
                                      sum((c.rated_amount for c in own), ZERO), True, zone))
    return rows


def cycle_specification(session: Session, customer_id: int, cycle_start: date,
                        language: str) -> list[SpecificationLine]:
    """The customer-cycle's specification from its current totals and charges."""
    from core.totals import current_totals

    subs = {sub_id: (number, centre or "") for sub_id, number, centre in session.execute(
        select(Subscription.id, Subscription.number, Subscription.cost_centre)
        .where(Subscription.customer_id == customer_id))}
    charges: dict[tuple[int, str], list[UsageCharge]] = {}
    for charge in load_charges(session, customer_id, cycle_start):
        charges.setdefault((charge.subscription_id, charge.call_type), []).append(charge)
    usage = []
    for row in current_totals(session, customer_id, cycle_start):
        if row.call_type == FEE_CALL_TYPE:
            continue
        number, centre = subs.get(row.subscription_id, (str(row.subscription_id), ""))
        usage.extend(usage_of(number, centre, row, charges.get(row.key, [])))
    return build_specification(usage, language)

