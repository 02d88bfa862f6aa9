"""Invoicing and export benchmark.

1. An invoice run for N customers (default 1,000) through the bus: draft, gapless
   number, lines, PDF rendered and archived, ledger; seconds and peak memory.
2. The customer Excel export job of M CDRs (default 200,000) streamed from the
   database; seconds and peak memory, next to the same export of M/10 CDRs: the
   memory must stay flat (streaming), not grow with the month.

Each measurement runs in its own process, so its peak RSS is its own.
Run: .venv/bin/python bench/invoices.py [--customers 1000 --cdrs 200000 --db URL]
"""

from __future__ import annotations

import argparse
import json
import resource
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

from sqlalchemy import insert  # noqa: E402

from core.bus import Bus, run_until_idle  # noqa: E402
from core.bus.command import default_registry  # noqa: E402
from core.config import Settings, load_settings  # noqa: E402
from core.db import Database, ensure_schema  # noqa: E402
from core.models import Cdr, Customer, RatePlan, Subscription, Total  # noqa: E402
from core.workflows import load_all  # noqa: E402
from core.workflows.exports import create_export, export_jobs  # noqa: E402
from core.workflows.invoicing import invoice_run  # noqa: E402

CYCLE = date(2026, 10, 1)
SUBS = 5


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
            "provider_cost": Decimal(i % 500) / 10000, "rated_amount": Decimal(i % 1777) / 10000,
            "bundle_used": 0,
        })
        if len(batch) == 10_000:
            with db.transaction() as s:
                s.execute(insert(Cdr), batch)
            batch = []
    if batch:
        with db.transaction() as s:
            s.execute(insert(Cdr), batch)
    return customer_id


def phase_invoices(url: str, data_dir: Path, customers: int, threads: int) -> dict[str, Any]:
    db = Database(url)
    load_all()
    bus = Bus(db, default_registry, services={"settings": settings_for(data_dir, url)})
    before = rss_mb()
    started = time.perf_counter()
    run = invoice_run(bus, "2026-10", operator="bench", issue_date=date(2026, 11, 15))
    run_until_idle(bus, threads=threads)
    seconds = time.perf_counter() - started
    pdfs = sum(1 for _ in (data_dir / "invoices").rglob("*.pdf"))
    db.dispose()
    return {"invoices": len(run.dispatched), "pdfs": pdfs, "seconds": round(seconds, 2),
            "per_invoice_ms": round(1000 * seconds / max(customers, 1), 1),
            "rss_before_mb": round(before, 1), "peak_rss_mb": round(rss_mb(), 1)}


def phase_excel(url: str, data_dir: Path, cdrs: int, customer_id: int) -> dict[str, Any]:
    db = Database(url)
    load_all()
    bus = Bus(db, default_registry, services={"settings": settings_for(data_dir, url)})
    before = rss_mb()
    started = time.perf_counter()
    job_id = create_export(bus, "excel", customer_id, CYCLE, operator="bench")
    run_until_idle(bus)
    seconds = time.perf_counter() - started
    [job] = export_jobs(db, job_id=job_id)
    db.dispose()
    assert job.status == "completed" and job.rows == cdrs, job
    return {"cdrs": cdrs, "seconds": round(seconds, 2), "rows_per_s": int(cdrs / seconds),
            "file_mb": round(Path(str(job.path)).stat().st_size / 2**20, 1),
            "rss_before_mb": round(before, 1), "peak_rss_mb": round(rss_mb(), 1),
            "growth_mb": round(rss_mb() - before, 1)}


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
        result = phase_excel(url, data_dir, args.cdrs, args.customer_id)
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
            "--threads", str(args.threads), "--customer-id", str(extra.get("customer_id", 0))]
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
    invoices = measure("invoices", args)
    print(f"[{backend}] invoice run, {invoices['invoices']} customers (PDF each): {invoices['seconds']} s "
          f"({invoices['per_invoice_ms']} ms/invoice), peak RSS {invoices['peak_rss_mb']} MB "
          f"(after setup {invoices['rss_before_mb']} MB); {invoices['pdfs']} PDFs archived")
    small = measure("excel", args, cdrs=max(args.cdrs // 10, 1))
    large = measure("excel", args)
    for result in (small, large):
        print(f"[{backend}] Excel export of {result['cdrs']:,} CDRs: {result['seconds']} s "
              f"({result['rows_per_s']:,} rows/s, {result['file_mb']} MB file), peak RSS "
              f"{result['peak_rss_mb']} MB, growth during export {result['growth_mb']} MB")
    ratio = (large["growth_mb"] + 1) / (small["growth_mb"] + 1)
    print(f"memory growth ratio {large['cdrs']:,} vs {small['cdrs']:,} CDRs: {ratio:.2f} "
          f"({'flat: streaming' if ratio < 2 else 'NOT flat'})")


if __name__ == "__main__":
    main()
