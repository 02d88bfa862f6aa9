"""Batch invoicing: one CSV row → one numbered PDF, a monthly ZIP per client, re-runs safe."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from core.billing import invoices as inv
from core.billing.batch import run_batch
from core.config import SmtpSettings
from core.db import Database, ensure_schema
from core.models.billing import BatchInvoice
from tests.test_invoices import (
    ISSUE,
    OCT,
    billing_settings,
    cli,
    counter,
    pdf_text,
    simple_customer,
)
from tests.test_mail import start_server

D = Decimal
CSV = """client_id;client_name;email;address;country;vat_number;description;quantity;unit_price;vat_rate;language
acme;Acme B.V.;info@acme.nl;"Dorpsstraat 1|1234 AB Utrecht";NL;;Onderhoud november;3;12,50;21;nl
brussel-1;Bruxelles SA;;Rue Neuve 1;BE;BE0123456789;Licence;1;100;;en
acme;Acme B.V.;info@acme.nl;;NL;;Hosting;2;5;21;nl
bad id!;X;not-an-email;;NL;;Y;0;1;;fr
"""


def write_csv(tmp_path: Path, text: str = CSV) -> Path:
    path = tmp_path / "batch.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_each_row_becomes_a_numbered_invoice_with_its_pdf(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    result = run_batch(db, write_csv(tmp_path), settings=settings, issue_date=ISSUE, operator="alice")
    assert [(i.line, i.client_id, i.number, i.total) for i in result.issued] == [
        (2, "acme", "2026-B00001", "45.38"),  # 3 × 12.50 = 37.50; VAT 21 % = 7.875 → 7.88; 45.38
        (3, "brussel-1", "2026-B00002", "100.00"),  # BE business with VAT number: reverse charge
        (4, "acme", "2026-B00003", "12.10"),  # 2 × 5.00 = 10.00 + 2.10
    ]
    [error] = result.errors
    assert error.line == 5 and "bad client_id" in error.reason and "bad email" in error.reason
    assert counter(db, "batch") == 3 and counter(db, "live") == 0  # its own series

    first = settings.data_dir / "invoices_batch" / "acme" / "2026-B00001.pdf"
    text = pdf_text(first)
    for expected in ("2026-B00001", "Acme B.V.", "Onderhoud november", "€ 37,50", "€ 7,88", "€ 45,38"):
        assert expected in text, expected
    assert "VAT reverse charged" in pdf_text(settings.data_dir / "invoices_batch" / "brussel-1" / "2026-B00002.pdf")

    zips = {p.name: p for p in result.zips}
    assert sorted(zips) == ["acme_2026-11.zip", "brussel-1_2026-11.zip"]
    with zipfile.ZipFile(zips["acme_2026-11.zip"]) as archive:
        assert archive.namelist() == ["2026-B00001.pdf", "2026-B00003.pdf"]
        assert archive.read("2026-B00001.pdf") == first.read_bytes()


def test_running_the_file_again_issues_nothing_twice(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    path = write_csv(tmp_path)
    run_batch(db, path, settings=settings, issue_date=ISSUE, operator="alice")
    again = run_batch(db, path, settings=settings, issue_date=date(2026, 11, 20), operator="alice")
    assert (again.issued, again.skipped, len(again.errors)) == ([], 3, 1)
    next_month = run_batch(db, path, settings=settings, issue_date=date(2026, 12, 15), operator="alice")
    assert [i.number for i in next_month.issued] == ["2026-B00004", "2026-B00005", "2026-B00006"]
    with db.reader() as s:
        assert len(s.scalars(select(BatchInvoice)).all()) == 6


def test_batch_and_live_series_do_not_disturb_each_other(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    run_batch(db, write_csv(tmp_path), settings=settings, issue_date=ISSUE, operator="alice")
    customer = simple_customer(db, "LIVE")
    number = inv.finalize_invoice(db, inv.draft_invoice(db, customer, OCT, settings=settings),
                                  issue_date=ISSUE, settings=settings)
    assert number == "2026-00001"


def test_zips_are_mailed_once_and_only_on_the_invoice_day(db: Database, tmp_path: Path) -> None:
    controller, inbox = start_server()
    try:
        settings = replace(billing_settings(tmp_path),
                           smtp=SmtpSettings(host="127.0.0.1", port=inbox.port, sender="b@expensis.test"))
        path = write_csv(tmp_path)
        early = run_batch(db, path, settings=settings, issue_date=date(2026, 11, 14), operator="alice", send=True)
        assert early.mails == ["not sent: today (2026-11-14) is not the invoice day (the 15th)"]
        assert inbox.messages == []
        result = run_batch(db, path, settings=settings, issue_date=ISSUE, operator="alice", send=True)
        assert result.mails == ["acme: sent to info@acme.nl"]  # brussel-1 has no address
        [message] = inbox.messages
        [part] = [p for p in message.walk() if p.get_filename()]
        assert part.get_filename() == "acme_2026-11.zip"
        archive = zipfile.ZipFile(io.BytesIO(bytes(part.get_payload(decode=True))))  # type: ignore[arg-type]
        assert archive.namelist() == ["2026-B00001.pdf", "2026-B00003.pdf"]
        again = run_batch(db, path, settings=settings, issue_date=ISSUE, operator="alice", send=True)
        assert again.mails == ["acme: already sent for 2026-11"] and len(inbox.messages) == 1
    finally:
        controller.stop()


def test_cli_batch(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    db.dispose()
    path = write_csv(tmp_path)
    code, out, err = cli(data, "invoices", "batch", str(path), "--issue-date", "2026-11-15")
    assert code == 1  # the bad row is reported; the good ones were issued
    assert "3 invoice(s) issued, 0 already invoiced this month, 1 bad row(s)" in out
    assert "line 5: bad client_id" in err and "acme_2026-11.zip" in out
    code, out, _ = cli(data, "invoices", "batch", str(path), "--issue-date", "2026-11-15")
    assert "0 invoice(s) issued, 3 already invoiced this month" in out
    code, out, _ = cli(data, "revenues", "export", "--year", "2026", "--include-batch",
                       "-o", str(tmp_path / "r.csv"))
    assert code == 0 and "3 row(s)" in out
    assert "2026-B00002" in (tmp_path / "r.csv").read_text()


def test_a_lost_batch_pdf_is_rendered_again_from_its_row(db: Database, tmp_path: Path) -> None:
    from core.billing.batch import batch_pdf, build_monthly_zip

    settings = billing_settings(tmp_path)
    run_batch(db, write_csv(tmp_path), settings=settings, issue_date=ISSUE, operator="alice")
    first = settings.data_dir / "invoices_batch" / "acme" / "2026-B00001.pdf"
    original = pdf_text(first)
    first.unlink()  # a restore without the invoice archive, a slip of the hand
    zipped = build_monthly_zip(db, settings, "acme", "2026-11")
    assert first.is_file() and pdf_text(first) == original  # same number, lines and amounts
    with zipfile.ZipFile(zipped) as archive:
        assert archive.namelist() == ["2026-B00001.pdf", "2026-B00003.pdf"]

    second = settings.data_dir / "invoices_batch" / "brussel-1" / "2026-B00002.pdf"
    second.unlink()
    assert batch_pdf(db, "2026-B00002", settings) == second
    assert "VAT reverse charged" in pdf_text(second)


def test_a_batch_pdf_is_not_rendered_again_with_different_amounts(db: Database, tmp_path: Path) -> None:
    from core.billing.batch import batch_pdf

    settings = billing_settings(tmp_path)
    run_batch(db, write_csv(tmp_path), settings=settings, issue_date=ISSUE, operator="alice")
    path = settings.data_dir / "invoices_batch" / "brussel-1" / "2026-B00002.pdf"
    path.unlink()
    moved = replace(settings, issuer=replace(settings.issuer, country="BE"))  # BE to BE: VAT is due now
    with pytest.raises(inv.InvoiceError, match="not the € 100.00 issued"):
        batch_pdf(db, "2026-B00002", moved)
    assert not path.exists()
    with db.transaction() as s:
        s.execute(update(BatchInvoice).values(row_json=None))
    with pytest.raises(inv.InvoiceError, match="issued before rows were kept"):
        batch_pdf(db, "2026-B00002", settings)


def test_cli_batch_pdf(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    db.dispose()
    cli(data, "invoices", "batch", str(write_csv(tmp_path)), "--issue-date", "2026-11-15")
    pdf = data / "invoices_batch" / "acme" / "2026-B00003.pdf"
    pdf.unlink()
    code, out, _ = cli(data, "invoices", "batch-pdf", "2026-B00003")
    assert code == 0 and out.strip() == str(pdf) and pdf.is_file()
    code, _, err = cli(data, "invoices", "batch-pdf", "2026-B99999")
    assert code == 4 and "no batch invoice 2026-B99999" in err
