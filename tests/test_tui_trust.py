"""The Trust Dashboard (mode 7), driven with Pilot against FrozenTrustCore: the summary, the three lists,
the A|B view with highlights, every one-key action (with its confirmation), recompute as a core job, the
bus events, errors as notifications, empty states, narrow terminals, and no core call on the event loop."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder
from rich.console import Console
from rich.text import Text
from textual.widgets import DataTable, Static, TabbedContent, TextArea
from tui_support import (
    FROZEN_NOW,
    HERON_A,
    LEEDS_A,
    FrozenTrustCore,
    SlowRecordingCore,
    fixed_system_stats,
    trust_fixtures,
)

from core.errors import InvalidInput, StorageError
from core.memdeck import Memdeck
from screens.trust import NOT_SCORED, TrustScreen, alert_target
from screens.trust_dialogs import MergeModal, TrustDetailModal
from screens.trust_view import (
    DIFF_STYLE,
    SPAN_STYLE,
    _span_range,
    contradiction_detail,
    diff_ranges,
    highlighted,
    histogram,
    side_by_side,
    sparkline,
)
from tui.app import MemdeckApp
from tui.modals import ConfirmModal, HelpModal


@pytest.fixture
def md(tmp_path: Path) -> Iterator[Memdeck]:
    m = Memdeck.open(tmp_path / "data", embedder=WordHashEmbedder())
    yield m
    m.close()


@pytest.fixture
def core(md: Memdeck) -> FrozenTrustCore:
    return FrozenTrustCore(md)


def make_app(core: Any) -> MemdeckApp:
    return MemdeckApp(core=core, system_stats=fixed_system_stats, start_background=False, clock=lambda: FROZEN_NOW,
                      blink=False)


async def wait_for(pilot: Any, predicate: Any, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.03)


def table(app: MemdeckApp, selector: str) -> DataTable[Any]:
    return app.screen.query_one(selector, DataTable)


def plain(renderable: Any, width: int = 100) -> str:
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def detail(app: MemdeckApp) -> str:
    return plain(app.screen.query_one("#trust-detail-body", Static).content)


def notes(app: MemdeckApp, severity: str | None = None) -> list[str]:
    return [str(n.message) for n in app._notifications if severity is None or n.severity == severity]


async def open_trust(pilot: Any, queue: int = 6) -> TrustScreen:
    await pilot.pause(0.1)
    await pilot.press("7")
    screen = pilot.app.screen
    assert isinstance(screen, TrustScreen)
    await wait_for(pilot, lambda: table(pilot.app, "#trust-queue").row_count == queue)
    return screen


async def show_tab(pilot: Any, tab: str) -> None:
    tabs = pilot.app.screen.query_one("#trust-tabs", TabbedContent)
    while tabs.active != tab:
        await pilot.press("v")
        await pilot.pause(0.05)


async def select_row(pilot: Any, selector: str, index: int, expect: str) -> None:
    t = table(pilot.app, selector)
    t.focus()
    t.move_cursor(row=index)
    await wait_for(pilot, lambda: expect in detail(pilot.app))


# ---------------------------------------------------------------------- pure drawing
def test_drawing_helpers() -> None:
    rising = sparkline([0.61, 0.62, 0.63, 0.64])
    assert list(rising) == sorted(rising) and rising[0] != rising[-1]   # a small drift still shows as a slope
    assert len(sparkline(list(range(20)), 8)) == 8 and sparkline([]) == ""
    flat = sparkline([0.5, 0.5, 0.5])
    assert len(set(flat)) == 1 and flat[0] not in "▁█"  # a flat series sits mid-scale, not on the floor
    hist = histogram([0, 2, 6, 27, 28, 96, 102, 59, 8, 0], 0.35, 0.75).plain.splitlines()
    assert len(hist) == 7 and hist[-1].split() == ["0", "2", "6", "27", "28", "96", "102", "59", "8", "0"]
    assert "███" in hist[0]                         # the biggest bin reaches the top
    a, b, ratio = diff_ranges("Daniel Costa is the lead.", "Ines Carvalho is the lead.")
    assert ratio > 0.5 and a == [(0, 12)] and b == [(0, 13)]


def test_side_by_side_highlights_spans_and_word_differences() -> None:
    leeds = trust_fixtures()["contradictions"][0]
    grid = side_by_side(leeds).renderables[0]  # type: ignore[attr-defined]
    a_cell, b_cell = (col._cells[0] for col in grid.columns)
    assert isinstance(a_cell, Text) and isinstance(b_cell, Text)

    def styled(text: Text, style: str) -> list[str]:
        return [text.plain[s.start:s.end] for s in text.spans if str(s.style) == style]

    assert styled(a_cell, SPAN_STYLE) == ["07:00 to 19:00"] and styled(b_cell, SPAN_STYLE) == ["08:00 to 18:00"]
    assert "the office manager." in styled(a_cell, DIFF_STYLE)
    assert "Amy Greenwood." in styled(b_cell, DIFF_STYLE)
    assert not any("Leeds office" in s for s in styled(a_cell, DIFF_STYLE))  # shared words stay plain
    # the value is one run: the word diff is not layered inside it, and no styled run starts or ends
    # with a space (a value cut into "07:00" / " to " / "19:00" showed as "07:00to  19:00")
    for cell in (a_cell, b_cell):
        runs = [cell.plain[s.start:s.end] for s in cell.spans]
        assert all(r == r.strip() for r in runs), runs
        assert not any(r in {"07:00", "19:00", "08:00", "18:00"} for r in styled(cell, DIFF_STYLE))


def test_value_spans_are_found_however_the_dash_and_spaces_are_written() -> None:
    text = "Open 07:00\u201319:00 on weekdays, and from 08:00 to  18:00 at weekends."
    a = highlighted(text, [], [r for r in (_span_range(text, "07:00-19:00"), _span_range(text, "08:00 to 18:00")) if r])
    assert [a.plain[s.start:s.end] for s in a.spans] == ["07:00\u201319:00", "08:00 to  18:00"]
    assert _span_range(text, "09:00 to 17:00") is None and _span_range(text, [5, 16]) == (5, 16)


# ---------------------------------------------------------------------- the dashboard
async def test_key_7_opens_the_dashboard_with_summary_queue_and_item_explanation(core: FrozenTrustCore) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_trust(pilot)
        coll = table(app, "#trust-collections")
        assert [str(coll.get_row_at(i)[0]) for i in range(coll.row_count)] == ["docs", "facts", "meetings", "projects"]
        assert [str(c) for c in coll.get_row_at(2)[1:6]] == ["70", "0.47", "12", "0", "5"]
        assert str(coll.get_row_at(2)[6]).endswith("-0.08")                      # trend sparkline + change
        hist = str(app.screen.query_one("#trust-hist", Static).render())
        assert "328 scores" in hist and "low <0.35" in hist and "102" in hist
        model = str(app.screen.query_one("#trust-model", Static).render())
        assert "scores formula" in model and "12 review(s), the learned model needs 30" in model
        tabs = app.screen.query_one("#trust-tabs", TabbedContent)
        assert str(tabs.get_tab("tab-queue").label) == "Review queue (6)"
        assert str(tabs.get_tab("tab-contra").label) == "Contradictions (3)"
        assert str(tabs.get_tab("tab-alerts").label) == "Alerts (5)"
        queue = table(app, "#trust-queue")
        whats = [str(queue.get_row_at(i)[2]) for i in range(queue.row_count)]
        assert whats[0].startswith("meetings/2026-03-05-beacon-design-review")  # lowest trust first
        assert whats[3].startswith("facts/office.leeds.opening-hours ↔ docs/handbook/office-leeds#1")
        await wait_for(pilot, lambda: "contrib" in detail(app))
        text = detail(app)
        assert "quarantined by policy: score 0.32 below 0.35" in text
        assert "freshness" in text and "0.13   0.15  +0.020" in text
        assert "history" in text and "6 change(s)" in text
        await pilot.press("f1")
        assert isinstance(app.screen, HelpModal) and app.screen.title_text == "Trust"
        keys = dict(app.screen.keys)
        assert keys["A"] == "Keep A" and keys["m"] == "Merge" and keys["R"] == "Recompute" and keys["7"] == "Trust"


async def test_contradiction_detail_shows_both_sides_with_highlights(core: FrozenTrustCore) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_trust(pilot)
        await show_tab(pilot, "tab-contra")
        await wait_for(pilot, lambda: "#26 number" in detail(app))
        text = detail(app)
        assert "A  facts/office.leeds.opening-hours" in text and "B  docs/handbook/office-leeds#1" in text
        assert "07:00 to 19:00" in text and "08:00 to 18:00" in text
        assert "suggested: keep B: the more trusted side" in text and "number: time '07:00 to 19:00'" in text
        assert plain(screen.query_one("#trust-detail-body", Static).content) == plain(
            contradiction_detail(screen.detail or {}))
        # the version conflict: one item, the older text as A
        await select_row(pilot, "#trust-contra", 1, "#31 version")
        text = detail(app)
        assert screen.detail is not None and screen.detail["a"]["id"] == screen.detail["b"]["id"]
        assert "v1 (older)" in text and "v2 (current)" in text
        assert "Daniel Costa" in text and "Ines Carvalho" in text
        # two findings, both highlighted
        await select_row(pilot, "#trust-contra", 2, "#40 owner")
        grid = contradiction_detail(screen.detail or {}).renderables[1].renderables[0]  # type: ignore[attr-defined]
        a_cell = grid.columns[0]._cells[0]
        assert {a_cell.plain[s.start:s.end] for s in a_cell.spans if str(s.style) == SPAN_STYLE} == \
            {"Priya Nair", "Tuesdays"}
        # enter shows it in full
        await pilot.press("enter")
        assert isinstance(app.screen, TrustDetailModal) and app.screen.title_text == "Contradiction #40: owner"
        await pilot.press("escape")
        assert isinstance(app.screen, TrustScreen)


async def test_item_keys_approve_reject_with_confirmation_restore(core: FrozenTrustCore) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_trust(pilot)
        await wait_for(pilot, lambda: "beacon-design-review" in detail(app))
        await pilot.press("a")                                            # approve: no question asked
        await wait_for(pilot, lambda: core.calls == [("trust_review", ("meetings", "2026-03-05-beacon-design-review",
                                                                        "approved"))])
        await wait_for(pilot, lambda: table(app, "#trust-queue").row_count == 5)
        assert any("2026-03-05-beacon-design-review: approved (active)" in n for n in notes(app))
        await wait_for(pilot, lambda: "heron-review" in detail(app))      # the next item moves up
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "rejected and quarantined" in str(app.screen.query_one("#confirm-body", Static).render())
        await pilot.press("escape")                                       # cancelled: nothing sent
        await pilot.pause(0.2)
        assert len(core.calls) == 1
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: core.calls[-1] == ("trust_review", ("meetings", "2026-03-24-heron-review",
                                                                          "rejected")))
        await wait_for(pilot, lambda: table(app, "#trust-queue").row_count == 4)
        await wait_for(pilot, lambda: "office.leeds.opening-hours" in detail(app))
        await pilot.press("r")
        await wait_for(pilot, lambda: core.calls[-1] == ("trust_review", ("facts", "office.leeds.opening-hours",
                                                                          "restore")))
        await wait_for(pilot, lambda: table(app, "#trust-queue").row_count == 3)
        # the alerts list acts on the item an alert names
        await show_tab(pilot, "tab-alerts")
        await select_row(pilot, "#trust-alerts", 3, "heron-review")
        await pilot.press("r")
        await wait_for(pilot, lambda: core.calls[-1] == ("trust_review", ("meetings", "2026-03-24-heron-review",
                                                                          "restore")))


async def test_contradiction_keys_keep_a_b_both_and_merge(core: FrozenTrustCore) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_trust(pilot)
        await show_tab(pilot, "tab-contra")
        await wait_for(pilot, lambda: "#26 number" in detail(app))
        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        body = str(app.screen.query_one("#confirm-body", Static).render())
        assert "docs/handbook/office-leeds#1 is approved" in body
        assert "facts/office.leeds.opening-hours is rejected and quarantined" in body
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert core.calls == []
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: core.calls == [("contradiction_resolve", (26, "A", None))])
        await wait_for(pilot, lambda: table(app, "#trust-contra").row_count == 2)
        assert any("contradiction #26: kept A" in n for n in notes(app))
        # the version conflict is now first: keep A says it writes the older text back
        await wait_for(pilot, lambda: "#31 version" in detail(app))
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "older text (v1) is written back" in str(app.screen.query_one("#confirm-body", Static).render())
        await pilot.press("escape")
        await pilot.press("b")                                            # both: a false alarm, no question
        await wait_for(pilot, lambda: core.calls[-1] == ("contradiction_resolve", (31, "both", None)))
        await wait_for(pilot, lambda: table(app, "#trust-contra").row_count == 1)
        await wait_for(pilot, lambda: "#40 owner" in detail(app))
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MergeModal))
        editor = app.screen.query_one("#merge-text", TextArea)
        assert editor.text == HERON_A                                     # prefilled with A
        assert "meetings/2026-03-24-heron-review) is deleted" in str(
            app.screen.query_one("#merge-consequence", Static).render())
        await pilot.press("escape")                                       # cancelled
        await pilot.pause(0.2)
        assert len(core.calls) == 2
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MergeModal))
        editor = app.screen.query_one("#merge-text", TextArea)
        editor.text = "   "
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, MergeModal)                          # empty: stays open and says why
        assert "empty" in str(app.screen.query_one("#merge-error", Static).render())
        merged = "Project Heron is owned by Tomasz Kowalski since 24 March; the weekly review is on Thursdays."
        editor.text = merged
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: core.calls[-1] == ("contradiction_resolve", (40, "merge", merged)))
        await wait_for(pilot, lambda: str(app.screen.query_one("#trust-contra-empty", Static).render())
                       == "no open contradictions" and app.screen.query_one("#trust-contra-empty").display)


async def test_keys_for_the_wrong_kind_of_entry_only_explain(core: FrozenTrustCore) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_trust(pilot)
        await pilot.press("A", "m")                                       # an item is selected
        await select_row(pilot, "#trust-queue", 3, "#26 number")
        await pilot.press("a", "x")                                       # a contradiction is selected
        await pilot.pause(0.2)
        assert core.calls == [] and isinstance(app.screen, TrustScreen)
        warnings = notes(app, "warning")
        assert any("A/B/b/m settle contradictions" in n for n in warnings)
        assert any("a/x/r act on items" in n for n in warnings)
        # queue rows of contradictions settle like the Contradictions tab
        await pilot.press("b")
        await wait_for(pilot, lambda: core.calls == [("contradiction_resolve", (26, "both", None))])


async def test_core_errors_are_notifications_not_crashes(core: FrozenTrustCore) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_trust(pilot)
        await wait_for(pilot, lambda: "beacon" in detail(app))
        core.fail["trust_review"] = InvalidInput("meetings/2026-03-05-beacon-design-review is deleted",
                                                 hint="only active or quarantined items are reviewed")
        await pilot.press("a")
        await wait_for(pilot, lambda: any("is deleted" in n for n in notes(app, "error")))
        assert any("only active or quarantined" in n for n in notes(app, "error"))
        assert isinstance(app.screen, TrustScreen) and table(app, "#trust-queue").row_count == 6
        core.fail["contradiction"] = StorageError("the database is locked")
        await select_row(pilot, "#trust-queue", 4, "cannot show this entry: the database is locked")
        core.fail["trust_recompute"] = StorageError("the disk is full", hint="free some space")
        await pilot.press("R")
        await wait_for(pilot, lambda: any("trust-recompute failed: the disk is full" in n
                                          for n in notes(app, "error")))
        await wait_for(pilot, lambda: "free some space" in str(app.screen.query_one("#trust-status", Static).render()))
        core.fail["trust_summary"] = StorageError("cannot read trust scores")
        await pilot.press("f5")
        await wait_for(pilot, lambda: any("cannot read trust scores" in n for n in notes(app, "error")))
        assert isinstance(app.screen, TrustScreen)


async def test_empty_states_then_recompute_fills_the_dashboard(md: Memdeck) -> None:
    core = FrozenTrustCore(md, empty=True)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_trust(pilot, queue=0)
        await wait_for(pilot, lambda: screen.query_one("#trust-coll-empty").display)
        assert str(screen.query_one("#trust-coll-empty", Static).render()) == NOT_SCORED
        assert not screen.query_one("#trust-collections").display
        assert NOT_SCORED in str(screen.query_one("#trust-model", Static).render())
        assert str(screen.query_one("#trust-queue-empty", Static).render()) == "nothing to review"
        assert screen.query_one("#trust-queue-empty").display
        assert NOT_SCORED in detail(app)
        await show_tab(pilot, "tab-contra")
        assert screen.query_one("#trust-contra-empty").display
        assert str(screen.query_one("#trust-contra-empty", Static).render()) == "no open contradictions"
        await pilot.press("R")
        await wait_for(pilot, lambda: ("trust_recompute", (False,)) in core.calls)
        await wait_for(pilot, lambda: any("trust recomputed: 328 scored, 3 new contradiction(s), 2 quarantined"
                                          in n for n in notes(app)))
        await wait_for(pilot, lambda: any("contradiction #31" in n for n in notes(app, "warning")))  # trust.alert
        await wait_for(pilot, lambda: table(app, "#trust-contra").row_count == 3)
        assert screen.query_one("#trust-collections").display and not screen.query_one("#trust-coll-empty").display
        assert not screen.query_one("#trust-contra-empty").display


async def test_bus_events_refresh_and_alert(core: FrozenTrustCore, md: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_trust(pilot)
        await pilot.pause(0.3)
        before = core.reads["trust_summary"]
        for n in range(3):  # a burst: one notification, one refresh
            md.bus.publish("trust.alert", target=f"facts/k{n}", alert="quarantine", message=f"quarantined facts/k{n}")
        md.bus.publish("trust.changed", scored=328, quarantined=3, restored=0, contradictions_new=0)
        await wait_for(pilot, lambda: any("quarantined facts/k0" in n and "2 more" in n for n in notes(app, "warning")))
        await wait_for(pilot, lambda: core.reads["trust_summary"] == before + 1)
        await pilot.pause(0.5)
        assert core.reads["trust_summary"] == before + 1
        assert len([n for n in notes(app, "warning") if "quarantined facts/k" in n]) == 1


async def test_narrow_terminal_is_usable(core: FrozenTrustCore) -> None:
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_trust(pilot)
        assert "7 Trust" in str(screen.query_one("#mode-bar", Static).render())
        assert not screen.query_one("#trust-hist").display or screen.query_one("#trust-hist").region.width == 0
        queue = table(app, "#trust-queue")
        assert queue.region.width >= 76 and queue.region.height >= 4
        assert queue.virtual_size.width <= queue.scrollable_content_region.width + 1   # no sideways scrolling
        await select_row(pilot, "#trust-queue", 3, "#26 number")
        await pilot.press("enter")
        assert isinstance(app.screen, TrustDetailModal)
        assert LEEDS_A[:30] in plain(app.screen.query_one("#trust-detail-modal-body", Static).content)
        await pilot.press("escape")
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: core.calls == [("contradiction_resolve", (26, "A", None))])


def test_alert_targets() -> None:
    assert alert_target({"kind": "contradiction", "target": "a/b ↔ c/d", "message": "contradiction #26 (x)"}) == \
        ("contradiction", "26", "")
    assert alert_target({"kind": "quarantine", "target": "facts/office.leeds", "message": "q"}) == \
        ("item", "facts", "office.leeds")
    assert alert_target({"kind": "quarantine", "target": "*", "message": "18 more"}) is None


async def test_no_core_call_runs_on_the_event_loop(md: Memdeck, request: pytest.FixtureRequest) -> None:
    """Mode 7 under the same probe as tests/test_tui.py's: every trust call sleeps 0.4 s, and the loop
    must not notice, through the first load, selecting, a resolve and a recompute."""
    frozen = FrozenTrustCore(md)
    slow = SlowRecordingCore(frozen, delay=0.4)  # type: ignore[arg-type]  # slow, over the trust fixtures
    app = make_app(slow)
    lags: list[float] = []
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
        await pilot.pause(0.2)
        await pilot.press("7")
        await wait_for(pilot, lambda: table(app, "#trust-queue").row_count == 6)
        task = asyncio.create_task(probe())
        await wait_for(pilot, lambda: "contrib" in detail(app))
        table(app, "#trust-queue").move_cursor(row=3)
        await wait_for(pilot, lambda: "#26 number" in detail(app))
        await pilot.press("b")
        await wait_for(pilot, lambda: ("contradiction_resolve", (26, "both", None)) in frozen.calls)
        await pilot.press("R")
        await wait_for(pilot, lambda: any(n == "trust_recompute" for n, _ in slow.calls))
        await pilot.pause(1.0)
        task.cancel()
    names = {name for name, _ in slow.calls}
    assert {"trust_summary", "review_queue", "contradictions", "trust_show", "contradiction",
            "contradiction_resolve", "trust_recompute"} <= names
    on_loop = [name for name, on_main in slow.calls if on_main]
    assert on_loop == [], f"core calls on the event loop: {on_loop}"
    assert lags and max(lags) < 0.3, f"event loop stalled {max(lags) * 1000:.0f} ms during core calls"


async def test_against_the_real_facade(md: Memdeck) -> None:
    """The same screen on core/facade_trust.py itself: catches drift between the fixtures and the contract."""
    md.put("facts", "office.leeds.opening-hours", "The Leeds office is open from 07:00 to 19:00, Monday to Friday.")
    md.put("docs", "handbook/office-leeds#1", "The Leeds office is open from 08:00 to 18:00, Monday to Friday, "
           "and closed on bank holidays.")
    md.put("facts", "office.porto.site-lead", "Daniel Costa is the Porto Site Lead.")
    md.put("facts", "office.porto.site-lead", "Ines Carvalho is the Porto Site Lead since September 2026.")
    md.trust_recompute(full=True)
    opened = {c["id"]: c for c in md.contradictions("open")}
    version = next(c for c in opened.values() if c["a"]["id"] == c["b"]["id"])
    app = make_app(md)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.1)
        await pilot.press("7")
        await wait_for(pilot, lambda: table(app, "#trust-contra").row_count == len(opened))
        assert table(app, "#trust-collections").row_count == len(md.trust_summary()["collections"]) == 2
        await show_tab(pilot, "tab-contra")
        row = list(opened).index(version["id"])
        await select_row(pilot, "#trust-contra", row, "v1 (older)")
        assert "Daniel Costa" in detail(app) and "Ines Carvalho" in detail(app)
        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: table(app, "#trust-contra").row_count == len(opened) - 1)
        assert version["id"] not in {c["id"] for c in md.contradictions("open")}
        await show_tab(pilot, "tab-queue")
        await wait_for(pilot, lambda: table(app, "#trust-queue").row_count == len(md.review_queue()))
