"""Snapshots of every screen at 80×24: fixed showcase data, a frozen clock, no services.

`pytest --snapshot-update tests/test_tui_snapshots.py` rewrites tests/snapshots/ after a
deliberate change; `python -m expensis_tui.screenshots` writes the same pictures to screenshots/.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension
from rich.color import ColorSystem
from rich.console import Console
from rich.segment import Segment
from syrupy.assertion import SnapshotAssertion

from core.runtime import Runtime
from expensis_tui.app import ExpensisApp
from expensis_tui.screenshots import SHOTS, SIZE, drive
from expensis_tui.showcase import frozen_clock
from tests.conftest import showcase_copy


class TuiSnapshots(SVGImageExtension):
    """Stores the SVGs in tests/snapshots/<module>/ (the project's layout)."""

    @classmethod
    def dirname(cls, *, test_location: Any) -> str:
        return str(Path(test_location.filepath).parent / "snapshots" / test_location.basename)


class _Redirected:
    def __init__(self, snapshot: SnapshotAssertion) -> None:
        self.snapshot = snapshot

    def use_extension(self, _extension: Any = None) -> SnapshotAssertion:
        return self.snapshot.use_extension(TuiSnapshots)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> _Redirected:
    return _Redirected(snapshot)


@pytest.fixture
def runtime(tmp_path: Path, showcase_template: Path) -> Iterator[Runtime]:
    rt = showcase_copy(showcase_template, tmp_path)
    yield rt
    rt.close()


@pytest.mark.parametrize("shot", list(SHOTS))
def test_screen_snapshot(shot: str, runtime: Runtime, snap_compare: Any) -> None:
    app = ExpensisApp(runtime, start_services=False, clock=frozen_clock)
    keys = SHOTS[shot]

    async def run_before(pilot: Any) -> None:
        await drive(app, keys, pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def _luminance(color: Any) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = color.get_truecolor()
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


MIN_CONTRAST = 2.0  # a low bar, well under WCAG's 4.5: text must not melt into its background


def _is_drawing(text: str) -> bool:
    return all(0x2500 <= ord(ch) <= 0x259F for ch in text)  # borders and blocks are not text


def _contrast_losses(app: ExpensisApp) -> list[str]:
    """Text that loses its contrast when the terminal has only 256 colours (SSH without COLORTERM).

    Under a modal only the dialog counts: the screen behind it is dimmed on purpose.
    """
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", legacy_windows=False)
    dialogs = list(app.screen.query(".dialog"))
    regions = [d.region for d in dialogs] if dialogs else [app.screen.region]
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    losses = []
    for y, line in enumerate(Segment.split_lines(console.render(update))):
        x = 0
        for segment in line:
            style, text = segment.style, segment.text.strip()
            inside = any(r.contains(x, y) for r in regions)
            x += segment.cell_length
            if not inside or not text or _is_drawing(text) or style is None or style.color is None \
                    or style.bgcolor is None:
                continue
            fg = _luminance(style.color.downgrade(ColorSystem.EIGHT_BIT))
            bg = _luminance(style.bgcolor.downgrade(ColorSystem.EIGHT_BIT))
            ratio = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
            if ratio < MIN_CONTRAST:
                losses.append(f"{text!r} ({ratio:.1f}:1)")
    return losses


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("shot", ["dashboard", "tasks", "totals", "task-retry-confirm", "help"])
async def test_readable_in_256_colours(shot: str, runtime: Runtime, anyio_backend: str) -> None:
    app = ExpensisApp(runtime, start_services=False, clock=frozen_clock)
    async with app.run_test(size=SIZE) as pilot:
        await drive(app, SHOTS[shot], pilot)
        assert _contrast_losses(app) == []
