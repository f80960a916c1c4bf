"""The audit trail: one event per action, tamper evidence, v1 history, archive segments, redacted
exports, filters, and the ``memdeck audit`` CLI.

Most tests open the data dir as ``alice`` (``core.roles.Identity``), who becomes its creator and so its
admin. Tampering is done the way an attacker with file access would: raw SQLite on ``memdeck.db``
after the Memdeck is closed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import queue
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder

from core import audit
from core.audit import AuditRecord, canonical_v2, event_hash_v1, event_hash_v2
from core.audit_query import AuditFilter, AuditReader, parse_filter, parse_time
from core.audit_verify import VerifyReport
from core.db import migration_scripts, split_sql
from core.errors import ApprovalRequired, InvalidInput, StorageError
from core.memdeck import Memdeck
from core.roles import Identity, current_identity
from tui.cli import main

ROOT = Path(__file__).resolve().parent.parent
COLS = ("seq", "at", "actor", "action", "target", "outcome", "details", "prev_hash", "hash", "hv")


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
        rows = conn.execute(f"SELECT {', '.join(COLS)} FROM audit_events WHERE seq > ? ORDER BY seq",
                            (seq,)).fetchall()
    out = []
    for r in rows:
        ev = dict(zip(COLS, r, strict=True))
        ev["details"] = json.loads(ev["details"])
        out.append(ev)
    return out


def raw(data_dir: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(data_dir / "memdeck.db", isolation_level=None)
    return conn


def raw_rows(data_dir: Path) -> list[tuple[Any, ...]]:
    conn = raw(data_dir)
    try:
        return conn.execute(f"SELECT {', '.join(COLS)} FROM audit_events ORDER BY seq").fetchall()
    finally:
        conn.close()


def verify_dir(data_dir: Path, threads: int = 2) -> VerifyReport:
    with open_as(data_dir) as md:
        return md.audit_verify(threads=threads)


def rehash(row: tuple[Any, ...], **changes: Any) -> tuple[Any, ...]:
    """The row with ``changes`` applied and its hash recomputed (v2), as a careful forger would."""
    ev = dict(zip(COLS, row, strict=True))
    ev.update(changes)
    ev["hash"] = event_hash_v2(ev["seq"], ev["at"], ev["actor"], ev["action"], ev["target"], ev["outcome"],
                               ev["details"], ev["prev_hash"])
    return tuple(ev[c] for c in COLS)


def write_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    ev = dict(zip(COLS, row, strict=True))
    conn.execute("UPDATE audit_events SET at=?, actor=?, action=?, target=?, outcome=?, details=?, prev_hash=?,"
                 " hash=?, hv=? WHERE seq=?", (ev["at"], ev["actor"], ev["action"], ev["target"], ev["outcome"],
                                              ev["details"], ev["prev_hash"], ev["hash"], ev["hv"], ev["seq"]))


@dataclass
class Run:
    code: int
    out: str
    err: str


def cli(capsys: pytest.CaptureFixture[str], data_dir: Path, *argv: str) -> Run:
    capsys.readouterr()
    code = main([*argv, "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    return Run(code, out, err)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def alice(data_dir: Path) -> Iterator[Memdeck]:
    with open_as(data_dir) as md:
        yield md


@pytest.fixture(scope="module")
def chain_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("chain") / "data"
    with open_as(d) as md:
        md.put_many([{"collection": "notes", "key": f"k{i}", "content": f"note number {i} about topic{i}"}
                     for i in range(8)])
        assert head(md) == 8
    return d


@pytest.fixture
def chain(chain_template: Path, data_dir: Path) -> Path:
    """A closed data dir whose audit chain holds 8 memory.put events (#1-#8), all by alice (a fresh copy)."""
    shutil.copytree(chain_template, data_dir)
    return data_dir


# ============================================================================= 1. one event per action
@dataclass
class Env:
    data_dir: Path
    alice: Memdeck
    bob: Memdeck | None = None
    rid: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def open_bob_as_admin(self) -> Memdeck:
        self.alice.role_grant("bob", "admin")
        self.bob = open_as(self.data_dir, "bob")
        return self.bob


def _noop(e: Env) -> None:
    return None


def _put_a(e: Env) -> None:
    e.alice.put("notes", "a", "alpha one")


def _put_a_quarantined(e: Env) -> None:
    _put_a(e)
    e.alice.set_status("notes", "a", "quarantined", "check it")


def _drift(e: Env) -> None:
    for i in range(3):
        e.alice.put("notes", f"d{i}", f"drift item {i}")
    item_id = e.alice.get("notes", "d1")["id"]
    e.alice.index.remove([item_id])
    assert e.alice.sync_check().missing == [item_id]


def _four_puts(e: Env) -> None:
    for i in range(4):
        e.alice.put("notes", f"p{i}", f"archive me {i}")


def _grant_bob(e: Env) -> None:
    e.alice.role_grant("bob", "editor")


def _pending_purge_setup(e: Env) -> None:
    _put_a(e)
    e.open_bob_as_admin()
    e.alice.config_set("approvals.purge", "true")


def _pending_purge(e: Env) -> None:
    _pending_purge_setup(e)
    with pytest.raises(ApprovalRequired) as info:
        e.alice.purge("notes", "a")
    e.rid = info.value.approval_id


def _request_purge(e: Env) -> None:
    with pytest.raises(ApprovalRequired) as info:
        e.alice.purge("notes", "a")
    e.rid = info.value.approval_id


def _approve(e: Env) -> None:
    assert e.bob is not None
    e.bob.approval_approve(e.rid)


def _reject(e: Env) -> None:
    assert e.bob is not None
    e.bob.approval_reject(e.rid, "not now")


def _access_events_off(e: Env) -> None:
    _put_a(e)
    e.alice.config_set("audit.access_events", "false")


def _search(e: Env) -> None:
    assert e.alice.search("alpha", k=3).hits


Expected = list[tuple[str, str, str | None]]  # action, actor, target (None: not checked)
CASES: dict[str, tuple[Callable[[Env], Any], Callable[[Env], Any], Expected]] = {
    "put-create": (_noop, _put_a, [("memory.put", "alice", "notes/a")]),
    "put-update": (_put_a, lambda e: e.alice.put("notes", "a", "alpha two"), [("memory.put", "alice", "notes/a")]),
    "put-unchanged": (_put_a, _put_a, []),
    "delete": (_put_a, lambda e: e.alice.delete("notes", "a"), [("memory.delete", "alice", "notes/a")]),
    "quarantine": (_put_a, lambda e: e.alice.set_status("notes", "a", "quarantined", "odd"),
                   [("memory.quarantine", "alice", "notes/a")]),
    "restore": (_put_a_quarantined, lambda e: e.alice.set_status("notes", "a", "active"),
                [("memory.restore", "alice", "notes/a")]),
    "sync-repair": (_drift, lambda e: e.alice.sync_repair(), [("sync.repair", "alice", "index")]),
    "rebuild-index": (_put_a, lambda e: e.alice.rebuild_index(), [("index.rebuild", "alice", "index")]),
    "config-set": (_noop, lambda e: e.alice.config_set("search.top_k", "7"), [("config.set", "alice", "search.top_k")]),
    "role-grant": (_noop, _grant_bob, [("role.grant", "alice", "bob")]),
    "role-revoke": (_grant_bob, lambda e: e.alice.role_revoke("bob"), [("role.revoke", "alice", "bob")]),
    "audit-export": (_put_a, lambda e: e.alice.audit_export("jsonl"), [("audit.export", "alice", "stdout")]),
    "audit-verify": (_put_a, lambda e: e.alice.audit_verify(), [("audit.verify", "alice", "audit")]),
    "purge": (_put_a, lambda e: e.alice.purge("notes", "a", "erasure request"), [("memory.purge", "alice", "notes/a")]),
    "audit-archive": (_four_puts, lambda e: e.alice.audit_archive(before_seq=3), [("audit.archive", "alice", None)]),
    "approval-request": (_pending_purge_setup, _request_purge, [("approval.request", "alice", "approval/1")]),
    "approval-approve": (_pending_purge, _approve, [("approval.approve", "bob", "approval/1"),
                                                    ("memory.purge", "bob", "notes/a")]),
    "approval-reject": (_pending_purge, _reject, [("approval.reject", "bob", "approval/1")]),
    "search": (_put_a, _search, [("memory.search", "alice", "*")]),
    "search-access-events-off": (_access_events_off, _search, []),
}


@pytest.mark.parametrize("case", list(CASES))
def test_exactly_one_audit_event_per_action(data_dir: Path, case: str) -> None:
    setup, act, expected = CASES[case]
    with open_as(data_dir) as md:
        env = Env(data_dir, md)
        try:
            setup(env)
            before = head(md)
            act(env)
            got = events_after(md, before)
        finally:
            if env.bob is not None:
                env.bob.close()
    assert [(e["action"], e["actor"]) for e in got] == [(a, who) for a, who, _ in expected]
    for ev, (_, _, target) in zip(got, expected, strict=True):
        assert ev["outcome"] == "ok"
        if target is not None:
            assert ev["target"] == target
        assert ev["hv"] == audit.HASH_VERSION


def test_event_details_say_what_happened(alice: Memdeck) -> None:
    alice.put("notes", "a", "alpha one")
    before = head(alice)
    alice.put("notes", "a", "alpha two")
    alice.set_status("notes", "a", "quarantined", "looks wrong")
    alice.config_set("search.top_k", "7")
    put, quarantine, config = events_after(alice, before)
    assert put["details"]["result"] == "updated" and put["details"]["version"] == 2
    assert quarantine["details"] == {"from": "active", "to": "quarantined", "version": 3,
                                     "seq": quarantine["details"]["seq"], "reason": "looks wrong"}
    assert config["details"] == {"old": 10, "new": 7}


def test_failed_admin_action_is_audited_as_failed(alice: Memdeck) -> None:
    before = head(alice)
    with pytest.raises(Exception, match="no role"):
        alice.role_revoke("nobody")
    (ev,) = events_after(alice, before)
    assert (ev["action"], ev["target"], ev["outcome"]) == ("role.revoke", "nobody", "failed")
    assert "no role" in ev["details"]["error"]


def test_put_many_writes_one_event_per_changed_item(alice: Memdeck) -> None:
    alice.put("notes", "same", "unchanged text")
    before = head(alice)
    alice.put_many([{"collection": "notes", "key": "same", "content": "unchanged text"},
                    {"collection": "notes", "key": "n1", "content": "new one"},
                    {"collection": "notes", "key": "n2", "content": "new two"}])
    assert [(e["action"], e["target"]) for e in events_after(alice, before)] == [
        ("memory.put", "notes/n1"), ("memory.put", "notes/n2")]


# ============================================================================= 2. tampering
def test_clean_chain_verifies_with_head_at_max_seq(chain: Path) -> None:
    rows = raw_rows(chain)
    report = verify_dir(chain)
    assert report.ok and report.first_bad_seq is None and report.kind is None
    assert report.live_events == 8 and report.archived_events == 0 and report.segments == 0
    assert report.head_seq == max(r[0] for r in rows) == 8
    assert report.head_hash == rows[-1][8]
    # every link is the previous event's hash, starting from the genesis hash
    assert [r[7] for r in rows] == [audit.GENESIS] + [r[8] for r in rows[:-1]]


def test_verify_records_its_own_outcome(chain: Path) -> None:
    conn = raw(chain)
    conn.execute("UPDATE audit_events SET details = '{}' WHERE seq = 5")
    conn.close()
    with open_as(chain) as md:
        report = md.audit_verify()
        (ev,) = events_after(md, 8)
    assert not report.ok
    assert (ev["action"], ev["outcome"]) == ("audit.verify", "failed")
    assert ev["details"]["first_bad_seq"] == 5


def _edit_details(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute("UPDATE audit_events SET details = replace(details, 'created', 'updated') WHERE seq = ?", (seq,))


def _delete_row(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute("DELETE FROM audit_events WHERE seq = ?", (seq,))


def _swap_with_next_but_one(conn: sqlite3.Connection, seq: int) -> None:
    other = seq + 2
    a = conn.execute(f"SELECT {', '.join(COLS)} FROM audit_events WHERE seq = ?", (seq,)).fetchone()
    b = conn.execute(f"SELECT {', '.join(COLS)} FROM audit_events WHERE seq = ?", (other,)).fetchone()
    write_row(conn, (seq, *b[1:]))
    write_row(conn, (other, *a[1:]))


def _rehash(conn: sqlite3.Connection, seq: int) -> None:
    row = conn.execute(f"SELECT {', '.join(COLS)} FROM audit_events WHERE seq = ?", (seq,)).fetchone()
    forged = rehash(row, details=row[6].replace('"created"', '"forged"'))
    assert forged[8] != row[8]
    write_row(conn, forged)


def _truncate_from(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute("DELETE FROM audit_events WHERE seq >= ?", (seq,))


def _shift_at(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute("UPDATE audit_events SET at = at - 3600 WHERE seq = ?", (seq,))


def _change_actor(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = ?", (seq,))


def _change_outcome(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute("UPDATE audit_events SET outcome = 'denied' WHERE seq = ?", (seq,))


def _relabel_hv(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute("UPDATE audit_events SET hv = 1 WHERE seq = ?", (seq,))


TAMPER: list[tuple[str, Callable[[sqlite3.Connection, int], None], int, str]] = [
    ("details-middle", _edit_details, 4, "edited"),
    ("details-first", _edit_details, 1, "edited"),
    ("details-last", _edit_details, 8, "edited"),
    ("delete-middle", _delete_row, 4, "missing"),
    ("delete-first", _delete_row, 1, "missing"),
    ("swap-rows", _swap_with_next_but_one, 3, "edited"),
    ("swap-first-rows", _swap_with_next_but_one, 1, "edited"),
    ("edit-and-rehash", _rehash, 4, "rehashed"),
    ("edit-and-rehash-first", _rehash, 1, "rehashed"),
    ("truncate-tail", _truncate_from, 7, "truncated"),
    ("truncate-everything", _truncate_from, 1, "truncated"),
    ("change-at", _shift_at, 6, "edited"),
    ("change-actor", _change_actor, 2, "edited"),
    ("change-outcome", _change_outcome, 3, "edited"),
    ("relabel-hash-version", _relabel_hv, 5, "edited"),
]


@pytest.mark.parametrize(("tamper", "seq", "kind"), [(t[1], t[2], t[3]) for t in TAMPER],
                         ids=[t[0] for t in TAMPER])
def test_tampering_is_found_at_the_first_bad_seq(chain: Path, tamper: Callable[[sqlite3.Connection, int], None],
                                                 seq: int, kind: str) -> None:
    conn = raw(chain)
    tamper(conn, seq)
    conn.close()
    report = verify_dir(chain)
    assert not report.ok
    assert (report.first_bad_seq, report.kind) == (seq, kind), report.problem
    assert report.problem and f"#{seq}" in report.problem
    assert f"#{seq}" in report.summary()


def test_tampering_found_after_new_events_were_appended(chain: Path) -> None:
    """A deleted tail is still found once later events are appended on top of the gap."""
    conn = raw(chain)
    _truncate_from(conn, 7)
    conn.close()
    with open_as(chain) as md:
        md.put("notes", "later", "written after the deletion")
        seqs = [e["seq"] for e in events_after(md, 0)]
        assert seqs == [1, 2, 3, 4, 5, 6, 9], "deleted numbers must not be reused"
        report = md.audit_verify()
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 7, "missing")


def test_cli_verify_exit_code_and_first_bad_seq(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = cli(capsys, chain, "audit", "verify")
    assert ok.code == 0 and "audit chain intact: 8 events" in ok.out
    assert "--expect-head 8:" in ok.out
    conn = raw(chain)
    _edit_details(conn, 6)
    conn.close()
    bad = cli(capsys, chain, "audit", "verify")
    assert bad.code == 1
    assert "BROKEN at event #6" in bad.out
    as_json = cli(capsys, chain, "audit", "verify", "--json")
    assert as_json.code == 1
    data = json.loads(as_json.out)
    assert (data["ok"], data["first_bad_seq"], data["kind"]) == (False, 6, "edited")


def _rewrite_from(data_dir: Path, seq: int) -> None:
    """Edit event ``seq`` and recompute every hash from there on: a consistent rewritten chain."""
    conn = raw(data_dir)
    rows = conn.execute(f"SELECT {', '.join(COLS)} FROM audit_events ORDER BY seq").fetchall()
    prev = None
    for row in rows:
        if row[0] < seq:
            prev = row[8]
            continue
        changes: dict[str, Any] = {"prev_hash": prev if prev is not None else audit.GENESIS}
        if row[0] == seq:
            changes["details"] = row[6].replace('"created"', '"rewritten"')
        new = rehash(row, **changes)
        write_row(conn, new)
        prev = new[8]
    conn.close()


def test_expect_head_detects_a_chain_rewritten_from_scratch(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = cli(capsys, chain, "audit", "verify", "--json")
    assert first.code == 0
    anchor = json.loads(first.out)
    anchor_arg = f"{anchor['head_seq']}:{anchor['head_hash']}"
    assert cli(capsys, chain, "audit", "verify", "--expect-head", anchor_arg).code == 0

    _rewrite_from(chain, 3)
    plain = cli(capsys, chain, "audit", "verify")
    assert plain.code == 0, "a consistent rewrite cannot be seen without an anchor"
    anchored = cli(capsys, chain, "audit", "verify", "--expect-head", anchor_arg)
    assert anchored.code == 1
    assert f"#{anchor['head_seq']}" in anchored.out and "rewritten" in anchored.out
    short = cli(capsys, chain, "audit", "verify", "--expect-head", f"{anchor['head_seq']}:{anchor['head_hash'][:16]}")
    assert short.code == 1, "the 16-character prefix printed by verify works as an anchor too"


def test_expect_head_with_a_malformed_anchor_is_refused(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, chain, "audit", "verify", "--expect-head", "eight:abc").code == 2


def test_expect_head_without_a_hash_is_not_a_match(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _rewrite_from(chain, 3)
    run = cli(capsys, chain, "audit", "verify", "--expect-head", "8")
    assert run.code != 0


# ----------------------------------------------------------------------------- threaded walk
@pytest.fixture(scope="module")
def big_chain_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,001 events: just enough for verify to split the live walk over two threads (#1-#10001, #10002-)."""
    d = tmp_path_factory.mktemp("big") / "data"
    with open_as(d) as md, md.db.write() as conn:
        md.auditor.append(conn, [AuditRecord("test.event", f"t/{i}", {"i": i}) for i in range(20_001)])
    return d


@pytest.mark.parametrize(("what", "seq", "kind"), [
    ("clean", 0, ""),
    ("rehash-last-of-first-range", 10_001, "rehashed"),
    ("delete-first-of-second-range", 10_002, "missing"),
    ("edit-in-second-range", 15_000, "edited"),
    ("edit-first-of-second-range", 10_002, "edited"),
])
def test_threaded_verify_finds_tampering_across_the_split(big_chain_template: Path, tmp_path: Path, what: str,
                                                          seq: int, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.audit_verify as verify_mod

    ranges: list[tuple[int, int]] = []
    real_scan = verify_mod._scan_range

    def spy(db: Any, lo: int, hi: int, *args: Any) -> Any:
        ranges.append((lo, hi))
        return real_scan(db, lo, hi, *args)

    monkeypatch.setattr(verify_mod, "_scan_range", spy)
    d = tmp_path / "data"
    shutil.copytree(big_chain_template, d)
    conn = raw(d)
    if what.startswith("rehash"):
        _rehash_generic(conn, seq)
    elif what.startswith("delete"):
        _delete_row(conn, seq)
    elif what.startswith("edit"):
        conn.execute("UPDATE audit_events SET target = 'x' WHERE seq = ?", (seq,))
    conn.close()
    report = verify_dir(d, threads=2)
    if what != "delete-first-of-second-range":
        assert sorted(ranges) == [(1, 10_001), (10_002, 20_001)], "the walk was split over two threads"
    if what == "clean":
        assert report.ok and report.live_events == 20_001 and report.head_seq == 20_001
    else:
        assert (report.ok, report.first_bad_seq, report.kind) == (False, seq, kind), report.problem


def _rehash_generic(conn: sqlite3.Connection, seq: int) -> None:
    row = conn.execute(f"SELECT {', '.join(COLS)} FROM audit_events WHERE seq = ?", (seq,)).fetchone()
    write_row(conn, rehash(row, target="forged"))


# ============================================================================= 3. v1 history
def _v2_schema_db(path: Path) -> sqlite3.Connection:
    """A database as the first release left it (migrations 1-2: no ``hv`` column)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    for version, _name, sql in migration_scripts():
        if version > 2:
            break
        for statement in split_sql(sql):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version={version}")
    return conn


def _add_v1_events(conn: sqlite3.Connection, n: int) -> list[str]:
    prev = audit.GENESIS
    hashes = []
    t0 = time.time() - 86400
    for seq in range(1, n + 1):
        at = t0 + seq * 1.234567
        details = json.dumps({"old": seq, "note": "früh 'v1' \"event\""}, sort_keys=True, ensure_ascii=False)
        h = event_hash_v1(seq, at, "olduser", "memory.put", f"legacy/k{seq}", "ok", details, prev)
        conn.execute("INSERT INTO audit_events (seq, at, actor, action, target, outcome, details, prev_hash, hash)"
                     " VALUES (?,?,?,?,?,?,?,?,?)", (seq, at, "olduser", "memory.put", f"legacy/k{seq}", "ok",
                                                     details, prev, h))
        prev = h
        hashes.append(h)
    return hashes


@pytest.fixture
def mixed_chain(data_dir: Path) -> Path:
    """Four v1 events from the first release, then (after the upgrade) three v2 events."""
    conn = _v2_schema_db(data_dir / "memdeck.db")
    _add_v1_events(conn, 4)
    conn.close()
    with open_as(data_dir) as md:
        for i in range(3):
            md.put("notes", f"new{i}", f"after the upgrade {i}")
    return data_dir


def test_v1_events_keep_their_version_and_still_verify(mixed_chain: Path) -> None:
    rows = raw_rows(mixed_chain)
    assert [r[9] for r in rows] == [1, 1, 1, 1, 2, 2, 2]
    assert rows[4][7] == rows[3][8], "the first v2 event links to the last v1 event"
    report = verify_dir(mixed_chain)
    assert report.ok and report.live_events == 7 and report.head_seq == 7


@pytest.mark.parametrize(("tamper", "seq", "kind"), [
    (lambda c: c.execute("UPDATE audit_events SET details = '{}' WHERE seq = 2"), 2, "edited"),
    (lambda c: c.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 4"), 4, "edited"),
    (lambda c: c.execute("DELETE FROM audit_events WHERE seq = 3"), 3, "missing"),
    (lambda c: c.execute("UPDATE audit_events SET hv = 2 WHERE seq = 1"), 1, "edited"),
], ids=["details", "actor", "delete", "relabel-as-v2"])
def test_tampering_with_a_v1_event_is_found(mixed_chain: Path, tamper: Callable[[sqlite3.Connection], Any],
                                            seq: int, kind: str) -> None:
    conn = raw(mixed_chain)
    tamper(conn)
    conn.close()
    report = verify_dir(mixed_chain)
    assert (report.ok, report.first_bad_seq, report.kind) == (False, seq, kind), report.problem


def test_a_v1_event_rehashed_with_the_v1_encoding_is_found(mixed_chain: Path) -> None:
    conn = raw(mixed_chain)
    row = conn.execute(f"SELECT {', '.join(COLS)} FROM audit_events WHERE seq = 2").fetchone()
    forged = row[6].replace('"old": 2', '"old": 20')
    assert forged != row[6]
    h = event_hash_v1(row[0], row[1], row[2], row[3], row[4], row[5], forged, row[7])
    conn.execute("UPDATE audit_events SET details = ?, hash = ? WHERE seq = 2", (forged, h))
    conn.close()
    report = verify_dir(mixed_chain)
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 2, "rehashed")


def test_archive_spanning_v1_and_v2_events_verifies(mixed_chain: Path) -> None:
    with open_as(mixed_chain) as md:
        out = md.audit_archive(before_seq=6)
        assert (out["first_seq"], out["last_seq"], out["archived"]) == (1, 5, 5)
        report = md.audit_verify()
    assert report.ok and report.segments == 1 and report.archived_events == 5


# ============================================================================= 4. canonical encoding
_TRICKY_TEXT = ["", "alice", "zoë 'o\"brien'", "ünïcødé ✓ 🎉 中文", "back\\slash", "NULL", "semi;colon || x",
                "\u2028line\u2029sep", "a" * 1000, "tab\ufffdreplaced"]


def _tricky_ats() -> list[float]:
    rng = random.Random(20240601)
    ats = [time.time(), 0.1, 0.0, 1.0, 1e9 + 0.999999, 1700000000.123456, 1.0000005, 123.456789e3,
           1e-7, 4102444800.999999, 2**31 + 0.5, 1234567890.000001, 0.3, 0.7, 1e12 + 0.1]
    ats += [rng.uniform(0, 4e9) for _ in range(500)]
    ats += [rng.randrange(0, 4_000_000_000_000_000) / 1e6 for _ in range(500)]  # on microsecond boundaries
    ats += [math.nextafter(a, 0.0) for a in ats[:200]] + [math.nextafter(a, math.inf) for a in ats[:200]]
    return ats


def test_python_canonical_v2_equals_sqlite_canonical_v2_sql() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE audit_events (seq INTEGER, at REAL, actor TEXT, action TEXT, target TEXT,"
                 " outcome TEXT, details TEXT, prev_hash TEXT)")
    rows: list[tuple[Any, ...]] = []
    seqs = [1, 2**31, 2**53 + 1, 2**62, 9_223_372_036_854_775_807]
    for n, at in enumerate(_tricky_ats()):
        text = _TRICKY_TEXT[n % len(_TRICKY_TEXT)]
        details = json.dumps({"q": text, "n": n}, ensure_ascii=False, sort_keys=True)
        rows.append((seqs[n % len(seqs)] - (n % 3 == 0), at, text, "memory.search", text[::-1], "ok", details,
                     audit.GENESIS if n % 2 else "f" * 64))
    conn.executemany("INSERT INTO audit_events VALUES (?,?,?,?,?,?,?,?)", rows)
    got = conn.execute(f"SELECT seq, at, actor, action, target, outcome, details, prev_hash, {audit.CANONICAL_V2_SQL}"
                       " FROM audit_events ORDER BY rowid").fetchall()
    assert len(got) == len(rows)
    mismatches = [(r[0], r[1]) for r in got if canonical_v2(*r[:8]) != r[8]]
    assert mismatches == []


def test_tricky_values_written_by_append_verify(alice: Memdeck) -> None:
    with alice.db.write() as conn:
        for n, at in enumerate(_tricky_ats()[:300]):
            text = _TRICKY_TEXT[n % len(_TRICKY_TEXT)]
            audit.append(conn, text or "x", [AuditRecord("test.tricky", text, {"text": text})], at=at)
    report = alice.audit_verify()
    assert report.ok and report.live_events == 300, report.problem


def test_control_characters_cannot_make_the_encoding_ambiguous(alice: Memdeck) -> None:
    with alice.db.write() as conn:
        audit.append(conn, "ali\x1fce", [AuditRecord("act\x1fion", "tar\x1fget\n", {"d": "x\x1fy"})])
    (ev,) = events_after(alice, 0)
    assert "\x1f" not in ev["actor"] + ev["action"] + ev["target"]
    assert ev["details"] == {"d": "x\x1fy"}
    assert alice.audit_verify().ok


# ============================================================================= 5. archive
def test_archive_then_verify_spans_archive_and_live(chain: Path) -> None:
    rows = raw_rows(chain)
    with open_as(chain) as md:
        out = md.audit_archive(before_seq=6)
        assert (out["archived"], out["first_seq"], out["last_seq"]) == (5, 1, 5)
        path = Path(out["path"])
        assert path.parent == md.layout.audit_archive_dir and path.exists()
        live = events_after(md, 0)
        assert [e["seq"] for e in live] == [6, 7, 8, 9]
        assert live[-1]["action"] == "audit.archive"
        assert live[-1]["details"]["sha256"] == out["sha256"]
        report = md.audit_verify()
    assert report.ok, report.problem
    assert (report.segments, report.archived_events, report.live_events) == (1, 5, 4)
    assert report.head_seq == 9
    # the segment holds exactly the archived events, byte for byte
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = json.loads(fh.readline())
        archived = [json.loads(line) for line in fh]
    assert header["first_prev_hash"] == audit.GENESIS and header["events"] == 5
    assert [tuple(ev[c] for c in COLS) for ev in archived] == rows[:5]
    # the first live event links to the last archived one
    assert live[0]["prev_hash"] == archived[-1]["hash"]


def test_second_archive_continues_the_chain(chain: Path) -> None:
    with open_as(chain) as md:
        md.audit_archive(before_seq=4)
        out = md.audit_archive(before_seq=8)
        assert (out["first_seq"], out["last_seq"]) == (4, 7)
        report = md.audit_verify()
        with md.db.read() as conn:
            segs = conn.execute("SELECT first_seq, last_seq, first_prev_hash, last_hash FROM audit_segments"
                                " ORDER BY first_seq").fetchall()
    assert report.ok and report.segments == 2 and report.archived_events == 3 + 4
    assert segs[1][2] == segs[0][3]


def test_nothing_to_archive(alice: Memdeck) -> None:
    assert alice.audit_archive(before_seq=10)["archived"] == 0
    alice.put("notes", "a", "one event")
    assert alice.audit_archive(before_seq=10)["archived"] == 0, "the last live event always stays"


def test_archive_needs_a_bound(alice: Memdeck) -> None:
    alice.put("notes", "a", "one event")
    with pytest.raises(InvalidInput, match="say what to archive"):
        alice.audit_archive()


def _archive(data_dir: Path, before_seq: int = 6) -> Path:
    with open_as(data_dir) as md:
        return Path(md.audit_archive(before_seq=before_seq)["path"])


def test_flipped_byte_in_a_segment_is_found(chain: Path) -> None:
    path = _archive(chain)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    report = verify_dir(chain)
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 1, "archive")
    assert "modified" in (report.problem or "")


def _rewrite_segment(path: Path, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = fh.readline()
        events = [json.loads(line) for line in fh]
    edit(events)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(header)
        for ev in events:
            fh.write(json.dumps(ev, ensure_ascii=False) + "\n")


def test_edited_segment_content_is_found(chain: Path) -> None:
    path = _archive(chain)

    def edit(events: list[dict[str, Any]]) -> None:
        events[2]["actor"] = "mallory"

    _rewrite_segment(path, edit)
    report = verify_dir(chain)
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 1, "archive")


def test_edited_segment_with_its_checksum_updated_is_found_at_the_event(chain: Path) -> None:
    """Even if the attacker also fixes the checkpoint's SHA-256, the walk inside the file finds the event."""
    path = _archive(chain)

    def edit(events: list[dict[str, Any]]) -> None:
        events[2]["details"] = events[2]["details"].replace("created", "updated")

    _rewrite_segment(path, edit)
    from core.audit_verify import file_sha256

    conn = raw(chain)
    conn.execute("UPDATE audit_segments SET sha256 = ?", (file_sha256(path),))
    conn.close()
    report = verify_dir(chain)
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 3, "edited")


def test_deleted_segment_file_is_found(chain: Path) -> None:
    path = _archive(chain)
    path.unlink()
    report = verify_dir(chain)
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 1, "archive")
    assert "missing" in (report.problem or "")


def test_deleted_segment_checkpoint_is_found(chain: Path) -> None:
    _archive(chain)
    conn = raw(chain)
    conn.execute("DELETE FROM audit_segments")
    conn.close()
    report = verify_dir(chain)
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 1, "missing")


def test_deleting_the_first_live_events_after_an_archive_is_found(chain: Path) -> None:
    _archive(chain)
    conn = raw(chain)
    conn.execute("DELETE FROM audit_events WHERE seq = 6")
    conn.close()
    report = verify_dir(chain)
    assert (report.ok, report.first_bad_seq, report.kind) == (False, 6, "missing")


def test_archive_refuses_a_broken_stretch_and_changes_nothing(chain: Path) -> None:
    conn = raw(chain)
    _edit_details(conn, 3)
    conn.close()
    before = raw_rows(chain)
    with open_as(chain) as md, pytest.raises(StorageError, match="#3"):
        md.audit_archive(before_seq=6)
    after = raw_rows(chain)
    assert after[:len(before)] == before, "no event left the live table"
    conn = raw(chain)
    assert conn.execute("SELECT count(*) FROM audit_segments").fetchone()[0] == 0
    conn.close()
    archive_dir = chain / "audit-archive"
    assert not archive_dir.exists() or list(archive_dir.iterdir()) == []


def test_archive_refuses_a_gap_in_the_stretch(chain: Path) -> None:
    conn = raw(chain)
    _delete_row(conn, 2)
    conn.close()
    with open_as(chain) as md, pytest.raises(StorageError):
        md.audit_archive(before_seq=6)


def test_archive_refuses_when_the_last_archived_event_was_rehashed(chain: Path) -> None:
    conn = raw(chain)
    _rehash(conn, 5)
    conn.close()
    assert verify_dir(chain).first_bad_seq == 5
    with open_as(chain) as md, pytest.raises(StorageError):
        md.audit_archive(before_seq=6)


def test_retention_days_archives_old_events_when_no_bound_is_given(alice: Memdeck) -> None:
    old = time.time() - 10 * 86400
    with alice.db.write() as conn:
        alice.auditor.append(conn, [AuditRecord("test.old", f"t/{i}", {"i": i}) for i in range(5)], at=old)
    alice.config_set("audit.retention_days", "5")
    alice.put("notes", "fresh", "a recent event")
    out = alice.audit_archive()
    assert (out["first_seq"], out["last_seq"], out["archived"]) == (1, 5, 5)
    assert [e["action"] for e in events_after(alice, 0)] == ["config.set", "memory.put", "audit.archive"]
    report = alice.audit_verify()
    assert report.ok and report.archived_events == 5


def test_retention_zero_means_a_bound_is_required(alice: Memdeck) -> None:
    alice.put("notes", "a", "x")
    alice.put("notes", "b", "y")
    with pytest.raises(InvalidInput):
        alice.audit_archive()


def test_cli_archive_and_verify(chain: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_as(chain) as md:
        md.role_grant("root", "admin")
    run = cli(capsys, chain, "audit", "archive", "--before-seq", "5", "--json")
    assert run.code == 0, run.err
    out = json.loads(run.out)
    assert (out["first_seq"], out["last_seq"], out["archived"]) == (1, 4, 4)
    ver = cli(capsys, chain, "audit", "verify", "--json")
    data = json.loads(ver.out)
    assert ver.code == 0 and data["segments"] == 1 and data["archived_events"] == 4


# ============================================================================= 6. export and privacy
@pytest.fixture
def private(alice: Memdeck) -> Memdeck:
    alice.put("notes", "a", "alpha note about the aardvark")
    alice.set_status("notes", "a", "quarantined", "reported by bob@example.com, password=hunter2")
    alice.search("where is carol@example.com aardvark", k=3)
    alice.search("my token: s3cr3tTok3n and aardvark", k=3)
    return alice


def _export_events(md: Memdeck, **kw: Any) -> list[dict[str, Any]]:
    out = md.audit_export("jsonl", **kw)
    return [json.loads(line) for line in out["lines"]]


def test_export_is_redacted_by_default(private: Memdeck) -> None:
    out = private.audit_export("jsonl")
    assert out["redacted"] is True and out["events"] == 4
    text = "".join(out["lines"])
    assert "example.com" not in text and "hunter2" not in text and "s3cr3tTok3n" not in text
    events = [json.loads(line) for line in out["lines"]]
    quarantine = next(e for e in events if e["action"] == "memory.quarantine")
    assert quarantine["details"]["reason"] == "reported by [email], password=[secret]"
    searches = [e for e in events if e["action"] == "memory.search"]
    assert searches[0]["details"]["query"] == f"[redacted {len('where is carol@example.com aardvark')} chars]"
    assert searches[0]["details"]["mode"] == "hybrid" and searches[0]["details"]["k"] == 3
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events), "oldest first"
    assert all(e["at_utc"] == datetime.fromtimestamp(e["at"], UTC).isoformat(timespec="microseconds")
               for e in events)


def test_unredacted_export_shows_personal_data_to_an_admin(private: Memdeck) -> None:
    out = private.audit_export("jsonl", unredacted=True)
    assert out["redacted"] is False
    events = [json.loads(line) for line in out["lines"]]
    quarantine = next(e for e in events if e["action"] == "memory.quarantine")
    assert quarantine["details"]["reason"] == "reported by bob@example.com, password=[secret]"
    search = next(e for e in events if e["action"] == "memory.search")
    assert search["details"]["query"] == "where is carol@example.com aardvark"
    assert "hunter2" not in "".join(out["lines"]), "secrets were never stored, so not even admins see them"
    (ev,) = [e for e in events_after(private, 0) if e["action"] == "audit.export"]
    assert ev["details"]["redacted"] is False


def test_secrets_never_reach_the_database(private: Memdeck) -> None:
    data_dir = private.layout.root
    private.purge("notes", "a", "user asked; api_key=AKIAABCDEFGHIJKLMNOP")
    private.close()
    conn = raw(data_dir)
    try:
        for table in ("audit_events", "items", "item_versions", "approvals", "meta"):
            for row in conn.execute(f"SELECT * FROM {table}"):
                text = " ".join(str(v) for v in row)
                assert "hunter2" not in text and "s3cr3tTok3n" not in text and "AKIA" not in text, (table, row)
        stored = [json.loads(r[0]) for r in conn.execute(
            "SELECT details FROM audit_events WHERE action = 'memory.search' ORDER BY seq")]
    finally:
        conn.close()
    assert stored[0]["query"] == "where is carol@example.com aardvark", "personal data is kept for admins"
    assert stored[1]["query"] == "my token=[secret] and aardvark"


def test_secrets_in_an_approval_request_never_reach_the_database(alice: Memdeck) -> None:
    alice.put("notes", "a", "alpha")
    alice.config_set("approvals.purge", "true")
    with pytest.raises(ApprovalRequired):
        alice.purge("notes", "a", "ticket 7, password=hunter2")
    with alice.db.read() as conn:
        dump = " ".join(str(v) for t in ("approvals", "audit_events")
                        for row in conn.execute(f"SELECT * FROM {t}") for v in row)
    assert "hunter2" not in dump


def test_secret_fields_are_never_stored(alice: Memdeck) -> None:
    with alice.db.write() as conn:
        alice.auditor.one(conn, "test.secret", "x", {"password": "hunter2", "nested": {"API_KEY": "abc"},
                                                     "list": ["Bearer abcdefghijkl"]})
    (ev,) = events_after(alice, 0)
    assert ev["details"] == {"password": "[secret]", "nested": {"API_KEY": "[secret]"}, "list": ["Bearer [token]"]}


def test_redacted_export_masks_ip_addresses_in_the_actor(data_dir: Path) -> None:
    with open_as(data_dir, "alice", address="10.0.0.1") as md:
        md.put("notes", "a", "hello")
        redacted = _export_events(md)
        plain = _export_events(md, unredacted=True)
    assert redacted[0]["actor"] == "alice@[ip]"
    assert plain[0]["actor"] == "alice@10.0.0.1"


def test_csv_export_and_formula_injection_guard(alice: Memdeck) -> None:
    alice.put("notes", "a", "alpha")
    alice.role_grant("@staff", "editor")
    alice.role_grant("=1+2", "viewer")
    alice.role_grant("-cmd", "viewer")
    alice.role_grant("+sum", "viewer")
    out = alice.audit_export("csv")
    assert out["events"] == 5
    rows = list(csv.reader(io.StringIO("".join(out["lines"]))))
    assert rows[0] == ["seq", "at", "actor", "action", "target", "outcome", "details", "prev_hash", "hash", "at_utc"]
    assert len(rows) == 6
    targets = [r[4] for r in rows[1:]]
    assert targets == ["notes/a", "'@staff", "'=1+2", "'-cmd", "'+sum"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)
    assert json.loads(rows[2][6]) == {"new": "editor", "old": None, "principal": "@staff"}
    assert int(rows[1][0]) == 1 and float(rows[1][1]) > 0


def test_export_format_is_validated(alice: Memdeck) -> None:
    with pytest.raises(InvalidInput):
        alice.audit_export("xml")


def test_export_to_a_file_is_atomic_and_audited(alice: Memdeck, tmp_path: Path) -> None:
    alice.put("notes", "a", "alpha")
    target = tmp_path / "out" / "audit.jsonl"
    target.parent.mkdir()
    out = alice.audit_export("jsonl", target)
    assert out["path"] == str(target) and "lines" not in out
    assert [json.loads(line)["action"] for line in target.read_text().splitlines()] == ["memory.put"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["audit.jsonl"]
    (ev,) = [e for e in events_after(alice, 0) if e["action"] == "audit.export"]
    assert ev["target"] == str(target)


def test_export_to_an_unwritable_place_fails_cleanly(alice: Memdeck, tmp_path: Path) -> None:
    alice.put("notes", "a", "alpha")
    with pytest.raises(StorageError, match="nothing was exported"):
        alice.audit_export("jsonl", tmp_path / "no-such-dir" / "x.jsonl")
    assert [e["action"] for e in events_after(alice, 0)] == ["memory.put"]


def test_undecodable_text_does_not_break_auditing(alice: Memdeck) -> None:
    alice.put("notes", "a", "hello world")
    result = alice.search("hello \udcff", k=3)
    assert result.hits


# ============================================================================= 7. filters
@pytest.fixture
def varied(alice: Memdeck) -> Memdeck:
    """Events by several actors at known times: T0, T0+100, ... (one per record)."""
    t0 = 1_800_000_000.0
    specs = [("alice", "memory.put", "notes/a", "ok", {"reason": "first Needle"}),
             ("alice@10.0.0.1", "memory.delete", "notes/a", "ok", {}),
             ("alice2", "memory.put", "notes/b", "ok", {}),
             ("malice", "config.set", "search.top_k", "ok", {}),
             ("bob", "memory.put", "docs/c", "denied", {"role": "viewer", "needs": "editor"}),
             ("bob@10.0.0.9", "memory.search", "*", "ok", {"query": "needle in a haystack"}),
             ("carol", "role.grant", "dave", "failed", {"error": "boom"})]
    with alice.db.write() as conn:
        for n, (actor, action, target, outcome, details) in enumerate(specs):
            audit.append(conn, actor, [AuditRecord(action, target, details, outcome)], at=t0 + 100 * n)
    return alice


def _seqs(md: Memdeck, flt: AuditFilter) -> list[int]:
    return sorted(md.audit_matching(flt))


@pytest.mark.parametrize(("flt", "expected"), [
    (AuditFilter(), [1, 2, 3, 4, 5, 6, 7]),
    (AuditFilter(actor="alice"), [1, 2]),
    (AuditFilter(actor="bob"), [5, 6]),
    (AuditFilter(actor="alice*"), [1, 2, 3]),
    (AuditFilter(actor="*alice"), [1, 4]),
    (AuditFilter(action="memory.put"), [1, 3, 5]),
    (AuditFilter(action="memory.*"), [1, 2, 3, 5, 6]),
    (AuditFilter(action="memory"), []),
    (AuditFilter(target="notes/*"), [1, 2, 3]),
    (AuditFilter(outcome="denied"), [5]),
    (AuditFilter(outcome="failed"), [7]),
    (AuditFilter(since=1_800_000_200.0), [3, 4, 5, 6, 7]),
    (AuditFilter(until=1_800_000_200.0), [1, 2]),
    (AuditFilter(since=1_800_000_100.0, until=1_800_000_400.0), [2, 3, 4]),
    (AuditFilter(text="needle"), [1, 6]),
    (AuditFilter(text="NEEDLE IN"), [6]),
    (AuditFilter(actor="alice", action="memory.delete"), [2]),
    (AuditFilter(after_seq=5), [6, 7]),
], ids=lambda v: v.describe() if isinstance(v, AuditFilter) else None)
def test_audit_filter(varied: Memdeck, flt: AuditFilter, expected: list[int]) -> None:
    assert _seqs(varied, flt) == expected


def test_actor_names_with_glob_characters_match_literally(alice: Memdeck) -> None:
    with alice.db.write() as conn:
        audit.append(conn, "a[b]c", [AuditRecord("x", "t")])
        audit.append(conn, "abc", [AuditRecord("x", "t")])
        audit.append(conn, "a[b]c@1.2.3.4", [AuditRecord("x", "t")])
    assert _seqs(alice, AuditFilter(actor="a[b]c")) == [1, 3]


def test_text_filter_ignores_ascii_case(alice: Memdeck) -> None:
    with alice.db.write() as conn:
        audit.append(conn, "x", [AuditRecord("x", "t", {"reason": "Ask About Otters"})])
    assert _seqs(alice, AuditFilter(text="about otters")) == [1]
    assert _seqs(alice, AuditFilter(text="ASK ABOUT")) == [1]


def test_text_filter_finds_non_ascii_capitals(alice: Memdeck) -> None:
    with alice.db.write() as conn:
        audit.append(conn, "x", [AuditRecord("x", "t", {"reason": "Über-Prüfung durch Ärztin"})])
    assert _seqs(alice, AuditFilter(text="Über-Prüfung")) == [1]


def test_query_is_newest_first_and_limited(varied: Memdeck) -> None:
    assert [e["seq"] for e in varied.audit_log(AuditFilter(), limit=3)] == [7, 6, 5]
    assert varied.audit_log(AuditFilter(action="memory.search"))[0]["details"]["query"].startswith("[redacted")


def test_unknown_outcome_is_refused() -> None:
    with pytest.raises(InvalidInput):
        AuditFilter(outcome="maybe")


def test_parse_filter_reads_the_filter_line() -> None:
    now = 1_800_000_000.0
    flt = parse_filter('actor:alice action:memory.* since:2h "free text"', now=now)
    assert flt == AuditFilter(actor="alice", action="memory.*", since=now - 7200, text="free text")
    flt = parse_filter("Outcome:denied until:2026-11-01 target:docs/* needle thread", now=now)
    assert flt.outcome == "denied" and flt.target == "docs/*" and flt.text == "needle thread"
    assert flt.until == datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert parse_filter("foo:bar", now=now) == AuditFilter(text="foo:bar")
    assert parse_filter("", now=now) == AuditFilter()


@pytest.mark.parametrize("text", ['actor:alice "unclosed', "outcome:maybe", "since:yesterday"])
def test_parse_filter_bad_input(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_filter(text)


def test_parse_filter_matches_like_the_flags(varied: Memdeck) -> None:
    assert _seqs(varied, parse_filter("actor:alice action:memory.*")) == [1, 2]
    assert _seqs(varied, parse_filter("actor:bob needle")) == [6]


@pytest.mark.parametrize(("text", "expected"), [
    ("30m", 1_800_000_000.0 - 1800),
    ("2h", 1_800_000_000.0 - 7200),
    ("2H", 1_800_000_000.0 - 7200),
    ("1.5h", 1_800_000_000.0 - 5400),
    ("7d", 1_800_000_000.0 - 7 * 86400),
    ("1w", 1_800_000_000.0 - 604800),
    ("45s", 1_800_000_000.0 - 45),
    (" 10 m ", 1_800_000_000.0 - 600),
    ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC).timestamp()),
    ("2026-11-01T09:30", datetime(2026, 11, 1, 9, 30, tzinfo=UTC).timestamp()),
    ("2026-11-01T09:30:00Z", datetime(2026, 11, 1, 9, 30, tzinfo=UTC).timestamp()),
    ("2026-11-01T09:30:00+02:00", datetime(2026, 11, 1, 7, 30, tzinfo=UTC).timestamp()),
    ("1700000000", 1_700_000_000.0),
    ("1700000000.25", 1_700_000_000.25),
])
def test_parse_time_forms(text: str, expected: float) -> None:
    assert parse_time(text, now=1_800_000_000.0) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("text", ["", "yesterday", "2h ago", "-5m", "2026-13-01", "5x", "12:30pm"])
def test_parse_time_bad_input(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_time(text)


@pytest.mark.parametrize("text", ["nan", "NaN"])
def test_parse_time_refuses_nan(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_time(text)


def test_reader_follow_and_counts(varied: Memdeck) -> None:
    reader = AuditReader(varied.db, varied.privacy)
    assert [e["seq"] for e in reader.follow(AuditFilter(action="memory.*"), after_seq=3)] == [5, 6]
    counts = reader.counts()
    assert counts["live"] == 7 and counts["by_outcome"] == {"ok": 5, "denied": 1, "failed": 1}


# ============================================================================= 8. CLI
@pytest.fixture(scope="module")
def root_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("root") / "data"
    mp = pytest.MonkeyPatch()
    mp.setattr("core.memdeck.Embedder", lambda *a, **k: WordHashEmbedder())
    try:
        for key, text in [("a", "alpha aardvark"), ("b", "beta beaver"), ("c", "gamma gecko")]:
            assert main(["put", "notes", key, text, "--data-dir", str(d)]) == 0
        assert main(["config", "set", "search.top_k", "5", "--data-dir", str(d)]) == 0
        assert main(["search", "beaver", "--data-dir", str(d)]) == 0
    finally:
        mp.undo()
    return d


@pytest.fixture
def root_dir(root_template: Path, data_dir: Path) -> Path:
    """A data dir created through the CLI (so the OS user running the tests is its admin) with five events:
    three puts, a config.set and a search (a fresh copy)."""
    shutil.copytree(root_template, data_dir)
    return data_dir


def test_cli_audit_log_json_lines(root_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, root_dir, "audit", "log", "--json")
    assert run.code == 0
    events = [json.loads(line) for line in run.out.splitlines()]
    assert [e["action"] for e in events] == ["memory.put"] * 3 + ["config.set", "memory.search"]
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5], "newest last"
    assert {e["actor"] for e in events} == {current_identity().actor}
    assert events[4]["details"]["query"] == "[redacted 6 chars]"
    assert set(events[0]) >= {"seq", "at", "actor", "action", "target", "outcome", "details", "prev_hash", "hash"}


@pytest.mark.parametrize(("argv", "expected"), [
    (["--action", "memory.put"], [1, 2, 3]),
    (["--action", "config.*"], [4]),
    (["--limit", "2"], [4, 5]),
    (["--target", "notes/b"], [2]),
    (["--grep", "created"], [1, 2, 3]),
    (["--outcome", "denied"], []),
    (["--since", "1h"], [1, 2, 3, 4, 5]),
    (["--until", "1h"], []),
    (["--until", "2999-01-01"], [1, 2, 3, 4, 5]),
])
def test_cli_audit_log_filters(root_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                               expected: list[int]) -> None:
    run = cli(capsys, root_dir, "audit", "log", "--json", *argv)
    assert run.code == 0
    assert [json.loads(line)["seq"] for line in run.out.splitlines()] == expected


def test_cli_audit_log_actor_filter_and_human_output(root_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_as(root_dir, "alice") as md, pytest.raises(Exception, match="needs editor"):
        md.put("notes", "x", "alice is only a viewer here")
    run = cli(capsys, root_dir, "audit", "log", "--actor", "alice")
    assert run.code == 0
    (line,) = run.out.splitlines()
    assert line.startswith("#6 ") and "memory.put" in line and "[DENIED]" in line and "notes/x" in line
    none = cli(capsys, root_dir, "audit", "log", "--actor", "nobody")
    assert none.code == 0 and none.out == "" and "no matching events" in none.err


def test_cli_audit_log_bad_time_exits_2(root_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, root_dir, "audit", "log", "--since", "last tuesday")
    assert run.code == 2 and "cannot read time" in run.err


def test_cli_export_csv_to_file(root_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "exports" / "audit.csv"
    target.parent.mkdir()
    target.write_text("old contents\n")
    run = cli(capsys, root_dir, "audit", "export", "-o", str(target), "--format", "csv", "--action", "memory.*")
    assert run.code == 0, run.err
    assert f"exported 4 event(s) to {target}" in run.out
    rows = list(csv.reader(target.open(newline="")))
    assert rows[0][:3] == ["seq", "at", "actor"] and len(rows) == 5
    assert [r[3] for r in rows[1:]] == ["memory.put"] * 3 + ["memory.search"]
    assert "beaver" not in target.read_text(), "the search query is redacted"
    assert sorted(p.name for p in target.parent.iterdir()) == ["audit.csv"], "no temp file left behind"
    log = cli(capsys, root_dir, "audit", "log", "--json", "--action", "audit.export")
    (ev,) = [json.loads(line) for line in log.out.splitlines()]
    assert ev["target"] == str(target) and ev["details"]["events"] == 4 and ev["details"]["format"] == "csv"


def test_cli_export_that_fails_midway_leaves_the_old_file(root_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "exports" / "audit.csv"
    target.parent.mkdir()
    target.write_text("previous export\n")
    real_replace = os.replace

    def failing_replace(src: Any, dst: Any) -> None:
        if Path(dst) == target:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr("core.paths.os.replace", failing_replace)
        run = cli(capsys, root_dir, "audit", "export", "-o", str(target), "--format", "csv")
    assert run.code == 5 and "nothing was exported" in run.err
    assert target.read_text() == "previous export\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["audit.csv"], "the temp file was cleaned up"


def test_cli_export_to_stdout_and_unredacted(root_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, root_dir, "audit", "export", "--action", "memory.search")
    assert run.code == 0 and "exported 1 event(s)" in run.err
    (line,) = run.out.splitlines()
    assert json.loads(line)["details"]["query"] == "[redacted 6 chars]"
    run = cli(capsys, root_dir, "audit", "export", "--action", "memory.search", "--unredacted")
    assert run.code == 0 and "UNREDACTED" in run.err
    assert json.loads(run.out.splitlines()[0])["details"]["query"] == "beaver"


def test_cli_export_to_a_missing_folder_exits_5(root_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run = cli(capsys, root_dir, "audit", "export", "-o", str(tmp_path / "nope" / "a.csv"), "--format", "csv")
    assert run.code == 5 and "nothing was exported" in run.err


# faulthandler on SIGUSR1: if the follower does not exit, the test dumps its threads instead of only
# timing out (that is how the inherited ignored SIGINT below was found).
_FOLLOW = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1); "
           "sys.path.insert(0, 'tests'); import helpers, core.memdeck; "
           "core.memdeck.Embedder = lambda *a, **k: helpers.WordHashEmbedder(); "
           "from tui.cli import main; sys.exit(main(sys.argv[1:]))")


def test_cli_audit_log_follow_prints_events_from_another_process(root_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMDECK__")}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", _FOLLOW, "audit", "log", "--follow", "--json", "--interval", "0.2",
         "--action", "memory.put", "--data-dir", str(root_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # Ctrl-C as a terminal delivers it. A suite started in the background (`make test &`, nohup,
        # some CI runners) has SIGINT ignored, the child inherits that, and Python then installs no
        # KeyboardInterrupt handler: the follower kept sleeping (the thread dump below showed it).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def next_event(timeout: float) -> dict[str, Any]:
        return dict(json.loads(lines.get(timeout=timeout)))

    try:
        initial = [next_event(20.0)["seq"] for _ in range(3)]  # generous: CI machines can be busy
        assert initial == [1, 2, 3]
        # "writer" starts as a viewer; the admin (the OS user who made the dir) makes it an editor
        with Memdeck.open(root_dir, embedder=WordHashEmbedder()) as admin:
            admin.role_grant("writer", "editor")
            admin.config_set("search.top_k", "6")  # does not match the filter
        with open_as(root_dir, "writer") as md:
            md.put("notes", "followed", "appended while following")
        ev = next_event(20.0)
        assert (ev["action"], ev["target"], ev["actor"]) == ("memory.put", "notes/followed", "writer")
        assert lines.empty()
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)
            time.sleep(2)
            proc.kill()
            proc.wait()
            dump = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"`audit log --follow` did not exit within 60 s of Ctrl-C; its threads:\n{dump[-6000:]}")
        assert code == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
