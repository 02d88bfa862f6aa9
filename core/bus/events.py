"""In-process events: the console refreshes on them; other processes read the table."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MessageEvent:
    kind: str  # dispatched | started | done | retrying | failed | released | discarded | resumed
    message_id: int
    command_type: str
    workflow_id: str
    error: str | None = None


Listener = Callable[[MessageEvent], None]


class EventHub:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self.wakeup = threading.Condition()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: MessageEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not break the bus
                log.exception("event listener failed on %s", event.kind)
        if event.kind in ("dispatched", "retrying", "released", "done", "resumed"):
            with self.wakeup:
                self.wakeup.notify_all()
