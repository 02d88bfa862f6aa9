"""A pending correction carried as a line on the customer's next invoice (issue 13.6, the setting
invoice_corrections = "next_invoice"): audited, never lost, never doubled."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core.billing import invoices as inv
from core.billing.corrections import issue_correction, pending_corrections
from core.billing.invoices import InvoiceError
from core.bus import Bus, default_registry, run_until_idle
from core.db import Database
from core.models import AuditLog, Invoice
from core.workflows import load_all
from core.workflows.totals import dispatch_totals
from tests.factories import make_setup
from tests.test_invoices import billing_settings
from tests.test_totals import OCT, OCTOBER, A, import_rows

load_all()
D = Decimal
NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)
CORRECTION = "Correctie factuur 2026-00001 (1 oktober 2026 - 31 oktober 2026)"


def lines_of(db: Database, number: str) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    with db.reader() as s:
        invoice = s.scalars(select(Invoice).where(Invoice.number == number)).one()
        return [(line.description, line.quantity, line.unit_price, line.amount) for line in invoice.lines]


def issue(db: Database, customer_id: int, cycle: date, settings: object) -> inv.IssueOutcome:
    with db.transaction() as s:
        return inv.issue_in(s, customer_id, cycle, issue_date=date(2026, 12, 15), settings=settings)  # type: ignore[arg-type]


def october_invoiced_then_a_late_cdr(db: Database, tmp_path: Path, settings: object) -> dict[str, int]:
    """October invoiced as 2026-00001 (fees 2 x 10.00 + usage 3.25, see test_totals_carry_the_charges...),
    then a late CDR r8 recalculates it: 10 min beyond the bundle x 0.20 = 2.00 net more."""
    ids = make_setup(db)
    import_rows(db, tmp_path, OCTOBER)
    bus = Bus(db, default_registry)
    dispatch_totals(bus, ids["customer"], OCT)
    run_until_idle(bus)
    assert issue(db, ids["customer"], OCT, settings).number == "2026-00001"
    import_rows(db, tmp_path, [("r8", A, "2026-10-20T09:00:00+02:00", "voice", "+31201234567", 600, 0,
                                "0.0100")], name="late.csv")
    dispatch_totals(bus, ids["customer"], OCT)
    run_until_idle(bus)
    return ids


def test_the_next_invoice_carries_the_correction_once(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path, invoice_corrections="next_invoice")
    ids = october_invoiced_then_a_late_cdr(db, tmp_path, settings)
    [pending] = pending_corrections(db, settings)
    assert pending.number == "2026-00001"  # r8: 10 min beyond the bundle x 0.20 = 2.00 net

    by_default = inv.preview_invoice(db, ids["customer"], NOV, settings=billing_settings(tmp_path),
                                     now=datetime(2026, 12, 2, tzinfo=UTC))
    assert CORRECTION not in [line.description for line in by_default.amounts.lines]  # credit note + new invoice
    preview = inv.preview_invoice(db, ids["customer"], NOV, settings=settings, now=datetime(2026, 12, 2, tzinfo=UTC))
    assert (CORRECTION, D(1), "", D("2.00"), D("2.00")) in [
        (line.description, line.quantity, line.unit, line.unit_price, line.amount) for line in preview.amounts.lines]

    november = issue(db, ids["customer"], NOV, settings)
    assert november.number == "2026-00002"
    # November: two fees 10.00 + 10.00, no usage; the correction 1 x 2.00: 22.00 net, VAT 4.62, 26.62
    assert lines_of(db, "2026-00002") == [
        ("Abonnement Business 10", D(2), D("10.0000"), D("20.00")),
        (CORRECTION, D(1), D("2.0000"), D("2.00")),
    ]
    assert {s.number: s.total for s in inv.list_invoices(db)}["2026-00002"] == D("26.62")
    assert pending_corrections(db, settings) == []  # carried: not pending, not carried again
    assert issue(db, ids["customer"], NOV, settings).outcome == "exists"
    assert CORRECTION not in [d for d, *_ in lines_of(db, str(issue(db, ids["customer"], DEC, settings).number))]
    with db.reader() as s:
        audited = [(a.action, a.operator, a.target) for a in s.scalars(
            select(AuditLog).where(AuditLog.action == "invoice.carry"))]
    assert audited == [("invoice.carry", "system", "2026-00001 -> 2026-00002")]
    with pytest.raises(InvoiceError, match="carried"):  # a credit note + new October would bill r8 twice
        issue_correction(db, "2026-00001", reason="r8", operator="alice", issue_date=date(2026, 12, 15),
                         settings=settings)


def test_a_credited_carrier_leaves_the_correction_pending_again(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path, invoice_corrections="next_invoice")
    ids = october_invoiced_then_a_late_cdr(db, tmp_path, settings)
    assert issue(db, ids["customer"], NOV, settings).number == "2026-00002"
    inv.credit_invoice(db, "2026-00002", reason="wrong address", issue_date=date(2026, 12, 16),
                       settings=settings, operator="alice")
    [pending] = pending_corrections(db, settings)  # never lost: pending again
    assert pending.number == "2026-00001"
    again = issue(db, ids["customer"], NOV, settings)  # the new November invoice carries it again
    assert again.number == "2026-00004" and (CORRECTION, D(1), D("2.0000"), D("2.00")) in lines_of(db, "2026-00004")
    assert pending_corrections(db, settings) == []


def test_an_unknown_setting_is_an_error_not_a_silent_default(tmp_path: Path) -> None:
    with pytest.raises(InvoiceError, match="credit_note or next_invoice"):
        inv.carries_for(None, None, NOV, billing_settings(tmp_path, invoice_corrections="later"), None)  # type: ignore[arg-type]
