"""Issue 14.2: the CSV import's positional fast path (core/import_rows.py) stores exactly what
the general path (a dict and a ProviderCdr per row) stores, and quarantines the same lines
with the same reasons, for random and hostile files.

Each example imports the same file twice into one database: through `parse_cdr_csv` as it
is (the fast path) under one provider name, and through a plain iterator over the same
records (the general path) under another. The two providers' tables must stay equal,
example after example (so duplicates and corrections across files are compared too).
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from core.cdr_checks import CdrLimits
from core.db import Database
from core.imports import ImportResult, import_cdrs
from core.models import Cdr, CdrCorrection, Customer, ImportBatch, QuarantinedRow, Subscription
from providers import records as provider_records
from providers.base import BadRow, ProviderCdr
from providers.csvformat import parse_cdr_csv
from providers.records import CDR_FIELDS
from tests.factories import make_setup

A, B, C, D = "+31610000001", "+31610000002", "+31610000003", "+31610000004"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LIMITS = CdrLimits(clock=lambda: NOW)
FAST, GENERAL = "csv_file", "kpn_grip"

VALUES: dict[str, list[str]] = {
    "provider_ref": ["r1", "r2", "r3", " r1", "r2 ", "", " ", "x" * 80, "y" * 81, "r\x00", "ré", "\u2003r3",
                     'q"1', "a,b"],
    "number": [A, B, C, D, "+31610000005", "0610000001", " +31610000002", "", "+3161000000a", "31610000001",
               "0031610000001", "06 1000 0003", "112", "+31 6 1000 0001"],
    "call_date": ["2026-11-02T09:30:00+00:00", "2026-11-02T09:30:00Z", "2026-11-02T10:30:00+01:00",
                  "2026-11-02 09:30:00+00:00", "2026-11-02T09:30:00", "2026-11-02T09:30:00.123456+00:00",
                  "1999-12-31T23:59:59+00:00", "2000-01-01T00:00:00+00:00", "2026-11-30T12:00:00+00:00",
                  "2026-11-30T12:00:01+00:00", "2026-W45-1T09:30:00+00:00", " 2026-11-02T09:30:00+00:00",
                  "2026-11-09T23:30:00+00:00", "2026-11-14T23:30:00-05:00", "2026-11-15T04:59:59+00:00",
                  "2026-11-15T05:00:00+00:00", "2026-10-31T23:30:00-01:00", "2026-11-02T09:30+00:00",
                  "2026-11-02T15:00:00+05:30", "2026-11-01T00:20:00+00:30", "2026-11-30T23:59:59+13:00",
                  "2026-11-01T00:59:59+01:00", "2026-11-01T01:00:00+01:00", "2026-11-01T00:30:00-00:00",
                  "20261102T093000+0000", "2026-13-02T09:30:00+00:00", "02-11-2026 09:30:00", ""],
    "call_type": ["voice", "sms", "data", "voice_in", "Voice", "VOICE", " voice", "fax", "", "DATA "],
    "destination": ["+31201234567", "", "internet", "0201234567", " +31201234567", "1" * 40, "+44 20 7123 4567",
                    "112", "+3120123456789012345678901234567890", " ", "x\x7f", "d" * 32, "d" * 33],
    "duration_s": ["0", "60", "007", "-1", " 5", "", "2147483647", "2147483648", "2678400", "2678401", "\u0663",
                   "1.5", "+5"],
    "volume_kb": ["0", "1024", "-3", "", "2147483647", "2147483648", " 7", "\u00b2"],
    "provider_cost": ["0.1234", "0", "5", "1000", "1000.0000", "1000.0001", "999.9999", "0.12345", "0.12340",
                      "-0.5", ".5", "5.", "1e3", "NaN", " 0.1", "0,5", "\u0663.1", "00.1000", "", "-0",
                      "1,000.5"],
    "roaming": ["", "0", "1", "true", "false", "TRUE", "yes", "Ja", "maybe", " 1", "N"],
    "visited_country": ["", "CH", "ch", "Ch", "C", "CHE", "1A", " CH", "\u00c4B", "de"],
}
# values the fast path takes as they are (most rows), a row's few hostile changes come from VALUES
PLAIN: dict[str, list[str]] = {
    "provider_ref": ["r1", "r2", "r3", "r4"], "number": [A, B, C, D],
    # active for every number but the last two (A ends on the 27th, B starts on the 10th, Amsterdam time);
    # C's customer is billed on the 15th in New York: 04:59:59 UTC is still the 14th there; D's in
    # Kolkata (+05:30) on the 15th too: its midnight falls within the UTC hour 18:00-19:00
    "call_date": ["2026-11-14T23:30:00+00:00", "2026-11-15T04:59:59+00:00", "2026-11-15T05:00:00+00:00",
                  "2026-11-14T18:29:59+00:00", "2026-11-14T18:30:00+00:00", "2026-11-14T18:00:00+00:00",
                  "2026-11-27T22:59:59+00:00", "2026-11-12T08:00:00+00:00", "2026-11-27T23:00:00+00:00",
                  "2026-11-09T22:59:59+00:00",
                  # the same moments as providers write them, in local time with an offset
                  "2026-11-14T23:59:59-05:00", "2026-11-15T00:00:00-05:00", "2026-11-15T00:29:59+05:30",
                  "2026-11-27T23:59:59+01:00", "2026-11-28T00:00:00+01:00", "2026-11-15T00:00:00+01:00"],
    "call_type": ["voice", "sms", "data", "voice_in"], "destination": ["+31201234567", "", "0201234567"],
    "duration_s": ["0", "60", "2678400"], "volume_kb": ["0", "1024"],
    "provider_cost": ["0.1234", "0", "5", "1000", "1.5"], "roaming": ["0", "1", "", "true"],
    "visited_country": ["", "CH", "de"],
}
FAST_PATH = settings(max_examples=120, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def hostile(name: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(VALUES[name]), st.sampled_from(VALUES[name]), st.sampled_from(VALUES[name]),
                     st.text(max_size=12).map(lambda text: text.replace("\n", " ").replace("\r", " ")))


@st.composite
def files(draw: st.DrawFn) -> tuple[list[bytes], bool]:
    """A CSV file as lines: shuffled columns, optional ones or not, hostile values and lines."""
    optional = draw(st.sets(st.sampled_from(["roaming", "visited_country"])))
    header = draw(st.permutations([name for name in CDR_FIELDS if name in CDR_FIELDS[:8] or name in optional]))
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(header)
    for _ in range(draw(st.integers(1, 20))):
        row = {name: draw(st.sampled_from(PLAIN[name])) for name in header}
        for name in draw(st.lists(st.sampled_from(header), max_size=2)):
            row[name] = draw(hostile(name))
        out.writerow([row[name] for name in header])
    lines = [line.encode("utf-8", "surrogatepass") for line in buffer.getvalue().split("\n")[:-1]]
    for _ in range(draw(st.integers(0, 3))):
        extra = draw(st.sampled_from([b"", b"   ", b"\r", b"x", b"\xff\xfe,1", b"a,b", b'"open', b"r9," * 40,
                                      b"," * (len(header) - 1), b"z" * 70_000]))
        lines.insert(draw(st.integers(1, len(lines))), extra)
    if draw(st.booleans()):
        lines = [line + b"\r" for line in lines]
    return lines, draw(st.booleans())


def as_stream(lines: list[bytes], buffered: bool) -> Any:
    """The lines as a list, or as a buffered binary file (the readline path)."""
    if buffered:
        return io.BufferedReader(io.BytesIO(b"\n".join(lines)))  # type: ignore[arg-type]
    return lines


def general(lines: list[bytes], buffered: bool) -> Iterator[ProviderCdr | BadRow]:
    """The same records, but not a CsvCdrs: the import takes them one by one."""
    yield from parse_cdr_csv(as_stream(lines, buffered))


def stored(db: Database, provider: str, batches: dict[int, int]) -> Any:
    with db.reader() as s:
        cdrs = s.execute(select(
            Cdr.provider_ref, Cdr.customer_id, Cdr.subscription_id, Cdr.import_batch_id, Cdr.number, Cdr.call_date,
            Cdr.cycle_start_date, Cdr.call_type, Cdr.destination, Cdr.duration_s, Cdr.volume_kb, Cdr.provider_cost,
            Cdr.roaming, Cdr.visited_country).where(Cdr.provider == provider).order_by(Cdr.id)).all()
        corrections = s.execute(select(
            Cdr.provider_ref, CdrCorrection.import_batch_id, CdrCorrection.replaced_batch_id, CdrCorrection.number,
            CdrCorrection.call_date, CdrCorrection.duration_s, CdrCorrection.provider_cost,
            CdrCorrection.cycle_start_date).join(Cdr, Cdr.id == CdrCorrection.cdr_id)
            .where(Cdr.provider == provider).order_by(CdrCorrection.id)).all()
        quarantined = s.execute(select(
            QuarantinedRow.import_batch_id, QuarantinedRow.line, QuarantinedRow.reason, QuarantinedRow.raw)
            .where(QuarantinedRow.provider == provider).order_by(QuarantinedRow.id)).all()

    def batch(value: object) -> object:
        return batches.get(value, value) if isinstance(value, int) else value

    return ([(*row[:3], batch(row[3]), *row[4:]) for row in cdrs],
            [(row[0], batch(row[1]), batch(row[2]), *row[3:]) for row in corrections],
            [(batch(row[0]), *row[1:]) for row in quarantined])


def outcome(result: ImportResult) -> tuple[Any, ...]:
    return (result.rows_read, result.imported, result.duplicates, result.quarantined, result.corrected,
            sorted(result.touched), result.provider_cost, result.error)


@pytest.fixture
def setup(db: Database) -> tuple[Database, dict[int, int]]:
    make_setup(db)  # A from 2025, B from 2026-11-10; both billed on the 1st, Amsterdam
    make_setup(db, code="EAST", numbers=(C,), billing_day=15, partner=None)
    make_setup(db, code="KOLKATA", numbers=(D,), billing_day=15, partner=None)
    with db.transaction() as s:
        s.execute(update(Subscription).where(Subscription.number == B).values(start_date=date(2026, 11, 10)))
        s.execute(update(Subscription).where(Subscription.number == A).values(end_date=date(2026, 11, 27)))
        s.execute(update(Customer).where(Customer.code == "EAST").values(time_zone="America/New_York"))
        s.execute(update(Customer).where(Customer.code == "KOLKATA").values(time_zone="Asia/Kolkata"))
    return db, {}


def assert_same(db: Database, batches: dict[int, int], lines: list[bytes], buffered: bool) -> None:
    """Import `lines` through both paths, each under its provider; both must leave the same."""
    outcomes = []
    for provider, records in ((FAST, parse_cdr_csv(as_stream(lines, buffered))), (GENERAL, general(lines, buffered))):
        try:
            result = import_cdrs(db, records, provider=provider, source="fast-path", limits=LIMITS, batch_size=3)
            outcomes.append(outcome(result))
        except Exception as exc:  # noqa: BLE001 - a header the format refuses: both must refuse it alike
            outcomes.append((type(exc).__name__, str(exc)))
    assert outcomes[0] == outcomes[1]
    with db.reader() as s:
        general_batch, fast_batch = s.scalars(select(ImportBatch.id).order_by(ImportBatch.id.desc()).limit(2))
    batches[general_batch] = fast_batch  # the general path's batch stands for the fast path's one
    assert stored(db, FAST, {}) == stored(db, GENERAL, batches)


@pytest.mark.slow
@FAST_PATH
@given(file=files())
def test_fast_path_stores_and_quarantines_what_the_general_path_does(
        setup: tuple[Database, dict[int, int]], file: tuple[list[bytes], bool]) -> None:
    db, batches = setup
    assert_same(db, batches, *file)


@pytest.mark.parametrize("buffered", [False, True])
def test_every_listed_value_in_every_column(setup: tuple[Database, dict[int, int]], buffered: bool) -> None:
    """Each hostile value once, in an otherwise plain row, in one file (then the same file again:
    all duplicates), so every boundary is met whatever the random examples draw."""
    db, batches = setup
    header = list(CDR_FIELDS)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(header)
    for name in header:
        for number, text in enumerate(VALUES[name]):
            row = {field: PLAIN[field][0] for field in header} | {"provider_ref": f"{name}-{number}"}
            out.writerow([text if field == name else row[field] for field in header])
    lines = [line.encode() for line in buffer.getvalue().split("\n")[:-1]]
    assert_same(db, batches, lines, buffered)
    assert_same(db, batches, lines, buffered)


def test_a_clean_file_is_not_decoded_row_by_row(setup: tuple[Database, dict[int, int]],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is the one taken: no ProviderCdr per row for plain lines, the same rows stored."""
    db, _ = setup
    decoded: list[int] = []
    decode = provider_records.decode_cdr
    monkeypatch.setattr(provider_records, "decode_cdr",
                        lambda row, wire, line=0: decoded.append(line) or decode(row, wire, line))
    body = [b"provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost",
            b"f1,+31610000001,2026-11-02T09:30:00+00:00,voice,+31201234567,61,0,0.0500",
            b"f2,+31610000001,2026-11-02T10:30:00+01:00,data,,0,2048,1.5",
            b"f3,+31610000009,2026-11-02T09:30:00+00:00,sms,+31201234567,0,0,0.01"]
    result = import_cdrs(db, parse_cdr_csv(body), provider=FAST, source="clean", limits=LIMITS)
    assert (result.imported, result.quarantined, result.provider_cost) == (2, 1, Decimal("1.55"))
    assert decoded == [4]  # only the unknown number went the general way, for its reason
    with db.reader() as s:
        rows = s.execute(select(Cdr.provider_ref, Cdr.call_date, Cdr.provider_cost, Cdr.cycle_start_date)
                         .order_by(Cdr.provider_ref)).all()
        reason = s.scalar(select(QuarantinedRow.reason))
    assert rows == [("f1", datetime(2026, 11, 2, 9, 30, tzinfo=UTC), Decimal("0.0500"), date(2026, 11, 1)),
                    ("f2", datetime(2026, 11, 2, 9, 30, tzinfo=UTC), Decimal("1.5000"), date(2026, 11, 1))]
    assert reason == "unknown number +31610000009"


def test_a_stamp_with_an_offset_is_converted_once_per_hour_not_per_row(
        setup: tuple[Database, dict[int, int]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Providers write local time with its offset ("+02:00"): such a stamp is stored as the UTC
    hour its hour and offset make (looked up once per hour) with its own minutes and seconds; only
    an offset with minutes ("+05:30") is converted row by row."""
    import core.import_rows

    db, _ = setup
    converted: list[datetime] = []
    column_values = core.import_rows.column_values

    def counting(mysql: bool) -> tuple[Any, Any]:
        to_column, to_cost = column_values(mysql)
        return (lambda when: converted.append(when) or to_column(when)), to_cost

    monkeypatch.setattr(core.import_rows, "column_values", counting)
    body = [b"provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost",
            b"o1,+31610000001,2026-11-02T10:30:15+01:00,voice,,61,0,0.05",
            b"o2,+31610000001,2026-11-02T10:59:59+01:00,voice,,61,0,0.05",
            b"o3,+31610000001,2026-11-02T00:00:01-05:00,voice,,61,0,0.05",
            b"o4,+31610000001,2026-11-02T15:00:00+05:30,voice,,61,0,0.05"]
    result = import_cdrs(db, parse_cdr_csv(body), provider=FAST, source="offsets", limits=LIMITS)
    assert (result.imported, result.quarantined) == (4, 0)
    assert converted == [datetime(2026, 11, 2, 9, 30, tzinfo=UTC)]  # o4 alone
    with db.reader() as s:
        stored = s.execute(select(Cdr.provider_ref, Cdr.call_date).order_by(Cdr.provider_ref)).all()
    assert stored == [("o1", datetime(2026, 11, 2, 9, 30, 15, tzinfo=UTC)),
                      ("o2", datetime(2026, 11, 2, 9, 59, 59, tzinfo=UTC)),
                      ("o3", datetime(2026, 11, 2, 5, 0, 1, tzinfo=UTC)),
                      ("o4", datetime(2026, 11, 2, 9, 30, tzinfo=UTC))]


def test_a_subscription_deleted_during_the_import_stops_it_without_orphans(sqlite_db: Database) -> None:
    """SQLite's import connection checks the rows' parents once per batch, not per row: a
    subscription gone since the import looked it up fails the batch (nothing orphaned lands)."""
    from core.cdr_store import MissingParent
    from core.imports import SubscriptionIndex

    make_setup(sqlite_db)
    index = SubscriptionIndex(sqlite_db)  # B is known to the import from here on
    with sqlite_db.transaction() as s:
        s.execute(delete(Subscription).where(Subscription.number == B))
    body = [b"provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost",
            b"k1,+31610000001,2026-11-02T09:30:00+00:00,voice,+31201234567,60,0,0.01",
            b"k2,+31610000002,2026-11-12T09:30:00+00:00,voice,+31201234567,60,0,0.01"]
    with pytest.raises(MissingParent, match="subscription"):
        import_cdrs(sqlite_db, parse_cdr_csv(body), provider=FAST, source="gone", limits=LIMITS, index=index)
    with sqlite_db.reader() as s:
        assert s.scalars(select(Cdr.provider_ref)).all() == []
        assert s.scalar(select(ImportBatch.status)) == "failed"
    with sqlite_db.engine.connect() as conn:  # the pool's connections check foreign keys again
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_batch_is_written_in_chunks_and_committed_whole(sqlite_db: Database,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A CSV file's rows are written every CHUNK_ROWS (memory) but committed every batch_size (fewer
    commits): progress and the batch's counters move per commit, and a failure loses only the open
    batch. Any other record source (a provider's server) has each chunk committed before it is
    asked for more: SQLite's write lock is never held while it waits (tests/test_sync.py)."""
    import core.import_rows
    import core.imports

    monkeypatch.setattr(core.imports, "CHUNK_ROWS", 2)
    monkeypatch.setattr(core.import_rows, "FAST_CHUNK_ROWS", 2)  # the CSV path holds a whole batch otherwise
    make_setup(sqlite_db)
    header = b"provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost"
    row = b"%s%d,+31610000001,2026-11-02T09:30:00+00:00,voice,,60,0,0.01"
    lines = [header] + [row % (b"c", n) for n in range(10)]
    seen: list[int] = []
    result = import_cdrs(sqlite_db, parse_cdr_csv(lines), provider=FAST, source="chunks", limits=LIMITS,
                         batch_size=4, progress=lambda r: seen.append(r.rows_read))
    assert (seen, result.imported) == ([4, 8, 10], 10)

    def failing_lines(prefix: bytes) -> Iterator[bytes]:
        yield header
        for n in range(10):
            if n == 6:
                raise RuntimeError("the disk went away")
            yield row % (prefix, n)

    def kept(prefix: str) -> list[str]:
        with sqlite_db.reader() as s:
            return sorted(s.scalars(select(Cdr.provider_ref).where(Cdr.provider_ref.like(f"{prefix}%"))).all())

    seen.clear()
    with pytest.raises(RuntimeError):
        import_cdrs(sqlite_db, parse_cdr_csv(failing_lines(b"d")), provider=FAST, source="fails", limits=LIMITS,
                    batch_size=4, progress=lambda r: seen.append(r.rows_read))
    assert (seen, kept("d")) == ([4], ["d0", "d1", "d2", "d3"])  # d4 and d5 were written, not committed

    seen.clear()
    records = (record for record in parse_cdr_csv(failing_lines(b"e")))  # not a file's lines: the general path
    with pytest.raises(RuntimeError):
        import_cdrs(sqlite_db, records, provider=FAST, source="fails", limits=LIMITS, batch_size=4,
                    progress=lambda r: seen.append(r.rows_read))
    assert (seen, kept("e")) == ([2, 4, 6], ["e0", "e1", "e2", "e3", "e4", "e5"])


@pytest.mark.parametrize("largest_id", [None, 2**63 - 1])
def test_a_refused_chunk_leaves_the_batch_s_earlier_chunks(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch,
                                                          largest_id: int | None) -> None:
    """A chunk the database refuses (a ref twice in it) is undone alone, not the batch's earlier chunks:
    by deleting what it left (ids above the largest before it), or by a savepoint when the largest id
    is SQLite's maximum and new rows take random ids."""
    import core.import_rows
    import core.imports

    monkeypatch.setattr(core.imports, "CHUNK_ROWS", 2)
    monkeypatch.setattr(core.import_rows, "FAST_CHUNK_ROWS", 2)
    make_setup(sqlite_db)
    header = b"provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost"
    row = b"%s,+31610000001,2026-11-%02dT09:30:00+00:00,voice,,60,0,0.01"
    if largest_id is not None:
        import_cdrs(sqlite_db, parse_cdr_csv([header, row % (b"top", 1)]), provider=FAST, source="top", limits=LIMITS)
        with sqlite_db.transaction() as s:
            s.execute(update(Cdr).values(id=largest_id))
    lines = [header, row % (b"a1", 5), row % (b"a2", 4), row % (b"b1", 3), row % (b"b1", 2), row % (b"b2", 1)]
    result = import_cdrs(sqlite_db, parse_cdr_csv(lines), provider=FAST, source="refused", limits=LIMITS,
                         batch_size=10)
    assert (result.imported, result.duplicates, result.corrected) == (4, 0, 1)
    with sqlite_db.reader() as s:
        stored = dict(s.execute(select(Cdr.provider_ref, Cdr.call_date)).all())
    assert sorted(stored) == ["a1", "a2", "b1", "b2"] + (["top"] if largest_id else [])
    assert stored["b1"].day == 2  # the later line corrects the earlier one


def test_batches_start_small_and_grow_to_batch_size(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first commit comes soon (FIRST_BATCH rows), each next batch is twice as large, up to batch_size."""
    import core.imports

    monkeypatch.setattr(core.imports, "FIRST_BATCH", 2)
    make_setup(sqlite_db)
    header = b"provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost"
    lines = [header] + [b"g%d,+31610000001,2026-11-02T09:30:00+00:00,voice,,60,0,0.01" % n for n in range(20)]
    lines[7] = b"g6,+31610000009,2026-11-02T09:30:00+00:00,voice,,60,0,0.01"  # the general path, mid-batch
    seen: list[int] = []
    for records in (parse_cdr_csv(lines), iter(list(parse_cdr_csv(lines)))):
        seen.clear()
        result = import_cdrs(sqlite_db, records, provider=FAST, source="grow", limits=LIMITS, batch_size=8,
                             progress=lambda r: seen.append(r.rows_read))
        assert seen == [2, 6, 14, 20]
    assert (result.duplicates, result.quarantined) == (19, 1)


@pytest.mark.parametrize("old_snapshot", [False, True])
def test_the_import_empties_its_wal_and_gives_the_connection_back_as_it_was(sqlite_db: Database,
                                                                            old_snapshot: bool) -> None:
    """The WAL holds every page each batch rewrote: the import checkpoints it into the database and
    empties it. A reader on an older snapshot (a console page) keeps its part of the WAL and does not
    hold the import up; either way the pooled connection has its own settings back."""
    make_setup(sqlite_db)
    header = b"provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost"
    lines = [header] + [b"w%d,+31610000001,2026-11-02T09:%02d:00+00:00,voice,,60,0,0.01" % (n, n % 60)
                        for n in range(3_000)]
    file = sqlite_db.url.split("///", 1)[1]
    reader = sqlite3.connect(file, isolation_level=None)
    try:
        if old_snapshot:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM cdr").fetchone()  # the snapshot before the import
        result = import_cdrs(sqlite_db, parse_cdr_csv(lines), provider=FAST, source="wal", limits=LIMITS)
        assert result.imported == 3_000
        wal = Path(file + "-wal").stat().st_size
        if old_snapshot:
            assert reader.execute("SELECT count(*) FROM cdr").fetchone() == (0,)
            reader.execute("COMMIT")
        else:
            assert wal < 64 * 1024  # the batch's last status update only (a few pages)
    finally:
        reader.close()
    with sqlite_db.engine.connect() as conn:
        settings = [conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                    for name in ("busy_timeout", "cache_size", "wal_autocheckpoint", "foreign_keys", "mmap_size")]
    assert settings == [30_000, -2_000, 1_000, 1, 0]
