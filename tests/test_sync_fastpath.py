"""Issue 14.4: a provider's CSV body goes through the import's positional path
(core/import_rows.py) straight from the network stream, and stores and quarantines
exactly what a CSV file import of the same body does (and the general path too); its
chunks are committed before the stream is read on, so the sync's lease renewal never
waits on the importer's write lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.cdr_checks import CdrLimits
from core.db import Database
from core.imports import import_cdrs
from core.models import Cdr, Customer, ImportBatch, QuarantinedRow
from core.workflows.sync import upsert_subscriptions
from providers import open_adapter
from providers import records as provider_records
from providers.adapter import DeclarativeAdapter
from providers.csvformat import REQUIRED_COLUMNS, CsvCdrs, parse_cdr_csv
from providers.listing import CsvBody, CsvPages, Endpoint, Fields, Listing, PageNumbers
from providers.platforms import TMOBILE_CALVI
from providers.records import CDR_FIELDS, Wire, cdrs_from_rows
from providers.sandbox import SandboxServer
from tests.factories import make_setup
from tests.sync_support import SyncWorld
from tests.test_sync import (
    MONTH,
    cdr_count,
    make_world,
    stored_at_checkpoints,
    sync,
    write_lock_held_at_records,
)

CDR_COLUMNS = (Cdr.provider_ref, Cdr.number, Cdr.call_date, Cdr.call_type, Cdr.destination, Cdr.duration_s,
               Cdr.volume_kb, Cdr.provider_cost, Cdr.roaming, Cdr.visited_country, Cdr.customer_id,
               Cdr.subscription_id, Cdr.cycle_start_date)


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The lines decoded the general way (a dict and a ProviderCdr each), in any thread."""
    lines: list[int] = []
    decode = provider_records.decode_cdr

    def counted(row: Any, wire: Any, line: int = 0) -> Any:
        lines.append(line)
        return decode(row, wire, line)

    monkeypatch.setattr(provider_records, "decode_cdr", counted)
    return lines


def stored(db: Database, provider: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The provider's CDRs and its quarantined rows (line, reason, raw), in order."""
    with db.reader() as s:
        cdrs = s.execute(select(*CDR_COLUMNS).where(Cdr.provider == provider).order_by(Cdr.provider_ref)).all()
        bad = s.execute(select(QuarantinedRow.line, QuarantinedRow.reason, QuarantinedRow.raw)
                        .join(ImportBatch, ImportBatch.id == QuarantinedRow.import_batch_id)
                        .where(ImportBatch.provider == provider).order_by(QuarantinedRow.line)).all()
    return [tuple(row) for row in cdrs], [tuple(row) for row in bad]


def test_a_csv_sync_stores_and_quarantines_what_a_file_import_of_its_body_does(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path, decoded: list[int]) -> None:
    """T-Mobile Calvi's CSV body with every 7th row broken: the sync, a file import of the body as
    downloaded (the same columns and spellings), and the general path over the same records store
    the same rows and quarantine the same lines with the same reasons. The sync decodes only the
    broken lines the general way."""
    world = make_world(sqlite_db, sandbox, tmp_path, ["tmobile_calvi"], subscriptions=3, cdrs=40,
                       faults={"tmobile_calvi": {"malformed_rows": 7}})
    task = sync(world, "tmobile_calvi")
    assert task.status == "completed_with_warnings", task.error_message  # the broken rows
    synced_cdrs, synced_bad = stored(world.db, "tmobile_calvi")
    assert len(synced_cdrs) + len(synced_bad) == 120 and len(synced_bad) >= 120 // 7
    assert len(decoded) <= len(synced_bad)  # the good lines were read by position

    body = tmp_path / "calvi.csv"
    with DeclarativeAdapter(TMOBILE_CALVI, sandbox.connection("tmobile_calvi", "TMOBILE_CALVI-REF")) as adapter:
        params = {"customer": "TMOBILE_CALVI-REF", "period": MONTH}
        with adapter.http.stream("GET", "calvi/export/cdrs.csv", params=params) as response:
            body.write_bytes(response.read())
    limits = CdrLimits.from_settings(world.settings)
    fields, wire = TMOBILE_CALVI.cdrs.fields, TMOBILE_CALVI.wire
    with body.open("rb") as handle:
        import_cdrs(world.db, parse_cdr_csv(handle, columns=fields, wire=wire), provider="csv_file",
                    source="file", limits=limits)
    with body.open("rb") as handle:  # a plain iterator of records: the general path
        records = iter(list(parse_cdr_csv(handle, columns=fields, wire=wire)))
        import_cdrs(world.db, records, provider="kpn_grip", source="general", limits=limits)
    assert stored(world.db, "csv_file") == stored(world.db, "kpn_grip") == (synced_cdrs, synced_bad)


def test_a_csv_sync_renews_its_lease_with_no_write_lock_held(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        decoded: list[int]) -> None:
    """The positional path over a provider's stream commits each chunk before it reads on (a file's
    batch may span chunks: tests/test_import_fastpath.py), so the lease renewal inside the stream
    never waits on the importer (tests/test_sync.py, the same check for the general path)."""
    import core.import_rows
    import core.imports

    monkeypatch.setattr(core.imports, "CHUNK_ROWS", 10)
    monkeypatch.setattr(core.import_rows, "FAST_CHUNK_ROWS", 10)
    held = write_lock_held_at_records(monkeypatch, sqlite_db)
    world = make_world(sqlite_db, sandbox, tmp_path, ["tmobile_calvi"], subscriptions=3, cdrs=40)
    task = sync(world, "tmobile_calvi")
    assert (task.status, task.reason) == ("completed", None), task.error_message
    assert task.received_cdrs == cdr_count(world) == 120
    assert decoded == []  # every line read by position
    assert held == []  # the stream was never read on while the importer held the write lock


def test_a_file_queue_s_csv_is_read_by_position_and_committed_before_its_files_are_acknowledged(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path, decoded: list[int]) -> None:
    """Yielder's gzip CSV files, over several downloads, through the positional path: the
    checkpoint among the lines commits everything before the files are acknowledged."""
    world: SyncWorld = make_world(sqlite_db, sandbox, tmp_path, ["yielder"], subscriptions=6, cdrs=15)
    committed_at_checkpoint, watched = stored_at_checkpoints(world)
    with open_adapter(sandbox.connection("yielder", "YIELDER-REF")) as adapter:
        with world.db.reader() as s:
            customer = s.scalars(select(Customer)).one()
        upsert_subscriptions(world.db, customer, adapter.fetch_subscriptions(MONTH))
        cdrs = adapter.fetch_cdrs(MONTH, checkpoints=True)
        assert isinstance(cdrs, CsvCdrs) and not cdrs.local
        result = import_cdrs(world.db, cdrs.tapped(watched), provider="yielder", source="test", first_line=1)
    assert (result.imported, result.quarantined) == (90, 0)
    assert committed_at_checkpoint == [90]  # all in, before the acks
    assert decoded == []
    assert sandbox.registry.customer("yielder", "YIELDER-REF").acknowledged


class _Page:
    """One streamed response of a listing: its bytes and its page-count header."""

    def __init__(self, body: bytes, pages: int) -> None:
        self.body = body
        self.headers = {"X-Total-Pages": str(pages)}

    def iter_bytes(self) -> Iterator[bytes]:
        yield from (self.body[i:i + 7] for i in range(0, len(self.body), 7))  # lines split across chunks


class _Pages:
    """A provider's HTTP client serving `bodies` as pages 1..n of one listing."""

    platform = "paged"

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies

    def same_origin(self, url: str) -> bool:
        return True

    @contextmanager
    def stream(self, method: str, url: str, params: dict[str, str] | None = None) -> Iterator[_Page]:
        yield _Page(self.bodies[int((params or {})["page"]) - 1], len(self.bodies))


def test_a_later_page_with_its_columns_in_another_order_is_read_by_name(sqlite_db: Database) -> None:
    """Line numbers run on across pages (headers counted) and a page whose header orders the
    columns otherwise is still read right: the positional path stores and quarantines what the
    general path does."""
    make_setup(sqlite_db)
    header = "provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost\n"
    swapped = "number,provider_ref,call_date,call_type,destination,duration_s,volume_kb,provider_cost\n"
    bodies = [(header + "p1,+31610000001,2026-11-02T10:30:00+01:00,voice,,60,0,0.01\n"
               "p2,+31610000009,2026-11-02T10:30:00+01:00,voice,,60,0,0.01\n").encode(),
              (swapped + "+31610000001,p3,2026-11-02T10:30:00+01:00,sms,,0,0,0.02\n\n"
               "+31610000001,p4,2026-11-02T10:30:00+01:00,fax,,0,0,0.02\n").encode(),
              (header + "p5,+31610000002,2026-11-03T10:30:00+01:00,data,,0,99,0.03\n").encode()]
    listing = Listing(Endpoint("cdrs"), CsvBody(), PageNumbers(total_pages=None, total_pages_header="X-Total-Pages"))
    fields = Fields({name: name for name in CDR_FIELDS}, REQUIRED_COLUMNS)
    http: Any = _Pages(bodies)
    limits = CdrLimits(clock=lambda: datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    by_position = CsvCdrs(CsvPages(listing, http, fields, {}, listing.body), Wire(), local=False)
    import_cdrs(sqlite_db, by_position, provider="csv_file", source="pages", limits=limits)
    general = iter(list(cdrs_from_rows(listing.rows(http, fields, {}), Wire())))
    import_cdrs(sqlite_db, general, provider="kpn_grip", source="pages", limits=limits)
    cdrs, bad = stored(sqlite_db, "csv_file")
    assert (cdrs, bad) == stored(sqlite_db, "kpn_grip")
    assert [cdr[0] for cdr in cdrs] == ["p1", "p3", "p5"]
    assert [(line, reason) for line, reason, _ in bad] == [(3, "unknown number +31610000009"),
                                                            (7, "unknown call type 'fax'")]
