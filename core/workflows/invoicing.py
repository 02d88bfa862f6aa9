"""Invoice run workflow: one GenerateInvoice per customer-cycle, then the invoice mail.

invoice_run → GenerateInvoice(customer, cycle) for every active customer whose
cycle has no standing final invoice. The handler drafts and finalizes in the
message's own transaction, so number, lines, PDF path and ledger commit together
with the message; a redelivered command finds the final invoice and does nothing.
With `send`, SendInvoiceMail follows, and the mail rules decide (core.billing.mail).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing import invoices
from core.billing.mail import local_today, send_invoice_mail
from core.bus import Bus, Command, HandlerContext
from core.db import Database
from core.models import Customer, Invoice, MailLog
from core.month import Month
from core.rating.cycles import cycle_for_label
from core.security.roles import SYSTEM

if TYPE_CHECKING:
    from core.bus.deps import JobRuntime


@dataclass(frozen=True)
class GenerateInvoice(Command):
    customer_id: int
    cycle_start_date: date
    issue_date: date | None = None  # None: the day the handler runs
    send: bool = False


@dataclass(frozen=True)
class SendInvoiceMail(Command):
    invoice_id: int
    on: date  # the run's day: the invoice-day rule is checked against it


def generate_invoice(cmd: GenerateInvoice, ctx: HandlerContext) -> None:
    settings = ctx.deps.settings
    issue_date = cmd.issue_date or local_today(settings, clock=ctx.clock)
    outcome = invoices.issue_in(ctx.session, cmd.customer_id, cmd.cycle_start_date,
                                issue_date=issue_date, settings=settings, clock=ctx.clock)
    if cmd.send and outcome.outcome == "issued" and outcome.invoice_id is not None:
        ctx.dispatch(SendInvoiceMail(outcome.invoice_id, issue_date))


def send_invoice(cmd: SendInvoiceMail, ctx: HandlerContext) -> None:
    send_invoice_mail(ctx.db, ctx.deps.settings, cmd.invoice_id, today=cmd.on, clock=ctx.clock)


@dataclass
class InvoiceRun:
    cycle_label: str
    workflow_id: str
    dispatched: list[int] = field(default_factory=list)  # message ids
    invoiced: list[str] = field(default_factory=list)  # customer codes skipped: final invoice stands
    mails: int = 0  # SendInvoiceMail for final invoices not mailed yet


def invoice_run(bus: Bus, cycle_label: str, *, operator: str, customers: list[int] | None = None,
                issue_date: date | None = None, send: bool = False) -> InvoiceRun:
    """Dispatch GenerateInvoice for each active customer (or the given ones) of the cycle.

    Idempotent: a customer-cycle with a standing final invoice is skipped; with
    `send`, such an invoice that was never mailed gets its SendInvoiceMail.
    """
    from core.security import audit, roles

    cycle_for_label(cycle_label, 1)  # a malformed label fails here, before anything is sent
    run = InvoiceRun(cycle_label, str(uuid.uuid4()))
    settings = bus.deps.settings if bus.deps is not None else None
    on = issue_date or (local_today(settings, clock=bus.clock) if settings is not None
                        else bus.clock().date())
    with bus.db.transaction() as session:
        roles.require(session, operator, roles.Action.INVOICES_RUN, target=cycle_label)
        query = select(Customer).order_by(Customer.code)
        query = query.where(Customer.id.in_(customers)) if customers else query.where(Customer.active.is_(True))
        for customer in session.scalars(query):
            start = cycle_for_label(cycle_label, customer.billing_day).start
            standing = invoices.standing_invoice(session, customer.id, start)
            if standing is not None and standing.status == invoices.FINAL:
                run.invoiced.append(customer.code)
                if send and not _mailed(session, standing):
                    bus.dispatch(SendInvoiceMail(standing.id, on), session=session, workflow=run.workflow_id)
                    run.mails += 1
                continue
            run.dispatched.append(bus.dispatch(GenerateInvoice(customer.id, start, issue_date, send),
                                               session=session, workflow=run.workflow_id).message_id)
        audit.record(session, operator=operator, action=roles.Action.INVOICES_RUN, target=cycle_label,
                     detail=f"{len(run.dispatched)} dispatched, {len(run.invoiced)} already invoiced")
    return run


def _mailed(session: Session, invoice: Invoice) -> bool:
    return session.scalar(select(MailLog.id).where(MailLog.invoice_id == invoice.id)) is not None


def previous_month_label(day: date) -> str:
    return str(Month.of(day) - 1)


def invoice_run_job(runtime: JobRuntime, fire_time: datetime) -> str:
    """Scheduler job (monthly, on the invoice day): invoice last month's cycles and mail them."""
    today = local_today(runtime.settings, fire_time)
    label = previous_month_label(today)
    run = invoice_run(runtime.bus, label, operator=SYSTEM, issue_date=today, send=True)
    return (f"cycle {label}: {len(run.dispatched)} invoice(s) dispatched, {len(run.invoiced)} already "
            f"invoiced, {run.mails} mail(s) queued")


@dataclass(frozen=True)
class RunOutcome:
    issued: list[tuple[str, str]]  # customer code, invoice number
    empty: list[str]  # customers with nothing to invoice
    failed: list[str]  # customers whose invoice failed


def run_outcome(db: Database, workflow_id: str) -> RunOutcome:
    """What an invoice run's GenerateInvoice steps left behind, per customer."""
    from core.models import Message

    outcome = RunOutcome([], [], [])
    with db.reader() as session:
        steps = session.execute(select(Message.payload, Message.status).where(
            Message.workflow_id == workflow_id, Message.command_type == GenerateInvoice.type_name())
            .order_by(Message.id)).all()
        for payload, status in steps:
            values = json.loads(payload)
            customer_id, start = int(values["customer_id"]), date.fromisoformat(values["cycle_start_date"])
            code = session.scalars(select(Customer.code).where(Customer.id == customer_id)).one()
            invoice = invoices.standing_invoice(session, customer_id, start)
            if status == "failed":
                outcome.failed.append(code)
            elif invoice is not None and invoice.status == invoices.FINAL and invoice.number:
                outcome.issued.append((code, invoice.number))
            elif status == "done":
                outcome.empty.append(code)
    return outcome
