"""The durable command bus: the `message` table is the queue and the source of truth.

dispatch → one `queued` row. claim → `running` with a lease (SQLite: one atomic
UPDATE; MySQL/MariaDB: SELECT ... FOR UPDATE SKIP LOCKED). While running,
`available_at` holds the lease expiry, so one index (status, available_at)
finds both due messages and messages whose worker died. Completion and the
next chain step are written in the handler's own transaction.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import (
    CursorResult,
    Result,
    Select,
    Table,
    Update,
    bindparam,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from core.bus.command import Command, Registry, default_registry
from core.bus.deps import HandlerDeps
from core.bus.errors import LeaseLost, backoff_seconds, classify
from core.bus.events import EventHub, MessageEvent
from core.bus.follow import Dispatched
from core.clock import Clock, system_clock
from core.db import Database
from core.models import Message, MessageAttempt, PausedCommand

log = logging.getLogger(__name__)
T = cast(Table, Message.__table__)
ATTEMPTS = cast(Table, MessageAttempt.__table__)
P = cast(Table, PausedCommand.__table__)
ALL_TYPES = "*"  # a pause of every command type


def _insert_id(session: Session, row: dict[str, Any]) -> int:
    result = cast(CursorResult[Any], session.execute(_INSERT, row))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE touched (the row-count check behind every conditional transition)."""
    return int(cast(CursorResult[Any], result).rowcount)

QUEUED: Final = "queued"
RUNNING: Final = "running"
DONE: Final = "done"
FAILED: Final = "failed"
DISCARDED: Final = "discarded"
STATUSES = (QUEUED, RUNNING, DONE, FAILED, DISCARDED)


@dataclass
class ClaimedMessage:
    id: int
    command_id: str
    command_type: str
    payload: str
    chain: str
    workflow_id: str
    attempts: int
    max_attempts: int
    lease_owner: str


_CLAIM_COLUMNS = (T.c.id, T.c.command_id, T.c.command_type, T.c.payload, T.c.chain,
                  T.c.workflow_id, T.c.attempts, T.c.max_attempts)

# Hot-path statements are built once; building them per call cost more than SQLite did.
#
# Each lookup reads one status, so the (status, available_at) index yields rows already in
# order and LIMIT 1 stops at the first. A single `status IN (queued, running)` lookup made
# MariaDB scan and filesort every due row, locking each one: claims then held thousands of
# row locks and deadlocked with completions (a message ran twice under 4 workers).
# An expired lease is looked for first: that message is older than anything queued after it.


# A paused command type is skipped by the claim itself, so no worker on any host takes it;
# with no pause the NOT EXISTS reads an empty table.
_NOT_PAUSED = ~exists().where((P.c.command_type == T.c.command_type) | (P.c.command_type == ALL_TYPES))


def _oldest(status: str, *columns: Any) -> Select[Any]:
    return (select(*(columns or (T.c.id,))).where(T.c.status == status, T.c.available_at <= bindparam("now"),
                                                   _NOT_PAUSED)
            .order_by(T.c.available_at, T.c.id).limit(1))


_OLDEST_EXPIRED, _OLDEST_QUEUED = _oldest(RUNNING), _oldest(QUEUED)


def _one(message_id: Any) -> Update:
    """An UPDATE of one message by id. MariaDB plans `id = ? AND status = ?` as a range
    over (status, available_at) when status is being changed, locking every row of that
    status: two completions then deadlocked. The primary key is forced on MySQL/MariaDB."""
    statement = update(T).where(T.c.id == message_id)
    for dialect in ("mysql", "mariadb"):
        statement = statement.with_hint("FORCE INDEX (PRIMARY)", dialect_name=dialect)
    return statement
_TAKE = {"status": RUNNING, "lease_owner": bindparam("owner"), "available_at": bindparam("lease_until"),
         "attempts": T.c.attempts + 1, "started_at": bindparam("now")}
_CLAIM_OLDEST = (update(T)
                 .where(T.c.id == func.coalesce(_OLDEST_EXPIRED.scalar_subquery(),
                                                _OLDEST_QUEUED.scalar_subquery()))
                 .values(**_TAKE).returning(*_CLAIM_COLUMNS))
# MySQL/MariaDB: the locked pick reads the columns the claim returns (no read after the UPDATE)
_PICK_LOCKED = tuple(_oldest(status, *_CLAIM_COLUMNS).with_for_update(skip_locked=True)
                     for status in (RUNNING, QUEUED))
_CLAIM_BY_ID = _one(bindparam("mid")).values(**_TAKE)
_MINE = (T.c.status == RUNNING) & (T.c.lease_owner == bindparam("owner"))
_RENEW = _one(bindparam("mid")).where(_MINE).values(available_at=bindparam("lease_until"))
_COMPLETE = _one(bindparam("mid")).where(_MINE).values(status=DONE, finished_at=bindparam("now"), lease_owner=None,
                                          error=None, traceback=None)
_INSERT = insert(T)

# Events wait in the session's info until its outermost transaction ends. One pair of
# listeners on the Session class serves every session: listening per session cost a
# tenth of each message's time.
_PENDING = "bus_events"


def _emit_pending(session: Session) -> None:
    if session.in_nested_transaction():  # SQLAlchemy fires this for savepoints too
        return
    for hub, event in session.info.pop(_PENDING, ()):
        hub.emit(event)


def _drop_pending(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)


sa_event.listen(Session, "after_commit", _emit_pending)
sa_event.listen(Session, "after_rollback", _drop_pending)


class Bus:
    def __init__(
        self,
        db: Database,
        registry: Registry | None = None,
        *,
        clock: Clock = system_clock,
        max_attempts: int = 5,
        backoff_base: float = 2.0,
        backoff_cap: float = 300.0,
        lease_seconds: float = 60.0,
        deps: HandlerDeps | None = None,
    ) -> None:
        self.db = db
        self.registry = registry or default_registry
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.lease = timedelta(seconds=lease_seconds)
        self.events = EventHub()
        self.deps = deps  # what handlers use besides the database (None: handlers that need it fail)
        self._lock = threading.Lock()

    # -- dispatch ---------------------------------------------------------------------------

    def dispatch(
        self,
        command: Command,
        *,
        chain: Sequence[Command] = (),
        delay: timedelta | float | None = None,
        workflow: str | None = None,
        parent_id: int | None = None,
        session: Session | None = None,
        max_attempts: int | None = None,
        tail: Sequence[dict[str, Any]] = (),
    ) -> Dispatched:
        """Queue a command (and the chain to run after it); returns its message and workflow ids.

        `tail` is an already-encoded chain appended after `chain` (used by routing).
        """
        row = self._row(command, [*(self._chain_item(c) for c in chain), *tail], delay, workflow,
                        parent_id, max_attempts)
        if session is not None:
            message_id = _insert_id(session, row)
            self.after_commit(session, MessageEvent("dispatched", message_id,
                                                          row["command_type"], row["workflow_id"]))
            return Dispatched(message_id, row["workflow_id"])
        with self.db.transaction() as tx:
            message_id = _insert_id(tx, row)
        self.events.emit(MessageEvent("dispatched", message_id, row["command_type"], row["workflow_id"]))
        return Dispatched(message_id, row["workflow_id"])

    def _chain_item(self, command: Command) -> dict[str, Any]:
        self.registry.resolve(command.type_name())  # a typo'd chain fails now, not at step 3
        return {"type": command.type_name(), "payload": self.registry.encode(command)}

    def _row(self, command: Command, chain: list[dict[str, Any]], delay: timedelta | float | None,
             workflow: str | None, parent_id: int | None, max_attempts: int | None) -> dict[str, Any]:
        self.registry.resolve(command.type_name())
        now = self.clock()
        if isinstance(delay, int | float):
            delay = timedelta(seconds=delay)
        command_id = str(uuid.uuid4())
        return {
            "command_id": command_id,
            "command_type": command.type_name(),
            "payload": json.dumps(self.registry.encode(command)),
            "chain": json.dumps(chain),
            "workflow_id": workflow or command_id,
            "parent_id": parent_id,
            "status": QUEUED,
            "attempts": 0,
            "max_attempts": max_attempts or self.max_attempts,
            "available_at": now + (delay or timedelta(0)),
            "created_at": now,
        }

    def after_commit(self, session: Session, event: MessageEvent) -> None:
        """Emit `event` once `session` commits (listeners must not see rolled-back facts)."""
        session.info.setdefault(_PENDING, []).append((self.events, event))

    # -- claim and lease --------------------------------------------------------------------

    def claim(self, owner: str) -> ClaimedMessage | None:
        now = self.clock()
        params = {"now": now, "owner": owner, "lease_until": now + self.lease}
        with self.db.engine.begin() as conn:
            taken = 0  # MySQL reads the row before its UPDATE counts the attempt (RETURNING: after)
            if self.db.is_mysql:
                for pick in _PICK_LOCKED:
                    claimed: Any = conn.execute(pick, params).first()
                    if claimed is not None:
                        break
                else:
                    return None
                conn.execute(_CLAIM_BY_ID, {**params, "mid": claimed.id})
                taken = 1
            else:
                claimed = conn.execute(_CLAIM_OLDEST, params).first()
                if claimed is None:
                    return None
        return ClaimedMessage(
            id=claimed.id, command_id=claimed.command_id, command_type=claimed.command_type,
            payload=claimed.payload, chain=claimed.chain, workflow_id=claimed.workflow_id,
            attempts=claimed.attempts + taken, max_attempts=claimed.max_attempts, lease_owner=owner)

    def heartbeat(self, message: ClaimedMessage) -> bool:
        """Extend the lease; False when it was lost (another worker took the message)."""
        with self.db.engine.begin() as conn:
            result = conn.execute(_RENEW, {"mid": message.id, "owner": message.lease_owner,
                                           "lease_until": self.clock() + self.lease})
        return bool(affected(result))

    # -- outcomes ---------------------------------------------------------------------------

    def complete_in(self, session: Session, message: ClaimedMessage, *, continue_chain: bool = True) -> None:
        """Mark done and enqueue the next chain step, inside the handler's transaction.

        `continue_chain` is False when the handler routed its chain onward itself.
        """
        now = self.clock()
        conn = session.connection()  # Core, not the ORM's execute: this runs for every message
        result = conn.execute(_COMPLETE, {"mid": message.id, "owner": message.lease_owner, "now": now})
        if affected(result) != 1:
            raise LeaseLost(f"message {message.id} was taken over by another worker")
        chain = json.loads(message.chain) if continue_chain else []
        if chain:
            head, rest = chain[0], chain[1:]
            command_id = str(uuid.uuid4())
            conn.execute(_INSERT, dict(
                command_id=command_id, command_type=head["type"], payload=json.dumps(head["payload"]),
                chain=json.dumps(rest), workflow_id=message.workflow_id, parent_id=message.id,
                status=QUEUED, attempts=0, max_attempts=self.max_attempts, available_at=now,
                created_at=now,
            ))
        self.after_commit(session, MessageEvent("done", message.id, message.command_type,
                                                message.workflow_id))

    def record_failure(self, message: ClaimedMessage, exc: BaseException, trace: str) -> str:
        """Retry with back-off if transient and attempts remain, else `failed`. Returns the status."""
        verdict = classify(exc)
        error = describe(exc)
        now = self.clock()
        if verdict.transient and message.attempts < message.max_attempts:
            delay = backoff_seconds(message.attempts, self.backoff_base, self.backoff_cap)
            if verdict.retry_after is not None:
                delay = max(delay, float(verdict.retry_after))
            values: dict[str, Any] = {"status": QUEUED, "available_at": now + timedelta(seconds=delay)}
            kind = "retrying"
        else:
            if verdict.transient:
                error = f"{error} (gave up after {message.attempts} attempts)"
            values = {"status": FAILED, "finished_at": now}
            kind = "failed"
        with self.db.transaction() as tx:
            result = tx.execute(
                _one(message.id).where(T.c.status == RUNNING,
                                T.c.lease_owner == message.lease_owner)
                .values(lease_owner=None, error=error[:4000], traceback=trace[-20000:], **values)
            )
            if affected(result):
                record_attempt(tx, message.id, message.attempts, now, kind, error)
        if affected(result):
            self.events.emit(MessageEvent(kind, message.id, message.command_type,
                                          message.workflow_id, error))
            return str(values["status"])
        return "lost"

    def release(self, message: ClaimedMessage) -> bool:
        """Give a claimed message back unfinished (worker shutting down): it runs again soon."""
        with self.db.transaction() as tx:
            result = tx.execute(
                _one(message.id).where(T.c.status == RUNNING,
                                T.c.lease_owner == message.lease_owner)
                .values(status=QUEUED, lease_owner=None, available_at=self.clock(),
                        attempts=T.c.attempts - 1)
            )
        if affected(result):
            self.events.emit(MessageEvent("released", message.id, message.command_type,
                                          message.workflow_id))
        return bool(affected(result))

    # -- operator actions -------------------------------------------------------------------

    def retry(self, message_id: int, session: Session | None = None) -> bool:
        """Queue a failed message again with fresh attempts; its chain resumes after it.

        Operator actions take the caller's `session`, so the role check, the change and
        its audit row commit together.
        """
        return self._operate(_one(message_id).where(T.c.status == FAILED)
                             .values(status=QUEUED, attempts=0, available_at=self.clock(), finished_at=None),
                             "retrying", message_id, session) > 0

    def retry_all_failed(self, session: Session | None = None) -> int:
        return self._operate(update(T).where(T.c.status == FAILED)
                             .values(status=QUEUED, attempts=0, available_at=self.clock(), finished_at=None),
                             "retrying", 0, session)

    def discard(self, message_id: int, session: Session | None = None) -> bool:
        """Drop a failed or waiting message (and with it the rest of its chain)."""
        return self._operate(_one(message_id).where(T.c.status.in_((FAILED, QUEUED)))
                             .values(status=DISCARDED, finished_at=self.clock()),
                             "discarded", message_id, session) > 0

    def _operate(self, change: Update, kind: str, message_id: int, session: Session | None) -> int:
        if session is None:
            with self.db.transaction() as own:
                return self._operate(change, kind, message_id, own)
        changed = affected(session.execute(change))
        if changed:
            self.after_commit(session, MessageEvent(kind, message_id, "", ""))
        return changed

    # -- reading ----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self.db.reader() as session:
            rows = session.execute(select(T.c.status, func.count()).group_by(T.c.status)).all()
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({str(s): int(n) for s, n in rows})
        return counts

    def due_count(self) -> int:
        """Due messages a worker may claim now (a paused command type's are not counted)."""
        with self.db.reader() as session:
            return int(session.execute(
                select(func.count()).select_from(T)
                .where(T.c.status.in_((QUEUED, RUNNING)), T.c.available_at <= self.clock(), _NOT_PAUSED)
            ).scalar_one())

    def pending_count(self) -> int:
        """Queued or running, due or not."""
        with self.db.reader() as session:
            return int(session.execute(
                select(func.count()).select_from(T).where(T.c.status.in_((QUEUED, RUNNING)))
            ).scalar_one())


def record_attempt(session: Session, message_id: int, attempt: int, at: datetime, outcome: str,
                   error: str) -> None:
    """Keep one failed attempt of a message with its time and full error."""
    session.execute(insert(ATTEMPTS).values(message_id=message_id, attempt=attempt, at=at,
                                            outcome=outcome, error=error[:20000]))


def describe(exc: BaseException) -> str:
    """One line an operator can act on."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
