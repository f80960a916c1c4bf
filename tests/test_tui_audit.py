"""The Audit Log screen, driven with Pilot: live tail, filters, detail, verify, export, approvals, roles,
and a log of tens of thousands of events that still loads only what is on screen."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder
from textual.widgets import DataTable, Input, Static
from tui_support import FrozenCore, fixed_system_stats

from core import audit
from core.errors import PermissionDenied
from core.memdeck import Memdeck
from core.roles import Identity
from screens.audit import AuditScreen
from tui.app import MemdeckApp
from tui.modals import ConfirmModal, ErrorModal, ExportModal
from tui.virtual_table import VirtualTable

ALICE = Identity("alice", ("staff",))
BOB = Identity("bob", ("staff",))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def core(data_dir: Path) -> Iterator[Memdeck]:
    md = Memdeck.open(data_dir, embedder=WordHashEmbedder(), identity=ALICE)
    md.put_many([{"collection": "facts", "key": f"k{i}", "content": f"fact number {i}"} for i in range(5)])
    md.role_grant("bob", "admin")
    yield md
    md.close()


def make_app(core: Any) -> MemdeckApp:
    return MemdeckApp(core=core, system_stats=fixed_system_stats, start_background=False)


async def wait_for(pilot: Any, predicate: Any, timeout: float = 6.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


def table(app: MemdeckApp) -> VirtualTable:
    return app.screen.query_one("#audit-table", VirtualTable)


def text(app: MemdeckApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def open_audit(pilot: Any, expected: int) -> None:
    await pilot.press("3")
    assert isinstance(pilot.app.screen, AuditScreen)
    await wait_for(pilot, lambda: len(table(pilot.app).keys) == expected)
    await wait_for(pilot, lambda: "#" in text(pilot.app, "#audit-detail-body"))


async def test_lists_events_newest_first_with_detail(core: Memdeck) -> None:
    app = make_app(FrozenCore(core))
    total = core.audit_head()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_audit(pilot, total)
        keys = table(app).keys
        assert keys == sorted(keys, reverse=True) and keys[0] == total
        detail = text(app, "#audit-detail-body")
        assert f"#{total}" in detail and "role.grant" in detail and "alice" in detail
        await pilot.press("down")
        await wait_for(pilot, lambda: f"#{total - 1}" in text(app, "#audit-detail-body"))


async def test_live_tail_shows_events_from_another_process_without_refresh(core: Memdeck, data_dir: Path) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        before = core.audit_head()
        await open_audit(pilot, before)
        with Memdeck.open(data_dir, embedder=WordHashEmbedder(), identity=BOB, startup_check=False) as other:
            other.put("facts", "from-bob", "written by another process")
        await wait_for(pilot, lambda: len(table(app).keys) == before + 1)
        assert table(app).keys[0] == before + 1
        await wait_for(pilot, lambda: "from-bob" in text(app, "#audit-detail-body"))


async def test_filter_line_narrows_and_reports_bad_input(core: Memdeck) -> None:
    with pytest.raises(PermissionDenied):
        Memdeck.open(core.layout.root, embedder=WordHashEmbedder(), identity=Identity("carol"),
                     startup_check=False).put("facts", "x", "y")
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_audit(pilot, core.audit_head())
        await pilot.press("slash")
        filt = app.screen.query_one("#audit-filter", Input)
        filt.value = "outcome:denied"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(table(app).keys) == 1)
        await wait_for(pilot, lambda: "carol" in text(app, "#audit-detail-body"))
        assert "denied" in text(app, "#audit-detail-body")
        await pilot.press("slash")
        filt.value = 'action:memory.put "fact"'
        await pilot.press("enter")
        await wait_for(pilot, lambda: not table(app).keys and "No events match" in text(app, "#audit-detail-body"))
        assert 'action:memory.put' in text(app, "#audit-status")
        filt.value = 'since:yesterday-ish'
        await pilot.press("slash", "enter")
        await wait_for(pilot, lambda: "cannot read time" in text(app, "#audit-status"))


async def test_verify_reports_intact_then_names_the_tampered_event(core: Memdeck) -> None:
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_audit(pilot, core.audit_head())
        await pilot.press("v")
        await wait_for(pilot, lambda: "chain intact" in text(app, "#audit-chain"))
        conn = sqlite3.connect(core.layout.db_path)
        conn.execute("UPDATE audit_events SET details = '{\"forged\":true}' WHERE seq = 3")
        conn.commit()
        conn.close()
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "#3" in str(app.screen.query_one("#error-message", Static).render())
        await pilot.press("escape")
        assert "BROKEN at event #3" in text(app, "#audit-chain")
        assert table(app).current_key == 3


async def test_export_writes_the_filtered_events(core: Memdeck, tmp_path: Path) -> None:
    app = make_app(core)
    out = tmp_path / "export.csv"
    async with app.run_test(size=(120, 36)) as pilot:
        await open_audit(pilot, core.audit_head())
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportModal))
        app.screen.query_one("#export-path", Input).value = str(out)
        await pilot.click("#fmt-csv")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: out.exists())
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("seq,at,actor") and len(lines) > 5
    assert core.audit_log(limit=1)[0]["action"] == "audit.export"


async def test_second_admin_approves_a_pending_purge(core: Memdeck, data_dir: Path) -> None:
    core.config_set("approvals.purge", "true")
    with Memdeck.open(data_dir, embedder=WordHashEmbedder(), identity=BOB, startup_check=False) as bob:
        from core.errors import ApprovalRequired

        with pytest.raises(ApprovalRequired):
            bob.purge("facts", "k1", "erasure request")
    app = make_app(core)  # alice's console
    async with app.run_test(size=(120, 36)) as pilot:
        await open_audit(pilot, core.audit_head())
        approvals = app.screen.query_one("#approvals-table", DataTable)
        await wait_for(pilot, lambda: approvals.row_count == 1)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: approvals.row_count == 0)
    assert [i["key"] for i in core.list_items("facts")] == ["k0", "k2", "k3", "k4"]
    purge = core.audit_log(AuditFilterFor("memory.purge"))[0]
    assert purge["actor"] == "alice" and purge["details"]["approval"] == 1


def AuditFilterFor(action: str) -> Any:
    from core.audit_query import AuditFilter

    return AuditFilter(action=action)


async def test_own_request_and_viewer_are_refused_with_a_reason(core: Memdeck, data_dir: Path) -> None:
    core.config_set("approvals.purge", "true")
    from core.errors import ApprovalRequired

    with pytest.raises(ApprovalRequired):
        core.purge("facts", "k2")
    app = make_app(core)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_audit(pilot, core.audit_head())
        approvals = app.screen.query_one("#approvals-table", DataTable)
        await wait_for(pilot, lambda: approvals.row_count == 1)
        await pilot.press("a", "y")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "yourself" in str(app.screen.query_one("#error-message", Static).render())
    viewer = Memdeck.open(data_dir, embedder=WordHashEmbedder(), identity=Identity("vera"), startup_check=False)
    app = make_app(viewer)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await open_audit(pilot, viewer.audit_head())
            await wait_for(pilot, lambda: "you are viewer" in str(app.screen.query_one("#approvals-title").render()))
            await pilot.press("a", "y")
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
            assert "viewer" in str(app.screen.query_one("#error-message", Static).render())
    finally:
        viewer.close()
    assert core.approvals("pending")[0]["status"] == "pending"
    assert [i["key"] for i in core.list_items("facts")].count("k2") == 1


def _bulk_events(md: Memdeck, n: int) -> None:
    """Append ``n`` real chained events fast (one transaction)."""
    with md.db.write() as conn:
        md.auditor.append(conn, [audit.AuditRecord("memory.put", f"bulk/k{i}", {"i": i, "note": "x" * 40})
                                 for i in range(n)])


async def test_tens_of_thousands_of_events_load_only_what_is_on_screen(core: Memdeck) -> None:
    _bulk_events(core, 40_000)
    total = core.audit_head()
    fetched: list[int] = []
    real = core.audit_events

    class Counting(FrozenCore):
        def audit_events(self, seqs: list[int]) -> list[dict[str, Any]]:
            fetched.extend(seqs)
            return real(seqs)

    app = make_app(Counting(core))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_audit(pilot, total)
        assert len(fetched) < 500, "the screen fetched far more rows than it shows"
        await pilot.press("end")
        await wait_for(pilot, lambda: "#1 " in text(app, "#audit-detail-body") + " ")
        await pilot.press("pageup", "pageup")
        await wait_for(pilot, lambda: table(app).current_key is not None and table(app).current_key > 1)
        assert len(fetched) < 1500


async def test_a_role_with_no_access_sees_why(core: Memdeck, data_dir: Path) -> None:
    core.config_set("roles.default", "none")
    nobody = Memdeck.open(data_dir, embedder=WordHashEmbedder(), identity=Identity("mallory"), startup_check=False)
    app = make_app(nobody)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("3")
            await wait_for(pilot, lambda: "needs viewer" in text(app, "#audit-status"))
            assert table(app).keys == []
    finally:
        nobody.close()


async def test_polling_runs_off_the_event_loop(core: Memdeck) -> None:
    seen: list[bool] = []

    class Probe(FrozenCore):
        def audit_head(self) -> int:
            seen.append(threading.current_thread() is threading.main_thread())
            return int(core.audit_head())

    app = make_app(Probe(core))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_audit(pilot, core.audit_head())
        await wait_for(pilot, lambda: len(seen) >= 3)
    assert seen and not any(seen)


def test_event_row_marks_denied_and_failed() -> None:
    from screens.audit import event_detail, event_row

    ev = {"seq": 7, "at": 1_790_000_000.5, "actor": "bob@10.0.0.2", "action": "memory.put", "target": "a/b",
          "outcome": "denied", "details": {"role": "viewer", "[x]": "[b]markup[/b]"}, "prev_hash": "0" * 64,
          "hash": "f" * 64}
    row = event_row(ev)
    assert row[3] == ("memory.put", "bad") and row[5] == ("denied", "bad")
    detail = event_detail(ev).plain
    assert "2026-09-21 14:13:20.500000" in detail and "[x]: [b]markup[/b]" in detail
    assert "role: viewer" in detail and "#7  memory.put  denied" in detail


async def test_narrow_terminal_hides_the_side_pane_and_enter_opens_the_event(core: Memdeck) -> None:
    from tui.modals import EventModal

    app = make_app(core)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_audit(pilot, core.audit_head())
        assert not app.screen.query_one("#audit-detail").display
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, EventModal))
        body = str(app.screen.query_one("#event-body", Static).render())
        assert f"#{core.audit_head()}" in body and "role.grant" in body
        await pilot.press("escape")
        assert isinstance(app.screen, AuditScreen)


async def test_a_viewer_cannot_delete_from_the_explorer(core: Memdeck, data_dir: Path) -> None:
    viewer = Memdeck.open(data_dir, embedder=WordHashEmbedder(), identity=Identity("vera"), startup_check=False)
    app = make_app(viewer)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("2")
            results = app.screen.query_one("#results", DataTable)
            await wait_for(pilot, lambda: results.row_count == 5)
            results.focus()
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
            assert "viewer" in str(app.screen.query_one("#error-message", Static).render())
    finally:
        viewer.close()
    assert all(i["status"] == "active" for i in core.list_items("facts"))
    denied = core.audit_log(AuditFilterFor("memory.delete"))
    assert denied and denied[0]["outcome"] == "denied" and denied[0]["actor"] == "vera"
