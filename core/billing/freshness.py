"""Invoices from fresh totals: bring a customer-cycle's totals up to date before invoicing.

Totals are computed when a sync or an operator asks for them; CDRs imported without
`--totals`, corrections, subscription changes and price changes after that leave them
stale. Rather than trusting timestamps from many writers, the invoice rates and
aggregates the cycle again in its own transaction with the same code a recalculation
uses, and replaces the totals (previous version to history) only when they differ.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Cdr, CustomerStatus
from core.totals import (
    calculate_totals,
    compute_totals,
    current_totals,
    cycle_of,
    cycle_subscriptions,
    diff_totals,
    get_customer,
    rate_cycle,
)


def refresh_totals(session: Session, customer_id: int, cycle_start: date) -> bool:
    """Recalculate the customer-cycle's totals in `session` when they are stale; True if they were.

    Stale: no totals yet (a fee-only customer), or totals that a recalculation now would
    change. Totals without any CDR or status row were loaded from elsewhere (a migration
    from the old system) and are taken as they are.
    """
    customer = get_customer(session, customer_id)
    old = current_totals(session, customer_id, cycle_start)
    status = session.scalars(select(CustomerStatus.id).where(
        CustomerStatus.customer_id == customer_id, CustomerStatus.cycle_start_date == cycle_start)).first()
    if old and status is None and _no_usage(session, customer_id, cycle_start):
        return False
    usage = rate_cycle(session, customer_id, cycle_start).usage if customer.rateplan_customer else None
    fresh = compute_totals(session, customer, cycle_start, usage)
    if not diff_totals(old, fresh):
        return False
    calculate_totals(session, customer_id, cycle_start, cause="invoice run", usage=usage)
    return True


def _no_usage(session: Session, customer_id: int, cycle_start: date) -> bool:
    return session.scalars(select(Cdr.id).where(Cdr.customer_id == customer_id,
                                                Cdr.cycle_start_date == cycle_start).limit(1)).first() is None


def nothing_to_invoice(session: Session, customer_id: int, cycle_start: date) -> str | None:
    """Why the customer-cycle has nothing to invoice, or None when it may have something."""
    customer = get_customer(session, customer_id)
    if cycle_subscriptions(session, customer_id, cycle_of(customer, cycle_start)):
        return None
    if not _no_usage(session, customer_id, cycle_start):
        return None
    return "no subscription active in the cycle and no usage"
