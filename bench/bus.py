"""Command bus throughput: messages/s for a no-op handler and for 4-step chains,
on SQLite and MariaDB, with 1 and 4 worker threads. Target: >= 1,000 msg/s on
SQLite with one worker. Run: .venv/bin/python bench/bus.py [--messages N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from core.bus import Bus, Command, HandlerContext, Registry, run_until_idle  # noqa: E402
from core.db import Database, ensure_schema  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floors import floor_connection, machine  # noqa: E402

reg = Registry()


@dataclass(frozen=True)
class Noop(Command, registry=reg):
    n: int


@reg.handles(Noop)
def noop(cmd: Noop, ctx: HandlerContext) -> None:
    return None


def fresh_database(kind: str) -> Database:
    if kind == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    else:
        name = f"expensis_bench_{uuid.uuid4().hex[:8]}"
        with create_engine("mysql+pymysql://root@127.0.0.1:3306/", isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(text(f"CREATE DATABASE {name}"))
        url = f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    db = Database(url)
    ensure_schema(db)
    return db


def drop(db: Database) -> None:
    if db.is_mysql:
        name = db.engine.url.database
        db.dispose()
        with create_engine("mysql+pymysql://root@127.0.0.1:3306/", isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(text(f"DROP DATABASE {name}"))


def measure(kind: str, workers: int, messages: int, chain: bool) -> float:
    db = fresh_database(kind)
    bus = Bus(db, reg)
    with db.transaction() as s:
        if chain:
            for i in range(messages // 4):
                bus.dispatch(Noop(i), chain=[Noop(i), Noop(i), Noop(i)], session=s)
        else:
            for i in range(messages):
                bus.dispatch(Noop(i), session=s)
    start = time.perf_counter()
    ran = run_until_idle(bus, threads=workers)
    elapsed = time.perf_counter() - start
    assert ran == messages, (ran, messages)
    drop(db)
    return messages / elapsed


def raw_baseline(messages: int) -> float:
    """The least a durable SQLite queue does per message, in raw sqlite3 on the same table:
    claim the oldest due row (one UPDATE ... RETURNING, committed), then mark it done
    (committed). The floor's settings (bench/floors.py: WAL, synchronous=NORMAL, 256 MB
    cache); no Python handler. Two commits per message is what durability costs."""
    db = fresh_database("sqlite")
    bus = Bus(db, reg)
    with db.transaction() as s:
        for i in range(messages):
            bus.dispatch(Noop(i), session=s)
    path = db.url.split("///", 1)[1]
    db.dispose()
    conn = floor_connection(path)
    claim = ("UPDATE message SET status = 'running', attempts = attempts + 1, lease_owner = 'raw', "
             "available_at = ?, started_at = ? WHERE id = (SELECT id FROM message WHERE status = 'queued' "
             "AND available_at <= ? ORDER BY available_at, id LIMIT 1) RETURNING id")
    done = "UPDATE message SET status = 'done', finished_at = ?, lease_owner = NULL WHERE id = ?"
    start = time.perf_counter()
    ran = 0
    while True:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(claim, (now, now, now)).fetchone()
        conn.execute("COMMIT")
        if row is None:
            break
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(done, (now, row[0]))
        conn.execute("COMMIT")
        ran += 1
    elapsed = time.perf_counter() - start
    conn.close()
    assert ran == messages, (ran, messages)
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--skip-mariadb", action="store_true")
    args = parser.parse_args()
    kinds = ["sqlite"] + ([] if args.skip_mariadb else ["mariadb"])
    print(machine())
    baseline = raw_baseline(args.messages)
    print(f"floor: raw sqlite3 claim + complete, 2 commits per message: {baseline:,.0f} msg/s")
    print(f"{'database':<9} {'workers':>7} {'no-op msg/s':>12} {'4-step chain msg/s':>19}")
    results = {}
    for kind in kinds:
        for workers in (1, 4):
            plain = measure(kind, workers, args.messages, chain=False)
            chained = measure(kind, workers, args.messages, chain=True)
            results[kind, workers] = plain
            print(f"{kind:<9} {workers:>7} {plain:>12,.0f} {chained:>19,.0f}")
    ours = results["sqlite", 1]
    print(f"sqlite, 1 worker: {ours:,.0f} msg/s | floor {baseline:,.0f} msg/s | ratio "
          f"{baseline / ours:.2f}x the floor's time per message | target >= 1,000 msg/s: "
          f"{'met' if ours >= 1000 else 'NOT met'}")


if __name__ == "__main__":
    main()
