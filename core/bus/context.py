"""What a handler gets besides its command: its transaction, dispatch, heartbeat, dependencies."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from core.bus.deps import Clock, HandlerDeps
from core.bus.errors import PermanentError
from core.db import Database

if TYPE_CHECKING:
    from core.bus.bus import Bus, ClaimedMessage
    from core.bus.command import Command
    from core.bus.follow import Dispatched


class HandlerContext:
    """The handler's session commits together with the message's completion.

    Effects written through `ctx.session` (or `ctx.transaction()`) and commands
    sent with `ctx.dispatch` become visible exactly when the message is marked
    done, in one transaction: a crash before that leaves no trace and the
    message is redelivered. Long handlers that must commit in batches use
    `ctx.separate_transaction()` and make those writes idempotent.
    """

    def __init__(self, bus: Bus, message: ClaimedMessage, session: Session) -> None:
        self.bus = bus
        self.message = message
        self.session = session
        self.chain_handed_over = False
        # Set by the heartbeat when the lease was lost (or by a stopping pool): the work
        # would be refused at completion, so long handlers stop at their next check.
        self.cancelled = threading.Event()

    @property
    def db(self) -> Database:
        return self.bus.db

    @property
    def deps(self) -> HandlerDeps:
        """Settings, secrets, clocks and provider factories, built once by the runtime."""
        if self.bus.deps is None:
            raise PermanentError(f"{self.message.command_type} needs the runtime's dependencies "
                                 "(settings, secrets), and this bus was built without them")
        return self.bus.deps

    @property
    def workflow_id(self) -> str:
        return self.message.workflow_id

    @property
    def command_id(self) -> str:
        return self.message.command_id

    @property
    def attempt(self) -> int:
        return self.message.attempts

    @property
    def clock(self) -> Clock:
        return self.bus.clock

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        yield self.session

    @contextmanager
    def separate_transaction(self) -> Iterator[Session]:
        with self.bus.db.transaction() as session:
            yield session

    def dispatch(self, command: Command, *, chain: tuple[Command, ...] | list[Command] = (),
                 delay: timedelta | float | None = None, new_workflow: bool = False) -> Dispatched:
        """Send a follow-up command in this workflow, committed with this message's completion."""
        return self.bus.dispatch(
            command, chain=chain, delay=delay, session=self.session, parent_id=self.message.id,
            workflow=None if new_workflow else self.message.workflow_id,
        )

    def route(self, command: Command, *, chain: tuple[Command, ...] | list[Command] = ()) -> Dispatched:
        """Hand this message's place in its workflow to `command` (the router pattern).

        `command` runs next, then `chain`, then whatever was chained after this
        message. A router therefore never lets its own continuation run before the
        work it routed to has finished (the source system's fire-and-forget gap).
        """
        self.chain_handed_over = True
        return self.bus.dispatch(
            command, chain=chain, tail=json.loads(self.message.chain), session=self.session,
            parent_id=self.message.id, workflow=self.message.workflow_id,
        )

    def heartbeat(self) -> None:
        if not self.bus.heartbeat(self.message):
            self.cancel()
        self.check_cancelled()

    def cancel(self) -> None:
        self.cancelled.set()

    def check_cancelled(self) -> None:
        """Raise LeaseLost if this message's lease was lost: another worker has it now.

        Long handlers call it between pages or batches (cooperative cancellation)."""
        if self.cancelled.is_set():
            from core.bus.errors import LeaseLost

            raise LeaseLost(f"message {self.message.id}: lease lost; stopping the handler")

    def abort(self) -> None:
        """Roll back this handler's open transaction from another thread (worker shutdown).

        Invalidating the connection closes it, which ends the transaction and, on SQLite,
        frees the database lock so the message can be released.
        """
        with suppress(Exception):  # already closed or mid-statement: nothing more to do
            self.session.connection().invalidate()
