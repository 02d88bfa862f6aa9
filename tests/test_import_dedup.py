"""Issue 10: dedup means the same on SQLite and MariaDB, and corrections are kept.

Provider names come from a fixed set and are normalised; provider_ref is compared byte
for byte; a known provider_ref with different content is a correction, not a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core.cdr_checks import CdrLimits, UnknownProvider
from core.db import Database
from core.imports import ImportResult, import_cdrs
from core.models import Cdr, CdrCorrection, CdrRating, CustomerStatus, ImportBatch
from core.totals import rate_cycle
from providers.csvformat import parse_cdr_csv
from tests.factories import make_setup, write_cdrs

A = "+31610000001"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LIMITS = CdrLimits(clock=lambda: NOW)
DAY = "2026-11-02T10:00:00+01:00"


def run(db: Database, tmp_path: Path, rows: Sequence[Sequence[object]], provider: str = "kpn_sp16",
        name: str = "cdrs.csv") -> ImportResult:
    path = write_cdrs(tmp_path / name, rows)
    with path.open("rb") as stream:
        return import_cdrs(db, parse_cdr_csv(stream), provider=provider, source=str(path), limits=LIMITS)


def refs(db: Database) -> list[tuple[str, str]]:
    with db.reader() as s:
        return sorted(s.execute(select(Cdr.provider, Cdr.provider_ref)).all())


def test_provider_ref_case_and_trailing_space_matrix(db: Database, tmp_path: Path) -> None:
    """Three CDRs on both databases: refs differ in case; the trailing space is stripped on read."""
    make_setup(db)
    result = run(db, tmp_path, [(ref, A, DAY, "voice", "", 60, 0, "0.10") for ref in ("aBc1", "AbC1", "abc1 ")])
    assert (result.imported, result.duplicates) == (3, 0)
    assert refs(db) == [("kpn_sp16", "AbC1"), ("kpn_sp16", "aBc1"), ("kpn_sp16", "abc1")]
    again = run(db, tmp_path, [(ref, A, DAY, "voice", "", 60, 0, "0.10") for ref in ("abc1", "ABC1")])
    assert (again.imported, again.duplicates) == (1, 1)  # ABC1 is new, abc1 is known
    assert len(refs(db)) == 4


def test_one_provider_however_it_is_spelled(db: Database, tmp_path: Path) -> None:
    make_setup(db)
    rows = [("r1", A, DAY, "voice", "", 60, 0, "0.10"), ("r2", A, DAY, "sms", "", 0, 0, "0.05")]
    first = run(db, tmp_path, rows, provider="kpn_sp16")
    upper = run(db, tmp_path, rows, provider="KPN_SP16")
    spaced = run(db, tmp_path, rows, provider="kpn_sp16 ")
    assert [(r.imported, r.duplicates) for r in (first, upper, spaced)] == [(2, 0), (0, 2), (0, 2)]
    assert refs(db) == [("kpn_sp16", "r1"), ("kpn_sp16", "r2")]
    with pytest.raises(UnknownProvider, match="unknown provider 'kpn'"):
        run(db, tmp_path, rows, provider="kpn")


def test_a_changed_row_is_a_correction_and_the_old_version_is_kept(db: Database, tmp_path: Path) -> None:
    make_setup(db)
    first = run(db, tmp_path, [("r1", A, DAY, "voice", "+31201234567", 60, 0, "0.10"),
                               ("r2", A, DAY, "sms", "+31687654321", 0, 0, "0.05"),
                               ("r3", A, DAY, "data", "", 0, 2048, "0.40")])
    assert (first.imported, first.corrected) == (3, 0)
    later = run(db, tmp_path, [("r1", A, DAY, "voice", "+31201234567", 125, 0, "0.25"),  # duration and cost
                               ("r2", A, DAY, "sms", "+31687654321", 0, 0, "0.05"),  # identical
                               ("r3", A, "2026-11-03T10:00:00+01:00", "data", "", 0, 2048, "0.40")],  # date
                name="again.csv")
    assert (later.imported, later.duplicates, later.corrected, later.quarantined) == (0, 1, 2, 0)
    assert "corrected 2" in later.summary()
    with db.reader() as s:
        cdrs = {c.provider_ref: c for c in s.scalars(select(Cdr))}
        archived = {c.cdr_id: c for c in s.scalars(select(CdrCorrection))}
        batch = s.get_one(ImportBatch, later.batch_id)
        status = s.scalars(select(CustomerStatus)).one()
    assert (cdrs["r1"].duration_s, cdrs["r1"].provider_cost) == (125, Decimal("0.2500"))
    assert cdrs["r3"].call_date == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    assert cdrs["r1"].import_batch_id == later.batch_id and cdrs["r2"].import_batch_id == first.batch_id
    assert set(archived) == {cdrs["r1"].id, cdrs["r3"].id}
    old = archived[cdrs["r1"].id]
    assert (old.duration_s, old.provider_cost, old.replaced_batch_id, old.import_batch_id) == (
        60, Decimal("0.1000"), first.batch_id, later.batch_id)
    assert archived[cdrs["r3"].id].call_date == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert batch.corrected == 2 and batch.status == "completed"
    assert status.recalc_requested and status.cycle_start_date == date(2026, 11, 1)
    again = run(db, tmp_path, [("r1", A, DAY, "voice", "+31201234567", 125, 0, "0.25")], name="third.csv")
    assert (again.duplicates, again.corrected) == (1, 0)  # the corrected version is now the known one


def test_a_correction_reaches_the_totals(db: Database, tmp_path: Path) -> None:
    """Rated before and after: 60 s then 125 s of voice on Business 10 (10 free minutes)."""
    ids = make_setup(db)
    run(db, tmp_path, [("r1", A, DAY, "voice", "+44201234567", 60, 0, "0.10")])
    with db.transaction() as s:
        rate_cycle(s, ids["customer"], date(2026, 11, 1))
        assert s.scalar(select(CustomerStatus.ratings_digest)) is not None
    run(db, tmp_path, [("r1", A, DAY, "voice", "+44201234567", 125, 0, "0.25")], name="fix.csv")
    with db.reader() as s:  # the corrected CDR's rating is gone, and with it the digest of the cycle's ratings
        assert s.scalar(select(CustomerStatus.ratings_digest)) is None
    with db.transaction() as s:
        rate_cycle(s, ids["customer"], date(2026, 11, 1))
        ratings = s.execute(select(CdrRating.cdr_id, CdrRating.rated_amount)).all()
    # +44 tariff: EUR 1.00/min in 60 s steps plus EUR 0.25 set-up; 125 s -> 3 min = 3.25
    assert [amount for _, amount in ratings] == [Decimal("3.2500")]


def test_a_correction_moving_a_rated_cdr_to_the_next_cycle_leaves_no_rating_behind(
        db: Database, tmp_path: Path) -> None:
    """A rated CDR whose corrected call date falls in the next month (31 October -> 2 November) moves cycles: its rating in
    the old cycle goes before the CDR moves (the rating refers to the CDR's customer-cycle,
    migration 0019), and the new cycle rates it afresh. The old cycle keeps no rating of it."""
    ids = make_setup(db)
    run(db, tmp_path, [("r1", A, "2026-10-31T10:00:00+01:00", "voice", "+44201234567", 60, 0, "0.10")])
    with db.transaction() as s:
        rate_cycle(s, ids["customer"], date(2026, 10, 1))
    later = run(db, tmp_path, [("r1", A, DAY, "voice", "+44201234567", 60, 0, "0.10")],
                name="fix.csv")
    assert (later.corrected, later.quarantined) == (1, 0)
    with db.transaction() as s:
        assert s.execute(select(CdrRating.cycle_start_date)).all() == []
        rate_cycle(s, ids["customer"], date(2026, 11, 1))
        # +44 tariff: EUR 1.00/min in 60 s steps plus EUR 0.25 set-up; 60 s -> 1 min = 1.25
        assert s.execute(select(CdrRating.cycle_start_date, CdrRating.rated_amount)).all() == [
            (date(2026, 11, 1), Decimal("1.2500"))]


def test_the_same_ref_twice_in_one_file_keeps_both_versions(db: Database, tmp_path: Path) -> None:
    make_setup(db)
    result = run(db, tmp_path, [("r1", A, DAY, "voice", "", 60, 0, "0.10"),
                                ("r1", A, DAY, "voice", "", 60, 0, "0.10"),
                                ("r1", A, DAY, "voice", "", 90, 0, "0.15")])
    assert (result.imported, result.duplicates, result.corrected) == (1, 1, 1)
    with db.reader() as s:
        assert s.scalars(select(Cdr.duration_s)).all() == [90]
        assert s.scalars(select(CdrCorrection.duration_s)).all() == [60]


def test_the_later_line_corrects_the_earlier_one_whatever_their_call_dates(db: Database, tmp_path: Path) -> None:
    """A batch goes in sorted by call date (core/cdr_store.py); the file's order still decides which
    version of a ref is the correction."""
    make_setup(db)
    result = run(db, tmp_path, [("r1", A, "2026-11-05T10:00:00+00:00", "voice", "", 60, 0, "0.10"),
                                ("r2", A, "2026-11-04T10:00:00+00:00", "voice", "", 30, 0, "0.05"),
                                ("r1", A, "2026-11-02T10:00:00+00:00", "voice", "", 90, 0, "0.15")])
    assert (result.imported, result.duplicates, result.corrected) == (2, 0, 1)
    with db.reader() as s:
        assert sorted(s.execute(select(Cdr.provider_ref, Cdr.duration_s)).all()) == [("r1", 90), ("r2", 30)]
        assert s.scalars(select(CdrCorrection.duration_s)).all() == [60]


def test_the_cli_normalises_and_refuses_provider_names(tmp_path: Path) -> None:
    from core.db import ensure_schema
    from tests.test_cli_totals import cli

    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    make_setup(db)
    path = write_cdrs(tmp_path / "f.csv", [("r1", A, DAY, "voice", "", 60, 0, "0.10")])
    outputs = [cli(data, "cdr", "import", str(path), "--provider", name)
               for name in ("kpn_sp16", "KPN_SP16", "kpn_sp16 ")]
    assert [code for code, _, _ in outputs] == [0, 0, 0]
    assert "imported 1, duplicates 0" in outputs[0][1]
    assert all("imported 0, duplicates 1" in out for _, out, _ in outputs[1:])
    code, _, err = cli(data, "cdr", "import", str(path), "--provider", "kpn")
    assert code == 2 and "unknown provider 'kpn'" in err and "Traceback" not in err
    assert refs(db) == [("kpn_sp16", "r1")]
    db.dispose()
