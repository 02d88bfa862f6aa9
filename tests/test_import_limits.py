"""Issue 10: every CDR field has a range, and one row's value never fails the batch.

Each case runs on SQLite and MariaDB: the limits are ours, so both accept the same rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError

from core.cdr_checks import CdrLimits
from core.config import ConfigError, load_settings
from core.db import Database
from core.imports import ImportResult, import_cdrs
from core.models import Cdr, ImportBatch, QuarantinedRow
from providers.base import BadRow, ProviderCdr
from providers.csvformat import parse_cdr_csv
from tests.factories import make_setup, write_cdrs

A = "+31610000001"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LIMITS = CdrLimits(clock=lambda: NOW)


def good(ref: str, day: str = "2026-11-02T10:00:00+01:00") -> tuple[object, ...]:
    return (ref, A, day, "voice", "+31201234567", 60, 0, "0.10")


def run(db: Database, tmp_path: Path, rows: Sequence[Sequence[object]]) -> ImportResult:
    path = write_cdrs(tmp_path / "cdrs.csv", rows)
    with path.open("rb") as stream:
        return import_cdrs(db, parse_cdr_csv(stream), provider="kpn_sp16", source=str(path), limits=LIMITS)


def reasons(db: Database) -> dict[int, str]:
    with db.reader() as s:
        return {r.line: r.reason for r in s.scalars(select(QuarantinedRow))}


def batch_status(db: Database, batch_id: int) -> str:
    with db.reader() as s:
        return s.get_one(ImportBatch, batch_id).status


def test_extreme_values_quarantine_their_row_only(db: Database, tmp_path: Path) -> None:
    make_setup(db)
    result = run(db, tmp_path, [
        good("ok1"),
        ("y9999", A, "9999-12-31T23:59:59+00:00", "voice", "", 60, 0, "0.10"),
        ("y0001", A, "0001-01-01T00:00:00+01:00", "voice", "", 60, 0, "0.10"),
        ("dur", A, "2026-11-02T10:00:00+01:00", "voice", "", 10**20, 0, "0.10"),
        ("cost30", A, "2026-11-02T10:00:00+01:00", "voice", "", 60, 0, "1" * 30),
        ("vol", A, "2026-11-02T10:00:00+01:00", "data", "", 0, 10**25, "0.10"),
        good("ok2"),
    ])
    assert (result.rows_read, result.imported, result.quarantined) == (7, 2, 5)
    assert batch_status(db, result.batch_id) == "completed"
    found = reasons(db)
    assert sorted(found) == [3, 4, 5, 6, 7]
    assert "future" in found[3] and "before 2000-01-01" in found[4]
    assert "duration" in found[5] and "cost" in found[6] and "volume" in found[7]


def test_ranges_and_their_edges(db: Database, tmp_path: Path) -> None:
    """31 days, €1,000 and now + 1 day land; one unit beyond each is quarantined with its reason."""
    make_setup(db)
    day = "2026-11-02T10:00:00+01:00"
    result = run(db, tmp_path, [
        ("d-max", A, day, "voice", "", 31 * 86_400, 0, "0.10"),
        ("d-over", A, day, "voice", "", 31 * 86_400 + 1, 0, "0.10"),
        ("c-max", A, day, "voice", "", 60, 0, "1000.0000"),
        ("c-over", A, day, "voice", "", 60, 0, "1000.0001"),
        ("c-neg-over", A, day, "voice", "", 60, 0, "-1000.01"),
        ("c-5dec", A, day, "voice", "", 60, 0, "0.00001"),
        ("c-4dec", A, day, "voice", "", 60, 0, "0.00010"),
        ("t-edge", A, "2026-11-30T12:00:00+00:00", "voice", "", 60, 0, "0.10"),
        ("t-over", A, "2026-11-30T12:00:01+00:00", "voice", "", 60, 0, "0.10"),
        ("t-2076", A, "2076-10-01T10:00:00+02:00", "voice", "", 60, 0, "0.10"),
        ("t-1999", A, "1999-12-31T23:59:59+00:00", "voice", "", 60, 0, "0.10"),
        ("d-12", A, day, "voice", "", 1_000_000_000_000, 0, "0.10"),
    ])
    assert (result.imported, result.quarantined) == (4, 8)
    found = reasons(db)
    assert "longer than 2678400 s" in found[3]
    assert "above the limit of 1000" in found[5] and "above the limit" in found[6]
    assert "more than 4 decimals" in found[7]
    assert "in the future" in found[10] and "in the future" in found[11]
    assert "before 2000-01-01" in found[12] and "duration" in found[13]
    with db.reader() as s:
        stored = {c.provider_ref: c for c in s.scalars(select(Cdr))}
    assert set(stored) == {"d-max", "c-max", "c-4dec", "t-edge"}
    assert stored["c-4dec"].provider_cost == Decimal("0.0001")  # stored exactly, nothing rounded
    assert stored["d-max"].duration_s == 2_678_400


def test_cost_cap_and_date_window_are_settings(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, environ={"EXPENSIS_CDR_MAX_COST": "25",
                                                         "EXPENSIS_CDR_EARLIEST_DATE": "2020-01-01",
                                                         "EXPENSIS_CDR_MAX_FUTURE_DAYS": "0"})
    limits = CdrLimits.from_settings(settings, lambda: NOW)
    cdr = ProviderCdr("r", A, datetime(2019, 12, 31, tzinfo=UTC), "voice", "", 1, 0, Decimal("1"))
    assert "before 2020-01-01" in (limits.check(cdr) or "")
    later = ProviderCdr("r", A, datetime(2026, 11, 29, 12, 0, 1, tzinfo=UTC), "voice", "", 1, 0, Decimal("1"))
    assert "in the future" in (limits.check(later) or "")
    dear = ProviderCdr("r", A, NOW, "voice", "", 1, 0, Decimal("25.0001"))
    assert "above the limit of 25" in (limits.check(dear) or "")
    with pytest.raises(ConfigError, match="cdr_earliest_date"):
        load_settings(data_dir=tmp_path, environ={"EXPENSIS_CDR_EARLIEST_DATE": "soon"})


@pytest.mark.mariadb
def test_mariadb_connections_are_strict(mariadb_server) -> None:  # type: ignore[no-untyped-def]
    db = Database(mariadb_server.new())  # sql_mode is MariaDB's: this test has no SQLite variant
    with db.engine.connect() as conn:
        conn.execute(text("SET SESSION sql_mode = ''"))  # even a server default without it...
    db.engine.dispose()
    with db.engine.connect() as conn:  # ...is replaced on every new connection
        mode = conn.execute(text("SELECT @@SESSION.sql_mode")).scalar_one()
    db.dispose()
    assert "STRICT_TRANS_TABLES" in mode


def test_an_unexpected_error_ends_the_batch_failed_not_running(db: Database) -> None:
    make_setup(db)

    def records() -> Iterator[ProviderCdr | BadRow]:
        yield ProviderCdr("r1", A, datetime(2026, 11, 2, 9, tzinfo=UTC), "voice", "", 60, 0, Decimal("0.1"))
        raise RuntimeError("disk went away")

    with pytest.raises(RuntimeError):
        import_cdrs(db, records(), provider="kpn_sp16", source="test", limits=LIMITS, batch_size=1)
    with db.reader() as s:
        batch = s.scalars(select(ImportBatch)).one()
        assert batch.status == "failed" and "disk went away" in (batch.error_message or "")
        assert s.scalars(select(Cdr.provider_ref)).all() == ["r1"]  # committed rows stay


def test_a_record_that_breaks_the_checks_is_quarantined_with_the_exception(db: Database) -> None:
    """Not a value we foresaw: a call date whose UTC conversion overflows, past a wide window."""
    make_setup(db)
    late = datetime(9999, 12, 31, 23, 30, tzinfo=UTC)  # Amsterdam's local date is past year 9999
    wide = CdrLimits(future_days=0, clock=lambda: late)
    records = [ProviderCdr("late", A, late, "voice", "", 60, 0, Decimal("0.1"), line=7),
               ProviderCdr("ok", A, datetime(2026, 11, 2, 9, tzinfo=UTC), "voice", "", 60, 0, Decimal("0.1"))]
    result = import_cdrs(db, records, provider="kpn_sp16", source="test", limits=wide)
    assert (result.imported, result.quarantined) == (1, 1)
    assert "OverflowError" in reasons(db)[7]
    assert batch_status(db, result.batch_id) == "completed"


def test_a_full_disk_ends_the_batch_failed_and_keeps_what_was_committed(sqlite_db: Database,
                                                                        tmp_path: Path) -> None:
    """A size-limited SQLite file (max_page_count) fills up mid-import, like a full disk."""
    make_setup(sqlite_db)
    with sqlite_db.reader() as s:
        pages = int(s.execute(text("PRAGMA page_count")).scalar_one())
    sqlite_db.engine.dispose()
    event.listen(sqlite_db.engine, "connect",
                 lambda conn, _record: conn.execute(f"PRAGMA max_page_count = {pages + 40}"))
    rows = [good(f"r{n:05d}") for n in range(20_000)]
    path = write_cdrs(tmp_path / "big.csv", rows)
    with path.open("rb") as stream, pytest.raises((OperationalError, sqlite3.OperationalError), match="full"):
        import_cdrs(sqlite_db, parse_cdr_csv(stream), provider="kpn_sp16", source=str(path), limits=LIMITS,
                    batch_size=500)
    with sqlite_db.reader() as s:
        batch = s.scalars(select(ImportBatch)).one()
        held = s.scalar(select(func.count()).select_from(Cdr))
    assert batch.status == "failed" and "full" in (batch.error_message or "")
    assert 0 < held < 20_000 and held == batch.imported  # whole batches of 500 committed, counted
