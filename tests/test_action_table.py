"""One action table: every role check and every audit line name an `Action`, the console asks for
the action core checks, and each command is audited under the action it is checked for."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import click
import pytest
from sqlalchemy import select

from core.models import AuditLog, Partner
from core.operations import discard_message, retry_message
from core.runtime import Runtime
from core.security.roles import ACTIONS, Action, NotAllowed
from core.workflows.invoicing import invoice_run
from core.workflows.totals import request_partner_recalculation, request_recalculation
from expensis_tui.cli import main
from expensis_tui.screens.base import ConsoleScreen
from tests.test_access import state_changing

ROOT = Path(__file__).resolve().parent.parent
READ_ONLY = {"messages list", "messages show", "messages overview", "db status", "cdr quarantine", "totals show", "totals history",
             "totals partner", "insights show", "export-setup", "customers list", "subscriptions list",
             "rate-plans list", "partners list", "sync profiles", "sync tasks", "schedule", "status",
             "export jobs", "invoices list", "invoices show", "invoices review", "invoices corrections", "invoices batch-pdf", "payments list",
             "balances list", "revenues export", "operators list", "audit list", "addons backlog", "addons log",
             "failures list", "failures show"}
# Run the queue or a throwaway install: what they execute was checked when it was requested,
# and what they start themselves runs as `system` (scheduler jobs).
RUNNERS = {"work", "worker", "daemon", "demo", "sandbox serve"}
CHECKED_ELSEWHERE = {"db upgrade"}  # tests/test_access.py::test_db_upgrade_is_for_admins_and_audited


def command_paths(cmd: click.Command, path: tuple[str, ...] = ()) -> set[str]:
    if isinstance(cmd, click.Group):
        return set().union(*(command_paths(c, (*path, n)) for n, c in cmd.commands.items()))
    return {" ".join(path)}


def test_every_cli_command_is_read_only_or_walked_as_a_viewer(tmp_path: Path) -> None:
    walked = set()
    for args, action in state_changing(tmp_path):
        assert action.value in ACTIONS
        words = [a for a in args if not a.startswith(("-", "/", "+")) and not a[:1].isdigit()]
        walked.add(" ".join(words[:2]) if " ".join(words[:2]) in command_paths(main) else words[0])
    unclassified = command_paths(main) - walked - READ_ONLY - RUNNERS - CHECKED_ELSEWHERE
    assert not unclassified, f"classify these commands (state-changing ones need an Action): {unclassified}"


# -- the source: no action is a string of its own ----------------------------------------------

CHECKS = {"require": 2, "authorize": 2, "record_denial": 2, "permitted": 0, "refuse": 0}


def action_arguments(tree: ast.AST) -> list[tuple[int, ast.expr]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name == "record" and isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") == "audit":
            found += [(node.lineno, k.value) for k in node.keywords if k.arg == "action"]
        elif name in CHECKS:
            on_screen = isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") == "self"
            position = 0 if on_screen else CHECKS[name]  # GuardedScreen.require(action, target)
            if len(node.args) > position:
                found.append((node.lineno, node.args[position]))
    return found


def test_every_check_and_audit_line_names_an_action_constant() -> None:
    strings = []
    for package in ("core", "expensis_tui", "scheduler"):
        for path in (ROOT / package).rglob("*.py"):
            for line, arg in action_arguments(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(arg, (ast.Constant, ast.JoinedStr)):
                    strings.append(f"{path.relative_to(ROOT)}:{line}")
    assert not strings, f"use core.security.roles.Action, not a string: {strings}"


# -- the console asks for what core checks ------------------------------------------------------

def screens() -> list[type[ConsoleScreen]]:
    from expensis_tui.app import screen_classes

    return list(screen_classes().values())


def test_every_console_role_action_is_a_screen_action_and_in_the_table() -> None:
    declared = 0
    for screen in screens():
        for screen_action, role_action in screen.ROLE_ACTIONS.items():
            assert hasattr(screen, f"action_{screen_action}"), (screen.__name__, screen_action)
            assert isinstance(role_action, Action) and role_action.value in ACTIONS
            declared += 1
    assert declared >= 14


def refused_action(call: object) -> str:
    with pytest.raises(NotAllowed) as refused:
        call()  # type: ignore[operator]
    return refused.value.action


def test_console_and_core_agree_and_each_is_audited_under_what_it_checks(rt: Runtime) -> None:
    from expensis_tui.screens.invoices import InvoicesScreen
    from expensis_tui.screens.tasks import TasksScreen
    from expensis_tui.screens.totals import TotalsScreen

    bus = rt.bus
    with rt.db.reader() as s:
        partner_id = s.scalars(select(Partner.id)).first()
    assert partner_id is not None
    # the partner recalculation screen checked `totals.recalculate`; core requires the partner action
    assert refused_action(lambda: request_partner_recalculation(bus, partner_id, ["2026-10"], operator="vera")) \
        == TotalsScreen.ROLE_ACTIONS["partner"]
    assert refused_action(lambda: request_recalculation(bus, 1, date(2026, 10, 1), operator="vera")) \
        == TotalsScreen.ROLE_ACTIONS["recalculate"]
    # the tasks screen checked `task.retry`; core.operations requires `messages.retry`
    assert refused_action(lambda: retry_message(bus, 1, operator="vera")) == TasksScreen.ROLE_ACTIONS["retry"]
    assert refused_action(lambda: discard_message(bus, 1, operator="vera")) == TasksScreen.ROLE_ACTIONS["discard"]
    # the invoice run checked `invoice.run` and audited `invoices.run`
    assert refused_action(lambda: invoice_run(bus, "2026-10", operator="vera")) \
        == InvoicesScreen.ROLE_ACTIONS["run"]
    invoice_run(bus, "2026-10", operator="bob")
    with rt.db.reader() as s:
        done = s.execute(select(AuditLog.action, AuditLog.result).where(AuditLog.operator == "bob")).all()
        assert ("invoices.run", "ok") in done
        assert s.scalars(select(AuditLog.action).where(AuditLog.result == "denied", AuditLog.operator == "vera")
                         ).all()[-1] == "invoices.run"
