"""Invoiced cycles are marked; a recalculation that changes one is a pending correction, never silent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from core.billing import invoices as inv
from core.billing.corrections import invoiced_as, issue_correction, pending_corrections
from core.bus import Bus, default_registry, run_until_idle
from core.db import Database
from core.workflows import load_all
from core.workflows.totals import dispatch_totals
from tests.factories import make_setup
from tests.test_invoices import billing_settings
from tests.test_totals import OCT, OCTOBER, A, import_rows

load_all()
D = Decimal
ISSUE = date(2026, 11, 15)


def test_a_recalculated_invoiced_cycle_becomes_a_pending_correction(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    ids = make_setup(db, starts=(date(2025, 1, 1), date(2026, 10, 17)))
    import_rows(db, tmp_path, OCTOBER)
    bus = Bus(db, default_registry)
    dispatch_totals(bus, ids["customer"], OCT)
    run_until_idle(bus)
    with db.transaction() as s:
        first = inv.issue_in(s, ids["customer"], OCT, issue_date=ISSUE, settings=settings)
    # 18.09 (see test_totals_carry_the_charges...) + 21 % 3.80 = 21.89
    assert (first.number, inv.list_invoices(db)[0].total) == ("2026-00001", D("21.89"))
    with db.reader() as s:
        assert invoiced_as(s, ids["customer"], OCT) == "2026-00001"
    assert pending_corrections(db, settings) == []

    import_rows(db, tmp_path, [("r8", A, "2026-10-20T09:00:00+02:00", "voice", "+31201234567", 600, 0,
                                "0.0100")], name="late.csv")
    dispatch_totals(bus, ids["customer"], OCT)  # the recalculation issues nothing by itself
    run_until_idle(bus)
    assert len(inv.list_invoices(db)) == 1
    [pending] = pending_corrections(db, settings)
    # 10 min beyond the bundle x 0.20 = 2.00: 20.09 + 21 % 4.22 = 24.31; 24.31 - 21.89 = 2.42
    assert (pending.number, pending.invoiced_total, pending.current_total, pending.difference) == (
        "2026-00001", D("21.89"), D("24.31"), D("2.42"))

    note, new = issue_correction(db, "2026-00001", reason="late CDR r8", operator="alice",
                                 issue_date=ISSUE, settings=settings)
    assert (note, new) == ("2026-00002", "2026-00003")
    totals = {s.number: s.total for s in inv.list_invoices(db)}
    assert totals == {"2026-00001": D("21.89"), "2026-00002": D("-21.89"), "2026-00003": D("24.31")}
    assert pending_corrections(db, settings) == []
    with db.reader() as s:
        assert invoiced_as(s, ids["customer"], OCT) == "2026-00003"
