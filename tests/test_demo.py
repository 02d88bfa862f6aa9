"""`expensis demo --headless`: the README's first command, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.db import Database
from core.models import RatePlan, RatePlanRoaming, RoamingZone
from core.rating.roaming import EU_EEA
from core.security.secrets import SecretBox
from core.setup import apply_setup
from expensis_tui.cli import main
from expensis_tui.demo import demo_setup
from providers.sandbox import SandboxServer
from providers.sandbox.data import VISITED


@pytest.mark.slow
def test_headless_demo_syncs_every_provider_and_prints_a_summary(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    result = CliRunner().invoke(main, ["--data-dir", str(data), "demo", "--headless", "--months", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "14 completed sync task(s)" in result.stdout  # 2 customers × 7 providers
    assert "CDRs imported:" in result.stdout and "ACME" in result.stdout
    assert (data / ".expensis-demo").exists()
    again = CliRunner().invoke(main, ["--data-dir", str(data), "demo", "--headless", "--months", "1"])
    assert again.exit_code == 0 and "14 completed" in again.stdout  # a fresh directory each time


def test_demo_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "demo", "--headless"])
    assert result.exit_code == 1 and (tmp_path / "precious.txt").exists()
    assert "was not made by the demo" in result.stderr and "Traceback" not in result.output


def test_the_demo_prices_roaming_wherever_the_sandbox_roams(sqlite_db: Database) -> None:
    """Every country the sandbox reports lies in the EU/EEA or in a zone each demo plan
    prices: only roaming CDRs without a country are left for `roaming_unknown`."""
    with SandboxServer() as sandbox:
        sandbox.configure_demo()
        apply_setup(sqlite_db, demo_setup(sandbox), secrets=SecretBox(SecretBox.generate_key()),
                    operator="demo")
    with sqlite_db.reader() as s:
        zones = {name: set(countries.split(",")) for name, countries
                 in s.execute(select(RoamingZone.name, RoamingZone.countries))}
        priced = {(plan, zone) for plan, zone in s.execute(
            select(RatePlan.name, RatePlanRoaming.zone).join(RatePlan, RatePlan.id == RatePlanRoaming.rate_plan_id))}
        plans = set(s.scalars(select(RatePlan.name)))
    reported = set(VISITED) - {""}
    assert reported - EU_EEA - zones["world1"] - zones["world2"] == set()
    assert {"CH", "US", "GB", "TR"} <= zones["world1"] and "JP" in zones["world2"]
    assert priced == {(plan, zone) for plan in plans for zone in ("world1", "world2")}
