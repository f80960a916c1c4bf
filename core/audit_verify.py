"""Walk the audit chain (sealed archive segments, then the live table) and name the first bad event.

What each kind of tampering looks like to the walk:
- an edited event: its recomputed hash differs from the stored one;
- an edited event whose hash was recomputed too: the *next* event no longer links to it;
- a deleted event: a gap in the sequence numbers (or, at the tail, ``sqlite_sequence`` remembers
  a higher number than the last event);
- two events swapped or renumbered: the sequence number is inside the hash, so both stop matching.
Rewriting *every* later event with fresh hashes cannot be caught by any self-contained chain;
compare the head hash this prints with one recorded elsewhere (``memdeck audit verify --expect-head``).

SQLite builds each event's canonical string in C; Python only hashes and compares. Chains of 200k
events or more are split into chunks walked by two spawned processes; threads would not help (the
per-row Python work holds the GIL, so they take turns: measured slower than one thread, see
docs/benchmarks.md).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core import audit
from core.db import Database

_FETCH = 5000
log = logging.getLogger(__name__)


@dataclass
class Problem:
    seq: int
    kind: str
    message: str


@dataclass
class VerifyReport:
    ok: bool
    live_events: int = 0
    archived_events: int = 0
    segments: int = 0
    head_seq: int = 0
    head_hash: str = audit.GENESIS
    first_bad_seq: int | None = None
    problem: str | None = None
    kind: str | None = None
    seconds: float = 0.0
    checked_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        total = self.live_events + self.archived_events
        if self.ok:
            arch = f" ({self.archived_events:,} in {self.segments} archived segment(s))" if self.segments else ""
            return (f"audit chain intact: {total:,} events{arch}; head #{self.head_seq} {self.head_hash[:16]}…"
                    f" ({self.seconds:.2f} s)")
        return f"audit chain BROKEN at event #{self.first_bad_seq}: {self.problem}"


@dataclass
class _RangeResult:
    count: int = 0
    first: tuple[int, str, bool] | None = None  # seq, prev_hash, own hash ok
    last: tuple[int, str] | None = None  # seq, hash
    problem: Problem | None = None


def _legacy_row(conn: Any, seq: int) -> tuple[str, bool]:
    """(prev_hash, own hash ok) for an event not written with the v2 encoding (slow path, rare)."""
    r = conn.execute("SELECT seq, at, actor, action, target, outcome, details, prev_hash, hv, hash FROM audit_events"
                     " WHERE seq = ?", (seq,)).fetchone()
    ok = r[8] == 1 and audit.event_hash_v1(*r[:8]) == r[9]
    return str(r[7]), ok


def _scan_range(db: Database, lo: int, hi: int, tick: Callable[[int], None],
                stop: threading.Event) -> _RangeResult:
    with db.read() as conn:
        return _scan_conn(conn, lo, hi, tick, stop)


def _scan_file_range(db_path: str, lo: int, hi: int) -> _RangeResult:
    """One chunk in a worker process: its own read-only connection, no SQLAlchemy, no threads."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        conn.execute("BEGIN")
        return _scan_conn(conn, lo, hi, lambda n: None, threading.Event())
    finally:
        conn.close()


def _scan_conn(conn: Any, lo: int, hi: int, tick: Callable[[int], None], stop: threading.Event) -> _RangeResult:
    """Walk events ``lo..hi``. Only (seq, hash, canonical string) cross into Python per row: the
    previous hash is the canonical string's last field, so it need not be fetched separately."""
    out = _RangeResult()
    sha = hashlib.sha256
    sep = audit.SEP
    cur = conn.execute(
        f"SELECT seq, hash, CASE WHEN hv = 2 THEN {audit.CANONICAL_V2_SQL} END"
        " FROM audit_events WHERE seq BETWEEN ? AND ? ORDER BY seq", (lo, hi))
    last_seq, last_hash = 0, ""
    while not stop.is_set():
        batch = cur.fetchmany(_FETCH)
        if not batch:
            break
        for seq, stored, canon in batch:
            if canon is not None:
                ok = canon.count(sep) == 7 and sha(canon.encode("utf-8")).hexdigest() == stored
                prev = canon[canon.rfind(sep) + 1:]
            else:
                prev, ok = _legacy_row(conn, seq)
            if out.first is None:
                out.first = (seq, prev, ok)
            elif seq != last_seq + 1:
                out.problem = Problem(last_seq + 1, "missing",
                                      f"event(s) #{last_seq + 1}-#{seq - 1} are missing (deleted)")
                return out
            elif prev != last_hash:
                if ok:
                    out.problem = Problem(last_seq, "rehashed",
                                          f"event #{last_seq} was changed and its hash recomputed "
                                          f"(event #{seq} still links to the original)")
                else:
                    out.problem = Problem(seq, "edited", f"event #{seq} was altered (link and hash)")
                return out
            if not ok:
                out.problem = Problem(seq, "edited", f"event #{seq} does not match its hash (edited)")
                return out
            last_seq, last_hash = seq, stored
            out.count += 1
        out.last = (last_seq, last_hash)
        tick(len(batch))
    return out


def verify_segment_file(path: Path, expect_seq: int, expect_prev: str) -> tuple[int, str, int, Problem | None]:
    """Walk one archive segment; returns (next expected seq, last hash, events, problem)."""
    seq_expected, prev, n = expect_seq, expect_prev, 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            header = json.loads(fh.readline())
            if header.get("memdeck_audit_segment") != 1:
                return seq_expected, prev, n, Problem(expect_seq, "archive", f"{path.name} is not an audit segment")
            for line in fh:
                ev = json.loads(line)
                hv = int(ev.get("hv", 1))
                fields = (ev["seq"], ev["at"], ev["actor"], ev["action"], ev["target"], ev["outcome"],
                          ev["details"], ev["prev_hash"])
                if ev["seq"] != seq_expected:
                    return seq_expected, prev, n, Problem(seq_expected, "missing",
                                                          f"archived event #{seq_expected} is missing")
                if ev["prev_hash"] != prev or audit.event_hash(*fields, hv=hv) != ev["hash"]:
                    return seq_expected, prev, n, Problem(seq_expected, "edited",
                                                          f"archived event #{seq_expected} was altered")
                prev, seq_expected, n = ev["hash"], seq_expected + 1, n + 1
    except (OSError, ValueError, KeyError, EOFError) as exc:
        return seq_expected, prev, n, Problem(seq_expected, "archive", f"{path.name} is unreadable: {exc}")
    return seq_expected, prev, n, None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


PROCESS_THRESHOLD = 200_000


def _scan_in_processes(db: Database, bounds: list[tuple[int, int]], processes: int, total: int,
                       progress: Callable[[int, int], None] | None,
                       should_stop: Callable[[], bool] | None) -> list[_RangeResult | BaseException]:
    """Large chains: chunks walked by ``processes`` spawned workers (threads would take turns on the
    GIL). Spawned, not forked: the TUI and core run threads, and forking those is unsafe."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from core.errors import Cancelled

    results: list[_RangeResult | BaseException] = []
    done = 0
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_scan_file_range, str(db.path), a, b) for a, b in bounds]
        try:
            for fut in futures:
                res = fut.result()
                results.append(res)
                done += res.count
                if progress is not None:
                    progress(done, total)
                if should_stop is not None and should_stop():
                    raise Cancelled("audit verification cancelled")
                if res.problem is not None:  # later chunks cannot report an earlier seq
                    break
        finally:
            for fut in futures:
                fut.cancel()
    return results


def verify_chain(db: Database, archive_dir: Path, *, threads: int = 1, processes: int = 2,
                 progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> VerifyReport:
    """Verify archive segments, then the live chain; report the first bad sequence number."""
    t0 = time.perf_counter()
    report = VerifyReport(ok=True)

    def fail(p: Problem) -> VerifyReport:
        report.ok, report.first_bad_seq, report.problem, report.kind = False, p.seq, p.message, p.kind
        report.seconds = round(time.perf_counter() - t0, 3)
        return report

    with db.read() as conn:
        segments = conn.execute("SELECT file, first_seq, last_seq, first_prev_hash, last_hash, events, sha256"
                                " FROM audit_segments ORDER BY first_seq").fetchall()
        lo, hi, count = conn.execute("SELECT min(seq), max(seq), count(*) FROM audit_events").fetchone()
        hw_row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'").fetchone()
    high_water = int(hw_row[0]) if hw_row else 0
    expect_seq, expect_prev = 1, audit.GENESIS
    for file, first, last, first_prev, last_hash, events, digest in segments:
        path = archive_dir / file
        if first != expect_seq or first_prev != expect_prev:
            return fail(Problem(expect_seq, "archive", f"archive segment {file} does not continue the chain"))
        if not path.exists():
            return fail(Problem(first, "archive", f"archive segment {file} is missing from {archive_dir}"))
        if file_sha256(path) != digest:
            return fail(Problem(first, "archive", f"archive segment {file} was modified (SHA-256 differs)"))
        expect_seq, expect_prev, n, problem = verify_segment_file(path, first, first_prev)
        if problem is not None:
            return fail(problem)
        if n != events or expect_seq != last + 1 or expect_prev != last_hash:
            return fail(Problem(first, "archive", f"archive segment {file} does not match its checkpoint"))
        report.archived_events += n
        report.segments += 1
    report.head_seq, report.head_hash = expect_seq - 1, expect_prev
    total = int(count or 0)
    if total:
        lo, hi = int(lo), int(hi)
        use_procs = processes > 1 and total >= PROCESS_THRESHOLD
        n_threads = max(1, min(threads, total // 20_000 + 1))
        parts = 16 if use_procs else n_threads
        step = (hi - lo + 1 + parts - 1) // parts
        bounds = [(lo + i * step, min(hi, lo + (i + 1) * step - 1)) for i in range(parts)]
        bounds = [(a, b) for a, b in bounds if a <= b]
        done = [0]
        lock = threading.Lock()
        stop = threading.Event()
        results: list[_RangeResult | BaseException] = [_RangeResult() for _ in bounds]
        if use_procs:
            try:
                results = _scan_in_processes(db, bounds, processes, total, progress, should_stop)
            except (OSError, RuntimeError) as exc:  # no processes here: fall back to this thread
                log.warning("audit verify in processes failed (%s); walking in one thread", exc)
                use_procs = False
                bounds = [(lo, hi)]
                results = [_RangeResult()]

        def tick(n: int) -> None:
            with lock:
                done[0] += n
                if should_stop is not None and should_stop():
                    stop.set()
            if progress is not None:
                progress(done[0], total)

        def run(i: int, a: int, b: int) -> None:
            try:
                results[i] = _scan_range(db, a, b, tick, stop)
            except BaseException as exc:  # surfaced below
                results[i] = exc

        if not use_procs:
            workers = [threading.Thread(target=run, args=(i, a, b), name=f"audit-verify-{i}", daemon=True)
                       for i, (a, b) in enumerate(bounds)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        if stop.is_set():
            from core.errors import Cancelled

            raise Cancelled("audit verification cancelled")
        for res in results:
            if isinstance(res, BaseException):
                raise res
            if res.first is None:
                continue
            seq, prev, own_ok = res.first
            if seq != expect_seq:
                return fail(Problem(expect_seq, "missing", f"event(s) #{expect_seq}-#{seq - 1} are missing (deleted)"))
            if prev != expect_prev:
                if own_ok and seq > 1:
                    return fail(Problem(seq - 1, "rehashed", f"event #{seq - 1} was changed and its hash "
                                        f"recomputed (event #{seq} still links to the original)"))
                return fail(Problem(seq, "edited", f"event #{seq} was altered (link and hash)"))
            if not own_ok:
                return fail(Problem(seq, "edited", f"event #{seq} does not match its hash (edited)"))
            if res.problem is not None:
                return fail(res.problem)
            assert res.last is not None
            expect_seq, expect_prev = res.last[0] + 1, res.last[1]
            report.live_events += res.count
        report.head_seq, report.head_hash = expect_seq - 1, expect_prev
    if high_water > report.head_seq:
        return fail(Problem(report.head_seq + 1, "truncated",
                            f"event(s) #{report.head_seq + 1}-#{high_water} were deleted from the end of the chain"))
    report.seconds = round(time.perf_counter() - t0, 3)
    return report
