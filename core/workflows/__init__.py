"""One module per workflow: its commands and their handlers side by side."""

from __future__ import annotations

import importlib

WORKFLOW_MODULES: tuple[str, ...] = (
    "core.workflows.totals",
    "core.workflows.sync",
    "core.workflows.exports",
    "core.workflows.invoicing",
    "core.workflows.addons",
    "core.workflows.roaming_caps",
)


def load_all() -> None:
    """Import every workflow so each command has registered its handler."""
    for name in WORKFLOW_MODULES:
        importlib.import_module(name)
