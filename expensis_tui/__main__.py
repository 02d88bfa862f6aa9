from expensis_tui import signals

signals.install()  # before the heavy imports: an early SIGTERM must not kill a starting worker

from expensis_tui.cli import run  # noqa: E402

run()
