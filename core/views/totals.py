"""Totals, insights and history of one customer-cycle, and the plan of a partner recalculation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from core.db import Database
from core.insights import list_insights
from core.lookup import customer_by_code, cycle_start, partner_by_name, partner_customers
from core.models import CustomerStatus, Subscription
from core.rating.cycles import month_labels
from core.totals import (
    TotalDiff,
    TotalRow,
    VersionSummary,
    current_totals,
    diff_totals,
    history_versions,
    totals_version,
    version_history,
)


@dataclass(frozen=True)
class CustomerCycle:
    customer_id: int
    code: str
    name: str
    label: str  # YYYY-MM
    cycle_start: date
    rateplan_customer: bool
    partner: str | None


@dataclass(frozen=True)
class TotalLine:
    subscription_id: int
    number: str
    call_type: str
    count: int
    duration_s: int
    volume_kb: int
    provider_cost: Decimal
    rated_amount: Decimal


@dataclass(frozen=True)
class InsightLine:
    kind: str
    severity: str
    message: str


@dataclass(frozen=True)
class TotalsOverview:
    cycle: CustomerCycle
    lines: list[TotalLine]
    insights: list[InsightLine]
    version: int
    status: str
    recalc_requested: bool
    last_totals_at: datetime | None
    history: list[int]

    @property
    def rated_total(self) -> Decimal:
        return sum((line.rated_amount for line in self.lines), Decimal("0"))


@dataclass(frozen=True)
class DiffLine:
    number: str
    call_type: str
    old: Decimal | None
    new: Decimal | None
    change: Decimal


@dataclass(frozen=True)
class PartnerPlan:
    partner: str
    labels: list[str]
    items: list[tuple[int, str, date]]  # customer id, code, cycle start: one DispatchTotals each


def resolve_cycle(db: Database, code: str, label: str) -> CustomerCycle:
    """The customer (by code or id) and the start of its cycle labelled YYYY-MM; NotFound if not."""
    with db.reader() as session:
        customer = customer_by_code(session, code.strip())
        start = cycle_start(customer, label.strip())
        partner = customer.partner.name if customer.partner is not None else None
        return CustomerCycle(customer.id, customer.code, customer.name, label.strip(), start,
                             customer.rateplan_customer, partner)


def numbers(db: Database, customer_id: int) -> dict[int, str]:
    with db.reader() as session:
        return {int(i): str(n) for i, n in session.execute(
            select(Subscription.id, Subscription.number).where(Subscription.customer_id == customer_id))}


def totals_overview(db: Database, cycle: CustomerCycle) -> TotalsOverview:
    names = numbers(db, cycle.customer_id)
    with db.reader() as session:
        rows = current_totals(session, cycle.customer_id, cycle.cycle_start)
        insights = [InsightLine(i.kind, i.severity, i.message)
                    for i in list_insights(session, cycle.customer_id, cycle.cycle_start)]
        status = session.scalars(select(CustomerStatus).where(
            CustomerStatus.customer_id == cycle.customer_id,
            CustomerStatus.cycle_start_date == cycle.cycle_start)).first()
        version = status.totals_version if status else 0
        state = status.status if status else "no totals yet"
        requested = bool(status and status.recalc_requested)
        last_at = status.last_totals_at if status else None
    return TotalsOverview(cycle, [_line(r, names) for r in rows], insights, version, state, requested,
                          last_at, history_versions(db, cycle.customer_id, cycle.cycle_start))


def _line(row: TotalRow, names: dict[int, str]) -> TotalLine:
    return TotalLine(row.subscription_id, names.get(row.subscription_id, str(row.subscription_id)),
                     row.call_type, row.count, row.duration_s, row.volume_kb, row.provider_cost,
                     row.rated_amount)


def diff_lines(diffs: list[TotalDiff], names: dict[int, str]) -> list[DiffLine]:
    return [DiffLine(names.get(d.subscription_id, str(d.subscription_id)), d.call_type,
                     d.old.rated_amount if d.old else None, d.new.rated_amount if d.new else None,
                     d.amount_change) for d in diffs]


def versions(db: Database, cycle: CustomerCycle) -> list[VersionSummary]:
    """Every version of the customer-cycle's totals with its date, cause and total; newest first."""
    return version_history(db, cycle.customer_id, cycle.cycle_start)


def compare_versions(db: Database, cycle: CustomerCycle, old: int, new: int) -> list[DiffLine]:
    """What changed per line from version `old` to version `new` (either may be the current one)."""
    diffs = diff_totals(totals_version(db, cycle.customer_id, cycle.cycle_start, old),
                        totals_version(db, cycle.customer_id, cycle.cycle_start, new))
    return diff_lines(diffs, numbers(db, cycle.customer_id))


def partner_plan(db: Database, partner: str, first: str, last: str) -> PartnerPlan:
    """Every active customer of the partner for every month first..last (inclusive)."""
    labels = month_labels(first.strip(), last.strip())
    with db.reader() as session:
        p = partner_by_name(session, partner.strip())
        items = [(c.id, c.code, cycle_start(c, label)) for label in labels
                 for c in partner_customers(session, p.id)]
        return PartnerPlan(p.name, labels, items)
