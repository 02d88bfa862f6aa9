"""Properties of the rating engine, checked with hypothesis."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import chain
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from core.rating import (
    CallType,
    DestinationTariff,
    RatableCdr,
    RatePlan,
    SubscriptionRating,
    rate_subscription_cycle,
)

AMS = ZoneInfo("Europe/Amsterdam")
# Start two hours before the repeated DST hour so that folds show up in the dates.
T0 = datetime(2025, 10, 26, 0, 0, tzinfo=AMS)
DESTINATIONS = ["+31612345678", "+441614960000", "+442079460000", "+3190012345", "+32470123456"]
PREFIXES = ["+44", "+4420", "+3190", "+32", "+1"]


def money(max_cents: int = 200) -> st.SearchStrategy[Decimal]:
    """Amounts with up to 4 decimals, e.g. 0.0450."""
    return st.integers(0, max_cents * 100).map(lambda units: Decimal(units).scaleb(-4))


tariffs = st.lists(
    st.builds(
        DestinationTariff,
        prefix=st.sampled_from(PREFIXES),
        call_type=st.sampled_from(CallType),
        price=money(),
        setup_fee=money(50),
    ),
    max_size=6,
    unique_by=lambda t: (t.prefix, t.call_type),
).map(tuple)

plans = st.builds(
    RatePlan,
    name=st.just("generated"),
    monthly_fee=money(5000),
    voice_bundle_minutes=st.integers(0, 10),
    sms_bundle=st.integers(0, 3),
    data_bundle_mb=st.integers(0, 3),
    price_per_minute=money(),
    price_per_sms=money(),
    price_per_mb=money(),
    voice_increment_s=st.sampled_from([1, 10, 30, 60]),
    setup_fee=money(50),
    destination_tariffs=tariffs,
)


@st.composite
def cdr_lists(draw: st.DrawFn) -> list[RatableCdr]:
    count = draw(st.integers(0, 30))
    cdrs = []
    for cdr_id in range(1, count + 1):
        call_type = draw(st.sampled_from(CallType))
        cdrs.append(
            RatableCdr(
                cdr_id=cdr_id,
                # Few distinct minutes and refs, so equal call dates and refs are common.
                call_date=(T0 + timedelta(minutes=30 * draw(st.integers(0, 8)))).replace(
                    fold=draw(st.integers(0, 1))
                ),
                provider_ref=draw(st.sampled_from(["A", "B", "C"])),
                call_type=call_type,
                destination=draw(st.sampled_from(DESTINATIONS))
                if call_type is not CallType.DATA
                else draw(st.sampled_from(["", "", "+12025550123"])),
                duration_s=draw(st.integers(0, 400)) if call_type is CallType.VOICE else 0,
                volume_kb=draw(st.integers(0, 3000)) if call_type is CallType.DATA else 0,
                provider_cost=draw(money()),
            )
        )
    return cdrs


def assert_same(a: SubscriptionRating, b: SubscriptionRating) -> None:
    assert a.rated == b.rated
    assert a.totals == b.totals
    assert a.monthly_fee == b.monthly_fee


@given(plans, cdr_lists(), st.randoms(use_true_random=False))
def test_any_permutation_gives_the_same_result(
    plan: RatePlan, cdrs: list[RatableCdr], rng: random.Random
) -> None:
    shuffled = cdrs[:]
    rng.shuffle(shuffled)
    assert_same(rate_subscription_cycle(plan, cdrs), rate_subscription_cycle(plan, shuffled))


@given(plans, cdr_lists(), st.data())
def test_chunks_in_any_order_give_the_same_result(
    plan: RatePlan, cdrs: list[RatableCdr], data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(cdrs)), max_size=6)))
    bounds = [0, *cuts, len(cdrs)]
    chunks = [cdrs[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]
    reordered = data.draw(st.permutations(chunks))
    assert_same(
        rate_subscription_cycle(plan, cdrs),
        rate_subscription_cycle(plan, chain.from_iterable(reordered)),  # a one-shot iterator
    )


@given(plans, cdr_lists(), st.integers(0, 40), st.integers(1, 31))
def test_nothing_is_ever_negative(
    plan: RatePlan, cdrs: list[RatableCdr], fee_days: int, cycle_days: int
) -> None:
    rating = rate_subscription_cycle(plan, cdrs, fee_days=fee_days, cycle_days=cycle_days)
    assert all(r.rated_amount >= 0 and r.billed_s >= 0 and r.bundle_used >= 0 for r in rating.rated)
    for totals in rating.totals.values():
        assert totals.rated_amount >= 0
        assert totals.provider_cost >= 0
        assert totals.bundle_used >= 0
    assert 0 <= rating.monthly_fee <= plan.monthly_fee


@given(plans, cdr_lists())
def test_totals_are_the_sums_of_the_rated_cdrs(plan: RatePlan, cdrs: list[RatableCdr]) -> None:
    rating = rate_subscription_cycle(plan, cdrs)
    assert sorted(r.cdr_id for r in rating.rated) == sorted(c.cdr_id for c in cdrs)
    assert set(rating.totals) == {c.call_type for c in cdrs}
    for call_type, totals in rating.totals.items():
        rated = [r for r in rating.rated if r.call_type is call_type]
        raw = [c for c in cdrs if c.call_type is call_type]
        assert totals.rated_amount == sum((r.rated_amount for r in rated), Decimal(0))
        assert totals.bundle_used == sum(r.bundle_used for r in rated)
        assert totals.count == len(raw) == len(rated)
        assert totals.duration_s == sum(c.duration_s for c in raw)
        assert totals.volume_kb == sum(c.volume_kb for c in raw)
        assert totals.provider_cost == sum((c.provider_cost for c in raw), Decimal(0))
    for r in rating.rated:
        assert r.rated_amount.as_tuple().exponent == -4


@given(plans, cdr_lists())
def test_bundles_are_used_up_before_anything_is_charged(
    plan: RatePlan, cdrs: list[RatableCdr]
) -> None:
    rating = rate_subscription_cycle(plan, cdrs)
    by_id = {c.cdr_id: c for c in cdrs}
    in_bundle = [r for r in rating.rated if tariff_for(plan, by_id[r.cdr_id]) is None]
    voice = [r for r in in_bundle if r.call_type is CallType.VOICE]
    sms = [r for r in in_bundle if r.call_type is CallType.SMS]
    data = [r for r in in_bundle if r.call_type is CallType.DATA]
    assert sum(r.bundle_used for r in voice) == min(
        plan.voice_bundle_minutes * 60, sum(r.billed_s for r in voice)
    )
    assert sum(r.bundle_used for r in sms) == min(plan.sms_bundle, len(sms))
    assert sum(r.bundle_used for r in data) == min(
        plan.data_bundle_mb * 1024, sum(by_id[r.cdr_id].volume_kb for r in data)
    )
    for r in rating.rated:
        cdr = by_id[r.cdr_id]
        if r.call_type is CallType.VOICE:
            increment = plan.voice_increment_s
            assert r.billed_s % increment == 0
            assert cdr.duration_s <= r.billed_s < cdr.duration_s + increment


# --- an independent model: the rules written out with exact fractions ----------------------


def tariff_for(plan: RatePlan, cdr: RatableCdr) -> DestinationTariff | None:
    matching = [
        t
        for t in plan.destination_tariffs
        if t.call_type is cdr.call_type and cdr.destination.startswith(t.prefix)
    ]
    return max(matching, key=lambda t: len(t.prefix), default=None)


def half_up(value: Fraction) -> Decimal:
    """Round a non-negative fraction to 4 decimals, halves up."""
    ten_thousandths = value * 10_000
    whole, rest = divmod(ten_thousandths.numerator, ten_thousandths.denominator)
    if 2 * rest >= ten_thousandths.denominator:
        whole += 1
    return Decimal(whole).scaleb(-4)


@dataclass
class Left:
    voice_s: int
    sms: int
    data_kb: int


def model_amount(plan: RatePlan, cdr: RatableCdr, left: Left) -> Decimal:
    """What one CDR costs, given what is left of the bundles (updated in place)."""
    tariff = tariff_for(plan, cdr)
    if cdr.call_type is CallType.VOICE:
        increment = plan.voice_increment_s
        billed = ((cdr.duration_s + increment - 1) // increment) * increment
        if tariff is not None:
            outside, per_minute, setup = billed, tariff.price, tariff.setup_fee
        else:
            inside = min(billed, left.voice_s)
            left.voice_s -= inside
            outside, per_minute, setup = billed - inside, plan.price_per_minute, plan.setup_fee
        if outside == 0:
            return Decimal(0)
        return half_up(Fraction(per_minute) * outside / 60 + Fraction(setup))
    if cdr.call_type is CallType.SMS:
        if tariff is not None:
            return half_up(Fraction(tariff.price) + Fraction(tariff.setup_fee))
        if left.sms > 0:
            left.sms -= 1
            return Decimal(0)
        return half_up(Fraction(plan.price_per_sms))
    if tariff is not None:
        if cdr.volume_kb == 0:
            return Decimal(0)
        return half_up(Fraction(tariff.price) * cdr.volume_kb / 1024 + Fraction(tariff.setup_fee))
    inside = min(cdr.volume_kb, left.data_kb)
    left.data_kb -= inside
    return half_up(Fraction(plan.price_per_mb) * (cdr.volume_kb - inside) / 1024)


@settings(max_examples=300)
@given(plans, cdr_lists())
def test_engine_matches_a_model_written_with_fractions(
    plan: RatePlan, cdrs: list[RatableCdr]
) -> None:
    left = Left(plan.voice_bundle_minutes * 60, plan.sms_bundle, plan.data_bundle_mb * 1024)
    in_order = sorted(cdrs, key=lambda c: (c.call_date.timestamp(), c.provider_ref, c.cdr_id))
    expected = {c.cdr_id: model_amount(plan, c, left) for c in in_order}
    rating = rate_subscription_cycle(plan, cdrs)
    assert [r.cdr_id for r in rating.rated] == [c.cdr_id for c in in_order]
    assert {r.cdr_id: r.rated_amount for r in rating.rated} == expected
