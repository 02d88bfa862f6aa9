"""Batch invoicing from a client's CSV (seed 004's run_batch): one row, one numbered PDF.

Each good row becomes an invoice in the issuer's batch series ("2026-B00001"),
numbered gaplessly like every other series (locked counter row, one transaction
per row). A row already invoiced this month (same fingerprint) is skipped, so a
file can be run again safely. The month's PDFs are bundled per end client in a
ZIP under `data_dir/downloads`; with `send`, each client with an e-mail address
gets its ZIP once per month, and only on the invoice day.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.billing.batch_csv import (
    BatchRow,
    BatchRowError,
    monthly_zip_name,
    parse_batch_csv,
    zip_monthly,
)
from core.billing.i18n import format_date
from core.billing.invoices import (
    BATCH,
    InvoiceError,
    InvoiceNotFound,
    after_commit,
    format_number,
    issuer_party,
    next_seq,
    safe_name,
    write_atomic,
)
from core.billing.mail import SENT, claim_notification, finish_notification, new_message, smtp_send
from core.billing.pdf import InvoiceDocument, Party, render_invoice_pdf
from core.config import Settings
from core.db import Database
from core.models.billing import BatchInvoice
from core.month import Month

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchIssued:
    line: int
    client_id: str
    number: str
    total: str
    pdf_path: str


@dataclass
class BatchResult:
    period: str
    issued: list[BatchIssued] = field(default_factory=list)
    skipped: int = 0  # rows invoiced before this month
    errors: list[BatchRowError] = field(default_factory=list)
    zips: list[Path] = field(default_factory=list)
    mails: list[str] = field(default_factory=list)


def batch_dir(settings: Settings) -> Path:
    return settings.data_dir / "invoices_batch"


def downloads_dir(settings: Settings) -> Path:
    return settings.data_dir / "downloads"


def _month_label(day: date, language: str) -> str:
    month = Month.of(day)
    return f"{format_date(month.first_day, language)} - {format_date(month.last_day, language)}"


def _document(row: BatchRow, number: str, issue_date: date, settings: Settings) -> InvoiceDocument:
    language = cast(Literal["nl", "en"], row.language)
    customer = Party(name=row.client_name, address_lines=row.address_lines, vat_number=row.vat_number,
                     email=row.email, country=row.country)
    return InvoiceDocument(
        number=number, kind="invoice", issue_date=issue_date,
        due_date=issue_date + timedelta(days=settings.payment_terms_days),
        period_label=_month_label(issue_date, language), issuer=issuer_party(settings), customer=customer,
        language=language, amounts=row.amounts(settings.issuer.country),
        payment_terms_days=settings.payment_terms_days, test_mode=False)


def _issue_row(db: Database, row: BatchRow, *, period: str, issue_date: date, settings: Settings,
               source: str) -> BatchIssued | None:
    """Number, render and record one row in one transaction; None when invoiced before."""
    issuer = settings.issuer.code
    try:
        with db.transaction() as session:
            done = session.scalar(select(BatchInvoice.id).where(BatchInvoice.period == period,
                                                                BatchInvoice.fingerprint == row.fingerprint))
            if done is not None:
                return None
            seq = next_seq(session, issuer, issue_date.year, BATCH)
            number = format_number(BATCH, issue_date.year, seq)
            path = batch_dir(settings) / safe_name(row.client_id) / f"{number}.pdf"
            pdf = render_invoice_pdf(_document(row, number, issue_date, settings))
            amounts = row.amounts(settings.issuer.country)
            session.add(BatchInvoice(
                issuer=issuer, period=period, fingerprint=row.fingerprint, client_id=row.client_id,
                client_name=row.client_name[:200], email=row.email, number=number, year=issue_date.year,
                seq=seq, issue_date=issue_date, language=row.language, subtotal=amounts.subtotal,
                vat_rate=amounts.vat_rate, vat=amounts.vat, total=amounts.total,
                reverse_charge=amounts.reverse_charge, pdf_path=str(path), source=source[:500],
                row_json=row.to_json()))
            session.flush()
            after_commit(session, lambda: write_atomic(path, pdf))
            return BatchIssued(row.line, row.client_id, number, f"{amounts.total:.2f}", str(path))
    except IntegrityError:  # the same row, issued by a concurrent run: its number was rolled back
        return None


def run_batch(db: Database, path: Path, *, settings: Settings, issue_date: date, operator: str,
              send: bool = False, today: date | None = None) -> BatchResult:
    """Invoice every good row of `path`, rebuild the month's ZIPs, and optionally mail them."""
    from core.security import audit, roles

    roles.authorize(db, operator, roles.Action.INVOICES_BATCH, target=path.name)
    period = str(Month.of(issue_date))
    result = BatchResult(period)
    for parsed in parse_batch_csv(path):
        if isinstance(parsed, BatchRowError):
            result.errors.append(parsed)
            continue
        issued = _issue_row(db, parsed, period=period, issue_date=issue_date, settings=settings,
                            source=str(path))
        if issued is None:
            result.skipped += 1
        else:
            result.issued.append(issued)
    touched = sorted({i.client_id for i in result.issued})
    result.zips = [build_monthly_zip(db, settings, client_id, period) for client_id in touched]
    with db.transaction() as session:
        audit.record(session, operator=operator, action=roles.Action.INVOICES_BATCH, target=path.name,
                     detail=f"{len(result.issued)} issued, {result.skipped} skipped, "
                            f"{len(result.errors)} bad row(s)")
    if send:
        result.mails = send_monthly_zips(db, settings, period, today=today or issue_date)
    return result


def ensure_batch_pdf(invoice: BatchInvoice, settings: Settings) -> Path:
    """The batch invoice's PDF, rendered again from its stored row when the file is missing.

    The amounts are computed again from the row and must equal the issued ones; if the
    issuer's country has changed since, the old PDF cannot be reproduced and we say so.
    """
    path = Path(invoice.pdf_path)
    if path.is_file():
        return path
    if invoice.row_json is None:
        raise InvoiceError(f"the PDF of batch invoice {invoice.number} is missing ({path}) and it was "
                           "issued before rows were kept: run its CSV row again under a new number")
    row = BatchRow.from_json(invoice.row_json)
    amounts = row.amounts(settings.issuer.country)
    if (amounts.subtotal, amounts.vat, amounts.total) != (invoice.subtotal, invoice.vat, invoice.total):
        raise InvoiceError(f"batch invoice {invoice.number}: its row now gives € {amounts.total:.2f}, "
                           f"not the € {invoice.total:.2f} issued; the PDF was not rendered again")
    write_atomic(path, render_invoice_pdf(_document(row, invoice.number, invoice.issue_date, settings)))
    log.warning("batch invoice %s: PDF was missing, rendered again from its stored row", invoice.number)
    return path


def batch_pdf(db: Database, number: str, settings: Settings) -> Path:
    """`invoices batch-pdf NUMBER`: the PDF's path, rendered again if it is missing."""
    with db.reader() as session:
        invoice = session.scalars(select(BatchInvoice).where(BatchInvoice.number == number,
                                                             BatchInvoice.issuer == settings.issuer.code)).first()
    if invoice is None:
        raise InvoiceNotFound(f"no batch invoice {number}")
    return ensure_batch_pdf(invoice, settings)


def build_monthly_zip(db: Database, settings: Settings, client_id: str, period: str) -> Path:
    """(Re)write the client's ZIP of the month from its archived PDFs."""
    with db.reader() as session:
        invoices = list(session.scalars(select(BatchInvoice).where(
            BatchInvoice.client_id == client_id, BatchInvoice.period == period).order_by(BatchInvoice.seq)))
    year, month = (int(part) for part in period.split("-"))
    target = downloads_dir(settings) / monthly_zip_name(client_id, year, month)
    pdfs = ((f"{invoice.number}.pdf", ensure_batch_pdf(invoice, settings).read_bytes()) for invoice in invoices)
    return zip_monthly(pdfs, target, modified=datetime.combine(date(year, month, 1), time(0)))


def send_monthly_zips(db: Database, settings: Settings, period: str, *, today: date) -> list[str]:
    """Mail each client of the month its ZIP: only on the invoice day, once per client and month."""
    if today.day != settings.invoice_day:
        return [f"not sent: today ({today}) is not the invoice day (the {settings.invoice_day}th)"]
    if not settings.smtp.configured:
        return ["not sent: SMTP is not configured"]
    with db.reader() as session:
        emails: dict[str, set[str]] = defaultdict(set)
        for client_id, email in session.execute(select(BatchInvoice.client_id, BatchInvoice.email)
                                                .where(BatchInvoice.period == period)):
            if email:
                emails[client_id].add(email)
    outcomes = []
    year, month = (int(part) for part in period.split("-"))
    for client_id in sorted(emails):
        recipients = sorted(emails[client_id])
        zip_path = downloads_dir(settings) / monthly_zip_name(client_id, year, month)
        claim = claim_notification(db, "batch_zip", f"{client_id}:{period}", ", ".join(recipients))
        if claim is None:
            outcomes.append(f"{client_id}: already sent for {period}")
            continue
        message = new_message(settings.smtp, recipients, f"{settings.issuer.name}: invoices {period}",
                              f"Attached are your invoices of {period} ({zip_path.name}).\n")
        message.add_attachment(zip_path.read_bytes(), maintype="application", subtype="zip",
                               filename=zip_path.name)
        try:
            smtp_send(settings.smtp, message)
        except Exception as exc:
            finish_notification(db, claim, "failed")
            outcomes.append(f"{client_id}: failed ({exc})")
            continue
        finish_notification(db, claim, SENT)
        outcomes.append(f"{client_id}: sent to {', '.join(recipients)}")
    return outcomes
