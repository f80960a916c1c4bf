"""Crash safety of backup and restore: the child process is SIGKILLed, then the data dir is reopened.

* A child backs up again and again while a writer thread in it keeps putting items; it is killed at
  random moments and at exact points of ``core.backup.create`` (archive written but not renamed,
  renamed but no checksum sidecar). Every acknowledged put must survive, the index must be in step,
  the audit chain must verify, every recorded backup must verify, and no leftover may pass for one.
* A child restores backup NEW over live data OLD and is killed at every point of the restore: each
  progress step, around the journal, after each rename of the swap, after the journal is removed,
  inside the recovery of an interrupted swap, and at random moments before the swap. Reopening (which
  finishes an interrupted swap) must give exactly OLD or exactly NEW (items, config, privacy rules,
  audit archive), never a mix, with no index drift, a sound audit chain and no journal, and the next
  restore must work.
* A restore while another process has the data dir open is refused and changes nothing.

The child is ``tests/backup_crash_child.py``; exact points use its ``MEMDECK_CRASH_AT`` hooks, which wrap
functions of core.restore / core.backup inside the child only.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from backup_crash_child import COLLECTION, ENV
from crash_writer import content_for, number_of
from helpers import WordHashEmbedder

from core.audit_verify import verify_chain
from core.backup import ARCHIVE_SUFFIX, BackupInfo
from core.errors import StorageError
from core.memdeck import Memdeck
from core.paths import resource_dir
from core.restore import JOURNAL

pytestmark = pytest.mark.slow

CHILD = Path(__file__).resolve().parent / "backup_crash_child.py"
ROOT = CHILD.parent.parent
START_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 60.0


# ---------------------------------------------------------------------------- the child process
class Child:
    """One run of the child: its complete stdout lines as they arrive; always killed and reaped on exit."""

    def __init__(self, args: list[str], errlog: Path, crash_at: str = "") -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
        env.pop(ENV, None)
        if crash_at:
            env[ENV] = crash_at
        self.errlog = errlog
        with open(errlog, "ab") as err:
            self.proc = subprocess.Popen([sys.executable, "-u", str(CHILD), *args], stdout=subprocess.PIPE,
                                         stderr=err, cwd=ROOT, env=env)
        self.lines: list[str] = []
        self.eof = False
        self._q: queue.Queue[bytes | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self._q.put(raw)
        self._q.put(None)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._thread.join(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stderr(self) -> str:
        return self.errlog.read_text(errors="replace")[-3000:]

    def _take(self, timeout: float) -> str | None:
        try:
            raw = self._q.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if raw is None:
            self.eof = True
            return None
        if not raw.endswith(b"\n"):  # cut short by the kill: never acknowledged
            return None
        line = raw.decode().rstrip("\n")
        self.lines.append(line)
        return line

    def wait_for(self, want: str | Callable[[str], bool], timeout: float = START_TIMEOUT_S) -> str:
        match = want if callable(want) else (lambda line: line == want)
        for line in self.lines:
            if match(line):
                return line
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            line = self._take(deadline - time.monotonic())
            if line is not None and match(line):
                return line
        raise AssertionError(f"the child never printed {want!r}; last lines {self.lines[-5:]}; "
                             f"stderr: {self.stderr()}")

    def pump_for(self, seconds: float) -> None:
        stop = time.monotonic() + seconds
        while not self.eof and time.monotonic() < stop:
            self._take(stop - time.monotonic())

    def _drain(self) -> None:
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the child's stdout never reached end of file"
        while not self.eof:
            self._take(0)

    def kill(self) -> int:
        """SIGKILL it now (it must still be running), reap it, keep what it printed before dying."""
        assert self.proc.poll() is None, f"the child died on its own: {self.stderr()}"
        os.kill(self.proc.pid, signal.SIGKILL)
        rc = self.proc.wait(timeout=EXIT_TIMEOUT_S)
        self._drain()
        return rc

    def finish(self, timeout: float = EXIT_TIMEOUT_S) -> int:
        """Wait for it to end by itself (or by its own hook)."""
        rc = self.proc.wait(timeout=timeout)
        self._drain()
        return rc


def run_child(args: list[str], errlog: Path, crash_at: str = "") -> Child:
    with Child(args, errlog, crash_at) as child:
        child.finish()
    return child


def run_killed(args: list[str], errlog: Path, crash_at: str, reached: str) -> Child:
    """Run the child until its ``crash_at`` hook kills it; assert it died by SIGKILL after printing the
    line ``reached`` (or a line that starts with ``reached`` and a space)."""
    child = run_child(args, errlog, crash_at)
    rc = child.proc.returncode
    assert rc == -signal.SIGKILL, f"{crash_at}: the child exited with {rc} (hook never fired?): {child.stderr()}"
    assert any(line == reached or line.startswith(reached + " ") for line in child.lines), (
        f"{crash_at}: killed before {reached!r}: {child.lines[-5:]}")
    return child


def calls(child: Child, target: str) -> list[list[str]]:
    """The arguments of each reported call of a hooked function, in order."""
    out = []
    for line in child.lines:
        if line.startswith(f"CALL {target} "):
            out.append(json.loads(line.split(" ", 3)[3]))
    return out


# ---------------------------------------------------------------------------- shared checks
def open_md(data_dir: Path) -> Memdeck:
    return Memdeck.open(data_dir, embedder=WordHashEmbedder())


def check_index_and_audit(md: Memdeck) -> None:
    assert not [n for n in md.notices if "drift" in n], md.notices
    report = md.sync_check()
    assert report.clean, f"index drift after reopening: {report.counts()}"
    with md.db.read() as conn:
        active = conn.execute("SELECT count(*) FROM items WHERE status = 'active'").fetchone()[0]
    assert report.active_items == active and md.index.live_count == active
    chain = verify_chain(md.db, md.layout.audit_archive_dir)
    assert chain.ok, f"audit chain broken after reopening: {chain.problem}"


def check_backup_folder(md: Memdeck, verified: set[str] | None = None) -> list[BackupInfo]:
    """Nothing an interrupted backup left passes for a backup: every listed archive with a sidecar
    verifies; an archive without one is listed as unrecorded and fails verification for exactly that
    reason; ``.partial`` files and staging folders are never listed."""
    verified = set() if verified is None else verified
    folder = md.backup_folder
    listed = folder.all()
    on_disk = {p.name[: -len(ARCHIVE_SUFFIX)] for p in folder.folder.glob(f"*{ARCHIVE_SUFFIX}")}
    assert {b.id for b in listed} == on_disk | {p.stem for p in folder.folder.glob("*.json")}
    for info in listed:
        assert not info.id.startswith(".") and ".partial" not in info.id and "staging" not in info.id, info.id
        if info.id in verified:
            continue
        result = md.backup_verify(info.id)
        if folder.sidecar(info.id).exists():
            assert result.ok, f"recorded backup {info.id} does not verify: {result.problems}"
            verified.add(info.id)
        else:
            assert info.verify_problem == "no checksum record" and info.kind == "unknown", info
            assert not result.ok, f"{info.id} has no checksum record but verified OK"
            # It only ever appears after the .partial was complete, fsynced and renamed: the archive
            # itself is sound, it just has no recorded checksum to vouch for it.
            assert result.problems == ["no recorded checksum for this archive (its .json record is missing)"], (
                result.problems)
    return listed


# ---------------------------------------------------------------------------- 1. kill during backup
@dataclass
class BackupLedger:
    acked: set[str] = field(default_factory=set)
    # backup id -> (items acknowledged before BACKUP-BEGIN, items acknowledged by "BACKUP <id>")
    bounds: dict[str, tuple[int, int]] = field(default_factory=dict)
    verified: set[str] = field(default_factory=set)

    def record(self, lines: list[str], seed_items: int) -> list[str]:
        completed = []
        begun = 0
        for line in lines:
            if line.startswith("k"):
                self.acked.add(line)
            elif line == "BACKUP-BEGIN":
                begun = seed_items + len(self.acked)
            elif line.startswith("BACKUP "):
                bid = line.split()[1]
                self.bounds[bid] = (begun, seed_items + len(self.acked) + 1)  # +1: a put in flight
                completed.append(bid)
        return completed


SEED_ITEMS = 300


def _check_after_backup_kill(data_dir: Path, ledger: BackupLedger, completed: list[str]) -> int:
    emb = WordHashEmbedder()
    md = Memdeck.open(data_dir, embedder=emb)
    with md:
        assert emb.texts_embedded == 0, "reopening re-embedded stored items"
        with md.db.read() as conn:
            rows = {k: (c, s) for k, c, s in conn.execute(
                "SELECT key, content, status FROM items WHERE collection = ?", (COLLECTION,))}
            seeds = conn.execute("SELECT count(*) FROM items WHERE collection = 'seed' AND status = 'active'"
                                 ).fetchone()[0]
        assert seeds == SEED_ITEMS
        missing = sorted(ledger.acked - rows.keys(), key=number_of)
        assert not missing, f"acknowledged puts lost: {missing[:10]} ({len(missing)} in all)"
        unacked = rows.keys() - ledger.acked
        assert len(unacked) <= 1, f"keys never acknowledged: {sorted(unacked)}"  # the writer is sequential
        ledger.acked |= unacked
        for key, (content, status) in rows.items():
            assert (content, status) == (content_for(number_of(key)), "active"), key
        check_index_and_audit(md)

        listed = {b.id: b for b in check_backup_folder(md, ledger.verified)}
        for bid in completed:
            assert bid in listed and md.backup_folder.sidecar(bid).exists(), f"acknowledged backup {bid} lost"
        for bid, (low, high) in ledger.bounds.items():
            # a consistent snapshot taken between BACKUP-BEGIN and its acknowledgement
            items = listed[bid].counts["items"]
            assert low <= items <= high, f"backup {bid} holds {items} items, expected {low}..{high}"
    return max((number_of(k) for k in ledger.acked), default=-1) + 1


def test_kills_during_backup_keep_live_data_and_leave_no_fake_backup(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    errlog = tmp_path / "child.stderr"
    with open_md(data_dir) as md:
        md.put_many([{"collection": "seed", "key": f"s{i}", "content": content_for(100_000 + i)}
                     for i in range(SEED_ITEMS)])
    backups = data_dir / "backups"
    rng = random.Random(20240612)
    ledger = BackupLedger()
    next_n = 0
    # (MEMDECK_CRASH_AT, what must be on disk right after the kill)
    trials: list[tuple[str, str]] = [("", "random")] * 3 + [
        ("backup.os.replace:before:2", "partial"),  # archive complete and fsynced, not renamed yet
        ("backup.os.replace:after:2", "unrecorded"),  # renamed to .tar.gz, sidecar not written
    ] + [("", "random")] * 2
    for n, (crash_at, expect) in enumerate(trials):
        with Child(["backup", str(data_dir), str(next_n), "--seed", str(n)], errlog, crash_at) as child:
            child.wait_for("READY")
            if crash_at:
                rc = child.finish()
            else:
                child.wait_for("BACKUP-BEGIN")
                child.wait_for(lambda line: line.startswith("k"))  # the writer is going too
                child.pump_for(rng.uniform(0.05, 0.8))
                rc = child.kill()
        assert rc == -signal.SIGKILL, f"trial {n}: child exited with {rc}: {child.stderr()}"
        completed = ledger.record(child.lines, SEED_ITEMS)
        if expect == "partial":
            partial, _final = map(Path, calls(child, "backup.os.replace")[-1])
            assert partial.name.endswith(".partial") and partial.exists(), partial
        elif expect == "unrecorded":
            _partial, final = map(Path, calls(child, "backup.os.replace")[-1])
            assert final.exists() and not final.with_name(final.name[: -len(ARCHIVE_SUFFIX)] + ".json").exists()
        next_n = _check_after_backup_kill(data_dir, ledger, completed)
        if expect == "unrecorded":
            assert final.name[: -len(ARCHIVE_SUFFIX)] not in ledger.verified
    assert len(ledger.acked) > 20, "the trials wrote too little to mean anything"
    assert len(ledger.verified) >= 2, f"too few complete backups to mean anything: {ledger.verified}"

    # The next backup clears what killed ones left (never a finished archive) and verifies.
    with open_md(data_dir) as md:
        before = {b.id for b in md.backup_folder.all()}
        info = md.backup_create()
        assert md.backup_verify(info.id).ok
        assert {b.id for b in md.backup_folder.all()} == before | {info.id}
    leftovers = [p.name for p in backups.iterdir() if p.name.endswith(".partial") or p.name.startswith(".staging-")]
    assert leftovers == []


# ---------------------------------------------------------------------------- 2. kill during restore
@dataclass(frozen=True)
class State:
    """Everything a restore replaces, as seen through an opened Memdeck."""

    items: frozenset[tuple[str, str, str, str]]
    count: int
    keep_daily: int
    privacy: str | None
    segments: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        keys = sorted(k for _, k, _, _ in self.items)
        return (f"{self.count} items ({keys[:2]}...{keys[-2:]}), keep_daily={self.keep_daily}, "
                f"privacy={self.privacy and self.privacy.strip().splitlines()[-1]!r}, segments={self.segments}")


def state_of(md: Memdeck) -> State:
    with md.db.read() as conn:
        rows = conn.execute("SELECT collection, key, content, status FROM items").fetchall()
    privacy = md.layout.root / "privacy.toml"
    segments = tuple(sorted((p.name, hashlib.sha256(p.read_bytes()).hexdigest())
                            for p in md.layout.audit_archive_dir.glob("segment-*")))
    return State(frozenset(rows), md.item_count(), int(md.config.get("backup.keep_daily")),
                 privacy.read_text() if privacy.exists() else None, segments)


@dataclass
class RestoreSetup:
    template: Path  # data dir in state OLD, closed
    folder: Path  # holds backup NEW
    backup_id: str
    old: State
    new: State
    heads: dict[str, dict[str, Any]]  # "old"/"new" -> audit head {seq, hash} the state must contain
    moves: list[list[str]]  # the swap's renames, as the calibration run made them (paths in its dir)
    to_first_rename_s: float  # RESTORE-BEGIN to the first rename, in the calibration run
    calibrated: Path  # the calibration run's data dir (a complete restore in a child)
    work: Path
    errlog: Path
    cases: int = 0

    def case(self, name: str) -> Path:
        self.cases += 1
        path = self.work / f"{self.cases:02d}-{re.sub(r'[^A-Za-z0-9]+', '-', name)}"
        shutil.copytree(self.template, path, symlinks=True)
        return path

    def restore_args(self, case: Path) -> list[str]:
        return ["restore", str(case), self.backup_id, str(self.folder)]

    def phase(self, k: int) -> str:
        """Whether the k-th rename sets live data aside or moves staged data in."""
        return "set-aside" if "/.pre-restore-" in self.moves[k - 1][1] else "move-in"


def _build_state(data_dir: Path, prefix: str, n: int, keep_daily: int) -> None:
    data_dir.mkdir(parents=True)
    shipped = (resource_dir() / "policies" / "privacy.toml").read_text()
    (data_dir / "privacy.toml").write_text(f"{shipped}\n# state {prefix}\n")
    with open_md(data_dir) as md:
        md.put_many([{"collection": "notes", "key": f"{prefix}-{i}",
                      "content": f"{prefix} memory {content_for(i)}"} for i in range(n)])
        md.put_many([{"collection": f"{prefix}-journal", "key": f"day-{i}",
                      "content": f"{prefix} journal entry {content_for(500 + i)}"} for i in range(10)])
        md.config_set("backup.keep_daily", str(keep_daily))
        md.audit_archive(before_seq=md.audit_head())  # so the state has an audit archive too
        md.put("notes", "shared", f"the {prefix} version of a key both states have")
        md.delete("notes", f"{prefix}-3")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> RestoreSetup:
    base = tmp_path_factory.mktemp("restore-crash")
    src, template, folder = base / "new-src", base / "old-template", base / "backups-elsewhere"
    _build_state(src, "new", 150, keep_daily=9)
    with open_md(src) as md:
        new_state = state_of(md)
        info = md.backup_create(to=folder)
    _build_state(template, "old", 120, keep_daily=5)
    scratch = base / "old-scratch"
    shutil.copytree(template, scratch)  # opening must not touch the template
    with open_md(scratch) as md:
        old_state = state_of(md)
        with md.db.read() as conn:
            seq, digest = conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    assert old_state != new_state

    work = base / "cases"
    work.mkdir()
    s = RestoreSetup(template, folder, info.id, old_state, new_state,
                     {"old": {"seq": seq, "hash": digest}, "new": info.audit_head}, [], 0.0, base, work,
                     base / "child.stderr")
    # Calibration: one complete restore in a child, reporting the swap's renames (n=0 never fires).
    case = s.case("calibration")
    with Child(s.restore_args(case), s.errlog, "restore.os.rename:after:0") as child:
        child.wait_for("RESTORE-BEGIN")
        began = time.monotonic()
        child.wait_for(lambda line: line.startswith("CALL restore.os.rename 1 "))
        s.to_first_rename_s = time.monotonic() - began
        assert child.finish() == 0, child.stderr()
    s.moves = calls(child, "restore.os.rename")
    s.calibrated = case
    phases = [s.phase(k) for k in range(1, len(s.moves) + 1)]
    assert phases.count("set-aside") >= 5 and phases.count("move-in") >= 5, s.moves
    assert phases == sorted(phases, reverse=True), "the swap interleaves setting aside and moving in"
    return s


def check_after_kill(setup: RestoreSetup, case: Path, expect: str, journal_was_there: bool | None = None) -> None:
    """Reopen (finishing an interrupted swap) and check the data is exactly ``expect`` ("old"/"new")."""
    if journal_was_there is None:
        journal_was_there = (case / JOURNAL).exists()
    md = open_md(case)
    with md:
        assert not (case / JOURNAL).exists(), "the journal survived the reopen"
        state = state_of(md)
        which = "old" if state == setup.old else "new" if state == setup.new else "a mix"
        assert which == expect, (f"expected the {expect} data, found {which}: {state.describe()}\n"
                                 f"old: {setup.old.describe()}\nnew: {setup.new.describe()}\nnotices: {md.notices}")
        interrupted = [n for n in md.notices if n.startswith("finished a restore that was interrupted")]
        assert bool(interrupted) == journal_was_there, md.notices
        assert not [n for n in md.notices if "rebuild" in n], md.notices
        check_index_and_audit(md)
        head = setup.heads[which]
        with md.db.read() as conn:
            row = conn.execute("SELECT hash FROM audit_events WHERE seq = ?", (head["seq"],)).fetchone()
        assert row is not None and row[0] == head["hash"], f"the audit log is not the {which} state's"
        if journal_was_there:
            assert not list(case.glob(".pre-restore-*")) and not list(case.glob(".restore-*"))
        check_backup_folder(md)  # the safety backup, if the kill left one, is complete or flagged


def check_next_restore(setup: RestoreSetup, case: Path) -> None:
    md = open_md(case)
    try:
        result = md.restore(setup.backup_id, folder=setup.folder)
    finally:
        md.close()
    assert result["reopen"]
    with open_md(case) as md:
        assert state_of(md) == setup.new
        check_index_and_audit(md)
    strays = [p.name for p in case.iterdir() if p.name.startswith((".restore-", ".pre-restore-", JOURNAL))]
    assert strays == [], f"a restore after the kill left {strays}"


def kill_and_check(setup: RestoreSetup, name: str, crash_at: str, reached: str, expect: str,
                   left: Callable[[Path], bool] | None = None) -> Path:
    """Kill a restore at ``crash_at``; ``left`` checks what the kill left on disk before the reopen."""
    case = setup.case(name)
    run_killed(setup.restore_args(case), setup.errlog, crash_at, reached)
    if left is not None:
        assert left(case), f"{crash_at}: the kill did not leave what that point implies: {sorted(os.listdir(case))}"
    check_after_kill(setup, case, expect)
    check_next_restore(setup, case)
    return case


def test_restore_in_a_child_completes(setup: RestoreSetup) -> None:
    check_after_kill(setup, setup.calibrated, "new", journal_was_there=False)
    with open_md(setup.calibrated) as md:
        with md.db.read() as conn:
            n = conn.execute("SELECT count(*) FROM audit_events WHERE action = 'backup.restore'").fetchone()[0]
        assert n == 1
        assert [b.kind for b in md.backup_folder.all()] == ["safety"]


@pytest.mark.parametrize("step", range(1, 9))
def test_kill_at_each_restore_step(setup: RestoreSetup, step: int) -> None:
    """Steps 1-7 (verify, unpack, open staged copy, drift repair, canaries, safety backup, swap) are
    killed before they run: the live data stays OLD. Step 8 (recording) comes after the swap: NEW."""
    kill_and_check(setup, f"step-{step}", f"step:{step}", f"STEP {step}", "old" if step < 8 else "new")


def test_kill_around_the_journal(setup: RestoreSetup) -> None:
    n = len(setup.moves)

    def has(case: Path, *patterns: str) -> bool:
        return all(list(case.glob(p)) for p in patterns)

    points: list[tuple[str, str, Callable[[Path], bool]]] = [
        # exclusive lock held, nothing written yet
        ("restore.swap:before:1", "old", lambda c: has(c, ".restore-*") and not has(c, JOURNAL)),
        # the journal is not written yet
        ("restore.atomic_write_bytes:before:1", "old", lambda c: not has(c, JOURNAL)),
        # journal written, nothing renamed: rolled forward on reopen
        ("restore.atomic_write_bytes:after:1", "new", lambda c: has(c, JOURNAL, "memdeck.db")
         and not has(c, ".pre-restore-*")),
        # every rename done and the journal removed; the set-aside old data is not deleted yet
        (f"restore.fsync_dir:after:{n + 1}", "new", lambda c: has(c, ".pre-restore-*/memdeck.db")
         and not has(c, JOURNAL)),
        # swapped and cleaned up, the restore not yet recorded in the audit log
        ("restore.swap:after:1", "new", lambda c: not has(c, JOURNAL) and not has(c, ".pre-restore-*")),
    ]
    for crash_at, expect, left in points:
        target = crash_at.rsplit(":", 2)[0]
        kill_and_check(setup, crash_at, crash_at, f"CALL {target}", expect, left)


def _rename_points(setup: RestoreSetup, phase: str) -> list[int]:
    return [k for k in range(1, len(setup.moves) + 1) if setup.phase(k) == phase]


def _kill_after_renames(setup: RestoreSetup, phase: str) -> None:
    """SIGKILL the swap after its k-th rename, for every k of one phase; and for the first and the
    last k, SIGKILL the recovery that ``Memdeck.open`` runs (from a journal with nothing
    renamed yet) after its k-th rename. Then the test's reopen must finish the job."""
    points = _rename_points(setup, phase)
    failures = []
    for k in points:
        src, dst = (Path(p) for p in setup.moves[k - 1])
        move = f"{src.parent.name}/{src.name} -> {dst.parent.name}/{dst.name}"
        crash_at = f"restore.os.rename:after:{k}"
        renamed = f"CALL restore.os.rename {k}"
        for where in ("restore", "recovery"):
            if where == "recovery" and k not in (points[0], points[-1]):
                continue
            try:
                case = setup.case(f"{where}-rename-{k}")
                if where == "restore":
                    run_killed(setup.restore_args(case), setup.errlog, crash_at, renamed)
                else:
                    run_killed(setup.restore_args(case), setup.errlog, "restore.atomic_write_bytes:after:1",
                               "CALL restore.atomic_write_bytes 1")
                    run_killed(["open", str(case)], setup.errlog, crash_at, renamed)
                assert (case / JOURNAL).exists(), "the kill came after the journal: it must still be there"
                check_after_kill(setup, case, "new", journal_was_there=True)
                check_next_restore(setup, case)
            except Exception as exc:  # collect every failing point, not just the first
                failures.append(f"{where} killed after rename {k} ({move}): {type(exc).__name__}: "
                                f"{str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


def test_kill_after_each_rename_that_sets_live_data_aside(setup: RestoreSetup) -> None:
    _kill_after_renames(setup, "set-aside")


def test_kill_after_each_rename_that_moves_staged_data_in(setup: RestoreSetup) -> None:
    """Includes the kill after the very last rename, before the journal is deleted."""
    _kill_after_renames(setup, "move-in")


def test_random_kills_before_the_swap(setup: RestoreSetup) -> None:
    """Killed at random moments of verify, staging, staged open, canaries and safety backup. The child
    parks just before the swap (the swap's exact points are covered above), so each kill lands in
    the preparation and the data must stay exactly OLD."""
    rng = random.Random(4242)
    window = setup.to_first_rename_s
    for n in range(4):
        case = setup.case(f"random-{n}")
        with Child(setup.restore_args(case), setup.errlog, "restore.swap:pause:1") as child:
            child.wait_for("RESTORE-BEGIN")
            child.pump_for(rng.uniform(0.0, window))
            assert child.kill() == -signal.SIGKILL
        check_after_kill(setup, case, "old")
        check_next_restore(setup, case)


# ---------------------------------------------------------------------------- 3. refused restore
def test_restore_refused_while_another_process_has_the_dir_open(setup: RestoreSetup) -> None:
    case = setup.case("refused")
    with Child(["hold", str(case)], setup.errlog) as holder:
        holder.wait_for("READY")
        md = open_md(case)
        try:
            before = state_of(md)
            assert before == setup.old
            with pytest.raises(StorageError, match="another memdeck process has this data dir open"):
                md.restore(setup.backup_id, folder=setup.folder)
        finally:
            md.close()
        assert not (case / JOURNAL).exists()
        assert [p.name for p in case.iterdir() if p.name.startswith((".restore-", ".pre-restore-"))] == []
        with open_md(case) as md:  # the holder still has it open
            assert state_of(md) == before
            check_index_and_audit(md)
            with md.db.read() as conn:
                outcomes = [r[0] for r in conn.execute(
                    "SELECT outcome FROM audit_events WHERE action = 'backup.restore'")]
            assert outcomes == ["failed"], outcomes
        assert holder.proc.poll() is None, "the holder died"
        assert holder.kill() == -signal.SIGKILL
    check_next_restore(setup, case)  # nobody holds it now
