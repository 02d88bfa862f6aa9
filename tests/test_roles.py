"""Operators and roles: checked in core, refused from the CLI with exit 5, always audited."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core.bus import Bus, default_registry
from core.db import Database, ensure_schema
from core.models import AuditLog, Message, Operator
from core.operations import discard_message, retry_message
from core.security.roles import (
    ADMIN,
    OPERATOR,
    SYSTEM,
    VIEWER,
    NotAllowed,
    RoleError,
    UnknownOperator,
    add_operator,
    allows,
    can,
    list_operators,
    remove_operator,
    require,
    role_of,
    set_role,
)
from core.security.secrets import SecretBox
from core.setup import apply_setup
from core.workflows import load_all
from core.workflows.totals import request_recalculation
from expensis_tui.cli import EXIT_NOT_ALLOWED, main
from tests.factories import make_setup
from tests.test_setup import EXAMPLE

load_all()
OCT = date(2026, 10, 1)

VIC_RECALC = r"vic is a viewer; totals recalculations need the operator role \(totals.recalculate\)"


def audit_rows(db: Database, **where: str) -> list[tuple[str, str, str, str]]:
    query = select(AuditLog.operator, AuditLog.action, AuditLog.target, AuditLog.result).order_by(AuditLog.id)
    for column, value in where.items():
        query = query.where(getattr(AuditLog, column) == value)
    with db.reader() as s:
        return [tuple(r) for r in s.execute(query).all()]  # type: ignore[misc]


def register(db: Database, **roles: str) -> None:
    """Operators straight into the table (the first add would otherwise be made admin)."""
    with db.transaction() as s:
        s.add_all(Operator(username=name, role=role) for name, role in roles.items())


# -- the rule --------------------------------------------------------------------------------

def test_the_role_ladder() -> None:
    assert allows(VIEWER, "sync.start") is False
    assert allows(OPERATOR, "sync.start") and allows(OPERATOR, "totals.recalculate")
    assert not allows(OPERATOR, "addons.activate") and not allows(OPERATOR, "setup.apply")
    assert allows(ADMIN, "operators.add") and allows(ADMIN, "messages.retry")
    with pytest.raises(ValueError, match="unknown action"):
        allows(ADMIN, "sync.strat")


def test_first_operator_becomes_admin_and_is_audited(db: Database) -> None:
    assert role_of(db, "alice") == ADMIN  # nobody registered yet: the first to act bootstraps
    with db.transaction() as s:
        assert require(s, "alice", "totals.recalculate") == ADMIN
    assert [(o.username, o.role) for o in list_operators(db)] == [("alice", ADMIN)]
    assert audit_rows(db) == [("alice", "operators.bootstrap", "alice", "ok")]
    assert role_of(db, "bob") == VIEWER and not can(db, "bob", "sync.start")  # now unknowns only look


def test_a_refused_bootstrap_action_leaves_no_admin(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as s:
        require(s, "alice", "setup.apply")
        raise RuntimeError("the action itself failed")
    assert list_operators(db) == [] and audit_rows(db) == []


def test_denied_is_audited_and_survives_the_rollback(db: Database) -> None:
    register(db, alice=ADMIN, vic=VIEWER)
    with pytest.raises(NotAllowed, match=VIC_RECALC), \
            db.transaction() as s:
        s.add(AuditLog(operator="vic", action="would-be-effect"))
        require(s, "vic", "totals.recalculate", target="ACME 2026-10")
    assert audit_rows(db) == [("vic", "totals.recalculate", "ACME 2026-10", "denied")]
    with db.reader() as s:
        assert s.scalars(select(AuditLog.detail)).one() == (
            "vic is a viewer; totals recalculations need the operator role (totals.recalculate): "
            "an admin runs `expensis operators set-role vic operator`")


def test_unknown_operators_are_viewers_and_system_is_always_allowed(db: Database) -> None:
    register(db, alice=ADMIN)
    with db.transaction() as s:
        assert require(s, SYSTEM, "operators.add") == ADMIN
    with pytest.raises(NotAllowed, match="mallory is a viewer; syncs need the operator role"), db.transaction() as s:
        require(s, "mallory", "sync.start")
    assert [o.username for o in list_operators(db)] == ["alice"]


# -- core functions check the role themselves ------------------------------------------------

def test_core_functions_refuse_viewers(db: Database) -> None:
    ids = make_setup(db)
    register(db, alice=ADMIN, olga=OPERATOR, vic=VIEWER)
    bus = Bus(db, default_registry)
    with pytest.raises(NotAllowed, match=VIC_RECALC):
        request_recalculation(bus, ids["customer"], OCT, operator="vic")
    request_recalculation(bus, ids["customer"], OCT, operator="olga")
    box = SecretBox(SecretBox.generate_key())
    with pytest.raises(NotAllowed, match=r"an operator; setup changes need the admin role \(setup.apply\)"):
        apply_setup(db, EXAMPLE, secrets=box, operator="olga")
    assert apply_setup(db, EXAMPLE, secrets=box, operator="vic", dry_run=True).changed  # a look is fine
    with db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1  # only olga's recalculation
    assert [(r[0], r[1], r[3]) for r in audit_rows(db)] == [
        ("vic", "totals.recalculate", "denied"), ("olga", "totals.recalculate", "ok"),
        ("olga", "setup.apply", "denied")]


def test_retry_and_discard_take_an_operator(db: Database) -> None:
    register(db, olga=OPERATOR, vic=VIEWER)
    bus = Bus(db, default_registry)
    ids = make_setup(db)
    message_id = request_recalculation(bus, ids["customer"], OCT, operator="olga").message_id
    with pytest.raises(NotAllowed, match=r"a viewer; message discards need the operator role \(messages.discard\)"):
        discard_message(bus, message_id, operator="vic")
    assert retry_message(bus, message_id, operator="olga") is False  # queued, not failed
    assert discard_message(bus, message_id, operator="olga") is True
    assert [(r[0], r[1], r[3]) for r in audit_rows(db)][1:] == [
        ("vic", "messages.discard", "denied"), ("olga", "messages.retry", "no change"),
        ("olga", "messages.discard", "ok")]


# -- managing operators ----------------------------------------------------------------------

def test_first_added_operator_is_admin_whatever_was_asked(db: Database) -> None:
    added = add_operator(db, "alice", VIEWER, operator="root")
    assert (added.role, added.requested_role, added.bootstrapped) == (ADMIN, VIEWER, True)
    assert role_of(db, "root") == VIEWER  # the person typing is not bootstrapped as well
    second = add_operator(db, "bob", OPERATOR, operator="alice")
    assert (second.role, second.bootstrapped) == (OPERATOR, False)
    with pytest.raises(NotAllowed, match=r"bob is an operator; new operators need the admin role \(operators.add\): "
                                         r"an admin runs `expensis operators set-role bob admin`"):
        add_operator(db, "carol", ADMIN, operator="bob")
    with pytest.raises(RoleError, match="already exists"):
        add_operator(db, "bob", ADMIN, operator="alice")
    with pytest.raises(RoleError, match="reserved"):
        add_operator(db, SYSTEM, ADMIN, operator="alice")
    with pytest.raises(RoleError, match="unknown role"):
        add_operator(db, "dave", "superuser", operator="alice")


def test_the_last_admin_can_be_neither_removed_nor_demoted(db: Database) -> None:
    register(db, alice=ADMIN, bob=OPERATOR)
    with pytest.raises(RoleError, match="last admin"):
        remove_operator(db, "alice", operator="alice")
    with pytest.raises(RoleError, match="last admin"):
        set_role(db, "alice", OPERATOR, operator="alice")
    assert set_role(db, "bob", ADMIN, operator="alice") == OPERATOR
    assert set_role(db, "alice", VIEWER, operator="bob") == ADMIN  # now there is another admin
    remove_operator(db, "alice", operator="bob")
    with pytest.raises(UnknownOperator):
        remove_operator(db, "alice", operator="bob")
    assert [(o.username, o.role) for o in list_operators(db)] == [("bob", ADMIN)]
    assert [(r[1], r[3]) for r in audit_rows(db)] == [
        ("operators.remove", "refused"), ("operators.set_role", "refused"),
        ("operators.set_role", "ok"), ("operators.set_role", "ok"), ("operators.remove", "ok")]


# -- from the command line -------------------------------------------------------------------

def cli(data: Path, operator: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data), "--operator", operator, *args],
                                catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    database = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(database)
    make_setup(database)
    database.dispose()
    return data


def open_db(data: Path) -> Database:
    return Database(f"sqlite:///{data / 'expensis.sqlite3'}")


def test_cli_refuses_with_exit_5_and_audits(data: Path) -> None:
    code, out, _ = cli(data, "root", "operators", "add", "alice", "--role", "operator")
    assert code == 0 and "added as admin" in out and "asked for operator" in out
    code, out, err = cli(data, "alice", "operators", "add", "vic")
    assert code == 0 and "vic added as viewer" in out

    code, out, err = cli(data, "vic", "totals", "recalc", "ACME", "--cycle", "2026-10")
    assert code == EXIT_NOT_ALLOWED
    assert ("error: vic is a viewer; totals recalculations need the operator role (totals.recalculate): "
            "an admin runs `expensis operators set-role vic operator`") in err
    code, _, err = cli(data, "vic", "operators", "set-role", "vic", "admin")
    assert code == EXIT_NOT_ALLOWED and "vic is a viewer; role changes need the admin role (operators.set_role)" in err
    code, _, err = cli(data, "vic", "messages", "retry", "--all-failed")
    assert code == EXIT_NOT_ALLOWED and "messages.retry" in err

    code, _, err = cli(data, "alice", "operators", "remove", "alice")
    assert code == 1 and "last admin" in err
    code, out, _ = cli(data, "alice", "operators", "list", "--json")
    assert code == 0 and '"role": "admin"' in out and '"username": "vic"' in out

    database = open_db(data)
    try:
        assert audit_rows(database, result="denied") == [
            ("vic", "totals.recalculate", "ACME 2026-10", "denied"),
            ("vic", "operators.set_role", "vic", "denied"),
            ("vic", "messages.retry", "all failed messages", "denied")]
    finally:
        database.dispose()


def test_two_first_operators_at_once_make_one_admin(db: Database) -> None:
    """Alice bootstraps and holds her transaction open; Bob acts meanwhile and must wait."""
    import threading
    import time

    outcome: dict[str, str] = {}
    alice_in = threading.Event()

    def alice() -> None:
        with db.transaction() as session:
            outcome["alice"] = require(session, "alice", "sync.start")
            alice_in.set()
            time.sleep(1.0)  # Bob checks while this insert is still uncommitted

    def bob() -> None:
        alice_in.wait(10)
        try:
            with db.transaction() as session:
                outcome["bob"] = require(session, "bob", "sync.start")
        except NotAllowed:
            outcome["bob"] = "refused"

    threads = [threading.Thread(target=alice), threading.Thread(target=bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcome == {"alice": ADMIN, "bob": "refused"}
    assert role_of(db, "alice") == ADMIN and role_of(db, "bob") == VIEWER
