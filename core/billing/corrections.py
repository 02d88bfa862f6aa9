"""Invoiced cycles: marked, and recalculations that change them become pending corrections.

A recalculation never issues anything by itself. When the totals of an invoiced cycle
change after its invoice was issued, the invoice the totals would give now differs
from the one issued: that difference is a pending correction, listed until an
operator issues it as a credit note of the old invoice plus a new invoice, or, with
the setting `invoice_corrections = "next_invoice"`, until the customer's next invoice
carries it as a line (net difference, VAT of the next invoice). A carried correction is
recorded (`invoice_correction`) with the invoice carrying it and counts while that
invoice stands: dropped or credited, the correction is pending again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, aliased

from core.billing.i18n import t
from core.billing.invoices import (
    CREDIT_NOTE,
    DRAFT,
    FINAL,
    INVOICE,
    REVIEW,
    InvoiceError,
    credit_in,
    cycle_amounts,
    find_invoice,
    issue_in,
    period_label,
    standing_invoice,
)
from core.billing.lines import InvoiceLine
from core.config import Settings
from core.db import Database
from core.models import Customer, CustomerStatus, Invoice, InvoiceCorrection
from core.totals import cycle_of

NEXT_INVOICE = "next_invoice"  # the setting invoice_corrections: a correction line on the next invoice
ZERO = Decimal("0.00")


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
    carried: Decimal = ZERO  # net corrections already carried on later invoices

    @property
    def difference(self) -> Decimal:
        return self.current_total - self.invoiced_total


def _changed_invoices(session: Session, customer_id: int | None = None) -> list[tuple[Invoice, Customer]]:
    """Final invoices, not credited, whose cycle's totals were recalculated after they were issued."""
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
    return [(invoice, customer) for invoice, customer in session.execute(query).all()]


def carried(session: Session, customer_id: int, *, on: bool = False,
            except_on: int | None = None) -> dict[int, Decimal]:
    """Corrections carried per corrected invoice (or, `on`, per carrying invoice), where the carrier stands."""
    carrier = aliased(Invoice)
    credited = (select(Invoice.credited_invoice_id)
                .where(Invoice.kind == CREDIT_NOTE, Invoice.credited_invoice_id.is_not(None)))
    by = InvoiceCorrection.carried_on_id if on else InvoiceCorrection.invoice_id
    query = (select(by, func.sum(InvoiceCorrection.amount))
             .join(carrier, carrier.id == InvoiceCorrection.carried_on_id)
             .where(carrier.customer_id == customer_id, carrier.status.in_((DRAFT, REVIEW, FINAL)),
                    carrier.id.not_in(credited))
             .group_by(by))
    if except_on is not None:
        query = query.where(carrier.id != except_on)
    return {int(invoice_id): Decimal(amount) for invoice_id, amount in session.execute(query)}


def _outstanding(session: Session, invoice: Invoice, customer: Customer, settings: Settings | None,
                 carried_of: dict[int, Decimal], carried_on: dict[int, Decimal]) -> tuple[Decimal, Decimal]:
    """(current total, net difference not yet invoiced or carried) of an invoiced cycle."""
    assert invoice.cycle_start_date is not None
    now = cycle_amounts(session, customer, invoice.cycle_start_date, settings)
    own_subtotal = invoice.subtotal - carried_on.get(invoice.id, ZERO)  # without the corrections it carries
    return now.total, now.subtotal - own_subtotal - carried_of.get(invoice.id, ZERO)


@dataclass(frozen=True)
class Carry:
    """A pending correction as a line of the customer's next invoice (net difference)."""

    invoice_id: int
    number: str
    period: str
    amount: Decimal

    def line(self, language: str) -> InvoiceLine:
        return InvoiceLine(t("line_correction", language).format(number=self.number, period=self.period),
                           Decimal(1), "", self.amount, self.amount)


def pending_carries(session: Session, customer: Customer, cycle_start: date, settings: Settings | None,
                    *, carrier_id: int | None = None) -> list[Carry]:
    """The corrections an invoice of `cycle_start` carries (earlier cycles' pending differences).

    `carrier_id` is that invoice when it exists: what it carries already is counted as not
    carried, so refreshing it gives the same lines.
    """
    carried_of = carried(session, customer.id, except_on=carrier_id)
    carried_on = carried(session, customer.id, on=True)
    language = "en" if customer.language == "en" else "nl"
    carries = []
    for invoice, _ in _changed_invoices(session, customer.id):
        if invoice.cycle_start_date is None or invoice.cycle_start_date >= cycle_start:
            continue
        _, outstanding = _outstanding(session, invoice, customer, settings, carried_of, carried_on)
        if outstanding:
            assert invoice.number is not None
            carries.append(Carry(invoice.id, invoice.number,
                                 period_label(cycle_of(customer, invoice.cycle_start_date), language),
                                 outstanding))
    return carries


def record_carries(session: Session, invoice: Invoice, carries: list[Carry]) -> None:
    """What `invoice` carries, replacing what it carried before (a refreshed draft)."""
    session.execute(delete(InvoiceCorrection).where(InvoiceCorrection.carried_on_id == invoice.id))
    if carries:
        session.execute(insert(InvoiceCorrection), [
            {"invoice_id": c.invoice_id, "carried_on_id": invoice.id, "amount": c.amount} for c in carries])


def audit_carries(session: Session, invoice: Invoice) -> None:
    """Audit each correction an invoice carries, when it is numbered."""
    from core.security import audit
    from core.security.roles import Action

    rows = session.execute(select(Invoice.number, InvoiceCorrection.amount)
                           .join(Invoice, Invoice.id == InvoiceCorrection.invoice_id)
                           .where(InvoiceCorrection.carried_on_id == invoice.id)).all()
    for number, amount in rows:
        audit.record(session, operator="system", action=Action.INVOICE_CARRY, target=f"{number} -> {invoice.number}",
                     detail=f"€ {amount} (net) carried as a correction line")


def pending_corrections(db: Database, settings: Settings | None, *,
                        customer_id: int | None = None) -> list[PendingCorrection]:
    """Final invoices whose cycle's totals were recalculated since and now give another total.

    What was carried on later invoices counts as invoiced.
    """
    found = []
    with db.reader() as session:
        carried_by_customer: dict[int, tuple[dict[int, Decimal], dict[int, Decimal]]] = {}
        for invoice, customer in _changed_invoices(session, customer_id):
            assert invoice.cycle_start_date is not None and invoice.number is not None
            if customer.id not in carried_by_customer:
                carried_by_customer[customer.id] = (carried(session, customer.id),
                                                    carried(session, customer.id, on=True))
            carried_of, carried_on = carried_by_customer[customer.id]
            total, outstanding = _outstanding(session, invoice, customer, settings, carried_of, carried_on)
            involved = invoice.id in carried_of or invoice.id in carried_on
            if outstanding or (not involved and total != invoice.total):
                found.append(PendingCorrection(invoice.id, invoice.number, customer.code,
                                               invoice.cycle_start_date, invoice.total, total,
                                               carried_of.get(invoice.id, ZERO)))
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
        if original.id in carried(session, original.customer_id):  # crediting it would bill them twice
            raise InvoiceError(f"{number}: its corrections are carried as lines on later invoices; "
                               "the next invoice carries what is still pending")
        note = credit_in(session, original.id, reason=reason.strip(), issue_date=issue_date, settings=settings)
        outcome = issue_in(session, original.customer_id, original.cycle_start_date, issue_date=issue_date,
                           settings=settings)
        assert note.number is not None
        audit.record(session, operator=operator, action=roles.Action.INVOICE_CORRECT,
                     target=f"{number} -> {note.number} + {outcome.number or outcome.outcome}",
                     detail=reason.strip())
        return note.number, outcome.number
