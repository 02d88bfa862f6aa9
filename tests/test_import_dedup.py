"""Issue 10: dedup means the same on SQLite and MariaDB, and corrections are kept.

Provider names come from a fixed set and are normalised; provider_ref is compared byte
for byte; a known provider_ref with different content is a correction, not a duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.cdr_checks import CdrLimits, UnknownProvider
from core.db import Database
from core.imports import ImportResult, import_cdrs
from core.models import Cdr
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
