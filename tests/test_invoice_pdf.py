"""Invoice PDFs read back with pypdf, and the Dutch/English formats they print."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pypdf
import pytest

from core.billing.i18n import format_date, format_decimal, format_money, t
from core.billing.lines import (
    InvoiceAmounts,
    InvoiceLine,
    VatRule,
    compute_amounts,
    credit_note_amounts,
    vat_rule_for,
)
from core.billing.pdf import InvoiceDocument, Party, render_invoice_pdf

D = Decimal

ISSUER = Party(
    name="Expensis B.V.",
    address_lines=("Keizersgracht 1", "1015 AA Amsterdam"),
    vat_number="NL001234567B01",
    email="facturen@expensis.nl",
    iban="NL91ABNA0417164300",
    chamber_of_commerce="12345678",
)
CUSTOMER = Party(
    name="Bakkerij De Korenschoof B.V.",
    address_lines=("Dorpsstraat 12", "3581 AB Utrecht"),
    vat_number=None,
    email="administratie@korenschoof.nl",
)


def _document(amounts: InvoiceAmounts, **changes: object) -> InvoiceDocument:
    document = InvoiceDocument(
        number="2026-00042",
        kind="invoice",
        issue_date=date(2026, 11, 15),
        due_date=date(2026, 11, 29),
        period_label="1-31 oktober 2026",
        issuer=ISSUER,
        customer=CUSTOMER,
        language="nl",
        amounts=amounts,
        payment_terms_days=14,
        test_mode=False,
    )
    return replace(document, **changes)  # type: ignore[arg-type]


def _pages(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [" ".join((page.extract_text() or "").split()) for page in reader.pages]


def _three_lines() -> InvoiceAmounts:
    lines = [
        InvoiceLine("Abonnement Zakelijk 5GB", D(3), "st.", D("12.5000"), D("37.50")),
        InvoiceLine("Bellen buiten bundel", D("10.50"), "min", D("0.4157"), D("4.37")),
        InvoiceLine("Data-bundel 100 GB", D(1), "st.", D("1192.19"), D("1192.19")),
    ]
    # 37.50 + 4.37 + 1192.19 = 1234.06; VAT 21 % = 259.1526 -> 259.15; total 1493.21
    return compute_amounts(lines, VatRule())


# -- formats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "language", "text"),
    [
        (D("1234.56"), "nl", "€ 1.234,56"),
        (D("1234.56"), "en", "€1,234.56"),
        (D("-1234.56"), "nl", "€ -1.234,56"),
        (D("-1234.56"), "en", "-€1,234.56"),
        (D("1234567.8"), "nl", "€ 1.234.567,80"),
        (D("0.005"), "nl", "€ 0,01"),  # half-up; banker's rounding would print € 0,00
        (D("2.675"), "en", "€2.68"),  # exact in Decimal, so no float surprise (2.67)
        (D("-0.001"), "nl", "€ 0,00"),  # never "€ -0,00"
        (D("0"), "en", "€0.00"),
    ],
)
def test_format_money(amount: Decimal, language: str, text: str) -> None:
    assert format_money(amount, language) == text


def test_format_money_with_four_places() -> None:
    assert format_money(D("0.41565"), "nl", places=4) == "€ 0,4157"  # half-up at 4 places
    assert format_money(D("12.5000"), "en", places=4) == "€12.50"  # trailing zeros dropped


def test_format_date_and_numbers() -> None:
    assert format_date(date(2026, 11, 21), "nl") == "21 november 2026"
    assert format_date(date(2026, 11, 21), "en") == "21 November 2026"
    assert format_decimal(D("1234.50"), "nl") == "1.234,5"
    assert format_decimal(D("1234.50"), "en") == "1,234.5"
    assert format_decimal(D("3.00"), "nl") == "3"


def test_labels() -> None:
    assert t("invoice", "nl") == "Factuur"
    assert t("credit_note", "en") == "Credit note"
    with pytest.raises(ValueError):
        t("invoice", "de")
    with pytest.raises(KeyError):
        t("no such label", "nl")


# -- the PDF ---------------------------------------------------------------------------


def test_dutch_invoice_shows_parties_lines_totals_and_payment_terms() -> None:
    pages = _pages(render_invoice_pdf(_document(_three_lines())))
    text = " ".join(pages)
    assert len(pages) == 1
    for expected in [
        "FACTUUR",
        "Expensis B.V.",
        "Keizersgracht 1",
        "KvK: 12345678",
        "Btw-nummer: NL001234567B01",
        "Bakkerij De Korenschoof B.V.",
        "3581 AB Utrecht",
        "Factuurnummer 2026-00042",
        "Factuurdatum 15 november 2026",
        "Vervaldatum 29 november 2026",
        "Periode 1-31 oktober 2026",
        "Abonnement Zakelijk 5GB 3 st. € 12,50 € 37,50",
        "Bellen buiten bundel 10,5 min € 0,4157 € 4,37",
        "Data-bundel 100 GB 1 st. € 1.192,19 € 1.192,19",
        # hand-computed in _three_lines
        "Subtotaal € 1.234,06",
        "Btw 21% € 259,15",
        "Totaal € 1.493,21",
        "binnen 14 dagen over te maken op NL91ABNA0417164300 t.n.v. Expensis B.V., "
        "onder vermelding van 2026-00042.",
        "1/1",
    ]:
        assert expected in text, expected
    assert "TEST" not in text
    assert "verlegd" not in text


def test_english_reverse_charge_invoice() -> None:
    customer = Party(
        name="Brasserie Łódź SPRL",
        address_lines=("Rue Neuve 1", "1000 Bruxelles", "Belgium"),
        vat_number="BE0123456789",
        email=None,
        country="BE",
    )
    lines = [InvoiceLine("Subscription Business", D(8), "pcs", D("12.50"), D("100.00"))]
    amounts = compute_amounts(lines, vat_rule_for(customer.country, customer.vat_number))
    document = _document(amounts, customer=customer, language="en", period_label="October 2026")
    text = " ".join(_pages(render_invoice_pdf(document)))
    for expected in [
        "INVOICE",
        "Invoice number 2026-00042",
        "Invoice date 15 November 2026",
        "Brasserie Lódz SPRL",  # Ł and ź are outside the core font's code page: transliterated
        "VAT number: BE0123456789",
        "Subscription Business 8 pcs €12.50 €100.00",
        # 8 x 12.50 = 100.00, reverse charge: no VAT
        "Subtotal €100.00",
        "VAT 0% €0.00",
        "Total €100.00",
        "VAT reverse charged to the customer (Art. 196 VAT Directive 2006/112/EC).",
        "quoting 2026-00042 as payment reference.",
    ]:
        assert expected in text, expected


def test_credit_note() -> None:
    credit = credit_note_amounts(_three_lines())
    document = _document(credit, number="2026-00043", kind="credit_note", reference="2026-00042")
    text = " ".join(_pages(render_invoice_pdf(document)))
    for expected in [
        "CREDITNOTA",
        "Creditnotanummer 2026-00043",
        "Correctie op factuur 2026-00042",
        "Abonnement Zakelijk 5GB -3 st. € 12,50 € -37,50",
        # the negated invoice of _three_lines: -1234.06, -259.15, -1493.21
        "Subtotaal € -1.234,06",
        "Btw 21% € -259,15",
        "Totaal € -1.493,21",
        "verrekend of teruggestort; kenmerk 2026-00043",
    ]:
        assert expected in text, expected


def test_test_mode_is_marked_on_every_page() -> None:
    lines = [InvoiceLine(f"Regel {i}", D(1), "st.", D(1), D(1)) for i in range(60)]
    document = _document(compute_amounts(lines, VatRule()), number="TEST-2026-00003")
    document = replace(document, test_mode=True)
    pages = _pages(render_invoice_pdf(document))
    assert len(pages) > 1
    for page in pages:
        assert "TESTFACTUUR - niet betalen" in page
        assert "TEST" in page.replace("TESTFACTUUR", "")  # the watermark besides the banner
    assert "onder vermelding van TEST-2026-00003" in pages[-1]


def test_120_lines_break_across_pages_with_repeated_header() -> None:
    # Line i (1..120) costs i x €0.10. Sum: 0.10 x (1 + ... + 120) = 0.10 x 7260 = 726.00;
    # VAT 21 % = 152.46; total 878.46.
    lines = [
        InvoiceLine(f"Gesprekskosten regel {i:03d}", D(i), "min", D("0.10"), D(i) * D("0.10"))
        for i in range(1, 121)
    ]
    amounts = compute_amounts(lines, VatRule())
    assert (amounts.subtotal, amounts.vat, amounts.total) == (
        D("726.00"),
        D("152.46"),
        D("878.46"),
    )
    pages = _pages(render_invoice_pdf(_document(amounts)))
    count = len(pages)
    assert count >= 3
    for number, page in enumerate(pages, start=1):
        assert "Omschrijving Aantal Eenheid Prijs Bedrag" in page, f"no header on page {number}"
        assert f"{number}/{count}" in page
    text = " ".join(pages)
    for i in range(1, 121):
        assert f"Gesprekskosten regel {i:03d} {i} min € 0,10" in text
    # lines are in order and each appears once
    positions = [text.index(f"regel {i:03d} ") for i in range(1, 121)]
    assert positions == sorted(positions)
    assert len(re.findall(r"Gesprekskosten regel", text)) == 120
    assert "Subtotaal € 726,00" in pages[-1]
    assert "Btw 21% € 152,46" in pages[-1]
    assert "Totaal € 878,46" in pages[-1]

    english = _pages(render_invoice_pdf(_document(amounts, language="en")))
    assert "Description Quantity Unit Unit price Amount" in english[1]
    assert "Total €878.46" in english[-1]


def test_rendering_is_deterministic() -> None:
    document = _document(_three_lines())
    first = render_invoice_pdf(document)
    assert render_invoice_pdf(document) == first
    assert first.startswith(b"%PDF-")
    later = render_invoice_pdf(replace(document, issue_date=date(2026, 11, 16)))
    assert later != first


def test_metadata() -> None:
    reader = pypdf.PdfReader(io.BytesIO(render_invoice_pdf(_document(_three_lines()))))
    assert reader.metadata is not None
    assert reader.metadata.title == "Factuur 2026-00042"
    assert reader.metadata.author == "Expensis B.V."
