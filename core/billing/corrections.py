"""Invoiced cycles: marked, and recalculations that change them become pending corrections.

A recalculation never issues anything by itself. When the totals of an invoiced cycle
change after its invoice was issued, the invoice the totals would give now differs
from the one issued: that difference is a pending correction, listed until an
operator issues it as a credit note of the old invoice plus a new invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing.invoices import (
    CREDIT_NOTE,
    FINAL,
    INVOICE,
    InvoiceError,
    credit_in,
    cycle_amounts,
    find_invoice,
    issue_in,
    standing_invoice,
)
from core.config import Settings
from core.db import Database
from core.models import Customer, CustomerStatus, Invoice


def invoiced_as(session: Session, customer_id: int, cycle_start: date) -> str | None:
    """The number of the customer-cycle's final invoice that stands ("2026-00012"), if any."""
    invoice = standing_invoice(session, customer_id, cycle_start)
    return invoice.number if invoice is not None and invoice.status == FINAL else None


@dataclass(frozen=True)
class PendingCorrection:
    invoice_id: int
    number: str
    customer_code: str
    cycle_start_date: date
    invoiced_total: Decimal
    current_total: Decimal

    @property
    def difference(self) -> Decimal:
        return self.current_total - self.invoiced_total


def pending_corrections(db: Database, settings: Settings | None, *,
                        customer_id: int | None = None) -> list[PendingCorrection]:
    """Final invoices whose cycle's totals were recalculated since and now give another total."""
    credited = (select(Invoice.credited_invoice_id)
                .where(Invoice.kind == CREDIT_NOTE, Invoice.credited_invoice_id.is_not(None)))
    query = (select(Invoice, Customer)
             .join(Customer, Customer.id == Invoice.customer_id)
             .join(CustomerStatus, (CustomerStatus.customer_id == Invoice.customer_id)
                   & (CustomerStatus.cycle_start_date == Invoice.cycle_start_date))
             .where(Invoice.kind == INVOICE, Invoice.status == FINAL, Invoice.id.not_in(credited),
                    CustomerStatus.last_totals_at > Invoice.finalized_at)
             .order_by(Customer.code, Invoice.cycle_start_date))
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    found = []
    with db.reader() as session:
        for invoice, customer in session.execute(query).all():
            assert invoice.cycle_start_date is not None and invoice.number is not None
            now = cycle_amounts(session, customer, invoice.cycle_start_date, settings).total
            if now != invoice.total:
                found.append(PendingCorrection(invoice.id, invoice.number, customer.code,
                                               invoice.cycle_start_date, invoice.total, now))
    return found


def issue_correction(db: Database, number: str, *, reason: str, operator: str, issue_date: date,
                     settings: Settings) -> tuple[str, str | None]:
    """Credit the invoice `number` and invoice its cycle again from the current totals.

    One transaction: the credit note and the new invoice are numbered together or not at
    all. Returns (credit note number, new invoice number or None when the new invoice
    is held for review or has nothing to invoice).
    """
    from core.security import audit, roles

    if not reason.strip():
        raise InvoiceError("a correction needs a reason")
    with db.transaction() as session:
        roles.require(session, operator, roles.Action.INVOICE_CORRECT, target=number)
        original = find_invoice(session, number, settings.issuer.code)
        if original.kind != INVOICE or original.status != FINAL or original.cycle_start_date is None:
            raise InvoiceError(f"{number}: only a final cycle invoice can be corrected")
        note = credit_in(session, original.id, reason=reason.strip(), issue_date=issue_date, settings=settings)
        outcome = issue_in(session, original.customer_id, original.cycle_start_date, issue_date=issue_date,
                           settings=settings)
        assert note.number is not None
        audit.record(session, operator=operator, action=roles.Action.INVOICE_CORRECT,
                     target=f"{number} -> {note.number} + {outcome.number or outcome.outcome}",
                     detail=reason.strip())
        return note.number, outcome.number
