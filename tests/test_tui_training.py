"""The Training screen (mode 8) with Pilot against FakeTrainCore: the runs table, a run's details (pane
and dialog), live progress from bus events, the adapter panel and its history, the validation trend,
every action with its confirmation, core errors as notifications, toasts for failed runs (also from the
background), the empty state and the 80-column layout. Snapshots: test_tui_snapshots_training.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder
from rich.text import Text
from textual.widgets import DataTable, ProgressBar, Static
from train_support import ADAPTERS, LIVE_ID, FakeTrainCore, train_fixtures
from tui_support import FROZEN_NOW, fixed_system_stats

from core.errors import PermissionDenied
from core.memdeck import Memdeck
from screens.training import TrainingScreen
from screens.training_dialogs import RunDetailModal
from screens.training_view import (
    COLUMNS_SHORT,
    COLUMNS_WIDE,
    EMPTY,
    adapter_panel,
    control_change,
    duration,
    probe_change,
    rollback_plan,
    spark_text,
    validation_text,
)
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


def notes(app: MemdeckApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def training(app: MemdeckApp) -> TrainingScreen:
    screen = app.mode_screens["training"]
    assert isinstance(screen, TrainingScreen)
    return screen


async def open_training(pilot: Any, rows: int = 6) -> TrainingScreen:
    await pilot.press("8")
    screen = pilot.app.screen
    assert isinstance(screen, TrainingScreen)
    await wait_for(pilot, lambda: screen.query_one("#train-runs", DataTable).row_count == rows
                   and screen.selected is not None)
    return screen


# ---------------------------------------------------------------------------------------------- reading
async def test_runs_adapter_history_and_validation(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_training(pilot)
        table = screen.query_one("#train-runs", DataTable)
        assert [str(c.label) for c in table.columns.values()] == [label for label, _, _ in COLUMNS_WIDE]
        fixtures = train_fixtures()["runs"]
        assert [str(table.get_row_at(i)[0]) for i in range(6)] == [str(r["id"]) for r in fixtures]
        first = [str(c) for c in table.get_row_at(0)]
        assert first[1:3] == ["rolled back", "manual"] and first[4] == "6m52s" and first[5] == "40+10"
        assert first[7:] == ["2.91→0.41", "17/21", "-38.4%", "+50.0%"]
        empty_run = [str(c) for c in table.get_row_at(2)]
        assert empty_run[1] == "empty" and empty_run[7:] == ["-", "-", "-", "-"]
        styles = {str(c): c.style for c in (table.get_row_at(i)[1] for i in range(6)) if isinstance(c, Text)}
        assert styles["promoted"] == "green" and styles["rolled back"] == "red" and styles["failed"] == "red"
        assert styles["empty"] == "dim"
        adapter = text_of(app, "#train-adapter")
        assert f"{ADAPTERS}/run-5.gguf" in adapter and "made by run 5" in adapter and "in use since" in adapter
        assert "nightly at 22:00 · next" in adapter
        assert "run 3 promoted" in adapter and "rolled back" in adapter and "run 1 promoted" in adapter
        valid = text_of(app, "#train-valid")
        assert "27% (9/33) on 09-21" in valid and "+9 pts" in valid and "7 days" in valid
        assert screen.query_one("#train-valid-spark").display
        # the highlighted run in full: its gate reasons and the failed canary
        assert screen.selected is not None and screen.selected["id"] == 6
        body = text_of(app, "#train-detail-body")
        assert "control NLL rose" in body and "canary fact-01" in body and "lr 0.0002" in body
        assert "losses" in body and "\nlog\n" in body
        await pilot.press("down", "down", "down", "down")
        await wait_for(pilot, lambda: screen.selected is not None and screen.selected["id"] == 2)
        body = text_of(app, "#train-detail-body")
        assert "error interrupted" in body and "failed" in body
        assert not screen.query_one("#train-live").display
        assert screen.check_action("cancel_run", ()) is None  # nothing runs: c is greyed out


async def test_enter_opens_the_run_in_full(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_training(pilot)
        await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailModal))
        body = str(app.screen.query_one("#train-detail-modal-body", Static).render())
        assert "Run 5" in body and "step 30/30" in body and "buffer: 96 samples" in body
        assert f"{ADAPTERS}/archive/run-5-buffer.jsonl" in body
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))


# ---------------------------------------------------------------------------------------------- live
async def test_progress_events_drive_the_live_view(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_training(pilot)
        for step, loss in ((1, 2.9), (2, 2.5), (3, 2.2)):
            core.publish_progress(step, loss)
        await wait_for(pilot, lambda: screen.active is not None and screen.active.get("step") == 3)
        bar = screen.query_one("#train-progress", ProgressBar)
        assert screen.query_one("#train-live").display and bar.progress == 3 and bar.total == 30
        assert screen.query_one("#train-detail").display  # 120x36: live view and details both
        head = text_of(app, "#train-live-head")
        assert f"Run {LIVE_ID} · train" in head and "step 3/30" in head and "loss 2.200" in head
        assert "ETA 1m48s" in head and "c cancels" in head
        assert screen.active["losses"] == [2.9, 2.5, 2.2]
        assert "step 3/30 loss 2.2000" in text_of(app, "#train-log")
        assert screen.check_action("cancel_run", ()) is True
        table = screen.query_one("#train-runs", DataTable)  # the new run's row came with a reload
        await wait_for(pilot, lambda: table.row_count == 7)
        status = table.get_row_at(0)[1]
        assert isinstance(status, Text) and str(status) == "running"
        assert status.style == f"bold {app.current_theme.accent}"  # the theme's accent colour
        assert screen.selected is not None and screen.selected["id"] == 6  # the cursor stayed on its run
        core.publish_progress(4, 2.0)  # the running row follows the events between reloads
        await wait_for(pilot, lambda: [str(c) for c in table.get_row_at(0)][6:8] == ["4", "2.90→2.00"])
        await pilot.press("up")  # the running run's details follow the events as well
        await wait_for(pilot, lambda: screen.selected is not None and screen.selected["id"] == LIVE_ID)
        core.publish_progress(5, 1.9)
        await wait_for(pilot, lambda: "5 steps · loss 2.900 → 1.900" in text_of(app, "#train-detail-body"))
        # a gate failure: train.finished, then train.alert with the same run; one toast, the alert's text
        core.finish_run("rolled_back", ["control NLL rose +50%"],
                        alert=f"training run {LIVE_ID} rolled back: control NLL rose")
        await wait_for(pilot, lambda: screen.active is None and any("rolled back" in n for n in notes(app)))
        await pilot.pause(0.6)
        assert [n for n in notes(app) if "rolled back" in n] == [f"training run {LIVE_ID} rolled back: control "
                                                                 "NLL rose"]
        assert not screen.query_one("#train-live").display
        assert screen.check_action("cancel_run", ()) is None


async def test_failures_toast_while_the_screen_is_in_the_background(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_training(pilot)
        await pilot.press("1")
        await wait_for(pilot, lambda: not isinstance(app.screen, TrainingScreen))
        md.bus.publish("train.finished", run_id=9, status="failed", reasons=["the run failed"])
        await wait_for(pilot, lambda: any("training run 9 failed" in n for n in notes(app)))
        md.bus.publish("train.finished", run_id=10, status="promoted", reasons=[])
        await wait_for(pilot, lambda: any("run 10 promoted" in n for n in notes(app)))


async def test_a_run_in_another_process_shows_but_cannot_be_cancelled(md: Memdeck) -> None:
    core = FakeTrainCore(md, elsewhere=True)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_training(pilot, rows=7)
        await wait_for(pilot, lambda: screen.query_one("#train-live").display)
        head = text_of(app, "#train-live-head")
        assert "another process" in head and "step 12/30" in head
        assert screen.check_action("cancel_run", ()) is None
        await pilot.press("c")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmModal) and not core.called("train_cancel")
        before = len(core.called("train_status"))
        screen._poll()  # the 3 s poll: the row is re-read (no events come from another process)
        await wait_for(pilot, lambda: len(core.called("train_status")) > before)


# ---------------------------------------------------------------------------------------------- actions
async def test_cancel_asks_then_calls_core(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_training(pilot)
        await pilot.press("c")  # nothing runs: the key is disabled
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmModal)
        core.publish_progress(1, 2.9)
        await wait_for(pilot, lambda: screen.active is not None)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not core.called("train_cancel")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert f"Cancel run {LIVE_ID}?" in str(app.screen.query_one(".dialog-title").render())
        await pilot.press("y")
        await wait_for(pilot, lambda: core.called("train_cancel") == [()])
        await wait_for(pilot, lambda: "cancelling" in text_of(app, "#train-status"))


async def test_train_now_and_validate(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_training(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not core.called("train_start")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: core.called("train_start") == [("manual",)])
        await wait_for(pilot, lambda: screen.active is not None and screen.active["run_id"] == LIVE_ID)
        await pilot.press("n")  # one run at a time
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmModal) and any("already in progress" in n for n in notes(app))
        await pilot.press("v")  # a core job: the answer arrives with job.finished
        await wait_for(pilot, lambda: core.called("train_validate") == [()])
        await wait_for(pilot, lambda: any("validation 2026-09-22: 10/33 (30%)" in n for n in notes(app)))
        await wait_for(pilot, lambda: "30% (10/33) on 09-22" in text_of(app, "#train-valid"))
        assert "+3 pts" in text_of(app, "#train-valid")


async def test_validation_failure_is_reported_not_raised(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    core.fail["train_validate"] = PermissionDenied("morning validation needs the editor role")
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_training(pilot)
        await pilot.press("v")
        await wait_for(pilot, lambda: "morning validation failed" in text_of(app, "#train-status"))
        assert any("editor role" in n for n in notes(app))  # the app's toast for a failed job
        assert isinstance(app.screen, TrainingScreen)


async def test_rollback_names_what_comes_back_and_shows_errors(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_training(pilot)
        core.fail["train_rollback"] = PermissionDenied("rolling back a trained adapter needs the admin role",
                                                       hint="ask an admin")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        body = str(app.screen.query_one("#confirm-body", Static).render())
        assert f"Set aside: {ADAPTERS}/run-5.gguf (run 5" in body
        assert f"Restored: {ADAPTERS}/run-1.gguf (made by run 1)" in body
        await pilot.press("y")
        await wait_for(pilot, lambda: any("admin role" in n for n in notes(app)))
        assert isinstance(app.screen, TrainingScreen) and "admin role" in text_of(app, "#train-status")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: any("answers use" in n and "run-1.gguf now" in n for n in notes(app)))
        assert core.called("train_rollback") == [(5,), (5,)]
        await wait_for(pilot, lambda: "made by run 1" in text_of(app, "#train-adapter"))
        # the core's own train.finished for this rollback does not toast a second time
        md.bus.publish("train.finished", run_id=5, status="rolled_back", reasons=["rolled back by admin"])
        await pilot.pause(0.6)
        assert not any("training run 5 rolled back" in n for n in notes(app))


async def test_rollback_from_the_palette_before_the_screen_was_opened(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.1)
        app.run_screen_action("training", "rollback")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "run-1.gguf" in str(app.screen.query_one("#confirm-body", Static).render())


async def test_nothing_to_roll_back_or_cancel_says_so(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    core.world["status"]["adapter"] = {"path": "/tmp/hand.gguf", "run_id": None, "since": None, "exists": True}
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_training(pilot)
        assert "attached by hand" in text_of(app, "#train-adapter")
        await pilot.press("r")
        await wait_for(pilot, lambda: any("attached by hand" in n for n in notes(app)))
        assert not isinstance(app.screen, ConfirmModal) and not core.called("train_rollback")


async def test_empty_state_explains_what_to_do(md: Memdeck) -> None:
    core = FakeTrainCore(md, empty=True)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("8")
        screen = training(app)
        await wait_for(pilot, lambda: screen.loaded)
        await pilot.pause(0.05)
        assert "none: the base model answers" in text_of(app, "#train-adapter")
        assert "off · turn on: memdeck config set training.schedule nightly" in text_of(app, "#train-adapter")
        assert screen.query_one("#train-empty").display and text_of(app, "#train-empty").startswith(EMPTY)
        assert not screen.query_one("#train-runs").display and not screen.query_one("#train-detail").display
        assert "not run yet: press v" in text_of(app, "#train-valid")
        assert not screen.query_one("#train-valid-spark").display
        await pilot.press("r")
        await wait_for(pilot, lambda: any("nothing to roll back" in n for n in notes(app)))
        assert not isinstance(app.screen, ConfirmModal)


async def test_80_columns_keep_the_essentials(md: Memdeck) -> None:
    core = FakeTrainCore(md)
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_training(pilot)
        table = screen.query_one("#train-runs", DataTable)
        assert [str(c.label) for c in table.columns.values()] == [label for label, _, _ in COLUMNS_SHORT]
        assert table.virtual_size.width <= 78  # no sideways scrolling
        assert screen.query_one("#train-detail").display
        core.publish_progress(1, 2.9)
        await wait_for(pilot, lambda: screen.query_one("#train-live").display)
        assert not screen.query_one("#train-detail").display  # the live view takes its place
        await pilot.press("enter")  # the highlighted run is still one key away
        await wait_for(pilot, lambda: isinstance(app.screen, RunDetailModal))


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
            screen = training(app)
            await wait_for(pilot, lambda: screen.loaded and screen.query_one("#train-empty").display)
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
            await pilot.press("y")
            await wait_for(pilot, lambda: screen.query_one("#train-runs", DataTable).row_count == 1
                           and screen.active is None and screen.runs and screen.runs[0]["status"] == "promoted",
                           timeout=20)
            await wait_for(pilot, lambda: "run-1.gguf" in text_of(app, "#train-adapter"))
            await wait_for(pilot, lambda: any("run 1 promoted" in n for n in notes(app)))
    finally:
        md.close()


# ---------------------------------------------------------------------------------------------- drawing
def test_view_helpers() -> None:
    assert spark_text([3.0, 2.0, 1.0]).startswith("█▅▁") and spark_text([3.0, 2.0, 1.0]).endswith("3.00→1.00")
    assert len(spark_text([float(i) for i in range(100)], width=20).split()[0]) == 20
    assert spark_text([]) == ""
    assert [duration(s) for s in (None, 4, 412, 3_900)] == ["-", "4s", "6m52s", "1h05m"]
    assert str(probe_change(-0.158)) == "-15.8%" and probe_change(0.01).style == "red"
    assert str(control_change(2.0)) == "+200%" and control_change(2.0).style == "red"
    assert control_change(0.03).style == "yellow" and control_change(-0.01).style == "green"
    assert str(validation_text([])) == "Morning validation\nnot run yet: press v"


def test_rollback_plan_without_a_previous_adapter() -> None:
    runs = train_fixtures()["runs"]
    first = next(r for r in runs if r["id"] == 1)
    title, body = rollback_plan({"path": f"{ADAPTERS}/run-1.gguf", "run_id": 1, "since": FROZEN_NOW}, first, runs)
    assert title == "Roll back run 1?" and "Restored: no adapter: the base model answers alone." in body


def test_adapter_panel_flags_a_missing_file() -> None:
    status = train_fixtures()["status"]
    status["adapter"]["exists"] = False
    assert "(file missing!)" in str(adapter_panel(status))
    assert "run-5.gguf" in str(adapter_panel(status, short=True)).splitlines()[0]
