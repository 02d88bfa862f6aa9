"""Bank payments CSV: good rows parse, bad rows are reported with their line numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from core.billing.payments_csv import (
    PaymentRow,
    PaymentRowError,
    extract_invoice_number,
    extract_invoice_numbers,
    parse_decimal,
    parse_payments_csv,
)

D = Decimal


def _write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "bank.csv"
    path.write_bytes(text.encode(encoding))
    return path


def _parse(path: Path) -> tuple[list[PaymentRow], list[PaymentRowError]]:
    results = list(parse_payments_csv(path))
    rows = [r for r in results if isinstance(r, PaymentRow)]
    errors = [r for r in results if isinstance(r, PaymentRowError)]
    assert len(rows) + len(errors) == len(results)
    return rows, errors


DUTCH_EXPORT = (
    "Datum;Bedrag;Omschrijving;Tegenpartij\n"  # line 1
    "15-11-2026;1.493,21;Factuur 2026-00042 dank;Bakkerij De Korenschoof B.V.\n"  # 2
    "31-02-2026;12,50;Factuur 2026-00043;Jansen\n"  # 3: no such day
    "16-11-2026;12,5x;Factuur 2026-00044;Pietersen\n"  # 4: bad amount
    "\n"  # 5: blank, skipped
    "17-11-2026;99,00\n"  # 6: missing columns
    "2026-11-18;-25,00;Terugboeking;Bank\n"  # 7: ISO date, negative amount
    '18-11-2026;"1,234";ambigu;X\n'  # 8: one comma with three decimals: ambiguous
    "19/11/2026;€ 7,5;2026 00045;Klaassen\n"  # 9
    ";10,00;geen datum;Y\n"  # 10: empty date
)


def test_dutch_export_good_and_bad_rows(tmp_path: Path) -> None:
    rows, errors = _parse(_write(tmp_path, DUTCH_EXPORT))
    assert [(r.line, r.paid_on, r.amount, r.reference, r.counterparty) for r in rows] == [
        (2, date(2026, 11, 15), D("1493.21"), "Factuur 2026-00042 dank", "Bakkerij De Korenschoof B.V."),
        (7, date(2026, 11, 18), D("-25.00"), "Terugboeking", "Bank"),
        (9, date(2026, 11, 19), D("7.5"), "2026 00045", "Klaassen"),
    ]  # fmt: skip
    assert [(e.line, e.reason) for e in errors] == [
        (3, "bad date '31-02-2026': no such day"),
        (4, "bad amount '12,5x'"),
        (6, "missing column: 2 of 4 fields"),
        (8, "bad amount '1,234': more than 2 decimals"),
        (10, "empty field(s): date"),
    ]
    assert errors[1].raw == "16-11-2026;12,5x;Factuur 2026-00044;Pietersen"
    assert [extract_invoice_number(r.reference) for r in rows] == ["2026-00042", None, "2026-00045"]


def test_comma_delimited_with_dot_decimals_quotes_and_bom(tmp_path: Path) -> None:
    text = (
        "\ufeffdate,amount,reference,counterparty\r\n"
        '2026-11-15,"1,493.21","Invoice 2026-00042, thanks","Korenschoof, B.V."\r\n'
        "2026-11-16,12.50,TEST-2026-00003,Tester\r\n"
        '2026-11-17,3.00,"two\r\nlines",Multi\r\n'
        "2026-13-01,1.00,x,y\r\n"
    )
    rows, errors = _parse(_write(tmp_path, text))
    assert [(r.line, r.amount, r.reference, r.counterparty) for r in rows] == [
        (2, D("1493.21"), "Invoice 2026-00042, thanks", "Korenschoof, B.V."),
        (3, D("12.50"), "TEST-2026-00003", "Tester"),
        (4, D("3.00"), "two lines", "Multi"),  # whitespace squashed
    ]
    # the quoted line break makes row 4 span lines 4-5, so the bad row is on line 6
    assert [(e.line, e.reason) for e in errors] == [(6, "bad date '2026-13-01': no such day")]


def test_windows_1252_file(tmp_path: Path) -> None:
    text = "datum;bedrag;omschrijving;naam\n20261115;10,00;Café factuur 2026-00042;Müller\n"
    rows, errors = _parse(_write(tmp_path, text, encoding="cp1252"))
    assert errors == []
    assert (rows[0].paid_on, rows[0].reference, rows[0].counterparty) == (
        date(2026, 11, 15),
        "Café factuur 2026-00042",
        "Müller",
    )


def test_header_without_amount_column_is_one_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "date;reference;counterparty\n2026-11-15;x;y\n")
    assert list(parse_payments_csv(path)) == [
        PaymentRowError(1, "header is missing column(s): amount", "date;reference;counterparty")
    ]


def test_empty_file(tmp_path: Path) -> None:
    rows, errors = _parse(_write(tmp_path, "\n\n"))
    assert rows == []
    assert [e.reason for e in errors] == ["empty file: no header row"]


def test_fingerprints_make_reimport_idempotent(tmp_path: Path) -> None:
    first = (
        "date;amount;reference;counterparty\n"
        "2026-11-15;10,00;Factuur 2026-00042;Jansen\n"
        "2026-11-15;10,00;Factuur 2026-00042;Jansen\n"  # paid twice by mistake: two payments
        "2026-11-16;20,00;Factuur 2026-00043;Pietersen\n"
    )
    # The next month's export overlaps: same payments on other lines, other spacing and case,
    # comma delimiter and dot decimals.
    second = (
        "date,amount,reference,counterparty\n"
        "2026-11-16,20.00,factuur  2026-00043,PIETERSEN\n"
        "15-11-2026,10.00,Factuur 2026-00042,Jansen\n"
        "15-11-2026,10.00,Factuur 2026-00042,Jansen\n"
        "2026-11-20,30.00,Factuur 2026-00044,Klaassen\n"
    )
    rows_first, _ = _parse(_write(tmp_path, first))
    path_second = tmp_path / "second.csv"
    path_second.write_text(second, encoding="utf-8")
    rows_second, _ = _parse(path_second)
    first_prints = [r.fingerprint for r in rows_first]
    second_prints = [r.fingerprint for r in rows_second]
    assert len(set(first_prints)) == 3  # the duplicate transfer is not collapsed
    assert set(first_prints) < set(second_prints)
    new = [r for r in rows_second if r.fingerprint not in set(first_prints)]
    assert [(r.amount, r.counterparty) for r in new] == [(D("30.00"), "Klaassen")]
    assert all(len(p) == 64 for p in second_prints)
    # parsing the same file again gives the same fingerprints
    assert [r.fingerprint for r in _parse(path_second)[0]] == second_prints


@pytest.mark.parametrize(
    ("reference", "number"),
    [
        ("Factuur 2026-00042 dank", "2026-00042"),
        ("2026-00042", "2026-00042"),
        ("factuurnr2026-00042", "2026-00042"),
        ("Fact. 2026/00042", "2026-00042"),
        ("2026 00042", "2026-00042"),
        ("202600042", "2026-00042"),
        ("TEST-2026-00003", "TEST-2026-00003"),
        ("test 2026-00003 proef", "TEST-2026-00003"),
        ("2026-00042 en nogmaals 2026-00042", "2026-00042"),  # the same number twice is fine
        ("2026-00042 + 2026-00043", None),  # two invoices in one payment: matched by hand
        ("betaling 15-11-2026", None),
        ("2026-11-15", None),
        ("NL91ABNA0417164300", None),
        ("klantnummer 2026000421", None),  # ten digits: not an invoice number
        ("", None),
    ],
)
def test_extract_invoice_number(reference: str, number: str | None) -> None:
    assert extract_invoice_number(reference) == number


def test_extract_invoice_numbers_keeps_order() -> None:
    assert extract_invoice_numbers("2026-00043, 2026-00042 en 2026-00043") == [
        "2026-00043",
        "2026-00042",
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12,50", D("12.50")),
        ("12.50", D("12.50")),
        ("1.234,56", D("1234.56")),
        ("1,234.56", D("1234.56")),
        ("1.234.567", D("1234567")),
        ("-7", D("-7")),
        ("+7,10", D("7.10")),
        ("€ 1.234,56", D("1234.56")),
        ("EUR 3,00", D("3.00")),
        ("1 234,56", D("1234.56")),
    ],
)
def test_parse_decimal(text: str, value: Decimal) -> None:
    assert parse_decimal(text, max_places=2) == value


@pytest.mark.parametrize(
    "text", ["", "abc", "1,234", "1.2.3", "12,5,0", "1.234,56,7", "--1", "1e3"]
)
def test_parse_decimal_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="bad amount"):
        parse_decimal(text, max_places=2)
