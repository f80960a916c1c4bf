"""How the Trust Dashboard looks: the dashboard with its review queue at 120x36 and 80x24, and a
contradiction side by side. FrozenTrustCore's fixtures, a frozen clock, no blinking cursor. Review
changed snapshots by eye before updating them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder
from textual.widgets import DataTable
from tui_support import FROZEN_NOW, FrozenTrustCore, fixed_system_stats

from core.memdeck import Memdeck
from tui.app import MemdeckApp

SIZES = [(80, 24), (120, 36)]


@pytest.fixture
def trust_core(tmp_path: Path) -> Iterator[FrozenTrustCore]:
    md = Memdeck.open(tmp_path / "trust", embedder=WordHashEmbedder())
    yield FrozenTrustCore(md)
    md.close()


def app_for(core: FrozenTrustCore) -> MemdeckApp:
    return MemdeckApp(core=core, system_stats=fixed_system_stats, clock=lambda: FROZEN_NOW,
                      start_background=False, blink=False)


async def _until(pilot: Any, predicate: Any, tries: int = 300) -> None:
    for _ in range(tries):
        if predicate():
            break
        await pilot.pause(0.05)


async def _dashboard_ready(pilot: Any) -> None:
    await pilot.pause(0.2)
    await pilot.press("7")
    screen = pilot.app.screen
    await _until(pilot, lambda: screen.query_one("#trust-queue", DataTable).row_count == 6
                 and screen.detail is not None)
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_trust_dashboard(snap_compare: Any, trust_core: FrozenTrustCore, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(trust_core), terminal_size=size, run_before=_dashboard_ready)


def test_trust_contradiction(snap_compare: Any, trust_core: FrozenTrustCore) -> None:
    async def contradiction(pilot: Any) -> None:
        await _dashboard_ready(pilot)
        await pilot.press("v")
        screen = pilot.app.screen
        await _until(pilot, lambda: screen.detail is not None and screen.detail.get("id") == 26)
        await pilot.pause(0.3)

    assert snap_compare(app_for(trust_core), terminal_size=(120, 36), run_before=contradiction)


def test_trust_merge(snap_compare: Any, trust_core: FrozenTrustCore) -> None:
    async def merge(pilot: Any) -> None:
        await _dashboard_ready(pilot)
        await pilot.press("v")
        screen = pilot.app.screen
        screen.query_one("#trust-contra", DataTable).move_cursor(row=2)
        await _until(pilot, lambda: screen.detail is not None and screen.detail.get("id") == 40)
        await pilot.press("m")
        await _until(pilot, lambda: type(pilot.app.screen).__name__ == "MergeModal")
        await pilot.pause(0.3)

    assert snap_compare(app_for(trust_core), terminal_size=(120, 36), run_before=merge)
