"""What the rest of the system relies on: names, layering, module hygiene."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import providers
from providers import base
from providers.csvformat import REQUIRED_COLUMNS, MissingColumn, parse_cdr_csv
from providers.routit_nina import AddonType, NinaClient
from providers.sandbox import SandboxServer, serve

PACKAGE = Path(providers.__file__).parent


def test_the_contract_names() -> None:
    for name in (
        "ProviderError",
        "InvalidCredentials",
        "InvoiceNotYetAvailable",
        "RateLimited",
        "ProviderTimeout",
        "ProviderUnavailable",
        "ProviderSubscription",
        "ProviderCdr",
        "BadRow",
        "InvoiceTotal",
        "ProfileConnection",
        "ProviderAdapter",
        "open_adapter",
        "PLATFORMS",
    ):
        assert hasattr(base, name), name
    reasons = {
        base.InvalidCredentials: ("invalid_credentials", False),
        base.InvoiceNotYetAvailable: ("invoice_not_yet_available", False),
        base.ProviderTimeout: ("timeout", True),
        base.ProviderUnavailable: ("unknown_error", True),
        MissingColumn: ("bad_data", False),
    }
    for error, (reason, transient) in reasons.items():
        assert issubclass(error, base.ProviderError)
        assert (error.reason, error.transient) == (reason, transient)
    assert base.RateLimited("x", retry_after=3).transient
    assert [field.name for field in dataclasses.fields(base.ProviderCdr)] == [
        "provider_ref",
        "number",
        "call_date",
        "call_type",
        "destination",
        "duration_s",
        "volume_kb",
        "provider_cost",
        "roaming",
        "visited_country",
        "line",  # where the record was read, for the quarantine; not part of its identity
    ]
    assert [field.name for field in dataclasses.fields(base.ProviderSubscription)] == [
        "number",
        "customer_ref",
        "sim",
        "imei",
        "device_model",
        "start_date",
        "end_date",
        "portation_date",
        "plan_code",
    ]
    assert REQUIRED_COLUMNS and callable(parse_cdr_csv) and callable(serve)
    assert {"list_addon_types", "list_addons", "activate", "cancel"} <= set(dir(NinaClient))
    assert dataclasses.is_dataclass(AddonType)
    assert callable(SandboxServer.start) and callable(SandboxServer.stop)


def test_credentials_are_not_in_the_repr() -> None:
    conn = base.ProfileConnection("routit", "http://x", {"api_key": "s3cret"}, "C1")
    assert "s3cret" not in repr(conn)


def test_providers_import_nothing_above_them() -> None:
    script = (
        "import sys, pkgutil, importlib, providers\n"
        "for module in pkgutil.walk_packages(providers.__path__, 'providers.'):\n"
        "    importlib.import_module(module.name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'core', 'scheduler', 'expensis_tui', 'textual'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_every_module_postpones_annotations() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        future = [
            node
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module == "__future__"
        ]
        assert future and any(alias.name == "annotations" for alias in future[0].names), path
