"""Failures: every workflow that ended badly, in one place that every view reads.

A failure is, whatever step it ended in and whether or not its chain went on:
- a sync task `failed` (the operator has to act; `invoice_not_yet_available` is retried
  by the sync manager on its own and is not one), unless a later sync of the same
  profile and cycle replaced it;
- an export job `failed`, unless a later job of the same kind, customer and cycle replaced it;
- an add-on request refused (`failed`), unless a later request for the same number,
  add-on and action replaced it;
- any other bus message `failed` (a totals step, an invoice run, ...). The messages of a
  failed sync or export are part of that failure, not failures of their own;
- a CDR file import that stored nothing (it stopped on the file, or every row went to
  quarantine), unless a later import of the same file as the same provider replaced it. A
  sync's imports are part of its task.

`status`, `failures list|show|retry`, the dashboard and the digest mail all read this
module; the retry action for each kind is in core.workflows.failures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from core.db import Database
from core.models import (
    AddonLog,
    Customer,
    ExportJob,
    ImportBatch,
    Message,
    MessageAttempt,
    Subscription,
    SyncProfile,
    SyncTask,
)
from core.views.messages import customer_codes, message_payload
from core.views.paging import AnySelect

SYNC, STEP, EXPORT, ADDON, IMPORT = "sync", "step", "export", "addon", "import"
KINDS = (SYNC, STEP, EXPORT, ADDON, IMPORT)
RESCHEDULED = "invoice_not_yet_available"  # the sync manager tries again by itself


@dataclass(frozen=True)
class Attempt:
    number: int
    at: datetime
    outcome: str  # retrying | failed | gave_up
    error: str


@dataclass(frozen=True)
class Failure:
    kind: str
    id: int  # of the sync task, message, export job, add-on request or import batch
    failed_at: datetime
    subject: str  # whom it was for: "vodafone-profile (VODAFONE 2026-09)"
    what: str  # what failed, short: "sync failed: unknown_error"
    error: str  # in full
    retry: str  # what `failures retry` will do

    @property
    def ref(self) -> str:
        """How the operator names it: "sync-21", "step-45", "export-3", "addon-7", "import-12"."""
        return f"{self.kind}-{self.id}"

    def as_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, **asdict(self)}


@dataclass(frozen=True)
class FailureDetail:
    failure: Failure
    attempts: list[Attempt]
    workflow_id: str | None
    message_ids: list[int]  # the bus messages of the failed workflow (or the failed message)

    def as_dict(self) -> dict[str, Any]:
        return {**self.failure.as_dict(), "attempts": [asdict(a) for a in self.attempts],
                "workflow_id": self.workflow_id, "message_ids": self.message_ids}


class UnknownFailure(LookupError):
    """No open failure by that reference."""


def parse_ref(ref: str) -> tuple[str, int]:
    """"sync-21" → ("sync", 21); a ValueError names the accepted forms."""
    kind, _, number = ref.strip().partition("-")
    if kind not in KINDS or not number.isdigit():
        raise ValueError(f"not a failure reference: {ref!r} (use sync-N, step-N, export-N, addon-N or import-N, "
                         "as `expensis failures list` shows them)")
    return kind, int(number)


# -- the five sources, each a query of open failures --------------------------------------

def _sync_query() -> AnySelect:
    later = aliased(SyncTask)
    replaced = exists().where(later.sync_profile_id == SyncTask.sync_profile_id,
                              later.cycle_start_date == SyncTask.cycle_start_date, later.id > SyncTask.id)
    return (select(SyncTask.id, SyncTask.updated_at, SyncProfile.name, Customer.code, SyncTask.cycle_start_date,
                   SyncTask.reason, SyncTask.error_message, SyncTask.totals_anyway, SyncTask.retries)
            .join(SyncProfile, SyncProfile.id == SyncTask.sync_profile_id)
            .join(Customer, Customer.id == SyncTask.customer_id)
            .where(SyncTask.status == "failed", or_(SyncTask.reason.is_(None), SyncTask.reason != RESCHEDULED),
                   ~replaced))


def _sync_failure(row: Any) -> Failure:
    task_id, at, profile, code, cycle, reason, error, anyway, retries = row
    what = f"sync failed: {reason or 'unknown_error'}"
    if anyway:
        what += f" after {retries} attempts; totals calculated anyway"
    month = f"{cycle:%Y-%m}"
    return Failure(SYNC, int(task_id), at, f"{profile} ({code} {month})", what, (error or "").strip(),
                   f"start a new sync of {profile} for {month}")


def _step_query() -> AnySelect:
    failed_sync = exists().where(SyncTask.workflow_id == Message.workflow_id, SyncTask.status == "failed")
    return (select(Message.id, Message.finished_at, Message.created_at, Message.command_type, Message.payload,
                   Message.error, Message.attempts)
            .where(Message.status == "failed", ~failed_sync, ~Message.payload.like('%"export_job_id"%')))


def _step_failure(row: Any, codes: dict[int, str]) -> Failure:
    message_id, finished, created, command_type, payload, error, attempts = row
    return Failure(STEP, int(message_id), finished or created, _subject(payload, codes) or command_type,
                   f"{command_type} failed after {attempts} attempt(s)", (error or "").strip(),
                   f"run {command_type} again (message {message_id}); its workflow goes on after it")


def _export_query() -> AnySelect:
    later = aliased(ExportJob)
    replaced = exists().where(later.kind == ExportJob.kind, later.customer_id == ExportJob.customer_id,
                              later.cycle_start_date == ExportJob.cycle_start_date, later.id > ExportJob.id)
    return (select(ExportJob.id, ExportJob.finished_at, ExportJob.created_at, ExportJob.kind, Customer.code,
                   ExportJob.cycle_start_date, ExportJob.error_message)
            .outerjoin(Customer, Customer.id == ExportJob.customer_id)
            .where(ExportJob.status == "failed", ~replaced))


def _export_failure(row: Any) -> Failure:
    job_id, finished, created, kind, code, cycle, error = row
    subject = " ".join(p for p in (code, f"{cycle:%Y-%m}" if cycle else "") if p)
    return Failure(EXPORT, int(job_id), finished or created, subject or f"export {job_id}",
                   f"{kind} export failed", (error or "").strip(), f"run export {job_id} ({kind}) again")


def _addon_query() -> AnySelect:
    later = aliased(AddonLog)
    replaced = exists().where(later.subscription_id == AddonLog.subscription_id,
                              later.addon_code == AddonLog.addon_code, later.action == AddonLog.action,
                              later.id > AddonLog.id)
    return (select(AddonLog.id, AddonLog.finished_at, AddonLog.created_at, AddonLog.action, AddonLog.addon_code,
                   Customer.code, Subscription.number, AddonLog.error_message)
            .join(Customer, Customer.id == AddonLog.customer_id)
            .join(Subscription, Subscription.id == AddonLog.subscription_id)
            .where(AddonLog.status == "failed", ~replaced))


def _addon_failure(row: Any) -> Failure:
    log_id, finished, created, action, code, customer, number, error = row
    return Failure(ADDON, int(log_id), finished or created, f"{customer} {number}",
                   f"add-on {action} {code} refused", (error or "").strip(),
                   f"request {action} {code} on {number} again")


def _import_query() -> AnySelect:
    later = aliased(ImportBatch)
    replaced = exists().where(later.provider == ImportBatch.provider, later.source == ImportBatch.source,
                              later.sync_task_id.is_(None), later.id > ImportBatch.id)
    return (select(ImportBatch.id, ImportBatch.finished_at, ImportBatch.created_at, ImportBatch.provider,
                   ImportBatch.source, ImportBatch.quarantined, ImportBatch.error_message)
            .where(ImportBatch.status == "failed", ImportBatch.sync_task_id.is_(None), ~replaced))


def _import_failure(row: Any) -> Failure:
    batch_id, finished, created, provider, source, quarantined, error = row
    if error:
        what, why = "CDR import stopped", error.strip()
    elif quarantined:
        what = f"CDR import stored nothing: all {quarantined:,} row(s) quarantined"
        why = f"`expensis cdr quarantine {batch_id}` lists them with line and reason"
    else:
        what, why = "CDR import stored nothing", "the file has no data row"
    return Failure(IMPORT, int(batch_id), finished or created, f"{provider} {PurePath(source).name}", what, why,
                   f"import {source} again as {provider}")


_QUERIES = {SYNC: _sync_query, STEP: _step_query, EXPORT: _export_query, ADDON: _addon_query,
            IMPORT: _import_query}
_ORDER = {SYNC: SyncTask.id, STEP: Message.id, EXPORT: ExportJob.id, ADDON: AddonLog.id, IMPORT: ImportBatch.id}


def _failures(session: Session, kind: str, rows: list[Any]) -> list[Failure]:
    if kind == SYNC:
        return [_sync_failure(r) for r in rows]
    if kind == EXPORT:
        return [_export_failure(r) for r in rows]
    if kind == ADDON:
        return [_addon_failure(r) for r in rows]
    if kind == IMPORT:
        return [_import_failure(r) for r in rows]
    codes = customer_codes(session, [message_payload(r.payload) for r in rows])
    return [_step_failure(r, codes) for r in rows]


# -- what the views call --------------------------------------------------------------------

def count_failures(db: Database) -> int:
    """How many failures are open (what the dashboard and `status` show)."""
    with db.reader() as session:
        return sum(int(session.scalar(select(func.count()).select_from(q().subquery())) or 0)
                   for q in _QUERIES.values())


def counts_by_kind(db: Database) -> dict[str, int]:
    with db.reader() as session:
        return {kind: int(session.scalar(select(func.count()).select_from(q().subquery())) or 0)
                for kind, q in _QUERIES.items()}


def list_failures(db: Database, *, limit: int = 50, kind: str | None = None) -> list[Failure]:
    """Open failures, newest first."""
    found: list[Failure] = []
    with db.reader() as session:
        for name, query in _QUERIES.items():
            if kind and name != kind:
                continue
            rows = list(session.execute(query().order_by(_ORDER[name].desc()).limit(limit)))
            found.extend(_failures(session, name, rows))
    return sorted(found, key=lambda f: f.failed_at, reverse=True)[:limit]


def failures_between(db: Database, since: datetime, until: datetime, *, limit: int = 200) -> list[Failure]:
    """Open failures that happened in (since, until], oldest first (the digest mail's list)."""
    found: list[Failure] = []
    at_column = {SYNC: SyncTask.updated_at, STEP: func.coalesce(Message.finished_at, Message.created_at),
                 EXPORT: func.coalesce(ExportJob.finished_at, ExportJob.created_at),
                 ADDON: func.coalesce(AddonLog.finished_at, AddonLog.created_at),
                 IMPORT: func.coalesce(ImportBatch.finished_at, ImportBatch.created_at)}
    with db.reader() as session:
        for name, query in _QUERIES.items():
            at = at_column[name]
            rows = list(session.execute(query().where(at > since, at <= until).order_by(_ORDER[name]).limit(limit)))
            found.extend(_failures(session, name, rows))
    return sorted(found, key=lambda f: f.failed_at)[:limit]


def get_failure(db: Database, ref: str) -> FailureDetail:
    """One open failure with its attempts; UnknownFailure when there is none by that reference."""
    kind, number = parse_ref(ref)
    with db.reader() as session:
        row = session.execute(_QUERIES[kind]().where(_ORDER[kind] == number)).first()
        if row is None:
            raise UnknownFailure(f"no open failure {kind}-{number} (see `expensis failures list`)")
        failure = _failures(session, kind, [row])[0]
        workflow_id, message_ids = _messages_of(session, kind, number)
        attempts = [Attempt(int(n), at, str(o), str(e or "")) for n, at, o, e in session.execute(
            select(MessageAttempt.attempt, MessageAttempt.at, MessageAttempt.outcome, MessageAttempt.error)
            .where(MessageAttempt.message_id.in_(message_ids)).order_by(MessageAttempt.at, MessageAttempt.id))
        ] if message_ids else []
    return FailureDetail(failure, attempts, workflow_id, message_ids)


def _messages_of(session: Session, kind: str, number: int) -> tuple[str | None, list[int]]:
    if kind == SYNC:
        workflow = session.scalar(select(SyncTask.workflow_id).where(SyncTask.id == number))
    elif kind == STEP:
        workflow = session.scalar(select(Message.workflow_id).where(Message.id == number))
        return workflow, [number]
    elif kind == EXPORT:
        ids = list(session.scalars(select(Message.id).where(or_(
            Message.payload.like(f'%"export_job_id": {number},%'),
            Message.payload.like(f'%"export_job_id": {number}}}%'))).order_by(Message.id)))
        workflow = session.scalar(select(Message.workflow_id).where(Message.id == ids[0])) if ids else None
        return workflow, ids
    else:
        return None, []
    if workflow is None:
        return None, []
    return workflow, list(session.scalars(select(Message.id).where(Message.workflow_id == workflow)
                                          .order_by(Message.id)))


def failed_messages_of(session: Session, workflow_id: str) -> list[int]:
    """The failed messages of a workflow (a retried sync discards them: the new sync replaces them)."""
    return list(session.scalars(select(Message.id).where(and_(Message.workflow_id == workflow_id,
                                                              Message.status == "failed"))))


def _subject(payload_text: str, codes: dict[int, str]) -> str:
    payload = message_payload(payload_text)
    parts = []
    customer = payload.get("customer_id")
    if isinstance(customer, int):
        parts.append(codes.get(customer, f"customer {customer}"))
    cycle = payload.get("cycle_start_date") or payload.get("month")
    if isinstance(cycle, str):
        parts.append(cycle[:7])
    return " ".join(parts)
