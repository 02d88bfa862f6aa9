"""Invoice lines a customer can check: quantity x unit price = amount, bundle shown, tariffs apart.

Every expected figure is worked out by hand in a comment.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from core.billing.charges import UsageCharge, explain_rating
from core.billing.invoices import preview_invoice
from core.billing.lines import FeeTotal, InvoiceLine, VatRule, build_invoice_lines, compute_amounts
from core.bus import Bus, default_registry, run_until_idle
from core.db import Database
from core.rating.engine import RatableCdr, rate_subscription_cycle
from core.rating.plan import CallType, DestinationTariff, RatePlan
from core.workflows import load_all
from core.workflows.totals import dispatch_totals
from tests.factories import make_setup

load_all()

D = Decimal
T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
VOICE, SMS, DATA = CallType.VOICE, CallType.SMS, CallType.DATA
CENT = D("0.01")

BUSINESS_100 = RatePlan(
    name="Business Mobile 100", monthly_fee=D("15.00"), voice_bundle_minutes=100, sms_bundle=10,
    data_bundle_mb=1024, price_per_minute=D("0.10"), price_per_sms=D("0.05"), price_per_mb=D("0.05"),
    destination_tariffs=(DestinationTariff("+44", VOICE, D("0.25")),
                         DestinationTariff("+4420", VOICE, D("0.30"))))


def cdr(n: int, call_type: CallType, *, seconds: int = 0, kb: int = 0, to: str = "+31201234567") -> RatableCdr:
    return RatableCdr(n, T0 + timedelta(minutes=n), f"R{n:05d}", call_type,
                      "" if call_type is DATA else to, seconds, kb, D("0"))


def lines_for(plan: RatePlan, cdrs: list[RatableCdr], language: str = "nl") -> list[InvoiceLine]:
    rating = rate_subscription_cycle(plan, cdrs)
    charges = explain_rating(1, plan, cdrs, rating.rated)
    return build_invoice_lines([FeeTotal("+31600000001", plan.name, rating.monthly_fee)], [], [],
                               language=language, charges=charges)


def business_month() -> list[RatableCdr]:
    return [
        cdr(1, VOICE, seconds=3000),  # 50 min, in the bundle
        cdr(2, VOICE, seconds=2990),  # billed 3000 s = 50 min: the bundle's last 50 min
        cdr(3, VOICE, seconds=532),  # billed 540 s = 9 min, all beyond the bundle
        cdr(4, VOICE, seconds=61, to="+447700900123"),  # billed 2 min at the +44 tariff
        cdr(5, VOICE, seconds=45, to="+442079460000"),  # billed 1 min at the +4420 tariff
        *(cdr(10 + i, SMS) for i in range(14)),  # 10 in the bundle, 4 beyond
        cdr(30, DATA, kb=1024 * 1024),  # 1 GB: exactly the bundle
        cdr(31, DATA, kb=256 * 1024),  # 256 MB beyond
    ]


def test_the_business_mobile_100_invoice_by_hand() -> None:
    lines = lines_for(BUSINESS_100, business_month())
    assert lines == [
        InvoiceLine("Abonnement Business Mobile 100", D(1), "st.", D("15.0000"), D("15.00")),
        # 50 + 50 min inside the bundle: information, 0.00
        InvoiceLine("Bellen binnen bundel", D("100.00"), "min", D("0.0000"), D("0.00")),
        InvoiceLine("Bellen buiten bundel", D("9.00"), "min", D("0.10"), D("0.90")),  # 9 x 0.10
        InvoiceLine("Bellen naar +44 (Verenigd Koninkrijk)", D("2.00"), "min", D("0.25"), D("0.50")),
        InvoiceLine("Bellen naar +4420 (Verenigd Koninkrijk)", D("1.00"), "min", D("0.30"), D("0.30")),
        InvoiceLine("Sms binnen bundel", D("10.00"), "st.", D("0.0000"), D("0.00")),
        InvoiceLine("Sms buiten bundel", D("4.00"), "st.", D("0.05"), D("0.20")),  # 4 x 0.05
        InvoiceLine("Data binnen bundel", D("1024.00"), "MB", D("0.0000"), D("0.00")),
        InvoiceLine("Data buiten bundel", D("256.00"), "MB", D("0.05"), D("12.80")),  # 256 x 0.05
    ]
    amounts = compute_amounts(lines, VatRule())
    # 15.00 + 0.90 + 0.50 + 0.30 + 0.20 + 12.80 = 29.70; VAT 21 % = 6.237 -> 6.24; 35.94
    assert (amounts.subtotal, amounts.vat, amounts.total) == (D("29.70"), D("6.24"), D("35.94"))


def test_destination_names_follow_the_language() -> None:
    descriptions = [line.description for line in lines_for(BUSINESS_100, business_month(), "en")]
    assert "Calls to +44 (United Kingdom)" in descriptions
    assert "Calls beyond bundle" in descriptions and "Calls within bundle" in descriptions


def test_a_per_second_plan_with_set_up_fees() -> None:
    plan = RatePlan(name="Per seconde", monthly_fee=D("10.00"), voice_bundle_minutes=1,
                    price_per_minute=D("0.90"), voice_increment_s=1, setup_fee=D("0.05"))
    lines = lines_for(plan, [cdr(1, VOICE, seconds=30), cdr(2, VOICE, seconds=149)])
    # call 1: 30 s in the bundle, free. call 2: 30 s in the bundle, 119 s beyond:
    # 0.90 x 119 / 60 = 1.785 + 0.05 set-up = 1.8350 rated.
    # shown: 119 s = 1.9833 min -> 1.98 min x 0.90 = 1.782 -> 1.78; set-up 1 x 0.05 = 0.05;
    # 1.8350 rounds to 1.84; the rest 1.84 - 1.78 - 0.05 = 0.01 is its own line.
    assert lines == [
        InvoiceLine("Abonnement Per seconde", D(1), "st.", D("10.0000"), D("10.00")),
        InvoiceLine("Bellen binnen bundel", D("1.00"), "min", D("0.0000"), D("0.00")),
        InvoiceLine("Bellen buiten bundel", D("1.98"), "min", D("0.90"), D("1.78")),
        InvoiceLine("Opstartkosten gesprekken", D(1), "st.", D("0.05"), D("0.05")),
        InvoiceLine("Bellen: restant seconden en afronding per gesprek", D(1), "", D("0.01"), D("0.01")),
    ]
    amounts = compute_amounts(lines, VatRule())
    # 10.00 + 1.78 + 0.05 + 0.01 = 11.84; VAT 21 % = 2.4864 -> 2.49; 14.33
    assert (amounts.subtotal, amounts.vat, amounts.total) == (D("11.84"), D("2.49"), D("14.33"))


def test_each_line_says_quantity_times_price() -> None:
    for line in lines_for(BUSINESS_100, business_month()):
        assert line.amount == (line.quantity * line.unit_price).quantize(CENT, ROUND_HALF_UP)


# -- property: for any usage, lines add up to the rated totals and each line checks -----------

prices = st.decimals(min_value=D("0"), max_value=D("2"), places=4)


@st.composite
def plans(draw: st.DrawFn) -> RatePlan:
    tariffs = []
    for prefix in draw(st.sets(st.sampled_from(["+44", "+4420", "+32", "+3190"]), max_size=3)):
        call_type = draw(st.sampled_from(list(CallType)))
        tariffs.append(DestinationTariff(prefix, call_type, draw(prices), draw(prices)))
    return RatePlan(
        name="random", monthly_fee=draw(prices), voice_bundle_minutes=draw(st.integers(0, 20)),
        sms_bundle=draw(st.integers(0, 5)), data_bundle_mb=draw(st.integers(0, 5)),
        price_per_minute=draw(prices), price_per_sms=draw(prices), price_per_mb=draw(prices),
        voice_increment_s=draw(st.sampled_from([1, 30, 60])), setup_fee=draw(prices),
        destination_tariffs=tuple(tariffs))


@st.composite
def usages(draw: st.DrawFn) -> list[RatableCdr]:
    cdrs = []
    for n in range(draw(st.integers(0, 40))):
        call_type = draw(st.sampled_from(list(CallType)))
        to = draw(st.sampled_from(["+31201234567", "+447700900123", "+442079460000", "+3225550000",
                                   "+31900123456"]))
        cdrs.append(cdr(n, call_type, to=to, seconds=draw(st.integers(0, 4000)) if call_type is VOICE else 0,
                        kb=draw(st.integers(0, 9000)) if call_type is DATA else 0))
    return cdrs


@settings(max_examples=150, deadline=None)
@given(plans(), usages(), st.sampled_from(["nl", "en"]))
def test_lines_add_up_to_the_rated_totals_and_each_line_checks(plan: RatePlan, cdrs: list[RatableCdr],
                                                               language: str) -> None:
    rating = rate_subscription_cycle(plan, cdrs)
    charges = explain_rating(1, plan, cdrs, rating.rated)
    for call_type, totals in rating.totals.items():
        own: list[UsageCharge] = [c for c in charges if c.call_type == call_type.value]
        assert sum((c.rated_amount for c in own), D(0)) == totals.rated_amount
        lines = build_invoice_lines([], [], [], language=language, charges=own)
        for line in lines:
            assert line.amount == (line.quantity * line.unit_price).quantize(CENT, ROUND_HALF_UP)
        assert sum((line.amount for line in lines), D(0)) == totals.rated_amount.quantize(CENT, ROUND_HALF_UP)


# -- from the database: rating stores the charges, the preview builds the lines ---------------

def test_totals_carry_the_charges_the_invoice_lines_need(db: Database, tmp_path: Path) -> None:
    from tests.test_totals import OCT, OCTOBER, import_rows

    ids = make_setup(db, starts=(date(2025, 1, 1), date(2026, 10, 17)))
    import_rows(db, tmp_path, OCTOBER)
    bus = Bus(db, default_registry)
    dispatch_totals(bus, ids["customer"], OCT)
    run_until_idle(bus)
    preview = preview_invoice(db, ids["customer"], OCT)
    # the plan "Business 10": 10 min, 2 SMS, 1 MB; 0.20/min, 0.10/SMS, 0.50/MB, +44 1.00 + 0.25 set-up
    assert [(line.description, line.quantity, line.unit_price, line.amount)
            for line in preview.amounts.lines] == [
        # fees: A full cycle 10.00; B from 17 Oct, 10.00 x 15 / 31 = 4.8387 (prorated, its own price)
        ("Abonnement Business 10", D(1), D("4.8387"), D("4.84")),
        ("Abonnement Business 10", D(1), D("10.0000"), D("10.00")),
        # r1 300 s + 300 s of r2 (billed 420 s) in the bundle; r2's other 120 s = 2 min x 0.20
        ("Bellen binnen bundel", D("10.00"), D("0"), D("0.00")),
        ("Bellen buiten bundel", D("2.00"), D("0.20"), D("0.40")),
        # r3 to +44: 61 s billed 120 s = 2 min x 1.00, and its set-up 1 x 0.25
        ("Bellen naar +44 (Verenigd Koninkrijk)", D("2.00"), D("1.00"), D("2.00")),
        ("Opstartkosten +44", D(1), D("0.25"), D("0.25")),
        ("Sms binnen bundel", D("2.00"), D("0"), D("0.00")),
        ("Sms buiten bundel", D("1.00"), D("0.10"), D("0.10")),
        # 2048 KB: 1024 in the bundle, 1024 KB = 1 MB x 0.50
        ("Data binnen bundel", D("1.00"), D("0"), D("0.00")),
        ("Data buiten bundel", D("1.00"), D("0.50"), D("0.50")),
    ]
    # 4.84 + 10.00 + 0.40 + 2.00 + 0.25 + 0.10 + 0.50 = 18.09
    assert preview.amounts.subtotal == D("18.09")
