"""Issue 10: random bytes and extreme values, through the CSV path and every adapter format.

Whatever a provider sends, no exception escapes the import, every input row is either
imported or quarantined (or a duplicate of one that was), and the counts add up with
what the database holds for the batch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.cdr_checks import CdrLimits
from core.db import Database
from core.imports import ImportResult, import_cdrs
from core.models import Cdr, CdrCorrection, ImportBatch, QuarantinedRow
from providers.base import ProviderCdr
from providers.csvformat import iter_csv_rows, parse_cdr_csv
from providers.listing import CsvBody, JsonRows
from providers.platforms import SPECS
from providers.records import CDR_FIELDS, cdrs_from_rows, encode_cdr
from tests.factories import make_setup

A = "+31610000001"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LIMITS = CdrLimits(clock=lambda: NOW)
FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

TROUBLE = [
    "9999-12-31T23:59:59+00:00", "0001-01-01", "0001-01-01T00:00:00+01:00", "31-12-9999 23:59:59",
    "00-00-0000 00:00", "1e400", "NaN", "-Infinity", "-0", "1" * 30, "9" * 5000, "0.00001",
    "99999999999999.99995", "1,5", "1.000,25", "100000000000000000000", "-1", "\x00", "a\x00b",
    "\u202e", "\ufeff", "", " ", "true", "Y", "MOC", "GPRS", A, "0031610000001", "+3161000000" + "1" * 40,
    10**20, -(10**20), 1e308, float("nan"), float("inf"), None, True, [], {},
]
EXTREMES = st.sampled_from(TROUBLE)
VALUES: st.SearchStrategy[Any] = st.one_of(EXTREMES, st.one_of(  # half of the values are known trouble
    st.text(max_size=40), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(), st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
))


def valid(ref: int) -> ProviderCdr:
    return ProviderCdr(f"r{ref}", A, datetime(2026, 11, 2, 9, 30, tzinfo=UTC), "voice", "+31201234567",
                       60, 0, Decimal("0.1234"))


@st.composite
def records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Our-named records: a valid CDR with some fields replaced by hostile values."""
    rows = []
    for n in range(draw(st.integers(min_value=1, max_value=8))):
        changes = draw(st.dictionaries(st.sampled_from(CDR_FIELDS), VALUES, max_size=4))
        rows.append({"ref": draw(st.integers(0, 5)) + 10 * n, **changes})
    return rows


def assert_counts_add_up(db: Database, result: ImportResult, sent: int) -> None:
    assert result.rows_read == sent
    assert result.imported + result.duplicates + result.quarantined + result.corrected == sent
    with db.reader() as s:
        batch = s.get_one(ImportBatch, result.batch_id)
        held = s.scalar(select(func.count()).select_from(Cdr).where(Cdr.import_batch_id == result.batch_id))
        quarantined = s.scalar(select(func.count()).select_from(QuarantinedRow)
                               .where(QuarantinedRow.import_batch_id == result.batch_id))
        corrections = s.execute(select(CdrCorrection.cdr_id, CdrCorrection.replaced_batch_id)
                                .where(CdrCorrection.import_batch_id == result.batch_id)
                                .order_by(CdrCorrection.id)).all()
    assert batch.status in ("completed", "failed")
    assert (batch.imported, batch.quarantined) == (result.imported, result.quarantined)
    assert len(corrections) == result.corrected  # each correction archived the version it replaced
    # A CDR corrected twice in one file, or imported and then corrected by a later line of it,
    # is one row of this batch: the batch holds what it inserted plus the CDRs of earlier
    # batches it corrected.
    first_replaced: dict[int, int] = {}
    for cdr_id, replaced_batch in corrections:
        first_replaced.setdefault(cdr_id, replaced_batch)
    from_earlier = sum(1 for batch_id in first_replaced.values() if batch_id != result.batch_id)
    assert held == result.imported + from_earlier and quarantined == result.quarantined


def run(db: Database, stream: Iterable[Any], provider: str) -> ImportResult:
    return import_cdrs(db, stream, provider=provider, source="fuzz", limits=LIMITS, batch_size=3)


def csv_lines(header: list[str], rows: list[list[str]], delimiter: str) -> list[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([value.replace("\n", " ").replace("\r", " ") for value in row])
    return [line.encode("utf-8", "surrogatepass") for line in buffer.getvalue().split("\n")[:-1]]


@pytest.fixture
def setup_db(sqlite_db: Database) -> Database:
    make_setup(sqlite_db)
    return sqlite_db


@FUZZ
@given(lines=st.lists(st.binary(max_size=120).map(lambda b: b"x" + b.replace(b"\n", b"")), max_size=8),
       data=records())
def test_generic_csv_random_bytes_and_values(setup_db: Database, lines: list[bytes],
                                             data: list[dict[str, Any]]) -> None:
    header = list(CDR_FIELDS)
    rows = []
    for record in data:
        wire = {k: str(v) for k, v in encode_cdr(valid(record["ref"]), SPECS["kpn_grip"].wire).items()}
        rows.append([str(record.get(name, wire[name])) for name in header])
    body = csv_lines(header, rows, ",") + lines
    result = run(setup_db, parse_cdr_csv(body), "csv_file")
    assert_counts_add_up(setup_db, result, len(body) - 1)


@FUZZ
@given(platform=st.sampled_from(sorted(SPECS)), data=records())
def test_every_adapter_format(setup_db: Database, platform: str, data: list[dict[str, Any]]) -> None:
    spec = SPECS[platform]
    names: Mapping[str, str] = spec.cdrs.fields
    encoded = []
    for record in data:
        wire = encode_cdr(valid(record["ref"]), spec.wire)
        encoded.append({ours: record.get(ours, wire[ours]) for ours in names})
    body = getattr(spec.cdrs.source, "body", None)
    if isinstance(body, CsvBody):
        header = [names[ours] for ours in names]
        lines = csv_lines(header, [[str(r[ours]) for ours in names] for r in encoded], body.delimiter)
        rows: Iterable[Any] = iter_csv_rows(lines, names, set(names) - {"roaming", "destination"},
                                            delimiter=body.delimiter)
    else:
        to_row = JsonRows(names)
        rows = (to_row(line, {names[ours]: value for ours, value in r.items()})
                for line, r in enumerate(encoded, 1))
    result = run(setup_db, cdrs_from_rows(rows, spec.wire), platform)
    assert_counts_add_up(setup_db, result, len(encoded))


@pytest.mark.parametrize("platform", sorted(SPECS))
def test_every_extreme_in_every_field_of_every_format(sqlite_db: Database, platform: str) -> None:
    """Not left to chance: each known-trouble value in each field, one row each, in one import."""
    make_setup(sqlite_db)
    spec = SPECS[platform]
    names = spec.cdrs.fields
    wire = encode_cdr(valid(0), spec.wire)
    encoded = [{**{ours: wire[ours] for ours in names}, "provider_ref": f"x{n}", field: value}
               for n, (field, value) in enumerate((f, v) for f in names for v in TROUBLE)]
    body = getattr(spec.cdrs.source, "body", None)
    if isinstance(body, CsvBody):
        lines = csv_lines([names[ours] for ours in names], [[str(r[ours]) for ours in names] for r in encoded],
                          body.delimiter)
        rows: Iterable[Any] = iter_csv_rows(lines, names, set(names) - {"roaming", "destination"},
                                            delimiter=body.delimiter)
    else:
        to_row = JsonRows(names)
        rows = (to_row(line, {names[ours]: value for ours, value in r.items()})
                for line, r in enumerate(encoded, 1))
    result = run(sqlite_db, cdrs_from_rows(rows, spec.wire), platform)
    assert_counts_add_up(sqlite_db, result, len(encoded))
    assert result.imported > 0 and result.quarantined > 0


@pytest.mark.parametrize("platform", sorted(SPECS))
def test_every_adapter_lands_a_valid_row(db: Database, platform: str) -> None:
    """The fuzz base record is valid on every wire: the properties above are not vacuous."""
    make_setup(db)
    spec = SPECS[platform]
    to_row = JsonRows(spec.cdrs.fields)
    record = {spec.cdrs.fields[ours]: value for ours, value in encode_cdr(valid(1), spec.wire).items()
              if ours in spec.cdrs.fields}
    result = run(db, cdrs_from_rows([to_row(1, record)], spec.wire), platform)
    assert (result.imported, result.quarantined) == (1, 0)
