"""Incoming calls (`voice_in`, issue 17.6) in every place that lists call kinds: the Excel
export's sheets and totals, the usage and cost-centre reports, the console's Totals
screen, and the usage-spike insight."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from core.billing.lines import UsageTotal
from core.db import Database
from core.exports.excel import ExportCdr, write_customer_excel
from core.exports.reports import subscription_usage
from core.insights import USAGE_MEASURE
from core.models import Customer
from core.security.secrets import SecretBox
from core.setup import apply_setup
from expensis_tui.screens.totals import usage
from tests.test_roaming_setup import NOV, NUMBER, SETUP, box, import_and_total  # noqa: F401  (fixture)

START = datetime(2026, 11, 4, 11, 0)


def call(call_type: str, seconds: int, amount: str) -> ExportCdr:
    return ExportCdr(number=NUMBER, call_date=START + timedelta(minutes=seconds), call_type=call_type,
                     destination="+31201234567", duration_s=seconds, volume_kb=0,
                     provider_cost=Decimal("0.0100"), rated_amount=Decimal(amount), cost_centre=None)


def test_incoming_calls_have_their_own_sheet_and_total(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    cdrs = [call("voice", 90, "1.6000"), call("voice_in", 61, "0.4000"), call("voice_in", 30, "0.2000")]
    totals = [UsageTotal(NUMBER, "voice", 1, 90, 0, Decimal("1.6000")),
              UsageTotal(NUMBER, "voice_in", 2, 91, 0, Decimal("0.6000"))]
    assert write_customer_excel(path, title="x", cdrs=cdrs, totals=totals) == 3
    book = load_workbook(path)
    assert book.sheetnames == ["Totalen", "Bellen", "Inkomend"]
    # a call has a duration, not a volume
    assert [c.value for c in book["Inkomend"][1]] == [
        "Nummer", "Datum", "Bestemming", "Duur", "Inkoop", "Bedrag", "Kostenplaats"]
    assert book["Inkomend"]["D2"].value == timedelta(seconds=61)
    summary = [[c.value for c in row] for row in book["Totalen"].iter_rows(min_row=7)]
    # incoming: 2 calls, 61 + 30 = 91 s, 0.40 + 0.20 = 0.60; all: 1.60 + 0.60 = 2.20
    assert summary[0][:3] == ["Totaal bellen", "voice", 1]
    assert summary[1][:4] == ["Totaal inkomend", "voice_in", 2, timedelta(seconds=91)]
    assert summary[2][0] == "Totaal" and Decimal(repr(summary[2][5])) == Decimal("2.2")
    english = tmp_path / "en.xlsx"
    write_customer_excel(english, title="x", cdrs=cdrs, totals=[], language="en")
    assert load_workbook(english).sheetnames == ["Totals", "Voice", "Incoming"]


def test_incoming_minutes_in_the_usage_report(db: Database, box: SecretBox,  # noqa: F811
                                             tmp_path: Path) -> None:
    apply_setup(db, SETUP, secrets=box, operator="alice")
    customer_id = import_and_total(db, tmp_path, [
        # 61 s incoming in the US = 1.02 min (61 / 60 = 1.0167); 120 s out at home = 2.00 min.
        ("us-in", "2026-11-04T11:00:00+01:00", "voice_in", "+31201234567", 61, 0, "0.10", "1", "US"),
        ("home", "2026-11-05T11:00:00+01:00", "voice", "+31201234567", 120, 0, "0.02", "0", ""),
    ])
    with db.reader() as s:
        customer = s.get_one(Customer, customer_id)
    [line] = subscription_usage(db, customer, NOV)
    assert (line.voice_minutes, line.incoming_minutes) == (Decimal("2.00"), Decimal("1.02"))


def test_the_totals_screen_and_the_spike_insight_measure_incoming_calls_in_time() -> None:
    assert usage("voice_in", 2, 91, 0) == "1:31 min"
    assert USAGE_MEASURE["voice_in"] == ("duration_s", "s")
