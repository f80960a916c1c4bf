"""Audit trail benchmarks: verify time for a large chain, and what one audit event adds to a write.

    python bench/bench_audit.py                      # 1,000,000 events (~2.5-3 min on 2 cores)
    python bench/bench_audit.py --events 100000      # a quick run
    python bench/bench_audit.py --workdir /tmp/ba --keep

Steps, all in one throwaway data dir opened with ``Memdeck.open(..., startup_check=False)`` and the test
suite's ``WordHashEmbedder`` (no model is loaded):

1. build: N hash-chained events, generated with ``core.audit.event_hash_v2`` exactly as
   ``core.audit.append`` does (v2 encoding, ``hv`` = 2, the chain continuing from ``chain_head``), and
   inserted with ``executemany`` inside ``md.db.write()`` in batches. A mix of actions, actors and
   outcomes, with details shaped like the real events (memory.put, memory.search access events, ...).
2. verify: ``core.audit_verify.verify_chain`` with threads=1 and threads=2, interleaved, ``--reps``
   each; median and min. The report must be ok with live_events == N. Plus a split of where the time
   goes (SQLite building the canonical strings vs Python hashing them).
3. verify with half the chain archived: ``md.audit_archive(before_seq=N//2)``, then the same timings;
   the archive segment is verified in Python (gzip + JSON + sha256 per event).
4. append overhead: ``core.audit.append`` of one record inside a write transaction against the same
   transaction without it (an UPDATE of a meta row), interleaved; a batch of 1,000 records in one
   transaction; ``md.put`` at synchronous=FULL with the real auditor against a no-op stand-in swapped
   into ``md.auditor`` (in this process only, core is not modified); ``md.record_access`` per call;
   ``md.search`` with ``audit.access_events`` on and off.

Prints a markdown table, then one JSON object on the last stdout line (like the other bench scripts),
and writes the JSON to ``bench/results/audit-<date>.json`` (gitignored).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from common import SEED, emit, latency_summary, loadavg, log, machine_info, unit_vectors  # noqa: E402
from helpers import WordHashEmbedder  # noqa: E402

from core import audit  # noqa: E402
from core.audit_verify import file_sha256, verify_chain, verify_segment_file  # noqa: E402
from core.memdeck import Memdeck  # noqa: E402

TARGET_VERIFY_S = 5.0
TARGET_EVENTS = 1_000_000

_INSERT = ("INSERT INTO audit_events (seq, at, actor, action, target, outcome, details, prev_hash, hash, hv)"
           " VALUES (?,?,?,?,?,?,?,?,?,?)")
_WORDS = ["project", "deadline", "meeting", "notes", "budget", "review", "design", "database", "index",
          "vector", "search", "query", "memory", "audit", "release", "customer", "invoice", "schedule",
          "travel", "recipe", "garden", "backup", "server", "latency", "python", "rust", "contract", "holiday",
          "report", "draft", "summary"]


# ----------------------------------------------------------------------------- 1. build
class EventGen:
    """Realistic audit events: a mix of actions, actors and outcomes with details shaped like the ones
    core writes (``store.write_puts``, ``Memdeck.search``, ``store.write_status``, ``config_set``...)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.actors = ["root", "alice", "bob@10.1.2.3", "svc-ingest", "carol"]
        self.actor_w = [40, 25, 10, 20, 5]
        self.collections = ["notes", "docs", "mail", "chat", "code"]

    def target(self) -> str:
        return f"{self.rng.choice(self.collections)}/item-{self.rng.randrange(1, 400_000):07d}"

    def one(self, seq: int) -> tuple[str, str, str, str, str]:
        """(actor, action, target, outcome, details JSON)."""
        r = self.rng.random()
        actor = self.rng.choices(self.actors, self.actor_w)[0]
        rng = self.rng
        if r < 0.58:
            action, target = "memory.put", self.target()
            d: dict[str, Any] = {"version": rng.randrange(1, 6), "hash": f"{rng.getrandbits(64):016x}",
                                 "result": rng.choice(("created", "created", "updated")), "seq": seq}
        elif r < 0.86:
            action, target = "memory.search", rng.choice(("*", "notes", "docs,mail"))
            d = {"query": " ".join(rng.choices(_WORDS, k=rng.randrange(2, 7))), "k": 10, "mode": "hybrid",
                 "hits": 10, "ids": [rng.randrange(1, 400_000) for _ in range(rng.randrange(3, 11))]}
        elif r < 0.93:
            to = rng.choice(("deleted", "quarantined", "active"))
            action = {"deleted": "memory.delete", "quarantined": "memory.quarantine", "active": "memory.restore"}[to]
            target = self.target()
            d = {"from": "active" if to != "active" else "quarantined", "to": to, "version": rng.randrange(2, 8),
                 "seq": seq, "reason": rng.choice(("", "duplicate", "contains a phone number", "stale"))}
        elif r < 0.96:
            action, target = "memory.put_many", rng.choice(self.collections)
            first = max(1, seq - 1000)
            d = {"written": rng.randrange(1, 1001), "unchanged": rng.randrange(0, 50), "first_seq": first,
                 "last_seq": seq}
        elif r < 0.975:
            action, target = "config.set", rng.choice(("search.top_k", "index.ef_search", "audit.retention_days"))
            d = {"key": target, "old": rng.randrange(1, 200), "new": rng.randrange(1, 200)}
        elif r < 0.99:
            action, target = "sync.repair", "index"
            d = {"missing": rng.randrange(0, 5), "orphaned": rng.randrange(0, 5), "stale": rng.randrange(0, 5),
                 "repaired": rng.randrange(0, 15), "dry_run": False}
        else:
            action, target = "memory.put", self.target()
            d = {"role": "viewer", "needs": "editor"}
            return actor, action, target, "denied", audit.encode_details(d)
        outcome = "failed" if rng.random() < 0.003 else "ok"
        return actor, action, target, outcome, audit.encode_details(d)


def build(md: Memdeck, n: int, batch: int) -> dict[str, Any]:
    """Append ``n`` events exactly as ``core.audit.append`` would (v2 hash over the same fields, the chain
    continuing from ``chain_head``), inserted in batches of ``batch`` with executemany."""
    gen = EventGen(SEED)
    with md.db.read() as conn:
        seq, prev = audit.chain_head(conn)
    start_seq = seq
    at = time.time() - 365 * 86400.0  # a year of history, ~31 s apart on average
    step = 365 * 86400.0 / max(n, 1)
    gen_s = ins_s = 0.0
    detail_bytes = 0
    done = 0
    while done < n:
        t0 = time.perf_counter()
        rows = []
        for _ in range(min(batch, n - done)):
            seq += 1
            at += step * (0.5 + gen.rng.random())
            actor, action, target, outcome, details = gen.one(seq)
            detail_bytes += len(details)
            digest = audit.event_hash_v2(seq, at, actor, action, target, outcome, details, prev)
            rows.append((seq, at, actor, action, target, outcome, details, prev, digest, audit.HASH_VERSION))
            prev = digest
        t1 = time.perf_counter()
        with md.db.write() as conn:
            conn.executemany(_INSERT, rows)
        ins_s += time.perf_counter() - t1
        gen_s += t1 - t0
        done += len(rows)
        if done % (batch * 4) == 0 or done == n:
            log(f"  built {done:,}/{n:,} events (generate {gen_s:.1f} s, insert {ins_s:.1f} s)")
    with md.db.read() as conn:
        hw = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'").fetchone()
        head = audit.chain_head(conn)
        count = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
    # Explicit seqs in an AUTOINCREMENT table move sqlite_sequence along; verify relies on it (tail check).
    assert hw is not None and int(hw[0]) == start_seq + n, (hw, start_seq + n)
    assert head == (start_seq + n, prev), head
    t2 = time.perf_counter()
    conn2 = sqlite3.connect(md.layout.db_path)
    try:
        conn2.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn2.close()
    return {"events_before": start_seq, "events": n, "live_count": int(count), "batch": batch,
            "generate_s": round(gen_s, 2), "insert_s": round(ins_s, 2),
            "insert_events_per_s": round(n / ins_s) if ins_s else None,
            "wal_checkpoint_s": round(time.perf_counter() - t2, 2),
            "details_bytes_mean": round(detail_bytes / max(n, 1), 1),
            "sqlite_sequence": int(hw[0]), "db_bytes": md.db.size_bytes()}


# ----------------------------------------------------------------------------- 2./3. verify
MODES: dict[str, dict[str, int]] = {"threads_1": {"threads": 1, "processes": 1},
                                    "threads_2": {"threads": 2, "processes": 1},
                                    "processes_2": {"threads": 1, "processes": 2}}  # the default
DEFAULT_MODE = "processes_2"


def time_verify(md: Memdeck, reps: int, modes: tuple[str, ...] = tuple(MODES)) -> tuple[dict[str, Any], Any]:
    """verify_chain in each mode, interleaved, so a load swing hits all of them. CPU is this process's
    own: for the process mode the workers' CPU is not counted (cpu/wall is then not comparable)."""
    runs: dict[str, list[float]] = {t: [] for t in modes}
    cpu: dict[str, list[float]] = {t: [] for t in modes}
    report = None
    for rep in range(reps):
        order = modes if rep % 2 == 0 else tuple(reversed(modes))
        for t in order:
            c0 = _cpu_s()
            t0 = time.perf_counter()
            report = verify_chain(md.db, md.layout.audit_archive_dir, **MODES[t])
            runs[t].append(time.perf_counter() - t0)
            cpu[t].append(_cpu_s() - c0)
            assert report.ok, report.summary()
            log(f"  verify {t}: {runs[t][-1]:.2f} s, cpu {cpu[t][-1]:.2f} s  ({report.summary()})")
    assert report is not None
    total = report.live_events + report.archived_events
    out: dict[str, Any] = {}
    for t, xs in runs.items():
        med = statistics.median(xs)
        out[t] = {"runs_s": [round(x, 3) for x in xs], "median_s": round(med, 3),
                               "min_s": round(min(xs), 3), "events_per_s_median": round(total / med),
                               # process CPU (all threads) / wall: ~1.0 means one core's worth of work
                               "cpu_s_runs": [round(x, 3) for x in cpu[t]],
                               "cpu_over_wall_median": round(statistics.median(
                                   c / w for c, w in zip(cpu[t], xs, strict=True)), 2)}
    return out, report


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _whatif_scan(db_path: str, lo: int, hi: int) -> tuple[int, bool]:
    """In a child process: the production per-range walk (``_scan_range``) over [lo, hi]."""
    from core.audit_verify import _scan_range
    from core.db import Database

    db = Database(Path(db_path))
    try:
        r = _scan_range(db, lo, hi, lambda _n: None, threading.Event())
    finally:
        db.close()
    return r.count, r.problem is None


def whatif_processes(md: Memdeck, reps: int, procs: int = 2) -> dict[str, Any]:
    """Not memdeck's code path: the same ``_scan_range`` per half of the seq range, in forked processes
    instead of threads (wall time includes starting the pool), to size what real parallelism would give.
    Only the per-range walks are done; the stitching of ranges that verify_chain adds is negligible."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with md.db.read() as conn:
        lo, hi = conn.execute("SELECT min(seq), max(seq) FROM audit_events").fetchone()
    step = (hi - lo + procs) // procs
    bounds = [(lo + i * step, min(hi, lo + (i + 1) * step - 1)) for i in range(procs)]
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        with ProcessPoolExecutor(procs, mp_context=mp.get_context("fork")) as ex:
            res = list(ex.map(_whatif_scan, [str(md.layout.db_path)] * procs, *zip(*bounds, strict=True)))
        runs.append(time.perf_counter() - t0)
        assert all(ok for _, ok in res) and sum(c for c, _ in res) == hi - lo + 1, res
    return {"processes": procs, "runs_s": [round(x, 3) for x in runs], "median_s": round(statistics.median(runs), 3)}


def verify_split(md: Memdeck, sample: int) -> dict[str, Any]:
    """Where a single-threaded live walk spends its time: SQLite producing the rows (with and without the
    canonical-string expression), and the Python per-event check, timed on an in-memory sample."""
    q = ("SELECT seq, prev_hash, hash, hv, CASE WHEN hv = 2 THEN {} END FROM audit_events"
         " WHERE seq BETWEEN ? AND ? ORDER BY seq")
    out: dict[str, Any] = {}
    with md.db.read() as conn:
        lo, hi = conn.execute("SELECT min(seq), max(seq) FROM audit_events").fetchone()
        for name, expr in (("sqlite_rows_with_canonical_s", audit.CANONICAL_V2_SQL), ("sqlite_rows_no_canonical_s",
                                                                                       "NULL")):
            t0 = time.perf_counter()
            cur = conn.execute(q.format(expr), (lo, hi))
            while cur.fetchmany(5000):
                pass
            out[name] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        conn.execute(f"SELECT count(*), sum(length({audit.CANONICAL_V2_SQL})) FROM audit_events").fetchone()
        out["sqlite_canonical_in_c_only_s"] = round(time.perf_counter() - t0, 3)
        rows = conn.execute(q.format(audit.CANONICAL_V2_SQL) + " LIMIT ?", (lo, hi, sample)).fetchall()
    sha, sep = hashlib.sha256, audit.SEP
    gc.disable()
    t0 = time.perf_counter()
    last_seq, last_hash, bad = rows[0][0] - 1, rows[0][1], 0
    for seq, prev, stored, _hv, canon in rows:  # the same per-row work as _scan_range's v2 path
        ok = canon.count(sep) == 7 and sha(canon.encode("utf-8")).hexdigest() == stored
        if seq != last_seq + 1 or prev != last_hash or not ok:
            bad += 1
        last_seq, last_hash = seq, stored
    py = time.perf_counter() - t0
    gc.enable()
    assert bad == 0
    out["python_check_us_per_event"] = round(py / len(rows) * 1e6, 3)
    out["python_check_projected_s"] = round(py / len(rows) * (int(hi) - int(lo) + 1), 3)
    out["canonical_bytes_mean"] = round(sum(len(r[4]) for r in rows) / len(rows), 1)
    out["sample"] = len(rows)
    return out


def archived_verify(md: Memdeck, n: int, reps: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    res = md.audit_archive(before_seq=n // 2)
    arch_s = time.perf_counter() - t0
    log(f"  archived {res['archived']:,} events into {res['segment']} in {arch_s:.1f} s")
    out: dict[str, Any] = {"archive_call_s": round(arch_s, 2), "archived": res["archived"],
                           "segment": res["segment"], "segment_bytes": Path(res["path"]).stat().st_size}
    timings, report = time_verify(md, reps)
    with md.db.read() as conn:
        live = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
        first, first_prev = conn.execute("SELECT first_seq, first_prev_hash FROM audit_segments").fetchone()
    assert report.archived_events == res["archived"] and report.live_events == live, report
    out.update(timings)
    out["report"] = {"ok": report.ok, "archived_events": report.archived_events, "live_events": report.live_events,
                     "segments": report.segments, "head_seq": report.head_seq}
    # The archive half alone: the file's SHA-256, then the Python walk of the segment.
    path = Path(res["path"])
    t0 = time.perf_counter()
    file_sha256(path)
    out["segment_sha256_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    _next, _last, events, problem = verify_segment_file(path, first, first_prev)
    seg_s = time.perf_counter() - t0
    assert problem is None and events == res["archived"]
    out["segment_walk_s"] = round(seg_s, 3)
    out["segment_walk_us_per_event"] = round(seg_s / events * 1e6, 3)
    return out


# ----------------------------------------------------------------------------- 4. append overhead
class NoAudit:
    """Stands in for ``md.auditor`` (this process only) to time md.put without its audit event."""

    def __init__(self, actor: str) -> None:
        self.actor = actor
        self.rules = None

    def append(self, conn: Any, records: list[Any], at: float | None = None) -> int:
        return 0

    def one(self, conn: Any, action: str, target: str, details: dict[str, Any] | None = None,
            outcome: str = "ok") -> int:
        return 0


def put_record(i: int) -> audit.AuditRecord:
    return audit.AuditRecord("memory.put", f"notes/bench-{i:07d}",
                             {"version": 1, "hash": f"{i * 2654435761 % (1 << 64):016x}", "result": "created",
                              "seq": 10_000_000 + i})


def _ab(n: int, fn_a: Any, fn_b: Any) -> tuple[list[float], list[float]]:
    """Interleaved A/B timings (the order flips every iteration), GC paused inside each call."""
    a: list[float] = []
    b: list[float] = []
    for i in range(n):
        pair = ((fn_a, a), (fn_b, b)) if i % 2 == 0 else ((fn_b, b), (fn_a, a))
        for fn, sink in pair:
            gc.disable()
            t0 = time.perf_counter()
            fn(i)
            sink.append(time.perf_counter() - t0)
            gc.enable()
    return a, b


def _us(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)
    return {"n": len(s), "p50_us": round(statistics.median(s) * 1e6, 2), "mean_us": round(statistics.fmean(s) * 1e6, 2),
            "p95_us": round(s[int(len(s) * 0.95)] * 1e6, 2), "min_us": round(s[0] * 1e6, 2)}


def _txn_ab(db: Any, actor: str, rules: Any, iters: int, base: int) -> dict[str, Any]:
    """One write transaction (UPDATE of a meta row) with and without one ``audit.append``, interleaved."""
    out: dict[str, Any] = {}
    with db.write() as conn:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('bench_audit', '0')")
        out["pragma_synchronous"] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
            conn.execute("PRAGMA synchronous").fetchone()[0]]
    inner: list[float] = []

    def bare(i: int) -> None:
        with db.write() as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'bench_audit'", (str(i),))

    def with_event(i: int) -> None:
        with db.write() as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'bench_audit'", (str(i),))
            t0 = time.perf_counter()
            audit.append(conn, actor, [put_record(base + i)], rules=rules)
            inner.append(time.perf_counter() - t0)

    for i in range(30):  # warm-up
        bare(i)
        with_event(i)
    inner.clear()
    a, b = _ab(iters, lambda i: with_event(i + 30), bare)
    out["txn_with_event"] = _us(a)
    out["txn_without_event"] = _us(b)
    out["append_call_in_txn"] = _us(inner)
    out["txn_diff_p50_us"] = round(out["txn_with_event"]["p50_us"] - out["txn_without_event"]["p50_us"], 2)
    out["txn_diff_mean_us"] = round(out["txn_with_event"]["mean_us"] - out["txn_without_event"]["mean_us"], 2)
    return out


def wal_frames(md: Memdeck, reps: int = 5) -> dict[str, float]:
    """4 KiB pages a commit adds to the WAL: the meta UPDATE alone vs with one audit event (table leaf,
    four index leaves, sqlite_sequence). Counted on a raw connection after a TRUNCATE checkpoint."""
    conn = sqlite3.connect(md.layout.db_path, isolation_level=None)
    frames: dict[str, list[int]] = {"without_event": [], "with_event": []}
    try:
        for i in range(reps):
            for name in frames:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("UPDATE meta SET value = ? WHERE key = 'bench_audit'", (f"wal-{name}-{i}",))
                if name == "with_event":
                    audit.append(conn, md.actor, [put_record(4_000_000 + i)], rules=md.privacy)
                conn.execute("COMMIT")
                frames[name].append(int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]))
    finally:
        conn.close()
    return {k: statistics.median(v) for k, v in frames.items()}


def append_overhead(md: Memdeck, iters: int, batch_reps: int) -> dict[str, Any]:
    from core.db import Database

    rules, actor = md.privacy, md.actor
    # (a) at the data dir's setting (FULL by default), then on a second Database handle on the same file
    # opened with synchronous=NORMAL: the difference between the two is the extra fsync'd WAL bytes.
    out: dict[str, Any] = {"full": _txn_ab(md.db, actor, rules, iters, 0)}
    db_normal = Database(md.layout.db_path, synchronous="NORMAL")
    try:
        out["normal"] = _txn_ab(db_normal, actor, rules, iters, 1_000_000)
    finally:
        db_normal.close()
    out["pragma_synchronous"] = out["full"]["pragma_synchronous"]
    for k in ("txn_with_event", "txn_without_event", "append_call_in_txn", "txn_diff_p50_us", "txn_diff_mean_us"):
        out[k] = out["full"][k]

    out["wal_frames_per_commit"] = wal_frames(md)

    # Where one append's time goes (pure-Python parts looped; the INSERT is the remainder).
    recs = [put_record(2_000_000 + i) for i in range(2000)]
    split: dict[str, float] = {}
    with md.db.write() as conn:
        t0 = time.perf_counter()
        for _ in recs:
            audit.chain_head(conn)
        split["chain_head_us"] = (time.perf_counter() - t0) / len(recs) * 1e6
    t0 = time.perf_counter()
    scrubbed = [rules.scrub(r.details) for r in recs]
    split["scrub_details_us"] = (time.perf_counter() - t0) / len(recs) * 1e6
    t0 = time.perf_counter()
    dets = [audit.encode_details(x) for x in scrubbed]
    split["encode_details_us"] = (time.perf_counter() - t0) / len(recs) * 1e6
    t0 = time.perf_counter()
    for r in recs:
        audit.clean_field(r.action, 128), audit.clean_field(rules.scrub_text(r.target))
    split["clean_and_scrub_target_us"] = (time.perf_counter() - t0) / len(recs) * 1e6
    now = time.time()
    t0 = time.perf_counter()
    for i, (r, d) in enumerate(zip(recs, dets, strict=True)):
        audit.event_hash_v2(i, now, actor, r.action, r.target, "ok", d, audit.GENESIS)
    split["event_hash_v2_us"] = (time.perf_counter() - t0) / len(recs) * 1e6
    split["insert_and_rest_us_est"] = out["append_call_in_txn"]["p50_us"] - sum(split.values())
    out["append_split_us"] = {k: round(v, 2) for k, v in split.items()}

    # (b) 1,000 records appended in one transaction.
    per_call, per_txn = [], []
    for rep in range(batch_reps):
        recs = [put_record(3_000_000 + rep * 1000 + j) for j in range(1000)]
        gc.disable()
        t0 = time.perf_counter()
        with md.db.write() as conn:
            t1 = time.perf_counter()
            audit.append(conn, actor, recs, rules=rules)
            per_call.append(time.perf_counter() - t1)
        per_txn.append(time.perf_counter() - t0)
        gc.enable()
    out["batch_1000"] = {"reps": batch_reps,
                         "append_us_per_event_median": round(statistics.median(per_call) / 1000 * 1e6, 2),
                         "txn_us_per_event_median": round(statistics.median(per_txn) / 1000 * 1e6, 2),
                         "append_ms_median": round(statistics.median(per_call) * 1000, 2)}
    return out


def put_overhead(md: Memdeck, puts: int) -> dict[str, Any]:
    """md.put (synchronous as configured, FULL by default) with the real auditor vs a no-op stand-in."""
    emb = md.embedder
    assert isinstance(emb, WordHashEmbedder)
    calls0 = emb.calls
    vecs = unit_vectors(2 * puts + 100, 384, SEED + 5)
    real = md.auditor
    stub = NoAudit(md.actor)
    texts = [f"Benchmark note {i}: " + " ".join(random.Random(i).choices(_WORDS, k=30)) for i in range(len(vecs))]
    counter = [0]

    def put(auditor: Any) -> None:
        j = counter[0]
        counter[0] += 1
        md.auditor = auditor
        try:
            o = md.put("putbench", f"p-{j}", texts[j], {"n": j}, source="bench", vector=vecs[j])
        finally:
            md.auditor = real
        assert o.result == "created"

    for _ in range(50):  # warm-up (both paths)
        put(real)
        put(stub)
    with md.db.read() as conn:
        ev0 = conn.execute("SELECT count(*) FROM audit_events WHERE action = 'memory.put'"
                           " AND target LIKE 'putbench/%'").fetchone()[0]
    a, b = _ab(puts, lambda _i: put(real), lambda _i: put(stub))
    with md.db.read() as conn:
        ev1 = conn.execute("SELECT count(*) FROM audit_events WHERE action = 'memory.put'"
                           " AND target LIKE 'putbench/%'").fetchone()[0]
        sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    assert ev1 - ev0 == puts, (ev0, ev1)  # only the real-auditor puts wrote events
    assert emb.calls == calls0, "the embedder was called although vectors were supplied"
    res = {"synchronous": {1: "NORMAL", 2: "FULL"}.get(sync, str(sync)), "puts_each": puts,
           "with_event": latency_summary(a), "without_event": latency_summary(b)}
    res["diff_p50_ms"] = round(res["with_event"]["p50_ms"] - res["without_event"]["p50_ms"], 4)
    res["diff_mean_ms"] = round(res["with_event"]["mean_ms"] - res["without_event"]["mean_ms"], 4)
    return res


def access_overhead(md: Memdeck, calls: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    details = [{"query": " ".join(rng.choices(_WORDS, k=5)), "k": 10, "mode": "hybrid", "hits": 10,
                "ids": [rng.randrange(1, 400_000) for _ in range(10)]} for _ in range(calls)]
    for i in range(20):
        md.record_access("memory.search", "*", details[i])
    lat = []
    for i in range(calls):
        gc.disable()
        t0 = time.perf_counter()
        md.record_access("memory.search", "*", details[i])
        lat.append(time.perf_counter() - t0)
        gc.enable()
    out: dict[str, Any] = {"record_access": latency_summary(lat)}
    # md.search on the small 'putbench' collection with access events on and off, in alternating blocks.
    queries = [" ".join(rng.choices(_WORDS, k=4)) for _ in range(calls)]
    on: list[float] = []
    off: list[float] = []
    for q in queries[:20]:
        md.search(q, k=10)
    block = max(10, calls // 6)
    for b in range(6):
        flag = b % 2 == 0
        md.config_set("audit.access_events", "true" if flag else "false")
        assert bool(md.config.get("audit.access_events")) == flag
        sink = on if flag else off
        for q in queries[b * block % len(queries):][:block]:
            gc.disable()
            t0 = time.perf_counter()
            md.search(q, k=10)
            sink.append(time.perf_counter() - t0)
            gc.enable()
    md.config_set("audit.access_events", "true")
    out["search_access_on"] = latency_summary(on)
    out["search_access_off"] = latency_summary(off)
    out["search_diff_p50_ms"] = round(out["search_access_on"]["p50_ms"] - out["search_access_off"]["p50_ms"], 4)
    with md.db.read() as conn:
        out["search_items"] = conn.execute("SELECT count(*) FROM items WHERE status = 'active'").fetchone()[0]
    return out


# ----------------------------------------------------------------------------- report
def table(res: dict[str, Any]) -> str:
    n = res["build"]["events"]
    v, a = res["verify_live"], res.get("verify_archived")
    rows: list[list[str]] = []

    def vcell(x: dict[str, Any]) -> str:
        return f"{x['median_s']:.2f} s (min {x['min_s']:.2f}), {x['events_per_s_median']:,.0f} ev/s"

    target = f"<= {TARGET_VERIFY_S:.0f} s at 1M"
    scaled = TARGET_VERIFY_S * n / TARGET_EVENTS
    for key in MODES:
        if key not in v:
            continue
        ok = v[key]["median_s"] <= scaled
        label = key.replace("_", "=") + (" (default)" if key == DEFAULT_MODE else "")
        rows.append([f"verify {n:,} live events, {label}", vcell(v[key]) + (
            f", cpu/wall {v[key]['cpu_over_wall_median']:.2f}" if key != DEFAULT_MODE else ""), target,
                     ("PASS" if ok else "MISS") + ("" if n == TARGET_EVENTS else f" (scaled: {scaled:.2f} s)")])
    wp = res.get("whatif_processes")
    if wp:
        rows.append([f"  what-if (not memdeck's code): the same range walk in {wp['processes']} processes",
                     f"{wp['median_s']:.2f} s (median)", "", ""])
    s = res["verify_split"]
    rows.append(["  split: SQLite rows + canonical (1 thread) / without canonical / Python check (projected)",
                 f"{s['sqlite_rows_with_canonical_s']:.2f} / {s['sqlite_rows_no_canonical_s']:.2f} / "
                 f"{s['python_check_projected_s']:.2f} s ({s['python_check_us_per_event']:.2f} us/event)", "", ""])
    if a:
        rep = a["report"]
        for key in MODES:
            if key in a:
                rows.append([f"verify {rep['archived_events']:,} archived + {rep['live_events']:,} live, "
                             f"{key.replace('_', '=')}", vcell(a[key]), "", ""])
        rows.append(["  of which the segment alone (sha256 + Python walk)",
                     f"{a['segment_sha256_s']:.2f} + {a['segment_walk_s']:.2f} s "
                     f"({a['segment_walk_us_per_event']:.2f} us/event)", "", ""])
        rows.append([f"md.audit_archive(before_seq={n // 2:,}) (one-off)", f"{a['archive_call_s']:.1f} s", "", ""])
    ap = res["append"]
    rows.append(["append 1 event: audit.append call inside the txn (p50)",
                 f"{ap['append_call_in_txn']['p50_us']:.1f} us", "", ""])
    rows.append([f"write txn with vs without 1 event, synchronous={ap['pragma_synchronous']} (p50)",
                 f"{ap['txn_with_event']['p50_us'] / 1000:.3f} vs {ap['txn_without_event']['p50_us'] / 1000:.3f} ms"
                 f" (+{ap['txn_diff_p50_us']:.0f} us)", "", ""])
    nm = ap.get("normal")
    if nm:
        rows.append([f"write txn with vs without 1 event, synchronous={nm['pragma_synchronous']} (p50)",
                     f"{nm['txn_with_event']['p50_us'] / 1000:.3f} vs {nm['txn_without_event']['p50_us'] / 1000:.3f}"
                     f" ms (+{nm['txn_diff_p50_us']:.0f} us)", "", ""])
    wf = ap.get("wal_frames_per_commit")
    if wf:
        rows.append(["  WAL pages per commit, without vs with the event",
                     f"{wf['without_event']:.0f} vs {wf['with_event']:.0f} (4 KiB each)", "", ""])
    sp = ap["append_split_us"]
    rows.append(["  split of one append: chain_head / scrub details / encode / clean+scrub target / hash / rest",
                 f"{sp['chain_head_us']:.1f} / {sp['scrub_details_us']:.1f} / {sp['encode_details_us']:.1f} / "
                 f"{sp['clean_and_scrub_target_us']:.1f} / {sp['event_hash_v2_us']:.1f} / "
                 f"{sp['insert_and_rest_us_est']:.1f} us", "", ""])
    rows.append(["append 1,000 events in one txn", f"{ap['batch_1000']['append_us_per_event_median']:.1f} us/event"
                 f" ({ap['batch_1000']['txn_us_per_event_median']:.1f} incl. commit)", "", ""])
    p = res.get("put")
    if p:
        rows.append([f"md.put, synchronous={p['synchronous']}, with vs without its event (p50)",
                     f"{p['with_event']['p50_ms']:.3f} vs {p['without_event']['p50_ms']:.3f} ms "
                     f"({p['diff_p50_ms'] * 1000:+.0f} us)", "", ""])
    ac = res.get("access")
    if ac:
        rows.append(["md.record_access per call (p50 / p95)",
                     f"{ac['record_access']['p50_ms']:.3f} / {ac['record_access']['p95_ms']:.3f} ms", "", ""])
        rows.append([f"md.search on {ac['search_items']} items, access events on vs off (p50)",
                     f"{ac['search_access_on']['p50_ms']:.3f} vs {ac['search_access_off']['p50_ms']:.3f} ms", "", ""])
    hdr = ["measure", "memdeck", "target", "verdict"]
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def git_state() -> str:
    try:
        from run_all import git_state as gs

        return gs()
    except Exception:
        return "unknown"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=TARGET_EVENTS, help="audit events to build (default 1,000,000)")
    p.add_argument("--reps", type=int, default=3, help="verify repetitions per thread count")
    p.add_argument("--batch", type=int, default=50_000, help="events per insert transaction while building")
    p.add_argument("--append-iters", type=int, default=1000, help="A/B iterations of the 1-event transaction")
    p.add_argument("--puts", type=int, default=300, help="md.put calls with and without the event, each")
    p.add_argument("--access-calls", type=int, default=300, help="md.record_access calls (and searches)")
    p.add_argument("--no-archive", action="store_true", help="skip the half-archived verify")
    p.add_argument("--workdir", type=Path, default=None, help="scratch dir (default: a temp dir, removed)")
    p.add_argument("--keep", action="store_true", help="keep the data dir")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args()
    if args.events < 1000:
        p.error("--events must be at least 1000")

    info = machine_info()
    info.update(git=git_state(), sqlite=sqlite3.sqlite_version, memdeck_python=sys.executable)
    log(f"# memdeck audit bench {info['date']}  {info['cpu_model']}, {info['cores']} cores, load {info['loadavg']}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="memdeck-audit-bench-"))
    d = work / "audit-trail"
    if d.exists():
        shutil.rmtree(d)
    d.parent.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"bench": "audit-trail", "system": "memdeck", "events": args.events,
                           "loadavg_start": loadavg()}
    md = Memdeck.open(d, embedder=WordHashEmbedder(), startup_check=False)
    try:
        log(f"building {args.events:,} events in {d}")
        res["build"] = build(md, args.events, args.batch)
        res["loadavg_after_build"] = loadavg()
        log("verify (live only)")
        verify_chain(md.db, md.layout.audit_archive_dir)  # warm-up, untimed
        timings, report = time_verify(md, args.reps)
        assert report.ok and report.live_events == args.events + res["build"]["events_before"], report
        assert report.archived_events == 0
        res["verify_live"] = timings
        res["verify_live"]["report"] = {"ok": report.ok, "live_events": report.live_events,
                                        "head_seq": report.head_seq, "head_hash": report.head_hash}
        log("what-if: the same walk in 2 processes")
        res["whatif_processes"] = whatif_processes(md, args.reps)
        log("verify split")
        res["verify_split"] = verify_split(md, min(200_000, args.events))
        res["loadavg_after_verify"] = loadavg()
        log("append overhead")
        res["append"] = append_overhead(md, args.append_iters, 20)
        log("md.put with and without its audit event")
        res["put"] = put_overhead(md, args.puts)
        log("access events")
        res["access"] = access_overhead(md, args.access_calls)
        if not args.no_archive:
            log("archive half, verify archive + live")
            res["verify_archived"] = archived_verify(md, args.events, args.reps)
        res["db_bytes_end"] = md.db.size_bytes()
    finally:
        md.close()
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
            if args.workdir is None:
                shutil.rmtree(work, ignore_errors=True)
    res["loadavg_end"] = loadavg()
    v2 = res["verify_live"][DEFAULT_MODE]["median_s"]
    res["target"] = {"verify_1m_s": TARGET_VERIFY_S, "events": args.events,
                     "median_default_s": v2,
                     "met": v2 <= TARGET_VERIFY_S * args.events / TARGET_EVENTS}
    md_table = table(res)
    args.out.mkdir(parents=True, exist_ok=True)
    out_path = args.out / f"audit-{info['date'].replace(':', '-')}.json"
    out_path.write_text(json.dumps({"machine": info, "result": res, "table_md": md_table}, indent=1, default=str),
                        encoding="utf-8")
    print(f"\nmemdeck audit trail at {info['git']}, {info['date']}, {info['cpu_model']} x{info['cores']}, "
          f"load {res['loadavg_start']} -> {res['loadavg_end']}\n")
    print(md_table)
    log(f"\nresults: {out_path}")
    emit(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
