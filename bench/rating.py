"""Micro-benchmark: rate one subscription-cycle of 20,000 CDRs.

Run: .venv/bin/python bench/rating.py [number_of_cdrs]
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from core.rating import (
    CallType,
    DestinationTariff,
    RatableCdr,
    RatePlan,
    rate_subscription_cycle,
)

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


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    for zone in (UTC, TZ):
        shuffled = make_cdrs(count, zone)
        in_order = sorted(shuffled, key=lambda cdr: (cdr.call_date, cdr.provider_ref))
        for order, cdrs in (("shuffled", shuffled), ("in call_date order", in_order)):
            best, median = timed(cdrs)
            print(
                f"{count} CDRs, {order}, call_date in {zone}: "
                f"best {best:.1f} ms, median {median:.1f} ms"
            )


if __name__ == "__main__":
    main()
