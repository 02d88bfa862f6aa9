"""The accountant's revenue export: one CSV row per invoice and credit note of a year.

Derived entirely from the stored documents and payments, so the file can be
deleted and written again at any time (seed 004). Test-mode documents have no
fiscal value and are not in it; batch invoices are added on request.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from core.billing.invoices import CREDIT_NOTE, FINAL
from core.billing.lines import round_cents
from core.billing.payments import invoice_balances
from core.db import Database
from core.exports.csv_writer import write_csv
from core.models import Customer, Invoice, Payment
from core.models.billing import BatchInvoice

REVENUE_COLUMNS: tuple[str, ...] = (
    "number", "date", "due_date", "kind", "customer_code", "customer_name", "vat_number",
    "reverse_charge", "net", "vat_rate", "vat", "total", "paid", "status", "credited_invoice",
)


def revenue_rows(db: Database, year: int, *, today: date,
                 include_batch: bool = False) -> Iterator[Sequence[object]]:
    """Rows for REVENUE_COLUMNS, in number order; amounts in cents."""
    with db.reader() as session:
        status_of = {b.invoice_id: b for b in invoice_balances(session, today, year=None)}
        paid_by_document = dict(session.execute(
            select(Payment.invoice_id, func.sum(Payment.amount)).where(Payment.invoice_id.is_not(None))
            .group_by(Payment.invoice_id)).all())
        numbers = dict(session.execute(select(Invoice.id, Invoice.number)
                                       .where(Invoice.status == FINAL)).all())
        documents = session.execute(
            select(Invoice, Customer.code, Customer.name, Customer.vat_number)
            .join(Customer, Customer.id == Invoice.customer_id)
            .where(Invoice.status == FINAL, Invoice.test_mode.is_(False), Invoice.year == year)
            .order_by(Invoice.seq)).all()
        for invoice, code, name, vat_number in documents:
            paid = round_cents(Decimal(paid_by_document.get(invoice.id) or 0))
            if invoice.kind == CREDIT_NOTE:
                status, credited = "credit_note", numbers.get(invoice.credited_invoice_id or 0)
            else:
                balance = status_of.get(invoice.id)
                status, credited = (balance.status if balance else "unpaid"), None
            yield (invoice.number, invoice.issue_date, invoice.due_date, invoice.kind, code, name,
                   vat_number or "", invoice.reverse_charge, round_cents(invoice.subtotal),
                   invoice.vat_rate.normalize(), round_cents(invoice.vat), round_cents(invoice.total),
                   paid, status, credited or "")
        if include_batch:
            for batch in session.scalars(select(BatchInvoice).where(BatchInvoice.year == year)
                                         .order_by(BatchInvoice.seq)):
                yield (batch.number, batch.issue_date, None, "batch", batch.client_id, batch.client_name,
                       "", batch.reverse_charge, round_cents(batch.subtotal), batch.vat_rate.normalize(),
                       round_cents(batch.vat), round_cents(batch.total), None, "not tracked", "")


def export_revenues(db: Database, year: int, path: Path, *, today: date, include_batch: bool = False) -> int:
    """Write the year's revenue CSV (atomically); returns the number of rows."""
    return write_csv(path, REVENUE_COLUMNS, revenue_rows(db, year, today=today, include_batch=include_batch),
                     escape_formulas=True)
