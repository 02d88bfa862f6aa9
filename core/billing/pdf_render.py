"""The fpdf2 rendering of an invoice document, imported only when a PDF is made."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, time
from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace

from core.billing.bank import format_reference
from core.billing.i18n import (
    call_type_label,
    format_date,
    format_decimal,
    format_money,
    format_percent,
    t,
    zone_label,
)
from core.billing.pdf import InvoiceDocument

_FONT = "Helvetica"
_ENCODING = "windows-1252"
_MARGIN = 18.0
_FOOTER_SPACE = 22.0
# Description, quantity, unit, unit price, amount (mm); sums to the A4 text width (174 mm).
_COLUMNS = (84.0, 20.0, 16.0, 27.0, 27.0)
_ALIGN = ("LEFT", "RIGHT", "LEFT", "RIGHT", "RIGHT")
# Number, cost centre, type, zone, count, usage, in bundle, beyond, amount (mm): also 174 mm.
_SPEC_COLUMNS = (26.0, 22.0, 20.0, 16.0, 12.0, 22.0, 18.0, 19.0, 19.0)
_SPEC_ALIGN = ("LEFT", "LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
_GREY = (235, 235, 235)
_RED = (200, 30, 30)
# Letters that Unicode does not decompose into a base letter plus an accent.
_TRANSLITERATE = str.maketrans(
    {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i"}
)


def render(doc: InvoiceDocument) -> bytes:
    """The PDF bytes of `doc` (core.billing.pdf.render_invoice_pdf checks it first)."""
    pdf = _InvoicePdf(doc)
    pdf.add_page()
    pdf.parties()
    pdf.line_table()
    pdf.totals()
    pdf.notes()
    if doc.specification:
        pdf.specification()
    return bytes(pdf.output())


def _pdf_text(text: str) -> str:
    """Text the core font can encode: as is where possible, else without accents, else '?'."""
    try:
        text.encode(_ENCODING)
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for char in text.translate(_TRANSLITERATE):
        try:
            char.encode(_ENCODING)
            out.append(char)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
            out.append(base or "?")
    return "".join(out)


class _InvoicePdf(FPDF):
    def __init__(self, doc: InvoiceDocument) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.doc = doc
        self._language = doc.language
        self.core_fonts_encoding = _ENCODING
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(auto=True, margin=_FOOTER_SPACE)
        # Fixed metadata so that the bytes depend on the document only.
        self.set_creation_date(datetime.combine(doc.issue_date, time(0), tzinfo=UTC))
        self.set_producer("Expensis console")
        self.set_creator("Expensis console")
        self.set_title(_pdf_text(f"{self._title()} {doc.number}"))
        self.set_author(_pdf_text(doc.issuer.name))
        self.set_lang(doc.language)

    # -- helpers -------------------------------------------------------------

    def _t(self, key: str) -> str:
        return t(key, self._language)

    def _money(self, amount: Decimal, places: int = 2) -> str:
        return format_money(amount, self._language, places=places)

    def _title(self) -> str:
        return self._t("invoice" if self.doc.kind == "invoice" else "credit_note")

    def _write(self, text: str, size: float = 9, style: str = "", h: float = 4.5) -> None:
        self.set_font(_FONT, style=style, size=size)
        self.cell(0, h, _pdf_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    # -- page furniture (called by fpdf on every page) -------------------------

    def header(self) -> None:
        if not self.doc.test_mode:
            return
        # A large pale diagonal marker behind the content, and a red banner on top.
        with self.local_context(text_color=(250, 205, 205)):
            self.set_font(_FONT, style="B", size=150)
            with self.rotation(angle=45, x=self.w / 2, y=self.h / 2):
                marker = self._t("test_marker")
                self.text(self.w / 2 - self.get_string_width(marker) / 2, self.h / 2 + 20, marker)
        with self.local_context(text_color=_RED):
            self.set_font(_FONT, style="B", size=10)
            self.set_xy(_MARGIN, 8)
            self.cell(0, 5, _pdf_text(self._t("test_banner")), align="C")
        self.set_xy(_MARGIN, _MARGIN)

    def footer(self) -> None:
        issuer = self.doc.issuer
        facts = [issuer.name]
        if issuer.chamber_of_commerce:
            facts.append(f"{self._t('chamber_of_commerce')} {issuer.chamber_of_commerce}")
        if issuer.vat_number:
            facts.append(f"{self._t('vat_number')} {issuer.vat_number}")
        if issuer.iban:
            facts.append(f"IBAN {issuer.iban}")
        self.set_y(-15)
        text, size = _pdf_text("  |  ".join(facts)), 7.5
        self.set_font(_FONT, size=size)
        while self.get_string_width(text) > 145 and size > 5:
            size -= 0.5
            self.set_font(_FONT, size=size)
        with self.local_context(text_color=(110, 110, 110)):
            self.cell(150, 5, text)
            self.set_font(_FONT, size=7.5)
            # "{nb}" is replaced by the page count when the document is output.
            self.cell(0, 5, f"{self.doc.number}  {self.page_no()}/{{nb}}", align="R")

    # -- content -------------------------------------------------------------

    def parties(self) -> None:
        doc, issuer, customer = self.doc, self.doc.issuer, self.doc.customer
        top = self.get_y()
        self._write(issuer.name, size=13, style="B", h=6)
        for address_line in issuer.address_lines:
            self._write(address_line)
        if issuer.chamber_of_commerce:
            self._write(f"{self._t('chamber_of_commerce')}: {issuer.chamber_of_commerce}")
        if issuer.vat_number:
            self._write(f"{self._t('vat_number')}: {issuer.vat_number}")
        if issuer.email:
            self._write(issuer.email)
        issuer_bottom = self.get_y()

        self.set_xy(self.w - _MARGIN - 80, top)
        self.set_font(_FONT, style="B", size=20)
        self.cell(80, 9, _pdf_text(self._title().upper()), align="R")
        if doc.test_mode:
            self.set_xy(self.w - _MARGIN - 80, top + 10)
            with self.local_context(text_color=_RED):
                self.set_font(_FONT, style="B", size=14)
                self.cell(80, 7, self._t("test_marker"), align="R")

        self.set_y(max(issuer_bottom, top + 24) + 10)
        block_top = self.get_y()
        self._write(customer.name, size=10, style="B", h=5)
        for address_line in customer.address_lines:
            self._write(address_line, size=10, h=5)
        if customer.vat_number:
            self._write(f"{self._t('vat_number')}: {customer.vat_number}", size=10, h=5)
        customer_bottom = self.get_y()

        number_label = "invoice_number" if doc.kind == "invoice" else "credit_note_number"
        facts = [
            (self._t(number_label), doc.number),
            (self._t("date"), format_date(doc.issue_date, self._language)),
            (self._t("due_date"), format_date(doc.due_date, self._language)),
            (self._t("period"), doc.period_label),
        ]
        if doc.reference:
            facts.append((self._t("credited_invoice"), doc.reference))
        y = block_top
        for label, value in facts:
            self.set_xy(self.w - _MARGIN - 85, y)
            self.set_font(_FONT, style="B", size=9)
            self.cell(38, 5, _pdf_text(label))
            self.set_font(_FONT, size=9)
            self.cell(47, 5, _pdf_text(value), align="R")
            y += 5
        self.set_xy(_MARGIN, max(customer_bottom, y) + 10)

    def line_table(self) -> None:
        headings = [
            self._t(key) for key in ("description", "quantity", "unit", "unit_price", "amount")
        ]
        self.set_font(_FONT, size=9)
        with self.table(
            col_widths=_COLUMNS,
            text_align=_ALIGN,
            borders_layout=TableBordersLayout.HORIZONTAL_LINES,
            headings_style=FontFace(emphasis="BOLD", fill_color=_GREY),
            line_height=5,
            padding=(1, 1.5),
            width=sum(_COLUMNS),
            align="LEFT",
            repeat_headings=1,
        ) as table:
            table.row([_pdf_text(heading) for heading in headings])
            for line in self.doc.amounts.lines:
                table.row(
                    [
                        _pdf_text(line.description),
                        format_decimal(line.quantity, self._language),
                        _pdf_text(line.unit),
                        self._money(line.unit_price, places=4),
                        self._money(line.amount),
                    ]
                )

    def totals(self) -> None:
        amounts = self.doc.amounts
        rate = format_percent(amounts.vat_rate, self._language)
        rows = [
            (self._t("subtotal"), self._money(amounts.subtotal), ""),
            (self._t("vat_with_rate").format(rate=rate), self._money(amounts.vat), ""),
            (self._t("total"), self._money(amounts.total), "B"),
        ]
        if self.doc.credit_applied:  # the customer's credit pays part of it: what is left to pay
            rows += [(self._t("credit_applied"), self._money(-self.doc.credit_applied), ""),
                     (self._t("amount_due"), self._money(self.doc.amount_due), "B")]
        if self.will_page_break(8 + 6 * len(rows)):
            self.add_page()
        self.ln(4)
        for label, value, style in rows:
            self.set_x(self.w - _MARGIN - 90)
            self.set_font(_FONT, style=style, size=10 if style else 9)
            self.cell(60, 6, _pdf_text(label))
            self.cell(30, 6, _pdf_text(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def notes(self) -> None:
        doc = self.doc
        texts = []
        if doc.amounts.reverse_charge:
            note = self._t("reverse_charge_note")
            if doc.customer.vat_number:
                note += f" {self._t('vat_number')}: {doc.customer.vat_number}"
            texts.append(note)
        if doc.kind == "credit_note":
            texts.append(
                self._t("credit_terms").format(days=doc.payment_terms_days, reference=doc.number)
            )
        else:
            if doc.direct_debit is not None:
                iban, mandate = doc.direct_debit
                terms = self._t("direct_debit_terms").format(
                    due=format_date(doc.due_date, doc.language), iban=iban, mandate=mandate)
            else:
                terms = self._t("payment_terms").format(days=doc.payment_terms_days)
                if doc.issuer.iban:
                    terms += self._t("payment_terms_iban").format(
                        iban=doc.issuer.iban, name=doc.issuer.name
                    )
                terms += self._t("payment_reference").format(reference=doc.number)
            if doc.payment_reference:
                terms += " " + self._t("betalingskenmerk").format(
                    reference=format_reference(doc.payment_reference))
            texts.append(terms)
        self.ln(6)
        self.set_font(_FONT, size=9)
        for text in texts:
            self.multi_cell(0, 4.5, _pdf_text(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.ln(2)

    def specification(self) -> None:
        """The usage annex on its own page(s): per subscription and call type, then the total."""
        self.add_page()
        self._write(self._t("specification"), size=13, style="B", h=8)
        self._write(self.doc.period_label, h=6)
        self.ln(2)
        headings = [self._t(key) for key in ("spec_number", "spec_cost_centre", "spec_call_type", "spec_zone",
                                             "spec_count",
                                             "spec_usage", "spec_in_bundle", "spec_beyond", "amount")]
        self.set_font(_FONT, size=8)
        language = self._language
        with self.table(col_widths=_SPEC_COLUMNS, text_align=_SPEC_ALIGN,
                        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
                        headings_style=FontFace(emphasis="BOLD", fill_color=_GREY), line_height=4.5,
                        padding=(0.8, 1.2), width=sum(_SPEC_COLUMNS), align="LEFT",
                        repeat_headings=1) as table:
            table.row([_pdf_text(heading) for heading in headings])
            for row in self.doc.specification:
                table.row([
                    _pdf_text(row.subscription_number), _pdf_text(row.cost_centre),
                    _pdf_text(call_type_label(row.call_type, language)), _pdf_text(zone_label(row.zone, language)),
                    format_decimal(Decimal(row.count), language),
                    _pdf_text(f"{format_decimal(row.usage, language)} {row.unit}"),
                    format_decimal(row.in_bundle, language), format_decimal(row.beyond, language),
                    self._money(row.amount),
                ])
            total = sum((row.amount for row in self.doc.specification), Decimal("0.00"))
            table.row([_pdf_text(self._t("spec_total")), "", "", "", "", "", "", "", self._money(total)],
                      style=FontFace(emphasis="BOLD"))
