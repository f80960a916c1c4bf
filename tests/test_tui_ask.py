"""The Ask screen, driven with Pilot against a real core and a fake model: streaming, cancel, citations
into the Explorer, ratings, fallbacks, sessions, errors, and no core call on the event loop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder, fake_loader
from textual.widgets import Input, Label, OptionList, Static
from tui_support import SlowRecordingCore, fixed_system_stats

from core.memdeck import Memdeck
from screens.ask import AskScreen, CitationPicker, TurnView
from screens.explorer import ExplorerScreen
from tui.app import MemdeckApp
from tui.modals import ErrorModal, HelpModal

FACTS = [
    ("facts", "office.leeds", "The Leeds office is on Wellington Street and opens at eight."),
    ("facts", "battery.picker3", "Picker 3 battery life is ten hours on a full charge."),
    ("docs", "runbook/dock#1", "To reset a charging dock hold the service button for ten seconds."),
    ("docs", "runbook/dock#2", "Escalate a dock that faults three times in one day."),
]
LONG = " ".join(["Hold the service button for ten seconds [1]."] + [f"word{i}" for i in range(40)])


def open_core(data_dir: Path, **fake: Any) -> Memdeck:
    md = Memdeck.open(data_dir, embedder=WordHashEmbedder(), llm_loader=fake_loader(**fake))
    if not md.list_items("facts"):
        md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
    return md


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Memdeck]:
    md = open_core(tmp_path / "data", reply="Hold the service button for ten seconds [1].")
    yield md
    md.close()


def make_app(core: Any) -> MemdeckApp:
    return MemdeckApp(core=core, system_stats=fixed_system_stats, start_background=False)


async def wait_for(pilot: Any, predicate: Any, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


def ask_screen(app: MemdeckApp) -> AskScreen:
    screen = app.mode_screens["ask"]
    assert isinstance(screen, AskScreen)
    return screen


def turn_texts(app: MemdeckApp) -> list[str]:
    return [str(v.render()) for v in ask_screen(app).query(TurnView)]


def finished(app: MemdeckApp, n: int = 1) -> bool:
    screen = ask_screen(app)
    return len(screen.turns) >= n and screen.turns[n - 1].state != "running"


async def ask(pilot: Any, question: str) -> None:
    app = pilot.app
    if not isinstance(app.screen, AskScreen):
        await pilot.press("5")
    box = app.screen.query_one("#ask-input", Input)
    box.focus()
    box.value = question
    await pilot.press("enter")


async def test_answer_streams_in_before_the_job_ends(tmp_path: Path) -> None:
    md = open_core(tmp_path / "data", reply=LONG, token_delay=0.03)
    app = make_app(md)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await ask(pilot, "how do I reset a charging dock?")
            screen = ask_screen(app)
            # part of the answer is on screen while the core job is still generating
            await wait_for(pilot, lambda: "Hold the service" in "".join(turn_texts(app)))
            assert screen._job is not None and screen.turns[0].state == "running"
            assert "word39" not in "".join(turn_texts(app))
            assert "answering" in turn_texts(app)[0]
            await wait_for(pilot, lambda: finished(app))
            text = turn_texts(app)[0]
            assert "word39" in text and "from memory" in text
            assert "[1] docs/runbook/dock#1 v1 · trust -" in text
            prompt_tokens = md.episode(1)["prompt_tokens"]
            for stage in ("embed", "retrieve", "prompt", "generate", "total", "ms",
                          f"tokens {prompt_tokens} in, 48 out", "cache miss"):
                assert stage in text
            assert "episode #1" in text
            assert str(screen.query_one("#ask-info", Static).render()).count("1 turn(s)") == 1
    finally:
        md.close()


async def test_escape_cancels_and_keeps_the_partial_answer(tmp_path: Path) -> None:
    md = open_core(tmp_path / "data", reply=LONG, token_delay=0.05)
    app = make_app(md)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await ask(pilot, "how do I reset a charging dock?")
            await wait_for(pilot, lambda: "service" in "".join(turn_texts(app)))
            await pilot.press("escape")
            await wait_for(pilot, lambda: finished(app))
            turn = ask_screen(app).turns[0]
            assert turn.state == "cancelled"
            text = turn_texts(app)[0]
            assert "cancelled: partial answer" in text and "word39" not in text
            assert ask_screen(app)._job is None
        [ep] = md.episodes_recent()
        assert ep["error"] == "cancelled" and ep["answer"] and "word39" not in ep["answer"]
    finally:
        md.close()


async def test_citation_opens_the_item_in_the_explorer(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await ask(pilot, "how do I reset a charging dock?")
        await wait_for(pilot, lambda: finished(app))
        await pilot.press("escape")  # to the transcript: keys act on the selected answer
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen))
        await wait_for(pilot, lambda: "docs/runbook/dock#1" in str(app.screen.query_one("#detail-title", Label)
                                                                    .render()))
        assert app.screen.query_one("#search", Input).value == "runbook/dock#1"


async def test_several_citations_ask_which_to_open(tmp_path: Path) -> None:
    md = open_core(tmp_path / "data", reply="Hold the button [1] and escalate repeat faults [2].")
    app = make_app(md)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await ask(pilot, "charging dock reset and faults")
            await wait_for(pilot, lambda: finished(app))
            cites = ask_screen(app).turns[0].citations
            assert len(cites) == 2
            text = turn_texts(app)[0]
            assert "[1] docs/" in text and "[2] docs/" in text
            await pilot.press("escape", "o")
            await wait_for(pilot, lambda: isinstance(app.screen, CitationPicker)
                           and app.screen.query_one(OptionList).has_focus)
            await pilot.press("down", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ExplorerScreen))
            want = f"{cites[1]['collection']}/{cites[1]['key']}"
            await wait_for(pilot, lambda: want in str(app.screen.query_one("#detail-title", Label).render()))
    finally:
        md.close()


async def test_thumbs_are_recorded_in_the_core(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await ask(pilot, "how do I reset a charging dock?")
        await wait_for(pilot, lambda: finished(app))
        await pilot.press("escape", "plus")
        await wait_for(pilot, lambda: "rated helpful (+1)" in turn_texts(app)[0])
        assert core.episodes_recent()[0]["rating"] == 1
        await pilot.press("minus")
        await wait_for(pilot, lambda: "rated not helpful (-1)" in turn_texts(app)[0])
        assert core.episodes_recent()[0]["rating"] == -1
        await pilot.press("u")
        await wait_for(pilot, lambda: core.episodes_recent()[0]["rating"] == 1)


async def test_up_down_select_the_answer_that_gets_rated(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await ask(pilot, "how do I reset a charging dock?")
        await wait_for(pilot, lambda: finished(app))
        await ask(pilot, "when does the Leeds office open?")
        await wait_for(pilot, lambda: finished(app, 2))
        await pilot.press("escape", "up", "d")
        first, second = ask_screen(app).turns
        await wait_for(pilot, lambda: first.rating == -1)
        assert second.rating is None
        assert {e["question"]: e["rating"] for e in core.episodes_recent()} == {
            "how do I reset a charging dock?": -1, "when does the Leeds office open?": None}


async def test_a_failing_model_falls_back_to_retrieval_only(tmp_path: Path) -> None:
    md = open_core(tmp_path / "data", reply="never said", fail_times=99)
    md.config_set("ask.retries", "0")
    app = make_app(md)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await ask(pilot, "how do I reset a charging dock?")
            await wait_for(pilot, lambda: finished(app))
            text = turn_texts(app)[0]
            assert "retrieval-only: no model (generation failed" in text
            assert "[1] docs/runbook/dock#1" in text and "hold the service button" in text
    finally:
        md.close()


async def test_no_model_is_shown_as_retrieval_only(core: Memdeck) -> None:
    core.model_unload()
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: "model: none" in str(app.screen.query_one("#ask-info", Static).render()))
        await ask(pilot, "how do I reset a charging dock?")
        await wait_for(pilot, lambda: finished(app))
        assert "retrieval-only: no model (no model selected" in turn_texts(app)[0]


async def test_new_session_starts_over(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await ask(pilot, "how do I reset a charging dock?")
        await wait_for(pilot, lambda: finished(app))
        await ask(pilot, "and if it faults again?")
        await wait_for(pilot, lambda: finished(app, 2))
        first = ask_screen(app).session
        assert first is not None and len(core.episode_sessions()) == 1
        await pilot.press("escape", "n")
        assert ask_screen(app).session is None and turn_texts(app) == []
        assert "New session" in str(app.screen.query_one("#ask-empty", Static).render())
        assert app.focused is app.screen.query_one("#ask-input", Input)
        await ask(pilot, "when does the Leeds office open?")
        await wait_for(pilot, lambda: finished(app))
        assert ask_screen(app).session not in (None, first)
    sessions = core.episode_sessions()
    assert sorted(s["turns"] for s in sessions) == [1, 2]


async def test_an_empty_question_does_nothing(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await ask(pilot, "   ")
        await pilot.pause(0.3)
        assert ask_screen(app).turns == [] and ask_screen(app)._job is None
    assert core.episodes_recent() == []


async def test_a_rejected_question_shows_the_error(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await ask(pilot, "x" * 5000)
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "limit" in str(app.screen.query_one("#error-message", Static).render())
        await pilot.press("escape")
        assert ask_screen(app).turns[0].state == "failed"
        assert "failed" in turn_texts(app)[0]


async def test_ask_never_runs_on_the_event_loop(core: Memdeck) -> None:
    slow = SlowRecordingCore(core, delay=0.2)
    app = make_app(slow)
    async with app.run_test(size=(120, 36)) as pilot:
        await ask(pilot, "how do I reset a charging dock?")
        await wait_for(pilot, lambda: finished(app))
        await pilot.press("escape", "plus")
        await wait_for(pilot, lambda: any(name == "episode_feedback" for name, _ in slow.calls))
    names = {name for name, _ in slow.calls}
    assert {"ask", "models", "episode_feedback"} <= names
    assert not [c for c in slow.calls if c[1]], f"core called on the event loop: {slow.calls}"


async def test_help_lists_the_keys_and_it_works_at_80_columns(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await ask(pilot, "how do I reset a charging dock?")
        await wait_for(pilot, lambda: finished(app))
        assert "[1] docs/runbook/dock#1" in turn_texts(app)[0]
        assert app.screen.query_one("#ask-input", Input).region.width > 60
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpModal))
        keys = str(app.screen.query_one("#help-keys", Static).render())
        for key in ("escape", "plus,u", "minus,d", "o ", "n ", "5 ", "6 "):
            assert key in keys, key


async def test_the_same_question_again_is_a_cache_hit(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await ask(pilot, "how do I reset a charging dock?")
        await wait_for(pilot, lambda: finished(app))
        await ask(pilot, "How do I reset a charging dock?")
        await wait_for(pilot, lambda: finished(app, 2))
        first, second = turn_texts(app)
        assert "cache miss" in first and "cache hit" in second and "cache " in second.split("total")[0]
        assert "Hold the service button" in second and "[1] docs/runbook/dock#1" in second


async def test_palette_entries_reach_both_screens(core: Memdeck) -> None:
    from tui.app import MemdeckCommands

    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        names = [name for name, _, _ in MemdeckCommands(app.screen)._commands()]
        assert {"Go to Ask", "New ask session", "Go to Episodes", "Daily report"} <= set(names)
        await ask(pilot, "how do I reset a charging dock?")
        await wait_for(pilot, lambda: finished(app))
        app.run_screen_action("ask", "new_session")
        await wait_for(pilot, lambda: ask_screen(app).turns == [])
        app.run_screen_action("episodes", "report")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ReportModal")
