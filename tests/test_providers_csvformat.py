"""The generic CSV CDR format, number normalisation, and the csv_file platform."""

from __future__ import annotations

import gzip
from contextlib import closing
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from providers import BadRow, ProfileConnection, ProviderCdr, ProviderError, open_adapter
from providers.csvformat import REQUIRED_COLUMNS, MissingColumn, parse_cdr_csv
from providers.numbers import normalise_destination, normalise_number
from providers.records import RowError, Wire

HEADER = "provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost"
GOOD = "R1,0612345678,2025-01-15T10:30:00+01:00,voice,+3212345678,120,0,0.1400"


def _parse(*lines: str | bytes) -> list[ProviderCdr | BadRow]:
    return list(
        parse_cdr_csv(
            [HEADER.encode(), *[line.encode() if isinstance(line, str) else line for line in lines]]
        )
    )


def test_required_columns() -> None:
    assert tuple(HEADER.split(",")) == REQUIRED_COLUMNS


def test_a_good_row() -> None:
    (cdr,) = _parse(GOOD)
    assert cdr == ProviderCdr(
        provider_ref="R1",
        number="+31612345678",
        call_date=datetime(2025, 1, 15, 10, 30, tzinfo=timezone(timedelta(hours=1))),
        call_type="voice",
        destination="+3212345678",
        duration_s=120,
        volume_kb=0,
        provider_cost=Decimal("0.1400"),
        roaming=False,
    )


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("R2,0612345678,2025-01-15T10:30:00+01:00,fax,+32,0,0,0.01", "unknown call type 'fax'"),
        ("R3,0612345678,15/01/2025 10:30,voice,+32,10,0,0.01", "bad date '15/01/2025 10:30'"),
        ("R4,0612345678,2025-01-15T10:30:00,voice,+32,10,0,0.01", "no UTC offset"),
        ("R5,0612345678,2025-01-15T10:30:00+01:00,voice,+32,-5,0,0.01", "negative duration -5"),
        (
            "R6,0612345678,2025-01-15T10:30:00+01:00,voice,+32,10,0",
            "wrong column count: 7 instead of 8",
        ),
        ("R7,0612345678,2025-01-15T10:30:00+01:00,voice,+32,10,0,1,2.3x", "wrong column count"),
        ("R8,0612345678,2025-01-15T10:30:00+01:00,voice,+32,10,0,1.2.3", "bad amount '1.2.3'"),
        ("R9,0612345678,2025-01-15T10:30:00+01:00,voice,+32,10,0,NaN", "bad amount 'NaN'"),
        ("R10,garbage,2025-01-15T10:30:00+01:00,voice,+32,10,0,0.01", "bad number 'garbage'"),
        ("R11,0612345678,2025-01-15T10:30:00+01:00,voice,+32,1_000,0,0.01", "bad duration"),
        (",0612345678,2025-01-15T10:30:00+01:00,voice,+32,10,0,0.01", "missing provider_ref"),
    ],
)
def test_bad_rows_say_why(row: str, reason: str) -> None:
    (bad,) = _parse(row)
    assert isinstance(bad, BadRow)
    assert reason in bad.reason
    assert bad.line == 2 and bad.raw == row


def test_one_bad_byte_quarantines_one_row() -> None:
    broken = b"R2,0612345678,2025-01-15T10:30:00+01:00,voice,+32\xff\xfe,10,0,0.01"
    records = _parse(GOOD, broken, GOOD.replace("R1", "R3"))
    assert [type(record) for record in records] == [ProviderCdr, BadRow, ProviderCdr]
    bad = records[1]
    assert isinstance(bad, BadRow)
    assert bad.reason == "bad encoding (not UTF-8)" and bad.line == 3 and "\\xff" in bad.raw


def test_line_numbers_blank_lines_crlf_bom_quotes_and_text() -> None:
    lines = [
        "\ufeff" + HEADER + "\r\n",
        "\r\n",
        GOOD + "\r\n",
        'R2,"+31 6 1234 5678",2025-01-15T11:00:00Z,SMS,"Service, Inc",0,0,0.05\r\n',
        "R3,0612345678,2025-01-15T11:00:00+01:00,data,internet,0,2048,0.40\n",
    ]
    first, second, third = parse_cdr_csv(lines, start_line=10)
    assert isinstance(first, ProviderCdr) and isinstance(second, ProviderCdr)
    assert second.destination == "Service, Inc" and second.call_type == "sms"
    assert second.roaming is False  # no roaming column in the header: optional
    assert isinstance(third, ProviderCdr) and third.volume_kb == 2048
    (bad,) = parse_cdr_csv([HEADER, "", "x"], start_line=10)
    assert isinstance(bad, BadRow) and bad.line == 12


def test_the_optional_roaming_column() -> None:
    rows = [HEADER + ",roaming", GOOD + ",yes", GOOD + ",0", GOOD + ",perhaps"]
    records = list(parse_cdr_csv(rows))
    assert [getattr(record, "roaming", None) for record in records[:2]] == [True, False]
    assert isinstance(records[2], BadRow) and "yes/no" in records[2].reason


def test_a_missing_column_is_permanent() -> None:
    header = HEADER.replace(",provider_cost", "")
    with pytest.raises(MissingColumn) as raised:
        list(parse_cdr_csv([header, GOOD]))
    assert raised.value.column == "provider_cost"
    assert isinstance(raised.value, ProviderError) and not raised.value.transient


def test_header_names_are_case_insensitive() -> None:
    (cdr,) = parse_cdr_csv([HEADER.upper(), GOOD])
    assert isinstance(cdr, ProviderCdr)


@pytest.mark.parametrize(
    "raw",
    [
        "0612345678",
        "0031612345678",
        "+31 6 1234 5678",
        "+31 (0)6 12 34 56 78",
        "31612345678",
        "06-12345678",
        " +31612345678 ",
    ],
)
def test_dutch_numbers_normalise(raw: str) -> None:
    assert normalise_number(raw) == "+31612345678"


@pytest.mark.parametrize(
    "raw",
    [
        "garbage",
        "",
        "+",
        "061234567",
        "+31 6 1234 56789",
        "++31612345678",
        "+0612345678",
        "6123",
        "+١٢٣٤٥٦٧٨٩",
    ],
)
def test_garbage_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_number(raw)


def test_foreign_numbers_and_destinations() -> None:
    assert normalise_number("0032 470 12 34 56") == "+32470123456"
    assert normalise_number("+44 7700 900123") == "+447700900123"
    assert normalise_destination("internet") == "internet"
    assert normalise_destination("1200") == "1200"  # a short code stays as it is
    assert normalise_destination("020-1234567") == "+31201234567"


def test_dutch_wire_values() -> None:
    wire = Wire(decimal_comma=True, dutch_dates=True, true_false=("J", "N"))
    assert wire.parse_amount("1.234,56") == Decimal("1234.56")
    assert wire.parse_amount("0,0350") == Decimal("0.0350")
    with pytest.raises(RowError):
        wire.parse_amount("1,2.3")
    moment = wire.parse_datetime("30-03-2025 14:05:09")
    assert moment.utcoffset() == timedelta(hours=2)  # summer time began that night
    assert wire.parse_date("01-02-2024") == date(2024, 2, 1)
    assert wire.parse_bool("J") is True and wire.parse_bool("N") is False


# -- the csv_file platform --------------------------------------------------------


def _write(path: Path, *rows: str) -> None:
    text = "\n".join([HEADER, *rows]) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


def _conn(base_url: str) -> ProfileConnection:
    return ProfileConnection("csv_file", base_url, {}, "LOCAL")


def test_csv_file_from_a_directory(tmp_path: Path) -> None:
    _write(tmp_path / "cdrs-2025-01.csv", GOOD)
    _write(tmp_path / "cdrs-2025-01-late.csv.gz", GOOD.replace("R1", "R2"), "bad")
    _write(tmp_path / "cdrs-2025-02.csv", GOOD.replace("R1", "R3"))
    (tmp_path / "subscriptions.csv").write_text(
        "number,customer_ref,sim,imei,device_model,start_date,end_date,portation_date,plan_code\n"
        "0612345678,,8931000000000000001,356789012345678,Fairphone 5,2020-01-01,,2020-01-01,Z1\n"
    )
    with closing(open_adapter(_conn(str(tmp_path)))) as adapter:
        records = list(adapter.fetch_cdrs("2025-01"))
        (subscription,) = adapter.fetch_subscriptions("2025-01")
        assert adapter.fetch_invoice_total("2025-01") is None
    # in name order: "cdrs-2025-01-late.csv.gz" sorts before "cdrs-2025-01.csv"
    assert [getattr(record, "provider_ref", None) for record in records] == ["R2", None, "R1"]
    bad = records[1]
    assert isinstance(bad, BadRow) and bad.reason.startswith("cdrs-2025-01-late.csv.gz: ")
    assert subscription.number == "+31612345678" and subscription.customer_ref == "LOCAL"
    assert subscription.portation_date == date(2020, 1, 1)


def test_csv_file_from_a_file_url(tmp_path: Path) -> None:
    path = tmp_path / "my cdrs.csv"
    _write(path, GOOD)
    with closing(open_adapter(_conn(path.as_uri()))) as adapter:
        (cdr,) = adapter.fetch_cdrs("2025-01")
        assert list(adapter.fetch_subscriptions("2025-01")) == []
    assert isinstance(cdr, ProviderCdr)


def test_csv_file_that_is_not_there(tmp_path: Path) -> None:
    adapter = open_adapter(_conn(str(tmp_path / "nowhere")))
    with closing(adapter), pytest.raises(ProviderError):
        list(adapter.fetch_cdrs("2025-01"))
