"""Operators and roles: who may do what, checked in core and written to the audit log.

Roles rank viewer < operator < admin; `ACTIONS` maps each state-changing action to
the least role that may perform it. Every state-changing core function calls
`require` itself, so the CLI, the console and the bus are held to the same rule.

Bootstrap, so a fresh install is usable: while the operator table is empty, the
first operator who performs a state-changing action is made admin (audited as
`operators.bootstrap`). Once anyone is registered, unknown operators are viewers.
The operator `system` (scheduler and daemon jobs) is always allowed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.db import Database
from core.models import Operator
from core.security import audit

VIEWER: Final = "viewer"
OPERATOR: Final = "operator"
ADMIN: Final = "admin"
ROLES: Final = (VIEWER, OPERATOR, ADMIN)
SYSTEM: Final = "system"  # scheduler and daemon jobs act as this operator
_RANK: Final = {role: rank for rank, role in enumerate(ROLES)}

class Action(StrEnum):
    """Every state-changing action: the one name its role check and its audit line use."""

    SYNC_START = "sync.start"
    SYNC_MANAGER = "sync.manager"
    CDR_IMPORT = "cdr.import"
    TOTALS_RECALCULATE = "totals.recalculate"
    TOTALS_PARTNER_RECALCULATE = "totals.partner_recalculate"
    MESSAGES_RETRY = "messages.retry"
    MESSAGES_DISCARD = "messages.discard"
    MESSAGES_PAUSE = "messages.pause"  # pause a command type (or all dispatching)
    MESSAGES_RESUME = "messages.resume"
    FAILURES_RETRY = "failures.retry"
    EXPORT_CREATE = "export.create"
    INVOICES_RUN = "invoices.run"
    INVOICES_BATCH = "invoices.batch"
    INVOICE_SEND = "invoice.send"
    INVOICE_CREDIT = "invoice.credit"
    INVOICE_FORCE = "invoice.force"  # invoice a cycle held as incomplete
    INVOICE_RELEASE = "invoice.release"  # issue an invoice held for review
    INVOICE_DROP = "invoice.drop"  # drop an invoice held for review
    INVOICE_CORRECT = "invoice.correct"  # credit note + new invoice for a pending correction
    CREDIT_APPLY = "credit.apply"  # audited only: customer credit paying a new invoice
    INVOICE_CARRY = "invoice.carry"  # audited only: a pending correction carried on the next invoice
    CREDIT_REFUND = "credit.refund"
    PAYMENTS_IMPORT = "payments.import"
    PAYMENTS_MATCH = "payments.match"
    PAYMENTS_COLLECT = "payments.collect"  # a SEPA direct-debit batch (pain.008)
    PAYMENTS_REMIND = "payments.remind"  # send today's payment reminders by hand
    BALANCES_UPDATE = "balances.update"
    ADDONS_REFRESH = "addons.refresh"
    ADDONS_ACTIVATE = "addons.activate"
    ADDONS_CANCEL = "addons.cancel"
    SETUP_APPLY = "setup.apply"
    PROFILE_CREDENTIALS = "profile.credentials"
    PROFILE_SCHEDULE = "profile.schedule"
    PROFILE_ACTIVATE = "profile.activate"
    PROFILE_DEACTIVATE = "profile.deactivate"
    OPERATORS_ADD = "operators.add"
    OPERATORS_SET_ROLE = "operators.set_role"
    OPERATORS_REMOVE = "operators.remove"
    OPERATORS_ACT_AS = "operators.act_as"  # --operator naming someone other than the OS user
    OPERATORS_BOOTSTRAP = "operators.bootstrap"  # audited only: the first operator made admin
    DB_UPGRADE = "db.upgrade"


# action → (least role, what it is called in a refusal)
_TABLE: Final[Mapping[Action, tuple[str, str]]] = {
    Action.SYNC_START: (OPERATOR, "syncs"),
    Action.SYNC_MANAGER: (OPERATOR, "sync-manager runs"),
    Action.CDR_IMPORT: (OPERATOR, "CDR imports"),
    Action.TOTALS_RECALCULATE: (OPERATOR, "totals recalculations"),
    Action.TOTALS_PARTNER_RECALCULATE: (OPERATOR, "partner recalculations"),
    Action.MESSAGES_RETRY: (OPERATOR, "message retries"),
    Action.MESSAGES_DISCARD: (OPERATOR, "message discards"),
    Action.MESSAGES_PAUSE: (OPERATOR, "pausing command types"),
    Action.MESSAGES_RESUME: (OPERATOR, "resuming command types"),
    Action.FAILURES_RETRY: (OPERATOR, "failure retries"),
    Action.EXPORT_CREATE: (OPERATOR, "exports"),
    Action.INVOICES_RUN: (OPERATOR, "invoice runs"),
    Action.INVOICES_BATCH: (OPERATOR, "batch invoicing"),
    Action.INVOICE_SEND: (OPERATOR, "invoice mails"),
    Action.INVOICE_CREDIT: (OPERATOR, "credit notes"),
    Action.INVOICE_FORCE: (OPERATOR, "forced invoice runs"),
    Action.INVOICE_RELEASE: (OPERATOR, "releasing held invoices"),
    Action.INVOICE_DROP: (OPERATOR, "dropping held invoices"),
    Action.INVOICE_CORRECT: (OPERATOR, "invoice corrections"),
    Action.CREDIT_APPLY: (OPERATOR, "applying customer credit"),
    Action.INVOICE_CARRY: (OPERATOR, "carrying corrections to the next invoice"),
    Action.CREDIT_REFUND: (OPERATOR, "credit refunds"),
    Action.PAYMENTS_IMPORT: (OPERATOR, "payment imports"),
    Action.PAYMENTS_MATCH: (OPERATOR, "payment matches"),
    Action.PAYMENTS_COLLECT: (OPERATOR, "direct-debit collections"),
    Action.PAYMENTS_REMIND: (OPERATOR, "payment reminders"),
    Action.BALANCES_UPDATE: (OPERATOR, "balance updates"),
    Action.ADDONS_REFRESH: (OPERATOR, "add-on catalogue refreshes"),
    Action.ADDONS_ACTIVATE: (ADMIN, "add-on activations"),
    Action.ADDONS_CANCEL: (ADMIN, "add-on cancellations"),
    Action.SETUP_APPLY: (ADMIN, "setup changes"),
    Action.PROFILE_CREDENTIALS: (ADMIN, "profile credentials"),
    Action.PROFILE_SCHEDULE: (ADMIN, "profile schedules"),
    Action.PROFILE_ACTIVATE: (ADMIN, "profile activations"),
    Action.PROFILE_DEACTIVATE: (ADMIN, "profile deactivations"),
    Action.OPERATORS_ADD: (ADMIN, "new operators"),
    Action.OPERATORS_SET_ROLE: (ADMIN, "role changes"),
    Action.OPERATORS_REMOVE: (ADMIN, "operator removals"),
    Action.OPERATORS_ACT_AS: (ADMIN, "acting as another operator"),
    Action.OPERATORS_BOOTSTRAP: (ADMIN, "first-operator registration"),
    Action.DB_UPGRADE: (ADMIN, "schema upgrades"),
}

ACTIONS: Final[Mapping[str, str]] = {action.value: role for action, (role, _) in _TABLE.items()}


def grant_command(operator: str, role: str, *, registered: bool) -> str:
    """The command an admin runs to give `operator` the role `role`."""
    if registered:
        return f"expensis operators set-role {operator} {role}"
    return f"expensis operators add {operator} --role {role}"


class NotAllowed(PermissionError):
    """The operator's role does not allow the action (permanent: the bus does not retry)."""

    transient = False

    def __init__(self, operator: str, role: str, action: str, *, registered: bool = True) -> None:
        needed = minimum_role(action)
        what = _TABLE[Action(action)][1]
        verb = "is" if what.startswith("acting") else "need"
        article = "an" if role[0] in "aeiou" else "a"
        super().__init__(f"{operator} is {article} {role}; {what} {verb} the {needed} role ({action}): "
                         f"an admin runs `{grant_command(operator, needed, registered=registered)}`")
        self.operator = operator
        self.role = role
        self.action = action


class RoleError(ValueError):
    """An operator change that cannot be made (unknown role, the last admin, a reserved name)."""

    transient = False


class UnknownOperator(LookupError):
    """No registered operator has that name."""


@dataclass(frozen=True)
class OperatorRow:
    username: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class OperatorAdded:
    username: str
    role: str
    requested_role: str
    bootstrapped: bool  # the first operator: made admin whatever role was asked


# -- checks ----------------------------------------------------------------------------------

def minimum_role(action: str) -> str:
    try:
        return ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}: add it to core.security.roles.ACTIONS") from None


def allows(role: str, action: str) -> bool:
    """Whether `role` may perform `action` (pure: no database)."""
    return _RANK[role] >= _RANK[minimum_role(action)]


def _stored_role(session: Session, username: str) -> str | None:
    return session.scalars(select(Operator.role).where(Operator.username == username)).first()


def _no_operators(session: Session) -> bool:
    return session.scalars(select(Operator.id).limit(1)).first() is None


@contextmanager
def _first_operator(session: Session) -> Iterator[bool]:
    """Whether the operator table is empty, decided so that only one caller sees it so.

    The caller registers the first operator inside the block. SQLite writers are
    serialised by BEGIN IMMEDIATE already. MariaDB (READ COMMITTED) would let two
    first operators both read an empty table and both become admin: a named lock
    orders them, and a locking read makes the second wait for the first's insert
    to commit (or roll back) before it decides.
    """
    if not _no_operators(session):
        yield False
        return
    if session.get_bind().dialect.name == "sqlite":  # the named lock is MySQL/MariaDB's
        yield True
        return
    conn = session.connection()
    if conn.exec_driver_sql(f"SELECT GET_LOCK({_BOOTSTRAP_LOCK}, 30)").scalar() != 1:
        raise RoleError("another operator is being registered as the first; try again")
    try:
        yield session.scalars(select(Operator.id).limit(1).with_for_update()).first() is None
        session.flush()  # our insert holds its row lock from here until we commit
    finally:
        try:
            conn.exec_driver_sql(f"DO RELEASE_LOCK({_BOOTSTRAP_LOCK})")
        except Exception:  # a failed transaction: drop the connection, and its lock with it
            conn.invalidate()


_BOOTSTRAP_LOCK = "CONCAT('expensis.first-operator.', DATABASE())"


def _effective_role(session: Session, username: str) -> str:
    if username == SYSTEM:
        return ADMIN
    role = _stored_role(session, username)
    if role is not None:
        return role
    return ADMIN if username.strip() and _no_operators(session) else VIEWER


def role_of(where: Database | Session, username: str) -> str:
    """The role checks will give `username` now (admin while nobody is registered)."""
    if isinstance(where, Session):
        return _effective_role(where, username)
    with where.reader() as session:
        return _effective_role(session, username)


def can(where: Database | Session, username: str, action: str) -> bool:
    """A check without side effects, for greying out what the operator may not do."""
    return allows(role_of(where, username), action)


def require(session: Session, operator: str, action: str, *, target: str = "") -> str:
    """Check `operator` may perform `action` in `session`'s transaction; returns the role.

    On an empty operator table the operator is registered as admin (bootstrap) in this
    transaction. When refused, the caller's transaction is rolled back (it would be
    anyway), a `denied` audit row is committed on its own, and NotAllowed is raised.
    """
    needed = minimum_role(action)
    if operator == SYSTEM:
        return ADMIN
    role = _stored_role(session, operator)
    if role is None and operator.strip():
        with _first_operator(session) as first:
            if first:
                _bootstrap(session, operator)
                return ADMIN
    registered, role = role is not None, role or VIEWER
    if _RANK[role] >= _RANK[needed]:
        return role
    denied = NotAllowed(operator, role, action, registered=registered)
    session.rollback()
    _record_alone(_engine_of(session), operator=operator, action=action, target=target,
                  result="denied", detail=str(denied))
    raise denied


def record_denial(db: Database, operator: str, action: str, *, target: str = "") -> NotAllowed:
    """A refusal decided before asking core (the console's early answer), audited like core's."""
    with db.reader() as session:
        stored = _stored_role(session, operator)
        role = _effective_role(session, operator)
    denied = NotAllowed(operator, role, action, registered=stored is not None)
    _record_alone(db.engine, operator=operator, action=action, target=target, result="denied",
                  detail=str(denied))
    return denied


def acting_operator(db: Database, requested: str, os_user: str, *, allow_override: bool) -> str:
    """Who this process acts as: `requested` (--operator) only when it is the OS user, the
    OS user is an admin, or the `allow_operator_override` setting is on; else refused (audited)."""
    if not requested or requested == os_user:
        return os_user
    if allow_override or role_of(db, os_user) == ADMIN:
        return requested
    raise record_denial(db, os_user, Action.OPERATORS_ACT_AS, target=requested)


def authorize(db: Database, operator: str, action: str, *, target: str = "") -> str:
    """`require` in a short transaction of its own, for actions spread over several."""
    with db.transaction() as session:
        return require(session, operator, action, target=target)


def _bootstrap(session: Session, username: str) -> None:
    session.add(Operator(username=username, role=ADMIN))
    session.flush()
    audit.record(session, operator=username, action=Action.OPERATORS_BOOTSTRAP, target=username,
                 detail="first operator on this database: made admin")


def _engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _record_alone(engine: Engine, **row: str) -> None:
    """An audit row in its own transaction, so it outlives the caller's rollback."""
    with Session(engine) as session, session.begin():
        audit.record(session, **row)


# -- managing operators ---------------------------------------------------------------------

def _check_role(role: str) -> str:
    if role not in _RANK:
        raise RoleError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def _check_name(username: str) -> str:
    name = username.strip()
    if not name:
        raise RoleError("an operator needs a name")
    if name == SYSTEM:
        raise RoleError(f"{SYSTEM!r} is reserved for scheduler and daemon jobs")
    if len(name) > 64:
        raise RoleError("an operator name has at most 64 characters")
    return name


def _refused(db: Database, operator: str, action: str, target: str, error: RoleError) -> RoleError:
    _record_alone(db.engine, operator=operator, action=action, target=target, result="refused",
                  detail=str(error))
    return error


def add_operator(db: Database, username: str, role: str = VIEWER, *, operator: str) -> OperatorAdded:
    """Register an operator. On an empty table the first one is made admin, whatever was asked."""
    name, requested = _check_name(username), _check_role(role)
    with db.transaction() as session, _first_operator(session) as first:
        if not first:
            require(session, operator, Action.OPERATORS_ADD, target=name)
            if _stored_role(session, name) is not None:
                raise RoleError(f"operator {name} already exists (use set-role to change the role)")
        granted = ADMIN if first else requested
        session.add(Operator(username=name, role=granted))
        detail = (f"first operator: made admin (asked for {requested})"
                  if first and granted != requested else f"role {granted}")
        audit.record(session, operator=operator, action=Action.OPERATORS_ADD, target=name, detail=detail)
    return OperatorAdded(name, granted, requested, first)


def _admins_locked(session: Session) -> int:
    """The number of admins, their rows locked (MySQL) so two demotions cannot cross."""
    ids = session.scalars(select(Operator.id).where(Operator.role == ADMIN).with_for_update()).all()
    return len(ids)


def _operator_locked(session: Session, username: str) -> Operator:
    """The operator's row, locked for the change; UnknownOperator when there is none."""
    row = session.scalars(select(Operator).where(Operator.username == username).with_for_update()).first()
    if row is None:
        raise UnknownOperator(f"no operator named {username!r}")
    return row


def set_role(db: Database, username: str, role: str, *, operator: str) -> str:
    """Change an operator's role; returns the previous one. The last admin keeps the role."""
    new_role = _check_role(role)
    try:
        with db.transaction() as session:
            require(session, operator, Action.OPERATORS_SET_ROLE, target=username)
            row = _operator_locked(session, username)
            previous = row.role
            if previous == ADMIN and new_role != ADMIN and _admins_locked(session) <= 1:
                raise RoleError(f"{username} is the last admin: make another operator admin first")
            row.role = new_role
            audit.record(session, operator=operator, action=Action.OPERATORS_SET_ROLE, target=username,
                         detail=f"{previous} → {new_role}")
    except RoleError as exc:
        raise _refused(db, operator, Action.OPERATORS_SET_ROLE, username, exc) from None
    return previous


def remove_operator(db: Database, username: str, *, operator: str) -> None:
    """Remove an operator (they become a viewer); the last admin cannot be removed."""
    try:
        with db.transaction() as session:
            require(session, operator, Action.OPERATORS_REMOVE, target=username)
            row = _operator_locked(session, username)
            if row.role == ADMIN and _admins_locked(session) <= 1:
                raise RoleError(f"{username} is the last admin and cannot be removed")
            session.delete(row)
            audit.record(session, operator=operator, action=Action.OPERATORS_REMOVE, target=username,
                         detail=f"was {row.role}")
    except RoleError as exc:
        raise _refused(db, operator, Action.OPERATORS_REMOVE, username, exc) from None


def list_operators(db: Database) -> list[OperatorRow]:
    with db.reader() as session:
        rows = session.execute(select(Operator.username, Operator.role, Operator.created_at)
                               .order_by(Operator.username)).all()
    return [OperatorRow(*row) for row in rows]


def operator_count(db: Database) -> int:
    with db.reader() as session:
        return int(session.scalar(select(func.count()).select_from(Operator)) or 0)
