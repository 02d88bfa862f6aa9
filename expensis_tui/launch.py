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
# After SIGHUP the terminal is usually gone (a dropped SSH connection, a closed tmux session).
# Textual's exit then blocked on its writer thread until the deadline (seen: LinuxDriver.close
# waiting in WriterThread.stop), so the console lingered 30 s. There is no screen to restore,
# and the services stop before that step (ExpensisApp.on_unmount): a short deadline.
HANGUP_EXIT_DEADLINE_S = 5.0


def has_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def open_console(rt: Runtime) -> None:
    from core.models import load_all
    from expensis_tui.app import ExpensisApp

    # Every model module is imported here, before the console starts a thread. Imported lazily
    # (light commands need one or two), two threads deadlocked: one held SQLAlchemy's mapper
    # configuration lock and, in its before_configured hook, waited to import a model module that
    # another thread was importing, whose class declaration waited for that same lock. The
    # console froze on its first screen and even SIGTERM could not end it (seen in tmux, traced
    # with gdb). Loaded here, no model module is ever imported by two threads. ~0.2 s.
    load_all()
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
    # The deadline runs on its own: call_from_thread waits for the event loop, and a loop that
    # never answers (stuck) must not keep the process alive past it.
    seconds = HANGUP_EXIT_DEADLINE_S if signum == signal.SIGHUP else SIGNAL_EXIT_DEADLINE_S
    deadline = threading.Timer(seconds, os._exit, args=(128 + signum,))
    deadline.daemon = True
    deadline.start()
    try:
        app.call_from_thread(app.exit, None, 128 + signum)
    except Exception:  # the app is already gone
        log.debug("exit on signal %s: app not running", signum, exc_info=True)
