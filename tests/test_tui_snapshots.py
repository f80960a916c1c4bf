"""How the console looks: every screen and modal at 80x24 and 120x36, with seeded data, frozen clocks,
fixed system stats and no blinking cursors. Review changed snapshots by eye before updating them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder
from textual.widgets import DataTable, Input
from tui_support import FROZEN_NOW, FrozenCore, fixed_system_stats

from core.errors import ApprovalRequired
from core.memdeck import Memdeck
from core.paths import resource_dir
from core.roles import Identity
from tui.app import MemdeckApp

SIZES = [(80, 24), (120, 36)]


@pytest.fixture
def demo_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Memdeck]:
    import core.approvals
    import core.audit
    import core.backup
    import core.heartbeat
    import core.store

    monkeypatch.setattr(core.store.time, "time", lambda: FROZEN_NOW - 3600)
    monkeypatch.setattr(core.audit.time, "time", lambda: FROZEN_NOW - 3600)
    monkeypatch.setattr(core.approvals.time, "time", lambda: FROZEN_NOW - 600)
    monkeypatch.setattr(core.backup.time, "time", lambda: FROZEN_NOW - 1800)
    monkeypatch.setattr(core.heartbeat.time, "time", lambda: FROZEN_NOW - 120)
    # A fixed identity: the actor shows on screen and goes into every audit hash.
    md = Memdeck.open(tmp_path / "demo", embedder=WordHashEmbedder(), identity=Identity("alice", ("staff",)))
    lines = (resource_dir() / "demo" / "items.jsonl").read_text(encoding="utf-8").splitlines()
    md.put_many([json.loads(line) for line in lines if line.strip()])
    md.heartbeat_once("timer")
    md.checkpoint()
    yield md
    md.close()


def app_for(core: Any) -> MemdeckApp:
    return MemdeckApp(core=FrozenCore(core), system_stats=fixed_system_stats, clock=lambda: FROZEN_NOW,
                      start_background=False, blink=False)


async def _health_ready(pilot: Any) -> None:
    app = pilot.app
    for _ in range(200):
        body = str(app.screen.query_one("#drift").render())
        if "vectors" in body:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)


async def _explorer_search(pilot: Any, query: str = "reset a charging dock") -> None:
    await _health_ready(pilot)
    await pilot.press("2")
    app = pilot.app
    table = app.screen.query_one("#results", DataTable)
    for _ in range(200):
        if table.row_count:
            break
        await pilot.pause(0.05)
    search = app.screen.query_one("#search", Input)
    search.value = query
    search.focus()
    await pilot.press("enter")
    for _ in range(200):
        if "result(s)" in str(app.screen.query_one("#explorer-status").render()) and \
                "why it ranked" in str(app.screen.query_one("#detail-body").render()):
            break
        await pilot.pause(0.05)
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_health(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(demo_core), terminal_size=size, run_before=_health_ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_health_out_of_sync(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    demo_core.index.remove([3, 4, 5])
    assert snap_compare(app_for(demo_core), terminal_size=size, run_before=_health_ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_repair_confirmation(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    demo_core.index.remove([3, 4, 5])

    async def before(pilot: Any) -> None:
        await _health_ready(pilot)
        await pilot.press("r")
        for _ in range(100):
            if type(pilot.app.screen).__name__ == "ConfirmModal":
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)

    assert snap_compare(app_for(demo_core), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_explorer_search(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(demo_core), terminal_size=size, run_before=_explorer_search)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    async def before(pilot: Any) -> None:
        await _health_ready(pilot)
        await pilot.press("f1")
        await pilot.pause(0.3)

    assert snap_compare(app_for(demo_core), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_metadata_editor(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    async def before(pilot: Any) -> None:
        await _explorer_search(pilot)
        await pilot.press("m")
        await pilot.pause(0.3)

    assert snap_compare(app_for(demo_core), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_delete_confirmation(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    async def before(pilot: Any) -> None:
        await _explorer_search(pilot)
        await pilot.press("d")
        await pilot.pause(0.3)

    assert snap_compare(app_for(demo_core), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_error_modal(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    from core.errors import StorageError

    async def before(pilot: Any) -> None:
        await _health_ready(pilot)
        pilot.app.show_error(StorageError("the disk holding /srv/memdeck/memdeck.db is full; nothing was "
                                          "written", hint="free some space, then retry the same command"))
        await pilot.pause(0.3)

    assert snap_compare(app_for(demo_core), terminal_size=size, run_before=before)


async def _audit_ready(pilot: Any) -> None:
    await _health_ready(pilot)
    await pilot.press("3")
    app = pilot.app
    for _ in range(200):
        if "#" in str(app.screen.query_one("#audit-detail-body").render()) and \
                app.screen.query_one("#approvals-table", DataTable).row_count:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)


def _with_pending_purge(md: Memdeck) -> Memdeck:
    md.role_grant("bob", "admin")
    md.config_set("approvals.purge", "true")
    bob = Memdeck.open(md.layout.root, embedder=WordHashEmbedder(), identity=Identity("bob"), startup_check=False)
    try:
        with pytest.raises(ApprovalRequired):
            bob.purge("docs", "runbook/charging-dock-fault#1", "duplicate of the vendor manual")
    finally:
        bob.close()
    return md


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_audit(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(_with_pending_purge(demo_core)), terminal_size=size, run_before=_audit_ready)


def test_audit_verified(snap_compare: Any, demo_core: Memdeck) -> None:
    async def verified(pilot: Any) -> None:
        await _audit_ready(pilot)
        await pilot.press("v")
        for _ in range(200):
            if "intact" in str(pilot.app.screen.query_one("#audit-chain").render()):
                break
            await pilot.pause(0.05)
        from tui.virtual_table import VirtualTable

        table = pilot.app.screen.query_one("#audit-table", VirtualTable)
        for _ in range(200):  # wait for the live tail to pick up the audit.verify event itself
            if table.keys and table.keys[0] == 332:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        await pilot.press("down")  # the verify event itself records timings that vary run to run
        await pilot.pause(0.3)

    assert snap_compare(app_for(_with_pending_purge(demo_core)), terminal_size=(120, 36), run_before=verified)


def test_audit_export_modal(snap_compare: Any, demo_core: Memdeck) -> None:
    async def export(pilot: Any) -> None:
        await _audit_ready(pilot)
        await pilot.press("e")
        await pilot.pause(0.3)
        pilot.app.screen.query_one("#export-path", Input).value = "/srv/exports/memdeck-audit.jsonl"
        await pilot.pause(0.2)

    assert snap_compare(app_for(_with_pending_purge(demo_core)), terminal_size=(80, 24), run_before=export)


def _with_backups(md: Memdeck) -> Memdeck:
    first = md.backup_create(note="before the Porto move")
    md.backup_verify(first.id)
    md.put("facts", "office.porto.status", "The Porto office moved to Rua de Santa Catarina in March.")
    md.backup_create(note="weekly", redacted=True)
    return md


async def _backup_ready(pilot: Any) -> None:
    await _health_ready(pilot)
    await pilot.press("4")
    app = pilot.app
    for _ in range(200):
        if app.screen.query_one("#backups", DataTable).row_count == 2 and \
                "items" in str(app.screen.query_one("#backup-detail-body").render()):
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_backup(snap_compare: Any, demo_core: Memdeck, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(_with_backups(demo_core)), terminal_size=size, run_before=_backup_ready)


def test_backup_restore_confirmation(snap_compare: Any, demo_core: Memdeck) -> None:
    async def confirm(pilot: Any) -> None:
        await _backup_ready(pilot)
        await pilot.press("down", "r")
        await pilot.pause(0.4)

    assert snap_compare(app_for(_with_backups(demo_core)), terminal_size=(100, 30), run_before=confirm)


def test_backup_restore_preview(snap_compare: Any, demo_core: Memdeck) -> None:
    async def preview(pilot: Any) -> None:
        await _backup_ready(pilot)
        await pilot.press("down", "d")
        for _ in range(200):
            if "collection" in str(pilot.app.screen.query_one("#diff-body").render()) \
                    if pilot.app.screen.query("#diff-body") else False:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.3)

    assert snap_compare(app_for(_with_backups(demo_core)), terminal_size=(120, 36), run_before=preview)
