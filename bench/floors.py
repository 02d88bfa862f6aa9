"""What every bench shares: the floor's best SQLite settings and one way to print a figure
next to its floor (measured in the same run), the ratio, and the absolute target.

A floor is the same work done the fastest plain way: raw sqlite3 (or the library alone),
one transaction, a 256 MB page cache, the same tables and indexes as the project.
"""

from __future__ import annotations

import csv
import os
import resource
import sqlite3
import time
from decimal import Decimal
from itertools import islice
from pathlib import Path

FLOOR_CACHE_KIB = 262_144  # PRAGMA cache_size=-262144: 256 MB


def floor_connection(path: Path | str) -> sqlite3.Connection:
    """A raw connection with the best settings for a floor (we issue BEGIN/COMMIT)."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size=-{FLOOR_CACHE_KIB}")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def machine() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(name: str, seconds: float, floor: float | None, *, ratio_target: float | None = None,
           target: str | None = None, met: bool | None = None, rate: tuple[int, str] | None = None) -> str:
    """One line: the project's figure, the floor, their ratio, and the targets with verdicts.

    `rate` (count, unit) adds a throughput; `target`/`met` state an absolute target."""
    parts = [f"{name:<44} {seconds:8.3f} s"]
    if rate:
        parts.append(f"({rate[0] / seconds:,.0f} {rate[1]}/s)")
    if floor is not None:
        ratio = seconds / floor
        parts.append(f"| floor {floor:7.3f} s | ratio {ratio:5.2f}x")
        if ratio_target is not None:
            parts.append(f"(target <= {ratio_target}x: {'met' if ratio <= ratio_target else 'NOT met'})")
    if target is not None:
        verdict = "" if met is None else f": {'met' if met else 'NOT met'}"
        parts.append(f"| target {target}{verdict}")
    line = " ".join(parts)
    print(line, flush=True)
    return line


INSERT_CDR = ("INSERT INTO cdr (provider, provider_ref, customer_id, subscription_id, number, call_date, "
              "cycle_start_date, call_type, destination, duration_s, volume_kb, provider_cost, "
              "roaming) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")


def raw_cdr_insert(sqlite_file: Path | str, csv_path: Path, sub_of: dict[str, tuple[int, int]],
                   cycle_iso: str) -> float:
    """The CSV's rows (the generic CDR columns) parsed by csv.reader and inserted by one raw
    executemany into the migrated `cdr` table (same indexes), one transaction, 256 MB cache.
    `sub_of` maps a number to (subscription id, customer id)."""
    conn = floor_connection(sqlite_file)
    start = time.perf_counter()
    with csv_path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows = (("raw", ref, sub_of[num][1], sub_of[num][0], num, when, cycle_iso, kind, dest, int(dur),
                 int(kb), int(Decimal(cost) * 10000), 0)
                for ref, num, when, kind, dest, dur, kb, cost in reader)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_CDR, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


INSERT_CDR_MARIADB = ("INSERT IGNORE INTO cdr (provider, provider_ref, customer_id, subscription_id, number, "
                      "call_date, cycle_start_date, call_type, destination, duration_s, volume_kb, provider_cost, "
                      "roaming) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)")


def raw_cdr_insert_mariadb(connect: dict[str, object], csv_path: Path, sub_of: dict[str, tuple[int, int]],
                           cycle_iso: str) -> float:
    """The same rows into a migrated MariaDB `cdr` with plain pymysql: csv.reader, the date's text,
    the cost as its text (the server scales it), multi-row INSERT IGNORE statements (pymysql's
    executemany writes them, up to its statement length), one transaction."""
    import pymysql

    conn = pymysql.connect(**connect, autocommit=False)  # type: ignore[arg-type]
    start = time.perf_counter()
    with csv_path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows = (("raw", ref, sub_of[num][1], sub_of[num][0], num, when[:19].replace("T", " "), cycle_iso, kind,
                 dest, int(dur), int(kb), cost, 0) for ref, num, when, kind, dest, dur, kb, cost in reader)
        with conn.cursor() as cursor:
            while chunk := list(islice(rows, 20_000)):
                cursor.executemany(INSERT_CDR_MARIADB, chunk)
        conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed
