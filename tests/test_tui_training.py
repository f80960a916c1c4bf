"""The Training screen (mode 8) with Pilot against FakeTrainCore: runs table, run details, live progress
from bus events, the adapter panel, validation trend, and every action with its confirmation, errors as
notifications, the empty state. Snapshots are in test_tui_snapshots_training.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder
from textual.widgets import DataTable, ProgressBar, Static
from train_support import FakeTrainCore
from tui_support import FROZEN_NOW, fixed_system_stats

from core.errors import PermissionDenied
from core.memdeck import Memdeck
from screens.training import EMPTY, TrainingScreen, spark_text
from tui.app import MemdeckApp
from tui.modals import ConfirmModal


@pytest.fixture
def md(tmp_path: Path) -> Iterator[Memdeck]:
    m = Memdeck.open(tmp_path / "data", embedder=WordHashEmbedder())
    yield m
    m.close()


def make_app(core: Any) -> MemdeckApp:
    return MemdeckApp(core=core, system_stats=fixed_system_stats, start_background=False, clock=lambda: FROZEN_NOW,
                      blink=False)


async def wait_for(pilot: Any, predicate: Any, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.03)


def text_of(app: MemdeckApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def open_training(pilot: Any) -> TrainingScreen:
    await pilot.press("8")
    screen = pilot.app.screen
    assert isinstance(screen, TrainingScreen)
    await wait_for(pilot, lambda: screen.query_one("#train-runs", DataTable).row_count == 4
                   and screen.selected is not None)
    return screen


async def test_runs_adapter_and_validation(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_training(pilot)
        table = screen.query_one("#train-runs", DataTable)
        first = [str(c) for c in table.get_row_at(0)]
        assert first[:3] == ["4", "rolled back", "manual"] and first[8] == "26/30"
        assert "run-3.gguf" in text_of(app, "#train-adapter") and "run 3" in text_of(app, "#train-adapter")
        assert "nightly at 22:00" in text_of(app, "#train-adapter")
        valid = text_of(app, "#train-valid")
        assert "9/33" in valid and "+9 pts" in valid
        # the highlighted run in full: its gate reasons and the failed canary
        assert screen.selected["id"] == 4
        body = text_of(app, "#train-detail-body")
        assert "control NLL rose" in body and "canary fact-01" in body
        await pilot.press("down")
        await wait_for(pilot, lambda: screen.selected is not None and screen.selected["id"] == 3)
        assert "promoted" in text_of(app, "#train-detail-body")


async def test_progress_events_drive_the_live_view(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_training(pilot)
        assert not screen.query_one("#train-live").display
        for step, loss in ((1, 2.9), (2, 2.5), (3, 2.2)):
            core.publish_progress(step, loss)
        await wait_for(pilot, lambda: screen.active is not None and screen.active.get("step") == 3)
        bar = screen.query_one("#train-progress", ProgressBar)
        assert screen.query_one("#train-live").display and bar.progress == 3 and bar.total == 30
        head = text_of(app, "#train-live-head")
        assert "step 3/30" in head and "loss 2.200" in head and "ETA 1m48s" in head
        assert screen.active["losses"] == [2.9, 2.5, 2.2]
        assert "step 3/30" in text_of(app, "#train-log")
        md.bus.publish("train.finished", run_id=5, status="rolled_back", reasons=["control NLL rose +50%"])
        await wait_for(pilot, lambda: screen.active is None)
        assert any("rolled back" in str(n.message) for n in app._notifications)


async def test_cancel_asks_then_calls_core(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_training(pilot)
        await pilot.press("c")  # nothing runs: a notice, no modal
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmModal)
        core.publish_progress(1, 2.9)
        await wait_for(pilot, lambda: screen.active is not None)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: ("train_cancel", ()) in core.calls)


async def test_train_now_and_validate(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_training(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not any(c[0] == "train_start" for c in core.calls)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: ("train_start", ("manual",)) in core.calls)
        await wait_for(pilot, lambda: screen.active is not None and screen.active["run_id"] == 5)
        await pilot.press("v")
        await wait_for(pilot, lambda: ("train_validate", ()) in core.calls)
        await wait_for(pilot, lambda: any("10/33" in str(n.message) for n in app._notifications))


async def test_rollback_confirms_names_the_adapter_and_shows_errors(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_training(pilot)
        core.fail["train_rollback"] = PermissionDenied("rolling back a trained adapter needs the admin role")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        body = str(app.screen.query_one("#confirm-body", Static).render())
        assert "run-1.gguf" in body and "run-3.gguf" in body
        await pilot.press("y")
        await wait_for(pilot, lambda: any("admin role" in str(n.message) for n in app._notifications))
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: any("now using" in str(n.message) for n in app._notifications))
        await wait_for(pilot, lambda: "run 1" in text_of(app, "#train-adapter"))


async def test_empty_state_explains_what_to_do(md: Memdeck) -> None:
    core = FakeTrainCore(md, empty=True)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("8")
        screen = app.screen
        await wait_for(pilot, lambda: "none (the base model answers)" in text_of(app, "#train-adapter"))
        assert screen.query_one("#train-empty").display and text_of(app, "#train-empty") == EMPTY
        assert "not run yet" in text_of(app, "#train-valid")
        await pilot.press("r")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmModal)


async def test_real_core_with_fake_backends_end_to_end(tmp_path: Path) -> None:
    """The screen on a real Memdeck whose heavy steps are the deterministic fakes of test_training."""
    from test_training import FakeBackends, write_suite

    md = Memdeck.open(tmp_path / "data", embedder=WordHashEmbedder())
    try:
        write_suite(md.layout.root)
        md.put("facts", "people.maya-okafor.role", "Maya Okafor is the Chief Executive Officer.")
        md.train_backends = FakeBackends().backends()
        app = make_app(md)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("8")
            screen = app.screen
            await wait_for(pilot, lambda: text_of(app, "#train-empty") == EMPTY)
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
            await pilot.press("y")
            await wait_for(pilot, lambda: screen.query_one("#train-runs", DataTable).row_count == 1
                           and screen.active is None and screen.runs and screen.runs[0]["status"] == "promoted",
                           timeout=20)
            await wait_for(pilot, lambda: "run-1.gguf" in text_of(app, "#train-adapter"))
    finally:
        md.close()


def test_spark_text() -> None:
    out = spark_text([3.0, 2.0, 1.0])
    assert out.startswith("█▄▁") and out.endswith("3.00→1.00")
