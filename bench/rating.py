"""Micro-benchmark: rate one subscription-cycle of 20,000 CDRs, next to a floor from the
same run: the same CDRs as plain tuples (dates as stored, ISO text), sorted, each priced
in integer ten-thousandths with a longest-prefix tariff lookup and bundle counters. The
floor is a lower bound for the engine's work (issue 14.1: ~0.03 s), not a second engine.

Run: python bench/rating.py [number_of_cdrs]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from floors import machine  # noqa: E402

from core.rating import (  # noqa: E402
    CallType,
    DestinationTariff,
    RatableCdr,
    RatePlan,
    rate_subscription_cycle,
)
from core.rating.fast import compile_plan, rate_rows  # noqa: E402

TZ = ZoneInfo("Europe/Amsterdam")

PLAN = RatePlan(
    name="Business Mobile 100",
    monthly_fee=Decimal("25.00"),
    voice_bundle_minutes=100,
    sms_bundle=100,
    data_bundle_mb=5120,
    price_per_minute=Decimal("0.10"),
    price_per_sms=Decimal("0.05"),
    price_per_mb=Decimal("0.05"),
    voice_increment_s=1,
    setup_fee=Decimal("0.0450"),
    destination_tariffs=tuple(
        DestinationTariff(f"+{code}", CallType.VOICE, Decimal("0.35"), Decimal("0.10"))
        for code in range(200, 1000, 3)
    )
    + (
        DestinationTariff("+44", CallType.VOICE, Decimal("0.25")),
        DestinationTariff("+3190", CallType.VOICE, Decimal("0.80"), Decimal("0.50")),
        DestinationTariff("+44", CallType.SMS, Decimal("0.12")),
    ),
)

DESTINATIONS = [
    "+31612345678",
    "+31201234567",
    "+441614960000",
    "+3190012345",
    "+32470123456",
    "+4915112345678",
    "+31687654321",
    "+8613912345678",
]


def make_cdrs(count: int, tz: tzinfo = UTC, seed: int = 7) -> list[RatableCdr]:
    """``count`` CDRs of one subscription over a cycle, shuffled, call dates in ``tz``."""
    rng = random.Random(seed)
    start = datetime(2025, 10, 15, tzinfo=TZ).astimezone(tz)
    call_types = [CallType.VOICE] * 6 + [CallType.SMS] * 2 + [CallType.DATA] * 2
    cdrs: list[RatableCdr] = []
    for cdr_id in range(count):
        call_type = rng.choice(call_types)
        cdrs.append(
            RatableCdr(
                cdr_id=cdr_id,
                call_date=start + timedelta(seconds=rng.randrange(31 * 86400)),
                provider_ref=f"P{cdr_id:08d}",
                call_type=call_type,
                destination="" if call_type is CallType.DATA else rng.choice(DESTINATIONS),
                duration_s=rng.randrange(0, 900) if call_type is CallType.VOICE else 0,
                volume_kb=rng.randrange(0, 50_000) if call_type is CallType.DATA else 0,
                provider_cost=Decimal(rng.randrange(0, 5000)).scaleb(-4),
            )
        )
    rng.shuffle(cdrs)
    return cdrs


def timed(cdrs: list[RatableCdr], runs: int = 25) -> tuple[float, float]:
    """Best and median wall time in ms of rating ``cdrs`` as one subscription-cycle."""
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        rate_subscription_cycle(PLAN, cdrs, fee_days=17, cycle_days=31)
        timings.append(time.perf_counter() - began)
    timings.sort()
    return timings[0] * 1000, timings[len(timings) // 2] * 1000


def _ten_thousandths(amount: Decimal) -> int:
    return int(amount.scaleb(4))


def floor_rate(rows: list[tuple[str, str, str, str, int, int]]) -> int:
    """Integer rating of (call_date, ref, call_type, destination, duration_s, volume_kb)."""
    tariffs = {(t.prefix, t.call_type.value): (_ten_thousandths(t.price), _ten_thousandths(t.setup_fee))
               for t in PLAN.destination_tariffs}
    lengths = sorted({len(prefix) for prefix, _ in tariffs}, reverse=True)
    per_minute, per_sms = _ten_thousandths(PLAN.price_per_minute), _ten_thousandths(PLAN.price_per_sms)
    per_mb, setup = _ten_thousandths(PLAN.price_per_mb), _ten_thousandths(PLAN.setup_fee)
    voice_left, sms_left = PLAN.voice_bundle_minutes * 60, PLAN.sms_bundle
    data_left = PLAN.data_bundle_mb * 1024
    total = 0
    for _when, _ref, call_type, destination, duration, volume in sorted(rows):
        tariff = None
        for length in lengths:
            tariff = tariffs.get((destination[:length], call_type))
            if tariff is not None:
                break
        if tariff is not None:
            total += tariff[1] + tariff[0] * duration // 60 if call_type == "voice" else tariff[0]
        elif call_type == "voice":
            used = min(duration, voice_left)
            voice_left -= used
            total += setup + per_minute * (duration - used) // 60
        elif call_type == "sms":
            if sms_left:
                sms_left -= 1
            else:
                total += per_sms
        else:
            used = min(volume, data_left)
            data_left -= used
            total += per_mb * (volume - used) // 1024
    return total


def floor_timed(cdrs: list[RatableCdr], runs: int = 25) -> tuple[float, float]:
    rows = [(c.call_date.astimezone(UTC).isoformat(), c.provider_ref, c.call_type.value, c.destination,
             c.duration_s, c.volume_kb) for c in cdrs]
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        floor_rate(rows)
        timings.append(time.perf_counter() - began)
    timings.sort()
    return timings[0] * 1000, timings[len(timings) // 2] * 1000


def fast_timed(cdrs: list[RatableCdr], runs: int = 25) -> tuple[float, float]:
    """Best and median ms of the integer fast path (`core.rating.fast`, what the totals rate with)
    on the same CDRs as the raw rows `core.raw_store` reads (call dates as stored, UTC text)."""
    fast = compile_plan(PLAN)
    assert fast is not None
    rows = [(c.cdr_id, 1, c.call_date.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"), c.call_type.value,
             c.destination, c.duration_s, c.volume_kb, _ten_thousandths(c.provider_cost), None) for c in cdrs]
    ref_of = {c.cdr_id: c.provider_ref for c in cdrs}  # what core.raw_store.provider_refs reads for calls of one moment

    def refs(ids: Sequence[int]) -> dict[int, str]:
        return {i: ref_of[i] for i in ids}

    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        assert rate_rows(fast, 1, rows, refs) is not None
        timings.append(time.perf_counter() - began)
    timings.sort()
    return timings[0] * 1000, timings[len(timings) // 2] * 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(machine())
    floor_best, floor_median = floor_timed(make_cdrs(count))
    print(f"floor (integer loop over {count} tuples): best {floor_best:.1f} ms, median {floor_median:.1f} ms")
    best, median = fast_timed(make_cdrs(count))
    print(f"{count} CDRs, shuffled, the integer fast path (core.rating.fast: bundles, charges and totals too): "
          f"best {best:.1f} ms, median {median:.1f} ms | best against the floor's best {best / floor_best:.1f}x")
    print("the Decimal engine (the reference):")
    for zone in (UTC, TZ):
        shuffled = make_cdrs(count, zone)
        in_order = sorted(shuffled, key=lambda cdr: (cdr.call_date, cdr.provider_ref))
        for order, cdrs in (("shuffled", shuffled), ("in call_date order", in_order)):
            best, median = timed(cdrs)
            print(
                f"{count} CDRs, {order}, call_date in {zone}: "
                f"best {best:.1f} ms, median {median:.1f} ms | best against the floor's best {best / floor_best:.1f}x"
            )


if __name__ == "__main__":
    main()
