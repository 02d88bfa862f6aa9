"""Credit and refunds: money a customer paid beyond their invoices is owed back, used, or refunded."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from core.billing import invoices as inv
from core.billing.credit import refund_credit
from core.billing.payments import customer_balances, invoice_balances
from core.db import Database
from core.models import AuditLog, Payment
from tests.test_invoices import add_customer, billing_settings, put_totals

D = Decimal
SEP, OCT = date(2026, 9, 1), date(2026, 10, 1)
TODAY = date(2026, 11, 20)


def test_a_credit_note_on_a_part_paid_invoice_leaves_a_credit_the_next_invoice_uses(
        db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    ids = add_customer(db, "PAID500")
    sub = ids["+31600000001"]
    put_totals(db, ids["customer"], SEP, [(sub, "fee", 1, 0, 0, "1000.0000")])
    with db.transaction() as s:
        first = inv.issue_in(s, ids["customer"], SEP, issue_date=date(2026, 10, 15), settings=settings)
    assert first.number == "2026-00001"  # 1000.00 + 21 % = 1210.00
    with db.transaction() as s:
        s.add(Payment(fingerprint="p" * 64, paid_on=date(2026, 10, 20), amount=D("500.00"),
                      reference="2026-00001", counterparty="Paid500 B.V.", invoice_id=first.invoice_id))
    inv.credit_invoice(db, "2026-00001", reason="wrong plan", issue_date=date(2026, 10, 25),
                       settings=settings, operator="alice")
    [balance] = customer_balances(db, TODAY)
    # invoice 1210.00 + credit note -1210.00 = 0.00 invoiced; 500.00 paid: 500.00 owed back
    assert (balance.invoiced, balance.paid, balance.open, balance.status, balance.credit) == (
        D("0.00"), D("500.00"), D("-500.00"), "credit", D("500.00"))

    put_totals(db, ids["customer"], OCT, [(sub, "fee", 1, 0, 0, "100.0000")])
    with db.transaction() as s:
        second = inv.issue_in(s, ids["customer"], OCT, issue_date=date(2026, 11, 15), settings=settings)
    assert second.number == "2026-00003"  # the credit note took 2026-00002
    with db.reader() as s:
        by_number = {b.number: b for b in invoice_balances(s, TODAY, customer_id=ids["customer"])}
    # 100.00 + 21 % = 121.00, paid in full from the 500.00 credit
    assert (by_number["2026-00003"].total, by_number["2026-00003"].paid,
            by_number["2026-00003"].status) == (D("121.00"), D("121.00"), "paid")
    [balance] = customer_balances(db, TODAY)
    # 121.00 invoiced; 500.00 paid; 379.00 still owed back
    assert (balance.invoiced, balance.paid, balance.open, balance.status, balance.credit) == (
        D("121.00"), D("500.00"), D("-379.00"), "credit", D("379.00"))

    assert refund_credit(db, "PAID500", operator="alice", note="bank transfer 2026-11-21") == D("379.00")
    [balance] = customer_balances(db, TODAY)
    assert (balance.invoiced, balance.paid, balance.open, balance.status, balance.credit) == (
        D("121.00"), D("121.00"), D("0.00"), "paid", D("0.00"))
    with db.reader() as s:
        actions = [(a.action, a.operator) for a in s.scalars(
            select(AuditLog).where(AuditLog.action.in_(("credit.apply", "credit.refund"))).order_by(AuditLog.id))]
    assert actions == [("credit.apply", "system"), ("credit.refund", "alice")]
