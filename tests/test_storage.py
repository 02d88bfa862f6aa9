"""Every model round-trips on SQLite and MariaDB; money comes back exact; times stay UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from core import models as m
from core.db import Database, current_revision, ensure_schema, head_revision
from core.models.billing import BatchInvoice, Notification

T0 = datetime(2026, 10, 25, 0, 30, 15, 123456, tzinfo=UTC)


def build_everything() -> list[m.Base]:
    partner = m.Partner(id=1, name="Telecom Partners B.V.")
    customer = m.Customer(id=1, partner_id=1, code="ACME", name="Acme B.V.", language="en",
                          billing_day=15, rateplan_customer=True, vat_number="BE0123456789",
                          country="BE", address="Rue 1\n1000 Brussel", email="ap@acme.test")
    plan = m.RatePlan(id=1, name="Business 100", monthly_fee=Decimal("12.5000"),
                      voice_bundle_minutes=100, sms_bundle=50, data_bundle_mb=2048,
                      price_per_minute=Decimal("0.1000"), price_per_sms=Decimal("0.0500"),
                      price_per_mb=Decimal("0.0123"), voice_increment_s=60, setup_fee=Decimal("0.0450"))
    tariff = m.Tariff(id=1, rate_plan_id=1, prefix="+44", call_type="voice", price=Decimal("0.3500"))
    sub = m.Subscription(id=1, customer_id=1, number="+31612345678", rate_plan_id=1, provider="kpn_sp16",
                         cost_centre="Sales", start_date=date(2025, 1, 1), portation_date=date(2025, 2, 3),
                         sim="8931000000000000001", imei="356938035643809", device_model="Fairphone 5")
    profile = m.SyncProfile(id=1, name="acme-kpn", customer_id=1, provider="kpn_sp16",
                            base_url="http://127.0.0.1:1/kpn_sp16", customer_ref="C-1",
                            credentials_encrypted=b"gAAAAB\x00\xff", next_sync_date=T0)
    task = m.SyncTask(id=1, sync_profile_id=1, customer_id=1, cycle_start_date=date(2026, 10, 15),
                      status="failed", reason="invoice_not_yet_available", retries=2,
                      provider_invoice_total=Decimal("1234.5678"), provider_cost_total=Decimal("0.0001"))
    batch = m.ImportBatch(id=1, sync_task_id=1, provider="kpn_sp16", source="api", imported=1)
    cdr = m.Cdr(id=1, provider="kpn_sp16", provider_ref="R1", customer_id=1, subscription_id=1,
                import_batch_id=1, number="+31612345678", call_date=T0,
                cycle_start_date=date(2026, 10, 15), call_type="voice", destination="+442071234567",
                duration_s=61, provider_cost=Decimal("0.0123"), roaming=True, visited_country="CH")
    rating = m.CdrRating(customer_id=1, cycle_start_date=date(2026, 10, 15), cdr_id=1, subscription_id=1,
                         call_type="voice", rated_amount=Decimal("0.7450"), bundle_used=60, zone="world1")
    quarantined = m.QuarantinedRow(id=1, import_batch_id=1, provider="kpn_sp16", line=7,
                                   reason="negative duration", raw="R2,+316,...,-5")
    correction = m.CdrCorrection(id=1, cdr_id=1, import_batch_id=1, replaced_batch_id=None, customer_id=1,
                                 subscription_id=1, cycle_start_date=date(2026, 10, 15), number="+31612345678",
                                 call_date=T0, call_type="voice", destination="+442071234567", duration_s=60,
                                 volume_kb=0, provider_cost=Decimal("0.0120"), roaming=True)
    total = m.Total(id=1, customer_id=1, cycle_start_date=date(2026, 10, 15), subscription_id=1,
                    call_type="voice", count=3, duration_s=185, provider_cost=Decimal("99999999999999.9999"),
                    rated_amount=Decimal("-0.0001"), version=4)
    history = m.TotalHistory(id=1, customer_id=1, cycle_start_date=date(2026, 10, 15), version=3,
                             subscription_id=1, call_type="data", volume_kb=10**9)
    charge = m.TotalCharge(id=1, customer_id=1, cycle_start_date=date(2026, 10, 15), subscription_id=1,
                           call_type="voice", prefix="+4420", unit_price=Decimal("0.3000"),
                           setup_fee=Decimal("0.0500"), count=3, in_bundle=0, charged=185, setups=3,
                           rated_amount=Decimal("1.0750"), zone="world1", band="peak", increment="60/1",
                           minimum_charge=Decimal("0.0500"), minimums=2, surcharge_per_mb=Decimal("0.0025"),
                           surcharged=2048, first_day=date(2026, 10, 15), last_day=date(2026, 11, 14), used=170)
    insight = m.BillingInsight(id=1, customer_id=1, cycle_start_date=date(2026, 10, 15), kind="spike",
                               subscription_id=1, severity="warn", score=Decimal("3.2100"), message="x")
    status = m.CustomerStatus(id=1, customer_id=1, cycle_start_date=date(2026, 10, 15), totals_version=4)
    addon_type = m.AddonType(id=1, provider="routit", code="EU-DATA-5GB", name="EU data 5 GB",
                             monthly_price=Decimal("7.9900"))
    sub_addon = m.SubscriptionAddon(id=1, subscription_id=1, addon_code="EU-DATA-5GB", status="active")
    addon_log = m.AddonLog(id=1, customer_id=1, subscription_id=1, addon_code="EU-DATA-5GB",
                           action="activate", requested_by="alice", not_before=T0)
    hit = m.RateLimitHit(id=1, limiter_key="nina:1", window_start=T0, slot=0)
    export = m.ExportJob(id=1, kind="customer_excel", customer_id=1, cycle_start_date=date(2026, 10, 15))
    invoice = m.Invoice(id=1, customer_id=1, cycle_start_date=date(2026, 10, 15), status="final",
                        number="2026-00001", year=2026, seq=1, issue_date=date(2026, 11, 15),
                        subtotal=Decimal("1234.56"), vat=Decimal("259.26"), total=Decimal("1493.82"))
    line = m.InvoiceLine(id=1, invoice_id=1, position=1, description="Abonnement", quantity=Decimal("3"),
                         unit="st", unit_price=Decimal("12.5000"), amount=Decimal("37.50"))
    spec_line = m.InvoiceSpecificationLine(id=1, invoice_id=1, position=1, subscription_number="+31612345678",
                                           cost_centre="Sales", call_type="voice", zone="world1", count=3,
                                           usage=Decimal("12.50"), in_bundle=Decimal("10.00"),
                                           beyond=Decimal("3.00"), unit="min", amount=Decimal("0.30"))
    carried = m.InvoiceCorrection(id=1, invoice_id=1, carried_on_id=1, amount=Decimal("-12.5000"), created_at=T0)
    counter = m.InvoiceCounter(issuer="default", year=2026, series="live", last_seq=1)
    payment = m.Payment(id=1, fingerprint="f" * 64, paid_on=date(2026, 11, 20), amount=Decimal("1493.82"),
                        reference="2026-00001", counterparty="Acme", invoice_id=1)
    credit = m.CustomerCredit(id=1, customer_id=1, kind="applied", amount=Decimal("121.0000"), invoice_id=1,
                              operator="system", note="credit of 2026-00001", created_at=T0)
    ledger = m.RevenueLedger(customer_id=1, invoiced_total=Decimal("1493.82"), invoice_count=1)
    mail = m.MailLog(id=1, customer_id=1, cycle_start_date=date(2026, 10, 15), kind="invoice",
                     invoice_id=1, recipient="ap@acme.test")
    operator = m.Operator(id=1, username="alice", role="admin")
    audit = m.AuditLog(id=1, operator="alice", action="sync.start", target="acme-kpn", at=T0)
    message = m.Message(id=1, command_id="c1", command_type="SyncProfile", payload="{}", chain="[]",
                        workflow_id="c1", available_at=T0)
    attempt = m.MessageAttempt(id=1, message_id=1, attempt=2, at=T0, outcome="retrying",
                               error="ProviderUnavailable: HTTP 500 " + "x" * 5000)
    lease = m.SchedulerLease(name="scheduler", holder="host:1", expires_at=T0, epoch=7)
    tick = m.SchedulerTick(id=1, job="sync_manager", fire_time=T0, holder="host:1", epoch=7)
    batch_invoice = BatchInvoice(id=1, period="2026-11", fingerprint="b" * 64, client_id="acme",
                                 client_name="Acme B.V.", number="2026-B00001", year=2026, seq=1,
                                 issue_date=date(2026, 11, 15), subtotal=Decimal("37.50"),
                                 vat_rate=Decimal("21"), vat=Decimal("7.88"), total=Decimal("45.38"),
                                 pdf_path="/data/invoices_batch/acme/2026-B00001.pdf")
    notification = Notification(id=1, kind="failure_digest", key="2026-11-16T07:00:00+00:00",
                                recipient="ops@acme.test", covered_until=T0)
    collection = m.CollectionBatch(id=1, message_id="EXP-DD-00000001", collection_date=date(2026, 11, 30),
                                   item_count=1, total=Decimal("1493.82"), path="/data/collections/x.xml",
                                   created_by="alice")
    collected = m.CollectionItem(id=1, batch_id=1, invoice_id=1, open_invoice_id=1, customer_id=1,
                                 mandate_id="ACME-M1", sequence_type="FRST", amount=Decimal("1493.82"),
                                 end_to_end_id="EXP-0000000000000001")
    price = m.RatePlanPrice(id=1, rate_plan_id=1, valid_from=date(2026, 11, 1),
                            price_per_minute=Decimal("0.1200"), voice_first_s=60, voice_increment_s=1)
    band = m.RatePlanBand(id=1, rate_plan_id=1, name="peak", days="mon,tue,wed,thu,fri",
                          start="08:00", end="19:00", price_per_minute=Decimal("0.1500"))
    zone = m.RoamingZone(id=1, name="world1", countries="CH,US")
    roaming = m.RatePlanRoaming(id=1, rate_plan_id=1, zone="world1", data_per_mb=Decimal("0.5000"),
                                voice_first_s=30, voice_increment_s=6)
    totals_version = m.TotalsVersion(id=1, customer_id=1, cycle_start_date=date(2026, 10, 15), version=4,
                                     calculated_at=T0, cause="partner-recalculation by a-very-long-operator-name")
    paused = m.PausedCommand(command_type="KpnSp16Sync", paused_by="alice", paused_at=T0)
    return [partner, customer, plan, tariff, sub, profile, task, batch, cdr, rating, quarantined, correction, total,
            charge, history, insight, status, addon_type, sub_addon, addon_log, hit, export, invoice, line, spec_line, carried,
            counter, payment, credit, ledger, mail, operator, audit, message, attempt, lease, tick, batch_invoice,
            notification, price, band, zone, roaming, paused, totals_version, collection, collected]


def column_values(obj: m.Base) -> dict[str, object]:
    return {c.key: getattr(obj, c.key) for c in inspect(obj).mapper.column_attrs}


def test_every_model_round_trips_exactly(db: Database) -> None:
    objects = build_everything()
    m.load_all()
    assert {type(o).__tablename__ for o in objects} == set(m.Base.metadata.tables)
    expected = []
    with db.transaction() as s:
        for obj in objects:
            s.add(obj)
            s.flush()
            expected.append((type(obj), inspect(obj).identity, column_values(obj)))
    with db.reader() as s:
        for cls, identity, values in expected:
            loaded = s.get_one(cls, identity)
            assert column_values(loaded) == values, cls.__name__
    with db.reader() as s:
        total = s.get_one(m.Total, 1)
        assert total.provider_cost == Decimal("99999999999999.9999")
        assert str(total.rated_amount) == "-0.0001"
        cdr = s.get_one(m.Cdr, 1)
        assert cdr.call_date == T0 and cdr.call_date.tzinfo is not None


def test_local_times_are_stored_as_the_same_instant(db: Database) -> None:
    amsterdam = timezone(timedelta(hours=2))
    local = datetime(2026, 10, 25, 2, 30, 15, 123456, tzinfo=amsterdam)
    with db.transaction() as s:
        s.add(m.Operator(id=2, username="bob", created_at=local))
    with db.reader() as s:
        assert s.get_one(m.Operator, 2).created_at == local


def test_cdr_dedup_key_is_enforced(db: Database) -> None:
    with db.transaction() as s:
        for obj in build_everything()[:9]:
            s.add(obj)
            s.flush()
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(m.Cdr(provider="kpn_sp16", provider_ref="R1", customer_id=1, subscription_id=1,
                    number="+31612345678", call_date=T0, cycle_start_date=date(2026, 10, 15),
                    call_type="sms"))


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"), db.transaction() as s:
        s.add(m.Operator(username="carol", created_at=datetime(2026, 1, 1)))
        s.flush()


def test_schema_is_at_head_and_upgrade_is_idempotent(db: Database) -> None:
    assert current_revision(db) == head_revision(db)
    assert ensure_schema(db) is False
    with db.reader() as s:
        assert s.execute(select(m.Customer)).all() == []
