"""Outgoing mail (smtplib): invoices with their PDF, export notices, the failure digest.

Every mail is claimed before it is sent: a row is inserted in its own transaction
(`mail_log` for invoices, UNIQUE(customer, cycle, kind); `notification` for the
rest, UNIQUE(kind, key)) and marked sent or failed afterwards. A re-run, a
redelivered command or a second host finds the claim and does not send again.
Only a failed claim may be taken again; one left at "sending" (the process died
mid-send) is for an operator to resend, since the mail may well have gone out.

Invoice mails go out automatically only when the customer is active, auto-send is
on, today is the invoice day and the cycle's mail was not sent yet (seed 004's
rules); test-mode invoices are never mailed, not even by hand.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.billing.i18n import format_date, format_money
from core.billing.invoices import FINAL, INVOICE, ensure_pdf_in
from core.bus.errors import PermanentError, TransientError
from core.clock import Clock, system_clock
from core.config import Settings, SmtpSettings
from core.db import Database
from core.models import Customer, Invoice, MailLog
from core.models.billing import Notification
from core.month import Month
from core.security import roles
from core.security.roles import SYSTEM
from core.views import failures
from core.views.failures import Failure

if TYPE_CHECKING:
    from core.bus.deps import JobRuntime

SENDING, SENT, FAILED = "sending", "sent", "failed"
DIGEST_FIRST_WINDOW = timedelta(days=1)
DIGEST_MAX_LINES = 500


# -- transport ---------------------------------------------------------------------------------

def tls_context() -> ssl.SSLContext:
    """The client TLS context for STARTTLS: the system's trusted CAs, hostname checked."""
    return ssl.create_default_context()


def smtp_send(smtp: SmtpSettings, message: EmailMessage, *, timeout: float = 30.0) -> None:
    """Deliver one message; STARTTLS and login when configured.

    Raises TransientError for what may pass (connection trouble, 4xx replies) and
    PermanentError for a refusal (5xx), so the bus retries only the former.
    """
    if not smtp.configured:
        raise PermanentError("SMTP is not configured (smtp.host is empty)")
    if "From" not in message:
        message["From"] = smtp.sender
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout) as client:
            client.ehlo()
            if smtp.starttls:
                client.starttls(context=tls_context())
                client.ehlo()
            if smtp.username:
                client.login(smtp.username, smtp.password)
            client.send_message(message)
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error if isinstance(exc.smtp_error, str) else exc.smtp_error.decode(errors="replace")
        error = f"SMTP {exc.smtp_code}: {text}"
        raise (TransientError(error) if 400 <= exc.smtp_code < 500 else PermanentError(error)) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentError(f"recipients refused: {', '.join(exc.recipients)}") from exc
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
        raise TransientError(f"SMTP {smtp.host}:{smtp.port}: {exc}") from exc


def new_message(smtp: SmtpSettings, to: list[str], subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=smtp.sender.partition("@")[2] or "localhost")
    message.set_content(body)
    return message


def local_today(settings: Settings, moment: datetime | None = None, *,
                clock: Clock = system_clock) -> date:
    """The date in the configured time zone at ``moment`` (default: now by ``clock``)."""
    return (moment or clock()).astimezone(ZoneInfo(settings.time_zone)).date()


# -- invoice mail ------------------------------------------------------------------------------

_TEXT = {
    "nl": ("{title} {number} van {issuer}",
           "Beste {customer},\n\nIn de bijlage vindt u {title_lower} {number} over {period}.\n"
           "Totaal: {total}, te voldoen voor {due}.\n\nMet vriendelijke groet,\n{issuer}\n"),
    "en": ("{title} {number} from {issuer}",
           "Dear {customer},\n\nPlease find attached {title_lower} {number} for {period}.\n"
           "Total: {total}, due by {due}.\n\nKind regards,\n{issuer}\n"),
}
_TITLES = {"nl": {"invoice": "Factuur", "credit_note": "Creditnota"},
           "en": {"invoice": "Invoice", "credit_note": "Credit note"}}


@dataclass(frozen=True)
class MailOutcome:
    status: Literal["sent", "skipped"]
    reason: str = ""


def refusal(customer: Customer, invoice: Invoice, today: date, settings: Settings, *,
            manual: bool) -> str | None:
    """Why this invoice must not be mailed now, or None.

    A manual send (an operator's explicit `invoices send`) skips the schedule rules
    (active, auto-send, invoice day) but never the test-mode rule.
    """
    if invoice.status != FINAL or not invoice.number:
        return "the invoice is a draft"
    if invoice.test_mode or customer.test_mode:
        return "test mode: test invoices are never mailed"
    if not customer.email:
        return f"customer {customer.code} has no e-mail address"
    if not settings.smtp.configured:
        return "SMTP is not configured"
    if manual:
        return None
    if not customer.active:
        return f"customer {customer.code} is not active"
    if not customer.auto_send:
        return f"auto-send is off for {customer.code}"
    if today.day != settings.invoice_day:
        return f"today ({today}) is not the invoice day (the {settings.invoice_day}th)"
    return None


def _insert_once(db: Database, row: MailLog | Notification) -> int | None:
    """Insert `row` in its own transaction: its id, or None when its unique key is already taken
    (another process claimed that mail first, or an earlier attempt left its row)."""
    try:
        with db.transaction() as session:
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        return None


def _claim_invoice_mail(db: Database, invoice: Invoice, recipient: str, *, today: date,
                        manual: bool, resend: bool, clock: Clock) -> int | None:
    """Insert (or take over) the cycle's mail_log row in its own transaction; None: not ours."""
    cycle = invoice.cycle_start_date or invoice.issue_date or today
    claimed = _insert_once(db, MailLog(customer_id=invoice.customer_id, cycle_start_date=cycle, kind=invoice.kind,
                                       invoice_id=invoice.id, recipient=recipient[:200], status=SENDING))
    if claimed is not None:
        return claimed
    with db.transaction() as session:
        existing = session.scalars(select(MailLog).where(
            MailLog.customer_id == invoice.customer_id, MailLog.cycle_start_date == cycle,
            MailLog.kind == invoice.kind)).one()
        other_invoice = existing.invoice_id != invoice.id
        may_take = (existing.status == FAILED and not other_invoice) or (
            manual and (other_invoice or resend) and existing.status in (SENT, FAILED))
        if not may_take:
            return None
        # Conditional on what we read: of two concurrent takers, one wins.
        taken = session.execute(
            update(MailLog).where(MailLog.id == existing.id, MailLog.status == existing.status,
                                  MailLog.invoice_id == existing.invoice_id)
            .values(status=SENDING, invoice_id=invoice.id, recipient=recipient[:200], sent_at=clock())
            .execution_options(synchronize_session=False))
        return existing.id if taken.rowcount else None  # type: ignore[attr-defined]


def _finish_mail_log(db: Database, log_id: int, status: str, clock: Clock) -> None:
    with db.transaction() as session:
        session.execute(update(MailLog).where(MailLog.id == log_id)
                        .values(status=status, sent_at=clock())
                        .execution_options(synchronize_session=False))


def invoice_message(invoice: Invoice, customer: Customer, settings: Settings, pdf: Path) -> EmailMessage:
    language = "en" if invoice.language == "en" else "nl"
    title = _TITLES[language][invoice.kind if invoice.kind in ("invoice", "credit_note") else INVOICE]
    subject, body = _TEXT[language]
    assert invoice.number and invoice.issue_date and invoice.due_date
    fields = {
        "title": title, "title_lower": title.lower(), "number": invoice.number,
        "issuer": settings.issuer.name, "customer": customer.name,
        "period": (str(Month.of(invoice.cycle_start_date)) if invoice.cycle_start_date
                   else format_date(invoice.issue_date, language)),
        "total": format_money(invoice.total, language), "due": format_date(invoice.due_date, language),
    }
    message = new_message(settings.smtp, [str(customer.email)], subject.format(**fields), body.format(**fields))
    message.add_attachment(pdf.read_bytes(), maintype="application", subtype="pdf",
                           filename=f"{invoice.number}.pdf")
    return message


def send_invoice_mail(db: Database, settings: Settings, invoice_id: int, *, today: date,
                      manual: bool = False, resend: bool = False, operator: str = SYSTEM,
                      clock: Clock = system_clock) -> MailOutcome:
    """Mail a final invoice with its PDF if the rules allow it; at most once per customer-cycle.

    SMTP failures are raised (TransientError/PermanentError) after the claim is marked failed.
    A manual send (an operator's, not the scheduled run's) needs the `invoice.send` role.
    """
    if manual:
        roles.authorize(db, operator, roles.Action.INVOICE_SEND, target=f"invoice {invoice_id}")
    with db.reader() as session:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None:
            raise PermanentError(f"no invoice with id {invoice_id}")
        customer = session.get_one(Customer, invoice.customer_id)
        reason = refusal(customer, invoice, today, settings, manual=manual)
        if reason is not None:
            return MailOutcome("skipped", reason)
        pdf = ensure_pdf_in(session, invoice, settings)
        message = invoice_message(invoice, customer, settings, pdf)
    claim = _claim_invoice_mail(db, invoice, str(customer.email), today=today, manual=manual,
                                resend=resend, clock=clock)
    if claim is None:
        return MailOutcome("skipped", f"{invoice.number}: already sent for this cycle"
                           + (" (use --resend)" if manual else ""))
    try:
        smtp_send(settings.smtp, message)
    except Exception:
        _finish_mail_log(db, claim, FAILED, clock)
        raise
    _finish_mail_log(db, claim, SENT, clock)
    return MailOutcome("sent", f"{invoice.number} sent to {customer.email}")


# -- notifications (not tied to one customer-cycle) --------------------------------------------

def claim_notification(db: Database, kind: str, key: str, recipient: str, *,
                       covered_until: datetime | None = None, detail: str | None = None) -> int | None:
    """Claim the (kind, key) mail: a new row, or a failed one taken again. None: not ours."""
    claimed = _insert_once(db, Notification(kind=kind, key=key[:120], recipient=recipient[:500], status=SENDING,
                                            covered_until=covered_until, detail=detail))
    if claimed is not None:
        return claimed
    with db.transaction() as session:
        taken = session.execute(
            update(Notification).where(Notification.kind == kind, Notification.key == key[:120],
                                       Notification.status == FAILED)
            .values(status=SENDING, recipient=recipient[:500], covered_until=covered_until,
                    detail=detail)
            .execution_options(synchronize_session=False))
        if not taken.rowcount:  # type: ignore[attr-defined]
            return None
        return session.scalars(select(Notification.id).where(
            Notification.kind == kind, Notification.key == key[:120])).one()


def finish_notification(db: Database, notification_id: int, status: str, *,
                        clock: Clock = system_clock) -> None:
    with db.transaction() as session:
        session.execute(update(Notification).where(Notification.id == notification_id)
                        .values(status=status, sent_at=clock() if status == SENT else None)
                        .execution_options(synchronize_session=False))


def send_claimed(db: Database, smtp: SmtpSettings, claim: int, message: EmailMessage) -> None:
    try:
        smtp_send(smtp, message)
    except Exception:
        finish_notification(db, claim, FAILED)
        raise
    finish_notification(db, claim, SENT)


def send_export_ready(db: Database, settings: Settings, job_id: int, recipient: str,
                      file_path: str, rows: int) -> MailOutcome:
    """Tell the requester their export is ready, naming the file (once per job)."""
    if not settings.smtp.configured:
        return MailOutcome("skipped", "SMTP is not configured")
    claim = claim_notification(db, "export_ready", str(job_id), recipient)
    if claim is None:
        return MailOutcome("skipped", f"export {job_id}: notice already sent")
    name = Path(file_path).name
    message = new_message(settings.smtp, [recipient], f"Export ready: {name}",
                          f"Your export #{job_id} is ready ({rows} rows):\n\n{file_path}\n\n"
                          f"Open it on the server, or fetch it with: expensis export jobs\n")
    send_claimed(db, settings.smtp, claim, message)
    return MailOutcome("sent", f"export notice sent to {recipient}")


# -- failure digest ----------------------------------------------------------------------------

def failures_between(db: Database, since: datetime, until: datetime) -> list[Failure]:
    """The failures (core.views.failures) that happened in (since, until], oldest first."""
    return failures.failures_between(db, since, until, limit=DIGEST_MAX_LINES)


def last_digest_until(db: Database) -> datetime | None:
    with db.reader() as session:
        value: datetime | None = session.scalar(
            select(func.max(Notification.covered_until))
            .where(Notification.kind == "failure_digest", Notification.status == SENT))
        return value


def send_failure_digest(db: Database, settings: Settings, now: datetime) -> str:
    """One mail listing every failure since the last digest that went out; nothing if none."""
    recipients = [r.strip() for r in settings.smtp.error_recipients.split(",") if r.strip()]
    if not settings.smtp.configured or not recipients:
        return "skipped: no SMTP host or no smtp.error_recipients configured"
    since = last_digest_until(db) or now - DIGEST_FIRST_WINDOW
    failures = failures_between(db, since, now)
    if not failures:
        return f"no failures since {since:%Y-%m-%d %H:%M} UTC"
    claim = claim_notification(db, "failure_digest", now.astimezone(UTC).isoformat(), ", ".join(recipients),
                               covered_until=now, detail=f"{len(failures)} failure(s)")
    if claim is None:
        return "digest for this time already sent"
    lines = [f"{f.failed_at:%Y-%m-%d %H:%M} UTC  {f.kind} {f.subject}: {f.what}  [{f.ref}]\n    {_indented(f.error)}"
             for f in failures]
    body = (f"{len(failures)} failure(s) between {since:%Y-%m-%d %H:%M} and {now:%Y-%m-%d %H:%M} UTC:\n\n"
            + "\n".join(lines) + "\n\nSee one with `expensis failures show REF`; retry it with `expensis failures retry REF`.\n")
    message = new_message(settings.smtp, recipients, f"Expensis: {len(failures)} failure(s)", body)
    send_claimed(db, settings.smtp, claim, message)
    return f"digest of {len(failures)} failure(s) sent to {len(recipients)} recipient(s)"


def _indented(text: str, limit: int = 2000) -> str:
    """The error in full (up to `limit` characters), its lines indented under the failure."""
    body = text if len(text) <= limit else text[:limit] + " …"
    return "\n    ".join(body.splitlines() or [""])


def failure_digest_job(runtime: JobRuntime, fire_time: datetime) -> str:
    """Scheduler job: mail the failures since the last digest (one mail, not one per failure)."""
    return send_failure_digest(runtime.db, runtime.settings, fire_time.astimezone(UTC))
