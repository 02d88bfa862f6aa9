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
from core.billing.freshness import nothing_to_invoice
from core.billing.mail import local_today, send_invoice_mail
from core.billing.readiness import CycleCheck, check_cycle, last_ended_cycle
from core.bus import Bus, Command, HandlerContext
from core.db import Database
from core.models import Customer, Invoice, MailLog
from core.rating.cycles import cycle_for_label
from core.security.roles import SYSTEM
from core.totals import customer_zone

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
    cycle_label: str  # the cycle asked for, or "last ended" (each customer's last ended cycle)
    workflow_id: str
    dispatched: list[int] = field(default_factory=list)  # message ids
    invoiced: list[str] = field(default_factory=list)  # customer codes skipped: final invoice stands
    mails: int = 0  # SendInvoiceMail for final invoices not mailed yet
    held: list[CycleCheck] = field(default_factory=list)  # not invoiced: the cycle is not complete
    forced: list[CycleCheck] = field(default_factory=list)  # invoiced although held (--force)
    nothing: list[tuple[str, str]] = field(default_factory=list)  # (customer code, reason)
    review: list[tuple[str, str]] = field(default_factory=list)  # held for review / dropped: (code, why)


LAST_ENDED = "last ended"


def invoice_run(bus: Bus, cycle_label: str | None, *, operator: str, customers: list[int] | None = None,
                issue_date: date | None = None, send: bool = False, force: bool = False,
                now: datetime | None = None) -> InvoiceRun:
    """Dispatch GenerateInvoice for each active customer (or the given ones) whose cycle is complete.

    Without `cycle_label` each customer's last cycle that has ended is invoiced (billing
    day aware). A cycle that has not ended or is not completely synced is held with its
    reasons (`core.billing.readiness`) unless `force` (audited per customer). Idempotent:
    a customer-cycle with a standing final invoice is skipped; with `send`, such an
    invoice that was never mailed gets its SendInvoiceMail.
    """
    from core.security import audit, roles

    if cycle_label is not None:
        cycle_for_label(cycle_label, 1)  # a malformed label fails here, before anything is sent
    run = InvoiceRun(cycle_label or LAST_ENDED, str(uuid.uuid4()))
    settings = bus.deps.settings if bus.deps is not None else None
    moment = now or bus.clock()
    on = issue_date or (local_today(settings, moment) if settings is not None else moment.date())
    with bus.db.transaction() as session:
        roles.require(session, operator, roles.Action.INVOICES_RUN, target=run.cycle_label)
        if force:
            roles.require(session, operator, roles.Action.INVOICE_FORCE, target=run.cycle_label)
        query = select(Customer).order_by(Customer.code)
        query = query.where(Customer.id.in_(customers)) if customers else query.where(Customer.active.is_(True))
        for customer in session.scalars(query):
            cycle = (cycle_for_label(cycle_label, customer.billing_day) if cycle_label is not None
                     else last_ended_cycle(customer, moment.astimezone(customer_zone(customer)).date()))
            standing = invoices.standing_invoice(session, customer.id, cycle.start)
            if standing is not None and standing.status == invoices.FINAL:
                run.invoiced.append(customer.code)
                if send and not _mailed(session, standing):
                    bus.dispatch(SendInvoiceMail(standing.id, on), session=session, workflow=run.workflow_id)
                    run.mails += 1
                continue
            if standing is not None and standing.status in (invoices.REVIEW, invoices.DROPPED):
                why = standing.hold_reasons if standing.status == invoices.REVIEW else f"dropped: {standing.note}"
                run.review.append((customer.code, (why or "").replace("\n", "; ")))
                continue
            check = check_cycle(session, customer, cycle, now=moment)
            if check.held and not force:
                run.held.append(check)
                continue
            reason = nothing_to_invoice(session, customer.id, cycle.start)
            if reason is not None:
                run.nothing.append((customer.code, reason))
                continue
            if check.held:
                run.forced.append(check)
                audit.record(session, operator=operator, action=roles.Action.INVOICE_FORCE,
                             target=f"{customer.code} {cycle.label}", detail="; ".join(check.reasons))
            run.dispatched.append(bus.dispatch(GenerateInvoice(customer.id, cycle.start, issue_date, send),
                                               session=session, workflow=run.workflow_id).message_id)
        audit.record(session, operator=operator, action=roles.Action.INVOICES_RUN, target=run.cycle_label,
                     detail=f"{len(run.dispatched)} dispatched, {len(run.invoiced)} already invoiced, "
                            f"{len(run.held)} held, {len(run.nothing)} with nothing to invoice")
    return run


def _mailed(session: Session, invoice: Invoice) -> bool:
    return session.scalar(select(MailLog.id).where(MailLog.invoice_id == invoice.id)) is not None


def invoice_run_job(runtime: JobRuntime, fire_time: datetime) -> str:
    """Scheduler job (monthly, on the invoice day): invoice each customer's last ended cycle, mail them."""
    today = local_today(runtime.settings, fire_time)
    run = invoice_run(runtime.bus, None, operator=SYSTEM, issue_date=today, send=True, now=fire_time)
    return (f"last ended cycles: {len(run.dispatched)} invoice(s) dispatched, {len(run.invoiced)} already "
            f"invoiced, {len(run.held)} held, {run.mails} mail(s) queued")


@dataclass(frozen=True)
class RunOutcome:
    issued: list[tuple[str, str]]  # customer code, invoice number
    empty: list[str]  # customers with nothing to invoice
    failed: list[str]  # customers whose invoice failed
    review: list[str] = field(default_factory=list)  # customers whose invoice is held for review


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
            elif invoice is not None and invoice.status == invoices.REVIEW:
                outcome.review.append(code)
            elif status == "done":
                outcome.empty.append(code)
    return outcome
