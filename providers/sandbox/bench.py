"""`python -m providers.sandbox.bench [CDRS]`: CDRs/s streamed from the sandbox per platform.

The sandbox runs in a child process, so the numbers are what one adapter
reads over loopback while another process generates and serves the data.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from contextlib import closing

from providers.base import open_adapter
from providers.platforms import SPECS
from providers.sandbox.testing import sandbox_process

MONTH = "2025-01"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m providers.sandbox.bench")
    parser.add_argument("cdrs", nargs="?", type=int, default=200_000, help="CDRs in the month")
    parser.add_argument("--platform", action="append", choices=sorted(SPECS))
    parser.add_argument("--memory", action="store_true", help="also trace peak memory (slower)")
    args = parser.parse_args(argv)
    with sandbox_process() as sandbox:
        for platform in args.platform or list(SPECS):
            sandbox.configure_customer(
                platform, "BENCH", subscriptions=1, cdrs_per_subscription=args.cdrs
            )
            conn = sandbox.connection(platform, "BENCH", timeout_s=120)
            with closing(open_adapter(conn)) as adapter:
                if args.memory:
                    tracemalloc.start()
                started = time.perf_counter()
                count = sum(1 for _ in adapter.fetch_cdrs(MONTH))
                elapsed = time.perf_counter() - started
                peak = tracemalloc.get_traced_memory()[1] if args.memory else 0
                tracemalloc.stop()
            memory = f"  peak {peak / 1e6:5.1f} MB" if args.memory else ""
            print(
                f"{platform:14s} {count:>9,} CDRs {elapsed:6.2f} s {count / elapsed:>9,.0f}/s{memory}"
            )


if __name__ == "__main__":
    main()
