"""Issue 17: increment schemes a/b and minimum charges, worked by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.rating import CallType, DestinationTariff, RatableCdr, RatePlan, rate_subscription_cycle
from core.rating.plan import Increment

AMS = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 10, 15, 9, 0, tzinfo=AMS)
D = Decimal
VOICE, SMS, DATA = CallType.VOICE, CallType.SMS, CallType.DATA


def call(cdr_id: int, seconds: int, to: str = "+31612345678") -> RatableCdr:
    return RatableCdr(cdr_id, T0 + timedelta(minutes=cdr_id), f"R{cdr_id}", VOICE, to, seconds, 0, D("0"))


def scheme(text: str, **fields: object) -> RatePlan:
    increment = Increment.parse(text)
    values: dict[str, object] = {"name": "p", "monthly_fee": D("0"), "price_per_minute": D("0.10"),
                                 "voice_first_s": increment.first_s,
                                 "voice_increment_s": increment.step_s}
    values.update(fields)
    return RatePlan(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "billed", "amount"), [
    ("60/1", 61, "0.1017"),   # 0.10 × 61/60 = 0.101666… → 0.1017
    ("30/6", 66, "0.1100"),   # 30 + ⌈31/6⌉×6 = 66 s; 0.10 × 66/60 = 0.1100
    ("60/60", 120, "0.2000"),  # two whole minutes × 0.10
    ("1/1", 61, "0.1017"),
])
def test_a_61_second_call_under_each_scheme(text: str, billed: int, amount: str) -> None:
    rated = rate_subscription_cycle(scheme(text), [call(1, 61)]).rated
    assert (rated[0].billed_s, rated[0].rated_amount) == (billed, D(amount))


def test_the_first_block_is_billed_in_full() -> None:
    # 60/1: 5 s is billed 60 s = 0.1000; 0 s (unanswered) is 0 s and free.
    rated = rate_subscription_cycle(scheme("60/1"), [call(1, 5), call(2, 0)]).rated
    assert [(r.billed_s, r.rated_amount) for r in rated] == [(60, D("0.1000")), (0, D("0"))]


def test_a_short_call_costs_the_minimum_charge() -> None:
    # 1/1: 5 s × 0.10/60 = 0.008333… is below the 0.05 minimum: 0.0500.
    # A 60 s call costs 0.10, above the minimum: 0.1000.
    plan = scheme("1/1", minimum_charge=D("0.05"))
    rated = rate_subscription_cycle(plan, [call(1, 5), call(2, 60)]).rated
    assert [r.rated_amount for r in rated] == [D("0.0500"), D("0.1000")]


def test_the_minimum_charge_counts_the_set_up_fee_and_spares_bundled_calls() -> None:
    # Bundle 1 min = 60 s. Call 1 (30 s) is inside: 0. Call 2 (40 s) crosses the end: 30 s
    # inside, 10 s charged: 0.10 × 10/60 = 0.016666… + 0.02 set-up = 0.036666… < 0.05 → 0.0500.
    # Call 3 (600 s), all outside: 1.00 + 0.02 = 1.0200.
    plan = scheme("1/1", voice_bundle_minutes=1, setup_fee=D("0.02"), minimum_charge=D("0.05"))
    rated = rate_subscription_cycle(plan, [call(1, 30), call(2, 40), call(3, 600)]).rated
    assert [(r.bundle_used, r.rated_amount) for r in rated] == [
        (30, D("0")), (30, D("0.0500")), (0, D("1.0200"))]


def test_bundles_are_consumed_in_billed_seconds() -> None:
    # 30/6, bundle 1 min: call 1 of 31 s bills 36 s (all inside, 24 s left); call 2 of
    # 31 s bills 36 s: 24 s inside, 12 s at 0.10/60 = 0.0200.
    plan = scheme("30/6", voice_bundle_minutes=1)
    rated = rate_subscription_cycle(plan, [call(1, 31), call(2, 31)]).rated
    assert [(r.billed_s, r.bundle_used, r.rated_amount) for r in rated] == [
        (36, 36, D("0")), (36, 24, D("0.0200"))]


def test_a_destination_tariff_has_its_own_scheme_and_minimum() -> None:
    # +44 at 0.30/min on 60/60 with a 0.50 minimum, plan 1/1 at 0.10:
    # 61 s to +44 bills 120 s = 0.60 (above the minimum); 10 s to +44 bills 60 s = 0.30 → 0.50;
    # 61 s national is per second: 0.1017.
    uk = DestinationTariff("+44", VOICE, D("0.30"), voice_increment=Increment(60, 60),
                           minimum_charge=D("0.50"))
    plan = scheme("1/1", destination_tariffs=(uk,))
    rated = rate_subscription_cycle(plan, [call(1, 61, "+442079460000"), call(2, 10, "+442079460000"),
                                           call(3, 61)]).rated
    assert [(r.billed_s, r.rated_amount) for r in rated] == [
        (120, D("0.6000")), (60, D("0.5000")), (61, D("0.1017"))]


@pytest.mark.parametrize("text", ["60", "60/0", "0/1", "a/b", "60/1/1", ""])
def test_malformed_schemes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="increment|at least"):
        Increment.parse(text)


def test_a_plain_increment_means_n_over_n() -> None:
    plan = RatePlan(name="p", monthly_fee=D("0"), voice_increment_s=30)
    assert str(plan.voice_increment) == "30/30"


# -- prices with history (issue 13.7) ---------------------------------------------------


def test_price_changes_carry_over_what_they_do_not_set() -> None:
    from datetime import date

    from core.rating import PriceChange, PriceHistory

    base = scheme("60/60", voice_bundle_minutes=5,
                  destination_tariffs=(DestinationTariff("+44", VOICE, D("0.30")),))
    history = PriceHistory.build(base, [
        PriceChange(date(2026, 12, 1), {"minimum_charge": D("0.05")}),
        PriceChange(date(2026, 11, 1), {"price_per_minute": D("0.20")}),
    ], [(date(2026, 11, 15), DestinationTariff("+44", VOICE, D("0.50")))])
    assert history.in_force(date(2026, 10, 31)) == base
    nov = history.in_force(date(2026, 11, 1))
    assert (nov.price_per_minute, nov.voice_bundle_minutes, nov.destination_tariffs[0].price) == (
        D("0.20"), 5, D("0.30"))
    assert history.in_force(date(2026, 11, 15)).destination_tariffs[0].price == D("0.50")
    dec = history.in_force(date(2027, 1, 1))
    assert (dec.price_per_minute, dec.minimum_charge, dec.destination_tariffs[0].price) == (
        D("0.20"), D("0.05"), D("0.50"))
    # A 30 s call on 31 October and one on 1 November (Amsterdam dates), 60/60, outside
    # the bundle (bundle 0 in the cycle's version): 0.10 and 0.20.
    cycle_plan = scheme("60/60")
    october = RatableCdr(1, datetime(2026, 10, 31, 23, 30, tzinfo=AMS), "a", VOICE, "+31201234567", 30, 0, D(0))
    november = RatableCdr(2, datetime(2026, 11, 1, 0, 30, tzinfo=AMS), "b", VOICE, "+31201234567", 30, 0, D(0))
    rated = rate_subscription_cycle(cycle_plan, [october, november], history=history, zone=AMS).rated
    assert [r.rated_amount for r in rated] == [D("0.1000"), D("0.2000")]


# -- time bands -------------------------------------------------------------------------


def test_a_peak_and_an_off_peak_call_across_19_00() -> None:
    from datetime import UTC

    from core.rating.plan import TimeBand

    # Off-peak (the plan) 0.10/min and 0.05/SMS; peak Mon–Fri 08:00–19:00 0.30/min, 0.15/SMS.
    peak = TimeBand.written("peak", "mon,tue,wed,thu,fri", "08:00", "19:00", D("0.30"), D("0.15"))
    plan = scheme("60/60", price_per_sms=D("0.05"), bands=(peak,))

    def at(cdr_id: int, utc: datetime, kind: CallType = VOICE, seconds: int = 0) -> RatableCdr:
        return RatableCdr(cdr_id, utc, f"R{cdr_id}", kind, "+31201234567", seconds, 0, D(0))

    cdrs = [
        # Monday 2 November, Amsterdam is UTC+1: 17:59:30 UTC is 18:59:30 local, peak.
        # 120 s crosses 19:00 but is priced by its start: 2 min × 0.30 = 0.60.
        at(1, datetime(2026, 11, 2, 17, 59, 30, tzinfo=UTC), seconds=120),
        # 18:00 UTC is 19:00 local: off-peak, 1 min × 0.10 = 0.10.
        at(2, datetime(2026, 11, 2, 18, 0, tzinfo=UTC), seconds=60),
        # SMS at 18:30 local: peak 0.15; at 19:30 local: 0.05.
        at(3, datetime(2026, 11, 2, 17, 30, tzinfo=UTC), SMS),
        at(4, datetime(2026, 11, 2, 18, 30, tzinfo=UTC), SMS),
        # Saturday 7 November 10:00 local: off-peak, 0.10.
        at(5, datetime(2026, 11, 7, 9, 0, tzinfo=UTC), seconds=60),
    ]
    rated = rate_subscription_cycle(plan, cdrs, zone=AMS).rated
    assert {r.cdr_id: r.rated_amount for r in rated} == {
        1: D("0.6000"), 2: D("0.1000"), 3: D("0.1500"), 4: D("0.0500"), 5: D("0.1000")}
    # The customer's time zone decides: for a customer in London (UTC+0 in November) the
    # same instant, 18:00 UTC, is 18:00 local: peak, 1 min × 0.30.
    london = rate_subscription_cycle(plan, cdrs, zone=ZoneInfo("Europe/London")).rated
    assert {r.cdr_id: r.rated_amount for r in london}[2] == D("0.3000")


def test_bands_spare_the_bundle_and_do_not_overlap() -> None:
    from datetime import UTC

    from core.rating.plan import TimeBand

    # Bundle 1 min; a 2 min peak call: 60 s free, 60 s × 0.30 = 0.30.
    peak = TimeBand.written("peak", "mon", "08:00", "19:00", D("0.30"))
    plan = scheme("60/60", voice_bundle_minutes=1, bands=(peak,))
    monday_noon = RatableCdr(1, datetime(2026, 11, 2, 11, 0, tzinfo=UTC), "a", VOICE, "+31201234567",
                             120, 0, D(0))
    rated = rate_subscription_cycle(plan, [monday_noon], zone=AMS).rated[0]
    assert (rated.bundle_used, rated.rated_amount) == (60, D("0.3000"))
    with pytest.raises(ValueError, match="overlap"):
        scheme("60/60", bands=(peak, TimeBand.written("lunch", "mon,tue", "12:00", "13:00")))
