"""How the Training screen looks: the runs with the adapter panel at 120x36 and 80x24, a run in
progress, and the rollback confirmation naming what comes back. FakeTrainCore's fixtures, a frozen
clock, local time pinned to UTC (the screen shows local times), no blinking cursor. Review changed
snapshots by eye (rsvg-convert x.svg -o x.png) before updating them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder
from textual.widgets import DataTable
from train_support import FakeTrainCore
from tui_support import FROZEN_NOW, fixed_system_stats

from core.memdeck import Memdeck
from tui.app import MemdeckApp
from tui.modals import ConfirmModal

SIZES = [(80, 24), (120, 36)]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def train_core(tmp_path: Path) -> Iterator[FakeTrainCore]:
    md = Memdeck.open(tmp_path / "train", embedder=WordHashEmbedder())
    yield FakeTrainCore(md)
    md.close()


def app_for(core: FakeTrainCore) -> MemdeckApp:
    return MemdeckApp(core=core, system_stats=fixed_system_stats, clock=lambda: FROZEN_NOW,
                      start_background=False, blink=False)


async def _until(pilot: Any, predicate: Any, tries: int = 300) -> None:
    for _ in range(tries):
        if predicate():
            break
        await pilot.pause(0.05)


async def _ready(pilot: Any) -> None:
    await pilot.pause(0.2)
    await pilot.press("8")
    screen = pilot.app.screen
    await _until(pilot, lambda: screen.query_one("#train-runs", DataTable).row_count == 6
                 and screen.selected is not None)
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_training_runs(snap_compare: Any, train_core: FakeTrainCore, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(train_core), terminal_size=size, run_before=_ready)


def test_training_in_progress(snap_compare: Any, train_core: FakeTrainCore) -> None:
    async def running(pilot: Any) -> None:
        await _ready(pilot)
        for step, loss in ((1, 2.91), (2, 2.62), (3, 2.70), (4, 2.31), (5, 2.05), (6, 1.98)):
            train_core.publish_progress(step, loss)
        screen = pilot.app.screen
        await _until(pilot, lambda: screen.active is not None and screen.active.get("step") == 6)
        await pilot.pause(0.5)

    assert snap_compare(app_for(train_core), terminal_size=(120, 36), run_before=running)


def test_training_rollback_confirmation(snap_compare: Any, train_core: FakeTrainCore) -> None:
    async def confirm(pilot: Any) -> None:
        await _ready(pilot)
        await pilot.press("r")
        await _until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal))
        await pilot.pause(0.3)

    assert snap_compare(app_for(train_core), terminal_size=(120, 36), run_before=confirm)
