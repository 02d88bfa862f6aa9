"""Validation before issue: invoices that look wrong wait as "held for review".

Rules (Opencell keeps such invoices SUSPECT/REJECTED): the total differs more than
`invoice_review_percent` (default 50) from the customer's previous invoice, the total is
negative, a subscription synced from a provider shows no usage at all for a whole cycle,
or the rated usage is below what the provider charged. The operator releases a held
invoice (it is numbered then, with the next number) or drops it; both are audited.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing.lines import InvoiceAmounts
from core.models import FEE_CALL_TYPE, Customer, Invoice, SyncProfile
from core.totals import active_days, current_totals, cycle_of, cycle_subscriptions

DEFAULT_PERCENT = Decimal("50")


def review_reasons(session: Session, customer: Customer, cycle_start: date, amounts: InvoiceAmounts,
                   percent: Decimal = DEFAULT_PERCENT) -> list[str]:
    """Why the customer-cycle's invoice must wait for an operator (empty: issue it)."""
    reasons: list[str] = []
    if amounts.total < 0:
        reasons.append(f"negative total € {amounts.total}")
    previous = _previous_invoice(session, customer, cycle_start)
    if previous is not None and previous.total > 0:
        change = (amounts.total - previous.total) * 100 / previous.total
        if abs(change) > percent:
            shown = abs(change).quantize(Decimal(1), ROUND_HALF_UP)
            direction = "above" if change > 0 else "below"
            reasons.append(f"total € {amounts.total} is {shown} % {direction} the previous invoice "
                           f"{previous.number} (€ {previous.total.quantize(Decimal('0.01'))}); "
                           f"limit {format(percent.normalize(), 'f')} %")
    rows = current_totals(session, customer.id, cycle_start)
    usage = [r for r in rows if r.call_type != FEE_CALL_TYPE]
    rated = sum((r.rated_amount for r in usage), Decimal(0))
    cost = sum((r.provider_cost for r in usage), Decimal(0))
    if rated < cost:
        reasons.append(f"rated usage € {rated} below provider cost € {cost}")
    silent = _silent_subscriptions(session, customer, cycle_start, {r.subscription_id for r in usage})
    if silent:
        reasons.append("no usage at all on " + ", ".join(silent))
    return reasons


def _previous_invoice(session: Session, customer: Customer, cycle_start: date) -> Invoice | None:
    credited = (select(Invoice.credited_invoice_id)
                .where(Invoice.kind == "credit_note", Invoice.credited_invoice_id.is_not(None)))
    return session.scalars(
        select(Invoice).where(Invoice.customer_id == customer.id, Invoice.kind == "invoice",
                              Invoice.status == "final", Invoice.cycle_start_date < cycle_start,
                              Invoice.test_mode == customer.test_mode, Invoice.id.not_in(credited))
        .order_by(Invoice.cycle_start_date.desc(), Invoice.id.desc())).first()


def _silent_subscriptions(session: Session, customer: Customer, cycle_start: date,
                          with_usage: set[int]) -> list[str]:
    """Numbers active the whole cycle without any usage, for a customer synced from a provider."""
    synced = session.scalars(select(SyncProfile.id).where(SyncProfile.customer_id == customer.id,
                                                          SyncProfile.active.is_(True)).limit(1)).first()
    if synced is None:
        return []  # usage is entered by hand (or there is none to expect): fees alone are normal
    cycle = cycle_of(customer, cycle_start)
    return sorted(sub.number for sub in cycle_subscriptions(session, customer.id, cycle)
                  if sub.id not in with_usage and active_days(sub, cycle) >= cycle.days)
