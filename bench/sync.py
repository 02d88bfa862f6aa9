"""Sync benchmark (issue 14.4): a full provider month over loopback HTTP (import through
status) against the CSV file import of the same rows, measured in the same run.

Floors, same run: the file import's own floor (csv.reader + one raw executemany, one
transaction, 256 MB cache: bench/floors.py) and the sync's (the same HTTP fetch with
nothing stored, plus that raw insert).
Target: the sync <= 1.3x the file import; peak memory under 300 MB.
Run: python bench/sync.py [--cdrs 200000] [--platform tmobile_calvi]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cdrs", type=int, default=200_000)
    parser.add_argument("--platform", default="tmobile_calvi")
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

        # The HTTP floor: the month fetched and parsed, nothing stored.
        t = time.perf_counter()
        with closing(open_adapter(conn)) as adapter:
            fetched = sum(1 for record in adapter.fetch_cdrs(MONTH) if not isinstance(record, BadRow))
        fetch_s = time.perf_counter() - t

        # The same rows as a generic CSV file (written once, outside the timings).
        csv_path = work / "month.csv"
        with closing(open_adapter(conn)) as adapter, csv_path.open("w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["provider_ref", "number", "call_date", "call_type", "destination", "duration_s",
                          "volume_kb", "provider_cost"])
            rows = 0
            for record in adapter.fetch_cdrs(MONTH):
                if isinstance(record, BadRow):
                    continue
                out.writerow([record.provider_ref, record.number, record.call_date.isoformat(), record.call_type,
                              record.destination, record.duration_s, record.volume_kb, record.provider_cost])
                rows += 1
            subs = list(adapter.fetch_subscriptions(MONTH))

        assert fetched == rows
        from core.models import Customer, Subscription

        floor_db, _ = setup(work, "floor", args.platform, base_url, credentials)
        with floor_db.reader() as s:
            floor_customer = s.scalars(select(Customer)).one()
        upsert_subscriptions(floor_db, floor_customer, iter(subs))
        with floor_db.reader() as s:
            sub_of = {sub.number: (sub.id, sub.customer_id) for sub in s.scalars(select(Subscription))}
        floor_db.dispose()
        insert_floor = raw_cdr_insert(floor_db.url.split("///", 1)[1], csv_path, sub_of, MONTH + "-01")

        file_db, _ = setup(work, "file", args.platform, base_url, credentials)
        with file_db.reader() as s:
            bench_customer = s.scalars(select(Customer)).one()
        upsert_subscriptions(file_db, bench_customer, iter(subs))
        t = time.perf_counter()
        with csv_path.open("rb") as handle:
            result = import_cdrs(file_db, parse_cdr_csv(handle), provider=args.platform, source="file")
        file_s = time.perf_counter() - t
        assert result.imported == rows, result.summary()
        report(f"CSV file import of {rows:,} CDRs", file_s, insert_floor, rate=(rows, "CDRs"))

        sync_db, settings = setup(work, "sync", args.platform, base_url, credentials)
        bus = Bus(sync_db, default_registry, deps=HandlerDeps(settings))
        with sync_db.reader() as s:
            profile_id = s.scalars(select(SyncProfile.id)).one()
        t = time.perf_counter()
        start = start_manual_sync(bus, profile_id, MONTH, operator="bench")
        run_until_idle(bus, threads=1)
        sync_s = time.perf_counter() - t
        with sync_db.reader() as s:
            task = s.get_one(SyncTask, start.task_id)
        assert task.status == "completed" and task.received_cdrs == rows, (task.status, task.error_message)
        report("full sync over HTTP (import to status)", sync_s, fetch_s + insert_floor, rate=(rows, "CDRs"))
        report("  the sync against the file import", sync_s, file_s, ratio_target=1.3)
        print(f"    floors: HTTP fetch alone {fetch_s:.2f} s, raw insert {insert_floor:.2f} s")
    print(f"peak memory (RSS, this process): {peak_mb():.0f} MB (target < 300 MB: "
          f"{'met' if peak_mb() < 300 else 'NOT met'})")


if __name__ == "__main__":
    main()
