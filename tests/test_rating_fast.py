"""The integer fast path (core/rating/fast.py) against the Decimal engine, its reference.

Random plans with every scheme of issue 17 (a/b increments, minimum charges, set-up fees,
destination tariffs, time bands, roaming zones, EU fair use), prices with history, and
random cycles of raw rows as `core.raw_store` reads them on both dialects (call dates as
fixed-width UTC text, money in ten-thousandths): `core.totals.rate_subscription`
gives the same ratings, invoice charges and totals with the fast path as with the Decimal
engine alone, whether the fast path rates the rows or falls back for them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.month import Month
from core.rating import CallType, PriceChange, PriceHistory, RatePlan
from core.rating.fast import compile_plan, rate_rows
from core.rating.plan import DestinationTariff, TimeBand
from core.totals import rate_subscription
from tests.test_rating_properties import AMS, COUNTRIES, DESTINATIONS, T0, money, rich_plans

CYCLE = Month(2025, 10).cycle(26)  # T0 and the day after are in it
SUB = 7


def stored(call_date: datetime) -> str:
    """A call date as `core.raw_store` reads it on both dialects: naive UTC text."""
    return call_date.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def decode(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@st.composite
def histories(draw: st.DrawFn, base: RatePlan) -> PriceHistory:
    """No change, or one before, inside or after the cycle (only inside needs two versions)."""
    when = draw(st.sampled_from([None, date(2025, 9, 1), date(2025, 10, 27), date(2025, 12, 1)]))
    if when is None:
        return PriceHistory.of(base)
    change = PriceChange(when, {"price_per_minute": draw(money()), "minimum_charge": draw(money(30)),
                                "price_per_mb": draw(money()), "voice_first_s": draw(st.sampled_from([1, 30, 60])),
                                "voice_increment_s": draw(st.sampled_from([1, 6, 60]))})
    return PriceHistory.build(base, [change])


@st.composite
def raw_rows(draw: st.DrawFn) -> tuple[list[tuple[Any, ...]], dict[int, str]]:
    """One subscription-cycle's rows as `core.raw_store.cycle_cdrs` returns them, and their provider_refs."""
    roams = draw(st.integers(0, 2)) == 0  # most lists without roaming, so the fast path rates them
    rows = []
    refs = {}
    for cdr_id in range(1, draw(st.integers(0, 40)) + 1):
        call_type = draw(st.sampled_from(CallType))
        roaming = roams and draw(st.booleans())
        when = T0 + timedelta(days=draw(st.integers(0, 1)), minutes=30 * draw(st.integers(0, 8)))
        refs[cdr_id] = draw(st.sampled_from(["A", "B", "C"]))
        rows.append((
            cdr_id, SUB, stored(when.replace(fold=draw(st.integers(0, 1)))), call_type.value,
            "" if call_type is CallType.DATA else draw(st.sampled_from(DESTINATIONS)),
            draw(st.integers(0, 400)) if call_type in (CallType.VOICE, CallType.VOICE_IN) else 0,
            draw(st.integers(0, 3000)) if call_type is CallType.DATA else 0,
            draw(st.integers(0, 20000)),
            draw(st.sampled_from(COUNTRIES)) if roaming else None,  # "" when the provider did not say
        ))
    return rows, refs


def refs_in(refs: dict[int, str], asked: list[list[int]] | None = None) -> Any:
    """`core.raw_store.provider_refs` over `refs`; each question's ids go to `asked`."""
    def look_up(ids: Any) -> dict[int, str]:
        if asked is not None:
            asked.append(sorted(ids))
        return {i: refs[i] for i in ids}
    return look_up


@st.composite
def cases(draw: st.DrawFn) -> tuple[PriceHistory, tuple[list[tuple[Any, ...]], dict[int, str]]]:
    plan = draw(rich_plans())
    if draw(st.booleans()):  # half the plans without bands, so the fast path covers them
        plan = replace(plan, bands=())
    return draw(histories(plan)), draw(raw_rows())


@settings(max_examples=400, deadline=None)
@given(cases())
def test_the_fast_path_rates_exactly_as_the_decimal_engine(
        case: tuple[PriceHistory, tuple[list[tuple[Any, ...]], dict[int, str]]]) -> None:
    history, (rows, refs) = case
    fast = rate_subscription(history, CYCLE, AMS, SUB, rows, decode, refs_in(refs))
    reference = rate_subscription(history, CYCLE, AMS, SUB, rows, decode, refs_in(refs), fast=False)
    assert sorted(fast.ratings) == sorted(reference.ratings)
    assert fast.charges == reference.charges
    assert fast.totals == reference.totals


def plain_plan(**fields: Any) -> RatePlan:
    return RatePlan(name="plain", monthly_fee=Decimal("10"), voice_bundle_minutes=1, price_per_minute=Decimal("0.12"),
                    voice_first_s=60, voice_increment_s=1, minimum_charge=Decimal("0.05"),
                    destination_tariffs=(DestinationTariff("+44", CallType.VOICE, Decimal("0.90")),), **fields)


def row(cdr_id: int, call_type: str = "voice", seconds: int = 61, roaming: int = 0) -> tuple[Any, ...]:
    return (cdr_id, SUB, stored(T0 + timedelta(minutes=cdr_id)), call_type, "+31612345678",
            seconds, 0, 100, "CH" if roaming else None)


def test_a_plain_cycle_is_rated_in_integers() -> None:
    compiled = compile_plan(plain_plan())
    assert compiled is not None
    asked: list[list[int]] = []
    rated = rate_rows(compiled, SUB, [row(1), row(2)], refs_in({}, asked))
    assert rated is not None
    # 61 s under 60/1 from a 60 s bundle: the first call's last second costs the minimum charge,
    # the second call 61 s at 0.12 a minute
    assert [(r[0], r[3], r[4]) for r in rated.ratings] == [(1, 500, 60), (2, 1220, 0)]
    assert asked == []  # no two calls of one moment: no provider_ref read


def test_calls_of_one_moment_take_the_bundle_in_provider_ref_order() -> None:
    """Equal call dates are rated by provider_ref, then id, as the engine does, not in the order
    read: ref "A" (id 2) takes the bundle before ref "B" (id 1), read first."""
    compiled = compile_plan(plain_plan())  # 60 s bundle, first 60 s then per second, 0.12/min, minimum 0.05
    assert compiled is not None
    moment = stored(T0)
    rows = [(cdr_id, SUB, moment, "voice", "+31612345678", seconds, 0, 100, None) for cdr_id, seconds in ((1, 61), (2, 30))]
    asked: list[list[int]] = []
    rated = rate_rows(compiled, SUB, [row(-5, "sms"), *rows, row(5)], refs_in({1: "B", 2: "A"}, asked))
    assert rated is not None
    # A first: billed 60 s, all of it in the bundle (0.00); B: 61 s beyond it = 0.122.
    # (B first would take the bundle: 1 s beyond = the 0.05 minimum, then A 0.12.)
    assert {r[0]: (r[3], r[4]) for r in rated.ratings if r[0] in (1, 2)} == {2: (0, 60), 1: (1220, 0)}
    assert asked == [[1, 2]]  # the refs of those two alone, in one question


def test_schemes_the_fast_path_does_not_cover_fall_back() -> None:
    band = TimeBand("peak", frozenset({0}), 480, 1140, Decimal("0.20"))
    assert compile_plan(plain_plan(bands=(band,))) is None
    assert compile_plan(RatePlan(name="fine", monthly_fee=Decimal("1"), price_per_minute=Decimal("0.00001"))) is None
    compiled = compile_plan(plain_plan())
    assert compiled is not None
    assert rate_rows(compiled, SUB, [row(1), row(2, roaming=1)], refs_in({})) is None
