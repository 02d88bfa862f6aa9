"""Roaming through the setup file, the CSV import, totals and insights (issue 17.3).

SQLite and MariaDB; every amount worked out by hand in a comment.
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
from core.insights import list_insights
from core.models import Cdr, CdrRating, Customer
from core.security.secrets import SecretBox
from core.setup import SetupError, apply_setup, export_setup, parse_setup
from core.totals import totals_version
from core.workflows import load_all
from core.workflows.totals import dispatch_totals
from providers.csvformat import parse_cdr_csv
from tests.factories import HEADER, write_cdrs

load_all()
NUMBER = "+31610000001"
NOV = date(2026, 11, 1)
MB = 1024

SETUP = f"""
[[roaming_zone]]
name = "world1"
countries = ["US", "CH"]

[[roaming_zone]]
name = "world2"
countries = ["JP"]

[[rate_plan]]
name = "Travel"
monthly_fee = 20
data_bundle_mb = 1024
price_per_mb = 0.05
eu_fair_use_gb = 5
eu_surcharge_per_mb = 0.0025
  [[rate_plan.roaming]]
  zone = "world1"
  voice_out_per_min = 0.80
  voice_in_per_min = 0.20
  sms_per_message = 0.25
  data_per_mb = 0.50
  voice_increment = "60/60"
  [[rate_plan.roaming]]
  zone = "world2"
  data_per_mb = 1.00
  voice_increment = "30/1"

[[customer]]
code = "TRAVEL"
name = "Travel B.V."
  [[customer.subscription]]
  number = "{NUMBER}"
  rate_plan = "Travel"
"""


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(SecretBox.generate_key())


def import_and_total(db: Database, tmp_path: Path, rows: list[tuple[object, ...]],
                     number: str = NUMBER) -> int:
    """Import `rows` (ref, date, type, destination, s, KB, cost, roaming, country) of `number`,
    total TRAVEL's November; the customer's id."""
    path = write_cdrs(tmp_path / "roaming.csv", [(*row[:1], number, *row[1:]) for row in rows],
                      header=(*HEADER, "roaming", "visited_country"))
    with path.open("rb") as handle:
        result = import_cdrs(db, parse_cdr_csv(handle), provider="kpn_sp16", source=str(path))
    assert result.quarantined == 0
    with db.reader() as s:
        customer_id = s.scalars(select(Customer.id).where(Customer.code == "TRAVEL")).one()
    bus = Bus(db, default_registry)
    dispatch_totals(bus, customer_id, NOV)
    run_until_idle(bus)
    return customer_id


def test_roaming_by_zone_through_import_totals_and_insights(db: Database, box: SecretBox,
                                                            tmp_path: Path) -> None:
    apply_setup(db, SETUP, secrets=box, operator="alice")
    customer_id = import_and_total(db, tmp_path, [
        # EU: 100 MB in Germany from the 1 GB bundle, as at home: 0.
        ("eu", "2026-11-03T10:00:00+01:00", "data", "", 0, 100 * MB, "0.10", "1", "de"),
        # world1: 200 MB in the US at 0.50/MB = 100.0000, outside the bundle.
        ("us-data", "2026-11-04T10:00:00+01:00", "data", "", 0, 200 * MB, "2.00", "1", "US"),
        # An incoming call in the US: 61 s on 60/60 = 2 min × 0.20 = 0.4000.
        ("us-in", "2026-11-04T11:00:00+01:00", "voice_in", "+31201234567", 61, 0, "0.10", "true", "US"),
        # Roaming without a country: the most expensive data zone, world2 1.00/MB: 1 MB = 1.0000.
        ("lost", "2026-11-05T10:00:00+01:00", "data", "", 0, MB, "0.01", "1", ""),
        # At home: 924 MB left in the bundle after the EU session, 100 MB: 0.
        ("home", "2026-11-06T10:00:00+01:00", "data", "", 0, 100 * MB, "0.01", "0", ""),
    ])
    totals = {r.call_type: r.rated_amount for r in totals_version(db, customer_id, NOV)}
    # data 0 + 100.00 + 1.00 + 0 = 101.0000; voice_in 0.4000; fee 20.
    assert totals == {"data": Decimal("101.0000"), "voice_in": Decimal("0.4000"),
                      "fee": Decimal("20.0000")}
    with db.reader() as s:
        zones = dict(s.execute(select(Cdr.provider_ref, CdrRating.zone)
                               .join(CdrRating, CdrRating.cdr_id == Cdr.id)).all())
        countries = dict(s.execute(select(Cdr.provider_ref, Cdr.visited_country)).all())
        insights = [(i.kind, i.message) for i in list_insights(s, customer_id, NOV)]
    assert zones == {"eu": "EU", "us-data": "world1", "us-in": "world1", "lost": "?", "home": None}
    assert countries["eu"] == "DE" and countries["home"] is None
    unknown = [message for kind, message in insights if kind == "roaming_unknown"]
    assert unknown == [f"{NUMBER}: 1 roaming CDR(s) without a known zone, rated at the most "
                       "expensive zone (€ 1.00): lost (no country)"]


def test_roaming_setup_round_trips(db: Database, box: SecretBox) -> None:
    apply_setup(db, SETUP, secrets=box, operator="alice")
    exported = export_setup(db)
    assert '[[roaming_zone]]\nname = "world1"\ncountries = [\n    "CH",\n    "US",\n]' in exported
    assert 'voice_increment = "30/1"' in exported and "eu_fair_use_gb = 5.0" in exported
    apply_setup(db, exported, secrets=box, operator="alice")
    assert export_setup(db) == exported


@pytest.mark.parametrize(("change", "message"), [
    (("countries = [\"US\", \"CH\"]", "countries = [\"US\", \"FR\"]"), "FR is in the built-in EU/EEA"),
    (("countries = [\"JP\"]", "countries = [\"JP\", \"US\"]"), "US is also in"),
    (("name = \"world2\"", "name = \"EU\""), "reserved"),
    (("countries = [\"JP\"]", "countries = [\"jp\"]"), "two-letter country code"),
    (("zone = \"world2\"", "zone = \"world1\""), "duplicate roaming zone"),
])
def test_bad_roaming_setup_names_the_place(change: tuple[str, str], message: str) -> None:
    with pytest.raises(SetupError, match=message):
        parse_setup(SETUP.replace(*change))


def test_a_plan_may_only_price_known_zones(db: Database, box: SecretBox) -> None:
    text = SETUP.replace('zone = "world2"', 'zone = "mars"')
    with pytest.raises(SetupError, match="unknown roaming zone 'mars'"):
        apply_setup(db, text, secrets=box, operator="alice")


def test_a_bad_visited_country_is_quarantined_and_its_neighbours_land(db: Database, box: SecretBox,
                                                                      tmp_path: Path) -> None:
    apply_setup(db, SETUP, secrets=box, operator="alice")
    path = write_cdrs(tmp_path / "bad.csv", [
        ("ok", NUMBER, "2026-11-03T10:00:00+01:00", "data", "", 0, MB, "0.01", "1", "ch"),
        ("bad", NUMBER, "2026-11-03T11:00:00+01:00", "data", "", 0, MB, "0.01", "1", "CHE"),
    ], header=(*HEADER, "roaming", "visited_country"))
    with path.open("rb") as handle:
        result = import_cdrs(db, parse_cdr_csv(handle), provider="kpn_sp16", source=str(path))
    assert (result.imported, result.quarantined) == (1, 1)
    with db.reader() as s:
        assert s.scalars(select(Cdr.visited_country)).all() == ["CH"]
