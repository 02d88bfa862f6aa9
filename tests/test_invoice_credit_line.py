"""Applied customer credit on the PDF and the preview (issue 13.8): its own line before the amount due."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from core.billing import invoices as inv
from core.db import Database
from core.models import Invoice, Payment
from tests.test_invoices import add_customer, billing_settings, pdf_text, put_totals

D = Decimal
SEP, OCT = date(2026, 9, 1), date(2026, 10, 1)


def test_the_credit_a_new_invoice_takes_is_printed_before_the_amount_due(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    ids = add_customer(db, "PAID500")
    sub = ids["+31600000001"]
    put_totals(db, ids["customer"], SEP, [(sub, "fee", 1, 0, 0, "100.0000")])
    with db.transaction() as s:
        first = inv.issue_in(s, ids["customer"], SEP, issue_date=date(2026, 10, 15), settings=settings)
    with db.transaction() as s:  # 121.00 invoiced, 200.00 paid: 79.00 owed back
        s.add(Payment(fingerprint="p" * 64, paid_on=date(2026, 10, 20), amount=D("200.00"),
                      reference=str(first.number), counterparty="Paid500 B.V.", invoice_id=first.invoice_id))
        first_pdf = Path(s.get_one(Invoice, first.invoice_id).pdf_path or "")
    assert "Verrekend tegoed" not in pdf_text(first_pdf)  # no credit when it was issued

    put_totals(db, ids["customer"], OCT, [(sub, "fee", 1, 0, 0, "100.0000")])
    preview = inv.preview_invoice(db, ids["customer"], OCT, settings=settings,
                                  now=datetime(2026, 11, 15, tzinfo=UTC))
    # 100.00 + 21 % = 121.00; the 79.00 credit pays part of it: 42.00 due
    assert (preview.amounts.total, preview.credit, preview.amount_due) == (D("121.00"), D("79.00"), D("42.00"))

    with db.transaction() as s:
        second = inv.issue_in(s, ids["customer"], OCT, issue_date=date(2026, 11, 15), settings=settings)
    with db.reader() as s:
        path = Path(s.get_one(Invoice, second.invoice_id).pdf_path or "")
    text = pdf_text(path)
    assert "Totaal € 121,00 Verrekend tegoed € -79,00 Te betalen € 42,00" in text
    path.unlink()  # a re-rendered PDF prints the same credit
    with db.reader() as s:
        inv.ensure_pdf_in(s, s.get_one(Invoice, second.invoice_id), settings)
    assert "Verrekend tegoed € -79,00 Te betalen € 42,00" in pdf_text(path)
    final = inv.preview_invoice(db, ids["customer"], OCT, settings=settings, now=datetime(2026, 11, 16, tzinfo=UTC))
    assert (final.standing_number, final.credit, final.amount_due) == (second.number, D("79.00"), D("42.00"))
    # The console's invoice detail shows the same two lines from the same figures.
    detail = inv.invoice_detail(db, str(second.number), settings.issuer.code)
    assert (detail.amounts.total, detail.credit_applied, detail.amount_due) == (D("121.00"), D("79.00"), D("42.00"))
    assert inv.invoice_detail(db, str(first.number), settings.issuer.code).credit_applied == D("0.00")
