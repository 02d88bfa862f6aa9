"""Gapless numbers: concurrent processes, credit notes, the test series, never reused."""

from __future__ import annotations

import multiprocessing
import random
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from core.billing import invoices as inv
from core.db import Database
from core.models import Invoice, RevenueLedger
from tests.conftest import MariaDbDatabases
from tests.test_invoices import ISSUE, OCT, billing_settings, counter, pdf_text, simple_customer

# Four processes racing for 60 numbers (15 each, every one a PDF) meet the same locks as for
# 200, in a third of the time (issue 14.6).
INVOICES = 60
WORKERS = 4


def _finalize_worker(url: str, data_dir: str, invoice_ids: list[int], start: Any, results: Any) -> None:
    """A separate process: finalize every draft in `invoice_ids` (in its own order)."""
    from core.config import load_settings

    settings = load_settings(data_dir=data_dir, environ={})
    db = Database(url)
    start.wait(30)
    numbers: dict[int, str] = {}
    retries = 0
    try:
        for invoice_id in invoice_ids:
            for attempt in range(20):
                try:
                    numbers[invoice_id] = inv.finalize_invoice(db, invoice_id, issue_date=ISSUE,
                                                               settings=settings)
                    break
                except OperationalError:  # a deadlock or lock timeout: the bus would retry, so do we
                    retries += 1
                    time.sleep(0.05 * (attempt + 1))
            else:
                raise RuntimeError(f"invoice {invoice_id} could not be finalized")
        results.put(("ok", numbers, retries))
    except BaseException as exc:  # report, so the test fails with the cause instead of hanging
        results.put(("error", repr(exc), retries))
    finally:
        db.dispose()


def finalize_in_processes(url: str, settings_dir: Path, drafts: list[int]) -> list[dict[int, str]]:
    """WORKERS processes, each finalizing ALL drafts in its own shuffled order, started together."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    processes = []
    for seed in range(WORKERS):
        order = list(drafts)
        random.Random(seed).shuffle(order)
        process = ctx.Process(target=_finalize_worker, args=(url, str(settings_dir), order, start, results))
        process.start()
        processes.append(process)
    time.sleep(1.0)  # let the interpreters start, so the workers really overlap
    start.set()
    outcomes = [results.get(timeout=240) for _ in processes]
    for process in processes:
        process.join(30)
    errors = [detail for status, detail, _retries in outcomes if status != "ok"]
    assert not errors, errors
    print(f"retried after a lock error: {sum(r for _s, _n, r in outcomes)} time(s)")
    return [numbers for _status, numbers, _retries in outcomes]


def make_drafts(db: Database, settings_dir: Path, count: int) -> list[int]:
    settings = billing_settings(settings_dir.parent)
    return [inv.draft_invoice(db, simple_customer(db, f"C{i:04d}", fee=f"{10 + i}.00"), OCT, settings=settings)
            for i in range(count)]


def check_gapless(db: Database, per_worker: list[dict[int, str]], drafts: list[int], data_dir: Path) -> None:
    with db.reader() as s:
        stored = dict(s.execute(select(Invoice.id, Invoice.number)).all())
        ledger = s.scalars(select(RevenueLedger)).all()
    expected = {f"2026-{seq:05d}" for seq in range(1, INVOICES + 1)}
    assert sorted(stored.values()) == sorted(expected)  # 1..INVOICES: no gap, no duplicate
    for numbers in per_worker:  # every process saw the one number each invoice got
        assert numbers == {invoice_id: stored[invoice_id] for invoice_id in drafts}
    assert counter(db) == INVOICES
    assert len(ledger) == INVOICES and all(row.invoice_count == 1 for row in ledger)
    pdfs = {p.stem for p in (data_dir / "invoices").rglob("*.pdf")}
    assert pdfs == expected
    sample = next(iter(sorted(expected)))
    [path] = list((data_dir / "invoices").rglob(f"{sample}.pdf"))
    assert sample in pdf_text(path)


@pytest.mark.slow
@pytest.mark.mariadb
def test_four_processes_on_mariadb_number_invoices_without_gaps(mariadb_server: MariaDbDatabases,
                                                                tmp_path: Path) -> None:
    url = mariadb_server.new()
    db = Database(url)
    try:
        data_dir = tmp_path / "data"
        drafts = make_drafts(db, data_dir, INVOICES)
        per_worker = finalize_in_processes(url, data_dir, drafts)
        check_gapless(db, per_worker, drafts, data_dir)
    finally:
        db.dispose()


@pytest.mark.slow
def test_four_processes_on_sqlite_number_invoices_without_gaps(sqlite_db: Database, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    drafts = make_drafts(sqlite_db, data_dir, INVOICES)
    per_worker = finalize_in_processes(sqlite_db.url, data_dir, drafts)
    check_gapless(sqlite_db, per_worker, drafts, data_dir)


def test_credit_notes_take_the_next_number_and_reference_the_original(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    first, second = simple_customer(db, "EEN"), simple_customer(db, "TWEE", fee="50.00")
    n1 = inv.finalize_invoice(db, inv.draft_invoice(db, first, OCT, settings=settings), issue_date=ISSUE,
                              settings=settings)
    n2 = inv.finalize_invoice(db, inv.draft_invoice(db, second, OCT, settings=settings), issue_date=ISSUE,
                              settings=settings)
    credit = inv.credit_invoice(db, n1, reason="double billed", issue_date=date(2026, 11, 20),
                                settings=settings, operator="alice")
    assert (n1, n2, credit) == ("2026-00001", "2026-00002", "2026-00003")
    # The same correction asked twice (a retried command) is one credit note.
    assert inv.credit_invoice(db, n1, reason="double billed", issue_date=date(2026, 11, 20),
                              settings=settings, operator="alice") == credit
    with pytest.raises(inv.InvoiceError):  # a credit note is not credited again
        inv.credit_invoice(db, credit, reason="x", issue_date=ISSUE, settings=settings, operator="alice")
    assert counter(db) == 3

    note = inv.invoice_detail(db, credit, "default")
    original = inv.invoice_detail(db, n1, "default")
    # 100.00 + 21 % = 121.00, negated line by line.
    assert (note.summary.kind, note.summary.total, note.credited_number) == ("credit_note", -121, n1)
    assert [line.amount for line in note.amounts.lines] == [-100]
    assert (original.summary.status, original.credit_note_number) == ("final", credit)  # never deleted
    text = pdf_text(Path(str(note.summary.pdf_path)))
    assert "CREDITNOTA" in text and credit in text and n1 in text and "€ -121,00" in text
    with db.reader() as s:
        assert s.get_one(RevenueLedger, first).invoiced_total == 0  # 121.00 − 121.00


def test_test_mode_has_its_own_series_and_stays_out_of_the_ledger(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    trial = simple_customer(db, "PROEF", test_mode=True)
    real = simple_customer(db, "ECHT")
    t1 = inv.finalize_invoice(db, inv.draft_invoice(db, trial, OCT, settings=settings), issue_date=ISSUE,
                              settings=settings)
    l1 = inv.finalize_invoice(db, inv.draft_invoice(db, real, OCT, settings=settings), issue_date=ISSUE,
                              settings=settings)
    tc = inv.credit_invoice(db, t1, reason="try a credit", issue_date=ISSUE, settings=settings, operator="alice")
    assert (t1, l1, tc) == ("TEST-2026-00001", "2026-00001", "TEST-2026-00002")
    assert (counter(db, "test"), counter(db, "live")) == (2, 1)
    text = pdf_text(settings.invoices_dir / "PROEF" / f"{t1}.pdf")
    assert "TEST" in text and "niet betalen" in text
    with db.reader() as s:
        assert s.get(RevenueLedger, trial) is None
        assert s.get_one(Invoice, inv.find_invoice(s, t1, "default").id).test_mode is True


def test_a_number_is_never_reused_after_a_credit(db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    customer = simple_customer(db, "HERHAAL")
    first = inv.finalize_invoice(db, inv.draft_invoice(db, customer, OCT, settings=settings),
                                 issue_date=ISSUE, settings=settings)
    inv.credit_invoice(db, first, reason="wrong", issue_date=ISSUE, settings=settings, operator="alice")
    redo = inv.draft_invoice(db, customer, OCT, settings=settings)  # a new draft for the cycle
    assert inv.finalize_invoice(db, redo, issue_date=ISSUE, settings=settings) == "2026-00003"
    assert {s.number for s in inv.list_invoices(db)} == {"2026-00001", "2026-00002", "2026-00003"}
