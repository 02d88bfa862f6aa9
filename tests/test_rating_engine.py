"""Rating engine, worked examples. Every expected amount is computed by hand in a comment."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, localcontext
from zoneinfo import ZoneInfo

import pytest

from core.rating import (
    CallType,
    CallTypeTotals,
    DestinationTariff,
    RatableCdr,
    RatedCdr,
    RatePlan,
    prorate_fee,
    rate_subscription_cycle,
)
from core.rating.plan import normalise_number

AMS = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2025, 10, 15, 9, 0, tzinfo=AMS)
D = Decimal
VOICE, SMS, DATA = CallType.VOICE, CallType.SMS, CallType.DATA
NATIONAL = "+31612345678"


def cdr(
    cdr_id: int,
    call_type: CallType = VOICE,
    *,
    seconds: int = 0,
    kb: int = 0,
    to: str = NATIONAL,
    at: datetime | None = None,
    ref: str | None = None,
    cost: str = "0",
) -> RatableCdr:
    """A CDR; by default the n-th one happens n minutes after T0."""
    return RatableCdr(
        cdr_id=cdr_id,
        call_date=at if at is not None else T0 + timedelta(minutes=cdr_id),
        provider_ref=ref if ref is not None else f"REF{cdr_id:05d}",
        call_type=call_type,
        destination="" if call_type is DATA and to == NATIONAL else to,
        duration_s=seconds,
        volume_kb=kb,
        provider_cost=D(cost),
    )


def plan(**overrides: object) -> RatePlan:
    fields: dict[str, object] = {"name": "test plan", "monthly_fee": D("25.00")}
    fields.update(overrides)
    return RatePlan(**fields)  # type: ignore[arg-type]


def amounts(rating_rated: list[RatedCdr]) -> list[Decimal]:
    return [r.rated_amount for r in rating_rated]


# --- voice bundle ---------------------------------------------------------------------


def test_bundle_exactly_used_up_then_next_call_pays() -> None:
    rate_plan = plan(voice_bundle_minutes=10, price_per_minute=D("0.10"), setup_fee=D("0.05"))
    rating = rate_subscription_cycle(
        rate_plan, [cdr(1, seconds=240), cdr(2, seconds=360), cdr(3, seconds=1)]
    )
    # Bundle 10 min = 600 s. 240 s + 360 s = 600 s: both inside, no set-up fee.
    # Call 3: 1 s rounds up to 60 s, all outside: 0.10 * 60/60 + 0.05 set-up = 0.15.
    assert [(r.billed_s, r.bundle_used) for r in rating.rated] == [(240, 240), (360, 360), (60, 0)]
    assert amounts(rating.rated) == [D("0"), D("0"), D("0.1500")]
    assert rating.totals == {
        VOICE: CallTypeTotals(
            count=3,
            duration_s=601,
            volume_kb=0,
            provider_cost=D("0"),
            rated_amount=D("0.1500"),
            bundle_used=600,
        )
    }


def test_call_crossing_the_bundle_end_is_split() -> None:
    rate_plan = plan(voice_bundle_minutes=5, price_per_minute=D("0.12"), setup_fee=D("0.0450"))
    rating = rate_subscription_cycle(
        rate_plan, [cdr(1, seconds=200), cdr(2, seconds=150), cdr(3, seconds=30)]
    )
    # Bundle 300 s. Call 1: 200 s -> 240 s billed, inside (60 s of bundle left).
    # Call 2: 150 s -> 180 s billed: 60 s inside, 120 s outside:
    #         0.12 * 120/60 + 0.0450 = 0.24 + 0.045 = 0.2850.
    # Call 3: 30 s -> 60 s, all outside: 0.12 + 0.045 = 0.1650.
    assert [(r.billed_s, r.bundle_used) for r in rating.rated] == [(240, 240), (180, 60), (60, 0)]
    assert amounts(rating.rated) == [D("0"), D("0.2850"), D("0.1650")]
    # 0 + 0.2850 + 0.1650 = 0.4500; bundle 240 + 60 = 300
    assert rating.totals[VOICE].rated_amount == D("0.4500")
    assert rating.totals[VOICE].bundle_used == 300


def test_per_second_split_charges_only_the_seconds_outside() -> None:
    rate_plan = plan(voice_bundle_minutes=1, price_per_minute=D("0.09"), voice_increment_s=1)
    rating = rate_subscription_cycle(rate_plan, [cdr(1, seconds=45), cdr(2, seconds=25)])
    # Bundle 60 s. Call 1: 45 s inside. Call 2: 15 s inside, 10 s outside:
    # 0.09 * 10/60 = 0.9/60 = 0.015 -> 0.0150.
    assert [r.bundle_used for r in rating.rated] == [45, 15]
    assert amounts(rating.rated) == [D("0"), D("0.0150")]


@pytest.mark.parametrize(
    ("increment", "seconds", "billed", "amount"),
    [
        (60, 61, 120, "0.2000"),  # 2 whole minutes * 0.10
        (1, 61, 61, "0.1017"),  # 0.10 * 61/60 = 0.10166... -> 0.1017
        (1, 59, 59, "0.0983"),  # 0.10 * 59/60 = 0.09833... -> 0.0983
        (30, 61, 90, "0.1500"),  # 90 s = 1.5 min * 0.10
        (60, 60, 60, "0.1000"),  # exactly one minute
        (60, 1, 60, "0.1000"),  # 1 s still costs a whole minute
    ],
)
def test_voice_increments(increment: int, seconds: int, billed: int, amount: str) -> None:
    rate_plan = plan(price_per_minute=D("0.10"), voice_increment_s=increment)
    (rated,) = rate_subscription_cycle(rate_plan, [cdr(1, seconds=seconds)]).rated
    assert rated.billed_s == billed
    assert rated.rated_amount == D(amount)


@pytest.mark.parametrize(
    ("price_per_minute", "seconds", "amount"),
    [
        ("0.0003", 10, "0.0001"),  # 0.0003 * 10/60 = 0.00005 exactly -> half-up 0.0001
        # 0.0002 * 15/60 = 0.00005 exactly -> 0.0001; a rounded per-second price
        # (0.0002/60 = 0.0000033333...) times 15 would land just below the half.
        ("0.0002", 15, "0.0001"),
        ("0.0002", 14, "0.0000"),  # 0.0002 * 14/60 = 0.0000466... -> 0.0000
    ],
)
def test_amounts_round_half_up_exactly(price_per_minute: str, seconds: int, amount: str) -> None:
    rate_plan = plan(price_per_minute=D(price_per_minute), voice_increment_s=1)
    (rated,) = rate_subscription_cycle(rate_plan, [cdr(1, seconds=seconds)]).rated
    assert rated.rated_amount == D(amount)


def test_zero_duration_call_costs_nothing_and_uses_no_bundle() -> None:
    rate_plan = plan(voice_bundle_minutes=1, price_per_minute=D("0.10"), setup_fee=D("0.05"))
    rating = rate_subscription_cycle(
        rate_plan,
        [
            cdr(1, seconds=0),
            cdr(2, seconds=60),
            cdr(3, seconds=0),
            cdr(4, seconds=0, to="+441614960000"),
        ],
    )
    # Call 1: 0 s billed, bundle untouched. Call 2 uses the whole 60 s bundle.
    # Call 3: bundle gone, but 0 s billed is nothing outside the bundle: no set-up fee.
    # Call 4: no tariff for +44 in this plan, same as call 3.
    assert [(r.billed_s, r.bundle_used, r.rated_amount) for r in rating.rated] == [
        (0, 0, D("0")),
        (60, 60, D("0")),
        (0, 0, D("0")),
        (0, 0, D("0")),
    ]
    assert rating.totals[VOICE].count == 4


def test_setup_fee_without_bundle_on_every_billed_call() -> None:
    rate_plan = plan(price_per_minute=D("0.20"), setup_fee=D("0.10"))
    rating = rate_subscription_cycle(rate_plan, [cdr(1, seconds=10), cdr(2, seconds=125)])
    # Call 1: 60 s -> 0.20 + 0.10 = 0.30. Call 2: 180 s -> 3 * 0.20 + 0.10 = 0.70.
    assert amounts(rating.rated) == [D("0.3000"), D("0.7000")]
    assert rating.totals[VOICE].rated_amount == D("1.0000")


# --- destination tariffs ----------------------------------------------------------------

TARIFFS = (
    DestinationTariff("+3190", VOICE, D("0.80"), setup_fee=D("0.50")),
    DestinationTariff("+4420", VOICE, D("0.15")),
    DestinationTariff("+44", VOICE, D("0.25"), setup_fee=D("0.10")),
    DestinationTariff("+44", SMS, D("0.12")),
)


def test_longest_prefix_wins_outside_the_bundle_with_setup_fee() -> None:
    rate_plan = plan(
        voice_bundle_minutes=2,
        sms_bundle=1,
        price_per_minute=D("0.10"),
        price_per_sms=D("0.05"),
        setup_fee=D("0.03"),
        destination_tariffs=TARIFFS,
    )
    rating = rate_subscription_cycle(
        rate_plan,
        [
            cdr(1, seconds=90, to="+441614960000"),  # Manchester: +44
            cdr(2, seconds=90, to="+442079460000"),  # London: +4420 beats +44
            cdr(3, seconds=61, to="+3190012345"),  # premium 0900
            cdr(4, seconds=120, to=NATIONAL),  # national: the whole bundle is still there
            cdr(5, seconds=1, to=NATIONAL),  # bundle now used up
            cdr(6, SMS, to="+447700900123"),
            cdr(7, SMS, to=NATIONAL),
            cdr(8, seconds=0, to="+3190012345"),  # unanswered premium call
        ],
    )
    # 1: 90 s -> 120 s = 2 min * 0.25 + 0.10 set-up = 0.60, bundle untouched
    # 2: 120 s = 2 min * 0.15 + no set-up = 0.30
    # 3: 61 s -> 120 s = 2 min * 0.80 + 0.50 = 2.10
    # 4: 120 s, inside the 120 s bundle -> 0
    # 5: 1 s -> 60 s outside: 0.10 + plan set-up 0.03 = 0.13
    # 6: SMS +44 tariff 0.12, outside the SMS bundle
    # 7: SMS inside the 1-message bundle -> 0
    # 8: 0 s billed -> 0, no tariff set-up fee either
    assert [(r.cdr_id, r.billed_s, r.bundle_used, r.rated_amount) for r in rating.rated] == [
        (1, 120, 0, D("0.6000")),
        (2, 120, 0, D("0.3000")),
        (3, 120, 0, D("2.1000")),
        (4, 120, 120, D("0")),
        (5, 60, 0, D("0.1300")),
        (6, 0, 0, D("0.1200")),
        (7, 0, 1, D("0")),
        (8, 0, 0, D("0")),
    ]
    # voice: 0.60 + 0.30 + 2.10 + 0 + 0.13 + 0 = 3.13; sms: 0.12
    assert rating.totals[VOICE].rated_amount == D("3.1300")
    assert rating.totals[VOICE].bundle_used == 120
    assert rating.totals[SMS].rated_amount == D("0.1200")
    assert rating.totals[SMS].bundle_used == 1


def test_tariff_order_in_the_plan_does_not_matter() -> None:
    calls = [cdr(1, seconds=60, to="+442079460000")]
    forward = rate_subscription_cycle(plan(destination_tariffs=TARIFFS), calls)
    backward = rate_subscription_cycle(plan(destination_tariffs=TARIFFS[::-1]), calls)
    # +4420 (0.15/min) must win both ways: 1 min * 0.15 = 0.15
    assert forward.rated[0].rated_amount == backward.rated[0].rated_amount == D("0.1500")


def test_tariff_per_second_uses_the_plan_increment() -> None:
    rate_plan = plan(
        voice_increment_s=1, destination_tariffs=(DestinationTariff("+32", VOICE, D("0.30")),)
    )
    (rated,) = rate_subscription_cycle(rate_plan, [cdr(1, seconds=50, to="+32470123456")]).rated
    # 0.30 * 50/60 = 15/60 = 0.25
    assert (rated.billed_s, rated.rated_amount) == (50, D("0.2500"))


def test_data_tariff_and_data_without_destination() -> None:
    rate_plan = plan(
        data_bundle_mb=1,
        price_per_mb=D("0.05"),
        destination_tariffs=(DestinationTariff("+1", DATA, D("2.00"), setup_fee=D("0.25")),),
    )
    rating = rate_subscription_cycle(
        rate_plan, [cdr(1, DATA, kb=512, to="+12025550123"), cdr(2, DATA, kb=512)]
    )
    # 1: roaming tariff, outside the bundle: 512 KB = 0.5 MB * 2.00 + 0.25 = 1.25
    # 2: no destination, inside the 1024 KB bundle -> 0
    assert [(r.bundle_used, r.rated_amount) for r in rating.rated] == [
        (0, D("1.2500")),
        (512, D("0")),
    ]


# --- SMS and data bundles -----------------------------------------------------------------


def test_sms_beyond_the_bundle() -> None:
    rate_plan = plan(sms_bundle=2, price_per_sms=D("0.05"), setup_fee=D("0.99"))
    rating = rate_subscription_cycle(rate_plan, [cdr(i, SMS) for i in range(1, 5)])
    # 2 free messages, then 0.05 each; the voice set-up fee never applies to SMS.
    assert [(r.bundle_used, r.rated_amount) for r in rating.rated] == [
        (1, D("0")),
        (1, D("0")),
        (0, D("0.0500")),
        (0, D("0.0500")),
    ]
    # 0.05 * 2 = 0.10
    assert rating.totals[SMS].rated_amount == D("0.1000")
    assert rating.totals[SMS].bundle_used == 2
    assert rating.totals[SMS].count == 4


def test_data_beyond_the_bundle_is_split() -> None:
    rate_plan = plan(data_bundle_mb=1, price_per_mb=D("0.05"))
    rating = rate_subscription_cycle(
        rate_plan, [cdr(1, DATA, kb=800), cdr(2, DATA, kb=500), cdr(3, DATA, kb=2048)]
    )
    # Bundle 1024 KB. Session 1: 800 KB inside (224 KB left).
    # Session 2: 224 inside, 276 outside: 276 * 0.05 / 1024 = 13.8/1024
    #            = 0.0134765625 -> 0.0135.
    # Session 3: 2048 KB outside = 2 MB * 0.05 = 0.10.
    assert [(r.bundle_used, r.rated_amount) for r in rating.rated] == [
        (800, D("0")),
        (224, D("0.0135")),
        (0, D("0.1000")),
    ]
    totals = rating.totals[DATA]
    # 800 + 500 + 2048 = 3348 KB; 0.0135 + 0.1000 = 0.1135
    assert (totals.volume_kb, totals.bundle_used, totals.rated_amount) == (3348, 1024, D("0.1135"))


def test_totals_sum_provider_cost_duration_and_only_present_types() -> None:
    rating = rate_subscription_cycle(
        plan(price_per_sms=D("0.05")),
        [
            cdr(1, seconds=30, cost="0.0123"),
            cdr(2, seconds=45, cost="0.0200"),
            cdr(3, SMS, cost="0.01"),
        ],
    )
    assert list(rating.totals) == [VOICE, SMS]
    voice = rating.totals[VOICE]
    # raw durations 30 + 45 = 75 s; provider cost 0.0123 + 0.0200 = 0.0323
    assert (voice.count, voice.duration_s, voice.provider_cost) == (2, 75, D("0.0323"))
    assert rating.totals[SMS].provider_cost == D("0.01")


def test_amounts_always_have_four_decimals() -> None:
    rating = rate_subscription_cycle(
        plan(price_per_minute=D("0.1"), sms_bundle=1, price_per_sms=D("0.05")),
        [cdr(1, seconds=60), cdr(2, SMS), cdr(3, SMS), cdr(4, seconds=0)],
    )
    assert {r.rated_amount.as_tuple().exponent for r in rating.rated} == {-4}
    assert {t.rated_amount.as_tuple().exponent for t in rating.totals.values()} == {-4}
    assert rating.monthly_fee.as_tuple().exponent == -4


def test_empty_cycle() -> None:
    rating = rate_subscription_cycle(plan(), [])
    assert (rating.rated, rating.totals, rating.monthly_fee) == ([], {}, D("25.0000"))


# --- order -----------------------------------------------------------------------------------


def test_shuffled_input_gives_identical_output() -> None:
    rate_plan = plan(
        voice_bundle_minutes=3,
        sms_bundle=1,
        data_bundle_mb=1,
        price_per_minute=D("0.10"),
        price_per_sms=D("0.05"),
        price_per_mb=D("0.02"),
        setup_fee=D("0.01"),
        voice_increment_s=1,
        destination_tariffs=TARIFFS,
    )
    same_moment = T0 + timedelta(hours=5)
    cdrs = [
        cdr(1, seconds=100),
        cdr(2, seconds=70),
        cdr(3, SMS),
        cdr(4, SMS),
        cdr(5, DATA, kb=1500),
        cdr(6, seconds=30, to="+441614960000"),
        # Same moment: the provider_ref decides, "A-1" goes first and gets the bundle.
        cdr(7, seconds=5, at=same_moment, ref="B-2"),
        cdr(8, seconds=5, at=same_moment, ref="A-1"),
    ]
    # Voice bundle 180 s, per second: call 1 100 s (80 left), call 2 70 s (10 left),
    # call 6 is +44 (tariff, outside the bundle), call 8 ("A-1") 5 s (5 left), call 7
    # ("B-2") 5 s (0 left): every national call is free.
    # +44: 0.25 * 30/60 = 0.125, + 0.10 set-up = 0.2250.
    # SMS 3 inside the 1-message bundle, SMS 4 0.05.
    # Data: 1500 KB, 1024 inside, 476 * 0.02 / 1024 = 9.52/1024 = 0.009296875 -> 0.0093.
    expected = rate_subscription_cycle(rate_plan, cdrs)
    assert [r.cdr_id for r in expected.rated] == [1, 2, 3, 4, 5, 6, 8, 7]
    assert amounts(expected.rated) == [
        D("0"),
        D("0"),
        D("0"),
        D("0.0500"),
        D("0.0093"),
        D("0.2250"),
        D("0"),
        D("0"),
    ]
    rng = random.Random(20251026)
    for _ in range(20):
        shuffled = cdrs[:]
        rng.shuffle(shuffled)
        assert rate_subscription_cycle(rate_plan, iter(shuffled)) == expected


def test_equal_call_date_tie_broken_by_provider_ref() -> None:
    rate_plan = plan(voice_bundle_minutes=1, price_per_minute=D("0.10"))
    at = T0
    first, second = cdr(1, seconds=60, at=at, ref="ZZ"), cdr(2, seconds=60, at=at, ref="AA")
    rating = rate_subscription_cycle(rate_plan, [first, second])
    # "AA" < "ZZ": CDR 2 takes the 60 s bundle, CDR 1 pays 1 min * 0.10.
    assert [(r.cdr_id, r.rated_amount) for r in rating.rated] == [(2, D("0")), (1, D("0.1000"))]


def test_repeated_dst_hour_is_ordered_by_instant() -> None:
    rate_plan = plan(voice_bundle_minutes=1, price_per_minute=D("0.10"))
    # 2025-10-26 02:30 happens twice in Amsterdam: first CEST (fold=0, 00:30 UTC),
    # then CET (fold=1, 01:30 UTC). The refs sort the other way round on purpose.
    earlier = cdr(1, seconds=60, at=datetime(2025, 10, 26, 2, 30, tzinfo=AMS), ref="Z")
    later = cdr(2, seconds=60, at=datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=AMS), ref="A")
    rating = rate_subscription_cycle(rate_plan, [later, earlier])
    # The earlier call takes the bundle; the later one pays 0.10.
    assert [(r.cdr_id, r.rated_amount) for r in rating.rated] == [(1, D("0")), (2, D("0.1000"))]


def test_mixed_time_zones_are_ordered_by_instant() -> None:
    rate_plan = plan(voice_bundle_minutes=1, price_per_minute=D("0.10"))
    # 10:00 Amsterdam (CEST) is 08:00 UTC, so the 09:00 UTC call is later.
    utc_call = cdr(1, seconds=60, at=datetime(2025, 10, 15, 9, 0, tzinfo=UTC))
    local_call = cdr(2, seconds=60, at=datetime(2025, 10, 15, 10, 0, tzinfo=AMS))
    rating = rate_subscription_cycle(rate_plan, [utc_call, local_call])
    assert [(r.cdr_id, r.rated_amount) for r in rating.rated] == [(2, D("0")), (1, D("0.1000"))]


def test_utc_call_dates_sort_the_same_way() -> None:
    rate_plan = plan(voice_bundle_minutes=1, price_per_minute=D("0.10"))
    calls = [
        cdr(1, seconds=60, at=datetime(2025, 10, 15, 9, 0, 1, tzinfo=UTC)),
        cdr(2, seconds=60, at=datetime(2025, 10, 15, 9, 0, 0, 999999, tzinfo=UTC)),
    ]
    rating = rate_subscription_cycle(rate_plan, calls)
    assert [(r.cdr_id, r.rated_amount) for r in rating.rated] == [(2, D("0")), (1, D("0.1000"))]


# --- fees -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fee", "active", "cycle", "expected"),
    [
        ("25.00", 17, 31, "13.7097"),  # 25 * 17 / 31 = 425/31 = 13.709677... -> 13.7097
        ("25.00", 31, 31, "25.0000"),  # full cycle
        ("25.00", 40, 31, "25.0000"),  # never more than the full fee
        ("25.00", 0, 31, "0.0000"),
        ("12.3457", 1, 2, "6.1729"),  # 6.17285 exactly -> half-up 6.1729 (half-even: 6.1728)
        ("9.99", 15, 30, "4.9950"),  # 9.99 / 2
        ("10", 1, 3, "3.3333"),  # 3.3333... -> 3.3333
        ("20", 2, 3, "13.3333"),  # 13.3333...
        ("0.0001", 1, 2, "0.0001"),  # 0.00005 -> 0.0001
    ],
)
def test_prorate_fee(fee: str, active: int, cycle: int, expected: str) -> None:
    result = prorate_fee(D(fee), active, cycle)
    assert result == D(expected)
    assert result.as_tuple().exponent == -4


def test_prorate_fee_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        prorate_fee(D("25"), 1, 0)
    with pytest.raises(ValueError):
        prorate_fee(D("25"), -1, 30)
    with pytest.raises(ValueError):
        prorate_fee(D("-25"), 1, 30)


def test_rating_uses_prorated_fee_when_days_are_given() -> None:
    rate_plan = plan(monthly_fee=D("25.00"))
    # 25 * 17/31 = 13.7097 (see above); without days: the full 25.0000
    assert rate_subscription_cycle(rate_plan, [], fee_days=17, cycle_days=31).monthly_fee == D(
        "13.7097"
    )
    assert rate_subscription_cycle(rate_plan, []).monthly_fee == D("25.0000")
    with pytest.raises(ValueError):
        rate_subscription_cycle(rate_plan, [], fee_days=17)


def test_result_does_not_depend_on_the_callers_decimal_context() -> None:
    rate_plan = plan(price_per_minute=D("0.10"), voice_increment_s=1)
    calls = [cdr(1, seconds=61)]
    expected = rate_subscription_cycle(rate_plan, calls, fee_days=17, cycle_days=31)
    with localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = ROUND_DOWN
        assert rate_subscription_cycle(rate_plan, calls, fee_days=17, cycle_days=31) == expected
        assert prorate_fee(D("25.00"), 17, 31) == D("13.7097")
    # 0.10 * 61/60 = 0.10166... -> 0.1017
    assert expected.rated[0].rated_amount == D("0.1017")


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [cdr(1, seconds=-1), cdr(2, DATA, kb=-5), cdr(3, SMS, seconds=-2)])
def test_negative_usage_is_rejected(bad: RatableCdr) -> None:
    with pytest.raises(ValueError, match=f"CDR {bad.cdr_id}"):
        rate_subscription_cycle(plan(), [cdr(99, seconds=10), bad])


def test_naive_call_date_is_rejected() -> None:
    naive = cdr(1, seconds=10, at=datetime(2025, 10, 15, 9, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        rate_subscription_cycle(plan(), [naive])


@pytest.mark.parametrize(
    "overrides",
    [
        {"price_per_minute": D("-0.01")},
        {"monthly_fee": D("NaN")},
        {"voice_increment_s": 0},
        {"sms_bundle": -1},
        {
            "destination_tariffs": (
                DestinationTariff("+44", VOICE, D("0.25")),
                DestinationTariff("+44", VOICE, D("0.30")),
            )
        },
    ],
)
def test_invalid_plans_are_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        plan(**overrides)


def test_float_money_is_rejected() -> None:
    with pytest.raises(TypeError):
        plan(price_per_minute=0.10)
    with pytest.raises(TypeError):
        DestinationTariff("+44", VOICE, 0.25)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["44", "+", "+0", "+44a", "+ 44", ""])
def test_invalid_tariff_prefix(prefix: str) -> None:
    with pytest.raises(ValueError):
        DestinationTariff(prefix, VOICE, D("0.25"))


def test_same_prefix_for_different_call_types_is_fine() -> None:
    rate_plan = plan(destination_tariffs=TARIFFS)  # +44 voice and +44 sms
    assert rate_plan.tariff_matcher.match(SMS, "+447700900123") == TARIFFS[3]
    assert rate_plan.tariff_matcher.match(DATA, "+447700900123") is None


# --- phone numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0031612345678", "+31612345678"),
        ("+31 6 1234 5678", "+31612345678"),
        ("0612345678", "+31612345678"),
        ("06-12345678", "+31612345678"),
        ("+31 (0)20 123 4567", "+31201234567"),
        ("0044 20 7946 0000", "+442079460000"),
        ("  +44.20.7946.0000 ", "+442079460000"),
        ("0900-1234567", "+319001234567"),
    ],
)
def test_normalise_number(raw: str, expected: str) -> None:
    assert normalise_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "+",
        "garbage",
        "06-1234abcd",
        "612345678",
        "112",
        "+31",
        "0000123456789",
        "+1234567890123456",
        "++31612345678",
        "+31 6 1234 5678 ext 9",
        "０６１２３４５６７８",
    ],
)
def test_normalise_number_rejects_garbage(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_number(raw)
