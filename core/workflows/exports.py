"""Export workflow (seed 003 "Data Export Request"): an export job row, a command, a file.

create_export → export_job (pending) + one Generate* command. The handler moves the
job to running, streams the report to `settings.exports_dir`, writes its progress
to the job row every 10,000 rows (in separate transactions, so the console sees it
live), and completes the job in the same transaction that completes the message.
A failure is written to the job (failed, or pending again when the bus will retry).
A redelivered command for a completed job does nothing. When SMTP is configured and
the job names an address, MailExportReady tells the requester which file to open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.billing.mail import send_export_ready
from core.bus import Bus, Command, Dispatched, HandlerContext, PermanentError
from core.bus.bus import describe
from core.bus.command import WorkflowReport
from core.bus.errors import classify
from core.config import Settings
from core.db import Database
from core.exports.reports import REPORTS, count_cdrs
from core.models import Customer, ExportJob
from core.month import Month

PENDING: Final = "pending"
RUNNING: Final = "running"
COMPLETED: Final = "completed"
FAILED: Final = "failed"


@dataclass(frozen=True)
class ExportCommand(Command, abstract=True):
    export_job_id: int

    def report(self, session: Session, workflow_id: str) -> WorkflowReport | None:
        """Rows written so far; a job failed by hand or by its handler is failed."""
        job = session.get(ExportJob, self.export_job_id)
        if job is None:
            return None
        note = f"{job.rows:,}" + (f" of {job.total_rows:,}" if job.total_rows else "") + " rows"
        if job.status == FAILED:
            return WorkflowReport(failed=True, failed_step=self.type_name(), error=job.error_message, note=note)
        return WorkflowReport(note=note)


@dataclass(frozen=True)
class GenerateCustomerExcelReport(ExportCommand):
    """The customer's CDRs of a cycle with rated amounts, one sheet per call type, and totals."""


@dataclass(frozen=True)
class GenerateCustomerCsvReport(ExportCommand):
    """The same CDRs as one CSV file."""


@dataclass(frozen=True)
class GenerateCustomerUsageReport(ExportCommand):
    """Usage, fee and amount per subscription."""


@dataclass(frozen=True)
class GenerateBillingInsightReport(ExportCommand):
    """The cycle's billing insights and margin per subscription."""


@dataclass(frozen=True)
class GenerateCostCentreExport(ExportCommand):
    """Cost-centre settings and totals for a month."""


@dataclass(frozen=True)
class MailExportReady(ExportCommand):
    """Mail the requester that the export's file is ready."""


COMMANDS: dict[str, type[ExportCommand]] = {
    "excel": GenerateCustomerExcelReport,
    "csv": GenerateCustomerCsvReport,
    "usage": GenerateCustomerUsageReport,
    "insights": GenerateBillingInsightReport,
    "cost_centres": GenerateCostCentreExport,
}
KINDS: tuple[str, ...] = tuple(COMMANDS)


@dataclass(frozen=True)
class ExportStart:
    job_id: int
    handle: Dispatched


def create_export(bus: Bus, kind: str, customer_id: int, cycle_start: date, *, operator: str,
                  notify_email: str | None = None) -> int:
    """Record an export job and dispatch its command in one transaction; returns the job id."""
    return start_export(bus, kind, customer_id, cycle_start, operator=operator, notify_email=notify_email).job_id


def start_export(bus: Bus, kind: str, customer_id: int, cycle_start: date, *, operator: str,
                 notify_email: str | None = None) -> ExportStart:
    """As `create_export`, returning the job id and the handle to follow it by."""
    from core.security import audit, roles

    if kind not in COMMANDS:
        raise ValueError(f"unknown export kind {kind!r}; use one of {', '.join(KINDS)}")
    with bus.db.transaction() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise LookupError(f"no customer with id {customer_id}")
        roles.require(session, operator, roles.Action.EXPORT_CREATE, target=f"{customer.code} {Month.of(cycle_start)}")
        email = notify_email or (operator if "@" in operator else None)
        job = ExportJob(kind=kind, customer_id=customer_id, cycle_start_date=cycle_start, status=PENDING,
                        requested_by=operator[:64], notify_email=email)
        session.add(job)
        session.flush()
        audit.record(session, operator=operator, action=roles.Action.EXPORT_CREATE,
                     target=f"{customer.code} {Month.of(cycle_start)}", detail=f"{kind} export job {job.id}")
        return ExportStart(job.id, bus.dispatch(COMMANDS[kind](job.id), session=session))


def _start(db: Database, job_id: int) -> ExportJob | None:
    """Move the job to running (from pending, failed, or running when redelivered); None if done."""
    with db.transaction() as session:
        job = session.get(ExportJob, job_id)
        if job is None:
            raise PermanentError(f"no export job {job_id}")
        if job.status == COMPLETED:
            return None
        job.status, job.rows, job.error_message, job.finished_at = RUNNING, 0, None, None
        return job


def _set(db: Database, job_id: int, **values: Any) -> None:
    with db.transaction() as session:
        session.execute(update(ExportJob).where(ExportJob.id == job_id).values(**values)
                        .execution_options(synchronize_session=False))


def export_path(settings: Settings, customer_code: str, cycle_start: date, kind: str, job_id: int) -> Path:
    code = re.sub(r"[^A-Za-z0-9_.-]", "_", customer_code).strip(".") or "customer"
    suffix = REPORTS[kind][1]
    return settings.exports_dir / f"{code}_{Month.of(cycle_start)}_{kind}_{job_id}.{suffix}"


def run_export(cmd: ExportCommand, ctx: HandlerContext) -> None:
    settings = ctx.deps.settings
    db = ctx.db
    job = _start(db, cmd.export_job_id)
    if job is None:
        return
    try:
        if job.kind not in REPORTS or job.customer_id is None or job.cycle_start_date is None:
            raise PermanentError(f"export job {job.id} cannot be run: kind {job.kind!r}")
        with db.reader() as session:
            customer = session.get(Customer, job.customer_id)
        if customer is None:
            raise PermanentError(f"export job {job.id}: customer {job.customer_id} is gone")
        writer = REPORTS[job.kind][0]
        path = export_path(settings, customer.code, job.cycle_start_date, job.kind, job.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if job.kind in ("excel", "csv"):
            _set(db, job.id, total_rows=count_cdrs(db, customer.id, job.cycle_start_date))
        rows = writer(db, customer, job.cycle_start_date, path, lambda n: _set(db, job.id, rows=n))
    except Exception as exc:
        retried = classify(exc).transient and ctx.attempt < ctx.message.max_attempts
        _set(db, job.id, status=PENDING if retried else FAILED, finished_at=None if retried else ctx.clock(),
             error_message=("retrying: " if retried else "") + describe(exc))
        raise
    with ctx.transaction() as session:
        session.execute(update(ExportJob).where(ExportJob.id == job.id)
                        .values(status=COMPLETED, path=str(path), rows=rows, finished_at=ctx.clock(),
                                error_message=None)
                        .execution_options(synchronize_session=False))
        if job.notify_email and settings.smtp.configured:
            ctx.dispatch(MailExportReady(job.id))



def mail_export_ready(cmd: MailExportReady, ctx: HandlerContext) -> None:
    with ctx.db.reader() as session:
        job = session.get(ExportJob, cmd.export_job_id)
    if job is None or job.status != COMPLETED or not job.notify_email or not job.path:
        return
    send_export_ready(ctx.db, ctx.deps.settings, job.id, job.notify_email, job.path, job.rows)
