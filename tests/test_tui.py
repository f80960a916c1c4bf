"""Behaviour of the console, driven with Pilot: navigation, search, every action, errors, no blocking."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import WordHashEmbedder
from textual.widgets import DataTable, Input, Static, TextArea
from tui_support import FrozenCore, SlowRecordingCore, fixed_system_stats

from core.errors import StorageError
from core.memdeck import Memdeck
from screens.explorer import ExplorerScreen
from screens.health import HealthScreen
from tui.app import MemdeckApp
from tui.modals import ConfirmModal, ErrorModal, HelpModal, MetadataModal

FACTS = [
    ("facts", "office.leeds", "The Leeds office is on Wellington Street and opens at eight."),
    ("facts", "battery.picker3", "Picker 3 battery life is ten hours on a full charge."),
    ("docs", "runbook/dock#1", "To reset a charging dock hold the service button for ten seconds."),
    ("docs", "runbook/dock#2", "Escalate a dock that faults three times in one day."),
]


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Memdeck]:
    md = Memdeck.open(tmp_path / "data", embedder=WordHashEmbedder())
    md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
    yield md
    md.close()


def make_app(core: Any) -> MemdeckApp:
    return MemdeckApp(core=core, system_stats=fixed_system_stats, start_background=False)


async def wait_for(pilot: Any, predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def text_of(app: MemdeckApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_health_shows_counts_and_switches_modes(core: Memdeck) -> None:
    app = make_app(FrozenCore(core))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: "vectors   4" in text_of(app, "#drift"))
        assert "in sync" in text_of(app, "#drift")
        assert "docs" in text_of(app, "#items") and "facts" in text_of(app, "#items")
        assert "smollm2-135m-instruct (loads on first ask)" in text_of(app, "#llm")
        await pilot.press("2")
        assert isinstance(app.screen, ExplorerScreen)
        await pilot.press("escape", "1")
        assert isinstance(app.screen, HealthScreen)


async def test_drift_banner_and_repair_with_confirmation(core: Memdeck) -> None:
    core.index.remove([1, 2])
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#drift-banner").display)
        assert "2 missing" in text_of(app, "#drift-banner")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "add 2 missing item(s): 1, 2" in str(app.screen.query_one("#confirm-body", Static).render())
        await pilot.press("escape")                       # cancel changes nothing
        assert core.sync_check().counts()["missing"] == 2
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: core.sync_check().clean)
        await wait_for(pilot, lambda: not app.screen.query_one("#drift-banner").display)


async def test_check_now_records_a_heartbeat(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("c")
        await wait_for(pilot, lambda: len(core.heartbeats()) == 1)
        assert core.heartbeats()[0]["trigger"] == "tui"
        await wait_for(pilot, lambda: "trigger   tui" in text_of(app, "#heartbeat"))


async def test_rebuild_runs_in_a_core_worker_with_progress(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: core.stats(with_drift=False)["index"]["unsaved_changes"] == 0
                       and (core.layout.index_dir / "CURRENT").exists())
        with core.db.read() as conn:
            await wait_for(pilot, lambda: conn.execute(
                "SELECT count(*) FROM audit_events WHERE action='index.rebuild'").fetchone()[0] == 1)
        await wait_for(pilot, lambda: not app.screen.query_one("#job-row").display)


async def test_explorer_search_detail_and_scores(core: Memdeck) -> None:
    app = make_app(FrozenCore(core))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        table = app.screen.query_one("#results", DataTable)
        await wait_for(pilot, lambda: table.row_count == 4)          # browse mode lists everything
        search = app.screen.query_one("#search", Input)
        search.value = "charging dock reset"
        search.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "result(s) for 'charging dock reset'" in text_of(app, "#explorer-status"))
        first = table.coordinate_to_cell_key((0, 0)).row_key.value
        assert first == "docs\x1frunbook/dock#1"
        await wait_for(pilot, lambda: "service button" in text_of(app, "#detail-body"))
        detail = text_of(app, "#detail-body")
        assert "why it ranked" in detail and "vector similarity" in detail and "keyword (BM25)" in detail
        assert "history" in detail


async def test_explorer_actions_quarantine_delete_metadata_copy(core: Memdeck, monkeypatch: Any) -> None:
    app = make_app(core)
    copied: list[str] = []
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        table = app.screen.query_one("#results", DataTable)
        await wait_for(pilot, lambda: table.row_count == 4)
        table.focus()
        await pilot.pause(0.1)
        # rows are ordered by (collection, key): docs/runbook/dock#1 first
        await wait_for(pilot, lambda: "service button" in text_of(app, "#detail-body"))
        await pilot.press("y")
        assert copied[-1] == "docs/runbook/dock#1"
        await pilot.press("c")
        assert copied[-1].startswith("To reset a charging dock")

        from textual.widgets import Select

        from screens.explorer import ALL

        app.screen.query_one("#status", Select).value = ALL      # keep quarantined rows in view
        await pilot.pause(0.3)
        table.focus()
        await pilot.press("x")
        await wait_for(pilot, lambda: core.get("docs", "runbook/dock#1")["status"] == "quarantined")
        await wait_for(pilot, lambda: "quarantined" in str(table.get_row_at(0)))
        await pilot.press("x")
        await wait_for(pilot, lambda: core.get("docs", "runbook/dock#1")["status"] == "active")

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("escape")
        assert core.get("docs", "runbook/dock#1")["status"] == "active"
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: core.get("docs", "runbook/dock#1")["status"] == "deleted")

        app.screen.query_one("#status", Select).value = "active"
        await wait_for(pilot, lambda: table.row_count == 3)
        table.move_cursor(row=0)
        await wait_for(pilot, lambda: "Escalate" in text_of(app, "#detail-body"))
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MetadataModal))
        editor = app.screen.query_one(TextArea)
        editor.text = "[1, 2]"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, MetadataModal)          # invalid: stays open and says why
        assert "JSON object" in str(app.screen.query_one("#meta-error", Static).render())
        editor.text = '{"owner": "field-ops"}'
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: core.get("docs", "runbook/dock#2")["metadata"] == {"owner": "field-ops"})
        assert core.get("docs", "runbook/dock#2")["version"] == 2


async def test_browse_pages_through_a_large_collection(tmp_path: Path) -> None:
    md = Memdeck.open(tmp_path / "big", embedder=WordHashEmbedder())
    vec = np.eye(1, 384, dtype=np.float32)[0]
    from core.store import content_hash

    records = [{"collection": "bulk", "key": f"k{i:05d}", "content": f"row {i}"} for i in range(450)]
    md.put_many(records, vectors={content_hash(r["content"]): vec for r in records})
    app = make_app(md)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("2")
            table = app.screen.query_one("#results", DataTable)
            await wait_for(pilot, lambda: table.row_count == 200)
            assert table.coordinate_to_cell_key((0, 0)).row_key.value == "bulk\x1fk00000"
            table.focus()
            await pilot.press("n")
            await wait_for(pilot, lambda: table.coordinate_to_cell_key((0, 0)).row_key.value == "bulk\x1fk00200")
            await pilot.press("n")
            await wait_for(pilot, lambda: table.row_count == 50)
            assert "last page" in text_of(app, "#explorer-status")
            await pilot.press("p")
            await wait_for(pilot, lambda: table.coordinate_to_cell_key((0, 0)).row_key.value == "bulk\x1fk00200")
    finally:
        md.close()


async def test_errors_show_a_modal_with_what_to_do(core: Memdeck, monkeypatch: Any) -> None:
    def broken(*_a: Any, **_k: Any) -> Any:
        raise StorageError("the disk holding memdeck.db is full; nothing was written", hint="free some space")

    monkeypatch.setattr(core, "set_status", broken)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        table = app.screen.query_one("#results", DataTable)
        await wait_for(pilot, lambda: table.row_count == 4)
        table.focus()
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "disk holding memdeck.db is full" in str(app.screen.query_one("#error-message", Static).render())
        assert "free some space" in str(app.screen.query_one("#error-hint", Static).render())
        await pilot.press("escape")
        assert isinstance(app.screen, ExplorerScreen)          # the app survives


async def test_failing_open_is_reported_and_app_survives(tmp_path: Path) -> None:
    def factory() -> Any:
        raise StorageError("tmp/x is not a readable memdeck database", hint="restore from a backup")

    app = MemdeckApp(core_factory=factory, system_stats=fixed_system_stats, start_background=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "restore from a backup" in str(app.screen.query_one("#error-hint", Static).render())
        await pilot.press("escape")
        assert "could not open the data dir" in text_of(app, "#health-status")


async def test_help_and_theme(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpModal)
        await pilot.press("escape")
        assert isinstance(app.screen, HealthScreen)
        before = app.theme
        await pilot.press("t")
        assert app.theme != before
        await pilot.press("2", "f1")
        assert isinstance(app.screen, HelpModal) and "Explorer" in app.screen.title_text


async def test_no_core_call_runs_on_the_event_loop(core: Memdeck, request: pytest.FixtureRequest) -> None:
    """Every core call sleeps 0.4 s in this fake; a probe ticking every 10 ms would see that stall if any
    call ran on the event loop. Screen mounts are outside the measured windows (they are not core work)."""
    slow = SlowRecordingCore(core, delay=0.4)
    app = make_app(slow)
    lags: list[float] = []
    # Late in a full run the test process holds torch and every earlier test's leftovers; one full
    # collection of that heap takes 300+ ms and would read as a stall. Freezing it keeps the probe
    # about this app's event loop, not about the suite's heap.
    gc.collect()
    gc.freeze()
    request.addfinalizer(gc.unfreeze)

    async def probe() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            lags.append(now - last - 0.01)
            last = now

    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: "vectors" in text_of(app, "#drift"))
        task = asyncio.create_task(probe())
        await pilot.press("c")
        await wait_for(pilot, lambda: any(n == "heartbeat_once" for n, _ in slow.calls))
        await pilot.pause(1.0)
        task.cancel()
        await pilot.press("2")
        await wait_for(pilot, lambda: app.screen.query_one("#results", DataTable).row_count == 4)
        task = asyncio.create_task(probe())
        search = app.screen.query_one("#search", Input)
        search.value = "dock"
        search.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "result(s)" in text_of(app, "#explorer-status"))
        await pilot.pause(1.0)
        task.cancel()
    names = {name for name, _ in slow.calls}
    assert {"stats", "heartbeats", "heartbeat_once", "search", "list_items", "get", "history"} <= names
    on_loop = [name for name, on_main in slow.calls if on_main]
    assert on_loop == [], f"core calls on the event loop: {on_loop}"
    assert lags and max(lags) < 0.3, f"event loop stalled {max(lags) * 1000:.0f} ms during core calls"
