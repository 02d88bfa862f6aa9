"""Recalculation on MariaDB (issue 14.1): all customers through worker processes, next to the floor.

Floor (same run, same tables): per customer-cycle, pymysql reads its CDRs, prices them with
integers and replaces its rows in a copy of `cdr_rating` (same keys) in one transaction (no bundles, no totals); with
N worker processes the floor is the sum divided by N. The read alone is timed too, buffered
and with a server-side cursor, to show what the driver's decoding costs.

Target: all 50 customers of 1M CDRs <= 10 s with two worker processes.
Run: python bench/recalc_mariadb.py [--cdrs 1000000 --customers 50 --server mysql+pymysql://root@127.0.0.1:3306]
The database `--name` (default bench_recalc) is dropped and created; with `--reuse` a database
this script loaded with the same --cdrs and --customers is kept and only the tables the runs
write are emptied (loading 1M CDRs takes minutes).

The buffer pool: 1M CDRs (about 300 MB of `cdr` with its indexes, and the ratings) do not fit
MariaDB's default 128 MB `innodb_buffer_pool_size`, so every cycle's read goes to disk (a
customer's CDRs are spread over every page of `cdr`). A production server sizes its pool to
hold the working set; with `--buffer-pool fit` (the default) the bench raises the server's
pool for its run (SET GLOBAL, online) to 1 KB a CDR (1M CDRs: `cdr` ~300 MB with its indexes,
`cdr_rating` and the floor's copy 120-190 MB each), reads `cdr` into it before the floor and the
project run, and puts the previous size back at exit, on error too (SIGTERM included).
`--buffer-pool keep` measures with the server's pool as it is; `--buffer-pool MB` sets a size.
The pages read from disk (the server's Innodb_buffer_pool_reads, all its clients) are printed
per phase.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pymysql  # noqa: E402
import pymysql.cursors  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from core import raw_store  # noqa: E402
from core.bus import Bus  # noqa: E402
from core.bus.command import default_registry  # noqa: E402
from core.bus.process import WorkerProcess  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.db import Database, ensure_schema  # noqa: E402
from core.models import Customer, Subscription  # noqa: E402
from core.workflows import load_all  # noqa: E402
from core.workflows.totals import dispatch_totals  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cdr_pipeline import CYCLE, SUBS_PER_CUSTOMER, _floor_amount, number, wait_running  # noqa: E402
from cdr_pipeline import seed as seed_customers  # noqa: E402
from floors import machine, report  # noqa: E402

INSERT_CDR = ("INSERT INTO cdr (provider, provider_ref, customer_id, subscription_id, number, call_date, "
              "cycle_start_date, call_type, destination, duration_s, volume_kb, provider_cost, roaming) "
              "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)")


def seed(db: Database, customers: int) -> dict[str, tuple[int, int]]:
    """The bench plan and customers (bench/cdr_pipeline.py's); number -> (subscription, customer)."""
    seed_customers(db, customers)
    with db.reader() as s:
        return {sub.number: (sub.id, sub.customer_id) for sub in s.query(Subscription)}


def load_cdrs(conn: Any, sub_of: dict[str, tuple[int, int]], cdrs: int, customers: int) -> float:
    """The rows bench/cdr_pipeline.py generates, by multi-row INSERTs (pymysql batches executemany)."""
    rng = random.Random(7)
    start = datetime(2026, 10, 1, 6, 0)
    span = 29 * 86400
    t = time.perf_counter()
    batch: list[tuple[Any, ...]] = []
    with conn.cursor() as cur:
        for i in range(cdrs):
            kind = rng.choices(("voice", "sms", "data"), (6, 2, 2))[0]
            when = start + timedelta(seconds=rng.randrange(span))
            dest = "+442071234567" if rng.random() < 0.05 else "+31201234567"
            num = number(i % customers, rng.randrange(SUBS_PER_CUSTOMER))
            sub_id, customer_id = sub_of[num]
            batch.append(("raw", f"B{i:08d}", customer_id, sub_id, num, when, CYCLE, kind,
                          dest if kind != "data" else "", rng.randrange(1, 900) if kind == "voice" else 0,
                          rng.randrange(1, 50_000) if kind == "data" else 0,
                          Decimal(rng.randrange(1, 2000)).scaleb(-4), 0))
            if len(batch) == 10_000:
                cur.executemany(INSERT_CDR, batch)
                batch.clear()
        if batch:
            cur.executemany(INSERT_CDR, batch)
    conn.commit()
    return time.perf_counter() - t


def cycle_floor(conn: Any, customer_id: int) -> float:
    """One customer-cycle the plain way with pymysql (see the module docstring)."""
    start = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SELECT id, subscription_id, call_type, destination, duration_s, volume_kb, "
                    "CAST(provider_cost * 10000 AS SIGNED) FROM cdr WHERE customer_id = %s AND "
                    "cycle_start_date = %s", (customer_id, CYCLE))
        ratings = [(customer_id, CYCLE, cdr_id, sub_id, kind, Decimal(_floor_amount(kind, dest, dur, kb)).scaleb(-4),
                    0, dur, kb, Decimal(cost).scaleb(-4)) for cdr_id, sub_id, kind, dest, dur, kb, cost in cur.fetchall()]
        cur.execute("DELETE FROM floor_rating WHERE customer_id = %s AND cycle_start_date = %s", (customer_id, CYCLE))
        cur.executemany("INSERT INTO floor_rating (customer_id, cycle_start_date, cdr_id, subscription_id, "
                        "call_type, rated_amount, bundle_used, duration_s, volume_kb, provider_cost) "
                        "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", ratings)
    conn.commit()
    return time.perf_counter() - start


_READ = ("SELECT id, subscription_id, call_date, provider_ref, call_type, destination, duration_s, volume_kb, "
         "CAST(provider_cost * 10000 AS SIGNED), roaming, visited_country FROM cdr "
         "WHERE customer_id = %s AND cycle_start_date = %s")


def read_costs(conn: Any, customer_id: int) -> dict[str, float]:
    """One cycle's read as core.raw_store does it: buffered, server-side (unbuffered), and the server alone."""
    costs = {}
    for label, cursor_class, sql in (
            ("buffered", pymysql.cursors.Cursor, _READ),
            ("server-side", pymysql.cursors.SSCursor, _READ),
            ("server alone (SUMs over the same rows)", pymysql.cursors.Cursor,
             "SELECT COUNT(*), SUM(duration_s + volume_kb + LENGTH(provider_ref) + LENGTH(destination)) "
             "FROM cdr WHERE customer_id = %s AND cycle_start_date = %s")):
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            with conn.cursor(cursor_class) as cur:
                cur.execute(sql, (customer_id, CYCLE))
                cur.fetchall()
            runs.append(time.perf_counter() - t)
        costs[label] = statistics.median(runs)
    conn.commit()
    return costs


def pool_status(conn: Any) -> tuple[int, int]:
    """(innodb_buffer_pool_size, pages read from disk so far)."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@innodb_buffer_pool_size")
        (size,) = cur.fetchone()
        cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads'")
        reads = int(cur.fetchone()[1])
    return int(size), reads


def resize_pool(conn: Any, size: int) -> int:
    """SET GLOBAL innodb_buffer_pool_size (MariaDB resizes online, in the background) and wait
    for it; returns the size the server took (it rounds to its chunk size)."""
    with conn.cursor() as cur:
        cur.execute(f"SET GLOBAL innodb_buffer_pool_size = {int(size)}")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_resize_status'")
            row = cur.fetchone()
            status = row[1] if row else ""
            if not status or status.startswith("Completed"):
                break
            time.sleep(0.2)
    return pool_status(conn)[0]


def table_mb(conn: Any, name: str) -> dict[str, float]:
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, data_length + index_length FROM information_schema.tables "
                    "WHERE table_schema = %s AND table_name IN ('cdr', 'cdr_rating', 'floor_rating')", (name,))
        return {table: size / 2**20 for table, size in cur.fetchall()}


def warm(conn: Any) -> float:
    """Read `cdr` (rows and each index) into the pool, so the first pass of neither the floor
    nor the project pays the disk reads."""
    t = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*), SUM(LENGTH(provider_ref) + duration_s) FROM cdr")
        cur.execute("SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE() "
                    "AND table_name = 'cdr' AND index_name <> 'PRIMARY'")
        for (index,) in cur.fetchall():
            cur.execute(f"SELECT COUNT(*) FROM cdr FORCE INDEX ({index})")
        cur.fetchall()
    conn.commit()
    return time.perf_counter() - t


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 when unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def local_server() -> int | None:
    """The pid of a MariaDB server on this machine (its CPU is counted per phase), or None."""
    for name in ("mariadbd", "mysqld"):
        found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
        if found:
            return int(found[0])
    return None


def through_workers(bus: Bus, ids: list[int]) -> float:
    t = time.perf_counter()
    for customer_id in ids:
        dispatch_totals(bus, customer_id, CYCLE)
    while bus.pending_count():
        time.sleep(0.05)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server", default="mysql+pymysql://root@127.0.0.1:3306")
    parser.add_argument("--name", default="bench_recalc")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the database --name when this script loaded it with the same sizes")
    parser.add_argument("--hold", type=float, metavar="SECONDS",
                        help="measure nothing: load (or reuse) and warm the database, then hold the raised pool "
                             "for SECONDS or until killed (for profiling from another process), and put it back")
    parser.add_argument("--buffer-pool", default="fit",
                        help="fit (1 KB a CDR, restored at exit), keep (the server's as it is), or a size in MB")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill restores the pool too (finally)
    load_all()
    print(machine())
    server = make_url(args.server)
    admin = pymysql.connect(host=server.host, port=server.port or 3306, user=server.username,
                            password=server.password or "")
    previous_pool = pool_status(admin)[0]
    try:
        if args.buffer_pool != "keep":
            wanted = args.cdrs * 1024 if args.buffer_pool == "fit" else int(args.buffer_pool) * 2**20
            wanted = -(-wanted // 2**27) * 2**27  # whole 128 MB
            if wanted > previous_pool:
                print(f"innodb_buffer_pool_size raised for this run (SET GLOBAL; put back at exit): "
                      f"{previous_pool / 2**20:.0f} MB -> {resize_pool(admin, wanted) / 2**20:.0f} MB")
        run(args, server, admin)
    finally:
        if pool_status(admin)[0] != previous_pool:
            print(f"innodb_buffer_pool_size put back to {resize_pool(admin, previous_pool) / 2**20:.0f} MB")
        admin.close()
    print(machine())


def run(args: argparse.Namespace, server: Any, admin: Any) -> None:
    reused = args.reuse and reusable(admin, args)
    if not reused:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {args.name}")
            cur.execute(f"CREATE DATABASE {args.name} CHARACTER SET utf8mb4")
    url = server.set(database=args.name).render_as_string(hide_password=False)
    db = Database(url)
    ensure_schema(db)
    conn = pymysql.connect(host=server.host, port=server.port or 3306, user=server.username,
                           password=server.password or "", database=args.name)
    try:
        if reused:
            print(f"reused {args.name}: {args.cdrs:,} CDRs for {args.customers} customers; emptied "
                  f"{empty_written(conn)} tables the runs write")
        else:
            sub_of = seed(db, args.customers)
            loaded = load_cdrs(conn, sub_of, args.cdrs, args.customers)
            with conn.cursor() as cur:  # the floor's ratings: the same table, keys and indexes, apart
                cur.execute("CREATE TABLE floor_rating LIKE cdr_rating")
                cur.execute("ALTER TABLE floor_rating ADD FOREIGN KEY (cdr_id) REFERENCES cdr (id), "
                            "ADD FOREIGN KEY (customer_id) REFERENCES customer (id)")
            mark_loaded(conn, args)
            print(f"loaded {args.cdrs:,} CDRs for {args.customers} customers in {loaded:.1f} s (multi-row INSERT)")
        with db.reader() as s:
            ids = [c.id for c in s.query(Customer).order_by(Customer.id)]
        if args.hold is not None:
            print(f"cdr read into the buffer pool in {warm(conn):.1f} s; holding {url} for {args.hold:.0f} s",
                  flush=True)
            time.sleep(args.hold)
            return
        measure(args, db, url, conn, ids)
    finally:
        conn.close()
        db.dispose()


def mark_loaded(conn: Any, args: argparse.Namespace) -> None:
    """Record the load and the tables it left empty (the ones the runs write, emptied on reuse)."""
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
        empty = []
        for (table,) in cur.fetchall():
            cur.execute(f"SELECT EXISTS (SELECT 1 FROM `{table}`)")
            if not cur.fetchone()[0]:
                empty.append(table)
        cur.execute("CREATE TABLE bench_load (cdrs INT, customers INT, empty_tables TEXT)")
        cur.execute("INSERT INTO bench_load VALUES (%s, %s, %s)", (args.cdrs, args.customers, ",".join(empty)))
    conn.commit()


def reusable(admin: Any, args: argparse.Namespace) -> bool:
    with admin.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s "
                    "AND table_name = 'bench_load'", (args.name,))
        if not cur.fetchone()[0]:
            return False
        cur.execute(f"SELECT cdrs, customers FROM {args.name}.bench_load")
        return cur.fetchone() == (args.cdrs, args.customers)


def empty_written(conn: Any) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT empty_tables FROM bench_load")
        tables = [t for t in cur.fetchone()[0].split(",") if t]
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in tables:
            cur.execute(f"TRUNCATE TABLE `{table}`")
        cur.execute("SET FOREIGN_KEY_CHECKS = 1")
    conn.commit()
    return len(tables)


def measure(args: argparse.Namespace, db: Database, url: str, conn: Any, ids: list[int]) -> None:
    print(f"cdr's rows and indexes read into the buffer pool in {warm(conn):.1f} s (as far as it holds them)")
    with conn.cursor() as cur:  # a cycle's rows are read from the pool or, beyond it, from disk
        cur.execute("SELECT @@innodb_buffer_pool_size, @@innodb_flush_method")
        pool, flush = cur.fetchone()
    print(f"innodb_buffer_pool_size {pool / 2**20:.0f} MB, innodb_flush_method {flush}")
    costs = read_costs(conn, ids[0])
    runs = []
    for _ in range(3):
        with db.reader() as s:
            t = time.perf_counter()
            raw_store.cycle_cdrs(s, ids[0], CYCLE)
            runs.append(time.perf_counter() - t)
    costs["core.raw_store.cycle_cdrs (packed)"] = statistics.median(runs)
    print("one cycle's read (" + f"{args.cdrs // args.customers:,} CDRs): "
          + ", ".join(f"{label} {seconds:.3f} s" for label, seconds in costs.items()))

    server = local_server()
    bus = Bus(db, default_registry)
    work = Path(tempfile.mkdtemp(prefix="expensis-bench-"))
    settings = load_settings(data_dir=work, db_url=url, config_file=work / "none.toml")
    logs = [work / f"worker{i}.log" for i in range(args.workers)]
    t = time.perf_counter()
    workers = [WorkerProcess(settings, 1, log_file=log).start() for log in logs]
    try:
        wait_running(logs)
        print(f"{args.workers} worker processes started in {time.perf_counter() - t:.2f} s (not counted)")
        for phase in ("first rating", "recalculated"):
            reads = pool_status(conn)[1]
            floor = sum(cycle_floor(conn, c) for c in ids) / args.workers
            floor_reads, reads = pool_status(conn)[1] - reads, pool_status(conn)[1]
            pids = [w.process.pid if w.process else None for w in workers] + [server]
            cpu = [cpu_seconds(pid) for pid in pids]
            seconds = through_workers(bus, ids)
            ours_reads = pool_status(conn)[1] - reads
            used = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu, strict=True)]
            report(f"all {len(ids)} customers, {phase}, {args.workers} processes", seconds, floor,
                   target="<= 10 s", met=seconds <= 10)
            print(f"  pages read from disk: floor {floor_reads:,}, ours {ours_reads:,}; {machine()}")
            print("  CPU seconds (what the load does not change much): workers "
                  + " + ".join(f"{c:.2f}" for c in used[:-1])
                  + (f", server {used[-1]:.2f}" if server else ", server not local"))
    finally:
        for w in workers:
            w.stop(grace=30)
    print("sizes: " + ", ".join(f"{t} {mb:.0f} MB" for t, mb in table_mb(conn, args.name).items())
          + f"; innodb_buffer_pool_size {pool_status(conn)[0] / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
