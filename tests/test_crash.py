"""Crash safety: a writer process is SIGKILLed at random moments, then the data dir is reopened.

Every write the child acknowledged (its ``put``/``delete`` returned, so its transaction committed) must
survive with its exact content and status, the startup replay must leave SQLite and the vector index
in step, the index must find what was written, and no temp files from an interrupted checkpoint may
outlive the reopen. Trials run one after another on the same data dir, so each recovery starts from
the state the previous recovery left (recovery over recovery). The child is ``tests/crash_writer.py``.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from crash_writer import COLLECTION, content_for, number_of
from helpers import WordHashEmbedder

from core import audit
from core.memdeck import Memdeck
from core.vectors import IndexParams, VectorIndex

pytestmark = pytest.mark.slow

WRITER = Path(__file__).resolve().parent / "crash_writer.py"
ROOT = WRITER.parent.parent
READY_TIMEOUT_S = 30.0


@dataclass
class Ledger:
    """What the children acknowledged, across all trials on one data dir."""

    puts: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)  # acknowledged deletes
    maybe_deleted: set[str] = field(default_factory=set)  # DEL-BEGIN seen, DEL not seen
    acked_puts: int = 0
    acked_deletes: int = 0

    def record(self, lines: list[str]) -> None:
        for line in lines:
            if line.startswith("DEL-BEGIN "):
                self.maybe_deleted.add(line.split()[1])
            elif line.startswith("DEL "):
                key = line.split()[1]
                assert key in self.puts, f"child deleted {key} it never acknowledged writing"
                self.maybe_deleted.discard(key)
                self.deleted.add(key)
                self.acked_deletes += 1
            elif line.startswith("k"):
                self.puts.add(line)
                self.acked_puts += 1


@dataclass
class Run:
    lines: list[str]
    returncode: int


def _start(data_dir: Path, start_n: int, seed: int, errlog: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    with open(errlog, "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-u", str(WRITER), str(data_dir), str(start_n), "--seed", str(seed), *extra],
            stdout=subprocess.PIPE, stderr=err, cwd=ROOT, env=env)


def _reader(proc: subprocess.Popen[bytes], out: queue.Queue[bytes | None]) -> threading.Thread:
    def pump() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            out.put(raw)
        out.put(None)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def _complete(raw: bytes) -> str | None:
    """A whole acknowledged line, or None for a line cut short by the kill (not counted)."""
    return raw.decode().rstrip("\n") if raw.endswith(b"\n") else None


def run_and_kill(data_dir: Path, start_n: int, seed: int, errlog: Path, *, run_for: float | None = None,
                 kill_on: str | None = None, kill_on_count: int = 1, kill_delay: float = 0.0,
                 extra: tuple[str, ...] = ()) -> Run:
    """Start the writer, wait for READY, then SIGKILL it after ``run_for`` seconds, or ``kill_delay``
    seconds after the ``kill_on_count``-th line equal to ``kill_on``. Lines still in the pipe after the
    kill are drained: they were acknowledged before the process died."""
    proc = _start(data_dir, start_n, seed, errlog, *extra)
    lines: queue.Queue[bytes | None] = queue.Queue()
    thread = _reader(proc, lines)
    got: list[str] = []
    eof = False

    def take(timeout: float) -> bool:
        nonlocal eof
        try:
            raw = lines.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return False
        if raw is None:
            eof = True
            return False
        line = _complete(raw)
        if line is None:
            return False
        got.append(line)
        return True

    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "READY" not in got and not eof and time.monotonic() < deadline:
            take(deadline - time.monotonic())
        assert "READY" in got, f"writer never became ready: {errlog.read_text()[-3000:]}"
        if kill_on is None:
            assert run_for is not None
            stop = time.monotonic() + run_for
            while not eof and time.monotonic() < stop:
                take(stop - time.monotonic())
        else:
            seen = 0
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not eof and seen < kill_on_count and time.monotonic() < deadline:
                if take(deadline - time.monotonic()) and got[-1] == kill_on:
                    seen += 1
            assert seen == kill_on_count, (
                f"writer printed {kill_on!r} {seen} times: {errlog.read_text()[-3000:]}")
            time.sleep(kill_delay)
        assert not eof and proc.poll() is None, f"writer died on its own: {errlog.read_text()[-3000:]}"
        os.kill(proc.pid, signal.SIGKILL)
        returncode = proc.wait(timeout=30)
        thread.join(timeout=30)
        assert not thread.is_alive(), "the writer's stdout never reached end of file"
        while not eof:
            take(0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert returncode == -signal.SIGKILL, f"writer exited with {returncode}: {errlog.read_text()[-3000:]}"
    return Run(got, returncode)


def index_entries(index_dir: Path) -> set[str]:
    return {p.name for p in index_dir.iterdir()} - {".lock"}


def direct_load(index_dir: Path) -> str | None:
    """Load the generation CURRENT names, as the documented guarantee says a kill leaves it loadable.
    Returns None when there is no CURRENT (no checkpoint finished yet)."""
    if not (index_dir / "CURRENT").exists():
        return None
    emb = WordHashEmbedder()
    loaded = VectorIndex.load_checkpoint(index_dir, IndexParams(dim=emb.dim), emb.fingerprint)
    assert loaded.live_count > 0
    return (index_dir / "CURRENT").read_text().strip()


def check_audit_chain(md: Memdeck) -> int:
    with md.db.read() as conn:
        rows = conn.execute("SELECT seq, at, actor, action, target, outcome, details, prev_hash, hash"
                            " FROM audit_events ORDER BY seq").fetchall()
    prev = audit.GENESIS
    for seq, at, actor, action, target, outcome, details, prev_hash, digest in rows:
        assert prev_hash == prev, f"audit chain broken at seq {seq}"
        assert digest == audit.event_hash(seq, at, actor, action, target, outcome, details, prev_hash), (
            f"audit event {seq} hash mismatch")
        prev = digest
    return len(rows)


def verify(data_dir: Path, ledger: Ledger, trial_keys: set[str], rng: random.Random) -> tuple[Memdeck, int]:
    """Reopen ``data_dir`` and check everything acknowledged so far; returns the open Memdeck (caller
    closes it) and the next free item number."""
    index_dir = data_dir / "index"
    emb = WordHashEmbedder()
    md = Memdeck.open(data_dir, embedder=emb)
    try:
        leftovers = [n for n in index_entries(index_dir) if n.startswith((".tmp-", ".CURRENT.tmp"))]
        assert leftovers == [], f"temp files survived the reopen: {leftovers}"
        current = (index_dir / "CURRENT").read_text().strip()
        assert index_entries(index_dir) == {"CURRENT", current}, "stale generations survived the reopen"
        assert not [n for n in md.notices if "drift" in n], md.notices
        assert emb.texts_embedded == 0, "reopening re-embedded stored items"

        with md.db.read() as conn:
            rows = {r[0]: r[1:] for r in conn.execute(
                "SELECT key, id, content, status FROM items WHERE collection = ?", (COLLECTION,))}
        missing = sorted(ledger.puts - rows.keys(), key=number_of)
        assert not missing, f"acknowledged puts lost: {missing[:10]} ({len(missing)} in all)"
        # The writer is sequential, so at most one put per kill committed without being acknowledged.
        unacked = rows.keys() - ledger.puts
        assert len(unacked) <= 1, f"keys in the database that were never acknowledged: {sorted(unacked)}"
        ledger.puts |= unacked
        for key in ledger.maybe_deleted:
            if rows[key][2] == "deleted":
                ledger.deleted.add(key)
        ledger.maybe_deleted.clear()

        for key, (item_id, content, status) in rows.items():
            want = "deleted" if key in ledger.deleted else "active"
            assert content == content_for(number_of(key)), f"{key} holds other content: {content!r}"
            assert status == want, f"{key} is {status}, expected {want}"
            assert md.index.contains(item_id) == (want == "active"), f"{key}: index disagrees with {want}"
        # The table scan above covered every key; the public read path (4 ms a call) gets a sample of
        # this trial's keys: the newest (in flight at the kill), every deleted one, and some others.
        ordered = sorted(trial_keys, key=number_of)
        sample = set(ordered[-20:]) | (trial_keys & ledger.deleted)
        sample |= set(rng.sample(ordered, min(40, len(ordered))))
        for key in sample:
            item = md.get(COLLECTION, key)
            assert item["content"] == content_for(number_of(key))
            assert item["status"] == ("deleted" if key in ledger.deleted else "active")
            assert item["in_index"] == (item["status"] == "active")

        report = md.sync_check()
        assert report.clean, f"drift after startup replay: {report.counts()}"
        assert report.active_items == len(ledger.puts - ledger.deleted)
        assert md.index.live_count == len(ledger.puts - ledger.deleted)

        active = sorted(ledger.puts - ledger.deleted, key=number_of)
        sample = {active[-1], active[0], *rng.sample(active, min(4, len(active)))}
        for key in sample:
            hits = md.search(content_for(number_of(key)), k=5).hits
            found = [h for h in hits if h.key == key]
            assert found, f"search for {key}'s content did not find it: {[h.key for h in hits]}"
            assert found[0].vector_rank is not None and found[0].vector_score > 0.99, (
                f"{key} was found by keywords only: its vector is not in the index")
        for key in sorted(ledger.deleted, key=number_of)[-3:]:  # the newest: replayed, not checkpointed
            hits = md.search(content_for(number_of(key)), k=5).hits
            assert key not in [h.key for h in hits], f"deleted {key} still found"

        events = check_audit_chain(md)
        assert events >= ledger.acked_puts + ledger.acked_deletes
        with md.db.read() as conn:
            put_targets = {r[0] for r in conn.execute(
                "SELECT target FROM audit_events WHERE action = 'memory.put'")}
            n_deletes = conn.execute(
                "SELECT count(*) FROM audit_events WHERE action = 'memory.delete'").fetchone()[0]
        lacking = {f"{COLLECTION}/{k}" for k in ledger.puts} - put_targets
        assert not lacking, f"acknowledged puts without an audit event: {sorted(lacking)[:5]}"
        assert n_deletes >= ledger.acked_deletes
    except BaseException:
        md.close()
        raise
    next_n = max((number_of(k) for k in ledger.puts), default=-1) + 1
    return md, next_n


def test_random_kills_lose_no_acknowledged_write(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    errlog = tmp_path / "writer.stderr"
    rng = random.Random(20240611)
    ledger = Ledger()
    next_n = 0
    for trial in range(6):
        run = run_and_kill(data_dir, next_n, seed=rng.randrange(1 << 30), errlog=errlog,
                           run_for=rng.uniform(0.3, 2.0))
        ledger.record(run.lines)
        trial_keys = {ln for ln in run.lines if ln.startswith("k")}
        assert trial_keys, f"trial {trial}: the writer acknowledged nothing before the kill"
        current_before = direct_load(data_dir / "index")
        md, next_n = verify(data_dir, ledger, trial_keys, rng)
        with md:
            if current_before is not None:
                assert not [n for n in md.notices if "rebuild" in n], (
                    f"trial {trial}: a checkpoint that loads was rebuilt anyway: {md.notices}")
    assert ledger.acked_puts > 100, "the trials wrote too little to mean anything"
    assert ledger.acked_deletes > 0, "no delete was acknowledged in any trial"


# Where a kill can interrupt VectorIndex.save_checkpoint, and which generation CURRENT must name after
# it, following the protocol in core/vectors.py: write a temp folder, fsync it, rename it, switch
# CURRENT, then remove the previous generation.
CHECKPOINT_STAGES = {
    "fsync_file:1": "previous",  # temp folder written, nothing fsynced yet
    "fsync_file:3": "previous",  # meta.json about to be fsynced
    "fsync_dir:1": "previous",  # temp folder complete, not yet renamed
    "fsync_dir:2": "previous",  # renamed to ckpt-*, CURRENT not switched
    "atomic_write_bytes:1": "previous",  # about to switch CURRENT
    "rmtree:1": "new",  # CURRENT switched, previous generation not yet removed
}


def test_kill_inside_checkpoint_keeps_a_loadable_index(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    index_dir = data_dir / "index"
    errlog = tmp_path / "writer.stderr"
    rng = random.Random(77)
    ledger = Ledger()
    # A first run with plain checkpoints, so there is a previous generation to fall back on.
    run = run_and_kill(data_dir, 0, seed=1, errlog=errlog, run_for=0.5, extra=("--checkpoint-every", "20"))
    ledger.record(run.lines)
    assert "CKPT-END" in run.lines
    md, next_n = verify(data_dir, ledger, {ln for ln in run.lines if ln.startswith("k")}, rng)
    md.close()

    # Killed right after it announced a checkpoint: the previous generation loads, or the index is
    # rebuilt with a notice; either way verify() found it clean and searchable.
    for n in range(2):
        run = run_and_kill(data_dir, next_n, seed=50 + n, errlog=errlog, kill_on="CKPT-BEGIN",
                           kill_on_count=1 + n, kill_delay=rng.uniform(0, 0.004),
                           extra=("--checkpoint-every", "15"))
        ledger.record(run.lines)
        current_before = (index_dir / "CURRENT").read_text().strip()
        md, next_n = verify(data_dir, ledger, {ln for ln in run.lines if ln.startswith("k")}, rng)
        with md:
            rebuilt = [m for m in md.notices if "rebuild" in m]
            loaded = (index_dir / "CURRENT").read_text().strip() == current_before and not rebuilt
            assert loaded or rebuilt, f"the index was replaced without a notice: {md.notices}"

    # Killed at each step of the checkpoint protocol.
    for n, (stage, survivor) in enumerate(CHECKPOINT_STAGES.items()):
        generation_before = (index_dir / "CURRENT").read_text().strip()
        run = run_and_kill(data_dir, next_n, seed=100 + n, errlog=errlog, kill_on=f"CKPT-STAGE {stage}",
                           extra=("--checkpoint-every", "10", "--pause-in-checkpoint", stage))
        ledger.record(run.lines)
        assert "CKPT-END" not in run.lines, f"{stage}: the checkpoint finished before the kill"
        entries = index_entries(index_dir)
        current = (index_dir / "CURRENT").read_text().strip()
        assert current in entries, f"{stage}: CURRENT names {current}, which does not exist"
        if survivor == "previous":
            assert current == generation_before, (
                f"{stage}: CURRENT switched before the new generation was ready")
        else:
            assert current != generation_before, f"{stage}: CURRENT was never switched"
        # The documented guarantee: a kill at any moment leaves CURRENT naming a readable generation.
        assert direct_load(index_dir) == current
        leftovers = entries - {"CURRENT", current}
        assert leftovers, f"{stage}: the kill left no trace of the interrupted checkpoint"
        md, next_n = verify(data_dir, ledger, {ln for ln in run.lines if ln.startswith("k")}, rng)
        with md:
            assert not [m for m in md.notices if "rebuild" in m], f"{stage}: rebuilt: {md.notices}"
            assert (index_dir / "CURRENT").read_text().strip() == current
            assert any(f"removed {len(leftovers)} leftover index file" in m for m in md.notices), md.notices
