"""Actions an operator starts by hand from the CLI, each checked in core and audited.

The scheduler and the sync handlers call the underlying functions as `system`; these
wrappers are what a person runs (`cdr import`, `sync manager`, `balances update`,
`db upgrade`): the role check comes first, the audit line names the same action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import cast

from sqlalchemy import String

from core.billing.payments import CustomerBalance, update_balances
from core.bus import Bus
from core.cdr_checks import CdrLimits, UnknownProvider, normalise_provider
from core.db import Database, current_revision, head_revision, upgrade
from core.imports import ImportResult, import_cdrs
from core.models import Cdr
from core.security import audit
from core.security.roles import Action, authorize
from core.workflows.sync import sync_manager_tick
from core.workflows.totals import dispatch_totals
from providers.base import BadRow, Checkpoint, ProviderCdr


def _audit(db: Database, operator: str, action: Action, target: str, detail: str, result: str = "ok") -> None:
    with db.transaction() as session:
        audit.record(session, operator=operator, action=action, target=target, result=result, detail=detail)


PROVIDER_LENGTH: int = cast(String, Cdr.__table__.c.provider.type).length or 32


class ProviderNameError(ValueError):
    """The provider name cannot be stored (too long for its column, or empty)."""


def import_cdr_file(db: Database, rows: Iterable[ProviderCdr | BadRow | Checkpoint], *, provider: str, source: str, operator: str,
                    with_totals: bool = False,
                    progress: Callable[[ImportResult], None] | None = None,
                    limits: CdrLimits | None = None) -> ImportResult:
    """Import CDRs an operator hands in (a file); with_totals also needs the recalculation role."""
    limit = PROVIDER_LENGTH
    if not provider.strip() or len(provider) > limit:
        raise ProviderNameError(f"a provider name has 1 to {limit} characters, not {len(provider)}")
    try:
        provider = normalise_provider(provider)  # one dedup name however it is spelled
    except UnknownProvider as exc:
        raise ProviderNameError(str(exc)) from None
    target = f"{provider} {Path(source).name}"
    authorize(db, operator, Action.CDR_IMPORT, target=target)
    if with_totals:
        authorize(db, operator, Action.TOTALS_RECALCULATE, target=target)
    result = import_cdrs(db, rows, provider=provider, source=source, progress=progress, limits=limits)
    # an import that stored nothing (every row bad, no row, stopped) is a failed one: the CLI
    # exits 1 for it, and the audit says so too (it said "ok")
    _audit(db, operator, Action.CDR_IMPORT, target, result.summary(), "failed" if result.nothing_read else "ok")
    return result


def dispatch_import_totals(bus: Bus, result: ImportResult, *, operator: str) -> int:
    """Totals for every customer-cycle an import touched (checked again: a role may have changed)."""
    if not result.touched:
        return 0
    target = f"import batch {result.batch_id}"
    authorize(bus.db, operator, Action.TOTALS_RECALCULATE, target=target)
    for customer_id, cycle_start in sorted(result.touched):
        dispatch_totals(bus, customer_id, cycle_start, trigger="import")
    _audit(bus.db, operator, Action.TOTALS_RECALCULATE, target,
           f"{len(result.touched)} customer-cycle(s) after the import")
    return len(result.touched)


def run_sync_manager(bus: Bus, *, operator: str) -> list[int]:
    """One sync-manager tick by hand; returns the sync task ids created."""
    authorize(bus.db, operator, Action.SYNC_MANAGER, target="sync manager")
    created = sync_manager_tick(bus)
    _audit(bus.db, operator, Action.SYNC_MANAGER, "sync manager", f"{len(created)} sync task(s) created")
    return created


def refresh_balances(db: Database, *, today: date, operator: str) -> list[CustomerBalance]:
    """Recompute every balance into the revenue ledger, by hand."""
    authorize(db, operator, Action.BALANCES_UPDATE, target="all customers")
    balances = update_balances(db, today=today)
    _audit(db, operator, Action.BALANCES_UPDATE, "all customers", f"{len(balances)} balance(s)")
    return balances


def upgrade_schema(db: Database, *, operator: Callable[[], str]) -> tuple[str | None, str]:
    """Apply pending migrations (admin); returns the revisions before and after.

    `operator` is asked once the operator table can be read: an empty database has
    nobody to ask yet, so its schema is created first and the audit line written after.
    """
    before, head = current_revision(db), head_revision(db)
    if before == head:
        return before, head
    if before is not None:
        authorize(db, operator(), Action.DB_UPGRADE, target=f"{before} → {head}")
    upgrade(db)
    _audit(db, operator(), Action.DB_UPGRADE, f"{before or 'empty'} → {head}", "schema upgraded")
    return before, head
