"""Batch invoicing CSV (one row = one invoice) and the monthly ZIP. Amounts worked out by hand."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest

from core.billing.batch_csv import (
    BatchRow,
    BatchRowError,
    monthly_zip_name,
    parse_batch_csv,
    zip_monthly,
)
from core.billing.lines import InvoiceLine, VatRule
from core.billing.pdf import InvoiceDocument, Party, render_invoice_pdf

D = Decimal

BATCH = (
    "client_id;client_name;email;address;country;vat_number;description;quantity;unit_price;vat_rate;language\n"
    # line 2: 3 x 12.50 = 37.50; VAT 21 % = 7.875 -> 7.88 (half-up); total 45.38
    'acme;Acme B.V.;info@acme.nl;"Dorpsstraat 1|1234 AB Utrecht";NL;;Onderhoud november;3;12,50;21;nl\n'
    # line 3: 2.5 x 19.99 = 49.975 -> 49.98; VAT 9 % = 4.4982 -> 4.50; total 54.48
    "globex;Globex Ltd;;;NL;;Consultancy;2,5;19,99;9%;EN\n"
    # line 4: BE business, no rate given -> reverse charge: 1 x 100.00, no VAT, total 100.00
    "brussel-1;Bruxelles SA;;Rue Neuve 1;BE;BE0123456789;Licence;1;100;;en\n"
    "bad;Bad;not-an-email;;NL;;X;0;10;21;fr\n"  # line 5: three problems
    "../etc;Sneaky;;;NL;;X;1;10;21;nl\n"  # line 6: unsafe client id
    "short;Short row;;\n"  # line 7: missing columns
    "neg;Negative;;;NL;;X;1;-5;21;nl\n"  # line 8
    "rate;Rate;;;NL;;X;1;5;121;nl\n"  # line 9
    # line 10: explicit reverse charge
    "rc;RC GmbH;;;DE;DE123456789;Support;4;25;verlegd;nl\n"
)


def _parse(tmp_path: Path, text: str = BATCH) -> tuple[list[BatchRow], list[BatchRowError]]:
    path = tmp_path / "batch.csv"
    path.write_text(text, encoding="utf-8")
    results = list(parse_batch_csv(path))
    return (
        [r for r in results if isinstance(r, BatchRow)],
        [r for r in results if isinstance(r, BatchRowError)],
    )


def test_good_rows_and_their_amounts(tmp_path: Path) -> None:
    rows, _ = _parse(tmp_path)
    assert [row.line for row in rows] == [2, 3, 4, 10]
    acme, globex, brussels, rc = rows

    assert acme.client_id == "acme"
    assert acme.email == "info@acme.nl"
    assert acme.address_lines == ("Dorpsstraat 1", "1234 AB Utrecht")
    assert acme.invoice_line() == InvoiceLine(
        "Onderhoud november", D(3), "st.", D("12.50"), D("37.50")
    )
    amounts = acme.amounts()
    assert (amounts.subtotal, amounts.vat, amounts.total) == (D("37.50"), D("7.88"), D("45.38"))

    assert globex.language == "en"  # "EN" normalised
    assert globex.email is None
    assert globex.unit == "pcs"
    amounts = globex.amounts()
    assert (amounts.subtotal, amounts.vat, amounts.total) == (D("49.98"), D("4.50"), D("54.48"))
    assert amounts.vat_rate == D("9")

    assert brussels.vat_rate is None
    assert brussels.vat_rule() == VatRule(rate=D("0"), reverse_charge=True)
    amounts = brussels.amounts()
    assert (amounts.subtotal, amounts.vat, amounts.total) == (D("100.00"), D("0"), D("100.00"))

    # 4 x 25 = 100.00, reverse charge given explicitly
    assert rc.reverse_charge
    assert rc.amounts().total == D("100.00")


def test_bad_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    _, errors = _parse(tmp_path)
    assert [(e.line, e.reason) for e in errors] == [
        (
            5,
            "bad email 'not-an-email'; bad language 'fr': use nl or en; "
            "bad quantity '0': must be more than 0",
        ),
        (6, "bad client_id '../etc': letters, digits, '_', '-', '.' only"),
        (7, "missing column: 4 of 11 fields"),
        (8, "bad unit_price '-5': must not be negative"),
        (9, "bad vat_rate '121': must be between 0 and 100"),
    ]
    assert errors[2].raw == "short;Short row;;"


def test_minimal_columns_use_defaults(tmp_path: Path) -> None:
    text = 'client_id,client_name,description,quantity,unit_price\nc1,Klant,Werk,1,"80,00"\n'
    rows, errors = _parse(tmp_path, text)
    assert errors == []
    (row,) = rows
    assert (row.language, row.country, row.unit, row.vat_rate) == ("nl", "NL", "st.", None)
    # Dutch customer, no rate given: 21 % of 80.00 = 16.80; total 96.80
    assert row.amounts().total == D("96.80")


def test_header_missing_a_required_column(tmp_path: Path) -> None:
    _, errors = _parse(tmp_path, "client_id;client_name;description;quantity\nx;y;z;1\n")
    assert [(e.line, e.reason) for e in errors] == [(1, "header is missing column(s): unit_price")]


def test_fingerprints_distinguish_repeated_rows(tmp_path: Path) -> None:
    text = (
        "client_id;client_name;description;quantity;unit_price\n"
        "c1;Klant;Werk;1;10\nc1;Klant;Werk;1;10\nc2;Ander;Werk;1;10\n"
    )
    rows, _ = _parse(tmp_path, text)
    again, _ = _parse(tmp_path, text)
    assert len({row.fingerprint for row in rows}) == 3
    assert [row.fingerprint for row in rows] == [row.fingerprint for row in again]


def _pdf_for(row: BatchRow, number: str) -> bytes:
    issuer = Party("Batch Service B.V.", ("Straat 1", "Amsterdam"), "NL001234567B01", None)
    customer = Party(
        row.client_name, row.address_lines, row.vat_number, row.email, country=row.country
    )
    return render_invoice_pdf(
        InvoiceDocument(
            number=number,
            kind="invoice",
            issue_date=date(2026, 11, 15),
            due_date=date(2026, 11, 29),
            period_label="november 2026",
            issuer=issuer,
            customer=customer,
            language="en" if row.language == "en" else "nl",
            amounts=row.amounts(),
            payment_terms_days=14,
            test_mode=False,
        )
    )


def test_rows_render_and_zip_per_month(tmp_path: Path) -> None:
    rows, _ = _parse(tmp_path)
    pdfs = [(f"2026-{i:05d}.pdf", _pdf_for(row, f"2026-{i:05d}")) for i, row in enumerate(rows, 1)]
    name = monthly_zip_name("acme", 2026, 11)
    assert name == "acme_2026-11.zip"
    target = zip_monthly(pdfs, tmp_path / "downloads" / name)
    assert target == tmp_path / "downloads" / "acme_2026-11.zip"

    with zipfile.ZipFile(target) as archive:
        assert archive.namelist() == [name for name, _ in pdfs]
        first = archive.read("2026-00001.pdf")
    text = " ".join(pypdf.PdfReader(io.BytesIO(first)).pages[0].extract_text().split())
    assert "Onderhoud november 3 st. € 12,50 € 37,50" in text
    assert "Totaal € 45,38" in text  # worked out in BATCH, line 2

    # the same PDFs give the same archive bytes
    again = zip_monthly(pdfs, tmp_path / "again.zip")
    assert again.read_bytes() == target.read_bytes()
    stamped = zip_monthly(pdfs, tmp_path / "stamped.zip", modified=datetime(2026, 11, 15, 6))
    with zipfile.ZipFile(stamped) as archive:
        assert archive.getinfo("2026-00001.pdf").date_time == (2026, 11, 15, 6, 0, 0)


@pytest.mark.parametrize("name", ["../x.pdf", "dir/x.pdf", "", "..", "a\\b.pdf"])
def test_zip_refuses_paths(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="bad file name"):
        zip_monthly([("ok.pdf", b"%PDF-"), (name, b"%PDF-")], tmp_path / "m.zip")
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left behind


def test_zip_refuses_duplicates_and_keeps_the_old_archive(tmp_path: Path) -> None:
    target = zip_monthly([("a.pdf", b"old")], tmp_path / "m.zip")
    with pytest.raises(ValueError, match="duplicate"):
        zip_monthly([("a.pdf", b"1"), ("a.pdf", b"2")], target)
    with zipfile.ZipFile(target) as archive:
        assert archive.read("a.pdf") == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.zip"]


def test_monthly_zip_name_refuses_unsafe_client_ids() -> None:
    with pytest.raises(ValueError):
        monthly_zip_name("../acme", 2026, 11)
