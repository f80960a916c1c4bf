"""The Backup screen, driven with Pilot: create with progress, verify, preview, typed-id restore that
reopens the data dir, prune preview, and roles."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder
from textual.widgets import Button, Checkbox, DataTable, Input, Static
from tui_support import fixed_system_stats, wait_for

from core.audit_query import AuditFilter
from core.errors import StorageError
from core.memdeck import Memdeck
from core.roles import Identity
from screens.backup import BackupScreen
from screens.backup_dialogs import CreateBackupModal, DiffModal, PruneModal, RestoreConfirmModal
from tui.app import MemdeckApp
from tui.modals import ErrorModal

ALICE = Identity("alice")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def core(data_dir: Path) -> Iterator[Memdeck]:
    md = Memdeck.open(data_dir, embedder=WordHashEmbedder(), identity=ALICE)
    md.put_many([{"collection": "facts", "key": f"k{i}", "content": f"fact number {i} about docking stations"}
                 for i in range(6)])
    yield md
    md.close()


def make_app(core: Any, **kw: Any) -> MemdeckApp:
    return MemdeckApp(core=core, system_stats=fixed_system_stats, start_background=False, **kw)


def rows(app: MemdeckApp) -> DataTable[str]:
    return app.screen.query_one("#backups", DataTable)


async def open_backup(pilot: Any, expected: int) -> None:
    await pilot.press("4")
    assert isinstance(pilot.app.screen, BackupScreen)
    await wait_for(pilot, lambda: rows(pilot.app).row_count == expected)


async def test_create_shows_progress_and_the_new_backup(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_backup(pilot, 0)
        assert "No backups yet" in str(app.screen.query_one("#backup-status", Static).render())
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CreateBackupModal))
        app.screen.query_one("#backup-note", Input).value = "before the migration"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, BackupScreen) and rows(app).row_count == 1)
        detail = str(app.screen.query_one("#backup-detail-body", Static).render())
        assert "before the migration" in detail and "items     6" in detail
    assert [b.note for b in core.backups()] == ["before the migration"]


async def test_redacted_toggle_makes_a_redacted_backup(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_backup(pilot, 0)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CreateBackupModal))
        app.screen.query_one("#backup-redacted", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, BackupScreen) and rows(app).row_count == 1)
    assert core.backups()[0].kind == "redacted" and core.backups()[0].redacted


async def test_verify_preview_and_typed_id_restore(core: Memdeck, data_dir: Path) -> None:
    backup = core.backup_create(note="six facts")
    core.put("facts", "later", "written after the backup")
    app = make_app(core, core_factory=lambda: Memdeck.open(data_dir, embedder=WordHashEmbedder(), identity=ALICE))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_backup(pilot, 1)
        await pilot.press("v")
        await wait_for(pilot, lambda: "ok" in str(rows(app).get_row_at(0)[4]))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffModal))
        body = str(app.screen.query_one("#diff-body", Static).render())
        assert "facts/later" in body and "removed" in body
        await pilot.press("escape")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RestoreConfirmModal))
        typed = app.screen.query_one("#restore-typed", Input)
        typed.value = "not-the-id"
        await pilot.pause(0.1)
        assert app.screen.query_one("#restore", Button).disabled
        await pilot.press("enter")
        assert isinstance(app.screen, RestoreConfirmModal)  # wrong id: still asking
        typed.value = backup.id
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.core is not None and app.core is not core and
                       rows(app).row_count == 2, timeout=20)
        restored = app.core
        assert [i["key"] for i in restored.list_items("facts")] == [f"k{i}" for i in range(6)]
        events = restored.audit_log(AuditFilter(action="backup.restore"))
        assert events and events[0]["actor"] == "alice" and events[0]["target"] == backup.id
        kinds = sorted(str(rows(app).get_row_at(i)[0]).rsplit("-", 1)[1] for i in range(2))
        assert kinds == ["full", "safety"]


async def test_a_viewer_is_told_no_and_nothing_happens(core: Memdeck, data_dir: Path) -> None:
    core.backup_create(note="one")
    viewer = Memdeck.open(data_dir, embedder=WordHashEmbedder(), identity=Identity("vera"), startup_check=False)
    app = make_app(viewer)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await open_backup(pilot, 1)
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
            assert "admin" in str(app.screen.query_one("#error-message", Static).render())
            await pilot.press("escape")
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, CreateBackupModal))
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
            assert "viewer" in str(app.screen.query_one("#error-message", Static).render())
    finally:
        viewer.close()
    assert len(core.backups()) == 1


async def test_prune_preview_lists_what_would_go(core: Memdeck) -> None:
    core.config_set("backup.keep_daily", "1")
    core.config_set("backup.keep_weekly", "0")
    first = core.backup_create(note="old")
    core.backup_create(note="new")
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_backup(pilot, 2)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PruneModal))
        assert first.id in str(app.screen.query_one("#prune-body", Static).render())
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, BackupScreen) and rows(app).row_count == 1)
    assert [b.note for b in core.backups()] == ["new"]


async def test_a_failed_scheduled_backup_is_shown_on_any_screen(core: Memdeck, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    core.config_set("backup.dir", str(blocker))
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.2)  # on the Health screen; the Backup screen was never opened
        with pytest.raises(StorageError):
            await asyncio.to_thread(core.backup_run_scheduled, True)
        await wait_for(pilot, lambda: any("backup failed" in str(n.message) for n in app._notifications))
