"""Property: splitting an import into any number of files, in any order, never changes
totals; totals are never negative."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.bus import Bus, run_until_idle
from core.bus.command import default_registry
from core.db import Database
from core.imports import import_cdrs
from core.totals import totals_version
from core.workflows import load_all
from core.workflows.totals import dispatch_totals
from providers.base import ProviderCdr
from tests.factories import make_setup

load_all()
NUMBERS = ("+31610000001", "+31610000002")
START = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)

cdr_strategy = st.builds(
    lambda i, sub, minute, kind, dest, dur, kb, cost: ProviderCdr(
        f"p{i}", NUMBERS[sub], START + timedelta(minutes=minute), kind, dest,
        dur if kind == "voice" else 0, kb if kind == "data" else 0, Decimal(cost).scaleb(-4)),
    st.integers(0, 10**6), st.integers(0, 1), st.integers(120, 40000),
    st.sampled_from(["voice", "sms", "data"]), st.sampled_from(["+31201234567", "+442071234567", ""]),
    st.integers(0, 900), st.integers(0, 3000), st.integers(0, 5000),
)


def fresh(template: Path) -> Database:
    target = Path(tempfile.mkdtemp()) / "p.sqlite3"
    shutil.copyfile(template, target)
    db = Database(f"sqlite:///{target}")
    return db


def totals_after(template: Path, batches: list[list[ProviderCdr]]) -> dict[tuple[int, str], tuple]:  # type: ignore[type-arg]
    db = fresh(template)
    try:
        ids = make_setup(db, numbers=NUMBERS)
        for batch in batches:
            import_cdrs(db, batch, provider="kpn_sp16", source="prop")
        bus = Bus(db, default_registry)
        dispatch_totals(bus, ids["customer"], START.date())
        run_until_idle(bus)
        rows = totals_version(db, ids["customer"], START.date())
        assert all(r.rated_amount >= 0 and r.provider_cost >= 0 for r in rows)
        return {r.key: (r.count, r.duration_s, r.volume_kb, r.rated_amount, r.bundle_used) for r in rows}
    finally:
        db.dispose()


@pytest.mark.slow
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cdrs=st.lists(cdr_strategy, min_size=1, max_size=40, unique_by=lambda c: c.provider_ref),
       data=st.data())
def test_split_imports_in_any_order_give_the_same_totals(sqlite_template: Path, cdrs, data) -> None:  # type: ignore[no-untyped-def]
    whole = totals_after(sqlite_template, [cdrs])
    shuffled = data.draw(st.permutations(cdrs))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(cdrs)), max_size=5)))
    pieces, last = [], 0
    for cut in [*cuts, len(cdrs)]:
        pieces.append(shuffled[last:cut])
        last = cut
    pieces = data.draw(st.permutations(pieces))
    overlap = data.draw(st.lists(st.sampled_from(cdrs), max_size=5))  # re-sent rows: duplicates
    assert totals_after(sqlite_template, [*pieces, overlap]) == whole
