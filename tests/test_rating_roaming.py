"""Issue 17.3: roaming zones, the EU/EEA built in, worked by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.rating import CallType, RatableCdr, RatePlan, rate_subscription_cycle
from core.rating.roaming import RoamingPrice

AMS = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=AMS)
D = Decimal
VOICE, SMS, DATA, VOICE_IN = CallType.VOICE, CallType.SMS, CallType.DATA, CallType.VOICE_IN
MB = 1024
WORLD1 = RoamingPrice("world1", frozenset({"CH", "US", "GB"}), voice_out_per_min=D("0.80"),
                      voice_in_per_min=D("0.20"), sms_per_message=D("0.25"), data_per_mb=D("0.50"))
WORLD2 = RoamingPrice("world2", frozenset({"JP", "AU"}), voice_out_per_min=D("1.50"),
                      voice_in_per_min=D("0.10"), sms_per_message=D("0.40"), data_per_mb=D("1.00"),
                      voice_first_s=30, voice_increment_s=1)


def plan(**fields: object) -> RatePlan:
    values: dict[str, object] = {"name": "Travel", "monthly_fee": D("20"), "voice_bundle_minutes": 100,
                                 "sms_bundle": 10, "data_bundle_mb": 2048, "price_per_minute": D("0.10"),
                                 "price_per_sms": D("0.05"), "price_per_mb": D("0.05"),
                                 "roaming": (WORLD1, WORLD2)}
    values.update(fields)
    return RatePlan(**values)  # type: ignore[arg-type]


def cdr(cdr_id: int, kind: CallType, country: str | None, *, seconds: int = 0, kb: int = 0) -> RatableCdr:
    """``country`` None: at home; "": roaming, country unknown."""
    return RatableCdr(cdr_id, T0 + timedelta(minutes=cdr_id), f"R{cdr_id}", kind,
                      "" if kind is DATA else "+31201234567", seconds, kb, D("0"),
                      roaming=country is not None, visited_country=country or "")


def rate(rate_plan: RatePlan, *cdrs: RatableCdr) -> list[tuple[int, Decimal, str]]:
    return [(r.bundle_used, r.rated_amount, r.zone) for r in rate_subscription_cycle(rate_plan, cdrs).rated]


def test_eu_roaming_is_rated_as_at_home_from_the_bundle() -> None:
    # 500 MB in Germany, a 2 min call in France and an SMS in Norway (EEA): all from the
    # bundles, as at home: 0.00 each, zone EU.
    assert rate(plan(), cdr(1, DATA, "DE", kb=500 * MB), cdr(2, VOICE, "FR", seconds=120),
                cdr(3, SMS, "NO")) == [(500 * MB, D("0"), "EU"), (120, D("0"), "EU"), (1, D("0"), "EU")]


def test_eu_data_beyond_fair_use_pays_the_surcharge_on_top() -> None:
    # Fair use 1 GB = 1024 MB of EU data per cycle, surcharge 0.0025/MB. 800 MB in Spain:
    # inside the bundle and fair use: 0. Then 400 MB in Italy: still from the bundle
    # (2048 MB), but 800 + 400 − 1024 = 176 MB beyond fair use: 176 × 0.0025 = 0.4400.
    # Data at home (300 MB) never counts towards fair use: 0.
    rate_plan = plan(eu_fair_use_gb=D("1"), eu_surcharge_per_mb=D("0.0025"))
    assert rate(rate_plan, cdr(1, DATA, "ES", kb=800 * MB), cdr(2, DATA, None, kb=300 * MB),
                cdr(3, DATA, "IT", kb=400 * MB)) == [
        (800 * MB, D("0"), "EU"), (300 * MB, D("0"), ""), (400 * MB, D("0.4400"), "EU")]


def test_200_mb_in_world1_at_0_50_per_mb() -> None:
    # Outside the EU the zone's price, outside the bundle (1 GB of bundle left unused):
    # 200 MB × 0.50 = 100.0000.
    assert rate(plan(), cdr(1, DATA, "US", kb=200 * MB)) == [(0, D("100.0000"), "world1")]


def test_an_incoming_call_in_the_us_is_billed_at_home_it_is_free() -> None:
    # world1 incoming 0.20/min, 60/60: 61 s → 120 s = 0.4000. The same call at home and in
    # Belgium costs nothing and takes nothing from the bundle.
    assert rate(plan(), cdr(1, VOICE_IN, "US", seconds=61), cdr(2, VOICE_IN, None, seconds=61),
                cdr(3, VOICE_IN, "BE", seconds=61)) == [
        (0, D("0.4000"), "world1"), (0, D("0"), ""), (0, D("0"), "EU")]


def test_outgoing_calls_and_sms_use_the_zone_scheme() -> None:
    # world2 voice 1.50/min on 30/1: 31 s → 31 s = 1.50 × 31/60 = 0.775 → 0.7750;
    # 10 s → 30 s = 0.7500. SMS in Japan 0.40. Call in Switzerland (world1, 60/60) 61 s
    # → 120 s × 0.80/min = 1.6000.
    assert rate(plan(), cdr(1, VOICE, "JP", seconds=31), cdr(2, VOICE, "JP", seconds=10),
                cdr(3, SMS, "JP"), cdr(4, VOICE, "CH", seconds=61)) == [
        (0, D("0.7750"), "world2"), (0, D("0.7500"), "world2"), (0, D("0.4000"), "world2"),
        (0, D("1.6000"), "world1")]


@pytest.mark.parametrize("country", ["", "ZZ", "BR"])
def test_a_roaming_cdr_without_a_known_zone_is_rated_at_the_most_expensive(country: str) -> None:
    # Unknown ("", a made-up code) or unpriced (Brazil): the most expensive zone per kind:
    # data world2 1.00/MB → 1 MB = 1.0000; voice out world2 1.50 on 30/1, 60 s = 1.5000;
    # incoming world1 0.20 (above world2's 0.10), 60/60, 60 s = 0.2000. Flagged "?".
    assert rate(plan(), cdr(1, DATA, country, kb=MB), cdr(2, VOICE, country, seconds=60),
                cdr(3, VOICE_IN, country, seconds=60)) == [
        (0, D("1.0000"), "?"), (0, D("1.5000"), "?"), (0, D("0.2000"), "?")]


def test_without_roaming_zones_an_unknown_country_is_at_home_but_flagged() -> None:
    assert rate(plan(roaming=()), cdr(1, DATA, "US", kb=MB)) == [(MB, D("0"), "?")]


def test_zones_are_checked() -> None:
    with pytest.raises(ValueError, match="EU/EEA"):
        RoamingPrice("bad", frozenset({"FR"}))
    with pytest.raises(ValueError, match="two roaming zones"):
        plan(roaming=(WORLD1, RoamingPrice("world3", frozenset({"US"}))))
