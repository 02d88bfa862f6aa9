"""Invoices from totals: drafts, gapless numbering at finalize, credit notes, ledger, archive.

A draft has lines and amounts but no number. `finalize` is the one place a number
is handed out: in a single transaction it locks the invoice, takes the next
sequence number from the locked counter row (issuer, year, series), recomputes
and stores the lines, records the PDF path and adds the total to the revenue
ledger. A rolled-back finalize therefore gives its number back, and a committed
one can never hand it out again. The PDF is rendered inside the transaction and
written (temp file + rename) only once it commits, so no file ever carries a
number that was not issued; a final invoice whose file is missing is re-rendered
from its stored data (rendering is deterministic).

Corrections are credit notes with their own number referring to the original;
nothing issued is ever deleted. Test-mode customers get "TEST-" numbers from
their own series, and their documents stay out of the ledger, balances and mail.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.billing.bank import payment_reference
from core.billing.charges import UsageCharge, explains, load_charges
from core.billing.credit import credit_applied_to, credit_to_apply
from core.billing.i18n import LANGUAGES, format_date
from core.billing.lines import (
    AddonCharge,
    FeeTotal,
    InvoiceAmounts,
    UsageTotal,
    VatRule,
    build_invoice_lines,
    compute_amounts,
    credit_note_amounts,
    vat_rule_for,
)
from core.billing.lines import InvoiceLine as Line

if TYPE_CHECKING:
    from core.billing.corrections import Carry
from core.billing.pdf import InvoiceDocument, Party, render_invoice_pdf
from core.billing.specification import SpecificationLine, cycle_specification
from core.bus.errors import PermanentError
from core.clock import Clock, system_clock
from core.config import IssuerSettings, Settings
from core.db import Database
from core.models import (
    FEE_CALL_TYPE,
    AddonType,
    Customer,
    Invoice,
    InvoiceCounter,
    RatePlan,
    RevenueLedger,
    Subscription,
    SubscriptionAddon,
)
from core.models import InvoiceLine as LineRow
from core.models import InvoiceSpecificationLine as SpecRow
from core.rating.cycles import Cycle
from core.totals import current_totals, cycle_of, cycle_subscriptions

log = logging.getLogger(__name__)

INVOICE, CREDIT_NOTE = "invoice", "credit_note"
DRAFT, FINAL = "draft", "final"
REVIEW, DROPPED = "review", "dropped"  # held for review (no number yet); dropped by an operator
LIVE, TEST, BATCH = "live", "test", "batch"
ACTIVE_ADDON = "active"
_UNSAFE_PATH = re.compile(r"[^A-Za-z0-9_.-]")


class InvoiceError(PermanentError):
    """An invoice operation that retrying cannot make succeed; the message says why."""


class InvoiceNotFound(InvoiceError, LookupError):
    pass


class NothingToInvoice(InvoiceError):
    pass


# -- numbers -----------------------------------------------------------------------------------

def format_number(series: str, year: int, seq: int) -> str:
    """"2026-00042" (live), "TEST-2026-00003" (test), "2026-B00007" (batch)."""
    if series == LIVE:
        return f"{year}-{seq:05d}"
    if series == TEST:
        return f"TEST-{year}-{seq:05d}"
    if series == BATCH:
        return f"{year}-B{seq:05d}"
    raise ValueError(f"unknown invoice series {series!r}")


def next_seq(session: Session, issuer: str, year: int, series: str) -> int:
    """Take the next number of a series: the counter row is locked until the transaction ends.

    MariaDB: SELECT ... FOR UPDATE. SQLite: the write transaction (BEGIN IMMEDIATE)
    already excludes every other writer. A missing row is inserted in a savepoint;
    losing that race to another transaction just means locking the row it created.
    """
    query = (select(InvoiceCounter)
             .where(InvoiceCounter.issuer == issuer, InvoiceCounter.year == year,
                    InvoiceCounter.series == series)
             .with_for_update().execution_options(populate_existing=True))
    counter = session.scalars(query).first()
    if counter is None:
        try:
            with session.begin_nested():
                session.add(InvoiceCounter(issuer=issuer, year=year, series=series, last_seq=0))
        except IntegrityError:
            pass  # created by a concurrent finalize: lock theirs
        counter = session.scalars(query).one()
    counter.last_seq += 1
    session.flush()
    return counter.last_seq


# -- files -------------------------------------------------------------------------------------

def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def safe_name(text: str) -> str:
    """A customer code or client id usable as one path component."""
    cleaned = _UNSAFE_PATH.sub("_", text).strip(".")
    return cleaned or "_"


def archive_path(settings: Settings, customer_code: str, number: str) -> Path:
    return settings.invoices_dir / safe_name(customer_code) / f"{safe_name(number)}.pdf"


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run `action` once the outermost transaction of `session` commits (never on rollback).

    Savepoints fire SQLAlchemy's commit/rollback events too; those are ignored here.
    """
    pending: list[Callable[[], None]] | None = session.info.get("billing_after_commit")
    if pending is None:
        actions: list[Callable[[], None]] = []
        session.info["billing_after_commit"] = actions

        def run(sess: Session) -> None:
            if sess.get_nested_transaction() is not None:
                return
            todo, actions[:] = list(actions), []
            for item in todo:
                try:
                    item()
                except Exception:  # the invoice is issued; a missing file is re-rendered later
                    log.exception("after-commit action failed")

        def discard(sess: Session) -> None:
            if sess.get_nested_transaction() is None:
                actions.clear()

        event.listen(session, "after_commit", run)
        event.listen(session, "after_rollback", discard)
        pending = actions
    pending.append(action)


# -- what a cycle charges ----------------------------------------------------------------------

@dataclass(frozen=True)
class CycleCharges:
    fees: tuple[FeeTotal, ...]
    usage: tuple[UsageTotal, ...]  # usage no charge explains: provider prices passed through
    addons: tuple[AddonCharge, ...]
    charges: tuple[UsageCharge, ...] = ()  # rated usage per price


def cycle_charges(session: Session, customer: Customer, cycle_start: date) -> CycleCharges:
    """Fees (totals' fee rows), rated usage per price, and add-ons active in the cycle.

    A subscription's call type is explained by its charges when they add up to its total
    (both come from the same rating); otherwise the total is passed through as one line.
    """
    subs = {sub_id: (number, plan or "") for sub_id, number, plan in session.execute(
        select(Subscription.id, Subscription.number, RatePlan.name)
        .outerjoin(RatePlan, RatePlan.id == Subscription.rate_plan_id)
        .where(Subscription.customer_id == customer.id))}
    explained: dict[tuple[int, str], list[UsageCharge]] = {}
    for charge in load_charges(session, customer.id, cycle_start):
        explained.setdefault((charge.subscription_id, charge.call_type), []).append(charge)
    fees: list[FeeTotal] = []
    usage: list[UsageTotal] = []
    charges: list[UsageCharge] = []
    for row in current_totals(session, customer.id, cycle_start):
        number, plan = subs.get(row.subscription_id, (str(row.subscription_id), ""))
        if row.call_type == FEE_CALL_TYPE:
            fees.append(FeeTotal(number, plan, row.rated_amount))
            continue
        parts = explained.get(row.key, [])
        if explains(parts, row.rated_amount):
            charges.extend(parts)
        else:
            usage.append(UsageTotal(number, row.call_type, row.count, row.duration_s,
                                    row.volume_kb, row.rated_amount))
    return CycleCharges(tuple(fees), tuple(usage), tuple(_addon_charges(session, customer, cycle_start)),
                        tuple(charges))


def _addon_charges(session: Session, customer: Customer, cycle_start: date) -> list[AddonCharge]:
    active = {sub.id: sub for sub in cycle_subscriptions(session, customer.id, cycle_of(customer, cycle_start))}
    if not active:
        return []
    rows = session.execute(
        select(SubscriptionAddon.subscription_id, SubscriptionAddon.addon_code)
        .where(SubscriptionAddon.subscription_id.in_(active), SubscriptionAddon.status == ACTIVE_ADDON)
        .order_by(SubscriptionAddon.subscription_id, SubscriptionAddon.addon_code)).all()
    if not rows:
        return []
    types: dict[str, list[AddonType]] = {}
    for addon_type in session.scalars(select(AddonType).where(AddonType.code.in_({r[1] for r in rows}))):
        types.setdefault(addon_type.code, []).append(addon_type)
    charges = []
    for sub_id, code in rows:
        sub = active[sub_id]
        candidates = types.get(code, [])
        # A code can exist at several providers: the subscription's provider decides.
        chosen = next((t for t in candidates if t.provider == sub.provider), None)
        if chosen is None and len(candidates) == 1:
            chosen = candidates[0]
        if chosen is None:
            log.warning("add-on %s of %s has no price: not invoiced", code, sub.number)
            continue
        charges.append(AddonCharge(sub.number, chosen.name, chosen.monthly_price))
    return charges


def customer_language(customer: Customer) -> Literal["nl", "en"]:
    return "en" if customer.language == "en" else "nl"


def vat_rule(customer: Customer, settings: Settings | None) -> VatRule:
    issuer = settings.issuer if settings else IssuerSettings()
    rate = settings.vat_rate if settings else Decimal("21")
    return vat_rule_for(customer.country or "NL", customer.vat_number, issuer.country, rate)


def cycle_amounts(session: Session, customer: Customer, cycle_start: date,
                  settings: Settings | None, carries: Sequence[Carry] = ()) -> InvoiceAmounts:
    """The invoice a customer-cycle would get now: lines from the totals (and the corrections
    of earlier cycles it carries), VAT by the rules."""
    charges = cycle_charges(session, customer, cycle_start)
    language = customer_language(customer)
    lines = build_invoice_lines(charges.fees, charges.usage, charges.addons,
                                language=language, charges=charges.charges)
    lines += [carry.line(language) for carry in carries]
    return compute_amounts(lines, vat_rule(customer, settings))


def carries_for(session: Session, customer: Customer, cycle_start: date, settings: Settings | None,
                carrier_id: int | None) -> list[Carry]:
    """Pending corrections the cycle's invoice carries as lines (setting invoice_corrections)."""
    if settings is None or settings.invoice_corrections == "credit_note":
        return []
    if settings.invoice_corrections != "next_invoice":
        raise InvoiceError(f"setting invoice_corrections = {settings.invoice_corrections!r}: "
                           "use credit_note or next_invoice")
    from core.billing.corrections import pending_carries

    return pending_carries(session, customer, cycle_start, settings, carrier_id=carrier_id)


def _store_carries(session: Session, invoice: Invoice, carries: Sequence[Carry] | None) -> None:
    if carries is not None:
        from core.billing.corrections import record_carries

        record_carries(session, invoice, list(carries))


def stored_amounts(invoice: Invoice) -> InvoiceAmounts:
    lines = tuple(Line(r.description, r.quantity, r.unit, r.unit_price, r.amount) for r in invoice.lines)
    return InvoiceAmounts(lines=lines, subtotal=invoice.subtotal, vat_rate=invoice.vat_rate,
                          vat=invoice.vat, total=invoice.total, reverse_charge=invoice.reverse_charge)


def _store_amounts(invoice: Invoice, amounts: InvoiceAmounts) -> None:
    invoice.lines = [LineRow(position=i, description=line.description[:255], quantity=line.quantity,
                             unit=line.unit[:16], unit_price=line.unit_price, amount=line.amount)
                     for i, line in enumerate(amounts.lines, start=1)]
    invoice.subtotal = amounts.subtotal
    invoice.vat_rate = amounts.vat_rate
    invoice.vat = amounts.vat
    invoice.total = amounts.total
    invoice.reverse_charge = amounts.reverse_charge


def _store_specification(session: Session, invoice: Invoice, customer: Customer) -> None:
    """The usage annex of a customer that asks for one, from the totals the lines came from."""
    rows: list[SpecificationLine] = []
    if customer.specification and invoice.cycle_start_date is not None:
        rows = cycle_specification(session, customer.id, invoice.cycle_start_date, invoice.language)
    invoice.specification = [
        SpecRow(position=i, subscription_number=row.subscription_number, cost_centre=row.cost_centre[:64],
                call_type=row.call_type, zone=row.zone, count=row.count, usage=row.usage,
                in_bundle=row.in_bundle, beyond=row.beyond, unit=row.unit, amount=row.amount)
        for i, row in enumerate(rows, start=1)]


def stored_specification(invoice: Invoice) -> tuple[SpecificationLine, ...]:
    return tuple(SpecificationLine(r.subscription_number, r.cost_centre, r.call_type, r.count, r.usage,
                                   r.in_bundle, r.beyond, r.unit, r.amount.quantize(Decimal("0.01")), r.zone)
                 for r in invoice.specification)


# -- drafts ------------------------------------------------------------------------------------

def standing_invoice(session: Session, customer_id: int, cycle_start: date) -> Invoice | None:
    """The cycle's invoice that stands: a draft, or a final invoice no credit note corrects."""
    credited = (select(Invoice.credited_invoice_id)
                .where(Invoice.kind == CREDIT_NOTE, Invoice.credited_invoice_id.is_not(None)))
    return session.scalars(
        select(Invoice).where(Invoice.customer_id == customer_id, Invoice.cycle_start_date == cycle_start,
                              Invoice.kind == INVOICE, Invoice.id.not_in(credited))
        .order_by(Invoice.id.desc())).first()


def _lock_customer(session: Session, customer_id: int) -> Customer:
    customer = session.scalars(select(Customer).where(Customer.id == customer_id).with_for_update()
                               .execution_options(populate_existing=True)).first()
    if customer is None:
        raise InvoiceNotFound(f"no customer with id {customer_id}")
    return customer


def draft_in(session: Session, customer_id: int, cycle_start: date, settings: Settings | None = None,
             amounts: InvoiceAmounts | None = None, carries: Sequence[Carry] = ()) -> Invoice:
    """Create or refresh the cycle's draft; a final invoice that stands is returned as is.

    The customer row is locked, so two runs for the same customer-cycle make one draft.
    `amounts` (with the `carries` they include) saves recomputing what the caller
    computed in this same transaction.
    """
    customer = _lock_customer(session, customer_id)
    invoice = standing_invoice(session, customer_id, cycle_start)
    if invoice is not None and invoice.status == FINAL:
        return invoice
    if invoice is None:
        invoice = Invoice(customer_id=customer_id, cycle_start_date=cycle_start, kind=INVOICE,
                          status=DRAFT, issuer=(settings.issuer if settings else IssuerSettings()).code)
        session.add(invoice)
    invoice.test_mode = customer.test_mode
    invoice.language = customer_language(customer)
    session.flush()
    if amounts is None:
        carries = carries_for(session, customer, cycle_start, settings, invoice.id)
        amounts = cycle_amounts(session, customer, cycle_start, settings, carries)
    _store_amounts(invoice, amounts)
    _store_carries(session, invoice, carries)
    _store_specification(session, invoice, customer)
    session.flush()
    return invoice


def draft_invoice(db: Database, customer_id: int, cycle_start: date, *,
                  settings: Settings | None = None) -> int:
    """The id of the customer-cycle's draft (created or refreshed from the current totals)."""
    with db.transaction() as session:
        return draft_in(session, customer_id, cycle_start, settings).id


# -- finalize ----------------------------------------------------------------------------------

def _lock_invoice(session: Session, invoice_id: int) -> Invoice:
    invoice = session.scalars(select(Invoice).where(Invoice.id == invoice_id).with_for_update()
                              .execution_options(populate_existing=True)).first()
    if invoice is None:
        raise InvoiceNotFound(f"no invoice with id {invoice_id}")
    return invoice


def finalize_in(session: Session, invoice_id: int, *, issue_date: date, settings: Settings,
                recompute: bool = True, clock: Clock = system_clock) -> str:
    """Number, store and archive a draft in `session`'s transaction; returns the number.

    The lines are recomputed from the totals unless `recompute` is False (the draft
    was made in this same transaction). Idempotent: finalizing a final invoice
    returns its number (and restores a missing PDF).
    """
    invoice = _lock_invoice(session, invoice_id)
    customer = session.get_one(Customer, invoice.customer_id)
    if invoice.status == FINAL:
        assert invoice.number is not None
        ensure_pdf_in(session, invoice, settings)
        return invoice.number
    if invoice.kind == INVOICE:
        invoice.issuer = settings.issuer.code  # numbered in the series of the issuer issuing it
        invoice.test_mode = customer.test_mode
        invoice.language = customer_language(customer)
        if invoice.cycle_start_date is not None and recompute:
            carries = carries_for(session, customer, invoice.cycle_start_date, settings, invoice.id)
            _store_amounts(invoice, cycle_amounts(session, customer, invoice.cycle_start_date, settings, carries))
            _store_carries(session, invoice, carries)
            _store_specification(session, invoice, customer)
    if not invoice.lines:
        raise NothingToInvoice(f"{customer.code}: nothing to invoice (no fees, usage or add-ons)")
    series = TEST if invoice.test_mode else LIVE
    seq = next_seq(session, invoice.issuer, issue_date.year, series)
    number = format_number(series, issue_date.year, seq)
    invoice.number, invoice.year, invoice.seq = number, issue_date.year, seq
    invoice.issue_date = issue_date
    invoice.due_date = issue_date + timedelta(days=settings.payment_terms_days)
    invoice.status = FINAL
    invoice.finalized_at = clock()
    path = archive_path(settings, customer.code, number)
    invoice.pdf_path = str(path)
    if not invoice.test_mode:
        add_to_ledger(session, customer.id, invoice.total, 1 if invoice.kind == INVOICE else 0,
                      clock=clock)
        if invoice.kind == INVOICE:
            from core.billing.corrections import audit_carries
            from core.billing.credit import apply_credit_in

            apply_credit_in(session, customer.id, invoice.id, invoice.total)
            audit_carries(session, invoice)
    session.flush()
    pdf = render_invoice_pdf(invoice_document(session, invoice, customer, settings))  # with the credit applied
    after_commit(session, lambda: write_atomic(path, pdf))
    return number


def finalize_invoice(db: Database, invoice_id: int, *, issue_date: date, settings: Settings) -> str:
    """Finalize a draft in its own transaction; returns the invoice number (idempotent)."""
    with db.transaction() as session:
        return finalize_in(session, invoice_id, issue_date=issue_date, settings=settings)


def add_to_ledger(session: Session, customer_id: int, amount: Decimal, invoices: int, *,
                  clock: Clock = system_clock) -> None:
    """Add a finalized document's total to the customer's revenue ledger (atomic increment)."""
    increment = (update(RevenueLedger).where(RevenueLedger.customer_id == customer_id)
                 .values(invoiced_total=RevenueLedger.invoiced_total + amount,
                         invoice_count=RevenueLedger.invoice_count + invoices, updated_at=clock())
                 .execution_options(synchronize_session=False))
    if session.execute(increment).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.add(RevenueLedger(customer_id=customer_id, invoiced_total=amount,
                                      invoice_count=invoices, paid_total=Decimal("0"), status="unpaid"))
    except IntegrityError:  # created concurrently: increment theirs
        session.execute(increment)


# -- documents ---------------------------------------------------------------------------------

def issuer_party(settings: Settings) -> Party:
    issuer = settings.issuer
    return Party(name=issuer.name, address_lines=tuple(_lines(issuer.address)),
                 vat_number=issuer.vat_number or None, email=issuer.email or None,
                 country=issuer.country, iban=issuer.iban or None,
                 chamber_of_commerce=issuer.chamber_of_commerce or None)


def customer_party(customer: Customer) -> Party:
    return Party(name=customer.name, address_lines=tuple(_lines(customer.address or "")),
                 vat_number=customer.vat_number or None, email=customer.email or None,
                 country=customer.country or "NL")


def _lines(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"\r?\n|\|", text) if part.strip()]


def period_label(cycle: Cycle, language: str) -> str:
    return f"{format_date(cycle.start, language)} - {format_date(cycle.end - timedelta(days=1), language)}"


def invoice_document(session: Session, invoice: Invoice, customer: Customer,
                     settings: Settings) -> InvoiceDocument:
    assert invoice.number and invoice.issue_date and invoice.due_date
    language = cast(Literal["nl", "en"], invoice.language if invoice.language in LANGUAGES else "nl")
    period = ""
    if invoice.cycle_start_date is not None:
        period = period_label(cycle_of(customer, invoice.cycle_start_date), language)
    reference = None
    if invoice.credited_invoice_id is not None:
        reference = session.get_one(Invoice, invoice.credited_invoice_id).number
    return InvoiceDocument(
        number=invoice.number, kind="invoice" if invoice.kind == INVOICE else "credit_note",
        issue_date=invoice.issue_date, due_date=invoice.due_date, period_label=period,
        issuer=issuer_party(settings), customer=customer_party(customer), language=language,
        amounts=stored_amounts(invoice), payment_terms_days=settings.payment_terms_days,
        test_mode=invoice.test_mode, reference=reference,
        payment_reference=payment_reference(invoice.id) if invoice.kind == INVOICE else None,
        direct_debit=_direct_debit_note(customer) if invoice.kind == INVOICE else None,
        specification=stored_specification(invoice),
        credit_applied=credit_applied_to(session, invoice.id) if invoice.kind == INVOICE else Decimal("0.00"))


def _direct_debit_note(customer: Customer) -> tuple[str, str] | None:
    """(IBAN, mandate id) when the invoice will be collected by direct debit."""
    if customer.payment_method != "direct_debit" or not customer.iban or not customer.mandate_id:
        return None
    return customer.iban, customer.mandate_id


def ensure_pdf_in(session: Session, invoice: Invoice, settings: Settings) -> Path:
    """The archived PDF of a final invoice, re-rendered from its stored data when missing."""
    if invoice.status != FINAL or not invoice.number:
        raise InvoiceError("a draft has no PDF: finalize it first")
    customer = session.get_one(Customer, invoice.customer_id)
    path = Path(invoice.pdf_path) if invoice.pdf_path else archive_path(settings, customer.code, invoice.number)
    if not path.is_file():
        write_atomic(path, render_invoice_pdf(invoice_document(session, invoice, customer, settings)))
    return path


def ensure_pdf(db: Database, invoice_id: int, settings: Settings) -> Path:
    with db.reader() as session:
        invoice = session.get(Invoice, invoice_id)
        if invoice is None:
            raise InvoiceNotFound(f"no invoice with id {invoice_id}")
        return ensure_pdf_in(session, invoice, settings)


# -- issuing a cycle ---------------------------------------------------------------------------

@dataclass(frozen=True)
class IssueOutcome:
    invoice_id: int | None
    number: str | None
    outcome: Literal["issued", "exists", "empty", "review", "dropped"]
    reason: str | None = None  # why nothing was issued ("empty", "review", "dropped")
    refreshed: bool = False  # the totals were stale and were recalculated first


def issue_in(session: Session, customer_id: int, cycle_start: date, *, issue_date: date,
             settings: Settings, clock: Clock = system_clock) -> IssueOutcome:
    """Draft, validate and finalize the customer-cycle's invoice from fresh totals.

    An invoice that stands already is left alone; one that fails validation is kept as
    "held for review" without a number (`release_invoice` numbers it, `drop_invoice`
    drops it).
    """
    from core.billing.freshness import refresh_totals
    from core.billing.validation import review_reasons

    customer = _lock_customer(session, customer_id)
    standing = standing_invoice(session, customer_id, cycle_start)
    if standing is not None and standing.status == FINAL:
        ensure_pdf_in(session, standing, settings)
        return IssueOutcome(standing.id, standing.number, "exists")
    if standing is not None and standing.status in (REVIEW, DROPPED):
        return IssueOutcome(standing.id, None, "review" if standing.status == REVIEW else "dropped",
                            standing.hold_reasons or standing.note)
    refreshed = refresh_totals(session, customer_id, cycle_start)
    carries = carries_for(session, customer, cycle_start, settings, standing.id if standing else None)
    amounts = cycle_amounts(session, customer, cycle_start, settings, carries)
    if not amounts.lines:
        return IssueOutcome(standing.id if standing else None, None, "empty",
                            "no fees, usage or add-ons in the cycle", refreshed)
    invoice = draft_in(session, customer_id, cycle_start, settings, amounts, carries)
    reasons = review_reasons(session, customer, cycle_start, amounts, settings.invoice_review_percent)
    if reasons:
        invoice.status = REVIEW
        invoice.hold_reasons = "\n".join(reasons)
        session.flush()
        return IssueOutcome(invoice.id, None, "review", invoice.hold_reasons, refreshed)
    number = finalize_in(session, invoice.id, issue_date=issue_date, settings=settings, recompute=False,
                         clock=clock)
    return IssueOutcome(invoice.id, number, "issued", None, refreshed)


def release_invoice(db: Database, invoice_id: int, *, operator: str, issue_date: date,
                    settings: Settings) -> str:
    """Issue an invoice held for review as it was reviewed: the next number of its series."""
    from core.security import audit, roles

    with db.transaction() as session:
        roles.require(session, operator, roles.Action.INVOICE_RELEASE, target=str(invoice_id))
        invoice = _lock_invoice(session, invoice_id)
        if invoice.status != REVIEW:
            raise InvoiceError(f"invoice {invoice_id} is {invoice.status}, not held for review")
        reasons = invoice.hold_reasons or ""
        number = finalize_in(session, invoice.id, issue_date=issue_date, settings=settings, recompute=False)
        audit.record(session, operator=operator, action=roles.Action.INVOICE_RELEASE, target=number,
                     detail=reasons.replace("\n", "; "))
        return number


def drop_invoice(db: Database, invoice_id: int, *, operator: str, reason: str) -> None:
    """Drop an invoice held for review: it is never numbered; the cycle is not invoiced again by a run."""
    from core.security import audit, roles

    if not reason.strip():
        raise InvoiceError("dropping an invoice needs a reason")
    with db.transaction() as session:
        roles.require(session, operator, roles.Action.INVOICE_DROP, target=str(invoice_id))
        invoice = _lock_invoice(session, invoice_id)
        if invoice.status != REVIEW:
            raise InvoiceError(f"invoice {invoice_id} is {invoice.status}, not held for review")
        invoice.status = DROPPED
        invoice.note = reason.strip()
        customer = session.get_one(Customer, invoice.customer_id)
        audit.record(session, operator=operator, action=roles.Action.INVOICE_DROP,
                     target=f"{customer.code} {invoice.cycle_start_date}", detail=reason.strip())


# -- credit notes ------------------------------------------------------------------------------

def credit_in(session: Session, invoice_id: int, *, reason: str, issue_date: date,
              settings: Settings) -> Invoice:
    """The full correction of a final invoice as a numbered credit note (one per invoice)."""
    original = _lock_invoice(session, invoice_id)
    if original.kind != INVOICE or original.status != FINAL:
        raise InvoiceError(f"{original.number or 'draft'}: only a final invoice can be credited")
    existing = session.scalars(select(Invoice).where(Invoice.kind == CREDIT_NOTE,
                                                     Invoice.credited_invoice_id == original.id)).first()
    if existing is not None:
        return existing
    note = Invoice(customer_id=original.customer_id, cycle_start_date=original.cycle_start_date,
                   kind=CREDIT_NOTE, status=DRAFT, issuer=original.issuer, test_mode=original.test_mode,
                   language=original.language, credited_invoice_id=original.id, note=reason)
    _store_amounts(note, credit_note_amounts(stored_amounts(original)))
    session.add(note)
    session.flush()
    finalize_in(session, note.id, issue_date=issue_date, settings=settings)
    return note


def find_invoice(session: Session, number: str, issuer: str) -> Invoice:
    invoice = session.scalars(select(Invoice).where(Invoice.number == number.strip(),
                                                    Invoice.issuer == issuer)).first()
    if invoice is None:
        raise InvoiceNotFound(f"no invoice numbered {number!r}")
    return invoice


def credit_invoice(db: Database, number: str, *, reason: str, issue_date: date, settings: Settings,
                   operator: str) -> str:
    """Credit the invoice `number` in full; returns the credit note's number (idempotent)."""
    from core.security import audit, roles

    if not reason.strip():
        raise InvoiceError("a credit note needs a reason")
    with db.transaction() as session:
        roles.require(session, operator, roles.Action.INVOICE_CREDIT, target=number)
        original = find_invoice(session, number, settings.issuer.code)
        note = credit_in(session, original.id, reason=reason.strip(), issue_date=issue_date,
                         settings=settings)
        audit.record(session, operator=operator, action=roles.Action.INVOICE_CREDIT,
                     target=f"{original.number} -> {note.number}", detail=reason.strip())
        assert note.number is not None
        return note.number


# -- preview -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class InvoicePreview:
    customer_id: int
    customer_code: str
    cycle_start_date: date
    period: str
    language: str
    test_mode: bool
    amounts: InvoiceAmounts
    standing_number: str | None  # the cycle's final invoice, when there is one
    holds: tuple[str, ...] = ()  # why a run would hold the cycle (not complete)
    refreshed: bool = False  # the totals were stale: the amounts are from recalculated totals
    review: tuple[str, ...] = ()  # why the invoice would wait for review (validation)
    credit: Decimal = Decimal("0.00")  # customer credit the invoice takes (or took) when issued

    @property
    def amount_due(self) -> Decimal:
        return self.amounts.total - self.credit


def preview_in(session: Session, customer_id: int, cycle_start: date,
               settings: Settings | None, *, now: datetime | None = None) -> InvoicePreview:
    """The invoice as a run would issue it: from fresh totals, with the run's holds.

    Refreshes the totals in `session`: the caller rolls the transaction back.
    """
    from core.billing.freshness import refresh_totals
    from core.billing.readiness import check_cycle

    customer = session.get(Customer, customer_id)
    if customer is None:
        raise InvoiceNotFound(f"no customer with id {customer_id}")
    standing = standing_invoice(session, customer_id, cycle_start)
    final = standing is not None and standing.status == FINAL
    language = customer_language(customer)
    cycle = cycle_of(customer, cycle_start)
    refreshed = False if final else refresh_totals(session, customer_id, cycle_start)
    holds = () if final else check_cycle(session, customer, cycle, now=now or system_clock()).reasons
    amounts = stored_amounts(standing) if final and standing is not None else cycle_amounts(
        session, customer, cycle_start, settings,
        carries_for(session, customer, cycle_start, settings, standing.id if standing else None))
    review: tuple[str, ...] = ()
    if not final and amounts.lines:
        from core.billing.validation import DEFAULT_PERCENT, review_reasons

        review = tuple(review_reasons(session, customer, cycle_start, amounts,
                                      settings.invoice_review_percent if settings else DEFAULT_PERCENT))
    credit = (credit_applied_to(session, standing.id) if final and standing is not None
              else credit_to_apply(session, customer, amounts.total))
    return InvoicePreview(
        customer_id=customer_id, customer_code=customer.code, cycle_start_date=cycle_start,
        period=period_label(cycle, language), language=language,
        test_mode=customer.test_mode, amounts=amounts,
        standing_number=standing.number if final and standing is not None else None,
        holds=holds, refreshed=refreshed, review=review, credit=credit)


def preview_invoice(db: Database, customer_id: int, cycle_start: date | None, *,
                    settings: Settings | None = None, now: datetime | None = None) -> InvoicePreview:
    """What the customer-cycle's invoice would say now; nothing is stored or numbered.

    Without `cycle_start`, the customer's last cycle that has ended (what a run invoices).
    """
    from core.billing.readiness import last_ended_cycle
    from core.totals import customer_zone

    moment = now or system_clock()
    with db.sessions() as session:
        session.begin()
        try:
            if cycle_start is None:
                customer = session.get(Customer, customer_id)
                if customer is None:
                    raise InvoiceNotFound(f"no customer with id {customer_id}")
                cycle_start = last_ended_cycle(customer, moment.astimezone(customer_zone(customer)).date()).start
            return preview_in(session, customer_id, cycle_start, settings, now=moment)
        finally:
            session.rollback()


@dataclass(frozen=True)
class HeldInvoice:
    invoice_id: int
    customer_code: str
    cycle_start_date: date | None
    total: Decimal
    reasons: tuple[str, ...]


def held_for_review(db: Database) -> list[HeldInvoice]:
    """Invoices waiting for an operator's release or drop, oldest first."""
    with db.reader() as session:
        rows = session.execute(select(Invoice.id, Customer.code, Invoice.cycle_start_date, Invoice.total,
                                      Invoice.hold_reasons)
                               .join(Customer, Customer.id == Invoice.customer_id)
                               .where(Invoice.status == REVIEW).order_by(Invoice.id)).all()
    return [HeldInvoice(i, code, cycle, total, tuple((reasons or "").splitlines()))
            for i, code, cycle, total, reasons in rows]


# -- reading -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class InvoiceSummary:
    id: int
    number: str | None
    kind: str
    status: str
    test_mode: bool
    customer_id: int
    customer_code: str
    customer_name: str
    cycle_start_date: date | None
    issue_date: date | None
    due_date: date | None
    subtotal: Decimal
    vat: Decimal
    total: Decimal
    credited_invoice_id: int | None
    pdf_path: str | None


_SUMMARY = (Invoice.id, Invoice.number, Invoice.kind, Invoice.status, Invoice.test_mode,
            Invoice.customer_id, Customer.code, Customer.name, Invoice.cycle_start_date,
            Invoice.issue_date, Invoice.due_date, Invoice.subtotal, Invoice.vat, Invoice.total,
            Invoice.credited_invoice_id, Invoice.pdf_path)


def _summary(row: Any) -> InvoiceSummary:
    return InvoiceSummary(*row)


def list_invoices(db: Database, *, customer_id: int | None = None, cycle_start: date | None = None,
                  year: int | None = None, status: str | None = None, limit: int = 200,
                  offset: int = 0) -> list[InvoiceSummary]:
    """Invoices and credit notes, newest first (drafts, which have no number, first of all)."""
    query = select(*_SUMMARY).join(Customer, Customer.id == Invoice.customer_id)
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    if cycle_start is not None:
        query = query.where(Invoice.cycle_start_date == cycle_start)
    if year is not None:
        query = query.where(Invoice.year == year)
    if status is not None:
        query = query.where(Invoice.status == status)
    query = (query.order_by(Invoice.seq.is_not(None), Invoice.year.desc(), Invoice.test_mode,
                            Invoice.seq.desc(), Invoice.id.desc())
             .limit(limit).offset(offset))
    with db.reader() as session:
        return [_summary(row) for row in session.execute(query)]


@dataclass(frozen=True)
class InvoiceDetail:
    summary: InvoiceSummary
    amounts: InvoiceAmounts
    reverse_charge: bool
    note: str | None
    credited_number: str | None
    credit_note_number: str | None
    language: str = "nl"  # the customer's language, in which the invoice is written
    credit_applied: Decimal = Decimal("0.00")  # customer credit that pays part of the total

    @property
    def amount_due(self) -> Decimal:
        return self.amounts.total - self.credit_applied


def invoice_detail(db: Database, number: str, issuer: str) -> InvoiceDetail:
    with db.reader() as session:
        invoice = find_invoice(session, number, issuer)
        row = session.execute(select(*_SUMMARY).join(Customer, Customer.id == Invoice.customer_id)
                              .where(Invoice.id == invoice.id)).one()
        credited = (session.get_one(Invoice, invoice.credited_invoice_id).number
                    if invoice.credited_invoice_id else None)
        credit_note = session.scalars(select(Invoice.number).where(
            Invoice.kind == CREDIT_NOTE, Invoice.credited_invoice_id == invoice.id)).first()
        return InvoiceDetail(_summary(row), stored_amounts(invoice), invoice.reverse_charge,
                             invoice.note, credited, credit_note,
                             invoice.language if invoice.language in LANGUAGES else "nl",
                             credit_applied_to(session, invoice.id) if invoice.kind == INVOICE
                             else Decimal("0.00"))
