"""Payments from the bank's CSV, matched to invoices, and the balances they give.

Import: every good row is stored once, keyed by its fingerprint (UNIQUE), so a file
imported twice applies each payment once; it is matched to the invoice whose number
its reference names (`extract_invoice_number`), or kept unmatched for an operator.
Bad rows are reported with their line numbers and never hold back good ones.

Balances are computed from the documents themselves: an invoice together with the
credit note correcting it, less the payments matched to either. Test-mode documents
have no fiscal value and are left out. `update_balances` writes the result to the
revenue ledger, the per-customer snapshot the console and the scheduler read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.billing import credit
from core.billing.invoices import CREDIT_NOTE, FINAL, INVOICE, InvoiceError, find_invoice
from core.billing.lines import round_cents
from core.billing.payments_csv import (
    PaymentRow,
    PaymentRowError,
    extract_invoice_number,
    parse_payments_csv,
)
from core.clock import Clock, local_date, system_clock
from core.config import Settings
from core.db import Database
from core.models import Customer, Invoice, Payment, RevenueLedger

if TYPE_CHECKING:
    from core.bus.deps import JobRuntime

ZERO = Decimal("0.00")
Status = Literal["paid", "partial", "unpaid", "overdue", "credited", "credit"]


# -- import ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportedPayment:
    line: int
    paid_on: date
    amount: Decimal
    reference: str
    counterparty: str
    invoice_number: str | None  # the invoice it was matched to


@dataclass
class PaymentImport:
    applied: list[ImportedPayment] = field(default_factory=list)
    unmatched: list[ImportedPayment] = field(default_factory=list)
    duplicates: int = 0  # rows imported before (same fingerprint): not applied again
    errors: list[PaymentRowError] = field(default_factory=list)


def import_payments(db: Database, path: Path, *, settings: Settings, operator: str,
                    today: date | None = None, clock: Clock = system_clock) -> PaymentImport:
    """Store and match the file's payments (each once, ever); then update the balances."""
    from core.security import audit, roles

    roles.authorize(db, operator, roles.Action.PAYMENTS_IMPORT, target=path.name)
    result = PaymentImport()
    rows: list[PaymentRow] = []
    for parsed in parse_payments_csv(path):
        if isinstance(parsed, PaymentRowError):
            result.errors.append(parsed)
        elif parsed.amount == 0:
            result.errors.append(PaymentRowError(parsed.line, "amount is zero", parsed.reference))
        else:
            rows.append(parsed)
    with db.transaction() as session:
        known = _known_fingerprints(session, [r.fingerprint for r in rows])
        invoices = _invoices_by_number(session, settings.issuer.code,
                                       {extract_invoice_number(r.reference) for r in rows})
        for row in rows:
            if row.fingerprint in known:
                result.duplicates += 1
                continue
            number = extract_invoice_number(row.reference)
            invoice_id = invoices.get(number) if number else None
            try:
                with session.begin_nested():
                    session.add(Payment(fingerprint=row.fingerprint, paid_on=row.paid_on, amount=row.amount,
                                        reference=row.reference[:255], counterparty=row.counterparty[:200],
                                        invoice_id=invoice_id))
            except IntegrityError:  # a concurrent import of the same file stored it first
                result.duplicates += 1
                continue
            known.add(row.fingerprint)
            imported = ImportedPayment(row.line, row.paid_on, row.amount, row.reference, row.counterparty,
                                       number if invoice_id else None)
            (result.applied if invoice_id else result.unmatched).append(imported)
        audit.record(session, operator=operator, action=roles.Action.PAYMENTS_IMPORT, target=path.name,
                     detail=f"{len(result.applied)} matched, {len(result.unmatched)} unmatched, "
                            f"{result.duplicates} already imported, {len(result.errors)} bad row(s)")
    update_balances(db, today=today or local_date(settings.time_zone, clock), clock=clock)
    return result


def _known_fingerprints(session: Session, fingerprints: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for i in range(0, len(fingerprints), 500):
        chunk = fingerprints[i:i + 500]
        known.update(session.scalars(select(Payment.fingerprint).where(Payment.fingerprint.in_(chunk))))
    return known


def _invoices_by_number(session: Session, issuer: str, numbers: set[str | None]) -> dict[str, int]:
    wanted = sorted(n for n in numbers if n)
    found: dict[str, int] = {}
    for i in range(0, len(wanted), 500):
        for number, invoice_id in session.execute(
                select(Invoice.number, Invoice.id).where(Invoice.issuer == issuer, Invoice.status == FINAL,
                                                         Invoice.number.in_(wanted[i:i + 500]))):
            found[str(number)] = int(invoice_id)
    return found


def match_payment(db: Database, payment_id: int, number: str, *, settings: Settings,
                  operator: str, today: date | None = None, clock: Clock = system_clock) -> None:
    """Match a stored payment to an invoice by hand (a reference the matcher could not read)."""
    from core.security import audit, roles

    with db.transaction() as session:
        roles.require(session, operator, roles.Action.PAYMENTS_MATCH, target=f"payment {payment_id}")
        payment = session.get(Payment, payment_id)
        if payment is None:
            raise InvoiceError(f"no payment with id {payment_id}")
        invoice = find_invoice(session, number, settings.issuer.code)
        if invoice.status != FINAL:
            raise InvoiceError(f"{number} is not a final invoice")
        payment.invoice_id = invoice.id
        audit.record(session, operator=operator, action=roles.Action.PAYMENTS_MATCH,
                     target=f"payment {payment_id} -> {invoice.number}")
    update_balances(db, today=today or local_date(settings.time_zone, clock), clock=clock)


@dataclass(frozen=True)
class PaymentSummary:
    id: int
    paid_on: date
    amount: Decimal
    reference: str
    counterparty: str
    invoice_number: str | None


def list_payments(db: Database, *, unmatched_only: bool = False, limit: int = 200,
                  offset: int = 0) -> list[PaymentSummary]:
    query = (select(Payment.id, Payment.paid_on, Payment.amount, Payment.reference, Payment.counterparty,
                    Invoice.number).outerjoin(Invoice, Invoice.id == Payment.invoice_id))
    if unmatched_only:
        query = query.where(Payment.invoice_id.is_(None))
    query = query.order_by(Payment.paid_on.desc(), Payment.id.desc()).limit(limit).offset(offset)
    with db.reader() as session:
        return [PaymentSummary(int(i), d, a, r, c, n) for i, d, a, r, c, n in session.execute(query)]


# -- balances ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class InvoiceBalance:
    """An invoice with the credit note correcting it (if any) and the payments on both."""

    invoice_id: int
    number: str
    customer_id: int
    issue_date: date
    due_date: date
    total: Decimal  # the invoice plus its credit note
    paid: Decimal
    open: Decimal
    status: Status


@dataclass(frozen=True)
class CustomerBalance:
    customer_id: int
    customer_code: str
    customer_name: str
    invoices: int
    invoiced: Decimal
    paid: Decimal
    open: Decimal
    status: Status
    overdue: Decimal  # the part of `open` that is past its due date
    credit: Decimal = ZERO  # paid beyond the invoices, not applied or refunded yet: owed back


def invoice_status(total: Decimal, paid: Decimal, due_date: date, today: date, credited: bool) -> Status:
    open_amount = total - paid
    if credited and total == 0 and paid == 0:
        return "credited"
    if open_amount <= 0:
        return "paid"
    if due_date < today:
        return "overdue"
    return "partial" if paid > 0 else "unpaid"


def invoice_balances(session: Session, today: date, *, customer_id: int | None = None,
                     year: int | None = None) -> list[InvoiceBalance]:
    """Per final live invoice: its total with credit notes, what was paid, open, status."""
    query = select(Invoice.id, Invoice.kind, Invoice.number, Invoice.customer_id, Invoice.issue_date,
                   Invoice.due_date, Invoice.total, Invoice.credited_invoice_id).where(
        Invoice.status == FINAL, Invoice.test_mode.is_(False))
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    documents = session.execute(query.order_by(Invoice.id)).all()
    paid_by_document: dict[int, Decimal] = dict(session.execute(
        select(Payment.invoice_id, func.sum(Payment.amount)).where(Payment.invoice_id.is_not(None))
        .group_by(Payment.invoice_id)).all())  # type: ignore[arg-type]
    for moved in credit.movements(session, None if customer_id is None else [customer_id]).values():
        for invoice_id, amount in moved.applied_to.items():  # credit applied pays the invoice too
            paid_by_document[invoice_id] = Decimal(paid_by_document.get(invoice_id) or 0) + amount
    credit_total: dict[int, Decimal] = defaultdict(Decimal)
    credit_paid: dict[int, Decimal] = defaultdict(Decimal)
    for doc_id, kind, _n, _c, _i, _d, total, credited_id in documents:
        if kind == CREDIT_NOTE and credited_id is not None:
            credit_total[credited_id] += total
            credit_paid[credited_id] += Decimal(paid_by_document.get(doc_id) or 0)
    balances = []
    for doc_id, kind, number, customer, issued, due, total, _credited in documents:
        if kind != INVOICE or number is None or issued is None or due is None:
            continue
        if year is not None and issued.year != year:
            continue
        group_total = round_cents(total + credit_total.get(doc_id, ZERO))
        paid = round_cents(Decimal(paid_by_document.get(doc_id) or 0) + credit_paid.get(doc_id, ZERO))
        status = invoice_status(group_total, paid, due, today, doc_id in credit_total)
        balances.append(InvoiceBalance(doc_id, number, customer, issued, due, group_total, paid,
                                       group_total - paid, status))
    return balances


def customer_balances(db: Database, today: date, *, customer_id: int | None = None) -> list[CustomerBalance]:
    with db.reader() as session:
        return _customer_balances(session, today, customer_id)


def _customer_balances(session: Session, today: date, customer_id: int | None) -> list[CustomerBalance]:
    per_customer: dict[int, list[InvoiceBalance]] = defaultdict(list)
    for balance in invoice_balances(session, today, customer_id=customer_id):
        per_customer[balance.customer_id].append(balance)
    names = {cid: (code, name) for cid, code, name in session.execute(
        select(Customer.id, Customer.code, Customer.name).where(Customer.id.in_(per_customer)))}
    moved = credit.movements(session, list(per_customer))
    result = []
    for cid in sorted(per_customer, key=lambda c: names[c][0]):
        items = per_customer[cid]
        mine = moved.get(cid, credit.CreditMovements())
        invoiced = sum((b.total for b in items), ZERO)
        overpaid = sum((max(ZERO, b.paid - b.total) for b in items), ZERO)
        # applied credit moves money between invoices; a refund gives it back
        paid = sum((b.paid for b in items), ZERO) - mine.applied - mine.refunded
        overdue = sum((b.open for b in items if b.status == "overdue"), ZERO)
        open_amount = invoiced - paid
        status: Status
        if open_amount < 0:
            status = "credit"
        elif open_amount == 0:
            status = "paid"
        elif overdue > 0:
            status = "overdue"
        else:
            status = "partial" if paid > 0 else "unpaid"
        code, name = names[cid]
        result.append(CustomerBalance(cid, code, name, sum(1 for b in items if b.total or b.paid),
                                      invoiced, paid, open_amount, status, overdue,
                                      credit.available_credit(overpaid, mine)))
    return result


def update_balances(db: Database, *, today: date, clock: Clock = system_clock) -> list[CustomerBalance]:
    """Recompute every customer's balance and store it in the revenue ledger.

    The ledger rows are locked before the documents are read, so an invoice
    finalized meanwhile is either counted here or adds itself after this commits.
    """
    with db.transaction() as session:
        customers = list(session.scalars(select(Invoice.customer_id).where(
            Invoice.status == FINAL, Invoice.test_mode.is_(False)).distinct()))
        existing = set(session.scalars(select(RevenueLedger.customer_id)))
        for customer_id in sorted(set(customers) - existing):
            try:
                with session.begin_nested():
                    session.add(RevenueLedger(customer_id=customer_id, invoiced_total=ZERO, paid_total=ZERO,
                                              invoice_count=0, status="unpaid"))
            except IntegrityError:
                pass  # a finalize created it meanwhile
        session.execute(select(RevenueLedger.customer_id).order_by(RevenueLedger.customer_id).with_for_update())
        balances = _customer_balances(session, today, None)
        now = clock()
        for balance in balances:
            session.execute(update(RevenueLedger).where(RevenueLedger.customer_id == balance.customer_id)
                            .values(invoiced_total=balance.invoiced, paid_total=balance.paid,
                                    invoice_count=balance.invoices, status=balance.status, updated_at=now)
                            .execution_options(synchronize_session=False))
    return balances


def balance_update_job(runtime: JobRuntime, fire_time: datetime) -> str:
    """Scheduler job: recompute balances (statuses turn overdue as due dates pass)."""
    from core.billing.mail import local_today

    balances = update_balances(runtime.db, today=local_today(runtime.settings, fire_time))
    overdue = sum(1 for b in balances if b.status == "overdue")
    return f"updated {len(balances)} customer balance(s); {overdue} overdue"
