"""Applying a CAMT.053 bank statement: credits matched to invoices, returned debits reopened.

Each booking is stored once, ever, keyed by the bank's entry reference (and the
account), so a statement imported twice, or two overlapping statements, apply each
amount once. A credit is matched, in this order, by:

1. end-to-end id: the id we gave the debit in our pain.008 file;
2. betalingskenmerk: the 16-digit payment reference printed on the invoice;
3. invoice number named in the remittance text;
4. IBAN + amount: the payer's IBAN is a customer's and exactly one of that customer's
   open invoices is open for exactly that amount.

A returned direct debit (a debit with an R-transaction reason code) is stored as a
negative payment on the invoice it collected, which reopens the invoice; the
collection stops standing, so the next batch may collect it again, and for reason
codes that say the mandate cannot be used (AC04 account closed, AC06 blocked, MD01 no
mandate, MD07 debtor deceased) the customer's mandate is flagged and not collected
from until setup is applied again. Anything unmatched waits for `payments match`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.billing.bank import invoice_id_from_reference
from core.billing.camt import StatementEntry, parse_statement
from core.billing.invoices import FINAL, INVOICE
from core.billing.payments import invoice_balances, update_balances
from core.billing.payments_csv import extract_invoice_number
from core.config import Settings
from core.db import Database
from core.models import Customer, Invoice, Payment
from core.models.payments import CollectionItem

RETURN_REASONS = {
    "AC01": "incorrect account number", "AC04": "account closed", "AC06": "account blocked",
    "AG01": "transaction forbidden", "AG02": "invalid bank operation code", "AM04": "insufficient funds",
    "AM05": "duplicate collection", "BE05": "unrecognised creditor", "FF01": "invalid file format",
    "MD01": "no valid mandate", "MD02": "mandate data missing or incorrect", "MD06": "refund request by debtor",
    "MD07": "debtor deceased", "MS02": "refused by debtor", "MS03": "reason not specified",
    "RC01": "bank identifier incorrect", "RR01": "regulatory reason", "RR02": "regulatory reason",
    "RR03": "regulatory reason", "RR04": "regulatory reason", "SL01": "specific service offered by bank",
}
MANDATE_ENDING = frozenset({"AC04", "AC06", "MD01", "MD07"})

MatchedBy = str  # "end-to-end id", "payment reference", "invoice number", "IBAN and amount"


@dataclass(frozen=True)
class AppliedEntry:
    entry: StatementEntry
    invoice_number: str | None
    matched_by: MatchedBy | None


@dataclass
class StatementImport:
    applied: list[AppliedEntry] = field(default_factory=list)
    returned: list[AppliedEntry] = field(default_factory=list)
    unmatched: list[AppliedEntry] = field(default_factory=list)
    duplicates: int = 0  # bookings imported before: not applied again
    ignored: int = 0  # our own debits that are not returned collections (fees, transfers out)

    def summary(self) -> str:
        return (f"{len(self.applied)} matched, {len(self.returned)} returned debit(s), "
                f"{len(self.unmatched)} unmatched, {self.duplicates} already imported, "
                f"{self.ignored} other debit(s) ignored")


def fingerprint(entry: StatementEntry) -> str:
    digest = hashlib.sha256(f"{entry.account_iban}|{entry.entry_ref}".encode()).hexdigest()
    return f"camt:{digest[:59]}"


def import_statement(db: Database, path: Path, *, settings: Settings, operator: str,
                     today: date) -> StatementImport:
    """Store and apply the statement's bookings (each once, ever); then update the balances."""
    from core.security import audit, roles

    roles.authorize(db, operator, roles.Action.PAYMENTS_IMPORT, target=path.name)
    entries = parse_statement(path)
    result = StatementImport()
    with db.transaction() as session:
        matcher = _Matcher(session, settings, today)
        for entry in entries:
            if entry.amount < 0 and entry.return_reason is None:
                result.ignored += 1
                continue
            if session.scalar(select(Payment.id).where(Payment.fingerprint == fingerprint(entry))):
                result.duplicates += 1
                continue
            if entry.amount < 0:
                applied = _apply_return(session, entry)
                if applied is None:
                    result.ignored += 1
                    continue
                target = result.returned if applied.invoice_number else result.unmatched
            else:
                invoice_id, matched_by = matcher.match(entry)
                applied = AppliedEntry(entry, matcher.number(invoice_id), matched_by)
                if not _store(session, entry, invoice_id, None):
                    result.duplicates += 1
                    continue
                target = result.applied if invoice_id else result.unmatched
            target.append(applied)
        audit.record(session, operator=operator, action=roles.Action.PAYMENTS_IMPORT, target=path.name,
                     detail=f"CAMT.053: {result.summary()}")
    update_balances(db, today=today)
    return result


def _store(session: Session, entry: StatementEntry, invoice_id: int | None, reason: str | None) -> bool:
    try:
        with session.begin_nested():
            session.add(Payment(
                fingerprint=fingerprint(entry), paid_on=entry.booked_on, amount=entry.amount,
                reference=(entry.structured_ref or entry.remittance or entry.end_to_end_id or "")[:255],
                counterparty=entry.counterparty[:200], invoice_id=invoice_id, source="camt053",
                end_to_end_id=(entry.end_to_end_id or None) and entry.end_to_end_id[:35],
                counterparty_iban=(entry.counterparty_iban or None) and entry.counterparty_iban[:34],
                return_reason=reason))
    except IntegrityError:  # a concurrent import of the same statement stored it first
        return False
    return True


def _apply_return(session: Session, entry: StatementEntry) -> AppliedEntry | None:
    """A returned debit of ours: reopen its invoice and record why; None if not one of ours."""
    reason = str(entry.return_reason)
    item = session.scalars(select(CollectionItem).where(
        CollectionItem.end_to_end_id == entry.end_to_end_id)).first() if entry.end_to_end_id else None
    if item is None:
        # A return we cannot place still moves money: keep it for matching by hand.
        _store(session, entry, None, reason[:8])
        return AppliedEntry(entry, None, None)
    if not _store(session, entry, item.invoice_id, reason[:8]):
        return None
    described = f"{reason} {RETURN_REASONS.get(reason, 'returned by the bank')}"
    session.execute(update(CollectionItem).where(CollectionItem.id == item.id)
                    .values(status="returned", open_invoice_id=None, return_reason=described)
                    .execution_options(synchronize_session=False))
    if reason in MANDATE_ENDING:
        session.execute(update(Customer).where(Customer.id == item.customer_id)
                        .values(mandate_blocked=f"{described} (booked {entry.booked_on})")
                        .execution_options(synchronize_session=False))
    number = session.scalar(select(Invoice.number).where(Invoice.id == item.invoice_id))
    return AppliedEntry(entry, number, "end-to-end id")


class _Matcher:
    def __init__(self, session: Session, settings: Settings, today: date) -> None:
        self.session = session
        self.issuer = settings.issuer.code
        self.today = today
        self._numbers: dict[int, str] = {}

    def number(self, invoice_id: int | None) -> str | None:
        if invoice_id is None:
            return None
        if invoice_id not in self._numbers:
            self._numbers[invoice_id] = str(self.session.scalar(
                select(Invoice.number).where(Invoice.id == invoice_id)))
        return self._numbers[invoice_id]

    def _payable(self, invoice_id: int | None) -> int | None:
        if invoice_id is None:
            return None
        found = self.session.execute(select(Invoice.id).where(
            Invoice.id == invoice_id, Invoice.status == FINAL, Invoice.kind == INVOICE,
            Invoice.issuer == self.issuer)).scalar()
        return int(found) if found is not None else None

    def match(self, entry: StatementEntry) -> tuple[int | None, MatchedBy | None]:
        if entry.end_to_end_id:
            by_e2e = self.session.scalar(select(CollectionItem.invoice_id).where(
                CollectionItem.end_to_end_id == entry.end_to_end_id))
            if by_e2e is not None:
                return int(by_e2e), "end-to-end id"
        for text in (entry.structured_ref, entry.remittance):
            found = self._payable(invoice_id_from_reference(text or ""))
            if found is not None:
                return found, "payment reference"
        for text in (entry.structured_ref, entry.remittance):
            number = extract_invoice_number(text or "")
            if number:
                found = self.session.scalar(select(Invoice.id).where(
                    Invoice.number == number, Invoice.issuer == self.issuer, Invoice.status == FINAL))
                if found is not None:
                    return int(found), "invoice number"
        if entry.counterparty_iban:
            return self._by_iban_and_amount(entry.counterparty_iban, entry.amount)
        return None, None

    def _by_iban_and_amount(self, iban: str, amount: Decimal) -> tuple[int | None, MatchedBy | None]:
        customers = list(self.session.scalars(select(Customer.id).where(Customer.iban == iban.replace(" ", ""))))
        if len(customers) != 1:
            return None, None
        open_for_amount = [b.invoice_id for b in invoice_balances(self.session, self.today, customer_id=customers[0])
                           if b.open == amount]
        if len(open_for_amount) == 1:
            return open_for_amount[0], "IBAN and amount"
        return None, None
