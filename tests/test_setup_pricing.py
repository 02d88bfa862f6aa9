"""Rate plan pricing written in the setup file reaches the totals (issues 17 and 13.7).

Each test applies a setup file, imports CDRs and recalculates totals, on SQLite and
MariaDB; every amount is worked out by hand in a comment.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core.bus import Bus, run_until_idle
from core.bus.command import default_registry
from core.db import Database
from core.imports import import_cdrs
from core.models import Customer, Subscription
from core.security.secrets import SecretBox
from core.setup import SetupError, apply_setup, export_setup, parse_setup
from core.totals import totals_version
from core.workflows import load_all
from core.workflows.totals import dispatch_totals
from providers.csvformat import parse_cdr_csv
from tests.factories import write_cdrs

load_all()
NUMBER = "+31610000001"
OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)


def setup_file(plan: str, billing_day: int = 1) -> str:
    return f"""
[[rate_plan]]
name = "Per second"
monthly_fee = 10
{plan}

[[customer]]
code = "ACME"
name = "Acme"
billing_day = {billing_day}
  [[customer.subscription]]
  number = "{NUMBER}"
  rate_plan = "Per second"
"""


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(SecretBox.generate_key())


def apply(db: Database, text: str, box: SecretBox) -> None:
    apply_setup(db, text, secrets=box, operator="alice")


def usage_totals(db: Database, tmp_path: Path, rows: list[tuple[object, ...]],
                 cycle: date) -> dict[str, Decimal]:
    """Import ``rows`` (ref, date, type, destination, seconds, KB), total the cycle per call type."""
    path = write_cdrs(tmp_path / f"cdrs-{cycle}.csv", [
        (ref, NUMBER, when, kind, to, seconds, kb, "0.0000") for ref, when, kind, to, seconds, kb in rows])
    with path.open("rb") as handle:
        import_cdrs(db, parse_cdr_csv(handle), provider="kpn_sp16", source=str(path))
    with db.reader() as s:
        customer_id = s.scalars(select(Customer.id).where(Customer.code == "ACME")).one()
    bus = Bus(db, default_registry)
    dispatch_totals(bus, customer_id, cycle)
    run_until_idle(bus)
    return {r.call_type: r.rated_amount for r in totals_version(db, customer_id, cycle)}


def test_a_60_1_plan_with_a_minimum_charge_through_apply_and_totals(
        db: Database, box: SecretBox, tmp_path: Path) -> None:
    apply(db, setup_file('price_per_minute = 0.10\nvoice_increment = "60/1"\nminimum_charge = 0.15'),
          box)
    # 61 s on 60/1 at 0.10/min = 0.101666… → 0.1017, below the 0.15 minimum: 0.1500.
    # 125 s: 0.10 × 125/60 = 0.208333… → 0.2083. 5 s bills the first block, 60 s = 0.10 → 0.15.
    # Voice: 0.15 + 0.2083 + 0.15 = 0.5083; fee 10.0000.
    totals = usage_totals(db, tmp_path, [
        ("c1", "2026-10-05T09:00:00+02:00", "voice", "+31201234567", 61, 0),
        ("c2", "2026-10-05T10:00:00+02:00", "voice", "+31201234567", 125, 0),
        ("c3", "2026-10-05T11:00:00+02:00", "voice", "+31201234567", 5, 0),
    ], OCT)
    assert totals == {"voice": Decimal("0.5083"), "fee": Decimal("10.0000")}


def test_schemes_round_trip_through_export(db: Database, box: SecretBox) -> None:
    text = setup_file('voice_increment = "30/6"\n'
                      '  [[rate_plan.tariff]]\n  prefix = "+44"\n  call_type = "voice"\n'
                      '  price = 0.30\n  voice_increment = "60/60"\n  minimum_charge = 0.5\n')
    apply(db, text, box)
    exported = export_setup(db)
    assert 'voice_increment = "30/6"' in exported
    assert 'voice_increment = "60/60"' in exported
    assert "voice_increment_s" not in exported
    again = parse_setup(exported)
    assert again.rate_plans[0].values["voice_first_s"] == 30
    assert again.rate_plans[0].values["voice_increment_s"] == 6
    assert again.rate_plans[0].tariffs[0].values["minimum_charge"] == Decimal("0.5")


def test_the_rate_plan_list_shows_the_scheme(db: Database, box: SecretBox) -> None:
    from core.setup.queries import list_rate_plans

    apply(db, setup_file('voice_increment = "60/1"'), box)
    assert [r.voice_increment for r in list_rate_plans(db)] == ["60/1"]
    apply(db, setup_file("voice_increment_s = 30"), box)
    assert [r.voice_increment for r in list_rate_plans(db)] == ["30/30"]


def test_a_plain_increment_and_n_over_n_are_the_same_plan(db: Database, box: SecretBox) -> None:
    apply(db, setup_file("voice_increment_s = 30"), box)
    plain = export_setup(db)
    apply(db, setup_file('voice_increment = "30/30"'), box)
    assert export_setup(db) == plain
    assert "voice_increment_s = 30" in plain
    with db.reader() as s:
        assert s.scalars(select(Subscription.number)).one() == NUMBER


@pytest.mark.parametrize(("plan", "message"), [
    ('voice_increment = "60/1"\nvoice_increment_s = 60', "not both"),
    ('voice_increment = "60"', "not an increment scheme"),
    ('voice_increment = "60/0"', "at least 1 second"),
    ("voice_increment = 60", "expected a scheme"),
    ('  [[rate_plan.tariff]]\n  prefix = "+44"\n  call_type = "sms"\n  price = 0.3\n'
     '  voice_increment = "60/1"', "only voice tariffs"),
])
def test_bad_schemes_name_the_place(plan: str, message: str) -> None:
    with pytest.raises(SetupError, match=message) as caught:
        parse_setup(setup_file(plan))
    assert str(caught.value).startswith("rate_plan[0] (Per second).")


# -- prices with history (issue 13.7) --------------------------------------------------

PRICED = """price_per_minute = 0.10
  [[rate_plan.tariff]]
  prefix = "+44"
  call_type = "voice"
  price = 0.30
"""
CHANGE = """
  [[rate_plan.tariff]]
  prefix = "+44"
  call_type = "voice"
  price = 0.50
  valid_from = 2026-11-01
  [[rate_plan.price]]
  valid_from = 2026-11-01
  price_per_minute = 0.20
  monthly_fee = 12
"""
CALLS = [("national", "+31201234567", 60), ("uk", "+442079460000", 60)]


def calls_on(day: str) -> list[tuple[object, ...]]:
    return [(f"{name}-{day}", f"{day}T09:00:00+01:00", "voice", to, seconds, 0)
            for name, to, seconds in CALLS]


def test_a_price_change_from_november_keeps_october_and_prices_november(
        db: Database, box: SecretBox, tmp_path: Path) -> None:
    apply(db, setup_file(PRICED), box)
    # October at the old prices: 1 min × 0.10 + 1 min to +44 × 0.30 = 0.40; fee 10.
    assert usage_totals(db, tmp_path, calls_on("2026-10-20"), OCT) == {
        "voice": Decimal("0.4000"), "fee": Decimal("10.0000")}
    # The change is applied ahead of time (in October) and holds from 1 November.
    apply(db, setup_file(PRICED + CHANGE), box)
    # October recalculated keeps its prices: still 0.40 and 10.
    assert usage_totals(db, tmp_path, [], OCT) == {"voice": Decimal("0.4000"), "fee": Decimal("10.0000")}
    # November: 1 min × 0.20 + 1 min to +44 × 0.50 = 0.70; fee 12.
    assert usage_totals(db, tmp_path, calls_on("2026-11-03"), NOV) == {
        "voice": Decimal("0.7000"), "fee": Decimal("12.0000")}


def test_a_change_inside_a_cycle_prices_each_call_by_its_local_date(
        db: Database, box: SecretBox, tmp_path: Path) -> None:
    # Billing day 15: the cycle runs 15 October to 14 November, its bundle and fee are the
    # October version's (fee 10). Call 1 at 23:30 on 31 October in Amsterdam (22:30 UTC)
    # is at 0.10; call 2 at 00:30 on 1 November in Amsterdam (23:30 UTC on 31 October)
    # is at 0.20 — the customer's date, not UTC's. Voice = 0.10 + 0.20 = 0.30.
    apply(db, setup_file(PRICED + CHANGE, billing_day=15), box)
    totals = usage_totals(db, tmp_path, [
        ("late", "2026-10-31T22:30:00+00:00", "voice", "+31201234567", 60, 0),
        ("early", "2026-10-31T23:30:00+00:00", "voice", "+31201234567", 60, 0),
    ], date(2026, 10, 15))
    assert totals == {"voice": Decimal("0.3000"), "fee": Decimal("10.0000")}


def test_price_changes_round_trip_and_are_reported(db: Database, box: SecretBox) -> None:
    apply(db, setup_file(PRICED), box)
    report = apply_setup(db, setup_file(PRICED + CHANGE), secrets=box, operator="alice")
    assert "rate plan Per second: prices from 2026-11-01" in "\n".join(report.changes)
    exported = export_setup(db)
    assert "[[rate_plan.price]]\nvalid_from = 2026-11-01\nmonthly_fee = 12.0\n" in exported
    assert "valid_from = 2026-11-01" in exported.split("[[rate_plan.tariff]]")[2]
    apply(db, exported, box)
    assert export_setup(db) == exported
    # Removing the change from the file removes it.
    apply(db, setup_file(PRICED), box)
    assert "[[rate_plan.price]]" not in export_setup(db)


@pytest.mark.parametrize(("extra", "message"), [
    ("  [[rate_plan.price]]\n  price_per_minute = 0.2", "valid_from: missing"),
    ("  [[rate_plan.price]]\n  valid_from = 2026-11-01", "sets no price"),
    ("  [[rate_plan.price]]\n  valid_from = 2026-11-01\n  price_per_sms = 1\n"
     "  [[rate_plan.price]]\n  valid_from = 2026-11-01\n  price_per_mb = 1", "second price change"),
    ("  [[rate_plan.tariff]]\n  prefix = \"+44\"\n  call_type = \"voice\"\n  price = 0.1",
     "duplicate tariff \\+44 voice"),
    ("  [[rate_plan.price]]\n  valid_from = 2026-11-01\n  name = \"x\"", "unknown key"),
])
def test_bad_price_changes_name_the_place(extra: str, message: str) -> None:
    with pytest.raises(SetupError, match=message):
        parse_setup(setup_file(PRICED + extra))


# -- time bands (issue 17.2) -------------------------------------------------------------

BANDED = """price_per_minute = 0.10
price_per_sms = 0.05
  [[rate_plan.band]]
  name = "peak"
  days = "weekdays"
  start = "8:00"
  end = "19:00"
  price_per_minute = 0.30
  price_per_sms = 0.15
  [[rate_plan.band]]
  name = "sunday"
  days = ["sun"]
  start = "00:00"
  end = "24:00"
  price_per_minute = 0.02
"""


def test_peak_and_off_peak_through_apply_and_totals(db: Database, box: SecretBox, tmp_path: Path) -> None:
    apply(db, setup_file(BANDED), box)
    # Monday 2 November (Amsterdam, UTC+1): a 120 s call starting 18:59:30 is peak,
    # 2 min × 0.30 = 0.60 (priced by its start); a 60 s call at 19:00 off-peak, 0.10;
    # Sunday 1 November 12:00, 60 s: the sunday band, 0.02. Voice 0.72.
    # SMS at 18:30 peak 0.15, SMS on Sunday: no SMS price in the band, the plan's 0.05. SMS 0.20.
    totals = usage_totals(db, tmp_path, [
        ("p1", "2026-11-02T18:59:30+01:00", "voice", "+31201234567", 120, 0),
        ("o1", "2026-11-02T19:00:00+01:00", "voice", "+31201234567", 60, 0),
        ("s1", "2026-11-01T12:00:00+01:00", "voice", "+31201234567", 60, 0),
        ("p2", "2026-11-02T18:30:00+01:00", "sms", "+31612345678", 0, 0),
        ("s2", "2026-11-01T12:00:00+01:00", "sms", "+31612345678", 0, 0),
    ], NOV)
    assert totals == {"voice": Decimal("0.7200"), "sms": Decimal("0.2000"), "fee": Decimal("10.0000")}
    exported = export_setup(db)
    assert 'days = "weekdays"' in exported and 'days = [\n    "sun",\n]' in exported
    assert 'start = "08:00"' in exported
    apply(db, exported, box)
    assert export_setup(db) == exported


@pytest.mark.parametrize(("band", "message"), [
    ('name = "x"\n  days = "weekdays"\n  start = "19:00"\n  end = "08:00"', "not after start"),
    ('name = "x"\n  days = ["monday"]\n  start = "08:00"\n  end = "09:00"', "not a day name"),
    ('name = "x"\n  start = "08:00"\n  end = "09:00"', "days: missing"),
    ('name = "x"\n  days = "weekdays"\n  start = "25:00"\n  end = "26:00"', "not a time of day"),
    ('name = "x"\n  days = ["mon"]\n  start = "18:00"\n  end = "20:00"', "overlaps band 'peak'"),
])
def test_bad_bands_name_the_place(band: str, message: str) -> None:
    text = setup_file(BANDED + f"  [[rate_plan.band]]\n  {band}\n")
    with pytest.raises(SetupError, match=message) as caught:
        parse_setup(text)
    assert str(caught.value).startswith("rate_plan[0] (Per second).band[2]")
