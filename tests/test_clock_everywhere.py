"""Only core/clock.py reads the wall clock; everything else in core/ and scheduler/ takes a clock."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_MODULE = ROOT / "core" / "clock.py"
# datetime.now(), datetime.utcnow(), datetime.today(), date.today(), and calls of the
# models' column-default helper utcnow() (defined once, on the system clock).
WALL_CLOCK = re.compile(r"\b(?:datetime\.(?:now|utcnow|today)|date\.today)\s*\(|(?<!def )\butcnow\s*\(")


def wall_clock_reads() -> list[str]:
    found = []
    for package in ("core", "scheduler"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == CLOCK_MODULE or "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if WALL_CLOCK.search(code):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    assert wall_clock_reads() == []


def test_the_check_catches_each_form() -> None:
    for line in ("x = datetime.now(UTC)", "d = date.today()", "t = datetime.utcnow()",
                 "at = utcnow()", "when = datetime.today ()"):
        assert WALL_CLOCK.search(line), line
    for line in ("def utcnow() -> datetime:", "default=utcnow", "clock()", "local_date(tz, clock)"):
        assert not WALL_CLOCK.search(line), line


def test_import_and_totals_stamp_the_injected_clock_not_the_wall_clock(db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, date, datetime

    from sqlalchemy import select

    from core.bus import Bus, run_until_idle
    from core.bus.command import default_registry
    from core.imports import import_cdrs
    from core.models import CustomerStatus, ImportBatch
    from core.workflows.totals import dispatch_totals
    from providers.csvformat import parse_cdr_csv
    from tests.factories import make_setup, write_cdrs
    from tests.test_totals import OCTOBER

    frozen = datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC)  # years from the real now

    def clock() -> datetime:
        return frozen

    ids = make_setup(db)
    path = write_cdrs(tmp_path / "oct.csv", OCTOBER)
    with path.open("rb") as f:
        import_cdrs(db, parse_cdr_csv(f), provider="kpn_sp16", source=str(path), clock=clock)
    bus = Bus(db, default_registry, clock=clock)
    dispatch_totals(bus, ids["customer"], date(2026, 10, 1))
    run_until_idle(bus)
    with db.reader() as s:
        batch = s.scalars(select(ImportBatch)).one()
        status = s.scalars(select(CustomerStatus)).one()
    naive = frozen.replace(tzinfo=None)
    assert batch.finished_at is not None and batch.finished_at.replace(tzinfo=None) == naive
    assert status.last_totals_at is not None and status.last_totals_at.replace(tzinfo=None) == naive
