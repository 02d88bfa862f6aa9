"""Sync benchmark (issue 14.4): a full provider month over loopback HTTP (import through
status) against the CSV file import of the same rows, measured in the same run.

Floors, same run: the file import's own floor (csv.reader + one raw executemany, one
transaction, 256 MB cache: bench/floors.py) and the sync's (the same HTTP fetch with
nothing stored, plus that raw insert).
Target: the sync <= 1.3x the file import; peak memory under 300 MB.

Fair to both sides: the file gets every column the provider sends (roaming and the visited
country too), and the sandbox has sent the month once before any timing, so it serves it
as stored bytes the way a provider serves a closed month (its invoice total included)
rather than generating it while the sync waits. File import and sync alternate
`--repeat` times, each into a fresh database; the medians and the per-pair ratios print.
Run: python bench/sync.py [--cdrs 200000] [--platform tmobile_calvi] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from core.bus import Bus, run_until_idle  # noqa: E402
from core.bus.command import default_registry  # noqa: E402
from core.bus.deps import HandlerDeps  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.db import Database, ensure_schema  # noqa: E402
from core.imports import import_cdrs  # noqa: E402
from core.models import SyncProfile, SyncTask  # noqa: E402
from core.security.secrets import SecretBox  # noqa: E402
from core.setup import apply_setup  # noqa: E402
from core.workflows import load_all  # noqa: E402
from core.workflows.sync import start_manual_sync, upsert_subscriptions  # noqa: E402
from providers.base import BadRow, ProfileConnection, open_adapter  # noqa: E402
from providers.csvformat import parse_cdr_csv  # noqa: E402
from providers.records import CDR_FIELDS  # noqa: E402
from providers.sandbox.testing import sandbox_process  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floors import machine, peak_mb, raw_cdr_insert, report  # noqa: E402

MONTH = "2026-09"
REF = "BENCH-1"
SUBSCRIPTIONS = 20


def setup(work: Path, name: str, platform: str, base_url: str, credentials: dict[str, str]) -> tuple[Database, object]:
    settings = load_settings(data_dir=work / name, config_file=work / "none.toml")
    db = Database(settings.database_url)
    ensure_schema(db)
    creds = ", ".join(f'{k} = "{v}"' for k, v in credentials.items())
    apply_setup(db, f'[[customer]]\ncode = "BENCH"\nname = "Bench"\nrateplan_customer = false\n'
                    f'  [[customer.sync_profile]]\n  name = "bench"\n  provider = "{platform}"\n'
                    f'  base_url = "{base_url}"\n  customer_ref = "{REF}"\n  credentials = {{ {creds} }}\n',
                secrets=SecretBox.from_settings(settings), operator="bench")
    return db, settings


def fresh_sync(work: Path, name: str, platform: str, base_url: str, credentials: dict[str, str]) -> tuple[float, int]:
    """One sync of the month into a fresh database, through the bus to completed status."""
    sync_db, settings = setup(work, name, platform, base_url, credentials)
    bus = Bus(sync_db, default_registry, deps=HandlerDeps(settings))
    with sync_db.reader() as s:
        profile_id = s.scalars(select(SyncProfile.id)).one()
    t = time.perf_counter()
    start = start_manual_sync(bus, profile_id, MONTH, operator="bench")
    run_until_idle(bus, threads=1)
    seconds = time.perf_counter() - t
    with sync_db.reader() as s:
        task = s.get_one(SyncTask, start.task_id)
    sync_db.dispose()
    assert task.status == "completed", (task.status, task.error_message)
    return seconds, task.received_cdrs or 0


def fresh_file_import(work: Path, name: str, platform: str, base_url: str, credentials: dict[str, str],
                      subs: list[Any], csv_path: Path) -> tuple[float, int]:
    """The CSV file import of the same rows into a fresh database with the same subscriptions."""
    from core.models import Customer

    file_db, _ = setup(work, name, platform, base_url, credentials)
    with file_db.reader() as s:
        bench_customer = s.scalars(select(Customer)).one()
    upsert_subscriptions(file_db, bench_customer, iter(subs))
    t = time.perf_counter()
    with csv_path.open("rb") as handle:
        result = import_cdrs(file_db, parse_cdr_csv(handle), provider=platform, source="file")
    seconds = time.perf_counter() - t
    file_db.dispose()
    assert result.quarantined == 0, result.summary()
    return seconds, result.imported


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cdrs", type=int, default=200_000)
    parser.add_argument("--platform", default="tmobile_calvi")
    parser.add_argument("--repeat", type=int, default=3, help="file import and sync pairs, alternated")
    args = parser.parse_args()
    load_all()
    print(machine())
    work = Path(tempfile.mkdtemp(prefix="expensis-sync-bench-"))
    with sandbox_process() as sandbox:
        customer = sandbox.configure_customer(args.platform, REF, subscriptions=SUBSCRIPTIONS,
                                              cdrs_per_subscription=args.cdrs // SUBSCRIPTIONS)
        credentials = dict(customer["credentials"]) if isinstance(customer, dict) else dict(customer.credentials)
        base_url = sandbox.url_for(args.platform)
        conn = ProfileConnection(args.platform, base_url, credentials, REF, timeout_s=60)

        # The same rows as a generic CSV file with every column the provider sends (roaming and
        # the visited country too, so the file import decodes and stores what the sync does),
        # written once, outside the timings. This first download is also the sandbox's first
        # read of the month: it keeps the month's body, as a provider serves stored data, so
        # no timed download below pays for generating it. The floor's raw insert reads the
        # first eight columns (bench/floors.py).
        csv_path, floor_csv = work / "month.csv", work / "floor.csv"
        with (closing(open_adapter(conn)) as adapter, csv_path.open("w", newline="") as handle,
              floor_csv.open("w", newline="") as floor_handle):
            out, floor_out = csv.writer(handle), csv.writer(floor_handle)
            out.writerow(CDR_FIELDS)
            floor_out.writerow(CDR_FIELDS[:8])
            rows = 0
            for record in adapter.fetch_cdrs(MONTH):
                if isinstance(record, BadRow):
                    continue
                values = [record.provider_ref, record.number, record.call_date.isoformat(), record.call_type,
                          record.destination, record.duration_s, record.volume_kb, record.provider_cost,
                          "true" if record.roaming else "false", record.visited_country]
                out.writerow(values)
                floor_out.writerow(values[:8])
                rows += 1
            subs = list(adapter.fetch_subscriptions(MONTH))

        # The HTTP floor: the month fetched and parsed, nothing stored.
        t = time.perf_counter()
        with closing(open_adapter(conn)) as adapter:
            fetched = sum(1 for record in adapter.fetch_cdrs(MONTH) if not isinstance(record, BadRow))
        fetch_s = time.perf_counter() - t
        assert fetched == rows
        from core.models import Customer, Subscription

        floor_db, _ = setup(work, "floor", args.platform, base_url, credentials)
        with floor_db.reader() as s:
            floor_customer = s.scalars(select(Customer)).one()
        upsert_subscriptions(floor_db, floor_customer, iter(subs))
        with floor_db.reader() as s:
            sub_of = {sub.number: (sub.id, sub.customer_id) for sub in s.scalars(select(Subscription))}
        floor_db.dispose()
        insert_floor = raw_cdr_insert(floor_db.url.split("///", 1)[1], floor_csv, sub_of, MONTH + "-01")

        # Pairs alternate so that both sides see the same load; the ratio is taken per pair.
        file_times, sync_times, ratios = [], [], []
        for i in range(args.repeat):
            file_s, imported = fresh_file_import(work, f"file{i}", args.platform, base_url, credentials, subs,
                                                 csv_path)
            sync_s, received = fresh_sync(work, f"sync{i}", args.platform, base_url, credentials)
            assert imported == rows and received == rows, (imported, received, rows)
            print(f"    pair {i + 1}: file import {file_s:.3f} s, sync {sync_s:.3f} s, "
                  f"ratio {sync_s / file_s:.2f}x ({machine()})", flush=True)
            file_times.append(file_s)
            sync_times.append(sync_s)
            ratios.append(sync_s / file_s)
        file_s, sync_s = statistics.median(file_times), statistics.median(sync_times)
        report(f"CSV file import of {rows:,} CDRs (median)", file_s, insert_floor, rate=(rows, "CDRs"))
        report("full sync over HTTP, import to status (median)", sync_s, fetch_s + insert_floor,
               rate=(rows, "CDRs"))
        report("  the sync against the file import (medians)", sync_s, file_s, ratio_target=1.3)
        print(f"    median of the per-pair ratios {statistics.median(ratios):.2f}x; "
              f"floors: HTTP fetch alone {fetch_s:.2f} s, raw insert {insert_floor:.2f} s")
    print(f"peak memory (RSS, this process): {peak_mb():.0f} MB (target < 300 MB: "
          f"{'met' if peak_mb() < 300 else 'NOT met'})")


if __name__ == "__main__":
    main()
