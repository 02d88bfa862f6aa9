"""Invoicing and export benchmark (issue 14.4), each figure next to its floor (same run).

1. An invoice run for N customers (default 1,000) through the bus: draft, gapless
   number, lines, PDF rendered and archived, ledger; seconds and peak memory.
   Floor: the same number of invoice PDFs (same lines) rendered and written, nothing else.
2. The customer Excel export job of M CDRs (default 200,000) streamed from the
   database; seconds and peak memory, next to the same export of M/10 CDRs: the
   memory must stay flat (streaming), not grow with the month.
   Floor: the same rows read with one plain query and written with openpyxl's
   write-only mode (one sheet per call type, values appended as they are).
   Target: <= 1.2x the floor.

Each measurement runs in its own process, so its peak RSS is its own.
Run: python bench/invoices.py [--customers 1000 --cdrs 200000 --db URL]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from core.bus import Bus, run_until_idle  # noqa: E402
from core.bus.command import default_registry  # noqa: E402
from core.bus.deps import HandlerDeps  # noqa: E402
from core.config import Settings, load_settings  # noqa: E402
from core.db import Database, ensure_schema  # noqa: E402
from core.models import Cdr, Customer, RatePlan, Subscription, Total  # noqa: E402
from core.views.billing import export_jobs  # noqa: E402
from core.workflows import load_all  # noqa: E402
from core.workflows.exports import create_export  # noqa: E402
from core.workflows.invoicing import invoice_run  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floors import machine, report  # noqa: E402

CYCLE = date(2026, 10, 1)
SUBS = 5


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def invoice_floor(data_dir: Path, customers: int) -> float:
    """Render and write `customers` invoice PDFs with the seeded lines (5 subscriptions, a fee
    and three usage lines each): the part of an invoice run no database work can remove."""
    from core.billing.lines import (
        FeeTotal,
        UsageTotal,
        build_invoice_lines,
        compute_amounts,
        vat_rule_for,
    )
    from core.billing.pdf import InvoiceDocument, Party, render_invoice_pdf

    issuer = Party("Expensis B.V.", ("Keizersgracht 1", "1015 AA Amsterdam"), "NL001234567B01",
                   "facturen@expensis.nl", iban="NL91ABNA0417164300")
    out = data_dir / "floor-pdfs"
    out.mkdir()
    started = time.perf_counter()
    for c in range(customers):
        language = "en" if c % 3 == 0 else "nl"
        numbers = [f"+3165{c:05d}{i}" for i in range(SUBS)]
        fees = [FeeTotal(n, "Bench 10", Decimal("10.0000")) for n in numbers]
        usage = [u for i, n in enumerate(numbers) for u in (
            UsageTotal(n, "voice", 40 + i, 3000 + 60 * i, 0, Decimal(c % 97 + i) / 10),
            UsageTotal(n, "sms", 10 + i, 0, 0, Decimal(i) / 10),
            UsageTotal(n, "data", 50, 0, 900_000 + 1000 * i, Decimal(c % 13) / 4))]
        amounts = compute_amounts(build_invoice_lines(fees, usage, [], language=language), vat_rule_for("NL", None))
        document = InvoiceDocument(f"2026-{c + 1:05d}", "invoice", date(2026, 11, 15), date(2026, 11, 29),
                                   "2026-10", issuer, Party(f"Bench customer {c}", ("Straat 1", "1000 AA Stad"),
                                                           None, f"c{c}@bench.test"),
                                   language, amounts, 14, False)  # type: ignore[arg-type]
        (out / f"{c}.pdf").write_bytes(render_invoice_pdf(document))
    return time.perf_counter() - started


def excel_floor(url: str, data_dir: Path, customer_id: int) -> float:
    """The export's rows read with one plain query (no ORM) and appended as they are to
    openpyxl's write-only workbook, one sheet per call type: the library's own speed."""
    from openpyxl import Workbook

    engine = create_engine(url)
    started = time.perf_counter()
    workbook = Workbook(write_only=True)
    sheets: dict[str, Any] = {}
    with engine.connect() as conn:
        rows = conn.execution_options(stream_results=True, yield_per=2000).execute(text(
            "SELECT c.number, c.call_date, c.call_type, c.destination, c.duration_s, c.volume_kb, "
            "c.provider_cost, r.rated_amount, s.cost_centre FROM cdr c "
            "JOIN subscription s ON s.id = c.subscription_id "
            "LEFT JOIN cdr_rating r ON r.customer_id = c.customer_id "
            "AND r.cycle_start_date = c.cycle_start_date AND r.cdr_id = c.id "
            "WHERE c.customer_id = :c AND c.cycle_start_date = :cycle "
            "ORDER BY c.call_type, c.call_date, c.id"), {"c": customer_id, "cycle": CYCLE})
        for row in rows:
            sheet = sheets.get(row[2])
            if sheet is None:
                sheet = sheets[row[2]] = workbook.create_sheet(row[2])
            sheet.append(tuple(row))
    workbook.save(data_dir / "floor.xlsx")
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def settings_for(data_dir: Path, url: str) -> Settings:
    return replace(load_settings(data_dir=data_dir, environ={}), db_url=url)


def seed_customers(db: Database, customers: int) -> None:
    with db.transaction() as s:
        plan = RatePlan(name="Bench 10", monthly_fee=Decimal("10.00"))
        s.add(plan)
        s.flush()
        for c in range(customers):
            customer = Customer(code=f"B{c:05d}", name=f"Bench customer {c}", email=f"c{c}@bench.test",
                                language="en" if c % 3 == 0 else "nl", address="Straat 1\n1000 AA Stad")
            s.add(customer)
            s.flush()
            subs = [Subscription(customer_id=customer.id, number=f"+3165{c:05d}{i}", rate_plan_id=plan.id,
                                 start_date=date(2025, 1, 1)) for i in range(SUBS)]
            s.add_all(subs)
            s.flush()
            rows = []
            for i, sub in enumerate(subs):
                rows.append(dict(call_type="fee", count=1, duration_s=0, volume_kb=0, rated=Decimal("10.0000")))
                rows.append(dict(call_type="voice", count=40 + i, duration_s=3000 + 60 * i, volume_kb=0,
                                 rated=Decimal(c % 97 + i) / 10))
                rows.append(dict(call_type="sms", count=10 + i, duration_s=0, volume_kb=0,
                                 rated=Decimal(i) / 10))
                rows.append(dict(call_type="data", count=50, duration_s=0, volume_kb=900_000 + 1000 * i,
                                 rated=Decimal(c % 13) / 4))
                for row in rows[-4:]:
                    row["sub"] = sub.id
            s.execute(insert(Total), [
                {"customer_id": customer.id, "cycle_start_date": CYCLE, "subscription_id": r["sub"],
                 "call_type": r["call_type"], "count": r["count"], "duration_s": r["duration_s"],
                 "volume_kb": r["volume_kb"], "provider_cost": Decimal("0"), "rated_amount": r["rated"],
                 "version": 1} for r in rows])


def seed_cdrs(db: Database, cdrs: int) -> int:
    with db.transaction() as s:
        customer = Customer(code="BIG", name="Big customer", rateplan_customer=True)
        s.add(customer)
        s.flush()
        subs = [Subscription(customer_id=customer.id, number=f"+3166{i:07d}", cost_centre=f"KP-{i % 7}",
                             start_date=date(2025, 1, 1)) for i in range(200)]
        s.add_all(subs)
        s.flush()
        sub_ids = [sub.id for sub in subs]
        customer_id = customer.id
    start = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
    types = ("voice", "voice", "voice", "sms", "data")
    batch: list[dict[str, Any]] = []
    for i in range(cdrs):
        kind = types[i % 5]
        batch.append({
            "provider": "kpn_sp16", "provider_ref": f"R{i:09d}", "customer_id": customer_id,
            "subscription_id": sub_ids[i % 200], "number": f"+3166{i % 200:07d}",
            "call_date": start + timedelta(seconds=(i * 7919) % (29 * 86400)), "cycle_start_date": CYCLE,
            "call_type": kind, "destination": "+31201234567" if kind != "data" else "",
            "duration_s": (i % 900) if kind == "voice" else 0, "volume_kb": (i % 9000) if kind == "data" else 0,
            "provider_cost": Decimal(i % 500) / 10000,
        })
        if len(batch) == 10_000:
            with db.transaction() as s:
                s.execute(insert(Cdr), batch)
            batch = []
    if batch:
        with db.transaction() as s:
            s.execute(insert(Cdr), batch)
    amount = "(id % 1777) / 10000" if db.is_mysql else "id % 1777"  # SQLite keeps ten-thousandths
    with db.transaction() as s:
        s.execute(text(f"INSERT INTO cdr_rating (customer_id, cycle_start_date, cdr_id, subscription_id, "
                       f"call_type, rated_amount, bundle_used) SELECT customer_id, cycle_start_date, id, "
                       f"subscription_id, call_type, {amount}, 0 FROM cdr WHERE customer_id = :c"),
                  {"c": customer_id})
    return customer_id


def phase_invoices(url: str, data_dir: Path, customers: int, threads: int) -> dict[str, Any]:
    db = Database(url)
    load_all()
    bus = Bus(db, default_registry, deps=HandlerDeps(settings_for(data_dir, url)))
    before = rss_mb()
    started = time.perf_counter()
    run = invoice_run(bus, "2026-10", operator="bench", issue_date=date(2026, 11, 15))
    run_until_idle(bus, threads=threads)
    seconds = time.perf_counter() - started
    pdfs = sum(1 for _ in (data_dir / "invoices").rglob("*.pdf"))
    db.dispose()
    floor = invoice_floor(data_dir, customers)
    return {"invoices": len(run.dispatched), "pdfs": pdfs, "seconds": round(seconds, 2),
            "floor_seconds": round(floor, 2),
            "per_invoice_ms": round(1000 * seconds / max(customers, 1), 1),
            "rss_before_mb": round(before, 1), "peak_rss_mb": round(rss_mb(), 1)}


def phase_excel(url: str, data_dir: Path, cdrs: int, customer_id: int, repeat: int = 1) -> dict[str, Any]:
    import core.exports.workbook  # noqa: F401 - openpyxl's import is paid once per process, not timed

    db = Database(url)
    load_all()
    bus = Bus(db, default_registry, deps=HandlerDeps(settings_for(data_dir, url)))
    before = rss_mb()
    times, floors = [], []
    for _ in range(repeat):  # export and floor alternate, so both see the same load
        started = time.perf_counter()
        job_id = create_export(bus, "excel", customer_id, CYCLE, operator="bench")
        run_until_idle(bus)
        times.append(time.perf_counter() - started)
        [job] = export_jobs(db, job_id=job_id)
        assert job.status == "completed" and job.rows == cdrs, job
        peak = rss_mb()  # the export's peak: the floor below runs in the same process
        floors.append(excel_floor(url, data_dir, customer_id))
    db.dispose()
    seconds, floor = statistics.median(times), statistics.median(floors)
    return {"cdrs": cdrs, "seconds": round(seconds, 2), "rows_per_s": int(cdrs / seconds),
            "floor_seconds": round(floor, 2),
            "all_seconds": times, "all_floors": floors,
            "median_ratio": statistics.median(t / f for t, f in zip(times, floors, strict=True)),
            "file_mb": round(Path(str(job.path)).stat().st_size / 2**20, 1),
            "rss_before_mb": round(before, 1), "peak_rss_mb": round(peak, 1),
            "growth_mb": round(peak - before, 1)}


def child(args: argparse.Namespace) -> None:
    """One step in its own process: seeding and measuring never share a peak RSS."""
    data_dir = Path(args.data_dir)
    url = args.url
    if args.phase == "seed-invoices":
        db = Database(url)
        ensure_schema(db)
        seed_customers(db, args.customers)
        result: dict[str, Any] = {}
    elif args.phase == "seed-excel":
        db = Database(url)
        ensure_schema(db)
        result = {"customer_id": seed_cdrs(db, args.cdrs)}
    elif args.phase == "invoices":
        result = phase_invoices(url, data_dir, args.customers, args.threads)
    else:
        result = phase_excel(url, data_dir, args.cdrs, args.customer_id, args.repeat)
    print(json.dumps(result))


def fresh_database(server_url: str | None, data_dir: Path) -> str:
    if not server_url:
        return f"sqlite:///{data_dir / 'bench.sqlite3'}"
    import uuid

    from sqlalchemy import create_engine, text

    name = f"expensis_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(server_url.rstrip("/") + "/", isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    engine.dispose()
    return f"{server_url.rstrip('/')}/{name}?charset=utf8mb4"


def run_child(phase: str, args: argparse.Namespace, url: str, data_dir: Path, **extra: Any) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--phase", phase, "--url", url, "--data-dir", str(data_dir),
            "--customers", str(args.customers), "--cdrs", str(extra.get("cdrs", args.cdrs)),
            "--threads", str(args.threads), "--customer-id", str(extra.get("customer_id", 0)),
            "--repeat", str(args.repeat)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine, make_url, text

    parsed = make_url(url)
    engine = create_engine(parsed.set(database=""), isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {parsed.database}"))
    engine.dispose()


def measure(phase: str, args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="expensis-bench-") as tmp:
        data_dir = Path(tmp)
        url = fresh_database(args.db, data_dir)
        try:
            seeded = run_child(f"seed-{phase}", args, url, data_dir, **extra)
            return run_child(phase, args, url, data_dir, **extra, **seeded)
        finally:
            drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--cdrs", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=4, help="bus worker threads for the invoice run")
    parser.add_argument("--db", help="MariaDB server URL (mysql+pymysql://root@127.0.0.1:3306); default SQLite")
    parser.add_argument("--excel-only", action="store_true", help="skip the invoice run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Excel export and floor pairs per size (alternated, medians printed)")
    parser.add_argument("--phase", choices=["seed-invoices", "seed-excel", "invoices", "excel"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--customer-id", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args)
        return
    backend = "MariaDB" if args.db else "SQLite"
    print(machine())
    if not args.excel_only:
        invoices = measure("invoices", args)
        report(f"[{backend}] invoice run, {invoices['invoices']} customers", invoices["seconds"],
               invoices["floor_seconds"])
        print(f"    {invoices['per_invoice_ms']} ms/invoice, peak RSS {invoices['peak_rss_mb']} MB "
              f"(after setup {invoices['rss_before_mb']} MB); {invoices['pdfs']} PDFs archived")
    small = measure("excel", args, cdrs=max(args.cdrs // 10, 1))
    large = measure("excel", args)
    for result in (small, large):
        report(f"[{backend}] Excel export of {result['cdrs']:,} CDRs", result["seconds"],
               result["floor_seconds"], ratio_target=1.2, rate=(result["cdrs"], "rows"))
        pairs = ", ".join(f"{s:.2f}/{f:.2f} s" for s, f in zip(result["all_seconds"], result["all_floors"],
                                                                strict=True))
        print(f"    {result['file_mb']} MB file, peak RSS {result['peak_rss_mb']} MB, "
              f"growth during export {result['growth_mb']} MB; export/floor pairs: {pairs}; "
              f"median of the pair ratios {result['median_ratio']:.2f}x")
    ratio = (large["growth_mb"] + 1) / (small["growth_mb"] + 1)
    print(f"memory growth ratio {large['cdrs']:,} vs {small['cdrs']:,} CDRs: {ratio:.2f} "
          f"({'flat: streaming' if ratio < 2 else 'NOT flat'})")


if __name__ == "__main__":
    main()
