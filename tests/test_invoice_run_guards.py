"""Run guards: complete cycles only, fresh totals, fees without usage, holds before numbering."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from core.billing import invoices as inv
from core.billing.readiness import last_ended_cycle
from core.bus import Bus, default_registry, run_until_idle
from core.bus.deps import HandlerDeps
from core.db import Database
from core.models import AuditLog, BillingInsight, Customer, Message, SyncProfile, SyncTask
from core.workflows import load_all
from core.workflows.invoicing import invoice_run
from core.workflows.totals import dispatch_totals
from tests.factories import make_setup
from tests.test_invoices import add_customer, billing_settings

load_all()
D = Decimal
OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # the issue's "29 November"
ISSUE = date(2026, 11, 29)


def bus_for(db: Database, tmp_path: Path) -> Bus:
    return Bus(db, default_registry, deps=HandlerDeps(billing_settings(tmp_path)))


def dispatched_cycles(db: Database, workflow_id: str) -> list[str]:
    with db.reader() as s:
        payloads = s.scalars(select(Message.payload).where(Message.workflow_id == workflow_id,
                                                           Message.command_type == "GenerateInvoice")).all()
    return sorted(p.split('"cycle_start_date": "')[1][:10] for p in payloads)


def test_the_last_ended_cycle_is_billing_day_aware() -> None:
    on_15th = Customer(code="MID", name="Mid", billing_day=15, time_zone="Europe/Amsterdam")
    on_1st = Customer(code="FIRST", name="First", billing_day=1, time_zone="Europe/Amsterdam")
    # 29 Nov: the cycle from 15 Nov runs to 14 Dec; the last ended one is 15 Oct - 14 Nov.
    assert last_ended_cycle(on_15th, date(2026, 11, 29)).start == date(2026, 10, 15)
    assert last_ended_cycle(on_1st, date(2026, 11, 29)).start == OCT
    # on the billing day itself the cycle that ended yesterday is the last ended one
    assert last_ended_cycle(on_15th, date(2026, 11, 15)).start == date(2026, 10, 15)
    assert last_ended_cycle(on_15th, date(2026, 11, 14)).start == date(2026, 9, 15)


def test_the_run_defaults_to_each_customers_last_ended_cycle(db: Database, tmp_path: Path) -> None:
    add_customer(db, "FIRST")
    add_customer(db, "MID", subscriptions=("+31600000002",), billing_day=15)
    run = invoice_run(bus_for(db, tmp_path), None, operator="alice", issue_date=ISSUE, now=NOW)
    assert run.held == [] and len(run.dispatched) == 2
    assert dispatched_cycles(db, run.workflow_id) == ["2026-10-01", "2026-10-15"]


def test_an_unfinished_cycle_is_held_and_force_is_audited(db: Database, tmp_path: Path) -> None:
    add_customer(db, "MID", billing_day=15)
    bus = bus_for(db, tmp_path)
    run = invoice_run(bus, "2026-11", operator="alice", issue_date=ISSUE, now=NOW)
    assert run.dispatched == []
    [held] = run.held
    assert held.reasons == ("cycle 2026-11 runs until 2026-12-14: not ended",)
    preview = inv.preview_invoice(db, held.customer_id, date(2026, 11, 15), now=NOW)
    assert preview.holds == held.reasons  # the preview shows the hold before anything is numbered
    forced = invoice_run(bus, "2026-11", operator="alice", issue_date=ISSUE, now=NOW, force=True)
    assert len(forced.dispatched) == 1
    with db.reader() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "invoice.force")).one()
    assert (audit.operator, audit.target) == ("alice", "MID 2026-11")
    assert audit.detail == "cycle 2026-11 runs until 2026-12-14: not ended"


def test_an_incompletely_synced_cycle_is_held_with_the_reasons(db: Database, tmp_path: Path) -> None:
    ids = add_customer(db, "SEVEN")
    ended = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # 1 Nov 00:00 in Amsterdam (CET)
    tasks = {  # profile name: (status, totals anyway, finished)
        "a-done": ("completed", False, ended + timedelta(days=1)),
        "b-early": ("completed", False, ended - timedelta(hours=1)),
        "c-failed": ("failed", False, ended + timedelta(days=1)),
        "d-anyway": ("completed", True, ended + timedelta(days=1)),
        "e-running": ("processing", False, ended + timedelta(days=1)),
    }
    with db.transaction() as s:
        for name in [*tasks, "f-never"]:
            profile = SyncProfile(name=name, customer_id=ids["customer"], provider="routit",
                                  base_url="http://127.0.0.1:1", customer_ref="R1")
            s.add(profile)
            s.flush()
            if name in tasks:
                status, anyway, finished = tasks[name]
                s.add(SyncTask(sync_profile_id=profile.id, customer_id=ids["customer"], cycle_start_date=OCT,
                               status=status, reason="timeout" if status == "failed" else None,
                               totals_anyway=anyway, created_at=finished, updated_at=finished))
        s.add(SyncProfile(name="z-inactive", customer_id=ids["customer"], provider="routit",
                          base_url="http://127.0.0.1:1", customer_ref="R2", active=False))
        s.add(BillingInsight(customer_id=ids["customer"], cycle_start_date=OCT, kind="reconciliation",
                             severity="warn", message="routit 2026-10: 12 CDRs expected, 10 received"))
    run = invoice_run(bus_for(db, tmp_path), "2026-10", operator="alice", issue_date=ISSUE, now=NOW)
    assert run.dispatched == []
    [held] = run.held
    assert held.reasons == (
        "profile b-early: last completed sync ran before the cycle ended",
        "profile c-failed: last sync failed (timeout)",
        "profile d-anyway: totals calculated anyway after failed syncs",
        "profile e-running: sync processing",
        "profile f-never: no sync for the cycle",
        "open reconciliation difference: routit 2026-10: 12 CDRs expected, 10 received",
    )


def test_a_fee_only_customer_is_invoiced(db: Database, tmp_path: Path) -> None:
    ids = add_customer(db, "FEES", plan_fee="25.00")  # no totals computed, no usage
    preview = inv.preview_invoice(db, ids["customer"], OCT, now=NOW)
    assert preview.amounts.subtotal == D("25.00")
    bus = bus_for(db, tmp_path)
    run = invoice_run(bus, "2026-10", operator="alice", issue_date=ISSUE, now=NOW)
    run_until_idle(bus)
    [invoice] = inv.list_invoices(db)
    # 25.00 + 21 % VAT 5.25 = 30.25
    assert (invoice.number, invoice.subtotal, invoice.total) == ("2026-00001", D("25.00"), D("30.25"))
    assert run.nothing == []


def test_nothing_to_invoice_is_reported_per_customer(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        s.add(Customer(code="EMPTY", name="Empty B.V."))
    run = invoice_run(bus_for(db, tmp_path), "2026-10", operator="alice", issue_date=ISSUE, now=NOW)
    assert run.dispatched == []
    assert run.nothing == [("EMPTY", "no subscription active in the cycle and no usage")]


def test_stale_totals_are_brought_up_to_date_before_invoicing(db: Database, tmp_path: Path) -> None:
    from tests.test_totals import OCTOBER, A, import_rows

    ids = make_setup(db, starts=(date(2025, 1, 1), date(2026, 10, 17)))
    import_rows(db, tmp_path, OCTOBER)
    bus = bus_for(db, tmp_path)
    dispatch_totals(bus, ids["customer"], OCT)
    run_until_idle(bus)
    assert inv.preview_invoice(db, ids["customer"], OCT, now=NOW).amounts.subtotal == D("18.09")
    # imported after the totals, without recalculating them: 600 s beyond the bundle
    import_rows(db, tmp_path, [("r8", A, "2026-10-20T09:00:00+02:00", "voice", "+31201234567", 600, 0,
                                "0.0100")], name="late.csv")
    preview = inv.preview_invoice(db, ids["customer"], OCT, now=NOW)
    # 10 min x 0.20 = 2.00 more: 18.09 + 2.00 = 20.09
    assert (preview.refreshed, preview.amounts.subtotal) == (True, D("20.09"))
    invoice_run(bus, "2026-10", operator="alice", issue_date=ISSUE, now=NOW)
    run_until_idle(bus)
    [invoice] = inv.list_invoices(db)
    assert invoice.subtotal == D("20.09")
