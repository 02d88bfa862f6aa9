"""Export jobs on the bus: files read back and compared with the database, progress, failure."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, insert, select

from core import totals
from core.bus import Bus, default_registry, run_until_idle
from core.bus.deps import HandlerDeps
from core.db import Database, ensure_schema
from core.exports import excel, reports
from core.models import Cdr, CdrRating, ExportJob, Message, Total
from core.views.billing import export_jobs
from core.workflows import exports
from core.workflows.exports import GenerateCustomerExcelReport, create_export
from tests.test_invoices import OCT, add_customer, billing_settings, cli

D = Decimal
NUMBERS = ("+31611110001", "+31611110002", "+31611110003")
CDRS = 2_500  # crosses the progress step (1,000 here, 10,000 in production) twice
PROGRESS_STEP = 1_000
START = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)


def load_cdrs(db: Database, count: int = CDRS, code: str = "ACME") -> int:
    """`count` CDRs in October, types interleaved, with rated amounts; totals calculated."""
    ids = add_customer(db, code, subscriptions=NUMBERS)
    customer = ids["customer"]
    types = ("voice", "sms", "data")
    rows = []
    for i in range(count):
        call_type = types[i % 3]
        rows.append({
            "provider": "kpn_sp16", "provider_ref": f"{code}-{i}", "customer_id": customer,
            "subscription_id": ids[NUMBERS[i % 2 if call_type != "data" else 2]],
            "number": NUMBERS[i % 2 if call_type != "data" else 2],
            # reversed: the export must sort by call date itself
            "call_date": START + timedelta(seconds=90 * (count - i)), "cycle_start_date": OCT,
            "call_type": call_type, "destination": "+31201234567" if call_type != "data" else "",
            "duration_s": (i % 600) if call_type == "voice" else 0,
            "volume_kb": (i % 5000) if call_type == "data" else 0,
            "provider_cost": D(i % 500) / 10000,
        })
    with db.transaction() as s:
        for chunk in range(0, len(rows), 5000):
            s.execute(insert(Cdr), rows[chunk:chunk + 5000])
        cdr_ids = dict(s.execute(select(Cdr.provider_ref, Cdr.id).where(Cdr.customer_id == customer)).all())
        ratings = [{"customer_id": customer, "cycle_start_date": OCT, "cdr_id": cdr_ids[r["provider_ref"]],
                    "subscription_id": r["subscription_id"], "call_type": r["call_type"],
                    "rated_amount": D(i % 1777) / 10000, "bundle_used": 0} for i, r in enumerate(rows)]
        for chunk in range(0, len(ratings), 5000):
            s.execute(insert(CdrRating), ratings[chunk:chunk + 5000])
    with db.transaction() as s:
        totals.calculate_totals(s, customer, OCT)
    return customer


def bus_for(db: Database, tmp_path: Path) -> Bus:
    return Bus(db, default_registry, deps=HandlerDeps(billing_settings(tmp_path)))


def xl_decimal(value: object) -> Decimal:
    assert isinstance(value, int | float), value
    return D(repr(value)) if isinstance(value, float) else D(value)


def test_excel_export_has_the_rows_and_sums_of_the_database(db: Database, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    customer = load_cdrs(db)
    bus = bus_for(db, tmp_path)
    progress: list[int] = []
    original = exports._set

    def spy(db_: Database, job_id: int, **values: object) -> None:
        if "rows" in values:
            progress.append(int(values["rows"]))  # type: ignore[call-overload]
        original(db_, job_id, **values)

    monkeypatch.setattr(exports, "_set", spy)
    monkeypatch.setattr(excel, "PROGRESS_EVERY", PROGRESS_STEP)  # the same steps, a tenth of the rows
    job_id = create_export(bus, "excel", customer, OCT, operator="alice")
    assert export_jobs(db, job_id=job_id)[0].status == "pending"
    run_until_idle(bus)

    [job] = export_jobs(db, job_id=job_id)
    assert (job.status, job.rows, job.total_rows, job.error_message) == ("completed", CDRS, CDRS, None)
    assert progress == [PROGRESS_STEP, 2 * PROGRESS_STEP, CDRS]
    path = Path(str(job.path))
    assert path.parent == billing_settings(tmp_path).exports_dir and path.name == f"ACME_2026-10_excel_{job_id}.xlsx"

    with db.reader() as s:
        expected = {ct: (int(n), D(total)) for ct, n, total in s.execute(
            select(Cdr.call_type, func.count(), func.sum(CdrRating.rated_amount))
            .join(CdrRating, CdrRating.cdr_id == Cdr.id).group_by(Cdr.call_type))}
        first_voice = s.execute(select(Cdr.call_date, Cdr.number, CdrRating.rated_amount)
                                .join(CdrRating, CdrRating.cdr_id == Cdr.id)
                                .where(Cdr.call_type == "voice").order_by(Cdr.call_date).limit(1)).one()
        totals_sum = s.scalar(select(func.sum(Total.rated_amount)))
    book = load_workbook(path, read_only=True)
    assert book.sheetnames == ["Totalen", "Bellen", "Sms", "Data"]
    for sheet_name, call_type in (("Bellen", "voice"), ("Sms", "sms"), ("Data", "data")):
        rows = list(book[sheet_name].iter_rows(min_row=2, values_only=True))
        amount_col = -2  # ... provider cost, amount, cost centre
        assert len(rows) == expected[call_type][0]
        assert sum((xl_decimal(r[amount_col]) for r in rows), D(0)) == expected[call_type][1]
        dates = [r[1] for r in rows]
        assert dates == sorted(dates)
        if call_type == "voice":
            assert (rows[0][0], rows[0][1], xl_decimal(rows[0][amount_col])) == (
                first_voice.number, first_voice.call_date.replace(tzinfo=None), first_voice.rated_amount)
    summary = list(book["Totalen"].iter_rows(values_only=True))
    grand = next(r for r in summary if r and r[0] == "Totaal")
    assert xl_decimal(grand[5]) == totals_sum  # CDRs' rated amounts plus the monthly fees
    book.close()


def test_csv_export_streams_the_same_rows(db: Database, tmp_path: Path) -> None:
    customer = load_cdrs(db, 5_000)
    bus = bus_for(db, tmp_path)
    job_id = create_export(bus, "csv", customer, OCT, operator="alice")
    run_until_idle(bus)
    [job] = export_jobs(db, job_id=job_id)
    assert (job.status, job.rows) == ("completed", 5_000)
    with Path(str(job.path)).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with db.reader() as s:
        total = s.scalar(select(func.sum(CdrRating.rated_amount)))
    assert len(rows) == 5_000 and sum(D(r["rated_amount"]) for r in rows) == total
    keys = [(r["call_type"], r["call_date"]) for r in rows]
    assert keys == sorted(keys)  # (call type, call date) order


def test_usage_insight_and_cost_centre_reports(db: Database, tmp_path: Path) -> None:
    customer = load_cdrs(db, 3_000)
    bus = bus_for(db, tmp_path)
    jobs = {kind: create_export(bus, kind, customer, OCT, operator="alice")
            for kind in ("usage", "insights", "cost_centres")}
    run_until_idle(bus)
    with db.reader() as s:
        totals_sum = s.scalar(select(func.sum(Total.rated_amount)))
    views = {kind: export_jobs(db, job_id=job_id)[0] for kind, job_id in jobs.items()}
    assert {v.status for v in views.values()} == {"completed"}

    usage = list(load_workbook(str(views["usage"].path), read_only=True)["Usage"].iter_rows(values_only=True))
    body = [r for r in usage[1:] if r[0] and r[0] != "Total"]
    assert [r[0] for r in body] == list(NUMBERS)
    assert usage[0][3:6] == ("Voice (min)", "Incoming (min)", "SMS")
    assert xl_decimal(next(r for r in usage if r and r[0] == "Total")[9]) == totals_sum

    centres = load_workbook(str(views["cost_centres"].path), read_only=True)
    assert centres.sheetnames == ["Cost centres", "Subscriptions"]
    [sales] = list(centres["Cost centres"].iter_rows(min_row=2, values_only=True))
    assert sales[0] == "Sales" and sales[1] == 3 and xl_decimal(sales[8]) == totals_sum
    assert len(list(centres["Subscriptions"].iter_rows(min_row=2, values_only=True))) == 3

    insights = load_workbook(str(views["insights"].path), read_only=True)
    assert insights.sheetnames == ["Insights", "Margin"]
    assert len(list(insights["Margin"].iter_rows(min_row=2, values_only=True))) == 3


def test_a_failing_export_marks_its_job_failed_and_a_done_job_is_not_redone(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    customer = load_cdrs(db, 100)
    bus = bus_for(db, tmp_path)

    def broken(*args: object) -> int:
        raise ValueError("disk says no")

    monkeypatch.setitem(reports.REPORTS, "usage", (broken, "xlsx"))
    failing = create_export(bus, "usage", customer, OCT, operator="alice")
    run_until_idle(bus)
    [job] = export_jobs(db, job_id=failing)
    assert job.status == "failed" and job.error_message == "ValueError: disk says no"
    with db.reader() as s:
        assert s.scalars(select(Message.status).where(Message.command_type == "GenerateCustomerUsageReport")).one() == "failed"

    done = create_export(bus, "excel", customer, OCT, operator="alice")
    run_until_idle(bus)
    path = Path(str(export_jobs(db, job_id=done)[0].path))
    stamp = path.stat().st_mtime_ns
    bus.dispatch(GenerateCustomerExcelReport(done))  # a redelivery
    run_until_idle(bus)
    assert path.stat().st_mtime_ns == stamp
    with db.reader() as s:
        assert s.get_one(ExportJob, done).status == "completed"


def test_cli_export_wait_and_jobs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    load_cdrs(db, 1_000)
    db.dispose()
    code, out, _ = cli(data, "export", "excel", "ACME", "--cycle", "2026-10", "--wait")
    assert code == 0 and "1000 row(s) written to" in out and out.strip().endswith(".xlsx")
    code, out, _ = cli(data, "export", "cost-centres", "ACME", "--cycle", "2026-10", "--wait")
    assert code == 0, out
    code, out, _ = cli(data, "export", "jobs", "--json")
    jobs = json.loads(out)
    assert [(j["kind"], j["status"], j["customer_code"]) for j in jobs] == [
        ("cost_centres", "completed", "ACME"), ("excel", "completed", "ACME")]
    code, _, err = cli(data, "export", "csv", "NOPE", "--cycle", "2026-10")
    assert code == 4 and "no customer" in err
