"""Batch invoicing from a client's CSV: one row is one invoice (docs/formats/batch-invoice-csv.md).

Parsing only: a good row becomes a BatchRow that knows its invoice line and
amounts, a bad row a BatchRowError with its line number. Numbering, rendering
and sending are the caller's; `zip_monthly` bundles the month's PDFs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from core.billing.i18n import LANGUAGES, t
from core.billing.lines import (
    InvoiceAmounts,
    InvoiceLine,
    VatRule,
    compute_amounts,
    round_cents,
    vat_rule_for,
)
from core.billing.payments_csv import CsvError, parse_decimal, read_csv_records
from core.month import Month

BATCH_COLUMNS: dict[str, tuple[str, ...]] = {
    "client_id": ("client_id",),
    "client_name": ("client_name",),
    "email": ("email",),
    "address": ("address",),
    "country": ("country",),
    "vat_number": ("vat_number",),
    "description": ("description",),
    "quantity": ("quantity",),
    "unit": ("unit",),
    "unit_price": ("unit_price",),
    "vat_rate": ("vat_rate",),
    "language": ("language",),
}
REQUIRED_BATCH_COLUMNS = ("client_id", "client_name", "description", "quantity", "unit_price")
_REVERSE_CHARGE_WORDS = frozenset({"reverse", "reverse_charge", "verlegd"})
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_COUNTRY = re.compile(r"[A-Za-z]{2}")


@dataclass(frozen=True)
class BatchRow:
    """One invoice to issue. `vat_rate` None means: decided by country and VAT number."""

    line: int
    client_id: str
    client_name: str
    email: str | None
    address_lines: tuple[str, ...]
    country: str
    vat_number: str | None
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat_rate: Decimal | None
    reverse_charge: bool
    language: str
    fingerprint: str  # sha256 of the normalised row: lets a re-run skip rows already invoiced

    def invoice_line(self) -> InvoiceLine:
        return InvoiceLine(
            description=self.description,
            quantity=self.quantity,
            unit=self.unit,
            unit_price=self.unit_price,
            amount=round_cents(self.quantity * self.unit_price),
        )

    def vat_rule(self, issuer_country: str = "NL") -> VatRule:
        if self.reverse_charge:
            return VatRule(rate=Decimal("0"), reverse_charge=True)
        if self.vat_rate is not None:
            return VatRule(rate=self.vat_rate)
        return vat_rule_for(self.country, self.vat_number, issuer_country)

    def amounts(self, issuer_country: str = "NL") -> InvoiceAmounts:
        return compute_amounts([self.invoice_line()], self.vat_rule(issuer_country))

    def to_json(self) -> str:
        """The row as stored with its invoice (Decimals as exact strings)."""
        return json.dumps({k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()},
                          ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BatchRow:
        data = json.loads(text)
        for name in ("quantity", "unit_price"):
            data[name] = Decimal(data[name])
        data["vat_rate"] = None if data["vat_rate"] is None else Decimal(data["vat_rate"])
        data["address_lines"] = tuple(data["address_lines"])
        return cls(**data)


@dataclass(frozen=True)
class BatchRowError:
    line: int
    reason: str
    raw: str


def parse_batch_csv(path: Path) -> Iterator[BatchRow | BatchRowError]:
    """Yield a BatchRow per good row and a BatchRowError per bad row, in file order."""
    seen: Counter[str] = Counter()
    for record in read_csv_records(path, BATCH_COLUMNS, REQUIRED_BATCH_COLUMNS):
        if isinstance(record, CsvError):
            yield BatchRowError(record.line, record.reason, record.raw)
            continue
        fields = record.fields
        normalised = "|".join(f"{name}={fields.get(name, '')}" for name in BATCH_COLUMNS)
        seen[normalised] += 1
        digest = hashlib.sha256(f"{normalised}|{seen[normalised]}".encode()).hexdigest()
        try:
            yield _row(record.line, fields, digest)
        except ValueError as exc:
            yield BatchRowError(record.line, str(exc), record.raw)


def _row(line: int, fields: Mapping[str, str], fingerprint: str) -> BatchRow:
    problems: list[str] = []

    def get(name: str) -> str:
        return fields.get(name, "").strip()

    client_id = get("client_id")
    if not _CLIENT_ID.fullmatch(client_id):
        problems.append(f"bad client_id {client_id!r}: letters, digits, '_', '-', '.' only")
    email = get("email") or None
    if email and not _EMAIL.fullmatch(email):
        problems.append(f"bad email {email!r}")
    country = (get("country") or "NL").upper()
    if not _COUNTRY.fullmatch(country):
        problems.append(f"bad country {country!r}: use a two-letter code")
    language = (get("language") or "nl").lower()
    if language not in LANGUAGES:
        problems.append(f"bad language {language!r}: use nl or en")
    description = get("description")
    if len(description) > 255:
        problems.append("description longer than 255 characters")

    quantity = _number(get("quantity"), "quantity", 4, problems)
    if quantity is not None and quantity <= 0:
        problems.append(f"bad quantity {get('quantity')!r}: must be more than 0")
    unit_price = _number(get("unit_price"), "unit_price", 4, problems)
    if unit_price is not None and unit_price < 0:
        problems.append(f"bad unit_price {get('unit_price')!r}: must not be negative")

    vat_text = get("vat_rate").rstrip("%").strip()
    reverse_charge = vat_text.lower() in _REVERSE_CHARGE_WORDS
    vat_rate = None
    if vat_text and not reverse_charge:
        vat_rate = _number(vat_text, "vat_rate", 2, problems)
        if vat_rate is not None and not 0 <= vat_rate <= 100:
            problems.append(f"bad vat_rate {vat_text!r}: must be between 0 and 100")

    if problems or quantity is None or unit_price is None:
        raise ValueError("; ".join(problems))
    address_lines = tuple(
        part.strip() for part in re.split(r"\r?\n|\|", get("address")) if part.strip()
    )
    return BatchRow(
        line=line,
        client_id=client_id,
        client_name=get("client_name"),
        email=email,
        address_lines=address_lines,
        country=country,
        vat_number=get("vat_number") or None,
        description=description,
        quantity=quantity,
        unit=get("unit") or t("unit_pieces", language),
        unit_price=unit_price,
        vat_rate=vat_rate,
        reverse_charge=reverse_charge,
        language=language,
        fingerprint=fingerprint,
    )


def _number(text: str, name: str, places: int, problems: list[str]) -> Decimal | None:
    try:
        return parse_decimal(text, max_places=places)
    except ValueError:
        problems.append(f"bad {name} {text!r}: a number with at most {places} decimals")
        return None


def monthly_zip_name(client_id: str, year: int, month: int) -> str:
    """File name of a client's monthly archive, e.g. "acme_2026-11.zip"."""
    if not _CLIENT_ID.fullmatch(client_id):
        raise ValueError(f"bad client_id {client_id!r}")
    return f"{client_id}_{Month(year, month)}.zip"


def zip_monthly(
    pdfs: Iterable[tuple[str, bytes]],
    zip_path: Path,
    *,
    modified: datetime | None = None,
) -> Path:
    """Write (file name, PDF bytes) pairs into one ZIP, atomically; returns `zip_path`.

    Names must be plain file names and unique. Entries carry `modified` as their
    time stamp (default 1980-01-01), so the same PDFs give the same archive bytes.
    """
    stamp = (modified or datetime(1980, 1, 1)).timetuple()[:6]
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{zip_path.name}.", dir=zip_path.parent)
    names: set[str] = set()
    try:
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w") as archive:
            for name, data in pdfs:
                if not name or name != Path(name).name or name in (".", "..") or "\\" in name:
                    raise ValueError(f"bad file name in archive: {name!r}")
                if name in names:
                    raise ValueError(f"duplicate file name in archive: {name!r}")
                names.add(name)
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)
        os.replace(tmp_name, zip_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return zip_path
