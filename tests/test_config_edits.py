"""Hand edits to config.toml (roles, approvals...) are recorded in the audit trail, never silent."""

from __future__ import annotations

from pathlib import Path

from helpers import WordHashEmbedder

from core.audit_query import AuditFilter
from core.memdeck import Memdeck
from core.roles import Identity, Role

ALICE = Identity("alice")


def test_hand_edit_is_recorded_once_with_old_and_new(tmp_path: Path) -> None:
    root = tmp_path / "d"
    with Memdeck.open(root, embedder=WordHashEmbedder(), identity=ALICE) as md:
        md.config_set("roles.editor", "bob")
    cfg = root / "config.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('editor = "bob"', 'editor = "bob"\nadmin = "mallory"'),
                   encoding="utf-8")
    for _ in range(2):  # the second open sees nothing new
        with Memdeck.open(root, embedder=WordHashEmbedder(), identity=ALICE) as md:
            events = md.audit_log(AuditFilter(action="config.edited_outside"))
    assert len(events) == 1
    assert events[0]["details"]["changed"] == {"roles.admin": {"old": None, "new": "mallory"}}


def test_memdecks_own_changes_are_not_reported_as_outside_edits(tmp_path: Path) -> None:
    root = tmp_path / "d"
    with Memdeck.open(root, embedder=WordHashEmbedder(), identity=ALICE) as md:
        md.config_set("search.top_k", "7")
        md.role_grant("bob", "editor")
    with Memdeck.open(root, embedder=WordHashEmbedder(), identity=ALICE) as md:
        assert md.audit_log(AuditFilter(action="config.edited_outside")) == []


def test_a_running_console_sees_a_role_granted_by_another_process(tmp_path: Path) -> None:
    root = tmp_path / "d"
    with Memdeck.open(root, embedder=WordHashEmbedder(), identity=ALICE):
        pass
    with Memdeck.open(root, embedder=WordHashEmbedder(), identity=Identity("bob")) as bob:
        assert bob.role is Role.VIEWER
        import os
        import time

        with Memdeck.open(root, embedder=WordHashEmbedder(), identity=ALICE) as alice:
            alice.role_grant("bob", "editor")
        st = (root / "config.toml").stat()
        os.utime(root / "config.toml", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # coarse-mtime file systems
        time.sleep(0.01)
        assert bob.role is Role.EDITOR
        bob.put("facts", "k", "bob may write now")
