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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from core.bus import Bus, Command, HandlerContext, Registry, run_until_idle  # noqa: E402
from core.db import Database, ensure_schema  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--skip-mariadb", action="store_true")
    args = parser.parse_args()
    kinds = ["sqlite"] + ([] if args.skip_mariadb else ["mariadb"])
    print(f"{'database':<9} {'workers':>7} {'no-op msg/s':>12} {'4-step chain msg/s':>19}")
    for kind in kinds:
        for workers in (1, 4):
            plain = measure(kind, workers, args.messages, chain=False)
            chained = measure(kind, workers, args.messages, chain=True)
            print(f"{kind:<9} {workers:>7} {plain:>12,.0f} {chained:>19,.0f}")
    print("target: >= 1,000 msg/s on sqlite with 1 worker")


if __name__ == "__main__":
    main()
