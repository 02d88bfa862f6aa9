"""`python -m expensis_tui.screenshots [DIR]`: an SVG of every screen, from the showcase data.

The snapshot tests (tests/test_tui_snapshots.py) drive the same SHOTS with the same data
and the same frozen clock, so the README's pictures are the tested ones.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from expensis_tui.app import ExpensisApp
from expensis_tui.showcase import frozen_clock, settle, showcase_runtime

SIZE = (80, 24)
CHOOSE_ACME = ("4", "g", *"ACME", "enter", "enter")

# screenshot name → keys pressed after start-up (each followed by waiting for the workers)
SHOTS: dict[str, tuple[str, ...]] = {
    "dashboard": (),
    "profiles": ("2",),
    "profile-detail": ("2", "enter"),
    "tasks": ("3",),
    "task-steps": ("3", "v", "F"),
    "task-retry-confirm": ("3", "v", "F", "R"),
    "totals": CHOOSE_ACME,
    "totals-dry-run": (*CHOOSE_ACME, "d"),
    "totals-partner-form": ("4", "H"),
    "audit": ("5",),
    "help": ("3", "question_mark"),
    "addons": ("6",),
    "addons-backlog": ("6", "v"),
    "addons-confirm": ("6", "space", "space", "a", "enter"),
    "exports": ("7",),
    "invoices": ("8",),
    "invoices-balances": ("8", "v"),
    "invoices-preview": ("8", "x", "enter"),
    "messages": ("9",),
}


async def drive(app: ExpensisApp, keys: tuple[str, ...], pilot: object) -> None:
    await settle(pilot)
    for key in keys:
        await pilot.press(key)  # type: ignore[attr-defined]
        await settle(pilot)


async def capture(runtime: object, keys: tuple[str, ...]) -> str:
    app = ExpensisApp(runtime, start_services=False, clock=frozen_clock)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await drive(app, keys, pilot)
        return app.export_screenshot(title="Expensis")


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    for name, keys in SHOTS.items():
        with tempfile.TemporaryDirectory() as data_dir, showcase_runtime(Path(data_dir)) as runtime:
            svg = asyncio.run(capture(runtime, keys))
        (out / f"{name}.svg").write_text(svg, encoding="utf-8")
        print(f"wrote {out / name}.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
