"""Every label of the invoice preview in the customer's language, with Babel's number format."""

from __future__ import annotations

from pathlib import Path

from core.db import Database, ensure_schema
from tests.test_invoices import cli, simple_customer


def test_the_preview_speaks_the_customers_language(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    simple_customer(db, "NLKLANT", fee="1234.50")
    simple_customer(db, "UKCLIENT", fee="1234.50", language="en")
    db.dispose()
    # 1234.50 + 21 % 259.245 -> 259.25 = 1493.75
    code, out, _ = cli(data, "invoices", "run", "--cycle", "2026-10", "--preview", "--customer", "NLKLANT")
    assert code == 0
    assert "Abonnement Zakelijk 5GB" in out and "x  € 1.234,50 =   € 1.234,50" in out
    for label, amount in (("Subtotaal", "€ 1.234,50"), ("Btw 21%", "€ 259,25"), ("Totaal", "€ 1.493,75")):
        assert any(line.split()[0] == label.split()[0] and line.endswith(amount) for line in out.splitlines()), label
    assert "subtotal" not in out and "VAT" not in out and "total " not in out
    code, out, _ = cli(data, "invoices", "run", "--cycle", "2026-10", "--preview", "--customer", "UKCLIENT")
    assert "Subscription Zakelijk 5GB" in out and "x   €1,234.50 =    €1,234.50" in out
    for label, amount in (("Subtotal", "€1,234.50"), ("VAT 21%", "€259.25"), ("Total", "€1,493.75")):
        assert any(line.split()[0] == label.split()[0] and line.endswith(amount) for line in out.splitlines()), label
