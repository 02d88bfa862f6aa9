"""One module per workflow: its commands and their handlers side by side.

`handlers()` is the one place that says which function handles which command;
`load_all()` registers them with the bus's registry (the runtime calls it once).
"""

from __future__ import annotations

from core.bus import Command, Registry, default_registry
from core.bus.command import Handler


def handlers() -> list[tuple[type[Command], Handler]]:
    """Every command the bus runs, with the function that handles it."""
    from core.workflows import addons, exports, invoicing, roaming_caps, sync, totals

    return [
        # totals: DispatchTotals routes the chain of steps for one customer-cycle
        (totals.DispatchTotals, totals.dispatch_totals_router),
        (totals.CalculateTotalsRateplan, totals.calculate_totals_rateplan),
        (totals.CalculateTotals, totals.calculate_totals),
        (totals.BillingInsightTotals, totals.billing_insight_totals),
        (totals.SaveStatus, totals.save_status),
        (totals.DispatchTotalsBackup, totals.dispatch_totals_backup),
        (roaming_caps.MailBillShock, roaming_caps.mail_bill_shock),  # notices when a cap is reached
        # sync: SyncProfile routes to the provider's sync, then totals, then CompleteSyncTask
        (sync.SyncProfileCommand, sync.sync_profile_router),
        *((command, sync.provider_sync) for command in sync.SYNC_COMMANDS.values()),
        (sync.CompleteSyncTask, sync.complete_sync_task),
        # exports: one command per report kind, one handler
        *((command, exports.run_export) for command in exports.COMMANDS.values()),
        (exports.MailExportReady, exports.mail_export_ready),
        # invoicing
        (invoicing.GenerateInvoice, invoicing.generate_invoice),
        (invoicing.SendInvoiceMail, invoicing.send_invoice),
        # add-ons through Routit's Nina
        *((command, addons.change_routit_addons) for command in addons.COMMANDS.values()),
        (addons.SendAddonRequest, addons.send_addon_request),
    ]


def load_all(registry: Registry = default_registry) -> None:
    """Register every workflow handler (again is harmless: the same function is accepted)."""
    for command, handler in handlers():
        registry.handles(command)(handler)
