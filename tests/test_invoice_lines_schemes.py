"""Invoice lines for what the rating engine bills (issues 13.1 and 17.5): time bands, minimum
charges, set-up fees, a price changed in the cycle, increment schemes and roaming zones.

Each line still reads quantity x unit price = amount; every expected figure is worked out by
hand in a comment.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.billing.charges import explain_rating
from core.billing.lines import InvoiceLine, build_invoice_lines
from core.rating.engine import RatableCdr, rate_subscription_cycle
from core.rating.history import PriceChange, PriceHistory
from core.rating.plan import CallType, DestinationTariff, Increment, RatePlan, TimeBand
from core.rating.roaming import RoamingPrice

D = Decimal
CENT = D("0.01")
VOICE, VOICE_IN, SMS, DATA = CallType.VOICE, CallType.VOICE_IN, CallType.SMS, CallType.DATA
MONDAY = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)  # a Monday; times are local in UTC here
WORLD1 = RoamingPrice("world1", frozenset({"CH", "US"}), voice_out_per_min=D("1.00"),
                      voice_in_per_min=D("0.50"), sms_per_message=D("0.30"), data_per_mb=D("0.50"),
                      voice_first_s=60, voice_increment_s=1)


def call(n: int, call_type: CallType, *, at: datetime = MONDAY, seconds: int = 0, kb: int = 0,
         to: str = "+31201234567", country: str | None = None) -> RatableCdr:
    return RatableCdr(n, at, f"R{n:05d}", call_type, "" if call_type is DATA else to, seconds, kb, D("0"),
                      roaming=country is not None, visited_country=country or "")


def lines_for(plan: RatePlan, cdrs: list[RatableCdr], history: PriceHistory | None = None,
              language: str = "nl") -> list[InvoiceLine]:
    rating = rate_subscription_cycle(plan, cdrs, history=history)
    charges = explain_rating(1, plan, cdrs, rating.rated)
    return build_invoice_lines([], [], [], language=language, charges=charges)


def checks(lines: list[InvoiceLine]) -> bool:
    return all(line.amount == (line.quantity * line.unit_price).quantize(CENT, ROUND_HALF_UP) for line in lines)


def test_peak_and_off_peak_calls_across_the_19_00_boundary() -> None:
    plan = RatePlan(name="Banded", monthly_fee=D("0"), price_per_minute=D("0.10"),
                    bands=(TimeBand.written("peak", "mon,tue,wed,thu,fri", "08:00", "19:00", D("0.20")),))
    lines = lines_for(plan, [
        call(1, VOICE, at=MONDAY.replace(hour=18, minute=59), seconds=120),  # starts in peak: 2 x 0.20
        call(2, VOICE, at=MONDAY.replace(hour=19, minute=0), seconds=120),  # starts after: 2 x 0.10
    ])
    assert lines == [
        InvoiceLine("Bellen buiten bundel", D("2.00"), "min", D("0.10"), D("0.20")),
        InvoiceLine("Bellen buiten bundel, tijdvak peak", D("2.00"), "min", D("0.20"), D("0.40")),
    ]


def test_a_call_below_the_minimum_charge_is_its_own_line() -> None:
    plan = RatePlan(name="Per seconde", monthly_fee=D("0"), price_per_minute=D("0.60"), voice_increment_s=1,
                    minimum_charge=D("0.05"))
    lines = lines_for(plan, [call(1, VOICE, seconds=3),  # 0.60 x 3 / 60 = 0.03 < 0.05: billed 0.05
                             call(2, VOICE, seconds=10, at=MONDAY + timedelta(minutes=1))])  # 0.10
    # call 2: 10 s = 0.1666 min -> 0.16 min x 0.60 = 0.096 -> 0.10; call 1: 1 x 0.05.
    # rated 0.0500 + 0.1000 = 0.15 = 0.10 + 0.05: no remainder.
    assert lines == [
        InvoiceLine("Bellen buiten bundel", D("0.16"), "min", D("0.60"), D("0.10")),
        InvoiceLine("Minimumtarief per gesprek: Bellen buiten bundel", D(1), "st.", D("0.05"), D("0.05")),
    ]


def test_a_60_1_scheme_with_set_up_fees_shows_the_scheme() -> None:
    plan = RatePlan(name="60/1", monthly_fee=D("0"), price_per_minute=D("0.10"), voice_first_s=60,
                    voice_increment_s=1, setup_fee=D("0.05"))
    lines = lines_for(plan, [call(1, VOICE, seconds=61),  # billed 61 s: 0.10 x 61 / 60 = 0.1017 + 0.05
                             call(2, VOICE, seconds=30, at=MONDAY + timedelta(minutes=5))])  # 60 s: 0.10 + 0.05
    # 121 s = 2.0166 min -> 2.01 x 0.10 = 0.201 -> 0.20; set-ups 2 x 0.05 = 0.10;
    # rated 0.1517 + 0.1500 = 0.3017 -> 0.30 = 0.20 + 0.10: no remainder.
    assert lines == [
        InvoiceLine("Bellen buiten bundel (60/1)", D("2.01"), "min", D("0.10"), D("0.20")),
        InvoiceLine("Opstartkosten gesprekken", D(2), "st.", D("0.05"), D("0.10")),
    ]
    assert [line.description for line in lines_for(plan, [call(1, VOICE, seconds=61)], language="en")][0] == \
        "Calls beyond bundle (60/1)"


def test_a_price_changed_in_the_cycle_gives_a_line_per_price_with_its_days() -> None:
    plan = RatePlan(name="Change", monthly_fee=D("0"), price_per_minute=D("0.10"))
    history = PriceHistory.build(plan, [PriceChange(date(2026, 10, 15), {"price_per_minute": D("0.12")})])
    lines = lines_for(plan, [
        call(1, VOICE, at=datetime(2026, 10, 10, 9, tzinfo=UTC), seconds=120),  # old price: 2 x 0.10
        call(2, VOICE, at=datetime(2026, 10, 12, 9, tzinfo=UTC), seconds=60),  # old price: 1 x 0.10
        call(3, VOICE, at=datetime(2026, 10, 20, 9, tzinfo=UTC), seconds=180),  # new price: 3 x 0.12
    ], history)
    assert lines == [
        InvoiceLine("Bellen buiten bundel (10 okt - 12 okt)", D("3.00"), "min", D("0.10"), D("0.30")),
        InvoiceLine("Bellen buiten bundel (20 okt)", D("3.00"), "min", D("0.12"), D("0.36")),
    ]


def test_roaming_by_zone_with_the_zone_scheme_and_eu_roaming_from_the_bundle() -> None:
    plan = RatePlan(name="Roaming", monthly_fee=D("0"), data_bundle_mb=50, price_per_mb=D("0.05"),
                    price_per_minute=D("0.10"), roaming=(WORLD1,))
    at = MONDAY
    lines = lines_for(plan, [
        call(1, DATA, at=at, kb=100 * 1024, country="DE"),  # EU: 50 MB from the bundle, 50 x 0.05 = 2.50
        call(2, DATA, at=at + timedelta(hours=1), kb=200 * 1024, country="CH"),  # world1: 200 x 0.50 = 100.00
        call(3, VOICE, at=at + timedelta(hours=2), seconds=90, country="US"),  # 60/1: 90 s = 1.5 x 1.00
        call(4, VOICE_IN, at=at + timedelta(hours=3), seconds=30, country="US"),  # 60 s: 1 x 0.50
        call(5, VOICE_IN, at=at + timedelta(hours=4), seconds=300),  # at home: free, no line
    ])
    assert lines == [
        InvoiceLine("Bellen in zone world1 (60/1)", D("1.50"), "min", D("1.00"), D("1.50")),
        InvoiceLine("Data binnen bundel", D("50.00"), "MB", D("0.0000"), D("0.00")),
        InvoiceLine("Data buiten bundel in de EU (roaming)", D("50.00"), "MB", D("0.05"), D("2.50")),
        InvoiceLine("Data in zone world1", D("200.00"), "MB", D("0.50"), D("100.00")),
        InvoiceLine("Inkomend bellen in zone world1 (60/1)", D("1.00"), "min", D("0.50"), D("0.50")),
    ]


def test_roaming_without_a_known_country_says_so() -> None:
    plan = RatePlan(name="Roaming", monthly_fee=D("0"), roaming=(WORLD1,))
    # no country: the most expensive zone (world1, the only one): 10 MB x 0.50 = 5.00
    assert lines_for(plan, [call(1, DATA, kb=10 * 1024, country="")], language="en") == [
        InvoiceLine("Data abroad, country unknown", D("10.00"), "MB", D("0.50"), D("5.00"))]


def test_eu_data_beyond_fair_use_is_a_surcharge_line() -> None:
    plan = RatePlan(name="Fair use", monthly_fee=D("0"), data_bundle_mb=10240, eu_fair_use_gb=D("1"),
                    eu_surcharge_per_mb=D("0.0025"))
    # 1.5 GB in France, all from the 10 GB bundle; 512 MB beyond the 1 GB fair use x 0.0025 = 1.28
    assert lines_for(plan, [call(1, DATA, kb=1536 * 1024, country="FR")]) == [
        InvoiceLine("Data binnen bundel", D("1536.00"), "MB", D("0.0000"), D("0.00")),
        InvoiceLine("Data in de EU boven redelijk gebruik", D("512.00"), "MB", D("0.0025"), D("1.28")),
    ]


# -- property: whatever the schemes, lines add up to the rated totals and each line checks -------

prices = st.decimals(min_value=D("0"), max_value=D("2"), places=4)
countries = st.sampled_from([None, "DE", "FR", "CH", "US", "JP", ""])


@st.composite
def plans(draw: st.DrawFn) -> tuple[RatePlan, PriceHistory]:
    tariffs = [DestinationTariff(prefix, draw(st.sampled_from([VOICE, SMS, DATA])), draw(prices), draw(prices),
                                 draw(st.none() | st.sampled_from([Increment(60, 1), Increment(30, 6)])),
                                 draw(prices))
               for prefix in draw(st.sets(st.sampled_from(["+44", "+4420", "+32"]), max_size=2))]
    bands = (TimeBand.written("peak", "mon,tue,wed,thu,fri", "08:00", "19:00", draw(prices), draw(prices)),) \
        if draw(st.booleans()) else ()
    roaming = (RoamingPrice("world1", frozenset({"CH", "US"}), draw(prices), draw(prices), draw(prices),
                            draw(prices), draw(st.sampled_from([1, 30, 60])), draw(st.sampled_from([1, 6, 60]))),) \
        if draw(st.booleans()) else ()
    step = draw(st.sampled_from([1, 6, 60]))
    plan = RatePlan(
        name="random", monthly_fee=D("0"), voice_bundle_minutes=draw(st.integers(0, 20)),
        sms_bundle=draw(st.integers(0, 5)), data_bundle_mb=draw(st.integers(0, 5)),
        price_per_minute=draw(prices), price_per_sms=draw(prices), price_per_mb=draw(prices),
        voice_increment_s=step, voice_first_s=draw(st.sampled_from([None, 30, 60])), setup_fee=draw(prices),
        minimum_charge=draw(prices), destination_tariffs=tuple(tariffs), bands=bands, roaming=roaming,
        eu_fair_use_gb=draw(st.none() | st.just(D("0.001"))), eu_surcharge_per_mb=draw(prices))
    changes = [PriceChange(date(2026, 10, 15), {"price_per_minute": draw(prices), "price_per_mb": draw(prices),
                                                "minimum_charge": draw(prices)})] if draw(st.booleans()) else []
    return plan, PriceHistory.build(plan, changes)


@st.composite
def usages(draw: st.DrawFn) -> list[RatableCdr]:
    cdrs = []
    for n in range(draw(st.integers(0, 30))):
        call_type = draw(st.sampled_from(list(CallType)))
        at = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 30 * 24 * 60)))
        cdrs.append(call(n, call_type, at=at, to=draw(st.sampled_from(["+31201234567", "+447700900123",
                                                                       "+442079460000", "+3225550000"])),
                         seconds=draw(st.integers(0, 400)) if call_type in (VOICE, VOICE_IN) else 0,
                         kb=draw(st.integers(0, 3000)) if call_type is DATA else 0, country=draw(countries)))
    return cdrs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # slow draws under load
@given(plans(), usages(), st.sampled_from(["nl", "en"]), st.booleans())
def test_lines_add_up_to_the_rated_totals_for_every_scheme(plan_and_history: tuple[RatePlan, PriceHistory],
                                                           cdrs: list[RatableCdr], language: str,
                                                           engine_prices: bool) -> None:
    plan, history = plan_and_history
    rating = rate_subscription_cycle(plan, cdrs, history=history)
    # a result without its price (an engine that does not attach it) is explained all the same
    rated = rating.rated if engine_prices else [replace(r, price=None) for r in rating.rated]
    charges = explain_rating(1, plan, cdrs, rated)
    for call_type, totals in rating.totals.items():
        own = [c for c in charges if c.call_type == call_type.value]
        assert sum((c.rated_amount for c in own), D(0)) == totals.rated_amount
        lines = build_invoice_lines([], [], [], language=language, charges=own)
        assert checks(lines)
        assert sum((line.amount for line in lines), D(0)) == totals.rated_amount.quantize(CENT, ROUND_HALF_UP)
