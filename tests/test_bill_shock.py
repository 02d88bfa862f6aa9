"""Bill-shock caps on data roaming outside the EU/EEA (issue 17.4), against a real SMTP peer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core.bus import Bus, default_registry, run_until_idle
from core.bus.deps import HandlerDeps
from core.db import Database
from core.imports import import_cdrs
from core.insights import list_insights
from core.models import Customer, Subscription
from core.models.billing import Notification
from core.rating.caps import cap_status
from core.security.secrets import SecretBox
from core.setup import apply_setup
from core.totals import totals_version
from core.workflows import load_all
from core.workflows.totals import dispatch_totals
from providers.csvformat import parse_cdr_csv
from tests.factories import HEADER, write_cdrs
from tests.test_mail import Inbox, smtp_server, with_smtp  # noqa: F401  (the SMTP fixture)

load_all()
NUMBER = "+31610000001"
NOV = date(2026, 11, 1)
MB = 1024

SETUP = f"""
[[roaming_zone]]
name = "world1"
countries = ["US", "CH"]

[[rate_plan]]
name = "Travel"
monthly_fee = 20
data_bundle_mb = 1024
  [[rate_plan.roaming]]
  zone = "world1"
  data_per_mb = 0.50

[[customer]]
code = "TRAVEL"
name = "Travel B.V."
email = "finance@travel.test"
language = "en"
roaming_data_cap = 50
  [[customer.subscription]]
  number = "{NUMBER}"
  rate_plan = "Travel"
"""


def test_levels_by_hand() -> None:
    # €50 cap: €39.99 is below 80 %; €40.00 is 80 %; €50.00 is 100 %; a cap of 0 is none.
    assert cap_status(Decimal("39.99"), Decimal("50")) is None
    at_80 = cap_status(Decimal("40.00"), Decimal("50"))
    assert at_80 is not None and (at_80.levels, at_80.percent) == ((80,), Decimal("80.0"))
    over = cap_status(Decimal("55.00"), Decimal("50"))
    assert over is not None and (over.levels, over.beyond) == ((80, 100), Decimal("5.00"))
    assert cap_status(Decimal("1000"), Decimal("0")) is None


def test_80_and_100_percent_notices_are_sent_once_each(
        db: Database, tmp_path: Path, smtp_server: Inbox) -> None:  # noqa: F811
    settings = with_smtp(tmp_path, smtp_server.port)
    apply_setup(db, SETUP, secrets=SecretBox(SecretBox.generate_key()), operator="alice")
    with db.reader() as s:
        customer_id = s.scalars(select(Customer.id).where(Customer.code == "TRAVEL")).one()
        sub_id = s.scalars(select(Subscription.id).where(Subscription.number == NUMBER)).one()
    bus = Bus(db, default_registry, deps=HandlerDeps(settings))

    def roam(name: str, rows: list[tuple[str, str, int]]) -> dict[str, Decimal]:
        """Import data sessions (ref, country, MB) and recalculate; the cycle's totals."""
        path = write_cdrs(tmp_path / f"{name}.csv", [
            (ref, NUMBER, f"2026-11-{day:02d}T10:00:00+01:00", "data", "", 0, mb * MB, "0.01", "1", country)
            for day, (ref, country, mb) in enumerate(rows, start=3)], header=(*HEADER, "roaming", "visited_country"))
        with path.open("rb") as handle:
            import_cdrs(db, parse_cdr_csv(handle), provider="kpn_sp16", source=str(path))
        dispatch_totals(bus, customer_id, NOV)
        run_until_idle(bus)
        return {r.call_type: r.rated_amount for r in totals_version(db, customer_id, NOV)}

    def notices() -> list[str]:
        return [" ".join(str(m["Subject"]).split()) for m in smtp_server.messages]  # unfolded

    # 500 MB in Germany is roam like at home (from the bundle) and never counts towards the
    # cap; 80 MB in the US at 0.50/MB = €40.00 = 80 % of €50: one notice.
    assert roam("first", [("de", "DE", 500), ("us1", "US", 80)])["data"] == Decimal("40.0000")
    assert notices() == [f"Roaming: 80% of your data limit outside the EU reached for {NUMBER}"]
    assert smtp_server.envelopes[0][1] == ["finance@travel.test"]
    body = smtp_server.messages[0].get_payload(decode=True).decode()
    assert "€40.00" in body and "€50.00" in body

    # A recalculation with nothing new sends nothing again.
    roam("again", [])
    assert len(notices()) == 1

    # 20 MB more: €50.00 = 100 %: the 100 % notice, once; the 80 % one is not repeated.
    assert roam("second", [("us2", "US", 20)])["data"] == Decimal("50.0000")
    assert notices()[1:] == [f"Roaming: 100% of your data limit outside the EU reached for {NUMBER}"]

    # 10 MB beyond the cap is still rated (€55.00) and flagged; no third notice.
    assert roam("third", [("us3", "CH", 10)])["data"] == Decimal("55.0000")
    assert len(notices()) == 2
    with db.reader() as s:
        flagged = [i.message for i in list_insights(s, customer_id, NOV) if i.kind == "bill_shock"]
        sent = s.scalars(select(Notification.key).where(Notification.kind == "bill_shock")
                         .order_by(Notification.key)).all()
    assert flagged == [f"{NUMBER}: data roaming outside the EU/EEA € 55.00 of the € 50.00 cap (110.0%); "
                       "cap reached, € 5.00 beyond it is still rated (the provider enforces the block)"]
    assert sent == [f"{customer_id}:2026-11-01:{sub_id}:100", f"{customer_id}:2026-11-01:{sub_id}:80"]


@pytest.mark.parametrize("cap", ["0", "100"])
def test_no_notice_below_the_level_or_without_a_cap(
        db: Database, tmp_path: Path, smtp_server: Inbox, cap: str) -> None:  # noqa: F811
    settings = with_smtp(tmp_path, smtp_server.port)
    apply_setup(db, SETUP.replace("roaming_data_cap = 50", f"roaming_data_cap = {cap}"),
                secrets=SecretBox(SecretBox.generate_key()), operator="alice")
    with db.reader() as s:
        customer_id = s.scalars(select(Customer.id).where(Customer.code == "TRAVEL")).one()
    path = write_cdrs(tmp_path / "us.csv", [("us", NUMBER, "2026-11-03T10:00:00+01:00", "data", "", 0,
                                             100 * MB, "0.01", "1", "US")],
                      header=(*HEADER, "roaming", "visited_country"))
    with path.open("rb") as handle:
        import_cdrs(db, parse_cdr_csv(handle), provider="kpn_sp16", source=str(path))
    bus = Bus(db, default_registry, deps=HandlerDeps(settings))
    dispatch_totals(bus, customer_id, NOV)
    run_until_idle(bus)
    # 100 MB × 0.50 = €50.00: 50 % of a €100 cap, and no cap at all at 0: no notice.
    assert smtp_server.messages == []
