"""Commands, the handler registry, and the JSON form a command takes in the message table."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin, get_type_hints

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.bus.context import HandlerContext


class RegistryError(Exception):
    """A command without a handler, or two handlers for one command: a start-up error."""


class PayloadError(Exception):
    """A stored payload that no longer fits its command's dataclass."""

    transient = False


class UnknownCommand(Exception):
    transient = False


@dataclasses.dataclass(frozen=True)
class Command:
    """A frozen dataclass of JSON-serialisable fields; subclasses register themselves."""

    def __init_subclass__(cls, registry: Registry | None = None, abstract: bool = False,
                          **kwargs: Any) -> None:
        """Register the command; `abstract=True` marks a shared base that is never sent."""
        super().__init_subclass__(**kwargs)
        if not abstract:
            (registry or default_registry).add_command(cls)

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__

    def report(self, session: Session, workflow_id: str) -> WorkflowReport | None:
        """What the domain says about the workflow this command started, beyond its messages.

        None: the messages say it all. A sync task that gave up but let the chain go on
        ("totals anyway") reports itself failed here, so following it ends in `failed`.
        """
        return None


@dataclasses.dataclass(frozen=True)
class WorkflowReport:
    """A workflow's own word on how it went: failed (with the step and error), and a progress note."""

    failed: bool = False
    failed_step: str | None = None
    error: str | None = None
    note: str | None = None


C = TypeVar("C", bound=Command)
Handler = Callable[[Any, "HandlerContext"], None]


class Registry:
    def __init__(self) -> None:
        self.commands: dict[str, type[Command]] = {}
        self.handlers: dict[type[Command], Handler] = {}

    def add_command(self, cls: type[Command]) -> None:
        name = cls.type_name()
        known = self.commands.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise RegistryError(f"two commands are named {name}: {known.__module__} and {cls.__module__}")
        self.commands[name] = cls

    def handles(self, command_type: type[C]) -> Callable[[Callable[[C, HandlerContext], None]], Callable[[C, HandlerContext], None]]:
        def register(fn: Callable[[C, HandlerContext], None]) -> Callable[[C, HandlerContext], None]:
            existing = self.handlers.get(command_type)
            if existing is not None and existing.__qualname__ != fn.__qualname__:
                raise RegistryError(
                    f"{command_type.type_name()} has two handlers: "
                    f"{existing.__module__}.{existing.__qualname__} and {fn.__module__}.{fn.__qualname__}"
                )
            self.handlers[command_type] = fn
            return fn

        return register

    def check(self) -> None:
        missing = sorted(n for n, c in self.commands.items() if c not in self.handlers)
        if missing:
            raise RegistryError(f"commands without a handler: {', '.join(missing)}")

    def handler_for(self, command: Command) -> Handler:
        try:
            return self.handlers[type(command)]
        except KeyError:
            raise UnknownCommand(f"no handler for {command.type_name()}") from None

    def resolve(self, name: str) -> type[Command]:
        try:
            return self.commands[name]
        except KeyError:
            raise UnknownCommand(
                f"unknown command type {name!r}: no such command in this version of expensis"
            ) from None

    # -- payloads -------------------------------------------------------------------------

    def encode(self, command: Command) -> dict[str, Any]:
        return {f.name: _encode(getattr(command, f.name)) for f in dataclasses.fields(command)}

    def decode(self, name: str, payload: str | dict[str, Any]) -> Command:
        cls = self.resolve(name)
        try:
            data = json.loads(payload) if isinstance(payload, str) else payload
            if not isinstance(data, dict):
                raise TypeError("payload is not an object")
            hints = _hints(cls)
            field_names = {f.name for f in dataclasses.fields(cls)}
            extra = set(data) - field_names
            if extra:
                raise TypeError(f"unexpected field(s) {', '.join(sorted(extra))}")
            kwargs = {k: _decode(hints[k], v) for k, v in data.items()}
            return cls(**kwargs)
        except (TypeError, ValueError, ArithmeticError, KeyError) as exc:
            raise PayloadError(f"payload of {name} no longer fits the command: {exc}") from exc


default_registry = Registry()
handles = default_registry.handles

_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    return value


def _decode(hint: Any, value: Any) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in get_args(hint) if a is not type(None)]
        return _decode(options[0], value)
    if origin in (tuple, list):
        args = get_args(hint)
        item = args[0] if args else Any
        seq = [_decode(item, v) for v in value]
        return tuple(seq) if origin is tuple else seq
    if origin is dict:
        _, vt = get_args(hint) or (Any, Any)
        return {k: _decode(vt, v) for k, v in value.items()}
    if hint is Any or hint is typing.Any:
        return value
    if hint is Decimal:
        return Decimal(str(value))
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected a boolean, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise TypeError(f"expected text, got {value!r}")
        return value
    if hint is float:
        return float(value)
    return value
