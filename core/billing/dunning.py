"""Reminders for unpaid invoices: a reminder, a second reminder, then a formal notice.

Each customer has a schedule of days after the due date (`reminder_days` in setup,
default the `payments.reminder_days` setting, "7,21,35"). The daily job (run as
`system`) sends, per open invoice, the first stage whose day has come and that was not
sent yet: one stage per invoice per day, so an invoice found 40 days overdue gets the
reminder first, not the formal notice. Mails go through the mail rules: each (invoice,
stage) is claimed once (`notification` kind `reminder`), test-mode invoices and
customers never get one, and an invoice that is paid or credited gets no more.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing.i18n import format_date, format_money
from core.billing.payments import InvoiceBalance, invoice_balances
from core.config import Settings
from core.db import Database
from core.models import Customer, Invoice
from core.models.billing import Notification

if TYPE_CHECKING:
    from core.bus.deps import JobRuntime

KIND = "reminder"
STAGES = ("reminder", "second_reminder", "formal_notice")
_TITLES = {
    "nl": ("Betalingsherinnering", "Tweede betalingsherinnering", "Ingebrekestelling"),
    "en": ("Payment reminder", "Second payment reminder", "Formal notice"),
}
_BODY = {
    "nl": ("Beste {customer},\n\nVolgens onze administratie is factuur {number} van {issued}, groot {open}, "
           "nog niet (geheel) voldaan; de vervaldatum was {due}.\n\n{extra}Wij verzoeken u het openstaande "
           "bedrag binnen {days} dagen over te maken onder vermelding van betalingskenmerk {reference}.\n"
           "Heeft u inmiddels betaald, dan kunt u deze herinnering als niet verzonden beschouwen.\n\n"
           "Openstaande facturen (in de bijlage):\n{open_list}\n\nMet vriendelijke groet,\n{issuer}\n"),
    "en": ("Dear {customer},\n\nAccording to our records invoice {number} of {issued}, amounting to {open}, "
           "has not been paid in full; it was due on {due}.\n\n{extra}Please transfer the open amount within "
           "{days} days quoting payment reference {reference}.\nIf you have paid in the meantime, please "
           "disregard this reminder.\n\nOpen invoices (attached):\n{open_list}\n\nKind regards,\n{issuer}\n"),
}
_FORMAL = {
    "nl": "Dit is een ingebrekestelling: betaalt u niet binnen de gestelde termijn, dan dragen wij de "
          "vordering over en komen de kosten voor uw rekening.\n\n",
    "en": "This is a formal notice: if payment is not received within this term, we will pass the claim "
          "on for collection at your expense.\n\n",
}


def parse_schedule(raw: str) -> tuple[int, int, int]:
    """'7,21,35' → (7, 21, 35): three strictly rising day counts after the due date."""
    try:
        days = tuple(int(part) for part in raw.split(","))
    except ValueError:
        raise ValueError(f"{raw!r} is not three day counts like '7,21,35'") from None
    if len(days) != 3 or not 0 < days[0] < days[1] < days[2] <= 365:
        raise ValueError(f"{raw!r}: give three rising day counts between 1 and 365, like '7,21,35'")
    return days[0], days[1], days[2]


def notice_key(invoice_id: int, stage: int) -> str:
    return f"invoice:{invoice_id}:stage:{stage}"


@dataclass(frozen=True)
class ReminderSent:
    invoice_number: str
    customer_code: str
    stage: str
    recipient: str


@dataclass(frozen=True)
class DunningRun:
    sent: tuple[ReminderSent, ...]
    skipped: tuple[str, ...]

    def summary(self) -> str:
        return f"{len(self.sent)} reminder(s) sent, {len(self.skipped)} skipped"


def reminder_stages(session: Session, invoice_ids: list[int]) -> dict[int, int]:
    """Per invoice, how many stages were sent (0: none): the dunning stage shown per invoice."""
    stages: dict[int, int] = {}
    wanted = set(invoice_ids)
    for key in session.scalars(select(Notification.key).where(Notification.kind == KIND,
                                                               Notification.status == "sent")):
        _, invoice, _, stage = key.split(":")
        if int(invoice) in wanted:
            stages[int(invoice)] = max(stages.get(int(invoice), 0), int(stage))
    return stages


def stage_label(stage: int) -> str:
    return "-" if stage == 0 else STAGES[stage - 1].replace("_", " ")


def run_dunning(db: Database, settings: Settings, *, today: date) -> DunningRun:
    """Send today's reminders; safe to run more than once a day (each stage is claimed once)."""
    from core.billing.invoices import ensure_pdf_in
    from core.billing.mail import claim_notification, send_claimed

    if not settings.smtp.configured:
        return DunningRun((), ("SMTP is not configured",))
    sent: list[ReminderSent] = []
    skipped: list[str] = []
    with db.reader() as session:
        open_by_customer: dict[int, list[InvoiceBalance]] = defaultdict(list)
        for balance in invoice_balances(session, today):
            if balance.open > 0:
                open_by_customer[balance.customer_id].append(balance)
        done = reminder_stages(session, [b.invoice_id for bs in open_by_customer.values() for b in bs])
        customers = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(open_by_customer)))}
        work = []
        for customer_id, balances in sorted(open_by_customer.items()):
            customer = customers[customer_id]
            schedule = parse_schedule(customer.reminder_days or settings.payments.reminder_days)
            for balance in balances:
                stage = done.get(balance.invoice_id, 0) + 1
                if stage > len(schedule) or today < balance.due_date + timedelta(days=schedule[stage - 1]):
                    continue
                invoice = session.get_one(Invoice, balance.invoice_id)
                if invoice.test_mode or customer.test_mode:
                    skipped.append(f"{balance.number}: test mode")
                elif not customer.email:
                    skipped.append(f"{balance.number}: customer {customer.code} has no e-mail address")
                else:
                    attachments = [(b.number, ensure_pdf_in(session, session.get_one(Invoice, b.invoice_id),
                                                            settings)) for b in balances]
                    work.append((customer, balance, stage, attachments, balances))
    for customer, balance, stage, attachments, balances in work:
        claim = claim_notification(db, KIND, notice_key(balance.invoice_id, stage), str(customer.email),
                                   detail=f"{balance.number} {STAGES[stage - 1]}")
        if claim is None:
            continue  # another run sent it
        message = _message(settings, customer, balance, stage, balances, today)
        for number, pdf in attachments:
            message.add_attachment(pdf.read_bytes(), maintype="application", subtype="pdf",
                                   filename=f"{number}.pdf")
        send_claimed(db, settings.smtp, claim, message)
        sent.append(ReminderSent(balance.number, customer.code, STAGES[stage - 1], str(customer.email)))
    return DunningRun(tuple(sent), tuple(skipped))


def _message(settings: Settings, customer: Customer, balance: InvoiceBalance, stage: int,
             balances: list[InvoiceBalance], today: date) -> EmailMessage:
    from core.billing.bank import format_reference, payment_reference
    from core.billing.mail import new_message

    language = "en" if customer.language == "en" else "nl"
    title = _TITLES[language][stage - 1]
    b = balance
    open_list = "\n".join(f"  {o.number}  {format_date(o.due_date, language)}  {format_money(o.open, language)}"
                          for o in balances)
    body = _BODY[language].format(
        customer=customer.name, number=b.number, issued=format_date(b.issue_date, language),
        open=format_money(b.open, language), due=format_date(b.due_date, language),
        extra=_FORMAL[language] if stage == 3 else "", days=14 if stage < 3 else 8,
        reference=format_reference(payment_reference(b.invoice_id)), open_list=open_list,
        issuer=settings.issuer.name)
    return new_message(settings.smtp, [str(customer.email)], f"{title}: {b.number}", body)


def dunning_job(runtime: JobRuntime, fire_time: datetime) -> str:
    """Scheduler job (daily, as `system`): send the reminders that are due today."""
    from core.billing.mail import local_today

    return run_dunning(runtime.db, runtime.settings, today=local_today(runtime.settings, fire_time)).summary()
