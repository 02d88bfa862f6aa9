"""`expensis demo --headless`: the README's first command, end to end."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from expensis_tui.cli import main


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
