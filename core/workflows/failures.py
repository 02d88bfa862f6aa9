"""The one retry of each failure (core.views.failures), checked against the role table and audited.

- a failed sync: a new sync of the same profile and cycle (the provider's CDRs are
  deduplicated on (provider, provider_ref), so nothing already imported lands twice);
  the old workflow's failed messages are discarded, the new sync replaces them;
- a failed step: the message runs again with fresh attempts and its chain goes on;
- a failed export: its message runs again (the job moves back to running), or a new
  job when that message is gone;
- a refused add-on request: the same request again;
- a CDR file import that stored nothing: the file at the same path imported again as the same
  provider (corrected in place, it completes and replaces the failure; a file moved away says
  so). Duplicates are skipped as on any import, and no totals are dispatched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from core.bus import Bus
from core.cdr_checks import CdrLimits
from core.models import AddonLog, ExportJob, ImportBatch, Message, SyncProfile, SyncTask
from core.operations import retry_message
from core.security import audit, roles
from core.views.failures import ADDON, EXPORT, IMPORT, STEP, SYNC, failed_messages_of, get_failure
from core.workflows.addons import request_addon_change
from core.workflows.exports import create_export
from core.workflows.manual import import_cdr_file
from core.workflows.sync import SyncBusy, create_task, task_in_flight, task_month
from providers.base import ProviderError, parse_cdr_file


class CannotRetry(Exception):
    """The failure changed under the operator (no longer failed, or nothing left to run)."""


@dataclass(frozen=True)
class RetryStarted:
    ref: str
    summary: str  # one line for the operator
    workflow_id: str | None = None
    sync_task_id: int | None = None
    failed: bool = False  # a retry done at once that failed again (a file import)


def retry_failure(bus: Bus, ref: str, *, operator: str) -> RetryStarted:
    """Do the right retry for the open failure `ref`; UnknownFailure / NotAllowed / SyncBusy otherwise."""
    detail = get_failure(bus.db, ref)
    failure = detail.failure
    if failure.kind == SYNC:
        return _retry_sync(bus, failure.id, failure.ref, operator)
    # checked here too: the action each kind delegates to checks (and audits) its own
    roles.authorize(bus.db, operator, roles.Action.FAILURES_RETRY, target=failure.ref)
    if failure.kind == STEP:
        if not retry_message(bus, failure.id, operator=operator):
            raise CannotRetry(f"message {failure.id} is no longer failed")
        return RetryStarted(failure.ref, f"message {failure.id} queued again", detail.workflow_id)
    if failure.kind == EXPORT:
        return _retry_export(bus, failure.id, failure.ref, detail.message_ids, operator)
    if failure.kind == IMPORT:
        return _retry_import(bus, failure.id, failure.ref, operator)
    assert failure.kind == ADDON
    with bus.db.reader() as session:
        log = session.get_one(AddonLog, failure.id)
    request = request_addon_change(bus, log.action, log.customer_id, [log.subscription_id], log.addon_code,
                                   operator=operator)
    return RetryStarted(failure.ref, f"add-on {log.action} {log.addon_code} requested again",
                        request.workflow_id)


def _retry_import(bus: Bus, batch_id: int, ref: str, operator: str) -> RetryStarted:
    with bus.db.reader() as session:
        batch = session.get_one(ImportBatch, batch_id)
        provider, source = batch.provider, batch.source
    path = Path(source)
    if not path.is_file():
        raise CannotRetry(f"{source} is no longer there: import the corrected file with "
                          f"`expensis cdr import FILE --provider {provider}`")
    limits = CdrLimits.from_settings(bus.deps.settings) if bus.deps is not None else None
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise CannotRetry(f"{source} cannot be read: {exc.strerror or exc}") from exc
    with stream:
        try:
            result = import_cdr_file(bus.db, parse_cdr_file(stream), provider=provider, source=source,
                                     operator=operator, limits=limits)
        except ProviderError as exc:  # the file stopped again: a new failed batch replaces this one
            result = None
            error = str(exc)
    with bus.db.transaction() as session:
        audit.record(session, operator=operator, action=roles.Action.FAILURES_RETRY, target=ref,
                     result="failed" if result is None or result.nothing_read else "ok",
                     detail=f"failed import batch {batch_id} imported again"
                            + (f" as batch {result.batch_id}: {result.summary()}" if result else f": {error}"))
    if result is None:
        return RetryStarted(ref, f"{path.name} stopped again: {error}", failed=True)
    if result.nothing_read:
        return RetryStarted(ref, f"{result.summary()}; it stored nothing again: `expensis failures list`",
                            failed=True)
    touched = (f"; {len(result.touched)} customer-cycle(s) touched: run `expensis totals recalc`"
               if result.touched and result.imported + result.corrected else "")
    return RetryStarted(ref, f"{result.summary()}{touched}")


def _retry_sync(bus: Bus, task_id: int, ref: str, operator: str) -> RetryStarted:
    with bus.db.transaction() as session:
        task = session.get_one(SyncTask, task_id)
        profile = session.get_one(SyncProfile, task.sync_profile_id)
        month = task_month(task)
        target = f"{profile.name} {month}"
        roles.require(session, operator, roles.Action.FAILURES_RETRY, target=target)
        busy = task_in_flight(session, profile.id)
        if busy is not None:
            raise SyncBusy(f"a sync of {profile.name} is already pending or running (task {busy})")
        start = create_task(bus, session, profile, month, "retry")
        discarded = [m for m in failed_messages_of(session, task.workflow_id or "") if bus.discard(m, session)]
        audit.record(session, operator=operator, action=roles.Action.FAILURES_RETRY, target=target,
                     detail=f"failed sync task {task_id} retried as task {start.task_id}"
                            + (f"; discarded failed message(s) {discarded}" if discarded else ""))
    return RetryStarted(ref, f"sync task {start.task_id} started for {target}", start.workflow_id,
                        start.task_id)


def _retry_export(bus: Bus, job_id: int, ref: str, message_ids: list[int], operator: str) -> RetryStarted:
    with bus.db.reader() as session:
        failed = session.scalars(select(Message.id).where(Message.id.in_(message_ids), Message.status == "failed")
                                 .order_by(Message.id.desc())).first() if message_ids else None
    if failed is not None and retry_message(bus, failed, operator=operator):
        return RetryStarted(ref, f"export {job_id} running again (message {failed})")
    with bus.db.reader() as session:
        job = session.get_one(ExportJob, job_id)
    if job.customer_id is None or job.cycle_start_date is None:
        raise CannotRetry(f"export {job_id} has no customer or cycle to run again")
    new_id = create_export(bus, job.kind, job.customer_id, job.cycle_start_date, operator=operator)
    return RetryStarted(ref, f"export {job_id} replaced by export {new_id}")
