"""Click parameter types for the domain's value types: a bad value is a usage error (exit 2)."""

from __future__ import annotations

from typing import Any

import click

from core.month import Month


class MonthType(click.ParamType):
    """A month written YYYY-MM; "2026-13: there is no month 13" exits 2 like any bad option."""

    name = "YYYY-MM"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Month:
        if isinstance(value, Month):
            return value
        try:
            return Month.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


MONTH = MonthType()
