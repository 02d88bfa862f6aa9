"""Customer credit: what a customer paid beyond their invoices, applied or refunded.

An overpayment, or a credit note on an invoice that was (partly) paid, leaves the
customer money to get back. That credit is not a stored figure but follows from the
documents: per invoice (with its credit note) what was paid beyond its total, summed,
less the credit applied to later invoices and the credit refunded (`customer_credit`
rows). A new invoice takes what credit there is when it is issued (up to its total);
an operator marks the rest refunded. Both movements are audited.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import Database
from core.models import Customer, CustomerCredit

ZERO = Decimal("0.00")
APPLIED, REFUNDED = "applied", "refunded"


@dataclass
class CreditMovements:
    applied_to: dict[int, Decimal] = field(default_factory=dict)  # invoice id -> credit that paid it
    applied: Decimal = ZERO
    refunded: Decimal = ZERO


def movements(session: Session, customer_ids: Iterable[int] | None = None) -> dict[int, CreditMovements]:
    """The credit applied and refunded per customer."""
    query = select(CustomerCredit.customer_id, CustomerCredit.kind, CustomerCredit.amount,
                   CustomerCredit.invoice_id)
    if customer_ids is not None:
        query = query.where(CustomerCredit.customer_id.in_(list(customer_ids)))
    found: dict[int, CreditMovements] = defaultdict(CreditMovements)
    for customer_id, kind, amount, invoice_id in session.execute(query):
        moved = found[int(customer_id)]
        if kind == APPLIED:
            moved.applied += amount
            if invoice_id is not None:
                moved.applied_to[int(invoice_id)] = moved.applied_to.get(int(invoice_id), ZERO) + amount
        else:
            moved.refunded += amount
    return found


def available_credit(overpaid: Decimal, moved: CreditMovements) -> Decimal:
    """Credit left: paid beyond the invoices' totals, less what was applied or refunded."""
    return max(ZERO, overpaid - moved.applied - moved.refunded)


def customer_credit(session: Session, customer_id: int) -> Decimal:
    from core.billing.payments import invoice_balances

    overpaid = sum((max(ZERO, b.paid - b.total) for b in invoice_balances(session, date.max,
                                                                           customer_id=customer_id)), ZERO)
    return available_credit(overpaid, movements(session, [customer_id]).get(customer_id, CreditMovements()))


def credit_applied_to(session: Session, invoice_id: int) -> Decimal:
    """The customer credit that paid (part of) an invoice when it was issued."""
    from sqlalchemy import func

    applied = session.scalar(select(func.sum(CustomerCredit.amount)).where(
        CustomerCredit.invoice_id == invoice_id, CustomerCredit.kind == APPLIED))
    return ZERO if applied is None else Decimal(applied).quantize(Decimal("0.01"))


def credit_to_apply(session: Session, customer: Customer, total: Decimal) -> Decimal:
    """What a new invoice of `total` would take from the customer's credit (none in test mode)."""
    if customer.test_mode or total <= 0:
        return ZERO
    return min(customer_credit(session, customer.id), total)


def apply_credit_in(session: Session, customer_id: int, invoice_id: int, total: Decimal) -> Decimal:
    """Pay a newly issued invoice from the customer's credit, as far as it goes; the amount applied."""
    from core.security import audit
    from core.security.roles import Action

    if total <= 0:
        return ZERO
    amount = min(customer_credit(session, customer_id), total)
    if amount <= 0:
        return ZERO
    session.add(CustomerCredit(customer_id=customer_id, kind=APPLIED, amount=amount, invoice_id=invoice_id))
    audit.record(session, operator="system", action=Action.CREDIT_APPLY, target=str(invoice_id),
                 detail=f"customer {customer_id}: € {amount} of credit applied")
    session.flush()
    return amount


def refund_credit(db: Database, customer_code: str, *, operator: str, note: str,
                  amount: Decimal | None = None) -> Decimal:
    """Mark (part of) a customer's credit refunded; returns the amount (role-checked, audited)."""
    from core.billing.invoices import InvoiceError
    from core.lookup import customer_by_code
    from core.security import audit, roles

    with db.transaction() as session:
        roles.require(session, operator, roles.Action.CREDIT_REFUND, target=customer_code)
        customer: Customer = customer_by_code(session, customer_code)
        session.scalars(select(Customer).where(Customer.id == customer.id).with_for_update()).one()
        credit = customer_credit(session, customer.id)
        refund = credit if amount is None else amount
        if refund <= 0 or refund > credit:
            raise InvoiceError(f"{customer_code}: cannot refund € {refund}; credit is € {credit}")
        session.add(CustomerCredit(customer_id=customer.id, kind=REFUNDED, amount=refund, operator=operator,
                                   note=note))
        audit.record(session, operator=operator, action=roles.Action.CREDIT_REFUND, target=customer_code,
                     detail=f"€ {refund} refunded: {note}")
        return refund
