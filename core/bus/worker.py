"""Workers: run claimed messages, keep their leases alive, stop without losing work."""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable

from core.bus.bus import Bus, ClaimedMessage
from core.bus.context import HandlerContext
from core.bus.errors import LeaseLost
from core.bus.events import MessageEvent
from core.models import load_all

log = logging.getLogger(__name__)


def worker_name(label: str = "w") -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{label}:{uuid.uuid4().hex[:6]}"


def execute(bus: Bus, message: ClaimedMessage,
            on_context: Callable[[HandlerContext], None] | None = None) -> str:
    """Run one claimed message to an outcome: done, queued (retry), failed or lost."""
    bus.events.emit(MessageEvent("started", message.id, message.command_type, message.workflow_id))
    try:
        command = bus.registry.decode(message.command_type, message.payload)
        handler = bus.registry.handler_for(command)
        with bus.db.sessions() as session, session.begin():
            ctx = HandlerContext(bus, message, session)
            if on_context is not None:
                on_context(ctx)
            handler(command, ctx)
            bus.complete_in(session, message, continue_chain=not ctx.chain_handed_over)
        return "done"
    except LeaseLost as exc:
        log.warning("%s", exc)
        return "lost"
    except Exception as exc:  # every failure is recorded on the message, none escapes
        status = bus.record_failure(message, exc, traceback.format_exc())
        log.log(logging.WARNING if status == "queued" else logging.ERROR,
                "message %s (%s) %s: %s", message.id, message.command_type,
                "will be retried" if status == "queued" else status, exc)
        return status


class Heartbeat(threading.Thread):
    """Renews the leases of every message this process is running."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(name="bus-heartbeat", daemon=True)
        self.bus = bus
        self.running: dict[int, ClaimedMessage] = {}
        self.contexts: dict[int, HandlerContext] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def track(self, message: ClaimedMessage) -> None:
        with self.lock:
            self.running[message.id] = message

    def attach(self, ctx: HandlerContext) -> None:
        with self.lock:
            self.contexts[ctx.message.id] = ctx

    def context(self, message_id: int) -> HandlerContext | None:
        with self.lock:
            return self.contexts.get(message_id)

    def untrack(self, message: ClaimedMessage) -> None:
        with self.lock:
            self.running.pop(message.id, None)
            self.contexts.pop(message.id, None)

    def in_flight(self) -> list[ClaimedMessage]:
        with self.lock:
            return list(self.running.values())

    def run(self) -> None:
        interval = max(0.2, self.bus.lease.total_seconds() / 3)
        while not self.stopped.wait(interval):
            for message in self.in_flight():
                try:
                    renewed = self.bus.heartbeat(message)
                except Exception:  # the next beat tries again; the lease is long enough
                    log.exception("heartbeat for message %s failed", message.id)
                    continue
                if not renewed:  # another worker has it: stop the handler at its next check
                    ctx = self.context(message.id)
                    if ctx is not None and not ctx.cancelled.is_set():
                        log.warning("message %s: lease lost; cancelling its handler", message.id)
                        ctx.cancel()


class WorkerPool:
    """N threads claiming and running messages until stopped."""

    def __init__(self, bus: Bus, threads: int = 4, *, poll_interval: float = 0.5,
                 label: str = "pool", until_idle: bool = False,
                 on_idle: Callable[[], None] | None = None) -> None:
        bus.registry.check()
        self.bus = bus
        self.size = threads
        self.poll_interval = poll_interval
        self.until_idle = until_idle
        self.on_idle = on_idle
        self.name = worker_name(label)
        self.heartbeat = Heartbeat(bus)
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()
        self.processed = 0

    def start(self) -> WorkerPool:
        # Every model module is imported before a thread runs a handler: imported lazily by two
        # threads at once, the models deadlocked the console (docs/design-notes.md, "Models load
        # on first use"); the daemon and `expensis worker` run handlers on threads the same way.
        load_all()
        self.heartbeat.start()
        for i in range(self.size):
            thread = threading.Thread(target=self._loop, args=(f"{self.name}#{i}",),
                                      name=f"bus-worker-{i}", daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def _loop(self, owner: str) -> None:
        while not self.stopping.is_set():
            try:
                with self._busy_lock:
                    self._busy += 1
                message = self.bus.claim(owner)
                if message is not None:
                    self.heartbeat.track(message)
                    try:
                        execute(self.bus, message, self.heartbeat.attach)
                    finally:
                        self.heartbeat.untrack(message)
                        self.processed += 1
            except Exception:  # the database went away: wait and try again
                log.exception("worker %s could not claim a message", owner)
                message = None
                self.stopping.wait(self.poll_interval)
            finally:
                with self._busy_lock:
                    self._busy -= 1
                    idle = message is None and self._busy == 0
            if message is None:
                if self.until_idle and idle and self.bus.due_count() == 0:
                    self.stopping.set()
                    break
                with self.bus.events.wakeup:
                    self.bus.events.wakeup.wait(self.poll_interval)

    def wait(self, timeout: float | None = None) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def stop(self, grace: float = 30.0) -> list[int]:
        """Finish running handlers within `grace` seconds; release what is still running."""
        self.stopping.set()
        with self.bus.events.wakeup:
            self.bus.events.wakeup.notify_all()
        for thread in self.threads:
            thread.join(grace)
        released = []
        for message in self.heartbeat.in_flight():
            ctx = self.heartbeat.context(message.id)
            if ctx is not None:
                ctx.cancel()  # a handler that checks stops at its next page instead of running on
                ctx.abort()
            if self.bus.release(message):
                released.append(message.id)
        self.heartbeat.stopped.set()
        return released


def run_until_idle(bus: Bus, threads: int = 1, timeout: float | None = None) -> int:
    """Run workers in the foreground until no due message is left; returns messages run."""
    pool = WorkerPool(bus, threads, poll_interval=0.05, label="fg", until_idle=True).start()
    pool.wait(timeout)
    pool.stop(grace=0)
    return pool.processed
