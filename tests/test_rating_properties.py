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


# --- issue 17 and 13.7: schemes, minimum charges, bands, roaming, prices with history ----

from datetime import date  # noqa: E402

from core.rating import Increment, PriceChange, PriceHistory  # noqa: E402
from core.rating.plan import TimeBand  # noqa: E402
from core.rating.roaming import EU_EEA, RoamingPrice  # noqa: E402

COUNTRIES = ["", "DE", "FR", "CH", "US", "JP", "BR"]  # "" and BR: no zone
increments = st.builds(Increment, st.sampled_from([1, 6, 30, 60]), st.sampled_from([1, 6, 30, 60]))
rich_tariffs = st.lists(
    st.builds(
        DestinationTariff,
        prefix=st.sampled_from(PREFIXES),
        call_type=st.sampled_from(CallType),
        price=money(),
        setup_fee=money(50),
        voice_increment=st.none() | increments,
        minimum_charge=money(30),
    ),
    max_size=6,
    unique_by=lambda t: (t.prefix, t.call_type),
).map(tuple)
bands = st.lists(
    st.builds(
        TimeBand,
        name=st.sampled_from(["peak", "evening", "night"]),
        days=st.frozensets(st.integers(0, 6), min_size=1),
        start_min=st.integers(0, 4 * 60),
        end_min=st.integers(4 * 60 + 1, 24 * 60),
        price_per_minute=st.none() | money(),
        price_per_sms=st.none() | money(),
    ),
    max_size=1,  # two random bands would mostly overlap, which a plan refuses
).map(tuple)
zones = st.lists(
    st.builds(
        RoamingPrice,
        zone=st.just("z"),
        countries=st.sampled_from([frozenset({"CH", "US"}), frozenset({"JP"})]),
        voice_out_per_min=money(),
        voice_in_per_min=money(),
        sms_per_message=money(),
        data_per_mb=money(),
        voice_first_s=st.sampled_from([1, 30, 60]),
        voice_increment_s=st.sampled_from([1, 6, 60]),
    ),
    max_size=2,
    unique_by=lambda z: tuple(sorted(z.countries)),
).map(lambda found: tuple(RoamingPrice(f"zone{i}", z.countries, z.voice_out_per_min,
                                       z.voice_in_per_min, z.sms_per_message, z.data_per_mb,
                                       z.voice_first_s, z.voice_increment_s)
                          for i, z in enumerate(found)))


@st.composite
def rich_plans(draw: st.DrawFn) -> RatePlan:
    increment = draw(increments)
    return RatePlan(
        name="rich",
        monthly_fee=draw(money(5000)),
        voice_bundle_minutes=draw(st.integers(0, 10)),
        sms_bundle=draw(st.integers(0, 3)),
        data_bundle_mb=draw(st.integers(0, 3)),
        price_per_minute=draw(money()),
        price_per_sms=draw(money()),
        price_per_mb=draw(money()),
        voice_first_s=increment.first_s,
        voice_increment_s=increment.step_s,
        setup_fee=draw(money(50)),
        minimum_charge=draw(money(30)),
        destination_tariffs=draw(rich_tariffs),
        bands=draw(bands),
        roaming=draw(zones),
        eu_fair_use_gb=draw(st.none() | st.sampled_from([Decimal("0"), Decimal("0.001")])),
        eu_surcharge_per_mb=draw(money()),
    )


@st.composite
def histories(draw: st.DrawFn, base: RatePlan) -> PriceHistory:
    """The base plan, and perhaps a price change from the second day of the CDRs."""
    if not draw(st.booleans()):
        return PriceHistory.of(base)
    change = PriceChange(date(2025, 10, 27), {"price_per_minute": draw(money()),
                                             "minimum_charge": draw(money(30)),
                                             "price_per_mb": draw(money())})
    return PriceHistory.build(base, [change])


@st.composite
def rich_cdr_lists(draw: st.DrawFn) -> list[RatableCdr]:
    count = draw(st.integers(0, 30))
    cdrs = []
    for cdr_id in range(1, count + 1):
        call_type = draw(st.sampled_from(CallType))
        roaming = draw(st.booleans())
        cdrs.append(RatableCdr(
            cdr_id=cdr_id,
            call_date=T0 + timedelta(days=draw(st.integers(0, 1)),
                                     minutes=30 * draw(st.integers(0, 8))),
            provider_ref=draw(st.sampled_from(["A", "B", "C"])),
            call_type=call_type,
            destination="" if call_type is CallType.DATA else draw(st.sampled_from(DESTINATIONS)),
            duration_s=draw(st.integers(0, 400)) if call_type in (CallType.VOICE, CallType.VOICE_IN) else 0,
            volume_kb=draw(st.integers(0, 3000)) if call_type is CallType.DATA else 0,
            provider_cost=draw(money()),
            roaming=roaming,
            visited_country=draw(st.sampled_from(COUNTRIES)) if roaming else "",
        ))
    return cdrs


@settings(max_examples=200)
@given(rich_plans().flatmap(lambda p: st.tuples(st.just(p), histories(p))), rich_cdr_lists(), st.data())
def test_files_in_any_order_give_the_same_totals_under_every_scheme(
    plan_and_history: tuple[RatePlan, PriceHistory], cdrs: list[RatableCdr], data: st.DataObject
) -> None:
    plan, history = plan_and_history
    cuts = sorted(data.draw(st.lists(st.integers(0, len(cdrs)), max_size=6)))
    bounds = [0, *cuts, len(cdrs)]
    files = [cdrs[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]
    reordered = data.draw(st.permutations(files))
    whole = rate_subscription_cycle(plan, cdrs, history=history, zone=AMS)
    split = rate_subscription_cycle(plan, chain.from_iterable(reordered), history=history, zone=AMS)
    assert_same(whole, split)
    assert all(r.rated_amount >= 0 and r.rated_amount.as_tuple().exponent == -4 for r in whole.rated)


# The rules once more, written out independently with fractions (issue 17's schemes).

def billed(increment: Increment, seconds: int) -> int:
    if seconds == 0:
        return 0
    if seconds <= increment.first_s:
        return increment.first_s
    rest = seconds - increment.first_s
    return increment.first_s + ((rest + increment.step_s - 1) // increment.step_s) * increment.step_s


@dataclass
class RichLeft:
    voice_s: int
    sms: int
    data_kb: int
    eu_kb: int = 0


def rich_model_amount(plan: RatePlan, cdr: RatableCdr, left: RichLeft) -> tuple[Decimal, str]:
    local = cdr.call_date.astimezone(AMS)
    minute = local.hour * 60 + local.minute
    band = next((b for b in plan.bands if local.weekday() in b.days
                 and b.start_min <= minute < b.end_min), None)
    kind = cdr.call_type
    zone_label = ""
    if cdr.roaming:
        country = cdr.visited_country
        priced = [z for z in plan.roaming if country in z.countries]
        per_kind = {CallType.VOICE: "voice_out_per_min", CallType.VOICE_IN: "voice_in_per_min",
                    CallType.SMS: "sms_per_message", CallType.DATA: "data_per_mb"}[kind]
        if country in EU_EEA:
            zone_label = "EU"
        elif priced or plan.roaming:
            zone = priced[0] if priced else max(plan.roaming, key=lambda z: getattr(z, per_kind))
            price = Fraction(getattr(zone, per_kind))
            inc = Increment(zone.voice_first_s, zone.voice_increment_s)
            label = zone.zone if priced else "?"
            if kind in (CallType.VOICE, CallType.VOICE_IN):
                seconds = billed(inc, cdr.duration_s)
                return (half_up(price * seconds / 60) if seconds else Decimal(0)), label
            if kind is CallType.SMS:
                return half_up(price), label
            return (half_up(price * cdr.volume_kb / 1024) if cdr.volume_kb else Decimal(0)), label
        else:
            zone_label = "?"
    tariff = tariff_for(plan, cdr)
    if kind is CallType.VOICE_IN:
        return Decimal(0), zone_label
    if kind is CallType.VOICE:
        if tariff is not None:
            seconds = billed(tariff.voice_increment or plan.voice_increment, cdr.duration_s)
            outside, per_minute = seconds, Fraction(tariff.price)
            setup, minimum = Fraction(tariff.setup_fee), Fraction(tariff.minimum_charge)
        else:
            seconds = billed(plan.voice_increment, cdr.duration_s)
            inside = min(seconds, left.voice_s)
            left.voice_s -= inside
            outside = seconds - inside
            per_minute = Fraction(band.price_per_minute if band and band.price_per_minute is not None
                                  else plan.price_per_minute)
            setup, minimum = Fraction(plan.setup_fee), Fraction(plan.minimum_charge)
        if outside == 0:
            return Decimal(0), zone_label
        return half_up(max(per_minute * outside / 60 + setup, minimum)), zone_label
    if kind is CallType.SMS:
        if tariff is not None:
            return half_up(max(Fraction(tariff.price) + Fraction(tariff.setup_fee),
                               Fraction(tariff.minimum_charge))), zone_label
        if left.sms > 0:
            left.sms -= 1
            return Decimal(0), zone_label
        return half_up(Fraction(band.price_per_sms if band and band.price_per_sms is not None
                                else plan.price_per_sms)), zone_label
    if tariff is not None:
        if cdr.volume_kb == 0:
            return Decimal(0), zone_label
        return half_up(max(Fraction(tariff.price) * cdr.volume_kb / 1024 + Fraction(tariff.setup_fee),
                           Fraction(tariff.minimum_charge))), zone_label
    inside = min(cdr.volume_kb, left.data_kb)
    left.data_kb -= inside
    amount = Fraction(plan.price_per_mb) * (cdr.volume_kb - inside) / 1024
    if zone_label == "EU" and plan.eu_fair_use_gb is not None:
        limit = Fraction(plan.eu_fair_use_gb) * 1024 * 1024
        before, left.eu_kb = left.eu_kb, left.eu_kb + cdr.volume_kb
        beyond = max(Fraction(0), left.eu_kb - max(limit, Fraction(before)))
        return half_up(Fraction(half_up(amount)) + Fraction(plan.eu_surcharge_per_mb) * beyond / 1024), zone_label
    return half_up(amount), zone_label


@settings(max_examples=200)
@given(rich_plans(), rich_cdr_lists())
def test_engine_matches_the_fraction_model_under_every_scheme(
    plan: RatePlan, cdrs: list[RatableCdr]
) -> None:
    left = RichLeft(plan.voice_bundle_minutes * 60, plan.sms_bundle, plan.data_bundle_mb * 1024)
    in_order = sorted(cdrs, key=lambda c: (c.call_date.timestamp(), c.provider_ref, c.cdr_id))
    expected = {c.cdr_id: rich_model_amount(plan, c, left) for c in in_order}
    rating = rate_subscription_cycle(plan, cdrs, zone=AMS)
    assert {r.cdr_id: (r.rated_amount, r.zone) for r in rating.rated} == expected
