"""SEPA direct debit: one pain.008 file for the open invoices of direct-debit customers.

`collect` picks every final live invoice of a customer paying by direct debit whose
mandate stands, that is due by the given date, still open and in no standing
collection; it records the batch and its items and writes the file under the data dir
in one go. Nothing is sent anywhere: the operator uploads the file to the bank.

- The sequence type is FRST for a mandate's first collection and RCUR after it (a
  collection that came back does not count as the first one).
- The collection date is the later of the invoice's due date and `lead_days` business
  days from today (SEPA Core: D-1 since 2016; banks may ask more: a setting).
- An invoice is in at most one standing collection: `collection_item.open_invoice_id`
  is UNIQUE, so a second run, or two at once, never collects an invoice twice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.billing.bank import (
    BankDataError,
    bic_for,
    checked_creditor_id,
    checked_iban,
    payment_reference,
)
from core.billing.invoices import FINAL, INVOICE
from core.billing.payments import invoice_balances
from core.config import Settings
from core.db import Database
from core.models import Customer, Invoice
from core.models.payments import CollectionBatch, CollectionItem

DIRECT_DEBIT = "direct_debit"


class CollectionError(Exception):
    """A collection cannot be built (creditor settings, schema); the text says what to fix."""


@dataclass(frozen=True)
class CollectedInvoice:
    number: str
    customer_code: str
    amount: Decimal
    sequence_type: str
    collection_date: date
    end_to_end_id: str


@dataclass(frozen=True)
class CollectionResult:
    batch_id: int | None
    path: Path | None
    items: tuple[CollectedInvoice, ...]
    skipped: tuple[str, ...]  # "2026-00012 (ACME): mandate blocked: AC04 account closed"

    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.items), Decimal("0.00"))


def add_business_days(day: date, days: int) -> date:
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def _creditor(settings: Settings) -> dict[str, str]:
    payments, issuer = settings.payments, settings.issuer
    if not payments.creditor_id:
        raise CollectionError("no SEPA creditor id: set payments.creditor_id in the config file "
                              "(e.g. NL79ZZZ999999990000)")
    try:
        creditor_id = checked_creditor_id(payments.creditor_id)
        iban = checked_iban(issuer.iban)
    except BankDataError as exc:
        raise CollectionError(f"settings: {exc}") from None
    bic = payments.creditor_bic or bic_for(iban)
    if not bic:
        raise CollectionError(f"no BIC known for {iban}: set payments.creditor_bic")
    return {"name": issuer.name[:70], "IBAN": iban, "BIC": bic, "creditor_id": creditor_id}


def collect(db: Database, settings: Settings, *, due_before: date, today: date, operator: str,
            dry_run: bool = False) -> CollectionResult:
    """Build the direct-debit batch for invoices due on or before `due_before`."""
    from core.security import roles

    roles.authorize(db, operator, roles.Action.PAYMENTS_COLLECT, target=f"due before {due_before}")
    creditor = _creditor(settings)
    earliest = add_business_days(today, settings.payments.lead_days)
    try:
        return _collect(db, settings, creditor, due_before=due_before, today=today, earliest=earliest,
                        operator=operator, dry_run=dry_run)
    except _NothingLeft as nothing:
        return CollectionResult(None, None, (), tuple(nothing.skipped))


class _NothingLeft(Exception):
    def __init__(self, skipped: list[str]) -> None:
        super().__init__("nothing left to collect")
        self.skipped = skipped


def _collect(db: Database, settings: Settings, creditor: dict[str, str], *, due_before: date, today: date,
             earliest: date, operator: str, dry_run: bool) -> CollectionResult:
    from core.security import audit
    from core.security.roles import Action

    with db.transaction() as session:
        candidates, skipped = _candidates(session, due_before, today)
        if not candidates or dry_run:
            items = tuple(_plan(session, candidates, earliest))
            return CollectionResult(None, None, items, tuple(skipped))
        batch = CollectionBatch(message_id="pending", collection_date=earliest, created_by=operator,
                                item_count=0, total=Decimal("0"), path="")
        session.add(batch)
        session.flush()
        batch.message_id = f"EXP-DD-{batch.id:08d}"
        planned: list[CollectedInvoice] = []
        for (invoice, customer, amount), item in zip(candidates, _plan(session, candidates, earliest), strict=True):
            try:
                with session.begin_nested():
                    session.add(CollectionItem(
                        batch_id=batch.id, invoice_id=invoice.id, open_invoice_id=invoice.id,
                        customer_id=customer.id, mandate_id=str(customer.mandate_id),
                        sequence_type=item.sequence_type, amount=amount,
                        end_to_end_id=item.end_to_end_id, status="sent"))
            except IntegrityError:  # another run collected it a moment ago
                skipped.append(f"{invoice.number} ({customer.code}): already in a collection")
                continue
            planned.append(item)
        if not planned:  # every candidate was collected by a concurrent run: keep no empty batch
            raise _NothingLeft(skipped)
        batch.item_count = len(planned)
        batch.total = sum((p.amount for p in planned), Decimal("0"))
        path = settings.data_dir / "collections" / f"pain008-{batch.message_id}.xml"
        xml = render_pain008(creditor, batch.message_id, planned, candidates)
        batch.path = str(path)
        _write_private(path, xml)
        audit.record(session, operator=operator, action=Action.PAYMENTS_COLLECT, target=batch.message_id,
                     detail=f"{len(planned)} invoice(s), {batch.total:.2f} EUR, collection date "
                            f"{earliest}, file {path.name}")
        return CollectionResult(batch.id, path, tuple(planned), tuple(skipped))


def _candidates(session: Session, due_before: date, today: date
                ) -> tuple[list[tuple[Invoice, Customer, Decimal]], list[str]]:
    customers = {c.id: c for c in session.scalars(select(Customer).where(Customer.payment_method == DIRECT_DEBIT))}
    standing = set(session.scalars(select(CollectionItem.open_invoice_id)
                                   .where(CollectionItem.open_invoice_id.is_not(None))))
    chosen: list[tuple[Invoice, Customer, Decimal]] = []
    skipped: list[str] = []
    for balance in invoice_balances(session, today):
        customer = customers.get(balance.customer_id)
        if customer is None or balance.open <= 0 or balance.due_date > due_before:
            continue
        if balance.invoice_id in standing:
            continue
        invoice = session.get_one(Invoice, balance.invoice_id)
        if invoice.kind != INVOICE or invoice.status != FINAL or invoice.test_mode or customer.test_mode:
            continue
        label = f"{balance.number} ({customer.code})"
        if customer.mandate_blocked:
            skipped.append(f"{label}: mandate blocked: {customer.mandate_blocked}")
        elif not (customer.iban and customer.mandate_id and customer.mandate_date):
            skipped.append(f"{label}: no IBAN or mandate on the customer")
        else:
            chosen.append((invoice, customer, balance.open))
    return chosen, skipped


def _plan(session: Session, candidates: Sequence[tuple[Invoice, Customer, Decimal]],
          earliest: date) -> list[CollectedInvoice]:
    """FRST for a mandate never collected before (a returned debit does not count), else RCUR;
    every invoice of one mandate in a batch gets the same sequence type."""
    mandates = {(c.id, str(c.mandate_id)) for _, c, _ in candidates}
    collected = {(cid, mid) for cid, mid in session.execute(
        select(CollectionItem.customer_id, CollectionItem.mandate_id)
        .where(CollectionItem.status == "sent").distinct()) if (cid, mid) in mandates}
    plan = []
    for invoice, customer, amount in candidates:
        assert invoice.due_date is not None and invoice.number is not None
        sequence = "RCUR" if (customer.id, str(customer.mandate_id)) in collected else "FRST"
        plan.append(CollectedInvoice(invoice.number, customer.code, amount, sequence,
                                     max(invoice.due_date, earliest), f"EXP-{payment_reference(invoice.id)}"))
    return plan


def render_pain008(creditor: dict[str, str], message_id: str, items: Sequence[CollectedInvoice],
                   candidates: Sequence[tuple[Invoice, Customer, Decimal]]) -> bytes:
    """The pain.008.001.02 document, validated against its XSD by sepaxml (xmlschema)."""
    from sepaxml import SepaDD
    from sepaxml.validation import ValidationError

    by_number = {inv.number: (inv, cust) for inv, cust, _ in candidates}
    sepa = SepaDD({**creditor, "batch": True, "currency": "EUR"}, schema="pain.008.001.02")
    sepa.msg_id = message_id
    header_id = sepa._xml.find("CstmrDrctDbtInitn/GrpHdr/MsgId")  # written by the constructor
    if header_id is not None:
        header_id.text = message_id
    for item in items:
        invoice, customer = by_number[item.number]
        payment = {
            "name": customer.name[:70], "IBAN": str(customer.iban),
            "amount": int(item.amount.scaleb(2)), "type": item.sequence_type,
            "collection_date": item.collection_date, "mandate_id": str(customer.mandate_id),
            "mandate_date": customer.mandate_date, "description": f"{item.number} {payment_reference(invoice.id)}",
            "endtoend_id": item.end_to_end_id,
        }
        if customer.bic:
            payment["BIC"] = customer.bic
        sepa.add_payment(payment)
    try:
        return bytes(sepa.export(validate=True))
    except ValidationError as exc:
        raise CollectionError(f"the pain.008 file does not validate: {exc.__cause__ or exc}") from None


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically, readable by the owner only (it names customers' bank accounts)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
