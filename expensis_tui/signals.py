"""Stop requests that arrive before a worker is ready (kept import-light on purpose).

`python -m expensis_tui` installs these handlers on its first line, so a SIGTERM sent
while the process is still importing is remembered instead of killing it; the worker
command then starts, sees the request and stops cleanly.
"""

from __future__ import annotations

import signal
import threading

stop_requested = threading.Event()


def _request_stop(signum: int, _frame: object) -> None:
    stop_requested.set()


def install() -> None:
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
