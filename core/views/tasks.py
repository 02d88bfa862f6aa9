"""Sync tasks and workflow steps (bus messages) for the console's live Tasks screen.

Both listings are paged in SQL. The current step of the sync tasks on a page is
read with one query over those tasks' workflows, never per row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select

from core.bus.queries import MessageState
from core.db import Database
from core.models import Customer, ImportBatch, Message, QuarantinedRow, SyncProfile, SyncTask
from core.views.dashboard import first_line
from core.views.messages import customer_codes, message_payload
from core.views.paging import PAGE_SIZE, AnySelect, Page, each_word_in, fetch_page, like_pattern

ACTIVE = ("running", "queued", "failed")


@dataclass(frozen=True)
class TaskRow:
    id: int
    customer_code: str
    provider: str
    cycle_start_date: date
    status: str
    reason: str | None
    trigger: str
    retries: int
    created_at: datetime
    updated_at: datetime
    error: str | None
    workflow_id: str | None
    step: str | None = None  # the workflow's current (or last) command
    step_status: str | None = None
    attempts: int = 0  # of the current step


@dataclass(frozen=True)
class StepRow(MessageState):
    """A workflow step (a bus message) on the Tasks screen."""

    created_at: datetime
    finished_at: datetime | None
    error: str | None
    subject: str  # "ACME 2026-10", read from the payload


@dataclass(frozen=True)
class QuarantineLine:
    """A row a sync's import quarantined: its batch, physical line, reason and text as received."""

    batch_id: int
    line: int
    reason: str
    raw: str


QUARANTINE_SHOWN = 20  # in a task's detail; `expensis cdr quarantine BATCH` lists them all


@dataclass(frozen=True)
class TaskDetail:
    task: TaskRow
    steps: list[StepRow]
    quarantined: list[QuarantineLine] = field(default_factory=list)  # the first QUARANTINE_SHOWN
    quarantined_total: int = 0

    @property
    def failed_step(self) -> StepRow | None:
        return next((s for s in self.steps if s.status == "failed"), None)


@dataclass(frozen=True)
class StepDetail:
    step: StepRow
    payload: dict[str, Any]
    chain: list[str]
    traceback: str | None
    workflow: list[StepRow]


_TASK_COLUMNS = (SyncTask.id, Customer.code, SyncProfile.provider, SyncTask.cycle_start_date,
                 SyncTask.status, SyncTask.reason, SyncTask.trigger, SyncTask.retries,
                 SyncTask.created_at, SyncTask.updated_at, SyncTask.error_message, SyncTask.workflow_id)


def _task_query() -> AnySelect:
    return (select(*_TASK_COLUMNS).join(SyncProfile, SyncProfile.id == SyncTask.sync_profile_id)
            .join(Customer, Customer.id == SyncTask.customer_id))


def list_tasks(db: Database, *, status: str | None = None, provider: str = "", customer: str = "",
               words: Sequence[str] = (), offset: int = 0, limit: int = PAGE_SIZE) -> Page[TaskRow]:
    """Sync tasks, newest first, filtered by status, provider and customer code (prefixes), and
    by `words` (the console's filter: each in the customer, provider, profile, status or reason)."""
    query = _task_query().where(each_word_in(words, Customer.code, Customer.name, SyncProfile.provider,
                                             SyncProfile.name, SyncTask.status, SyncTask.reason))
    if status:
        query = query.where(SyncTask.status == status)
    if provider.strip():
        query = query.where(SyncProfile.provider.startswith(provider.strip(), autoescape=True))
    if customer.strip():
        query = query.where(Customer.code.startswith(customer.strip(), autoescape=True))
    query = query.order_by(SyncTask.id.desc())
    with db.reader() as session:
        total, rows = fetch_page(session, query, offset, limit)
        tasks = [TaskRow(*r) for r in rows]
        steps = _steps_of(session, [t.workflow_id for t in tasks if t.workflow_id])
    return Page([_with_step(t, steps.get(t.workflow_id or "", [])) for t in tasks],
                max(0, offset), limit, total)


def _steps_of(session: Any, workflow_ids: list[str]) -> dict[str, list[StepRow]]:
    if not workflow_ids:
        return {}
    rows = session.execute(_step_query().where(Message.workflow_id.in_(workflow_ids))
                           .order_by(Message.id)).all()
    by_workflow: dict[str, list[StepRow]] = {}
    for step in _step_rows(session, rows):
        by_workflow.setdefault(step.workflow_id, []).append(step)
    return by_workflow


def _with_step(task: TaskRow, steps: list[StepRow]) -> TaskRow:
    if not steps:
        return task
    current = next((s for s in steps if s.status in ACTIVE), steps[-1])
    return replace(task, step=current.command_type, step_status=current.status, attempts=current.attempts)


def _step_query() -> AnySelect:
    return select(Message.id, Message.command_type, Message.status, Message.attempts, Message.max_attempts,
                  Message.workflow_id, Message.created_at, Message.finished_at, Message.error,
                  Message.payload)


def _step_rows(session: Any, rows: Iterable[Any]) -> list[StepRow]:
    """Rows of `_step_query` as StepRows, their subject named from the payload."""
    parsed = [(r, message_payload(r.payload)) for r in rows]
    codes = customer_codes(session, (p for _, p in parsed))
    return [StepRow(r.id, r.command_type, r.status, r.attempts, r.max_attempts, r.workflow_id,
                    r.created_at, r.finished_at, first_line(r.error) or None, _subject(p, codes))
            for r, p in parsed]


def _subject(payload: dict[str, Any], codes: dict[int, str]) -> str:
    """Whom a step is for, short: "ACME 2026-10" (or "task 12" / "profile 3" without a customer)."""
    parts = []
    customer = payload.get("customer_id")
    if isinstance(customer, int):
        parts.append(codes.get(customer, f"customer {customer}"))
    else:
        for key in ("sync_task_id", "task_id", "profile_id"):
            if isinstance(payload.get(key), int):
                parts.append(f"{key.split('_')[-2]} {payload[key]}")
                break
    cycle = payload.get("cycle_start_date") or payload.get("month")
    if isinstance(cycle, str):
        parts.append(cycle[:7])
    return " ".join(parts)


def list_steps(db: Database, *, status: str | None = None, command: str = "", customer: str = "",
               words: Sequence[str] = (), offset: int = 0, limit: int = PAGE_SIZE) -> Page[StepRow]:
    """Bus messages (workflow steps), newest first; `customer` is a customer code; each of
    `words` (the console's filter) in the command type, status or error."""
    query = _step_query().where(each_word_in(words, Message.command_type, Message.status, Message.error))
    if status:
        query = query.where(Message.status == status)
    if command.strip():
        query = query.where(Message.command_type.like(like_pattern(command.strip()), escape="\\"))
    with db.reader() as session:
        if customer.strip():
            ids = list(session.scalars(select(Customer.id).limit(20).where(
                Customer.code.startswith(customer.strip(), autoescape=True))))
            query = query.where(or_(*(Message.payload.like(f'%"customer_id": {i}{end}%')
                                      for i in ids for end in (",", "}"))) if ids else Message.id < 0)
        total, rows = fetch_page(session, query.order_by(Message.id.desc()), offset, limit)
        steps = _step_rows(session, rows)
    return Page(steps, max(0, offset), limit, total)


def task_detail(db: Database, task_id: int) -> TaskDetail | None:
    with db.reader() as session:
        row = session.execute(_task_query().where(SyncTask.id == task_id)).first()
        if row is None:
            return None
        task = TaskRow(*row)
        steps = _steps_of(session, [task.workflow_id] if task.workflow_id else []).get(
            task.workflow_id or "", [])
        of_task = (select(QuarantinedRow.import_batch_id, QuarantinedRow.line, QuarantinedRow.reason,
                          QuarantinedRow.raw)
                   .join(ImportBatch, ImportBatch.id == QuarantinedRow.import_batch_id)
                   .where(ImportBatch.sync_task_id == task_id))
        quarantined = [QuarantineLine(*r) for r in session.execute(
            of_task.order_by(QuarantinedRow.import_batch_id, QuarantinedRow.line).limit(QUARANTINE_SHOWN))]
        total = session.scalar(select(func.count()).select_from(of_task.subquery())) if quarantined else 0
    return TaskDetail(_with_step(task, steps), steps, quarantined, int(total or 0))


def step_detail(db: Database, message_id: int) -> StepDetail | None:
    with db.reader() as session:
        row = session.execute(_step_query().add_columns(Message.chain, Message.traceback)
                              .where(Message.id == message_id)).first()
        if row is None:
            return None
        step = _step_rows(session, [row])[0]
        workflow = _step_rows(session, session.execute(
            _step_query().where(Message.workflow_id == step.workflow_id).order_by(Message.id).limit(50)))
    try:
        chain = [str(item["type"]) for item in json.loads(row.chain)]
    except (ValueError, KeyError, TypeError):
        chain = ["(unreadable chain)"]
    return StepDetail(step, message_payload(row.payload), chain, row.traceback, workflow)
