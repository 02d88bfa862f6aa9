"""Payments imported once and matched, balances (paid/partial/unpaid/overdue), the revenue CSV."""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from core.billing import invoices as inv
from core.billing.payments import customer_balances, import_payments, match_payment, update_balances
from core.billing.revenues import export_revenues
from core.db import Database, ensure_schema
from core.models import Payment, RevenueLedger
from tests.test_invoices import ISSUE, OCT, billing_settings, cli, simple_customer

D = Decimal
DUE = date(2026, 11, 29)  # ISSUE + 14 days
BEFORE_DUE, AFTER_DUE = date(2026, 11, 20), date(2026, 12, 1)


def issue(db: Database, tmp_path: Path, code: str, fee: str, **kwargs: object) -> str:
    settings = billing_settings(tmp_path)
    customer = simple_customer(db, code, fee=fee, **kwargs)
    return inv.finalize_invoice(db, inv.draft_invoice(db, customer, OCT, settings=settings),
                                issue_date=ISSUE, settings=settings)


def three_invoices(db: Database, tmp_path: Path) -> tuple[str, str, str]:
    # ALFA 100.00 → 121.00; BETA 200.00 → 242.00; GAMMA 50.00 → 60.50 (all incl. 21 % VAT)
    return (issue(db, tmp_path, "ALFA", "100.00"), issue(db, tmp_path, "BETA", "200.00"),
            issue(db, tmp_path, "GAMMA", "50.00"))


BANK_CSV = """Datum;Bedrag;Omschrijving;Naam tegenpartij
20-11-2026;121,00;Factuur 2026-00001 dank u;Alfa B.V.
21-11-2026;100,00;betaling 2026 00002 deel 1;Beta B.V.
yesterday;10,00;Factuur 2026-00003;Gamma B.V.
22-11-2026;1,234;Factuur 2026-00003;Gamma B.V.
22-11-2026;15,00;lidmaatschap;Vereniging
22-11-2026;20,00;2026-00002 deel 2;Beta B.V.
22-11-2026;20,00;2026-00002 deel 2;Beta B.V.
"""


def test_import_applies_good_rows_once_and_reports_bad_ones(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    three_invoices(db, tmp_path)
    path = tmp_path / "bank.csv"
    path.write_text(BANK_CSV, encoding="utf-8")

    first = import_payments(db, path, settings=settings, operator="alice", today=BEFORE_DUE)
    assert [(p.line, p.invoice_number, p.amount) for p in first.applied] == [
        (2, "2026-00001", D("121.00")), (3, "2026-00002", D("100.00")),
        (7, "2026-00002", D("20.00")), (8, "2026-00002", D("20.00")),  # two identical transfers: two payments
    ]
    assert [(p.line, p.counterparty) for p in first.unmatched] == [(6, "Vereniging")]
    assert [(e.line, e.reason.split(":")[0]) for e in first.errors] == [
        (4, "bad date 'yesterday'"), (5, "bad amount '1,234'")]
    assert first.duplicates == 0

    again = import_payments(db, path, settings=settings, operator="alice", today=BEFORE_DUE)
    assert (again.applied, again.unmatched, again.duplicates, len(again.errors)) == ([], [], 5, 2)
    with db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 5
        assert s.scalar(select(func.sum(Payment.amount))) == D("276.00")  # 121 + 100 + 15 + 20 + 20


def test_balances_paid_partial_unpaid_then_overdue(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    three_invoices(db, tmp_path)
    path = tmp_path / "bank.csv"
    path.write_text(BANK_CSV, encoding="utf-8")
    import_payments(db, path, settings=settings, operator="alice", today=BEFORE_DUE)

    def by_code(today: date) -> dict[str, tuple[Decimal, Decimal, Decimal, str]]:
        return {b.customer_code: (b.invoiced, b.paid, b.open, b.status) for b in customer_balances(db, today)}

    # ALFA paid 121.00 of 121.00; BETA 100 + 20 + 20 = 140.00 of 242.00 → 102.00 open; GAMMA nothing.
    assert by_code(BEFORE_DUE) == {
        "ALFA": (D("121.00"), D("121.00"), D("0.00"), "paid"),
        "BETA": (D("242.00"), D("140.00"), D("102.00"), "partial"),
        "GAMMA": (D("60.50"), D("0.00"), D("60.50"), "unpaid"),
    }
    assert by_code(DUE)["GAMMA"][3] == "unpaid"  # due today is not overdue yet
    after = by_code(AFTER_DUE)
    assert (after["ALFA"][3], after["BETA"][3], after["GAMMA"][3]) == ("paid", "overdue", "overdue")

    stored = update_balances(db, today=AFTER_DUE)
    assert {b.customer_code: b.overdue for b in stored} == {"ALFA": 0, "BETA": D("102.00"), "GAMMA": D("60.50")}
    with db.reader() as s:
        ledger = {row.customer_id: (row.invoiced_total, row.paid_total, row.status)
                  for row in s.scalars(select(RevenueLedger))}
    assert sorted(ledger.values()) == sorted([(D("121.00"), D("121.00"), "paid"),
                                              (D("242.00"), D("140.00"), "overdue"),
                                              (D("60.50"), D("0.00"), "overdue")])


def test_a_credited_invoice_is_settled_and_a_manual_match_counts(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    alfa, beta, _gamma = three_invoices(db, tmp_path)
    inv.credit_invoice(db, beta, reason="cancelled", issue_date=BEFORE_DUE, settings=settings, operator="alice")
    path = tmp_path / "bank.csv"
    path.write_text("date,amount,reference,counterparty\n2026-11-25,121.00,thanks,Alfa\n", encoding="utf-8")
    result = import_payments(db, path, settings=settings, operator="alice", today=AFTER_DUE)
    assert len(result.unmatched) == 1
    with db.reader() as s:
        payment_id = s.scalars(select(Payment.id)).one()
    match_payment(db, payment_id, alfa, settings=settings, operator="alice", today=AFTER_DUE)
    balances = {b.customer_code: (b.open, b.status) for b in customer_balances(db, AFTER_DUE)}
    # BETA: 242.00 − 242.00 credited = 0 → paid (nothing open); ALFA paid by hand.
    assert balances == {"ALFA": (0, "paid"), "BETA": (0, "paid"), "GAMMA": (D("60.50"), "overdue")}


def test_revenue_export_can_be_written_again_any_time(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    alfa, beta, _gamma = three_invoices(db, tmp_path)
    issue(db, tmp_path, "PROEF", "999.00", test_mode=True)  # no fiscal value: not exported
    inv.credit_invoice(db, beta, reason="cancelled", issue_date=BEFORE_DUE, settings=settings, operator="alice")
    path = tmp_path / "bank.csv"
    path.write_text(f"date,amount,reference\n2026-11-20,121.00,{alfa}\n", encoding="utf-8")
    import_payments(db, path, settings=settings, operator="alice", today=AFTER_DUE)

    out = tmp_path / "revenues.csv"
    assert export_revenues(db, 2026, out, today=AFTER_DUE) == 4
    first = out.read_bytes()
    rows = list(csv.DictReader(first.decode().splitlines()))
    assert [(r["number"], r["kind"], r["customer_code"], r["net"], r["vat"], r["total"], r["paid"], r["status"])
            for r in rows] == [
        ("2026-00001", "invoice", "ALFA", "100.00", "21.00", "121.00", "121.00", "paid"),
        ("2026-00002", "invoice", "BETA", "200.00", "42.00", "242.00", "0.00", "credited"),
        ("2026-00003", "invoice", "GAMMA", "50.00", "10.50", "60.50", "0.00", "overdue"),
        ("2026-00004", "credit_note", "BETA", "-200.00", "-42.00", "-242.00", "0.00", "credit_note"),
    ]
    assert rows[3]["credited_invoice"] == "2026-00002" and rows[0]["date"] == "2026-11-15"
    out.unlink()
    export_revenues(db, 2026, out, today=AFTER_DUE)
    assert out.read_bytes() == first
    assert export_revenues(db, 2025, tmp_path / "empty.csv", today=AFTER_DUE) == 0


def test_cli_payments_balances_revenues(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    three_invoices(db, tmp_path)
    db.dispose()
    bank = tmp_path / "bank.csv"
    bank.write_text(BANK_CSV, encoding="utf-8")

    code, out, err = cli(data, "payments", "import", str(bank))
    assert code == 1  # bad rows make the exit code say so; the good rows were applied
    assert "4 applied, 1 unmatched, 0 already imported, 2 bad row(s)" in out
    assert "line 4: bad date" in err and "line 5: bad amount" in err and "unmatched line 6" in out
    code, out, _ = cli(data, "payments", "import", str(bank), "--json")
    assert json.loads(out)["duplicates"] == 5
    code, out, _ = cli(data, "balances", "update")
    assert code == 0 and "BETA" in out
    code, out, _ = cli(data, "balances", "list", "--json")
    assert {b["customer_code"]: b["paid"] for b in json.loads(out)} == {
        "ALFA": "121.00", "BETA": "140.00", "GAMMA": "0.00"}
    code, out, _ = cli(data, "payments", "list", "--unmatched", "--json")
    [unmatched] = json.loads(out)
    code, out, _ = cli(data, "payments", "match", str(unmatched["id"]), "2026-00003")
    assert code == 0
    target = tmp_path / "rev.csv"
    code, out, _ = cli(data, "revenues", "export", "--year", "2026", "-o", str(target))
    assert code == 0 and "3 row(s)" in out
    assert "2026-00003" in target.read_text()


def test_balance_update_job_turns_invoices_overdue(db: Database, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from core.billing.payments import balance_update_job

    settings = billing_settings(tmp_path)
    three_invoices(db, tmp_path)

    class FakeRuntime:
        def __init__(self) -> None:
            self.db, self.settings = db, settings

    summary = balance_update_job(FakeRuntime(), datetime(2026, 12, 1, 5, 0, tzinfo=UTC))  # type: ignore[arg-type]
    assert summary == "updated 3 customer balance(s); 3 overdue"
    with db.reader() as s:
        assert {row.status for row in s.scalars(select(RevenueLedger))} == {"overdue"}
