"""Bill-shock caps: data roaming outside the EU/EEA per subscription per cycle (issue 17.4).

EU rules set a default cap of €50 a cycle with a warning at 80 %; Dutch operators warn
at 80 % and 100 %. Usage beyond the cap is still rated (the provider enforces the
block) and flagged. A cap of 0 means the customer opted out: no cap, no notices.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["CAP_LEVELS", "DEFAULT_CAP", "CapStatus", "cap_status"]

CAP_LEVELS: tuple[int, ...] = (80, 100)  # percent of the cap
DEFAULT_CAP = Decimal("50")
_ZERO = Decimal("0")


@dataclass(frozen=True)
class CapStatus:
    """Where one subscription stands against its cap in one cycle."""

    spent: Decimal  # rated data roaming outside the EU/EEA so far
    cap: Decimal
    levels: tuple[int, ...]  # the CAP_LEVELS reached, ascending

    @property
    def percent(self) -> Decimal:
        return (self.spent * 100 / self.cap).quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def beyond(self) -> Decimal:
        """What was rated beyond the cap (still billed, flagged)."""
        return max(_ZERO, self.spent - self.cap)


def cap_status(spent: Decimal, cap: Decimal) -> CapStatus | None:
    """The levels ``spent`` reached of ``cap``; None when none is reached or there is no cap."""
    if cap <= 0:
        return None
    levels = tuple(level for level in CAP_LEVELS if spent * 100 >= cap * level)
    return CapStatus(spent, cap, levels) if levels else None
