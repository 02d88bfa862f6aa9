"""`expensis apply`, `export-setup` and the setup listings from the command line."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from expensis_tui.cli import main
from tests.test_setup import EXAMPLE, SECRET


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def data(tmp_path: Path) -> str:
    return str(tmp_path / "data")


@pytest.fixture
def setup_file(tmp_path: Path) -> Path:
    path = tmp_path / "setup.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    return path


def test_apply_then_apply_again(data: str, setup_file: Path, tmp_path: Path) -> None:
    code, out, err = invoke("--data-dir", data, "--operator", "alice", "apply", str(setup_file))
    assert code == 0, err
    assert "customer ACME: created" in out and "subscription +31612345678: created" in out
    assert SECRET not in out + err
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    code, out, _ = invoke("--data-dir", data, "--operator", "alice", "apply", str(setup_file))
    assert code == 0 and out.startswith("no changes")

    code, out, _ = invoke("--data-dir", data, "--operator", "alice", "apply", str(setup_file), "--json")
    report = json.loads(out)
    assert report["changed"] is False and report["counts"]["subscription"]["unchanged"] == 3


def test_dry_run_writes_nothing(data: str, setup_file: Path) -> None:
    code, out, _ = invoke("--data-dir", data, "apply", "--dry-run", str(setup_file))
    assert code == 0 and "customer ACME: created" in out and "dry run: nothing was written" in out
    code, out, _ = invoke("--data-dir", data, "customers", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_invalid_file_is_one_line_and_exit_1(data: str, setup_file: Path) -> None:
    setup_file.write_text(EXAMPLE.replace("billing_day = 1", "billing_day = 31"), encoding="utf-8")
    code, out, err = invoke("--data-dir", data, "apply", str(setup_file))
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"error: {setup_file}: customer[1] (ACME).billing_day: 31 is out of range")
    assert json.loads(invoke("--data-dir", data, "customers", "list", "--json")[1]) == []


def test_missing_file_is_a_usage_error(data: str, tmp_path: Path) -> None:
    code, _, err = invoke("--data-dir", data, "apply", str(tmp_path / "nope.toml"))
    assert code == 2 and "does not exist" in err


def test_export_to_stdout_and_file(data: str, setup_file: Path, tmp_path: Path) -> None:
    assert invoke("--data-dir", data, "apply", str(setup_file))[0] == 0
    code, out, _ = invoke("--data-dir", data, "export-setup")
    assert code == 0 and out.startswith("# Expensis setup") and SECRET not in out
    target = tmp_path / "exported.toml"
    code, _, err = invoke("--data-dir", data, "export-setup", "-o", str(target))
    assert code == 0 and target.read_text(encoding="utf-8") == out and str(target) in err

    # the export applied to a fresh installation exports the same text
    other = str(tmp_path / "other")
    assert invoke("--data-dir", other, "apply", str(target))[0] == 0
    assert invoke("--data-dir", other, "export-setup")[1] == out


def test_listings(data: str, setup_file: Path) -> None:
    assert invoke("--data-dir", data, "apply", str(setup_file))[0] == 0

    customers = json.loads(invoke("--data-dir", data, "customers", "list", "--json")[1])
    assert [(c["code"], c["partner"], c["subscriptions"]) for c in customers] == [
        ("ACME", "Telecom Partners B.V.", 2), ("BETA", None, 1)]
    code, out, _ = invoke("--data-dir", data, "customers", "list")
    assert code == 0 and out.splitlines()[0].startswith("CODE") and "Acme B.V." in out

    subs = json.loads(invoke("--data-dir", data, "subscriptions", "list", "--customer", "ACME", "--json")[1])
    assert [(s["number"], s["rate_plan"], s["start_date"]) for s in subs] == [
        ("+31612345678", "Business 100", "2025-01-01"), ("+31687654321", "Basic", None)]
    all_subs = json.loads(invoke("--data-dir", data, "subscriptions", "list", "--json")[1])
    assert len(all_subs) == 3
    code, out, _ = invoke("--data-dir", data, "subscriptions", "list")
    assert code == 0 and "+31201234567" in out
    code, _, err = invoke("--data-dir", data, "subscriptions", "list", "--customer", "NOPE")
    assert code == 4 and err == "error: no customer 'NOPE'\n"

    plans = json.loads(invoke("--data-dir", data, "rate-plans", "list", "--json")[1])
    assert [(p["name"], p["monthly_fee"], p["tariffs"], p["subscriptions"]) for p in plans] == [
        ("Basic", "5.0000", 0, 1), ("Business 100", "12.5000", 2, 1)]
    code, out, _ = invoke("--data-dir", data, "rate-plans", "list")
    assert code == 0 and "Business 100" in out and "12.5" in out

    partners = json.loads(invoke("--data-dir", data, "partners", "list", "--json")[1])
    assert partners == [{"name": "Telecom Partners B.V.", "customers": 1}]
    code, out, _ = invoke("--data-dir", data, "partners", "list")
    assert code == 0 and "Telecom Partners B.V." in out


def test_secret_key_from_the_environment(data: str, setup_file: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPENSIS_SECRET_KEY", Fernet.generate_key().decode())
    assert invoke("--data-dir", data, "apply", str(setup_file))[0] == 0
    assert not (tmp_path / "data" / "secret.key").exists()


def test_key_file_readable_by_others_is_refused(data: str, setup_file: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "secret.key"
    key_file.parent.mkdir(parents=True)
    key_file.write_bytes(Fernet.generate_key())
    key_file.chmod(0o644)
    code, _, err = invoke("--data-dir", data, "apply", str(setup_file))
    assert code == 3 and "accessible by group or others" in err and err.count("\n") == 1


@pytest.mark.parametrize("command", [
    ["apply"], ["export-setup"], ["customers", "list"], ["subscriptions", "list"],
    ["rate-plans", "list"], ["partners", "list"], ["customers"], ["subscriptions"],
    ["rate-plans"], ["partners"],
])
def test_help(command: list[str]) -> None:
    code, out, _ = invoke(*command, "--help")
    assert code == 0 and "Usage:" in out
