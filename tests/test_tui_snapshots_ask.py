"""How Ask and Episodes look, at 80x24 and 120x36: the demo corpus, a fake model with fixed replies,
episodes seeded at fixed times, frozen clocks and timings, no blinking cursor. Review changed snapshots
by eye before updating them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder, fake_loader
from textual.widgets import DataTable, Input
from tui_support import FROZEN_NOW, FrozenAskCore, fixed_system_stats, seed_episodes

from core.memdeck import Memdeck
from core.paths import resource_dir
from core.roles import Identity
from tui.app import MemdeckApp

SIZES = [(80, 24), (120, 36)]
DOCK_ANSWER = ("Pause the dock in Fleet Manager, let it cool for 20 minutes if the fault code is E23, then press "
               "and hold reset [1]. Escalate a dock that faults three times in 24 hours [2].")
SUMMARY = ("People asked who leads the Porto site, when the Porto team moves and when the Cedofeita lease "
           "ends. The move answer came without a model. Memory about the Porto site lead has changed since.")


def demo_reply(messages: list[dict[str, str]]) -> str:
    last = messages[-1]["content"]
    if last.startswith("Summarise this log"):
        return SUMMARY
    if "Porto" in last.rsplit("Question:", 1)[-1]:
        raise RuntimeError("the model ran out of memory")
    return DOCK_ANSWER


@pytest.fixture
def demo_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Memdeck]:
    import core.store

    # core.store's time is the time module: every wall clock in core reads this frozen value
    monkeypatch.setattr(core.store.time, "time", lambda: FROZEN_NOW - 3600)
    md = Memdeck.open(tmp_path / "demo", embedder=WordHashEmbedder(), identity=Identity("alice", ("staff",)),
                      llm_loader=fake_loader(reply=demo_reply))
    lines = (resource_dir() / "demo" / "items.jsonl").read_text(encoding="utf-8").splitlines()
    md.put_many([json.loads(line) for line in lines if line.strip()])
    md.config_set("ask.retries", "0")
    md.heartbeat_once("timer")
    yield md
    md.close()


def app_for(core: Memdeck) -> MemdeckApp:
    return MemdeckApp(core=FrozenAskCore(core), system_stats=fixed_system_stats, clock=lambda: FROZEN_NOW,
                      start_background=False, blink=False)


async def _until(pilot: Any, predicate: Any, tries: int = 300) -> None:
    for _ in range(tries):
        if predicate():
            break
        await pilot.pause(0.05)


async def _ask(pilot: Any, question: str, n: int) -> None:
    screen = pilot.app.screen
    box = screen.query_one("#ask-input", Input)
    box.focus()
    box.value = question
    await pilot.press("enter")
    await _until(pilot, lambda: len(screen.turns) >= n and screen.turns[n - 1].state != "running")


async def _ask_ready(pilot: Any) -> None:
    await pilot.pause(0.2)
    await pilot.press("5")
    await _ask(pilot, "How do I reset a Dock 2 after a fault?", 1)
    await pilot.press("escape", "plus")
    await _until(pilot, lambda: pilot.app.screen.turns[0].rating == 1)
    await _ask(pilot, "Who leads the Porto site?", 2)
    await _until(pilot, lambda: "(loaded)" in str(pilot.app.screen.query_one("#ask-info").render()))
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_ask(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(demo_core), terminal_size=size, run_before=_ask_ready)


async def _episodes_ready(pilot: Any) -> None:
    await pilot.pause(0.2)
    await pilot.press("6")
    screen = pilot.app.screen
    await _until(pilot, lambda: screen.query_one("#ep-sessions", DataTable).row_count == 3
                 and "lease ends" in str(screen.query_one("#ep-detail-body").render()))
    screen.query_one("#ep-turns", DataTable).focus()
    await pilot.press("up", "up")  # "Who leads the Porto site?": its memory changed since
    await _until(pilot, lambda: "changed since" in str(screen.query_one("#ep-detail-body").render()))
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_episodes(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    seed_episodes(demo_core)
    assert snap_compare(app_for(demo_core), terminal_size=size, run_before=_episodes_ready)


def test_episodes_report(snap_compare: Any, demo_core: Memdeck) -> None:
    seed_episodes(demo_core)

    async def report(pilot: Any) -> None:
        await _episodes_ready(pilot)
        await pilot.press("r")
        await _until(pilot, lambda: type(pilot.app.screen).__name__ == "ReportModal")
        await pilot.pause(0.3)

    assert snap_compare(app_for(demo_core), terminal_size=(120, 36), run_before=report)


def test_episodes_summary(snap_compare: Any, demo_core: Memdeck) -> None:
    seed_episodes(demo_core)

    async def summary(pilot: Any) -> None:
        await _episodes_ready(pilot)
        await pilot.press("s")
        await _until(pilot, lambda: type(pilot.app.screen).__name__ == "SummaryModal")
        await pilot.pause(0.3)

    assert snap_compare(app_for(demo_core), terminal_size=(120, 36), run_before=summary)
