"""Exports, invoices, balances and payments for the console, paged in SQL.

The statuses come from the billing core's own rules (`payments.invoice_status`,
`mail.refusal`); these queries only restrict the work to the page on screen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.billing import credit
from core.billing.dunning import reminder_stages
from core.billing.invoices import CREDIT_NOTE, DROPPED, FINAL, INVOICE, REVIEW, preview_in
from core.billing.lines import round_cents
from core.billing.mail import refusal
from core.billing.payments import ZERO, CustomerBalance, PaymentSummary, Status, invoice_status
from core.config import Settings
from core.db import Database
from core.models import Customer, CustomerCredit, ExportJob, Invoice, MailLog, Payment
from core.models.payments import CollectionBatch, CollectionItem
from core.rating.cycles import cycle_for_label
from core.views.paging import PAGE_SIZE, Page, bounds, fetch_page

# -- customers and exports ---------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerChoice:
    id: int
    code: str
    name: str


def customer_choices(db: Database, *, limit: int = 200) -> list[CustomerChoice]:
    """Active customers by code (for a picker)."""
    _, limit = bounds(0, limit)
    with db.reader() as session:
        return [CustomerChoice(int(i), str(c), str(n)) for i, c, n in session.execute(
            select(Customer.id, Customer.code, Customer.name).where(Customer.active.is_(True))
            .order_by(Customer.code).limit(limit))]


def export_page(db: Database, *, offset: int = 0, limit: int = PAGE_SIZE) -> Page[ExportJobView]:
    """Export jobs, newest first."""
    query = (select(ExportJob, Customer.code).outerjoin(Customer, Customer.id == ExportJob.customer_id)
             .order_by(ExportJob.id.desc()))
    with db.reader() as session:
        total, rows = fetch_page(session, query, offset, limit)
        jobs = [_job_view(job, code) for job, code in rows]
    return Page(jobs, max(0, offset), limit, total)


@dataclass(frozen=True)
class ExportJobView:
    id: int
    kind: str
    customer_code: str | None
    cycle_start_date: date | None
    status: str
    rows: int
    total_rows: int | None
    path: str | None
    error_message: str | None
    requested_by: str
    created_at: datetime
    finished_at: datetime | None



def export_job(db: Database, job_id: int) -> ExportJobView | None:
    with db.reader() as session:
        row = session.execute(select(ExportJob, Customer.code)
                              .outerjoin(Customer, Customer.id == ExportJob.customer_id)
                              .where(ExportJob.id == job_id)).first()
        return _job_view(row[0], row[1]) if row is not None else None


def _job_view(j: ExportJob, code: str | None) -> ExportJobView:
    return ExportJobView(j.id, j.kind, code, j.cycle_start_date, j.status, j.rows, j.total_rows, j.path,
                         j.error_message, j.requested_by, j.created_at, j.finished_at)


_CLASSIFIERS = ("PermanentError: ", "TransientError: ", "retrying: PermanentError: ",
                "retrying: TransientError: ")


def in_words(error: str | None) -> str:
    """An error as the operator should read it: without the bus's retry classification."""
    text = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
    for prefix in _CLASSIFIERS:
        if text.startswith(prefix):
            return ("retrying: " if prefix.startswith("retrying") else "") + text[len(prefix):]
    return text or "no reason recorded"


# -- invoices ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class InvoiceRow:
    id: int
    number: str | None
    kind: str
    customer_code: str
    customer_name: str
    cycle_start_date: date | None
    issue_date: date | None
    due_date: date | None
    total: Decimal  # of this document
    paid: Decimal  # on it and on the credit note correcting it
    open: Decimal
    status: str  # paid/partial/unpaid/overdue/credited, or draft / credit note / test
    note: str | None  # a credit note's reason
    credited_number: str | None  # a credit note: the invoice it corrects
    credit_note_number: str | None  # an invoice: the credit note correcting it
    mail_status: str | None  # sending / sent / failed, for this document's customer-cycle mail
    mailed_at: datetime | None
    payment_method: str = "transfer"  # or direct_debit: the customer's
    dunning_stage: int = 0  # reminders sent: 0 none, 1 reminder, 2 second reminder, 3 formal notice
    collection: str | None = None  # the direct-debit batch (pain.008 message id) collecting it now

    @property
    def creditable(self) -> bool:
        return self.kind == INVOICE and self.number is not None and self.credit_note_number is None \
            and self.status != "draft"


_INVOICE_COLUMNS = (Invoice.id, Invoice.number, Invoice.kind, Invoice.status, Invoice.test_mode,
                    Customer.code, Customer.name, Invoice.cycle_start_date, Invoice.issue_date,
                    Invoice.due_date, Invoice.total, Invoice.credited_invoice_id, Invoice.note,
                    Customer.payment_method)


def invoice_page(db: Database, today: date, *, customer: str = "", offset: int = 0,
                 limit: int = PAGE_SIZE) -> Page[InvoiceRow]:
    """Invoices and credit notes, drafts first, then newest number first; `customer` is a code prefix."""
    query = select(*_INVOICE_COLUMNS).join(Customer, Customer.id == Invoice.customer_id)
    if customer.strip():
        query = query.where(Customer.code.like(customer.strip() + "%"))
    query = query.order_by(Invoice.seq.is_not(None), Invoice.year.desc(), Invoice.test_mode,
                           Invoice.seq.desc(), Invoice.id.desc())
    with db.reader() as session:
        total, rows = fetch_page(session, query, offset, limit)
        ids = [int(r.id) for r in rows]
        credited_ids = [int(r.credited_invoice_id) for r in rows if r.credited_invoice_id is not None]
        notes = session.execute(select(Invoice.id, Invoice.credited_invoice_id, Invoice.number, Invoice.total)
                                .where(Invoice.kind == CREDIT_NOTE, Invoice.status == FINAL,
                                       Invoice.credited_invoice_id.in_(ids))).all() if ids else []
        credit_of = {int(c or 0): (int(i), str(n), t) for i, c, n, t in notes}
        originals = dict(session.execute(select(Invoice.id, Invoice.number)
                                         .where(Invoice.id.in_(credited_ids))).all()) if credited_ids else {}
        paid = _paid(session, [*ids, *(note_id for note_id, _n, _t in credit_of.values())])
        for invoice_id, amount in session.execute(  # customer credit applied pays an invoice too
                select(CustomerCredit.invoice_id, func.sum(CustomerCredit.amount))
                .where(CustomerCredit.kind == credit.APPLIED, CustomerCredit.invoice_id.in_(ids))
                .group_by(CustomerCredit.invoice_id)) if ids else ():
            paid[int(invoice_id or 0)] = paid.get(int(invoice_id or 0), ZERO) + Decimal(amount)
        mails = {int(i or 0): (str(s), at) for i, s, at in session.execute(
            select(MailLog.invoice_id, MailLog.status, MailLog.sent_at).where(MailLog.invoice_id.in_(ids)))} \
            if ids else {}
        stages = reminder_stages(session, ids) if ids else {}
        collections = {int(i or 0): str(m) for i, m in session.execute(
            select(CollectionItem.open_invoice_id, CollectionBatch.message_id)
            .join(CollectionBatch, CollectionBatch.id == CollectionItem.batch_id)
            .where(CollectionItem.open_invoice_id.in_(ids)))} if ids else {}
    result = []
    for r in rows:
        note = credit_of.get(int(r.id))
        group_total = round_cents(r.total + (note[2] if note else ZERO))
        group_paid = round_cents(paid.get(int(r.id), ZERO) + (paid.get(note[0], ZERO) if note else ZERO))
        status: str
        if r.status in (REVIEW, DROPPED):
            status = str(r.status)  # held for review / dropped by an operator
        elif r.status != FINAL:
            status = "draft"
        elif r.kind == CREDIT_NOTE:
            status = "credit note"
        elif r.test_mode:
            status = "test"
        else:
            assert r.due_date is not None
            status = invoice_status(group_total, group_paid, r.due_date, today, note is not None)
        mail = mails.get(int(r.id))
        credited = originals.get(r.credited_invoice_id) if r.credited_invoice_id is not None else None
        result.append(InvoiceRow(int(r.id), r.number, str(r.kind), str(r.code), str(r.name), r.cycle_start_date,
                                 r.issue_date, r.due_date, r.total, group_paid, group_total - group_paid,
                                 status, r.note, credited, note[1] if note else None,
                                 mail[0] if mail else None, mail[1] if mail else None,
                                 str(r.payment_method or "transfer"), stages.get(int(r.id), 0),
                                 collections.get(int(r.id))))
    return Page(result, max(0, offset), limit, total)


def _paid(session: Session, document_ids: Iterable[int]) -> dict[int, Decimal]:
    """What was paid on each document (payments matched to it)."""
    ids = sorted(set(document_ids))
    if not ids:
        return {}
    return {int(i or 0): Decimal(s or 0) for i, s in session.execute(
        select(Payment.invoice_id, func.sum(Payment.amount)).where(Payment.invoice_id.in_(ids))
        .group_by(Payment.invoice_id))}


# -- balances ----------------------------------------------------------------------------------

def balance_page(db: Database, today: date, *, offset: int = 0,
                 limit: int = PAGE_SIZE) -> Page[CustomerBalance]:
    """Customers with final (live) invoices, by code, with what they were invoiced and paid.

    The same figures as `payments.customer_balances`, computed for the customers on the page only.
    """
    query = (select(Customer.id, Customer.code, Customer.name).where(Customer.id.in_(
        select(Invoice.customer_id).where(Invoice.status == FINAL, Invoice.test_mode.is_(False))))
        .order_by(Customer.code))
    with db.reader() as session:
        total, customers = fetch_page(session, query, offset, limit)
        ids = [int(c[0]) for c in customers]
        documents = session.execute(
            select(Invoice.id, Invoice.kind, Invoice.customer_id, Invoice.number, Invoice.issue_date,
                   Invoice.due_date, Invoice.total, Invoice.credited_invoice_id)
            .where(Invoice.status == FINAL, Invoice.test_mode.is_(False), Invoice.customer_id.in_(ids))
            .order_by(Invoice.id)).all() if ids else []
        paid = _paid(session, [int(d.id) for d in documents])
        moved = credit.movements(session, ids)
    for mine in moved.values():
        for invoice_id, amount in mine.applied_to.items():  # credit applied pays the invoice too
            paid[invoice_id] = paid.get(invoice_id, ZERO) + amount
    credit_total: dict[int, Decimal] = defaultdict(Decimal)
    credit_paid: dict[int, Decimal] = defaultdict(Decimal)
    for d in documents:
        if d.kind == CREDIT_NOTE and d.credited_invoice_id is not None:
            credit_total[d.credited_invoice_id] += d.total
            credit_paid[d.credited_invoice_id] += paid.get(int(d.id), ZERO)
    per_customer: dict[int, list[tuple[Decimal, Decimal, Status]]] = defaultdict(list)
    for d in documents:
        if d.kind != INVOICE or d.number is None or d.issue_date is None or d.due_date is None:
            continue
        group_total = round_cents(d.total + credit_total.get(d.id, ZERO))
        group_paid = round_cents(paid.get(int(d.id), ZERO) + credit_paid.get(d.id, ZERO))
        per_customer[int(d.customer_id)].append(
            (group_total, group_paid, invoice_status(group_total, group_paid, d.due_date, today,
                                                     d.id in credit_total)))
    rows = []
    for customer_id, code, name in customers:
        items = per_customer.get(int(customer_id), [])
        mine = moved.get(int(customer_id), credit.CreditMovements())
        invoiced = sum((t for t, _p, _s in items), ZERO)
        overpaid = sum((max(ZERO, p - t) for t, p, _s in items), ZERO)
        paid_total = sum((p for _t, p, _s in items), ZERO) - mine.applied - mine.refunded
        overdue = sum((t - p for t, p, s in items if s == "overdue"), ZERO)
        open_amount = invoiced - paid_total
        status: Status = ("credit" if open_amount < 0 else "paid" if open_amount == 0 else "overdue"
                          if overdue > 0 else "partial" if paid_total > 0 else "unpaid")
        rows.append(CustomerBalance(int(customer_id), str(code), str(name), sum(1 for t, p, _s in items if t or p),
                                    invoiced, paid_total, open_amount, status, overdue,
                                    credit.available_credit(overpaid, mine)))
    return Page(rows, max(0, offset), limit, total)


# -- payments ----------------------------------------------------------------------------------

def payment_page(db: Database, *, unmatched_only: bool = False, offset: int = 0,
                 limit: int = PAGE_SIZE) -> Page[PaymentSummary]:
    """Imported payments, newest first, with the invoice each was matched to."""
    query = (select(Payment.id, Payment.paid_on, Payment.amount, Payment.reference, Payment.counterparty,
                    Invoice.number).outerjoin(Invoice, Invoice.id == Payment.invoice_id))
    if unmatched_only:
        query = query.where(Payment.invoice_id.is_(None))
    with db.reader() as session:
        total, rows = fetch_page(session, query.order_by(Payment.paid_on.desc(), Payment.id.desc()),
                                 offset, limit)
    return Page([PaymentSummary(int(i), d, a, str(r), str(c), n) for i, d, a, r, c, n in rows],
                max(0, offset), limit, total)


# -- the cycle run's preview and the mail rules ------------------------------------------------

@dataclass(frozen=True)
class PreviewRow:
    customer_id: int
    customer_code: str
    customer_name: str
    period: str
    lines: int
    subtotal: Decimal
    vat: Decimal
    total: Decimal
    reverse_charge: bool
    test_mode: bool
    standing_number: str | None  # invoiced already: the run skips it
    holds: tuple[str, ...] = ()  # why the run holds the cycle (not complete)
    review: tuple[str, ...] = ()  # why its invoice would wait for review (validation)

    @property
    def to_issue(self) -> bool:
        return self.standing_number is None and self.lines > 0 and not self.holds


def cycle_preview(db: Database, cycle_label: str, settings: Settings | None,
                  now: datetime | None = None) -> list[PreviewRow]:
    """What an invoice run of the cycle would issue per active customer, with its holds.

    Totals are brought up to date as the run would, in a transaction that is rolled back.
    """
    cycle_for_label(cycle_label, 1)  # a malformed label fails here
    rows = []
    with db.sessions() as session:
        session.begin()
        try:
            customers = session.execute(select(Customer.id, Customer.name, Customer.billing_day)
                                        .where(Customer.active.is_(True)).order_by(Customer.code)).all()
            for customer_id, name, billing_day in customers:
                start = cycle_for_label(cycle_label, billing_day).start
                p = preview_in(session, int(customer_id), start, settings, now=now)
                a = p.amounts
                rows.append(PreviewRow(p.customer_id, p.customer_code, str(name), p.period, len(a.lines),
                                       a.subtotal, a.vat, a.total, a.reverse_charge, p.test_mode,
                                       p.standing_number, p.holds, p.review))
        finally:
            session.rollback()
    return rows


@dataclass(frozen=True)
class MailCheck:
    invoice_id: int
    number: str
    recipient: str | None
    refusal: str | None  # why it cannot be sent now (manual send), or None
    mail_status: str | None  # the customer-cycle's mail: sending / sent / failed, or None
    mailed_at: datetime | None


def mail_check(db: Database, invoice_id: int, settings: Settings, today: date) -> MailCheck:
    """Whether an operator may send this invoice now (the mail rules for a manual send)."""
    with db.reader() as session:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None:
            raise LookupError(f"no invoice with id {invoice_id}")
        customer = session.get_one(Customer, invoice.customer_id)
        reason = refusal(customer, invoice, today, settings, manual=True)
        cycle = invoice.cycle_start_date or invoice.issue_date
        mail = session.execute(select(MailLog.status, MailLog.sent_at).where(
            MailLog.customer_id == invoice.customer_id, MailLog.cycle_start_date == cycle,
            MailLog.kind == invoice.kind)).first() if cycle is not None else None
        return MailCheck(invoice.id, invoice.number or "draft", customer.email, reason,
                         str(mail[0]) if mail else None, mail[1] if mail else None)


# -- export jobs ----------------------------------------------------------------------------

def export_jobs(db: Database, *, limit: int = 50, offset: int = 0,
                job_id: int | None = None) -> list[ExportJobView]:
    """Export jobs, newest first."""
    query = (select(ExportJob, Customer.code).outerjoin(Customer, Customer.id == ExportJob.customer_id)
             .order_by(ExportJob.id.desc()).limit(limit).offset(offset))
    if job_id is not None:
        query = query.where(ExportJob.id == job_id)
    with db.reader() as session:
        return [ExportJobView(j.id, j.kind, code, j.cycle_start_date, j.status, j.rows, j.total_rows, j.path,
                              j.error_message, j.requested_by, j.created_at, j.finished_at)
                for j, code in session.execute(query)]
