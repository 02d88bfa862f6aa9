"""The demo: a fresh data directory, the in-process sandbox, and a realistic setup.

Two customers on every provider (one sync profile each), three rate plans with
roaming prices in two zones besides the built-in EU/EEA, two partners and ~230
subscriptions whose numbers are the sandbox's own, so synced CDRs link and are rated
from the first sync.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, select, update

from core.bus import Bus, run_until_idle
from core.config import Settings
from core.models import BillingInsight, Cdr, Customer, SyncProfile, SyncTask, Total
from core.month import Month
from core.runtime import Runtime
from core.security.files import private_dir
from core.security.roles import ADMIN, add_operator
from core.security.secrets import SecretBox
from core.setup import apply_setup
from core.workflows.sync import start_manual_sync
from providers.sandbox import DEMO_CUSTOMERS, SandboxServer
from providers.sandbox.data import subscriptions

# The EU/EEA zone is built in (roam like at home); world1 is Europe outside it and North
# America, world2 the rest of the world the demo's travellers visit.
PLANS = """
[[roaming_zone]]
name = "world1"
countries = ["CH", "GB", "US", "CA", "TR", "AD", "MC", "SM", "VA", "GI", "JE", "GG", "IM",
             "FO", "AL", "BA", "ME", "MK", "RS", "XK", "MD", "UA"]

[[roaming_zone]]
name = "world2"
countries = ["JP", "CN", "HK", "SG", "KR", "IN", "TH", "ID", "VN", "MY", "PH", "AU", "NZ",
             "AE", "SA", "QA", "IL", "EG", "MA", "TN", "ZA", "KE", "NG", "BR", "AR", "CL",
             "MX", "CO", "PE", "CU", "DO", "RU", "BY", "GE", "AM", "AZ", "KZ"]

[[rate_plan]]
name = "Zakelijk Basis"
monthly_fee = 12.50
voice_bundle_minutes = 100
sms_bundle = 50
data_bundle_mb = 2048
price_per_minute = 0.12
price_per_sms = 0.08
price_per_mb = 0.02
voice_increment_s = 60
eu_fair_use_gb = 4
eu_surcharge_per_mb = 0.0025
  [[rate_plan.tariff]]
  prefix = "+44"
  call_type = "voice"
  price = 0.45
  setup_fee = 0.05
  [[rate_plan.roaming]]
  zone = "world1"
  voice_out_per_min = 0.95
  voice_in_per_min = 0.35
  sms_per_message = 0.30
  data_per_mb = 1.50
  [[rate_plan.roaming]]
  zone = "world2"
  voice_out_per_min = 2.50
  voice_in_per_min = 1.00
  sms_per_message = 0.60
  data_per_mb = 7.50

[[rate_plan]]
name = "Zakelijk Onbeperkt"
monthly_fee = 29.95
voice_bundle_minutes = 3000
sms_bundle = 1000
data_bundle_mb = 20480
price_per_minute = 0.05
price_per_sms = 0.05
price_per_mb = 0.01
voice_increment_s = 1
eu_fair_use_gb = 13.5
eu_surcharge_per_mb = 0.0025
  [[rate_plan.tariff]]
  prefix = "+32"
  call_type = "voice"
  price = 0.25
  [[rate_plan.roaming]]
  zone = "world1"
  voice_out_per_min = 0.80
  voice_in_per_min = 0.30
  sms_per_message = 0.25
  data_per_mb = 1.25
  voice_increment = "30/1"
  [[rate_plan.roaming]]
  zone = "world2"
  voice_out_per_min = 2.00
  voice_in_per_min = 0.80
  sms_per_message = 0.50
  data_per_mb = 6.00
  voice_increment = "30/1"

[[rate_plan]]
name = "Data Only"
monthly_fee = 9.00
data_bundle_mb = 10240
price_per_mb = 0.015
voice_increment_s = 60
price_per_minute = 0.30
price_per_sms = 0.10
eu_fair_use_gb = 20
  [[rate_plan.roaming]]
  zone = "world1"
  voice_out_per_min = 1.20
  voice_in_per_min = 0.40
  sms_per_message = 0.35
  data_per_mb = 1.25
  [[rate_plan.roaming]]
  zone = "world2"
  voice_out_per_min = 3.00
  voice_in_per_min = 1.20
  sms_per_message = 0.75
  data_per_mb = 6.00
"""

CUSTOMER_NAMES = {"ACME-001": ("ACME", "Acme Logistiek B.V.", "Telecom Partners B.V.", 1, "nl"),
                  "BAKKERIJ-002": ("BAKKERIJ", "Bakkerij de Vries", "Noord Zakelijk", 15, "en")}


@dataclass
class DemoSummary:
    seconds: float
    tasks: Counter[str] = field(default_factory=Counter)
    cdrs: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)
    insights: Counter[str] = field(default_factory=Counter)

    def render(self) -> str:
        lines = [f"demo synced in {self.seconds:.1f} s: "
                 + ", ".join(f"{n} {s}" for s, n in sorted(self.tasks.items())) + " sync task(s)",
                 f"CDRs imported: {self.cdrs:,}"]
        lines += [f"  {label}: € {amount:,.2f}" for label, amount in sorted(self.totals.items())]
        lines.append("insights: " + ", ".join(f"{n} {k}" for k, n in sorted(self.insights.items())))
        return "\n".join(lines)


def demo_setup(sandbox: SandboxServer) -> str:
    """The setup TOML for the demo, with sync profiles pointing at `sandbox`."""
    parts = [PLANS]
    by_customer: dict[str, list[str]] = {}
    for platform, ref, _subs, _cdrs in DEMO_CUSTOMERS:
        customer = sandbox.registry.customer(platform, ref)
        code = CUSTOMER_NAMES[ref][0]
        creds = ", ".join(f'{k} = "{v}"' for k, v in sorted(customer.credentials.items()))
        block = [f'  [[customer.sync_profile]]\n  name = "{code.lower()}-{platform}"\n'
                 f'  provider = "{platform}"\n  base_url = "{sandbox.url_for(platform)}"\n'
                 f'  customer_ref = "{ref}"\n  interval_minutes = 60\n  credentials = {{ {creds} }}\n']
        for i, sub in enumerate(subscriptions(customer.settings, "2026-01")):
            plan = ("Zakelijk Basis", "Zakelijk Onbeperkt", "Data Only")[i % 3]
            block.append(f'  [[customer.subscription]]\n  number = "{sub.number}"\n  rate_plan = "{plan}"\n'
                         f'  provider = "{platform}"\n  cost_centre = "{("Sales", "Support", "Logistiek")[i % 3]}"\n'
                         f'  start_date = 2025-01-01\n')
        by_customer.setdefault(ref, []).extend(block)
    for ref, blocks in by_customer.items():
        code, name, partner, billing_day, language = CUSTOMER_NAMES[ref]
        parts.append(f'[[partner]]\nname = "{partner}"\n')
        parts.append(f'[[customer]]\ncode = "{code}"\nname = "{name}"\npartner = "{partner}"\n'
                     f'language = "{language}"\nbilling_day = {billing_day}\nrateplan_customer = true\n'
                     f'email = "finance@{code.lower()}.example"\n' + "".join(blocks))
    return "\n".join(parts)


DEMO_MARKER = ".expensis-demo"


def fresh_demo_dir(path: Path) -> Path:
    """Empty the demo directory (only ever a directory the demo made)."""
    marker = path / DEMO_MARKER
    if path.exists() and any(path.iterdir()) and not marker.exists():
        raise RuntimeError(f"{path} is not empty and was not made by the demo; choose another --data-dir")
    if path.exists():
        shutil.rmtree(path)
    private_dir(path)  # 0700 from the start: a fresh demo is not "tightened" with a warning
    marker.write_text("made by `expensis demo`; removed by the next demo run\n")
    return path


def install_demo(runtime: Runtime, sandbox: SandboxServer, *, os_user: str | None = None) -> None:
    """The demo's customers and profiles (pointing at `sandbox`); `demo` and the OS user are admins."""
    sandbox.configure_demo()
    add_operator(runtime.db, "demo", ADMIN, operator="demo")  # the first operator: admin
    user = os_user if os_user is not None else os_user_name()
    if user and user != "demo":  # whoever runs `expensis` later without --operator may act too
        add_operator(runtime.db, user, ADMIN, operator="demo")
    apply_setup(runtime.db, demo_setup(sandbox), secrets=SecretBox.from_settings(runtime.settings),
                operator="demo")
    with runtime.db.transaction() as s:  # due now: the first sync manager tick picks them all up
        s.execute(update(SyncProfile).values(next_sync_date=runtime.bus.clock()))


def os_user_name() -> str:
    return Settings(data_dir=Path(".")).operator_name  # no operator set: the OS user


def demo_sandbox_port(data_dir: Path) -> int | None:
    """The port of the sandbox the demo's sync profiles point at (None without profiles)."""
    from core.db import Database

    db = Database(f"sqlite:///{data_dir / 'expensis.sqlite3'}")
    try:
        with db.reader() as s:
            url = s.scalars(select(SyncProfile.base_url).order_by(SyncProfile.id)).first()
    finally:
        db.dispose()
    return urlsplit(url).port if url else None


def last_months(now: datetime, count: int) -> list[str]:
    this = Month.of(now)
    return [str(this - back) for back in range(count, 0, -1)]


def run_headless(runtime: Runtime, months: list[str], *, threads: int = 2) -> DemoSummary:
    """Sync every profile for each month, one month after the other, to completion."""
    started = time.monotonic()
    bus: Bus = runtime.bus
    with runtime.db.reader() as s:
        profiles = list(s.scalars(select(SyncProfile.id).order_by(SyncProfile.id)))
    for month in months:
        for profile_id in profiles:
            start_manual_sync(bus, profile_id, month, operator="demo")
        run_until_idle(bus, threads=threads)
    return summarise(runtime, time.monotonic() - started)


def summarise(runtime: Runtime, seconds: float) -> DemoSummary:
    summary = DemoSummary(seconds)
    with runtime.db.reader() as s:
        summary.tasks.update(dict(s.execute(select(SyncTask.status, func.count()).group_by(SyncTask.status)).all()))
        summary.cdrs = int(s.scalar(select(func.count()).select_from(Cdr)) or 0)
        for code, start, amount in s.execute(
                select(Customer.code, Total.cycle_start_date, func.sum(Total.rated_amount))
                .join(Customer, Customer.id == Total.customer_id)
                .group_by(Customer.code, Total.cycle_start_date)):
            summary.totals[f"{code} {Month.of(start)}"] = Decimal(amount or 0)
        summary.insights.update(dict(s.execute(select(BillingInsight.kind, func.count())
                                               .group_by(BillingInsight.kind)).all()))
    return summary


def demo_settings_dir(settings: Settings) -> Path:
    return settings.data_dir
