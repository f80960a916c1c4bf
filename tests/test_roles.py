"""Roles (viewer, editor, admin), denials in the audit trail, two-person approvals, purge, and the
``memdeck roles`` / ``approvals`` / ``purge`` CLI.

``alice`` creates each data dir (so she is always admin); other people are opened with their own
``core.roles.Identity``. The CLI always runs as the real OS user, which is not alice, so a data dir
made by alice gives the CLI the default viewer role.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder

from core.errors import ApprovalRequired, ConfigError, InvalidInput, NotFound, PermissionDenied
from core.memdeck import Memdeck
from core.roles import REQUIRED, Identity, Role, current_identity, resolve_role, validate_principal
from tui.cli import main

ME = current_identity().user


# ----------------------------------------------------------------------------- helpers
@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MEMDECK__"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("MEMDECK_HOME", raising=False)
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    monkeypatch.setattr("core.memdeck.Embedder", lambda *a, **k: WordHashEmbedder())


def open_as(data_dir: Path, user: str = "alice", groups: tuple[str, ...] = (),
            address: str | None = None) -> Memdeck:
    return Memdeck.open(data_dir, embedder=WordHashEmbedder(), identity=Identity(user, groups, address))


def head(md: Memdeck) -> int:
    with md.db.read() as conn:
        return int(conn.execute("SELECT coalesce(max(seq), 0) FROM audit_events").fetchone()[0])


def events_after(md: Memdeck, seq: int) -> list[dict[str, Any]]:
    with md.db.read() as conn:
        rows = conn.execute("SELECT seq, actor, action, target, outcome, details FROM audit_events WHERE seq > ?"
                            " ORDER BY seq", (seq,)).fetchall()
    return [{"seq": r[0], "actor": r[1], "action": r[2], "target": r[3], "outcome": r[4],
             "details": json.loads(r[5])} for r in rows]


def approval_row(md: Memdeck, rid: int) -> dict[str, Any]:
    (row,) = [r for r in md.approvals(None) if r["id"] == rid]
    return row


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def cli(capsys: pytest.CaptureFixture[str], data_dir: Path, *argv: str) -> Run:
    capsys.readouterr()
    code = main([*argv, "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    return Run(code, out, err)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="module")
def stocked_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("stocked") / "data"
    with open_as(d) as md:
        md.put("notes", "a", "alpha aardvark")
        md.put("notes", "b", "beta beaver")
        md.role_grant("bob", "admin")
        md.role_grant("carol", "editor")
        md.role_grant("@staff", "editor")
        md.role_grant("dave", "viewer")
    return d


@pytest.fixture
def stocked(stocked_template: Path, data_dir: Path) -> Path:
    """Made by alice: two notes; roles: bob admin, carol editor, @staff editor, dave viewer (a fresh copy)."""
    shutil.copytree(stocked_template, data_dir)
    return data_dir


# ============================================================================= 1. resolution
def test_creator_is_admin_whatever_the_lists_say(data_dir: Path) -> None:
    with open_as(data_dir) as md:
        assert md.creator == "alice" and md.role is Role.ADMIN
        md.config_set("roles.viewer", "alice")
        md.config_set("roles.default", "none")
        assert md.role is Role.ADMIN
    with open_as(data_dir, "alice", address="192.0.2.7") as again:
        assert again.role is Role.ADMIN and again.actor == "alice@192.0.2.7"
        with pytest.raises(InvalidInput, match="always admin"):
            again.role_revoke("alice")


def test_the_first_opener_is_recorded_as_creator(data_dir: Path) -> None:
    with open_as(data_dir, "zed"):
        pass
    with open_as(data_dir, "alice") as md:
        assert md.creator == "zed" and md.role is Role.VIEWER


@pytest.mark.parametrize(("user", "groups", "default", "expected"), [
    ("bob", (), "viewer", Role.ADMIN),
    ("carol", (), "viewer", Role.EDITOR),
    ("dave", (), "viewer", Role.VIEWER),
    ("erin", ("staff",), "viewer", Role.EDITOR),
    ("frank", ("staff", "ops"), "viewer", Role.ADMIN),  # the highest role any name maps to
    ("dave", ("ops",), "viewer", Role.ADMIN),
    ("gina", ("other",), "viewer", Role.VIEWER),
    ("gina", ("other",), "none", Role.NONE),
    ("dave", (), "none", Role.VIEWER),
    ("staff", (), "none", Role.NONE),  # a user named like a group is not the group
    ("ops", ("staff",), "none", Role.EDITOR),
])
def test_role_resolution(data_dir: Path, user: str, groups: tuple[str, ...], default: str,
                         expected: Role) -> None:
    with open_as(data_dir) as md:
        md.config_set("roles.admin", "bob,@ops")
        md.config_set("roles.editor", "carol, @staff")
        md.config_set("roles.viewer", "dave")
        md.config_set("roles.default", default)
    with open_as(data_dir, user, groups) as md:
        assert md.role is expected
        assert md.whoami()["role"] == expected.label
        assert sorted(md.whoami()["allowed"]) == sorted(p for p, r in REQUIRED.items() if r <= expected)


def test_resolve_role_directly() -> None:
    mapping = {Role.ADMIN: ["@wheel"], Role.EDITOR: ["x"], Role.VIEWER: []}
    assert resolve_role(Identity("root", ("wheel",)), mapping, "alice", "none") is Role.ADMIN
    assert resolve_role(Identity("x"), mapping, None, "none") is Role.EDITOR
    assert resolve_role(Identity("alice"), mapping, "alice", "none") is Role.ADMIN
    assert resolve_role(Identity("y"), mapping, None, "viewer") is Role.VIEWER
    assert resolve_role(Identity("y"), mapping, "", "none") is Role.NONE


@pytest.mark.parametrize("bad", ["", "@", "a b", "a,b", "al@ce", "@gr@up", "x" * 65])
def test_invalid_principals_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        validate_principal(bad)


def test_role_parse() -> None:
    assert Role.parse(" Editor ") is Role.EDITOR
    for bad in ("none", "owner", ""):
        with pytest.raises(InvalidInput):
            Role.parse(bad)


def test_a_grant_replaces_the_previous_role_and_revoke_falls_back_to_default(stocked: Path) -> None:
    with open_as(stocked) as md:
        out = md.role_grant("carol", "admin")
        assert (out["old"], out["new"]) == ("editor", "admin")
        roles = md.roles()
        assert roles["admin"] == ["bob", "carol"] and roles["editor"] == ["@staff"]
        md.role_revoke("carol")
        assert "carol" not in md.roles()["admin"]
        with pytest.raises(NotFound):
            md.role_revoke("carol")
    with open_as(stocked, "carol") as carol:
        assert carol.role is Role.VIEWER


def test_a_grant_applies_to_an_already_open_deck(stocked: Path) -> None:
    """Another process granting a role takes effect without reopening (config.toml is re-read)."""
    with open_as(stocked, "zoe") as zoe, open_as(stocked) as alice:
        assert zoe.role is Role.VIEWER
        time.sleep(0.01)
        alice.role_grant("zoe", "editor")
        assert zoe.role.label == "editor"
        zoe.put("notes", "z", "zoe writes now")


# ============================================================================= 1b/2. permission matrix
Op = Callable[[Memdeck, Path], Any]
OPS: dict[str, tuple[Op, str]] = {
    "get": (lambda m, t: m.get("notes", "a"), "memory.read"),
    "history": (lambda m, t: m.history("notes", "a"), "memory.read"),
    "list": (lambda m, t: m.list_items("notes"), "memory.read"),
    "collections": (lambda m, t: m.collections(), "memory.read"),
    "search": (lambda m, t: m.search("aardvark", k=3), "memory.search"),
    "audit-log": (lambda m, t: m.audit_log(), "audit.read"),
    "audit-verify": (lambda m, t: m.audit_verify(), "audit.verify"),
    "audit-export": (lambda m, t: m.audit_export("jsonl"), "audit.export"),
    "roles": (lambda m, t: m.roles(), "audit.read"),
    "approvals": (lambda m, t: m.approvals(), "audit.read"),
    "put": (lambda m, t: m.put("notes", "new", "fresh text"), "memory.put"),
    "put-many": (lambda m, t: m.put_many([{"collection": "notes", "key": "m", "content": "many"}]), "memory.put"),
    "delete": (lambda m, t: m.delete("notes", "a"), "memory.delete"),
    "quarantine": (lambda m, t: m.set_status("notes", "a", "quarantined"), "memory.quarantine"),
    "restore": (lambda m, t: m.set_status("notes", "a", "active"), "memory.restore"),
    "ingest": (lambda m, t: m.ingest([t], "docs"), "memory.ingest"),
    "sync-check": (lambda m, t: m.sync_check(), "sync.check"),
    "sync-repair-dry-run": (lambda m, t: m.sync_repair(dry_run=True), "sync.check"),
    "heartbeat": (lambda m, t: m.heartbeat_once(), "heartbeat.run"),
    "sync-repair": (lambda m, t: m.sync_repair(), "sync.repair"),
    "rebuild": (lambda m, t: m.rebuild_index(), "index.rebuild"),
    "config-set": (lambda m, t: m.config_set("search.top_k", "3"), "config.set"),
    "purge": (lambda m, t: m.purge("notes", "a"), "memory.purge"),
    "role-grant": (lambda m, t: m.role_grant("mallory", "admin"), "role.grant"),
    "role-revoke": (lambda m, t: m.role_revoke("dave"), "role.revoke"),
    "audit-archive": (lambda m, t: m.audit_archive(before_seq=3), "audit.archive"),
    "export-unredacted": (lambda m, t: m.audit_export("jsonl", unredacted=True), "audit.export_unredacted"),
    "approve": (lambda m, t: m.approval_approve(1), "approval.approve"),
}
READS = ["get", "history", "list", "collections", "search", "audit-log", "audit-verify", "audit-export", "roles",
         "approvals"]
EDITS = ["put", "put-many", "delete", "quarantine", "restore", "ingest", "sync-check", "sync-repair-dry-run",
         "heartbeat"]
ADMIN_ONLY = ["sync-repair", "rebuild", "config-set", "purge", "role-grant", "role-revoke", "audit-archive",
              "export-unredacted", "approve"]
WHO = {Role.VIEWER: ("dave", ()), Role.EDITOR: ("carol", ()), Role.NONE: ("nora", ())}


def _ingest_file(tmp_path: Path) -> Path:
    path = tmp_path / "doc.txt"
    path.write_text("an ingested document about otters\n")
    return path


def _snapshot(data_dir: Path) -> tuple[Any, ...]:
    conn = sqlite3.connect(data_dir / "memdeck.db")
    try:
        items = conn.execute("SELECT id, key, content, status, version FROM items ORDER BY id").fetchall()
        segs = conn.execute("SELECT count(*) FROM audit_segments").fetchone()[0]
        reqs = conn.execute("SELECT count(*) FROM approvals").fetchone()[0]
    finally:
        conn.close()
    config = (data_dir / "config.toml").read_text()
    return items, segs, reqs, config


def _assert_denied(data_dir: Path, tmp_path: Path, role: Role, op: str, no_access: bool = False) -> None:
    fn, permission = OPS[op]
    needs = REQUIRED[permission]
    if no_access:
        with open_as(data_dir) as md:
            md.config_set("roles.default", "none")
    before_state = _snapshot(data_dir)
    user, groups = WHO[role]
    with open_as(data_dir, user, groups) as md:
        assert md.role is role
        before = head(md)
        with pytest.raises(PermissionDenied) as info:
            fn(md, _ingest_file(tmp_path))
        got = events_after(md, before)
    assert f"needs {needs.label}" in info.value.message and user in info.value.message
    assert info.value.exit_code == 8
    assert len(got) == 1, got
    (ev,) = got
    assert (ev["actor"], ev["action"], ev["outcome"]) == (user, permission, "denied")
    assert ev["details"] == {"role": role.label, "needs": needs.label}
    assert _snapshot(data_dir) == before_state, "a denied action changes nothing"


def _assert_allowed(data_dir: Path, tmp_path: Path, role: Role, op: str) -> None:
    fn, _permission = OPS[op]
    user, groups = WHO[role]
    with open_as(data_dir, user, groups) as md:
        before = head(md)
        fn(md, _ingest_file(tmp_path))
        assert [e for e in events_after(md, before) if e["outcome"] == "denied"] == []


@pytest.mark.parametrize("op", EDITS + ADMIN_ONLY)
def test_viewer_is_denied_every_change(stocked: Path, tmp_path: Path, op: str) -> None:
    _assert_denied(stocked, tmp_path, Role.VIEWER, op)


@pytest.mark.parametrize("op", READS)
def test_viewer_may_read(stocked: Path, tmp_path: Path, op: str) -> None:
    _assert_allowed(stocked, tmp_path, Role.VIEWER, op)


@pytest.mark.parametrize("op", ADMIN_ONLY)
def test_editor_is_denied_admin_actions(stocked: Path, tmp_path: Path, op: str) -> None:
    _assert_denied(stocked, tmp_path, Role.EDITOR, op)


@pytest.mark.parametrize("op", READS + EDITS)
def test_editor_may_read_and_write(stocked: Path, tmp_path: Path, op: str) -> None:
    _assert_allowed(stocked, tmp_path, Role.EDITOR, op)


@pytest.mark.parametrize("op", [*READS, "put", "sync-check"])
def test_default_none_denies_even_reads(stocked: Path, tmp_path: Path, op: str) -> None:
    _assert_denied(stocked, tmp_path, Role.NONE, op, no_access=True)


def test_no_access_user_sees_nothing_in_stats(stocked: Path) -> None:
    with open_as(stocked) as md:
        md.config_set("roles.default", "none")
    with open_as(stocked, "nora") as md:
        assert md.whoami()["allowed"] == []
        before = head(md)
        with pytest.raises(PermissionDenied):
            md.stats()
        assert [e["outcome"] for e in events_after(md, before)] == ["denied"]


def test_editor_writes_are_attributed_to_the_editor(stocked: Path) -> None:
    with open_as(stocked, "erin", ("staff",)) as md:
        before = head(md)
        md.put("notes", "e", "erin was here")
        md.delete("notes", "b")
        assert [(e["actor"], e["action"]) for e in events_after(md, before)] == [
            ("erin", "memory.put"), ("erin", "memory.delete")]
        assert md.history("notes", "e")[0]["actor"] == "erin"


def test_no_access_user_cannot_probe_for_items_with_purge(stocked: Path) -> None:
    with open_as(stocked) as md:
        md.config_set("roles.default", "none")
    with open_as(stocked, "nora") as md:
        with pytest.raises(PermissionDenied):
            md.purge("notes", "a")
        with pytest.raises(PermissionDenied):
            md.purge("notes", "no-such-key")


# ============================================================================= 3. environment
def test_env_override_cannot_grant_roles(stocked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEMDECK__ROLES__ADMIN", "mallory")
    monkeypatch.setenv("MEMDECK__ROLES__EDITOR", "mallory")
    monkeypatch.setenv("MEMDECK__ROLES__DEFAULT", "viewer")
    with open_as(stocked) as md:
        md.config_set("roles.default", "none")
    with open_as(stocked, "mallory") as md:
        assert md.role is Role.NONE
        assert md.config.source_of("roles.admin") == "file"
        with pytest.raises(PermissionDenied):
            md.put("notes", "m", "mallory")
        with pytest.raises(PermissionDenied):
            md.get("notes", "a")


def test_env_override_cannot_switch_off_approvals(stocked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_as(stocked) as md:
        md.config_set("approvals.purge", "true")
    monkeypatch.setenv("MEMDECK__APPROVALS__PURGE", "false")
    with open_as(stocked) as md, pytest.raises(ApprovalRequired):
        md.purge("notes", "a")


def test_role_grant_keeps_file_settings_that_env_overrides(stocked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_as(stocked) as md:
        md.config_set("search.top_k", "5")
    monkeypatch.setenv("MEMDECK__SEARCH__TOP_K", "20")
    with open_as(stocked) as md:
        assert md.config.get("search.top_k") == 20
        md.role_grant("zoe", "viewer")
    monkeypatch.delenv("MEMDECK__SEARCH__TOP_K")
    with open_as(stocked) as md:
        assert md.config.get("search.top_k") == 5


def test_a_hand_edit_of_the_roles_is_recorded(stocked: Path) -> None:
    cfg = stocked / "config.toml"
    cfg.write_text(cfg.read_text().replace('admin = "bob"', 'admin = "bob,mallory"'))
    with open_as(stocked, "mallory") as md:
        assert md.role is Role.ADMIN, "the file is the authority; the audit trail shows who changed it"
        edits = [e for e in events_after(md, 0) if e["action"] == "config.edited_outside"]
    assert len(edits) == 1
    assert edits[0]["details"]["changed"] == {"roles.admin": {"old": "bob", "new": "bob,mallory"}}


def test_an_env_override_is_not_reported_as_a_hand_edit(stocked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_as(stocked) as md:
        md.config_set("search.top_k", "5")
        before = head(md)
    monkeypatch.setenv("MEMDECK__SEARCH__TOP_K", "20")
    with open_as(stocked) as md:
        assert [e["action"] for e in events_after(md, before)] == []


# ============================================================================= 4. approvals
@dataclass
class Pair:
    data_dir: Path
    alice: Memdeck
    bob: Memdeck


@pytest.fixture
def pair(stocked: Path) -> Iterator[Pair]:
    with open_as(stocked) as alice, open_as(stocked, "bob") as bob:
        assert bob.role is Role.ADMIN
        yield Pair(stocked, alice, bob)


def _request_purge(p: Pair, key: str = "a") -> int:
    p.alice.config_set("approvals.purge", "true")
    with pytest.raises(ApprovalRequired) as info:
        p.alice.purge("notes", key, "erasure request")
    assert info.value.exit_code == 9 and f"#{info.value.approval_id}" in info.value.message
    return info.value.approval_id


def test_purge_needs_a_second_admin(pair: Pair) -> None:
    rid = _request_purge(pair)
    assert pair.alice.get("notes", "a")["content"] == "alpha aardvark", "nothing ran yet"
    req = approval_row(pair.alice, rid)
    assert (req["status"], req["action"], req["target"], req["requested_by"]) == (
        "pending", "memory.purge", "notes/a", "alice")
    assert req["params"] == {"collection": "notes", "key": "a", "reason": "erasure request"}
    assert req["expires_at"] == pytest.approx(req["requested_at"] + 24 * 3600)

    # the requester cannot approve her own request
    before = head(pair.alice)
    with pytest.raises(PermissionDenied, match="yourself"):
        pair.alice.approval_approve(rid)
    (ev,) = events_after(pair.alice, before)
    assert (ev["actor"], ev["action"], ev["outcome"]) == ("alice", "approval.approve", "denied")
    assert approval_row(pair.alice, rid)["status"] == "pending"

    before = head(pair.bob)
    out = pair.bob.approval_approve(rid)
    assert out["action"] == "memory.purge" and out["result"]["versions_erased"] == 1
    approve, purge = events_after(pair.bob, before)
    assert (approve["actor"], approve["action"], approve["outcome"]) == ("bob", "approval.approve", "ok")
    assert approve["details"]["requested_by"] == "alice"
    assert (purge["actor"], purge["action"], purge["target"]) == ("bob", "memory.purge", "notes/a")
    assert purge["details"]["approval"] == rid and purge["details"]["reason"] == "erasure request"
    with pytest.raises(NotFound):
        pair.alice.get("notes", "a")
    req = approval_row(pair.bob, rid)
    assert (req["status"], req["decided_by"]) == ("approved", "bob")
    assert json.loads(req["result"])["key"] == "a"

    before = head(pair.bob)
    with pytest.raises(InvalidInput, match="not pending"):
        pair.bob.approval_approve(rid)
    assert [e["action"] for e in events_after(pair.bob, before)] == []


def test_same_admin_from_another_session_is_still_the_requester(pair: Pair) -> None:
    rid = _request_purge(pair)
    with open_as(pair.data_dir, "alice", address="198.51.100.4") as elsewhere, pytest.raises(PermissionDenied):
        elsewhere.approval_approve(rid)
    assert approval_row(pair.alice, rid)["status"] == "pending"


def test_another_admin_may_reject(pair: Pair) -> None:
    rid = _request_purge(pair)
    before = head(pair.bob)
    assert pair.bob.approval_reject(rid, "keep it") == {"approval": rid, "status": "rejected"}
    (ev,) = events_after(pair.bob, before)
    assert (ev["actor"], ev["action"], ev["details"]["note"]) == ("bob", "approval.reject", "keep it")
    req = approval_row(pair.alice, rid)
    assert (req["status"], req["decided_by"], req["note"]) == ("rejected", "bob", "keep it")
    with pytest.raises(InvalidInput):
        pair.bob.approval_approve(rid)
    with pytest.raises(InvalidInput):
        pair.bob.approval_reject(rid)
    assert pair.alice.get("notes", "a")["status"] == "active"


def test_requester_may_withdraw_her_own_request(pair: Pair) -> None:
    rid = _request_purge(pair)
    pair.alice.approval_reject(rid, "changed my mind")
    assert approval_row(pair.alice, rid)["status"] == "rejected"
    assert approval_row(pair.alice, rid)["decided_by"] == "alice"


def test_viewer_cannot_approve_or_reject(pair: Pair) -> None:
    rid = _request_purge(pair)
    with open_as(pair.data_dir, "dave") as dave:
        calls: list[tuple[Callable[[], Any], str]] = [(lambda: dave.approval_approve(rid), "approval.approve"),
                                                      (lambda: dave.approval_reject(rid), "approval.reject")]
        for call, action in calls:
            before = head(dave)
            with pytest.raises(PermissionDenied):
                call()
            (ev,) = events_after(dave, before)
            assert (ev["actor"], ev["action"], ev["outcome"]) == ("dave", action, "denied")
    assert approval_row(pair.alice, rid)["status"] == "pending"


def test_expired_requests_cannot_be_approved(pair: Pair) -> None:
    rid = _request_purge(pair)
    with pair.alice.db.write() as conn:
        conn.execute("UPDATE approvals SET expires_at = ? WHERE id = ?", (time.time() - 1, rid))
    before = head(pair.bob)
    with pytest.raises(InvalidInput, match="expired"):
        pair.bob.approval_approve(rid)
    assert [(e["action"], e["target"]) for e in events_after(pair.bob, before)] == [
        ("approval.expire", f"approval/{rid}")]
    assert approval_row(pair.bob, rid)["status"] == "expired"
    assert pair.alice.approvals() == []
    assert [e["action"] for e in events_after(pair.bob, before)].count("approval.expire") == 1, "expired once"
    assert pair.alice.get("notes", "a")["status"] == "active"


def test_expire_hours_sets_the_deadline(pair: Pair) -> None:
    pair.alice.config_set("approvals.expire_hours", "0.5")
    rid = _request_purge(pair)
    req = approval_row(pair.alice, rid)
    assert req["expires_at"] - req["requested_at"] == pytest.approx(1800)


def test_config_set_with_approval(pair: Pair) -> None:
    pair.alice.config_set("approvals.config_set", "true")
    with pytest.raises(ApprovalRequired) as info:
        pair.alice.config_set("search.top_k", "7")
    rid = info.value.approval_id
    assert pair.alice.config.get("search.top_k") == 10
    assert "top_k" not in (pair.data_dir / "config.toml").read_text()
    with pytest.raises(ConfigError):
        pair.alice.config_set("search.top_k", "lots")
    assert [r["id"] for r in pair.alice.approvals()] == [rid], "an invalid value files no request"

    before = head(pair.bob)
    pair.bob.approval_approve(rid)
    approve, change = events_after(pair.bob, before)
    assert approve["action"] == "approval.approve"
    assert (change["actor"], change["action"], change["target"]) == ("bob", "config.set", "search.top_k")
    assert change["details"] == {"old": 10, "new": 7, "approval": rid}
    with open_as(pair.data_dir) as again:
        assert again.config.get("search.top_k") == 7


def test_approval_settings_are_themselves_guarded(pair: Pair) -> None:
    pair.alice.config_set("approvals.purge", "true")
    pair.alice.config_set("approvals.config_set", "true")
    with pytest.raises(ApprovalRequired):
        pair.alice.config_set("approvals.purge", "false")
    with pytest.raises(ApprovalRequired):
        pair.alice.purge("notes", "a")
    assert pair.alice.get("notes", "a")["status"] == "active"


def test_role_grant_with_approval(pair: Pair) -> None:
    pair.alice.config_set("approvals.roles", "true")
    with pytest.raises(ApprovalRequired) as info:
        pair.alice.role_grant("zoe", "editor")
    rid = info.value.approval_id
    with open_as(pair.data_dir, "zoe") as zoe:
        assert zoe.role is Role.VIEWER
        before = head(pair.bob)
        pair.bob.approval_approve(rid)
        grant = events_after(pair.bob, before)[-1]
        assert (grant["actor"], grant["action"], grant["target"]) == ("bob", "role.grant", "zoe")
        assert grant["details"] == {"principal": "zoe", "old": None, "new": "editor", "approval": rid}
        assert zoe.role.label == "editor"
    with pytest.raises(ApprovalRequired):
        pair.alice.role_revoke("zoe")
    assert "zoe" in pair.alice.roles()["editor"]


def test_roles_cannot_be_granted_through_config_set_without_approval(pair: Pair) -> None:
    pair.alice.config_set("approvals.roles", "true")
    with pytest.raises(ApprovalRequired):
        pair.alice.role_grant("mallory", "admin")
    with pytest.raises((ApprovalRequired, PermissionDenied)):
        pair.alice.config_set("roles.admin", "bob,mallory")
    with open_as(pair.data_dir, "mallory") as mallory:
        assert mallory.role is not Role.ADMIN


def _drift_in(md: Memdeck) -> None:
    md.index.remove([md.get("notes", "b")["id"]])


GATED: dict[str, tuple[str, Callable[[Memdeck], Any], Callable[[Memdeck], None], str]] = {
    "sync-repair": ("approvals.sync_repair", lambda m: m.sync_repair(), _drift_in, "sync.repair"),
    "index-rebuild": ("approvals.index_rebuild", lambda m: m.rebuild_index(), lambda m: None, "index.rebuild"),
    "audit-archive": ("approvals.audit_archive", lambda m: m.audit_archive(before_seq=3), lambda m: None,
                      "audit.archive"),
    "role-revoke": ("approvals.roles", lambda m: m.role_revoke("dave"), lambda m: None, "role.revoke"),
}


@pytest.mark.parametrize("name", list(GATED))
def test_every_gated_action_waits_for_approval(pair: Pair, name: str) -> None:
    setting, act, prepare, action = GATED[name]
    pair.alice.config_set(setting, "true")
    before = head(pair.alice)
    with pytest.raises(ApprovalRequired) as info:
        act(pair.alice)
    assert [e["action"] for e in events_after(pair.alice, before)] == ["approval.request"]
    prepare(pair.bob)
    before = head(pair.bob)
    pair.bob.approval_approve(info.value.approval_id)
    got = events_after(pair.bob, before)
    assert got[0]["action"] == "approval.approve"
    done = [e for e in got if e["action"] == action]
    assert len(done) == 1 and done[0]["actor"] == "bob"
    assert done[0]["details"]["approval"] == info.value.approval_id


def test_a_failing_approved_action_marks_the_request_failed(pair: Pair) -> None:
    rid = _request_purge(pair)
    pair.alice.config_set("approvals.purge", "false")
    pair.alice.purge("notes", "a")  # purged directly meanwhile
    before = head(pair.bob)
    with pytest.raises(NotFound):
        pair.bob.approval_approve(rid)
    assert approval_row(pair.bob, rid)["status"] == "failed"
    assert [(e["action"], e["outcome"]) for e in events_after(pair.bob, before)] == [
        ("approval.approve", "ok"), ("memory.purge", "failed")]


# ============================================================================= 5. purge
def test_purge_erases_everything_and_never_reuses_the_id(data_dir: Path) -> None:
    with open_as(data_dir) as md:
        for key in ("a", "b", "c"):
            md.put("notes", key, f"text of {key} with zebra")
        md.put("notes", "c", "second version of c with zebra")
        top = md.get("notes", "c")["id"]
        assert top == max(r["id"] for r in md.list_items("notes"))
        assert md.index.contains(top)
        before = head(md)
        out = md.purge("notes", "c", "erasure request 42")
        assert out == {"collection": "notes", "key": "c", "id": top, "versions_erased": 2, "seq": out["seq"],
                       "episodes_scrubbed": 0, "training_lines_scrubbed": 0, "trained_in_runs": []}
        (ev,) = events_after(md, before)
        assert ev["details"]["id"] == top and ev["details"]["versions"] == 2
        assert "zebra" not in json.dumps(ev), "the audit event never keeps the content"
        assert not md.index.contains(top)
        assert all(h.id != top for h in md.search("zebra second version", k=10).hits)
        with pytest.raises(NotFound):
            md.history("notes", "c")
        with pytest.raises(NotFound):
            md.get("notes", "c")
        with md.db.read() as conn:
            for table, col in (("items", "id"), ("item_versions", "item_id"), ("embeddings", "item_id")):
                assert conn.execute(f"SELECT count(*) FROM {table} WHERE {col} = ?", (top,)).fetchone()[0] == 0
        new = md.put("notes", "d", "a new item")
        assert new.item_id > top
        again = md.put("notes", "c", "c comes back")
        assert again.item_id > new.item_id and again.version == 1
        assert [h["version"] for h in md.history("notes", "c")] == [1]
    with open_as(data_dir) as md:
        assert not md.index.contains(top)
        assert md.sync_check().clean
        assert md.put("notes", "e", "after reopening").item_id > again.item_id


def test_purge_of_a_missing_item_is_not_found(data_dir: Path) -> None:
    with open_as(data_dir) as md, pytest.raises(NotFound):
        md.purge("notes", "ghost")


def test_purge_ids_survive_another_process(data_dir: Path) -> None:
    with open_as(data_dir) as md:
        md.put("notes", "a", "one")
        md.put("notes", "b", "two")
        md.purge("notes", "b")
    with open_as(data_dir, "alice") as md:
        assert md.put("notes", "z", "three").item_id == 3


# ============================================================================= 6. CLI
@pytest.fixture(scope="module")
def viewer_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("viewer") / "data"
    with open_as(d) as md:
        md.put("notes", "a", "alpha aardvark")
        md.put("notes", "b", "beta beaver")
    return d


@pytest.fixture
def viewer_dir(viewer_template: Path, data_dir: Path) -> Path:
    """Made by alice, so the OS user running the CLI is a plain viewer here (a fresh copy)."""
    shutil.copytree(viewer_template, data_dir)
    return data_dir


@pytest.mark.parametrize(("argv", "permission"), [
    (["put", "notes", "c", "gamma"], "memory.put"),
    (["delete", "notes", "a", "--yes"], "memory.delete"),
    (["config", "set", "search.top_k", "5"], "config.set"),
    (["sync", "check"], "sync.check"),
    (["sync", "repair"], "sync.repair"),
    (["index", "rebuild"], "index.rebuild"),
    (["purge", "notes", "a", "--yes"], "memory.purge"),
    (["roles", "grant", "bob", "admin"], "role.grant"),
    (["roles", "revoke", "bob"], "role.revoke"),
    (["audit", "archive", "--before-seq", "2"], "audit.archive"),
    (["audit", "export", "--unredacted"], "audit.export_unredacted"),
    (["approvals", "approve", "1"], "approval.approve"),
    (["heartbeat", "--once"], "heartbeat.run"),
])
def test_cli_viewer_cannot_mutate(viewer_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                  permission: str) -> None:
    with open_as(viewer_dir) as md:
        before = head(md)
    run = cli(capsys, viewer_dir, *argv)
    assert run.code == 8, run.err
    assert run.err.startswith(f"error: {ME} has the viewer role")
    with open_as(viewer_dir) as md:
        got = events_after(md, before)
        assert md.get("notes", "a")["status"] == "active"
    assert [(e["actor"], e["action"], e["outcome"]) for e in got] == [(ME, permission, "denied")]


def test_cli_denial_as_json(viewer_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, viewer_dir, "put", "notes", "c", "gamma", "--json")
    assert run.code == 8
    assert run.json()["error"] == "PermissionDenied"


def test_cli_viewer_may_read(viewer_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["get", "notes", "a"], ["search", "aardvark"], ["audit", "log"], ["audit", "verify"],
                 ["roles", "list"], ["approvals", "list"], ["audit", "export"]):
        assert cli(capsys, viewer_dir, *argv).code == 0, argv


def test_cli_whoami(viewer_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = cli(capsys, viewer_dir, "roles", "whoami", "--json").json()
    assert (data["user"], data["role"], data["creator"]) == (ME, "viewer", "alice")
    assert "memory.read" in data["allowed"] and "memory.put" not in data["allowed"]
    own = tmp_path / "own"
    data = cli(capsys, own, "roles", "whoami", "--json").json()
    assert (data["user"], data["role"], data["creator"]) == (ME, "admin", ME)
    human = cli(capsys, own, "roles", "whoami")
    assert human.code == 0 and human.out.startswith(f"{ME}: admin")


def test_cli_roles_grant_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "own"
    run = cli(capsys, d, "roles", "grant", "bob", "editor")
    assert run.code == 0 and run.out.strip() == "bob: no role -> editor"
    assert cli(capsys, d, "roles", "grant", "@staff", "viewer").code == 0
    listing = cli(capsys, d, "roles", "list", "--json").json()
    assert listing == {"creator": ME, "default": "viewer", "admin": [], "editor": ["bob"], "viewer": ["@staff"]}
    human = cli(capsys, d, "roles", "list").out
    assert f"admin   {ME}" in human and "created the data dir" in human and "anyone else: viewer" in human
    run = cli(capsys, d, "roles", "revoke", "bob")
    assert run.code == 0 and "bob: editor revoked" in run.out
    assert cli(capsys, d, "roles", "revoke", "bob").code == 3
    assert cli(capsys, d, "roles", "revoke", ME).code == 2
    assert cli(capsys, d, "roles", "grant", "bad name", "viewer").code == 2
    with pytest.raises(SystemExit):
        main(["roles", "grant", "bob", "owner", "--data-dir", str(d)])


def test_cli_approvals_flow(viewer_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_as(viewer_dir) as alice:
        alice.role_grant(ME, "admin")
        alice.config_set("approvals.purge", "true")
        with pytest.raises(ApprovalRequired) as info:
            alice.purge("notes", "a", "gdpr")
    rid = info.value.approval_id

    pending = cli(capsys, viewer_dir, "approvals", "list", "--json").json()
    assert [(r["id"], r["status"], r["requested_by"]) for r in pending] == [(rid, "pending", "alice")]
    human = cli(capsys, viewer_dir, "approvals", "list").out
    assert f"#{rid}" in human and "memory.purge" in human and "notes/a" in human

    run = cli(capsys, viewer_dir, "approvals", "approve", str(rid))
    assert run.code == 0 and f"approved #{rid}: ran memory.purge notes/a" in run.out
    assert cli(capsys, viewer_dir, "get", "notes", "a").code == 3
    assert cli(capsys, viewer_dir, "approvals", "list").out.strip() == "no pending requests"
    every = cli(capsys, viewer_dir, "approvals", "list", "--all", "--json").json()
    assert [(r["id"], r["status"], r["decided_by"]) for r in every] == [(rid, "approved", ME)]
    assert cli(capsys, viewer_dir, "approvals", "approve", str(rid)).code == 2

    # the CLI user's own request: exit 9, cannot approve it, may withdraw it
    run = cli(capsys, viewer_dir, "purge", "notes", "b", "--yes")
    assert run.code == 9 and run.err.startswith("pending: ")
    own = cli(capsys, viewer_dir, "approvals", "list", "--json").json()[0]["id"]
    run = cli(capsys, viewer_dir, "approvals", "approve", str(own))
    assert run.code == 8 and "yourself" in run.err
    run = cli(capsys, viewer_dir, "approvals", "reject", str(own), "--note", "oops")
    assert run.code == 0 and run.out.strip() == f"rejected #{own}"
    assert cli(capsys, viewer_dir, "approvals", "reject", str(own)).code == 2
    assert cli(capsys, viewer_dir, "approvals", "reject", "999").code == 3
    assert cli(capsys, viewer_dir, "get", "notes", "b").code == 0


def test_cli_pending_as_json(viewer_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_as(viewer_dir) as alice:
        alice.role_grant(ME, "admin")
        alice.config_set("approvals.config_set", "true")
    run = cli(capsys, viewer_dir, "config", "set", "search.top_k", "5", "--json")
    assert run.code == 9 and run.json()["error"] == "ApprovalRequired"


def test_cli_purge_needs_yes(viewer_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, viewer_dir, "purge", "notes", "a")
    assert run.code == 2 and "--yes" in run.err


def test_cli_purge_as_admin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "own"
    assert cli(capsys, d, "put", "notes", "a", "alpha").code == 0
    assert cli(capsys, d, "put", "notes", "a", "alpha again").code == 0
    run = cli(capsys, d, "purge", "notes", "a", "--yes", "--reason", "asked to")
    assert run.code == 0 and run.out.strip() == "purged notes/a (2 version(s) erased)"
    assert cli(capsys, d, "history", "notes", "a").code == 3
    log = cli(capsys, d, "audit", "log", "--json", "--action", "memory.purge").out.splitlines()
    assert json.loads(log[0])["details"]["reason"] == "asked to"
