"""A sandbox plus a database with one customer and sync profile per platform, for sync tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.bus import Bus
from core.bus.command import default_registry
from core.bus.deps import HandlerDeps
from core.config import Settings, load_settings
from core.db import Database
from core.security.secrets import SecretBox
from core.setup import apply_setup
from core.workflows import load_all
from providers.sandbox import SandboxServer

load_all()


@dataclass
class SyncWorld:
    db: Database
    sandbox: SandboxServer
    settings: Settings
    bus: Bus


def make_world(db: Database, sandbox: SandboxServer, data_dir: Path, platforms: list[str], *,
               subscriptions: int = 4, cdrs: int = 10, max_attempts: int = 3, timeout_s: float = 5.0,
               faults: dict[str, Any] | None = None) -> SyncWorld:
    settings = load_settings(data_dir=data_dir, overrides={"provider_timeout_s": timeout_s,
                                                           "max_attempts": max_attempts})
    lines = ['[[rate_plan]]\nname = "Sync plan"\nmonthly_fee = 5.00\nvoice_bundle_minutes = 60\n'
             'price_per_minute = 0.10\nprice_per_sms = 0.05\nprice_per_mb = 0.01\n']
    for platform in platforms:
        ref = f"{platform.upper()}-REF"
        customer = sandbox.configure_customer(platform, ref, subscriptions=subscriptions,
                                              cdrs_per_subscription=cdrs, faults=(faults or {}).get(platform))
        creds = ", ".join(f'{k} = "{v}"' for k, v in customer.credentials.items())
        lines.append(
            f'[[customer]]\ncode = "{platform.upper()}"\nname = "{platform} customer"\nbilling_day = 1\n'
            f'rateplan_customer = false\n'
            f'  [[customer.sync_profile]]\n  name = "{platform}-profile"\n  provider = "{platform}"\n'
            f'  base_url = "{sandbox.url_for(platform)}"\n  customer_ref = "{ref}"\n'
            f'  interval_minutes = 1440\n  credentials = {{ {creds} }}\n')
    apply_setup(db, "\n".join(lines), secrets=SecretBox.from_settings(settings), operator="test")
    bus = Bus(db, default_registry, max_attempts=max_attempts, backoff_base=0.0,
              deps=HandlerDeps(settings))
    return SyncWorld(db, sandbox, settings, bus)
