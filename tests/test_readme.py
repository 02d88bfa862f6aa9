"""Every README example runs as written against the demo data; the demo can be reopened."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.bus import run_until_idle
from core.config import load_settings
from core.models import AddonLog, Operator
from core.runtime import Runtime
from core.views.failures import list_failures
from expensis_tui.cli import main
from expensis_tui.demo import install_demo, os_user_name
from providers.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parent.parent
LONG_RUNNING = {(), ("daemon",), ("worker",)}  # the console, the daemon and a worker run until stopped


def readme_examples() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Everyday use\n.*?```bash\n(.*?)```", text, re.S)
    assert block is not None, "the README has no 'Everyday use' block"
    commands = [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()]
    assert all(argv[0] == "expensis" for argv in commands)
    return [argv[1:] for argv in commands]


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A demo-like data directory (the demo's setup, its sandbox running), as EXPENSIS_DATA_DIR."""
    data_dir = tmp_path / "demo"
    settings = load_settings(data_dir=data_dir, config_file=tmp_path / "none.toml", overrides={"operator": "demo"})
    runtime = Runtime(settings)
    with SandboxServer() as sandbox:
        install_demo(runtime, sandbox)
        monkeypatch.setenv("EXPENSIS_DATA_DIR", str(data_dir))
        monkeypatch.chdir(tmp_path)  # relative paths in the examples are the repository's...
        for name in ("docs",):
            (tmp_path / name).symlink_to(ROOT / name)  # ...so give the examples the repo's docs/
        yield runtime
    runtime.close()


def test_every_readme_example_runs_as_written_against_the_demo(demo: Runtime) -> None:
    ran = []
    for args in readme_examples():
        if tuple(args) in LONG_RUNNING:
            continue
        result = CliRunner().invoke(main, args)  # as the OS user: the demo made it an admin
        assert result.exit_code == 0, f"expensis {shlex.join(args)} → {result.exit_code}:\n{result.output}"
        if "--json" in args:
            json.loads(result.stdout)
        ran.append(args[0])
    assert {"sync", "totals", "addons", "export", "invoices", "cdr", "failures"} <= set(ran)
    run_until_idle(demo.bus, threads=2)
    with demo.db.reader() as s:
        addons = list(s.scalars(select(AddonLog.status)))
    assert addons and set(addons) == {"succeeded"}  # the code exists in the sandbox's catalogue
    assert list_failures(demo.db) == []


def test_the_demo_makes_the_os_user_and_demo_admins(demo: Runtime) -> None:
    with demo.db.reader() as s:
        roles = {str(u): str(r) for u, r in s.execute(select(Operator.username, Operator.role))}
    assert roles["demo"] == "admin" and roles[os_user_name()] == "admin"


def test_totals_history_has_json(demo: Runtime) -> None:
    result = CliRunner().invoke(main, ["totals", "history", "ACME", "--cycle", "2026-10", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"customer": "ACME", "cycle": "2026-10",
                                         "cycle_start_date": "2026-10-01", "versions": []}


@pytest.mark.slow
def test_the_demo_reopens_with_its_data_and_its_sandbox_on_the_same_port(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    first = CliRunner().invoke(main, ["--data-dir", str(data), "demo", "--headless", "--months", "1"])
    assert first.exit_code == 0, first.output
    port = re.search(r"sandbox providers on http://127\.0\.0\.1:(\d+)", first.stderr)
    assert port is not None
    again = CliRunner().invoke(main, ["--data-dir", str(data), "demo", "--reopen", "--headless", "--months", "1"])
    assert again.exit_code == 0, again.output
    assert f"127.0.0.1:{port.group(1)}" in again.stderr
    assert "28 completed sync task(s)" in again.stdout  # the first run's tasks were kept, and all synced


def test_reopening_without_a_demo_exits_4(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "none"), "demo", "--reopen"])
    assert result.exit_code == 4 and "run `expensis demo`" in result.stderr
