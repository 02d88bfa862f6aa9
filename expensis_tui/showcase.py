"""Fixed data and a frozen clock for the snapshot tests and `python -m expensis_tui.screenshots`.

Everything on screen is deterministic: timestamps are written explicitly, the bus runs
on the frozen clock, and no service starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.bus import Bus, default_registry, run_until_idle
from core.config import Settings
from core.db import Database
from core.models import (
    AddonLog,
    AddonType,
    AuditLog,
    Cdr,
    Customer,
    ExportJob,
    ImportBatch,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    MailLog,
    Message,
    Operator,
    Partner,
    Payment,
    RateLimitHit,
    RatePlan,
    SchedulerLease,
    Subscription,
    SubscriptionAddon,
    SyncProfile,
    SyncTask,
    Tariff,
)
from core.month import Month
from core.runtime import Runtime
from core.security.secrets import SecretBox
from core.workflows import load_all
from core.workflows.totals import dispatch_totals

NOW = datetime(2026, 10, 20, 10, 0, tzinfo=UTC)  # 12:00 in Amsterdam
OCT = date(2026, 10, 1)
OPERATOR = "alice"


def frozen_clock() -> datetime:
    return NOW


def settings_for(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, operator=OPERATOR, allow_operator_override=True, workers=2)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def _plan() -> RatePlan:
    plan = RatePlan(name="Business 10", monthly_fee=Decimal("10.00"), voice_bundle_minutes=10, sms_bundle=2,
                    data_bundle_mb=1, price_per_minute=Decimal("0.20"), price_per_sms=Decimal("0.10"),
                    price_per_mb=Decimal("0.50"), voice_increment_s=60)
    plan.tariffs = [Tariff(prefix="+44", call_type="voice", price=Decimal("1.00"), setup_fee=Decimal("0.25"))]
    return plan


CUSTOMERS = (  # code, name, partner, rate-plan customer, numbers
    ("ACME", "Acme Logistics", "Partner A", True, ("+31610000001", "+31610000002")),
    ("BETA", "Beta Bouw", "Partner A", True, ("+31620000001",)),
    ("GAMMA", "Gamma Zorg", None, False, ("+31630000001",)),
)
EMAILS = {"ACME": "facturen@acme.example", "BETA": "admin@betabouw.example"}  # GAMMA has none
PROFILES = (  # name, customer, provider, active, interval, next sync (hours from now)
    ("acme-kpn", "ACME", "kpn_sp16", True, 1440, 14),
    ("acme-vodafone", "ACME", "vodafone", False, 1440, None),
    ("beta-routit", "BETA", "routit", True, 720, 2),
    ("gamma-calvi", "GAMMA", "tmobile_calvi", True, 60, 0.5),
)
CALLS = (  # number, day, hour, type, destination, seconds, KB, cost
    ("+31610000001", 5, 9, "voice", "+31201234567", 300, 0, "0.0100"),
    ("+31610000001", 6, 9, "voice", "+31201234567", 361, 0, "0.0200"),
    ("+31610000001", 7, 9, "voice", "+442071234567", 61, 0, "0.0300"),
    ("+31610000001", 8, 9, "sms", "+31612345678", 0, 0, "0.0010"),
    ("+31610000001", 8, 10, "sms", "+31612345678", 0, 0, "0.0010"),
    ("+31610000001", 8, 11, "sms", "+31612345678", 0, 0, "0.0010"),
    ("+31610000001", 9, 9, "data", "", 0, 2048, "0.0040"),
    ("+31610000002", 10, 14, "voice", "+31301234567", 1260, 0, "0.0600"),
    ("+31620000001", 11, 8, "voice", "+31201234567", 125, 0, "0.0100"),
    ("+31620000001", 12, 8, "data", "", 0, 5120, "0.0200"),
    ("+31630000001", 13, 8, "voice", "+31201234567", 600, 0, "0.1500"),
)
LATE_CALL = ("+31610000002", 15, 16, "voice", "+31201234567", 240, 0, "0.0100")  # after the last totals


OPERATORS = (("alice", "admin"), ("bob", "operator"), ("dave", "admin"), ("vera", "viewer"))


def build(db: Database, settings: Settings) -> None:
    """Write the showcase: setup, CDRs, totals with history, sync tasks, failures, audit, a lease."""
    load_all()
    ids: dict[str, int] = {}
    with db.transaction() as s:
        partner = Partner(name="Partner A", created_at=ago(days=400))
        plan = _plan()
        s.add_all([partner, plan, *(Operator(username=name, role=role, created_at=ago(days=400))
                                    for name, role in OPERATORS)])
        s.flush()
        for code, name, partner_name, rateplan, numbers in CUSTOMERS:
            customer = Customer(code=code, name=name, partner_id=partner.id if partner_name else None,
                                rateplan_customer=rateplan, email=EMAILS.get(code), created_at=ago(days=400))
            s.add(customer)
            s.flush()
            ids[code] = customer.id
            for number in numbers:
                sub = Subscription(customer_id=customer.id, number=number, rate_plan_id=plan.id,
                                   start_date=date(2025, 1, 1), cost_centre="Sales", created_at=ago(days=400))
                s.add(sub)
                s.flush()
                ids[number] = sub.id
        box = SecretBox.from_settings(settings)
        for name, code, provider, active, interval, next_hours in PROFILES:
            s.add(SyncProfile(name=name, customer_id=ids[code], provider=provider,
                              base_url=f"http://127.0.0.1:8765/{provider}", customer_ref=f"{code}-001",
                              credentials_encrypted=box.encrypt({"username": f"{code.lower()}-api",
                                                                 "password": "not-shown"}),
                              active=active, interval_minutes=interval, created_at=ago(days=300),
                              next_sync_date=None if next_hours is None else NOW + timedelta(hours=next_hours)))
        for day in range(14):
            s.add(ImportBatch(provider="kpn_sp16", source=f"showcase day {day}", status="done",
                              rows_read=900 + 37 * day, imported=(day * 53) % 400 + 600 * (day % 3 + 1),
                              created_at=ago(days=13 - day, hours=1), finished_at=ago(days=13 - day)))
        _add_calls(s, ids, CALLS, "c")
    bus = Bus(db, default_registry, clock=frozen_clock)
    for code in ("ACME", "ACME", "BETA", "GAMMA"):  # ACME twice: version 1 goes to history
        dispatch_totals(bus, ids[code], OCT, trigger="showcase")
        run_until_idle(bus)
    with db.transaction() as s:
        _add_calls(s, ids, (LATE_CALL,), "late")
        _add_sync_history(s, ids)
        _add_audit(s)
        _add_addons(s, ids)
        _add_exports(s, ids)
        _add_invoices(s, ids, settings)
        s.add(SchedulerLease(name="scheduler", holder="billing-01:4242",
                             expires_at=NOW + timedelta(seconds=40), epoch=3))


def _add_calls(s: Session, ids: dict[str, int], calls: tuple[tuple[object, ...], ...], prefix: str) -> None:
    customer_of = {number: code for code, _n, _p, _r, numbers in CUSTOMERS for number in numbers}
    for i, (number, day, hour, kind, dest, seconds, kb, cost) in enumerate(calls):
        s.add(Cdr(provider="kpn_sp16", provider_ref=f"{prefix}{i}", customer_id=ids[customer_of[str(number)]],
                  subscription_id=ids[str(number)], number=str(number),
                  call_date=datetime(2026, 10, int(str(day)), int(str(hour)), tzinfo=UTC), cycle_start_date=OCT,
                  call_type=str(kind), destination=str(dest), duration_s=int(str(seconds)),
                  volume_kb=int(str(kb)), provider_cost=Decimal(str(cost))))


def _message(wf: str, command: str, status: str, created: datetime, *, attempts: int = 1,
             error: str | None = None, payload: dict[str, object] | None = None) -> Message:
    # Waiting and running steps belong to workers elsewhere: far-off availability keeps a
    # test's own workers from claiming them.
    available = created if status in ("done", "failed") else NOW + timedelta(days=3650)
    return Message(command_id=f"{wf}-{command}", command_type=command, payload=json.dumps(payload or {}),
                   chain="[]", workflow_id=wf, status=status, attempts=attempts, max_attempts=5,
                   available_at=available, error=error, created_at=created, started_at=created,
                   finished_at=created + timedelta(seconds=20) if status in ("done", "failed") else None)


def _add_sync_history(s: Session, ids: dict[str, int]) -> None:
    profile = {name: pid for name, pid in s.execute(select(SyncProfile.name, SyncProfile.id))}
    tasks = (  # profile, customer, status, reason, error, step status, hours ago
        ("acme-kpn", "ACME", "completed", None, None, "done", 10),
        ("beta-routit", "BETA", "processing", None, None, "running", 0.05),
        ("gamma-calvi", "GAMMA", "failed", "invalid_credentials",
         "provider refused the credentials (HTTP 401)", "failed", 3),
        ("acme-vodafone", "ACME", "failed", "timeout", "no answer within 30 s (5 attempts)", "failed", 26),
        ("gamma-calvi", "GAMMA", "pending", None, None, "queued", 0.01),
    )
    for n, (name, code, status, reason, error, step_status, hours) in enumerate(tasks, start=1):
        wf = f"showcase-wf-{n}"
        created = ago(hours=hours)
        s.add(SyncTask(sync_profile_id=profile[name], customer_id=ids[code], cycle_start_date=OCT,
                       status=status, reason=reason, error_message=error, trigger="schedule", workflow_id=wf,
                       retries=1 if status == "failed" else 0, created_at=created, updated_at=created))
        payload = {"sync_task_id": n, "customer_id": ids[code], "cycle_start_date": OCT.isoformat()}
        s.add(_message(wf, "SyncProfile", "done", created, payload=payload))
        step_error = f"PermanentError: {error}" if step_status == "failed" else None
        s.add(_message(wf, "KpnSp16Sync" if "kpn" in name else "ProviderSync", step_status,
                       created + timedelta(seconds=5), attempts=5 if reason == "timeout" else 1,
                       error=step_error, payload=payload))


def _add_audit(s: Session) -> None:
    entries = (
        (30, "bob", "setup.apply", "setup.toml", "ok", "3 customers, 4 profiles"),
        (26, "alice", "profile.credentials", "gamma-calvi", "ok", "changed: password"),
        (20, "alice", "profile.deactivate", "acme-vodafone", "ok", None),
        (6, "bob", "totals.recalculate", "ACME 2026-10", "ok", None),
        (2, "alice", "messages.retry", "message 12 KpnSp16Sync ACME 2026-10", "no change", None),
        (1, "carol", "profile.schedule", "gamma-calvi", "ok", "every 60 min, next 2026-10-20T11:00"),
    )
    for hours, operator, action, target, result, detail in entries:
        s.add(AuditLog(at=ago(hours=hours), operator=operator, action=action, target=target,
                       result=result, detail=detail))


ADDON_TYPES = (("DATA-10GB", "Extra data 10 GB", "10.00"), ("DATA-EU-5GB", "EU data 5 GB", "7.50"),
               ("CALL-INTL-100", "100 internationale minuten", "5.00"),
               ("ROAM-WORLD-1GB", "Wereld roaming 1 GB", "15.00"))
BETA_EXTRA = ("+31620000002", "+31620000003")  # added after the totals: they change no amounts
ADDON_STATES = (("+31620000001", "DATA-10GB", "active", 5), ("+31620000002", "CALL-INTL-100", "active", 4),
                ("+31620000002", "ROAM-WORLD-1GB", "cancelled", 1))  # number, code, status, days ago
ADDON_LOG = (  # number, code, action, status, minutes ago, attempts, error, by
    ("+31620000001", "DATA-10GB", "activate", "succeeded", 5 * 1440, 1, None, "dave"),
    ("+31620000002", "CALL-INTL-100", "activate", "succeeded", 4 * 1440, 1, None, "dave"),
    ("+31620000002", "ROAM-WORLD-1GB", "activate", "succeeded", 3 * 1440, 1, None, "alice"),
    ("+31620000002", "ROAM-WORLD-1GB", "cancel", "succeeded", 1440, 1, None, "alice"),
    ("+31620000003", "DATA-EU-5GB", "activate", "failed", 120, 5,
     "gave up after 5 attempts: HTTP 503 from Nina", "alice"),
    ("+31620000003", "DATA-EU-5GB", "activate", "backlog", 1, 0, None, "alice"),
    ("+31620000001", "DATA-EU-5GB", "activate", "backlog", 1, 1,
     "waiting: HTTP 429: rate limit, retry after 40 s", "alice"),
)


def _add_addons(s: Session, ids: dict[str, int]) -> None:
    """BETA (Routit): the catalogue, two more subscriptions, confirmed add-ons, the log, a full window."""
    from core.addons import limiter_key
    from core.security.ratelimit import window_start

    beta = ids["BETA"]
    plan_id = s.scalars(select(RatePlan.id)).first()
    for number in BETA_EXTRA:
        sub = Subscription(customer_id=beta, number=number, rate_plan_id=plan_id, provider="routit",
                           start_date=date(2025, 1, 1), cost_centre="Werkplaats", created_at=ago(days=400))
        s.add(sub)
        s.flush()
        ids[number] = sub.id
    s.add_all(AddonType(provider="routit", code=code, name=name, monthly_price=Decimal(price))
              for code, name, price in ADDON_TYPES)
    s.add_all(SubscriptionAddon(subscription_id=ids[number], addon_code=code, status=status,
                                updated_at=ago(days=days)) for number, code, status, days in ADDON_STATES)
    for n, (number, code, action, status, minutes, attempts, error, by) in enumerate(ADDON_LOG, start=1):
        created = ago(minutes=minutes)
        finished = created + timedelta(seconds=2) if status in ("succeeded", "failed") else None
        s.add(AddonLog(customer_id=beta, subscription_id=ids[number], addon_code=code, action=action,
                       status=status, attempts=attempts, requested_by=by, created_at=created,
                       finished_at=finished, error_message=error,
                       not_before=NOW + timedelta(seconds=40) if error and status == "backlog" else None,
                       provider_request_id=f"nina-{1000 + n}" if status == "succeeded" else None))
    window = window_start(NOW, 60)  # this minute's ten Nina requests are spent: the backlog waits
    s.add_all(RateLimitHit(limiter_key=limiter_key(beta), window_start=window, slot=slot,
                           taken_at=NOW - timedelta(seconds=5)) for slot in range(10))


EXPORTS = (  # kind, customer, cycle, status, rows, total rows, error, by, minutes ago
    ("excel", "ACME", date(2026, 9, 1), "completed", 1234, 1234, None, "bob", 2 * 1440),
    ("usage", "BETA", date(2026, 9, 1), "completed", 3, None, None, "bob", 1440),
    ("csv", "GAMMA", OCT, "failed", 0, 1, "OSError: [Errno 28] No space left on device", "alice", 90),
    ("excel", "ACME", OCT, "running", 20000, 48210, None, "alice", 1),
)


def _add_exports(s: Session, ids: dict[str, int]) -> None:
    for n, (kind, code, cycle, status, rows, total, error, by, minutes) in enumerate(EXPORTS, start=1):
        created = ago(minutes=minutes)
        suffix = "csv" if kind == "csv" else "xlsx"
        s.add(ExportJob(kind=kind, customer_id=ids[code], cycle_start_date=cycle, status=status,
                        path=f"/srv/expensis/exports/{code}_{Month.of(cycle)}_{kind}_{n}.{suffix}"
                        if status == "completed" else None,
                        rows=rows, total_rows=total, error_message=error, requested_by=by, created_at=created,
                        finished_at=created + timedelta(seconds=40) if status in ("completed", "failed")
                        else None))


INVOICES = (  # seq, customer, cycle, issue date, subtotal, credits seq, note
    (1, "ACME", date(2026, 8, 1), date(2026, 9, 15), "40.00", None, None),
    (2, "BETA", date(2026, 8, 1), date(2026, 9, 15), "10.00", None, None),
    (3, "GAMMA", date(2026, 8, 1), date(2026, 9, 15), "25.00", None, None),
    (4, "GAMMA", date(2026, 8, 1), date(2026, 9, 22), "-25.00", 3, "wrong rate plan applied"),
    (5, "ACME", date(2026, 9, 1), date(2026, 10, 15), "43.00", None, None),
    (6, "BETA", date(2026, 9, 1), date(2026, 10, 15), "10.00", None, None),
    (7, "GAMMA", date(2026, 9, 1), date(2026, 10, 15), "27.50", None, None),
)
PAYMENTS = (  # paid on, amount, reference, counterparty, invoice seq
    (date(2026, 9, 25), "48.40", "Factuur 2026-00001", "Acme Logistics", 1),
    (date(2026, 10, 16), "20.00", "2026-00005 deel 1", "Acme Logistics", 5),
    (date(2026, 10, 18), "12.10", "factuur september", "Beta Bouw", None),
)


def _add_invoices(s: Session, ids: dict[str, int], settings: Settings) -> None:
    """Two cycles invoiced (numbers 2026-00001..7, one credited), payments, a mail; October is open.

    The PDFs are not written: the billing core renders a missing one from the stored data.
    """
    from core.billing.invoices import archive_path
    from core.billing.lines import round_cents

    by_seq: dict[int, Invoice] = {}
    for seq, code, cycle, issued, subtotal, credits, note in INVOICES:
        net = Decimal(subtotal)
        vat = round_cents(net * Decimal("0.21"))
        fees = Decimal("10.00") * (2 if code == "ACME" else 1)
        lines = [InvoiceLine(position=1, description="Abonnementen Business 10", quantity=fees / 10,
                             unit="st", unit_price=Decimal("10.00"), amount=fees),
                 InvoiceLine(position=2, description="Verbruik buiten de bundel", quantity=Decimal(1),
                             unit="st", unit_price=net - fees, amount=net - fees)]
        if credits is not None:
            lines = [InvoiceLine(position=1, description="Creditering 2026-00003", quantity=Decimal(1),
                                 unit="st", unit_price=net, amount=net)]
        invoice = Invoice(customer_id=ids[code], cycle_start_date=cycle, status="final",
                          kind="credit_note" if credits else "invoice", number=f"2026-{seq:05d}", year=2026,
                          seq=seq, issue_date=issued, due_date=issued + timedelta(days=14), subtotal=net,
                          vat=vat, total=net + vat, credited_invoice_id=by_seq[credits].id if credits else None,
                          note=note, pdf_path=str(archive_path(settings, code, f"2026-{seq:05d}")),
                          created_at=datetime.combine(issued, datetime.min.time(), UTC),
                          finalized_at=datetime.combine(issued, datetime.min.time(), UTC), lines=lines)
        s.add(invoice)
        s.flush()
        by_seq[seq] = invoice
    s.add(InvoiceCounter(issuer="default", year=2026, series="live", last_seq=len(INVOICES)))
    for n, (paid_on, amount, reference, counterparty, paid_seq) in enumerate(PAYMENTS):
        s.add(Payment(fingerprint=f"showcase-{n}", paid_on=paid_on, amount=Decimal(amount), reference=reference,
                      counterparty=counterparty, invoice_id=by_seq[paid_seq].id if paid_seq else None,
                      imported_at=datetime.combine(paid_on, datetime.min.time(), UTC)))
    s.add(MailLog(customer_id=ids["ACME"], cycle_start_date=date(2026, 9, 1), kind="invoice",
                  invoice_id=by_seq[5].id, recipient=EMAILS["ACME"], status="sent",
                  sent_at=datetime(2026, 10, 15, 6, 0, tzinfo=UTC)))


@contextmanager
def showcase_runtime(data_dir: Path) -> Iterator[Runtime]:
    """A runtime on a fresh showcase database in `data_dir` (created and filled here)."""
    runtime = Runtime(settings_for(data_dir))
    try:
        build(runtime.db, runtime.settings)
        yield runtime
    finally:
        runtime.close()


async def settle(pilot: Any, rounds: int = 3) -> None:
    """Let workers finish and their messages be handled (tests and screenshots; no sleeping)."""
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def screen_text(app: Any) -> str:
    """The screen as plain text, as a terminal would show it (for assertions)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system=None, record=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()
