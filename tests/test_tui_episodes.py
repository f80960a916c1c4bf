"""The Episodes screen, driven with Pilot: sessions, transcript, memories per turn (then vs now), the
filter line, ratings, summaries in a core job, the daily report with sparklines, and narrow terminals."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder, fake_loader
from textual.widgets import DataTable, Input, Label, Sparkline, Static
from tui_support import FROZEN_NOW, fixed_system_stats, seed_episodes

from core.memdeck import Memdeck
from core.paths import resource_dir
from screens.ask import CitationPicker
from screens.episodes import EpisodesScreen, ReportModal, SummaryModal, TurnModal, parse_episode_filter
from screens.explorer import ExplorerScreen
from tui.app import MemdeckApp
from tui.modals import HelpModal


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Memdeck]:
    md = Memdeck.open(tmp_path / "data", embedder=WordHashEmbedder(), llm_loader=fake_loader(reply="A summary."))
    lines = (resource_dir() / "demo" / "items.jsonl").read_text(encoding="utf-8").splitlines()
    md.put_many([json.loads(line) for line in lines if line.strip()])
    yield md
    md.close()


@pytest.fixture
def ids(core: Memdeck) -> dict[str, int]:
    return seed_episodes(core)


def make_app(core: Any, **kw: Any) -> MemdeckApp:
    return MemdeckApp(core=core, system_stats=fixed_system_stats, start_background=False,
                      clock=lambda: FROZEN_NOW, **kw)


async def wait_for(pilot: Any, predicate: Any, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.03)


def table(app: MemdeckApp, selector: str) -> DataTable[Any]:
    return app.screen.query_one(selector, DataTable)


def column(app: MemdeckApp, selector: str, index: int) -> list[str]:
    t = table(app, selector)
    return [str(t.get_row_at(i)[index]) for i in range(t.row_count)]


def detail(app: MemdeckApp) -> str:
    return str(app.screen.query_one("#ep-detail-body", Static).render())


async def apply_filter(pilot: Any, text: str) -> None:
    box = pilot.app.screen.query_one("#ep-filter", Input)
    await pilot.press("slash")
    assert pilot.app.focused is box
    box.value = text
    await pilot.press("enter")


async def open_episodes(pilot: Any, sessions: int = 3) -> None:
    await pilot.press("6")
    assert isinstance(pilot.app.screen, EpisodesScreen)
    await wait_for(pilot, lambda: table(pilot.app, "#ep-sessions").row_count == sessions)
    await wait_for(pilot, lambda: "#" in detail(pilot.app))


def test_filter_line_parses_dates_and_ratings() -> None:
    flt = parse_episode_filter("since:7d until:2026-09-21 rating:+1", FROZEN_NOW)
    assert flt.since == FROZEN_NOW - 7 * 86_400 and flt.rating == "up"
    assert flt.until == 1_789_948_800.0  # 2026-09-21 00:00 UTC
    assert parse_episode_filter("rating:unrated", FROZEN_NOW).rating == "unrated"
    assert parse_episode_filter("", FROZEN_NOW).describe() == ""
    from core.errors import InvalidInput

    for bad in ("rating:maybe", "since:yesterday", "porto", "since:1d until:3d"):
        with pytest.raises(InvalidInput):
            parse_episode_filter(bad, FROZEN_NOW)


async def test_sessions_transcript_and_memories_then_vs_now(core: Memdeck, ids: dict[str, int]) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_episodes(pilot)
        assert column(app, "#ep-sessions", 3) == ["s20260921T090000Z-a1f3", "s20260919T161500Z-77c0",
                                                  "s20260911T100000Z-0a1b"]
        assert column(app, "#ep-sessions", 1) == ["3", "2", "1"]
        # the newest session, its transcript oldest first, the last turn selected
        assert column(app, "#ep-turns", 4) == ["Who leads the Porto site?", "When does the Porto team move?",
                                               "When does the Cedofeita lease end?"]
        assert column(app, "#ep-turns", 2) == ["memory", "retrieval", "memory"]
        assert "facts/office.porto.lease-end" in detail(app) and "The lease ends" in detail(app)
        table(app, "#ep-turns").focus()
        await pilot.press("up")
        await wait_for(pilot, lambda: "retrieval-only: no model (no model selected" in detail(app))
        assert "memories retrieved (2)" in detail(app)
        await pilot.press("up")
        await wait_for(pilot, lambda: "Who leads" in detail(app))
        text = detail(app)
        assert "v1 → v2  changed since" in text and "1 changed since" in text
        assert "then: Daniel Costa is the Porto Site Lead" in text and "now:  Ines Carvalho" in text
        assert "rated helpful (+1)" in text
        # another session
        table(app, "#ep-sessions").focus()
        await pilot.press("down")
        await wait_for(pilot, lambda: column(app, "#ep-turns", 4) == ["How do I reset a Dock 2 after a fault?",
                                                                      "What is the capital of France?"])
        await wait_for(pilot, lambda: "model-only: memory had nothing" in detail(app))
        assert column(app, "#ep-turns", 3) == ["+1", "-1"]
        assert column(app, "#ep-turns", 2) == ["memory", "model"]


async def test_filter_by_rating_and_dates(core: Memdeck, ids: dict[str, int]) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_episodes(pilot)
        await apply_filter(pilot, "rating:down")
        await wait_for(pilot, lambda: column(app, "#ep-sessions", 3) == ["s20260919T161500Z-77c0"])
        status = str(app.screen.query_one("#ep-status", Static).render())
        assert "1 session(s)" in status and "rating:down" in status
        await apply_filter(pilot, "since:7d rating:up")
        await wait_for(pilot, lambda: column(app, "#ep-sessions", 3) == ["s20260921T090000Z-a1f3",
                                                                         "s20260919T161500Z-77c0"])
        await apply_filter(pilot, "until:2026-09-15")
        await wait_for(pilot, lambda: column(app, "#ep-sessions", 3) == ["s20260911T100000Z-0a1b"])
        await apply_filter(pilot, "rating:sideways")
        await wait_for(pilot, lambda: "unknown rating" in str(app.screen.query_one("#ep-status", Static).render()))
        assert column(app, "#ep-sessions", 3) == ["s20260911T100000Z-0a1b"]  # the last good filter stays
        await apply_filter(pilot, "since:2026-09-01 until:2026-09-02")
        await wait_for(pilot, lambda: table(app, "#ep-sessions").row_count == 0)
        assert "No session matches" in str(app.screen.query_one("#ep-status", Static).render())
        assert table(app, "#ep-turns").row_count == 0


async def test_rating_the_selected_turn(core: Memdeck, ids: dict[str, int]) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_episodes(pilot)
        await pilot.press("minus")  # the last turn of the newest session
        await wait_for(pilot, lambda: column(app, "#ep-turns", 3)[-1] == "-1")
        assert core.episode(ids["lease"])["rating"] == -1
        table(app, "#ep-turns").focus()
        await pilot.press("up", "plus")
        await wait_for(pilot, lambda: core.episode(ids["move"])["rating"] == 1)
        await wait_for(pilot, lambda: column(app, "#ep-sessions", 2)[0] == "+2 -1")


async def test_summarise_the_session_and_the_period(core: Memdeck, ids: dict[str, int]) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_episodes(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryModal))
        assert "session s20260921T090000Z-a1f3" in str(app.screen.query_one(".dialog-title", Label).render())
        assert "written by the model" in str(app.screen.query_one("#summary-method", Static).render())
        assert "3 episode(s)" in str(app.screen.query_one("#summary-method", Static).render())
        assert "A summary." in str(app.screen.query_one("#summary-text", Static).render())
        await pilot.press("escape")
        core.model_unload()  # without a model: the extractive summary, and it says so
        await apply_filter(pilot, "since:7d")
        await wait_for(pilot, lambda: table(app, "#ep-sessions").row_count == 2)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryModal))
        method = str(app.screen.query_one("#summary-method", Static).render())
        assert "extractive" in method and "no model selected" in method and "5 episode(s)" in method
        assert "Porto" in str(app.screen.query_one("#summary-text", Static).render())


async def test_daily_report_with_sparklines(core: Memdeck, ids: dict[str, int],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import core.facade_ask as facade_ask

    monkeypatch.setattr(facade_ask.time, "time", lambda: FROZEN_NOW)
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_episodes(pilot)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportModal))
        days = column(app, "#report-table", 0)
        assert days[0] == "2026-09-15" and days[-1] == "2026-09-21" and len(days) == 7
        assert column(app, "#report-table", 1) == ["0", "0", "0", "0", "2", "0", "3"]
        latency = app.screen.query_one("#report-latency", Sparkline).data
        satisfaction = app.screen.query_one("#report-satisfaction", Sparkline).data
        assert latency is not None and len(latency) == 7 and max(latency) > 0
        assert satisfaction is not None and satisfaction[4] == 0.5 and satisfaction[6] == 1.0
        assert "total 5 ask(s)" in str(app.screen.query_one("#report-totals", Static).render())


async def test_open_a_used_memory_in_the_explorer(core: Memdeck, ids: dict[str, int]) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_episodes(pilot)
        table(app, "#ep-turns").focus()
        await pilot.press("up")  # "When does the Porto team move?": two memories
        await wait_for(pilot, lambda: "memories retrieved (2)" in detail(app))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, CitationPicker))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen))
        await wait_for(pilot, lambda: "facts/office.porto.new-address" in
                       str(app.screen.query_one("#detail-title", Label).render()))


async def test_new_answers_from_ask_appear(core: Memdeck, ids: dict[str, int]) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_episodes(pilot)
        await pilot.press("5")
        box = app.screen.query_one("#ask-input", Input)
        box.value = "How do I reset a Dock 2?"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(core.episode_sessions()) == 4)
        await pilot.press("escape", "6")
        await wait_for(pilot, lambda: table(app, "#ep-sessions").row_count == 4)


async def test_help_and_narrow_terminal(core: Memdeck, ids: dict[str, int]) -> None:
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_episodes(pilot)
        assert app.screen.has_class("narrow")
        sessions, turns = table(app, "#ep-sessions"), table(app, "#ep-turns")
        assert sessions.region.width >= 78 and turns.region.y > sessions.region.y
        assert app.screen.query_one("#ep-detail").region.height >= 3
        await pilot.press("enter")  # a session: on to its turns; enter again: the turn in full
        assert app.focused is turns
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TurnModal))
        body = str(app.screen.query_one("#turn-body", Static).render())
        assert "The lease ends on 2026-06-30" in body and "memories retrieved (1)" in body
        await pilot.press("escape")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpModal))
        keys = str(app.screen.query_one("#help-keys", Static).render())
        for key in ("plus,u", "minus,d", "s ", "p ", "r ", "o ", "/ "):
            assert key in keys, key
