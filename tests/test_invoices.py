"""Invoices from totals: amounts by hand, the PDF read back, the archive, the bus and the CLI."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core.billing import invoices as inv
from core.bus import Bus, default_registry, run_until_idle
from core.bus.deps import HandlerDeps
from core.bus.worker import execute
from core.config import Settings, load_settings
from core.db import Database, ensure_schema
from core.models import (
    AddonType,
    Customer,
    Invoice,
    InvoiceCounter,
    RatePlan,
    RevenueLedger,
    Subscription,
    SubscriptionAddon,
    Total,
)
from core.workflows import load_all
from core.workflows.invoicing import GenerateInvoice, invoice_run, invoice_run_job
from expensis_tui.cli import main

load_all()
D = Decimal
OCT = date(2026, 10, 1)
ISSUE = date(2026, 11, 15)


# -- shared helpers (also used by the payments, mail and numbering tests) ----------------------

def billing_settings(tmp_path: Path, **changes: object) -> Settings:
    settings = load_settings(data_dir=tmp_path / "data", environ={})
    return replace(settings, **changes)  # type: ignore[arg-type]


def add_customer(db: Database, code: str, *, subscriptions: Sequence[str] = ("+31600000001",),
                 language: str = "nl", country: str = "NL", vat_number: str | None = None,
                 test_mode: bool = False, active: bool = True, auto_send: bool = True,
                 email: str | None = "billing@customer.test", plan_fee: str = "12.50",
                 billing_day: int = 1) -> dict[str, int]:
    """A customer on plan "Zakelijk 5GB" with the given subscription numbers; returns ids."""
    ids: dict[str, int] = {}
    with db.transaction() as s:
        plan = s.scalars(select(RatePlan).where(RatePlan.name == "Zakelijk 5GB")).first()
        if plan is None:
            plan = RatePlan(name="Zakelijk 5GB", monthly_fee=D(plan_fee))
            s.add(plan)
            s.flush()
        customer = Customer(code=code, name=f"{code} B.V.", language=language, country=country,
                            vat_number=vat_number, test_mode=test_mode, active=active, auto_send=auto_send,
                            email=email, address="Dorpsstraat 12\n3581 AB Utrecht", billing_day=billing_day)
        s.add(customer)
        s.flush()
        ids["customer"] = customer.id
        for number in subscriptions:
            sub = Subscription(customer_id=customer.id, number=number, rate_plan_id=plan.id,
                               provider="routit", start_date=date(2025, 1, 1), cost_centre="Sales")
            s.add(sub)
            s.flush()
            ids[number] = sub.id
    return ids


def put_totals(db: Database, customer_id: int, cycle: date,
               rows: Sequence[tuple[int, str, int, int, int, str]]) -> None:
    """Totals rows (subscription id, call type, count, seconds, KB, rated amount)."""
    with db.transaction() as s:
        for sub_id, call_type, count, seconds, kb, rated in rows:
            s.add(Total(customer_id=customer_id, cycle_start_date=cycle, subscription_id=sub_id,
                        call_type=call_type, count=count, duration_s=seconds, volume_kb=kb,
                        provider_cost=D("0"), rated_amount=D(rated), version=1))


def simple_customer(db: Database, code: str, fee: str = "100.00", **kwargs: object) -> int:
    """A customer whose cycle 2026-10 bills exactly `fee` (one fee row): total = fee × 1.21."""
    ids = add_customer(db, code, subscriptions=(f"+3160{abs(hash(code)) % 10**7:07d}",), **kwargs)  # type: ignore[arg-type]
    sub = next(v for k, v in ids.items() if k.startswith("+"))
    put_totals(db, ids["customer"], OCT, [(sub, "fee", 1, 0, 0, fee)])
    return ids["customer"]


def pdf_text(path: Path | bytes) -> str:
    data = path if isinstance(path, bytes) else path.read_bytes()
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def counter(db: Database, series: str = "live", year: int = 2026) -> int:
    with db.reader() as s:
        row = s.get(InvoiceCounter, ("default", year, series))
        return row.last_seq if row else 0


# -- the bakery: every amount by hand ----------------------------------------------------------

S1, S2, S3 = "+31611111111", "+31622222222", "+31633333333"


def bakery(db: Database, **kwargs: object) -> dict[str, int]:
    ids = add_customer(db, "BAKKER", subscriptions=(S1, S2, S3), **kwargs)  # type: ignore[arg-type]
    put_totals(db, ids["customer"], OCT, [
        (ids[S1], "fee", 1, 0, 0, "12.5000"),
        (ids[S2], "fee", 1, 0, 0, "12.5000"),
        (ids[S3], "fee", 1, 0, 0, "6.0484"),  # started 17 Oct: 12.50 × 15/31 = 6.04838… → 6.0484
        (ids[S1], "voice", 10, 600, 0, "1.2345"),
        (ids[S2], "voice", 20, 900, 0, "2.3456"),
        (ids[S1], "sms", 13, 0, 0, "0.3000"),
        (ids[S3], "data", 40, 0, 500_000, "0.0000"),  # inside the bundle: no line, no quantity
    ])
    with db.transaction() as s:
        s.add(AddonType(provider="routit", code="ROAM-EU", name="Buitenland bundel", monthly_price=D("7.50")))
        s.add(SubscriptionAddon(subscription_id=ids[S1], addon_code="ROAM-EU", status="active"))
        s.add(SubscriptionAddon(subscription_id=ids[S2], addon_code="ROAM-EU", status="cancelled"))
    return ids


def test_amounts_by_hand_and_pdf_read_back(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    ids = bakery(db)
    invoice_id = inv.draft_invoice(db, ids["customer"], OCT, settings=settings)
    with db.reader() as s:
        draft = s.get_one(Invoice, invoice_id)
        assert (draft.status, draft.number, draft.seq, draft.pdf_path) == ("draft", None, None, None)
    assert counter(db) == 0  # a draft takes no number

    number = inv.finalize_invoice(db, invoice_id, issue_date=ISSUE, settings=settings)
    assert number == "2026-00001"
    detail = inv.invoice_detail(db, number, "default")
    lines = [(line.description, line.quantity, line.amount) for line in detail.amounts.lines]
    # Fees per (plan, fee), lowest fee first: 1 × 6.0484 = 6.0484 → 6.05; 2 × 12.50 = 25.00.
    # These totals have no charges (no rating explains them), so usage is passed through
    # as 1 × its amount: voice 1.2345 + 2.3456 = 3.5801 → 3.58 over (600 + 900) s / 60 = 25 min;
    # SMS: 0.30 for 13 messages. Data rated 0: no line.
    # Add-on: only S1's is active: 1 × 7.50 = 7.50.
    assert lines == [
        ("Abonnement Zakelijk 5GB", D(1), D("6.05")),
        ("Abonnement Zakelijk 5GB", D(2), D("25.00")),
        ("Bellen volgens tarief provider (25 min)", D(1), D("3.58")),
        ("Sms volgens tarief provider (13 st.)", D(1), D("0.30")),
        ("Add-on Buitenland bundel", D(1), D("7.50")),
    ]
    # Subtotal 25.00 + 6.05 + 3.58 + 0.30 + 7.50 = 42.43; VAT 21 % = 8.9103 → 8.91; total 51.34.
    assert (detail.summary.subtotal, detail.summary.vat, detail.summary.total) == (D("42.43"), D("8.91"),
                                                                                   D("51.34"))
    assert detail.summary.due_date == date(2026, 11, 29)  # 14 days' terms

    pdf = settings.invoices_dir / "BAKKER" / "2026-00001.pdf"
    assert detail.summary.pdf_path == str(pdf) and pdf.is_file()
    text = pdf_text(pdf)
    for expected in ("FACTUUR", "2026-00001", "BAKKER B.V.", "Abonnement Zakelijk 5GB", "Bellen volgens tarief",
                     "Add-on Buitenland bundel", "€ 25,00", "€ 6,05", "€ 3,58", "€ 7,50", "€ 42,43",
                     "Btw 21%", "€ 8,91", "€ 51,34", "1 oktober 2026 - 31 oktober 2026"):
        assert expected in text, expected
    with db.reader() as s:
        ledger = s.get_one(RevenueLedger, ids["customer"])
        assert (ledger.invoiced_total, ledger.invoice_count) == (D("51.34"), 1)


def test_reverse_charge_in_english_for_an_eu_business(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    customer = simple_customer(db, "BRUSSEL", fee="200.00", language="en", country="BE",
                               vat_number="BE0123456789")
    invoice_id = inv.draft_invoice(db, customer, OCT, settings=settings)
    number = inv.finalize_invoice(db, invoice_id, issue_date=ISSUE, settings=settings)
    detail = inv.invoice_detail(db, number, "default")
    # 200.00 net, reverse charge: no VAT, total 200.00.
    assert (detail.summary.vat, detail.summary.total, detail.reverse_charge) == (D("0"), D("200.00"), True)
    text = pdf_text(Path(str(detail.summary.pdf_path)))
    assert "INVOICE" in text and "VAT reverse charged" in text and "BE0123456789" in text
    assert "€200.00" in text and "15 November 2026" in text


def test_vat_rate_comes_from_settings(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path, vat_rate=D("9"))
    customer = simple_customer(db, "LAAG", fee="100.00")
    number = inv.finalize_invoice(db, inv.draft_invoice(db, customer, OCT, settings=settings),
                                  issue_date=ISSUE, settings=settings)
    # 100.00 × 9 % = 9.00; total 109.00
    assert inv.invoice_detail(db, number, "default").summary.total == D("109.00")


def test_finalize_is_idempotent_and_a_failed_finalize_leaves_no_gap(db: Database, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    settings = billing_settings(tmp_path)
    first, second = simple_customer(db, "EEN"), simple_customer(db, "TWEE")
    a = inv.draft_invoice(db, first, OCT, settings=settings)
    b = inv.draft_invoice(db, second, OCT, settings=settings)
    assert inv.draft_invoice(db, first, OCT, settings=settings) == a  # one draft per customer-cycle

    def broken(doc: object) -> bytes:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(inv, "render_invoice_pdf", broken)
    with pytest.raises(RuntimeError):
        inv.finalize_invoice(db, a, issue_date=ISSUE, settings=settings)
    assert counter(db) == 0  # the number went back with the rollback
    assert not (settings.invoices_dir / "EEN").exists()  # and no file carries it
    monkeypatch.undo()

    assert inv.finalize_invoice(db, b, issue_date=ISSUE, settings=settings) == "2026-00001"
    assert inv.finalize_invoice(db, a, issue_date=ISSUE, settings=settings) == "2026-00002"
    assert inv.finalize_invoice(db, a, issue_date=ISSUE, settings=settings) == "2026-00002"
    assert counter(db) == 2
    # A final invoice stands: drafting the cycle again returns it untouched.
    assert inv.draft_invoice(db, first, OCT, settings=settings) == a


def test_missing_pdf_is_rendered_again_identically(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    ids = bakery(db)
    number = inv.finalize_invoice(db, inv.draft_invoice(db, ids["customer"], OCT, settings=settings),
                                  issue_date=ISSUE, settings=settings)
    path = settings.invoices_dir / "BAKKER" / f"{number}.pdf"
    original = path.read_bytes()
    path.unlink()
    with db.reader() as s:
        invoice_id = inv.find_invoice(s, number, "default").id
    assert inv.ensure_pdf(db, invoice_id, settings) == path
    assert path.read_bytes() == original


def test_numbers_restart_each_year(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    old, new = simple_customer(db, "OUD"), simple_customer(db, "NIEUW")
    assert inv.finalize_invoice(db, inv.draft_invoice(db, old, OCT, settings=settings),
                                issue_date=date(2026, 12, 31), settings=settings) == "2026-00001"
    assert inv.finalize_invoice(db, inv.draft_invoice(db, new, OCT, settings=settings),
                                issue_date=date(2027, 1, 2), settings=settings) == "2027-00001"


def test_nothing_to_invoice_gets_no_number(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    ids = add_customer(db, "LEEG")
    draft = inv.draft_invoice(db, ids["customer"], OCT, settings=settings)
    with pytest.raises(inv.NothingToInvoice):
        inv.finalize_invoice(db, draft, issue_date=ISSUE, settings=settings)
    assert counter(db) == 0


def test_preview_numbers_nothing(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    ids = bakery(db)
    preview = inv.preview_invoice(db, ids["customer"], OCT, settings=settings)
    assert (preview.amounts.total, preview.standing_number, preview.test_mode) == (D("51.34"), None, False)
    with db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 0
    assert counter(db) == 0


# -- the bus -----------------------------------------------------------------------------------

def test_invoice_run_through_the_bus_is_idempotent(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    bus = Bus(db, default_registry, deps=HandlerDeps(settings))
    a, b = simple_customer(db, "ALFA"), simple_customer(db, "BETA")
    simple_customer(db, "SLAPEND", active=False)
    run = invoice_run(bus, "2026-10", operator="alice", issue_date=ISSUE)
    assert len(run.dispatched) == 2 and run.invoiced == []
    run_until_idle(bus)
    numbers = {s.customer_code: s.number for s in inv.list_invoices(db)}
    assert numbers == {"ALFA": "2026-00001", "BETA": "2026-00002"}

    again = invoice_run(bus, "2026-10", operator="alice", issue_date=ISSUE)
    assert again.dispatched == [] and sorted(again.invoiced) == ["ALFA", "BETA"]
    # A redelivered GenerateInvoice (the message ran, then ran again) issues nothing new.
    bus.dispatch(GenerateInvoice(a, OCT, ISSUE))
    bus.dispatch(GenerateInvoice(b, OCT, ISSUE))
    run_until_idle(bus)
    assert counter(db) == 2 and len(inv.list_invoices(db)) == 2


def test_a_handler_that_dies_before_commit_issues_once(db: Database, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    settings = billing_settings(tmp_path)
    bus = Bus(db, default_registry, deps=HandlerDeps(settings), max_attempts=1)
    customer = simple_customer(db, "GAMMA")
    bus.dispatch(GenerateInvoice(customer, OCT, ISSUE))
    # The first delivery loses its lease right before completing: its work is rolled back.
    original = bus.complete_in
    calls = {"n": 0}

    def lose_lease(session, message, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            from core.bus.errors import LeaseLost

            raise LeaseLost("taken over")
        return original(session, message, **kw)

    monkeypatch.setattr(bus, "complete_in", lose_lease)
    message = bus.claim("w1")
    assert message is not None and execute(bus, message) == "lost"
    assert counter(db) == 0 and not (settings.invoices_dir / "GAMMA").exists()
    with db.transaction() as s:  # the lease expires: redelivered
        from sqlalchemy import update

        from core.models import Message

        s.execute(update(Message).values(status="queued", lease_owner=None, available_at=bus.clock()))
    run_until_idle(bus)
    assert [s.number for s in inv.list_invoices(db)] == ["2026-00001"]
    assert (settings.invoices_dir / "GAMMA" / "2026-00001.pdf").is_file()


def test_invoice_run_job_invoices_last_month(db: Database, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    settings = billing_settings(tmp_path)
    simple_customer(db, "DELTA")

    class FakeRuntime:
        def __init__(self) -> None:
            self.db, self.settings = db, settings
            self.bus = Bus(db, default_registry, deps=HandlerDeps(settings))

    rt = FakeRuntime()
    summary = invoice_run_job(rt, datetime(2026, 11, 15, 6, 0, tzinfo=UTC))  # type: ignore[arg-type]
    assert summary.startswith("last ended cycles: 1 invoice(s) dispatched")  # October, ended
    run_until_idle(rt.bus)
    [invoice] = inv.list_invoices(db)
    assert (invoice.number, invoice.issue_date) == ("2026-00001", ISSUE)


# -- the CLI -----------------------------------------------------------------------------------

def cli(data: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data), "--operator", "alice", *args],
                                catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_run_list_show_credit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    bakery(db)
    simple_customer(db, "TESTKLANT", test_mode=True)
    db.dispose()

    code, out, _ = cli(data, "invoices", "run", "--cycle", "2026-10", "--preview", "--customer", "BAKKER")
    assert code == 0 and "Bellen volgens tarief provider" in out and "€ 51,34" in out  # Dutch customer
    code, out, _ = cli(data, "invoices", "run", "--cycle", "2026-10", "--issue-date", "2026-11-15", "--wait")
    assert code == 0, out
    code, out, _ = cli(data, "invoices", "list", "--json")
    listed = {r["customer_code"]: r["number"] for r in json.loads(out)}
    assert listed == {"BAKKER": "2026-00001", "TESTKLANT": "TEST-2026-00001"}
    code, out, _ = cli(data, "invoices", "show", "2026-00001")
    assert code == 0 and "51.34" in out and "PDF:" in out
    code, out, _ = cli(data, "invoices", "credit", "2026-00001", "--reason", "wrong plan",
                       "--issue-date", "2026-11-20")
    assert code == 0 and "credit note 2026-00002 corrects 2026-00001" in out
    code, out, _ = cli(data, "invoices", "show", "2026-00002", "--json")
    shown = json.loads(out)
    assert shown["kind"] == "credit_note" and shown["total"] == "-51.3400"
    assert shown["credited_invoice"] == "2026-00001" and shown["note"] == "wrong plan"
    code, _, err = cli(data, "invoices", "show", "2026-09999")
    assert code == 4 and "no invoice" in err
    # After the credit note the cycle can be invoiced again (the correction), with a new number.
    code, out, _ = cli(data, "invoices", "run", "--cycle", "2026-10", "--customer", "BAKKER",
                       "--issue-date", "2026-11-21", "--wait")
    assert code == 0, out
    code, out, _ = cli(data, "invoices", "list", "--customer", "BAKKER", "--json")
    assert [r["number"] for r in json.loads(out)] == ["2026-00003", "2026-00002", "2026-00001"]


def test_files_are_written_only_when_the_outermost_transaction_commits(db: Database) -> None:
    ran: list[str] = []
    with db.transaction() as s:
        inv.after_commit(s, lambda: ran.append("first"))
        with s.begin_nested():  # a savepoint released: not the commit
            s.execute(select(1))
        assert ran == []
        try:
            with s.begin_nested():  # a savepoint rolled back: not the end either
                raise ValueError
        except ValueError:
            pass
        inv.after_commit(s, lambda: ran.append("second"))
    assert ran == ["first", "second"]
    with pytest.raises(ValueError), db.transaction() as s:
        inv.after_commit(s, lambda: ran.append("rolled back"))
        raise ValueError
    assert ran == ["first", "second"]
