"""Invoice and credit-note PDFs (fpdf2), deterministic for identical input.

Uses the Helvetica core font with the windows-1252 encoding, which holds the
euro sign, so nothing depends on a font file being present. Characters outside
windows-1252 (a Polish "ł", say) are transliterated rather than failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from core.billing.lines import InvoiceAmounts
from core.billing.specification import SpecificationLine


@dataclass(frozen=True)
class Party:
    name: str
    address_lines: tuple[str, ...]
    vat_number: str | None
    email: str | None
    country: str = "NL"
    iban: str | None = None
    chamber_of_commerce: str | None = None


@dataclass(frozen=True)
class InvoiceDocument:
    number: str
    kind: Literal["invoice", "credit_note"]
    issue_date: date
    due_date: date
    period_label: str
    issuer: Party
    customer: Party
    language: Literal["nl", "en"]
    amounts: InvoiceAmounts
    payment_terms_days: int
    test_mode: bool
    reference: str | None = None  # the credited invoice number on a credit note
    payment_reference: str | None = None  # the invoice's 16-digit betalingskenmerk
    direct_debit: tuple[str, str] | None = None  # (IBAN, mandate id): collected by direct debit
    specification: tuple[SpecificationLine, ...] = ()  # the usage annex, when the customer has one
    credit_applied: Decimal = Decimal("0.00")  # customer credit that pays part of the total

    @property
    def amount_due(self) -> Decimal:
        return self.amounts.total - self.credit_applied


def render_invoice_pdf(doc: InvoiceDocument) -> bytes:
    """Render `doc` as PDF bytes; identical documents give identical bytes."""
    if doc.kind not in ("invoice", "credit_note"):
        raise ValueError(f"unknown document kind {doc.kind!r}")
    from core.billing.pdf_render import render  # fpdf costs ~0.3 s to import: only when rendering

    return render(doc)
