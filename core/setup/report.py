"""What an apply did (or, on a dry run, would do): counts per kind and one line per change."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal

KINDS = ("partner", "rate_plan", "tariff", "customer", "subscription", "sync_profile")


@dataclass
class KindCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0


def _counts() -> dict[str, KindCounts]:
    return {kind: KindCounts() for kind in KINDS}


@dataclass
class ApplyReport:
    dry_run: bool = False
    counts: dict[str, KindCounts] = field(default_factory=_counts)
    changes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(c.created or c.updated or c.removed for c in self.counts.values())

    def _kind(self, kind: str) -> KindCounts:
        """Counts of ``kind``; kinds outside KINDS (dated prices) appear once they occur."""
        return self.counts.setdefault(kind, KindCounts())

    def created(self, kind: str, label: str) -> None:
        self._kind(kind).created += 1
        self.changes.append(f"{label}: created")

    def removed(self, kind: str, label: str) -> None:
        self._kind(kind).removed += 1
        self.changes.append(f"{label}: removed")

    def compared(self, kind: str, label: str, changes: list[str]) -> None:
        """Record an existing row: updated when `changes` lists anything, else unchanged."""
        if changes:
            self._kind(kind).updated += 1
            self.changes.extend(f"{label}: {change}" for change in changes)
        else:
            self._kind(kind).unchanged += 1

    def summary(self) -> str:
        """One line: "customer 1 updated, 2 unchanged; subscription 3 unchanged"."""
        parts = []
        for kind, c in self.counts.items():
            numbers = [f"{n} {what}" for what, n in asdict(c).items() if n]
            if numbers:
                parts.append(f"{kind} {', '.join(numbers)}")
        return "; ".join(parts) or "empty setup"

    def as_dict(self) -> dict[str, object]:
        return {"dry_run": self.dry_run, "changed": self.changed,
                "counts": {kind: asdict(c) for kind, c in self.counts.items()},
                "changes": list(self.changes)}

    def render(self) -> str:
        """The report for a terminal: the changes, then the counts."""
        lines = list(self.changes) or ["no changes"]
        lines.append("")
        lines.append(f"{'KIND':<14}{'CREATED':>8}{'UPDATED':>9}{'UNCHANGED':>11}{'REMOVED':>9}")
        for kind, c in self.counts.items():
            lines.append(f"{kind:<14}{c.created:>8}{c.updated:>9}{c.unchanged:>11}{c.removed:>9}")
        if self.dry_run:
            lines.append("dry run: nothing was written")
        return "\n".join(lines)


def show(value: object) -> str:
    """A value in a change line: amounts without trailing zeros, text quoted, none as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return repr(value)
    return str(value)


def plain_decimal(value: Decimal) -> str:
    """Exact, positional, no trailing zeros, at least one decimal: 12.5000 → "12.5", 100 → "100.0"."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"
