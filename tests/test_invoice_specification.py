"""The usage specification (issue 13.2): an annex of the PDF and a sheet of the Excel export.

Every expected figure is worked out by hand in a comment.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pypdf
from sqlalchemy import select, update

from core.billing import invoices as inv
from core.billing.specification import SpecificationLine, SubscriptionUsage, build_specification
from core.db import Database
from core.exports.reports import write_cdr_excel
from core.models import Customer, Invoice
from core.setup import export_setup
from tests.factories import make_setup
from tests.test_invoices import billing_settings
from tests.test_totals import OCT, OCTOBER, import_rows

D = Decimal
A, B = "+31610000001", "+31610000002"


def usage(number: str, call_type: str, rated: str, *, explained: bool = True, count: int = 1,
          seconds: int = 0, kb: int = 0, inside: int = 0, charged: int = 0) -> SubscriptionUsage:
    return SubscriptionUsage(number, "Sales", call_type, count, seconds, kb, inside, charged, D(rated), explained)


def test_rows_per_subscription_and_call_type_with_quantities_in_units() -> None:
    rows = build_specification([
        # 722 s used (12.03 min); billed 600 s in the bundle (10 min) and 240 s beyond (4 min)
        usage(A, "voice", "2.6500", count=3, seconds=722, inside=600, charged=240),
        # 3072 KB = 3 MB; 1024 KB in the bundle, 2048 KB = 2 MB beyond
        usage(B, "data", "1.0000", kb=3072, inside=1024, charged=2048),
        usage(A, "sms", "0.1000", count=3, inside=2, charged=1),
    ], "nl")
    assert rows == [
        SpecificationLine(A, "Sales", "voice", 3, D("12.03"), D("10.00"), D("4.00"), "min", D("2.65")),
        SpecificationLine(A, "Sales", "sms", 3, D("3.00"), D("2.00"), D("1.00"), "st.", D("0.10")),
        SpecificationLine(B, "Sales", "data", 1, D("3.00"), D("1.00"), D("2.00"), "MB", D("1.00")),
    ]


def test_amounts_add_up_to_the_rounded_call_type_total_without_losing_a_cent() -> None:
    # Three subscriptions rated 0.0050 each: the invoice line is 0.0150 -> 0.02.
    # Running totals 0.0050, 0.0100, 0.0150 round to 0.01, 0.01, 0.02: shares 0.01, 0.00, 0.01.
    rows = build_specification([usage(n, "voice", "0.0050", seconds=5, charged=5)
                                for n in ("+31600000001", "+31600000002", "+31600000003")], "en")
    assert [row.amount for row in rows] == [D("0.01"), D("0.00"), D("0.01")]
    # Provider prices passed through are their own invoice line: their own running total.
    # Rated 0.0040 -> 0.00 passed through; the priced voice 0.0060 -> 0.01 on its own.
    rows = build_specification([usage(A, "voice", "0.0060", seconds=5, charged=5),
                                usage(B, "voice", "0.0040", explained=False, seconds=90)], "en")
    assert [(row.amount, row.beyond) for row in rows] == [(D("0.01"), D("0.08")), (D("0.00"), D("1.50"))]


def test_roaming_usage_is_specified_per_zone() -> None:
    from datetime import UTC, datetime, timedelta

    from core.billing.charges import explain_rating
    from core.billing.specification import usage_of
    from core.rating.engine import RatableCdr, rate_subscription_cycle
    from core.rating.plan import CallType, RatePlan
    from core.rating.roaming import RoamingPrice
    from core.totals import TotalRow

    plan = RatePlan(name="Roaming", monthly_fee=D("0"), data_bundle_mb=50, price_per_mb=D("0.05"),
                    roaming=(RoamingPrice("world1", frozenset({"CH"}), data_per_mb=D("0.50")),))
    at = datetime(2026, 10, 5, 9, tzinfo=UTC)
    cdrs = [RatableCdr(1, at, "r1", CallType.DATA, "", 0, 30 * 1024, D("0")),  # at home: 30 MB of the bundle
            RatableCdr(2, at + timedelta(hours=1), "r2", CallType.DATA, "", 0, 40 * 1024, D("0"), True, "DE"),
            RatableCdr(3, at + timedelta(hours=2), "r3", CallType.DATA, "", 0, 200 * 1024, D("0"), True, "CH")]
    rating = rate_subscription_cycle(plan, cdrs)
    charges = explain_rating(1, plan, cdrs, rating.rated)
    totals = rating.totals[CallType.DATA]
    row = TotalRow(1, "data", totals.count, 0, totals.volume_kb, D("0"), totals.rated_amount, totals.bundle_used)
    rows = build_specification(usage_of(A, "Sales", row, charges), "nl")
    # home: 30 MB from the bundle; EU (DE): 20 MB left in the bundle, 20 MB x 0.05 = 1.00;
    # world1 (CH): 200 MB x 0.50 = 100.00
    assert [(r.zone, r.count, r.usage, r.in_bundle, r.beyond, r.amount) for r in rows] == [
        ("", 1, D("30.00"), D("30.00"), D("0.00"), D("0.00")),
        ("EU", 1, D("40.00"), D("20.00"), D("20.00"), D("1.00")),
        ("world1", 1, D("200.00"), D("0.00"), D("200.00"), D("100.00")),
    ]


# -- from the database: the issued invoice carries its annex, the export its sheet ---------------

def issued(db: Database, tmp_path: Path, *, specification: bool) -> tuple[Invoice, Path]:
    ids = make_setup(db, starts=(date(2025, 1, 1), date(2026, 10, 17)))
    with db.transaction() as s:
        s.execute(update(Customer).values(specification=specification))
    import_rows(db, tmp_path, [*OCTOBER,
                               ("b1", B, "2026-10-20T09:00:00+02:00", "voice", "+31201234567", 90, 0, "0.0100"),
                               ("b2", B, "2026-10-21T09:00:00+02:00", "data", "", 0, 3072, "0.0040")])
    settings = billing_settings(tmp_path)
    with db.transaction() as s:
        outcome = inv.issue_in(s, ids["customer"], OCT, issue_date=date(2026, 11, 15), settings=settings)
    assert outcome.outcome == "issued"
    with db.reader() as s:
        invoice = s.get_one(Invoice, outcome.invoice_id)
        _ = invoice.lines, invoice.specification
        return invoice, Path(invoice.pdf_path or "")


def test_the_issued_invoice_carries_the_specification_and_the_pdf_its_annex(db: Database,
                                                                          tmp_path: Path) -> None:
    invoice, pdf_path = issued(db, tmp_path, specification=True)
    # plan "Business 10": 10 min, 2 SMS, 1 MB; 0.20/min, 0.10/SMS, 0.50/MB, +44 1.00 + 0.25 set-up.
    # A voice: 300 s + 300 s of 361 s (billed 420 s) in the bundle = 10 min; beyond 120 s + the
    #   +44 call's 120 s = 4 min; 0.40 + 2.00 + 0.25 = 2.65; used 300 + 361 + 61 = 722 s = 12.03 min.
    # A sms: 2 in the bundle, 1 at 0.10. A data: 2048 KB = 2 MB, 1 in the bundle, 1 x 0.50.
    # B voice: 90 s billed 120 s, in B's own bundle: 0.00. B data: 3 MB, 1 in, 2 x 0.50 = 1.00.
    assert [(r.subscription_number, r.cost_centre, r.call_type, r.count, r.usage, r.in_bundle, r.beyond,
             r.amount) for r in invoice.specification] == [
        (A, "Sales", "voice", 3, D("12.03"), D("10.00"), D("4.00"), D("2.65")),
        (A, "Sales", "sms", 3, D("3.00"), D("2.00"), D("1.00"), D("0.10")),
        (A, "Sales", "data", 1, D("2.00"), D("1.00"), D("1.00"), D("0.50")),
        (B, "Sales", "voice", 1, D("1.50"), D("2.00"), D("0.00"), D("0.00")),
        (B, "Sales", "data", 1, D("3.00"), D("1.00"), D("2.00"), D("1.00")),
    ]
    usage_lines = sum((line.amount for line in invoice.lines if not line.description.startswith("Abonnement")),
                      D(0))
    # 2.65 + 0.10 + 0.50 + 0.00 + 1.00 = 4.25, the usage lines of the invoice
    assert sum((r.amount for r in invoice.specification), D(0)) == usage_lines == D("4.25")

    pages = [" ".join((p.extract_text() or "").split()) for p in pypdf.PdfReader(io.BytesIO(pdf_path.read_bytes())).pages]
    annex = pages[-1]
    assert len(pages) == 2 and "Specificatie verbruik" in annex
    assert "+31610000001 Sales Bellen 3 12,03 min 10 4 € 2,65" in annex
    assert "Totaal verbruik € 4,25" in annex


def test_without_the_setting_there_is_no_annex(db: Database, tmp_path: Path) -> None:
    invoice, pdf_path = issued(db, tmp_path, specification=False)
    assert invoice.specification == []
    assert len(pypdf.PdfReader(io.BytesIO(pdf_path.read_bytes())).pages) == 1


def test_the_excel_export_has_a_specification_sheet(db: Database, tmp_path: Path) -> None:
    issued(db, tmp_path, specification=True)
    with db.reader() as s:
        customer = s.scalars(select(Customer)).one()
    path = tmp_path / "acme.xlsx"
    write_cdr_excel(db, customer, OCT, path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[:2] == ["Totalen", "Specificatie verbruik"]
    rows = list(book["Specificatie verbruik"].iter_rows(values_only=True))
    assert rows[0] == ("Nummer", "Kostenplaats", "Soort", "Zone", "Aantal", "Verbruik", "Eenheid", "In bundel",
                       "Buiten bundel", "Bedrag")
    assert rows[1][:3] == (A, "Sales", "Bellen") and rows[1][3] in ("", None)  # at home: no zone
    assert rows[1][4:] == (3, 12.03, "min", 10, 4, 2.65)
    assert rows[-1][0] == "Totaal verbruik" and rows[-1][-1] == 4.25


def test_the_setup_key_round_trips(db: Database) -> None:
    from core.security.secrets import SecretBox
    from core.setup import apply_setup

    box = SecretBox(SecretBox.generate_key())
    apply_setup(db, '[[customer]]\ncode = "ACME"\nname = "Acme"\nspecification = true\n', secrets=box,
                operator="alice")
    with db.reader() as s:
        assert s.scalars(select(Customer.specification)).one() is True
    exported = export_setup(db)
    assert "specification = true" in exported
    assert not apply_setup(db, exported, secrets=box, operator="alice").changed
