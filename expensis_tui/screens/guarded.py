"""Screens whose actions need a role (add-ons, exports, invoices).

Keys the operator's role does not allow are shown disabled once the role is known; core
checks again on every action, and its refusal (audited as `denied`) is shown in words and
teaches the console the role it now knows.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.worker import Worker

from core import profiles
from core.security import roles
from core.security.roles import Action, NotAllowed
from expensis_tui.screens.base import PagedScreen


def shortened(items: list[str], shown: int = 6) -> str:
    """'a, b, c and 4 more'."""
    text = ", ".join(items[:shown])
    return text + (f" and {len(items) - shown} more" if len(items) > shown else "")


class GuardedScreen(PagedScreen):
    LIVE_SECONDS: ClassVar[float] = 1.0  # the poll while something on screen is still moving

    def __init__(self) -> None:
        super().__init__()
        self.live = False  # set by the screen when what it shows is still changing

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needed = self.ROLE_ACTIONS.get(action)
        if needed is not None and not profiles.can(needed, self.console.role):
            return None  # shown disabled: this operator's role does not allow it
        return True

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.refresh_bindings()

    def require(self, role_action: Action, target: str) -> None:
        """From a worker: core's role check (a refusal is audited `denied`, then raised)."""
        with self.rt.db.transaction() as session:
            roles.require(session, self.rt.operator, role_action, target=target)

    def worker_failed(self, worker: Worker[Any]) -> None:
        super().worker_failed(worker)
        if isinstance(worker.error, NotAllowed):  # the role changed since start-up
            self.console.role = worker.error.role
            self.refresh_bindings()

    def loaded(self) -> None:
        """As ConsoleScreen.loaded, polling faster while something on screen is still moving."""
        pending = self._refresh_pending
        super().loaded()
        if self.live and not pending and self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = self.set_timer(min(self.LIVE_SECONDS, self.console.poll_seconds), self._poll)
