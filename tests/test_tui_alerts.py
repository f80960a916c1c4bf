"""Trust and training alerts reach the user on whatever screen they are on, grouped, and once.

The Trust and Training screens toast their own alerts once they are open; before that (the app
starts on Health, and an admin may never open Trust), the app shell does it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import WordHashEmbedder
from tui_support import fixed_system_stats, wait_for

from core.memdeck import Memdeck
from screens.trust import TrustScreen
from tui.app import MemdeckApp


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Memdeck]:
    md = Memdeck.open(tmp_path / "data", embedder=WordHashEmbedder())
    md.put("facts", "k1", "a fact about docking stations")
    yield md
    md.close()


def toasts(app: MemdeckApp, title: str) -> list[str]:
    return [str(n.message) for n in app._notifications if n.title == title]


async def test_alerts_show_on_any_screen_grouped_and_once(core: Memdeck) -> None:
    app = MemdeckApp(core=core, system_stats=fixed_system_stats, start_background=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.2)  # on Health; Trust and Training were never opened
        for n in range(3):
            core.bus.publish("trust.alert", target=f"facts/k{n}", alert="low_trust", message=f"low trust k{n}")
        core.bus.publish("train.alert", run_id=4, message="training run 4 rolled back: canary 20/21")
        await wait_for(pilot, lambda: toasts(app, "Trust alert") and toasts(app, "Training alert"))
        await pilot.pause(0.7)  # past the grouping window: nothing else arrives
        assert toasts(app, "Trust alert") == ["low trust k0\n…and 2 more"]
        assert toasts(app, "Training alert") == ["training run 4 rolled back: canary 20/21"]

        await pilot.press("7")
        await wait_for(pilot, lambda: isinstance(app.screen, TrustScreen))
        app.clear_notifications()
        core.bus.publish("trust.alert", target="facts/k9", alert="low_trust", message="low trust k9")
        await wait_for(pilot, lambda: any("k9" in n.message for n in app._notifications))
        await pilot.pause(0.7)
        assert sum("k9" in str(n.message) for n in app._notifications) == 1, "the screen toasts it, not both"

        await pilot.press("1")  # Trust stays mounted after leaving it: it still toasts, once
        app.clear_notifications()
        core.bus.publish("trust.alert", target="facts/k8", alert="low_trust", message="low trust k8")
        await wait_for(pilot, lambda: any("k8" in n.message for n in app._notifications))
        await pilot.pause(0.7)
        assert sum("k8" in str(n.message) for n in app._notifications) == 1
