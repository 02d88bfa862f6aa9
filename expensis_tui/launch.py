"""Opens the Textual console; imported only when the console is wanted."""

from __future__ import annotations

from core.runtime import Runtime


def open_console(rt: Runtime) -> None:
    import sys

    from expensis_tui.app import ExpensisApp

    # The console's own threads only read the database; a short switch interval lets the
    # event loop take the GIL back quickly from them, so keys are answered at once.
    sys.setswitchinterval(0.001)
    ExpensisApp(rt).run()
