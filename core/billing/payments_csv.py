"""Import of a bank's payments export (CSV); the format is in docs/formats/payments-csv.md.

Parsing is tolerant of what Dutch banks produce (";" or "," delimiter, decimal
comma or dot, DD-MM-YYYY or ISO dates, UTF-8 or Windows-1252) and strict about
what would be silently wrong: an amount that could be read two ways is an
error, not a guess. Every bad row is reported with its line number; good rows
still come through. The CSV helpers here are shared with the batch importer.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path


@dataclass(frozen=True)
class PaymentRow:
    line: int
    paid_on: date
    amount: Decimal
    reference: str
    counterparty: str
    fingerprint: str  # sha256 hex of the normalised row: the key for an idempotent re-import


@dataclass(frozen=True)
class PaymentRowError:
    line: int
    reason: str
    raw: str


# Accepted header names per field (compared case-insensitively, spaces trimmed).
PAYMENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("date", "datum", "paid_on", "boekdatum", "transactiedatum"),
    "amount": ("amount", "bedrag"),
    "reference": ("reference", "omschrijving", "kenmerk", "description", "mededelingen"),
    "counterparty": ("counterparty", "tegenpartij", "naam", "name", "naam tegenpartij"),
}
_REQUIRED_PAYMENT_COLUMNS = ("date", "amount")


def parse_payments_csv(path: Path) -> Iterator[PaymentRow | PaymentRowError]:
    """Yield one PaymentRow per good row and one PaymentRowError per bad row, in file order."""
    seen: Counter[str] = Counter()
    for record in read_csv_records(path, PAYMENT_COLUMNS, _REQUIRED_PAYMENT_COLUMNS):
        if isinstance(record, CsvError):
            yield PaymentRowError(record.line, record.reason, record.raw)
            continue
        try:
            paid_on = parse_date(record.fields["date"])
            amount = parse_decimal(record.fields["amount"], max_places=2)
        except ValueError as exc:
            yield PaymentRowError(record.line, str(exc), record.raw)
            continue
        reference = _squash(record.fields.get("reference", ""))
        counterparty = _squash(record.fields.get("counterparty", ""))
        normalised = "|".join(
            (paid_on.isoformat(), f"{amount:.2f}", reference.casefold(), counterparty.casefold())
        )
        # Two identical transfers in one file are two payments: number the repeats.
        seen[normalised] += 1
        digest = hashlib.sha256(f"{normalised}|{seen[normalised]}".encode()).hexdigest()
        yield PaymentRow(record.line, paid_on, amount, reference, counterparty, digest)


# An invoice number as we issue it ("2026-00042", "TEST-2026-00003"); banks and payers
# sometimes replace the hyphen with a space, slash or dot, or drop it.
_INVOICE_NUMBER = re.compile(
    r"(?P<test>TEST[-\s]?)?(?<!\d)(?P<year>20\d\d)[-\s/.]?(?P<seq>\d{5})(?!\d)",
    re.IGNORECASE,
)


def extract_invoice_numbers(reference: str) -> list[str]:
    """Every distinct invoice number in `reference`, normalised, in order of appearance."""
    numbers: list[str] = []
    for match in _INVOICE_NUMBER.finditer(reference):
        prefix = "TEST-" if match["test"] else ""
        number = f"{prefix}{match['year']}-{match['seq']}"
        if number not in numbers:
            numbers.append(number)
    return numbers


def extract_invoice_number(reference: str) -> str | None:
    """The invoice number in a free-text reference ("Factuur 2026-00042 dank" -> "2026-00042").

    None when there is none, or when several different numbers appear: such a
    payment is matched by hand rather than guessed.
    """
    numbers = extract_invoice_numbers(reference)
    return numbers[0] if len(numbers) == 1 else None


# -- shared CSV reading ------------------------------------------------------------------


@dataclass(frozen=True)
class CsvRecord:
    line: int  # physical line number where the record starts (the header is line 1)
    fields: Mapping[str, str]  # canonical field name -> stripped text
    raw: str


@dataclass(frozen=True)
class CsvError:
    line: int
    reason: str
    raw: str


def read_csv_records(
    path: Path,
    columns: Mapping[str, Sequence[str]],
    required: Sequence[str],
) -> Iterator[CsvRecord | CsvError]:
    """Records of a headed CSV file, keyed by canonical column name.

    The delimiter (";" or ",") is taken from the header line. Blank lines are
    skipped. A header without a required column gives a single error on line 1
    and nothing else; a row with fewer fields than the header, or with a
    required field empty, is an error for that row.
    """
    data = path.read_bytes()
    if data.startswith(b"\x1f\x8b"):  # gzip: decoding it as text would report gibberish per line
        yield CsvError(1, f"compressed file: use `gunzip {path.name}` first", "")
        return
    text = decode_text(data)
    lines = text.splitlines(keepends=True)
    header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_index is None:
        yield CsvError(1, "empty file: no header row", "")
        return
    delimiter = detect_delimiter(lines[header_index])
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for line in lines[header_index:]:
            consumed.append(line)
            yield line

    reader = csv.reader(feed(), delimiter=delimiter, quotechar='"', strict=False)
    header = next(reader)
    header_raw = "".join(consumed).rstrip("\r\n")
    consumed.clear()
    positions, missing = _map_header(header, columns, required)
    if missing:
        reason = f"header is missing column(s): {', '.join(missing)}"
        yield CsvError(header_index + 1, reason, header_raw)
        return
    next_line = header_index + 2
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield CsvError(next_line, f"unreadable row: {exc}", "".join(consumed).rstrip("\r\n"))
            return
        line, raw = next_line, "".join(consumed).rstrip("\r\n")
        next_line += len(consumed)
        consumed.clear()
        if not any(value.strip() for value in values):
            continue
        if len(values) < len(header):
            yield CsvError(line, f"missing column: {len(values)} of {len(header)} fields", raw)
            continue
        fields = {name: values[index].strip() for name, index in positions.items()}
        empty = [name for name in required if not fields[name]]
        if empty:
            yield CsvError(line, f"empty field(s): {', '.join(empty)}", raw)
            continue
        yield CsvRecord(line, fields, raw)


def _map_header(
    header: Sequence[str], columns: Mapping[str, Sequence[str]], required: Sequence[str]
) -> tuple[dict[str, int], list[str]]:
    titles = [title.strip().lstrip("\ufeff").casefold() for title in header]
    positions: dict[str, int] = {}
    for name, aliases in columns.items():
        for alias in aliases:
            if alias.casefold() in titles:
                positions[name] = titles.index(alias.casefold())
                break
    missing = [name for name in required if name not in positions]
    return positions, missing


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM); failing that Windows-1252, which older bank exports use."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def detect_delimiter(header_line: str) -> str:
    """ ";" when the header line has more semicolons than commas, else ","."""
    return ";" if header_line.count(";") > header_line.count(",") else ","


_DATE_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DATE_DMY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")


def parse_date(text: str) -> date:
    """YYYY-MM-DD, DD-MM-YYYY (also with / or .) or YYYYMMDD; ValueError otherwise."""
    value = text.strip()
    if match := _DATE_ISO.fullmatch(value):
        year, month, day = match.groups()
    elif match := _DATE_DMY.fullmatch(value):
        day, month, year = match.groups()
    elif match := _DATE_COMPACT.fullmatch(value):
        year, month, day = match.groups()
    else:
        raise ValueError(f"bad date {value!r}: use YYYY-MM-DD or DD-MM-YYYY")
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"bad date {value!r}: no such day") from None


_NUMBER = re.compile(r"[+-]?(\d+|\d{1,3}([.,]\d{3})+)([.,]\d+)?")


def parse_decimal(text: str, *, max_places: int) -> Decimal:
    """A decimal with comma or dot, optional thousands separators, "€"/"EUR" and sign.

    With both separators the last one is the decimal mark ("1.234,56", "1,234.56").
    A lone separator is the decimal mark ("12,50", "12.50"), unless it repeats
    ("1.234.567"). More than `max_places` decimals is an error, which also turns
    an ambiguous "1,234" into an error instead of a wrong amount.
    """
    value = text.strip().replace("€", "").replace("\u00a0", "").replace(" ", "")
    if value[:3].upper() == "EUR":
        value = value[3:]
    if not _NUMBER.fullmatch(value):
        raise ValueError(f"bad amount {text.strip()!r}")
    last_dot, last_comma = value.rfind("."), value.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal_mark = "." if last_dot > last_comma else ","
    elif last_dot >= 0 or last_comma >= 0:
        mark = "." if last_dot >= 0 else ","
        decimal_mark = mark if value.count(mark) == 1 else ""
    else:
        decimal_mark = ""
    if decimal_mark and value.count(decimal_mark) > 1:
        raise ValueError(f"bad amount {text.strip()!r}")
    thousands = {".", ","} - {decimal_mark}
    digits = "".join(char for char in value if char not in thousands)
    if decimal_mark:
        digits = digits.replace(decimal_mark, ".")
    try:
        number = Decimal(digits)
    except InvalidOperation:
        raise ValueError(f"bad amount {text.strip()!r}") from None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > max_places:
        raise ValueError(f"bad amount {text.strip()!r}: more than {max_places} decimals")
    return number


def _squash(text: str) -> str:
    return " ".join(text.split())
