"""Opens the Textual console; imported only when the console is wanted."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from core.runtime import Runtime

log = logging.getLogger(__name__)

# After SIGTERM/SIGHUP the console stops its scheduler and worker and leaves the alternate
# screen; if that hangs (a terminal that is gone can block writes), it ends anyway.
SIGNAL_EXIT_DEADLINE_S = 30.0


def has_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def open_console(rt: Runtime) -> None:
    from expensis_tui.app import ExpensisApp

    # The console's own threads only read the database; a short switch interval lets the
    # event loop take the GIL back quickly from them, so keys are answered at once.
    sys.setswitchinterval(0.001)
    app = ExpensisApp(rt)
    previous = {sig: signal.signal(sig, _exit_on_signal(app)) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if app.return_code:
        sys.exit(app.return_code)


def _exit_on_signal(app: Any) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, _frame: FrameType | None) -> None:
        # A signal handler runs on the event loop's own thread, between two bytecodes: hand the
        # exit to another thread, which schedules it on the loop safely. Unmounting stops the
        # services (lease and messages released, worker child ended) and restores the terminal.
        threading.Thread(target=_exit_app, args=(app, signum), name="signal-exit", daemon=True).start()

    return handler


def _exit_app(app: Any, signum: int) -> None:
    try:
        app.call_from_thread(app.exit, None, 128 + signum)
    except Exception:  # the app is already gone
        log.debug("exit on signal %s: app not running", signum, exc_info=True)
    threading.Event().wait(SIGNAL_EXIT_DEADLINE_S)
    os._exit(128 + signum)
