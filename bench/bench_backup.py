"""Backup and restore benchmarks: seconds and MB/s for a data dir of 100,000 items.

    python bench/bench_backup.py                     # 100,000 items (~6-10 min on 2 cores)
    python bench/bench_backup.py --items 10000       # a quick run
    python bench/bench_backup.py --workdir /tmp/bb --keep

Steps, all in one throwaway data dir opened with ``Memdeck.open(..., startup_check=False)`` and the test
suite's ``WordHashEmbedder`` (no model is loaded; its 384-d vectors cost about as much to store and
index as MiniLM's):

1. build: N items of 300-800 characters of varied text in five collections, with small metadata; about
   5% carry an e-mail address or a phone number, and 1% an assigned secret, so a redacted backup has
   something to redact. Vectors are computed first with the WordHashEmbedder (timed on its own), made
   dense with a little Gaussian noise (raw WordHash vectors are ~80% zeros and gzip ~70x, while real
   MiniLM vectors gzip ~1.08x; ``--sparse-vectors`` keeps them raw) and passed to
   ``md.put_many(records, vectors=..., audit_each=False)`` in batches of 5,000; then one index checkpoint.
   The build is reported separately and is not part of any backup number.
2. ``md.backup_create()`` (full) ``--reps`` times: seconds, MB/s of input (database + index files, as
   listed in the manifest) and of archive bytes, compression ratio, and a split of the time by the
   progress steps ``core.backup.create`` reports through a ``Job`` (a ``core.workers.Job`` on a private
   ``EventBus``, timestamped by a subscriber).
3. ``md.backup_verify(id)`` ``--reps`` times, with its parts replayed one by one for a split (archive
   SHA-256, tar+gunzip extraction, per-file SHA-256, ``PRAGMA integrity_check``).
4. ``md.restore(id, dry_run=True)`` ``--reps`` times, split by its progress steps.
5. ``md.restore(id)`` ``--restore-reps`` times, split by its 8 progress steps (verify, unpack, open the
   staged copy, drift audit, canaries + chain + checkpoint, safety backup, swap, reopen and record);
   the instance is closed by a restore, so the data dir is reopened (timed) for the next step. The
   safety backup each restore takes is measured and deleted.
6. ``md.backup_create(redacted=True)`` ``--redacted-reps`` times, then one restore of the redacted
   backup, which re-embeds every item (the time inside ``embed`` is measured by a wrapper).
7. Micro-measures on a sample of the database file: SHA-256 and zlib levels 1, 3, 6 in MB/s.

MB is 10^6 bytes. Prints a markdown table, then one JSON object on the last stdout line (like the other
bench scripts), and writes the JSON to ``bench/results/backup-<date>.json`` (gitignored).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from common import SEED, emit, loadavg, log, machine_info  # noqa: E402
from helpers import WordHashEmbedder  # noqa: E402

from core.backup import read_manifest  # noqa: E402
from core.events import Event, EventBus  # noqa: E402
from core.memdeck import Memdeck  # noqa: E402
from core.store import content_hash  # noqa: E402
from core.workers import Job  # noqa: E402

TARGET_ITEMS = 100_000
MB = 1e6
COLLECTIONS = ["notes", "docs", "mail", "chat", "code"]
COLLECTION_W = [35, 25, 20, 12, 8]
_VOCAB = ("project deadline meeting notes budget review design database index vector search query memory "
          "audit release customer invoice schedule travel recipe garden backup server latency python rust "
          "contract holiday report draft summary quarter planning roadmap feature bug ticket sprint team "
          "manager agenda decision action item follow-up email call interview hiring onboarding training "
          "security password policy compliance privacy vendor pricing discount renewal support incident "
          "outage postmortem metric dashboard alert threshold capacity storage migration schema rollback "
          "deploy staging production cluster container kubernetes terraform network firewall certificate "
          "library dependency upgrade version changelog documentation tutorial example benchmark profile "
          "cache queue worker thread process memory leak timeout retry fallback config setting flag "
          "experiment hypothesis result analysis chart spreadsheet forecast revenue cost margin growth "
          "marketing campaign launch press blog newsletter survey feedback user research persona journey "
          "apartment lease landlord repair plumber electrician kitchen bathroom paint furniture moving "
          "doctor appointment prescription pharmacy insurance claim dentist vaccine allergy fitness run "
          "bread pasta sauce garlic onion tomato basil oven roast soup salad dessert chocolate coffee tea "
          "flight hotel booking passport visa luggage train airport museum hiking beach mountain camping "
          "birthday gift party wedding anniversary family kids school homework teacher parents weekend "
          "book novel chapter author poem film series episode music concert album playlist guitar piano")
_WORDS = _VOCAB.split()
_JOINERS = ["the", "a", "of", "to", "and", "for", "with", "on", "about", "after", "before", "because", "so", "but"]
_NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


# ----------------------------------------------------------------------------- data
def make_text(rng: random.Random, n: int) -> str:
    """300-800 characters of sentences; ~5% with an e-mail or phone number, ~1% with a secret."""
    target = rng.randrange(300, 801)
    topic = rng.sample(_WORDS, 12)  # each item leans on a dozen topic words, so texts differ
    parts: list[str] = []
    size = 0
    while size < target:
        words = [rng.choice(topic) if rng.random() < 0.45 else
                 rng.choice(_JOINERS) if rng.random() < 0.35 else rng.choice(_WORDS)
                 for _ in range(rng.randrange(6, 16))]
        sentence = " ".join(words).capitalize() + rng.choice((".", ".", ".", "?", "!"))
        parts.append(sentence)
        size += len(sentence) + 1
    r = rng.random()
    if r < 0.03:
        parts.insert(rng.randrange(len(parts)), f"Contact {rng.choice(_NAMES)}.{rng.choice(_NAMES)}"
                                                 f"{rng.randrange(100)}@example.com about it.")
    elif r < 0.05:
        parts.insert(rng.randrange(len(parts)), f"Call +1 415 555 {rng.randrange(10000):04d} tomorrow.")
    elif r < 0.06:
        parts.insert(rng.randrange(len(parts)), f"api_key={rng.getrandbits(96):024x} for the staging box.")
    return f"Item {n}. " + " ".join(parts)[:target]


def make_records(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        coll = rng.choices(COLLECTIONS, COLLECTION_W)[0]
        meta: dict[str, Any] = {"n": i, "kind": rng.choice(("note", "todo", "fact", "log")),
                                "tags": rng.sample(_WORDS, rng.randrange(0, 4))}
        if rng.random() < 0.3:
            meta["author"] = rng.choice(_NAMES)
        out.append({"collection": coll, "key": f"{coll}-{i:07d}", "content": make_text(rng, i), "metadata": meta,
                    "source": rng.choice(("bench", "import", "chat", "mail"))})
    return out


class TimedEmbedder(WordHashEmbedder):
    """The tests' WordHashEmbedder, with the wall time spent inside ``embed`` summed."""

    def __init__(self) -> None:
        super().__init__()
        self.embed_s = 0.0

    def embed(self, texts: Sequence[str], purpose: str = "bulk") -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return super().embed(texts, purpose)
        finally:
            self.embed_s += time.perf_counter() - t0


def densify(vecs: np.ndarray, rng: np.random.Generator, sigma: float = 0.02) -> np.ndarray:
    """WordHashEmbedder vectors have only ~70 non-zero dims of 384 and gzip ~70x; real MiniLM vectors are
    dense float32 that gzip only ~1.08x. Gaussian noise (norm ~0.4 before renormalising, so an item keeps
    cosine ~0.93 with its own words' vector) makes them dense, so archive sizes and gzip times are real."""
    out = vecs + rng.standard_normal(vecs.shape, dtype=np.float32) * sigma
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def build(d: Path, emb: TimedEmbedder, n: int, batch: int, dense: bool) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    records = make_records(n, SEED)
    gen_s = time.perf_counter() - t0
    chars = sum(len(r["content"]) for r in records)
    md = Memdeck.open(d, embedder=emb, startup_check=False)
    try:
        embed_s = put_s = 0.0
        for start in range(0, n, batch):
            chunk = records[start:start + batch]
            t0 = time.perf_counter()
            vecs = emb.embed([r["content"] for r in chunk])
            if dense:
                vecs = densify(vecs, rng)
            vectors = {content_hash(r["content"]): v for r, v in zip(chunk, vecs, strict=True)}
            t1 = time.perf_counter()
            calls = emb.calls
            md.put_many(chunk, vectors=vectors, audit_each=False)
            t2 = time.perf_counter()
            assert emb.calls == calls, "put_many embedded although vectors were supplied"
            embed_s += t1 - t0
            put_s += t2 - t1
            if (start // batch) % 4 == 3:
                log(f"  {start + len(chunk):,} items, put_many {put_s:.1f} s, embed {embed_s:.1f} s")
        t0 = time.perf_counter()
        md.checkpoint()
        ckpt_s = time.perf_counter() - t0
        items = md.item_count()
        vectors_n = md.index.live_count
        db_bytes = md.db.size_bytes()
        idx_bytes = md.index.file_size(md.layout.index_dir)
    finally:
        md.close()
    assert items == n and vectors_n == n, (items, vectors_n)
    return {"items": n, "content_chars_mean": round(chars / n, 1), "generate_s": round(gen_s, 2),
            "embed_s": round(embed_s, 2), "put_many_s": round(put_s, 2), "checkpoint_s": round(ckpt_s, 2),
            "put_many_items_per_s": round(n / put_s, 1), "batch": batch,
            "vectors": "dense (WordHash + noise)" if dense else "sparse (raw WordHash)",
            "db_bytes": db_bytes, "index_bytes": idx_bytes}


# ----------------------------------------------------------------------------- progress split
class Steps:
    """A Job whose progress steps are timestamped: ``split(end)`` gives seconds per step message."""

    def __init__(self, name: str) -> None:
        self.bus = EventBus()
        self.marks: list[tuple[float, int, str]] = []
        self.bus.subscribe(self._on)
        self.job = Job(name=name, _bus=self.bus)

    def _on(self, ev: Event) -> None:
        if ev.kind == "job.progress":
            self.marks.append((time.perf_counter(), int(ev.payload["done"]), str(ev.payload["message"])))

    def split(self, start: float, end: float) -> list[dict[str, Any]]:
        out = []
        if self.marks:
            out.append({"step": 0, "message": "(before the first step)", "s": self.marks[0][0] - start})
        for i, (t, n, msg) in enumerate(self.marks):
            nxt = self.marks[i + 1][0] if i + 1 < len(self.marks) else end
            out.append({"step": n, "message": msg, "s": nxt - t})
        return out


def timed(fn: Callable[[Job], Any], name: str) -> tuple[Any, float, list[dict[str, Any]]]:
    steps = Steps(name)
    t0 = time.perf_counter()
    result = fn(steps.job)
    t1 = time.perf_counter()
    return result, t1 - t0, steps.split(t0, t1)


def median_split(splits: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Median seconds per step across repetitions (steps matched by their message)."""
    order: list[str] = []
    by: dict[str, list[float]] = {}
    nums: dict[str, int] = {}
    for sp in splits:
        for s in sp:
            if s["message"] not in by:
                order.append(s["message"])
                by[s["message"]] = []
                nums[s["message"]] = s["step"]
            by[s["message"]].append(s["s"])
    return [{"step": nums[m], "message": m, "median_s": round(statistics.median(by[m]), 3),
             "runs_s": [round(x, 3) for x in by[m]]} for m in order]


def summary(values: list[float]) -> dict[str, Any]:
    return {"median_s": round(statistics.median(values), 3), "min_s": round(min(values), 3),
            "max_s": round(max(values), 3), "runs_s": [round(v, 3) for v in values]}


# ----------------------------------------------------------------------------- measurements
def manifest_bytes(archive: Path) -> dict[str, int]:
    files = read_manifest(archive)["files"]
    db = sum(m["bytes"] for name, m in files.items() if name == "memdeck.db")
    idx = sum(m["bytes"] for name, m in files.items() if name.startswith("index/"))
    return {"db_bytes": db, "index_bytes": idx, "input_bytes": sum(m["bytes"] for m in files.values())}


def remove_backup(md: Memdeck, backup_id: str) -> None:
    store = md.backup_folder
    store.archive(backup_id).unlink(missing_ok=True)
    store.sidecar(backup_id).unlink(missing_ok=True)


def bench_create(md: Memdeck, reps: int, redacted: bool) -> tuple[dict[str, Any], str]:
    """``reps`` backups; keeps the first (returned id), deletes the rest once measured."""
    secs, splits, infos = [], [], []
    for rep in range(reps):
        info, s, split = timed(lambda job, rep=rep: md.backup_create(note=f"bench {rep}", redacted=redacted,
                                                                    job=job), "backup")
        secs.append(s)
        splits.append(split)
        infos.append(info)
        log(f"  backup_create(redacted={redacted}) rep {rep + 1}: {s:.2f} s, {info.bytes / MB:.1f} MB archive")
    first = infos[0]
    sizes = manifest_bytes(Path(first.path))
    for info in infos[1:]:
        remove_backup(md, info.id)
    med = statistics.median(secs)
    res = {"reps": reps, **summary(secs), **sizes, "archive_bytes": first.bytes,
           "ratio": round(sizes["input_bytes"] / first.bytes, 2),
           "input_mb_per_s": round(sizes["input_bytes"] / MB / med, 1),
           "db_mb_per_s": round(sizes["db_bytes"] / MB / med, 1),
           "archive_mb_per_s": round(first.bytes / MB / med, 1),
           "split": median_split(splits), "counts": first.counts}
    return res, first.id


def create_split(md: Memdeck, scratch: Path) -> dict[str, float]:
    """What ``create``'s step 2 holds, replayed one by one: the online backup API copy alone, then the
    counts/audit head/canary candidates read from the copy, then the canary searches on the live data."""
    from core.backup import audit_head, build_canaries, db_counts

    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / "copy.db"
    copy.unlink(missing_ok=True)
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    with md.db.read() as src:
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)
        finally:
            dst.close()
    out["online_backup_copy_s"] = time.perf_counter() - t0
    out["copy_bytes"] = copy.stat().st_size
    t0 = time.perf_counter()
    conn = sqlite3.connect(copy)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        db_counts(conn)
        audit_head(conn)
        canaries = build_canaries(conn)
    finally:
        conn.close()
    out["counts_and_canary_candidates_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    md._run_canaries(canaries)
    out["canary_searches_s"] = time.perf_counter() - t0
    out["canary_searches"] = len(canaries)
    shutil.rmtree(scratch, ignore_errors=True)
    return {k: round(v, 3) for k, v in out.items()}


def bench_verify(md: Memdeck, backup_id: str, reps: int) -> dict[str, Any]:
    secs = []
    for rep in range(reps):
        t0 = time.perf_counter()
        result = md.backup_verify(backup_id)
        secs.append(time.perf_counter() - t0)
        assert result.ok, result.problems
        log(f"  backup_verify rep {rep + 1}: {secs[-1]:.2f} s")
    archive = md.backup_folder.archive(backup_id)
    med = statistics.median(secs)
    return {"reps": reps, **summary(secs), "archive_mb_per_s": round(archive.stat().st_size / MB / med, 1),
            "split_replayed": verify_split(archive, md.backup_folder.folder / ".bench-verify-split")}


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_split(archive: Path, scratch: Path) -> dict[str, float]:
    """The parts of ``core.backup.verify`` replayed one by one (same operations, not core's code)."""
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    _sha(archive)
    out["archive_sha256_s"] = time.perf_counter() - t0
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        t0 = time.perf_counter()
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(scratch, filter="data")
        out["extract_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for p in scratch.rglob("*"):
            if p.is_file():
                _sha(p)
        out["files_sha256_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn = sqlite3.connect(f"file:{scratch / 'memdeck.db'}?mode=ro", uri=True)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            out["integrity_check_s"] = time.perf_counter() - t0
        finally:
            conn.close()
    finally:
        t0 = time.perf_counter()
        shutil.rmtree(scratch, ignore_errors=True)
        out["cleanup_s"] = time.perf_counter() - t0
    return {k: round(v, 3) for k, v in out.items()}


def bench_dry_run(md: Memdeck, backup_id: str, reps: int) -> dict[str, Any]:
    secs, splits = [], []
    report: dict[str, Any] = {}
    for rep in range(reps):
        report, s, split = timed(lambda job: md.restore(backup_id, dry_run=True, job=job), "restore-dry")
        secs.append(s)
        splits.append(split)
        log(f"  restore dry run rep {rep + 1}: {s:.2f} s")
    assert report["dry_run"] and report["diff"]["totals"]["removed"] == 0, report["diff"]["totals"]
    return {"reps": reps, **summary(secs), "split": median_split(splits), "diff_totals": report["diff"]["totals"]}


def open_md(d: Path, emb: TimedEmbedder) -> tuple[Memdeck, float]:
    t0 = time.perf_counter()
    md = Memdeck.open(d, embedder=emb, startup_check=False)
    return md, time.perf_counter() - t0


def bench_restore(d: Path, emb: TimedEmbedder, md: Memdeck, backup_id: str, reps: int,
                  expect_items: int) -> tuple[dict[str, Any], Memdeck]:
    """Real restores; returns the results and a freshly opened Memdeck."""
    secs, splits, reopen, safety_bytes, embed_s, safety_s = [], [], [], [], [], []
    result: dict[str, Any] = {}
    for rep in range(reps):
        e0 = emb.embed_s
        result, s, split = timed(lambda job, md=md: md.restore(backup_id, job=job), "restore")
        secs.append(s)
        splits.append(split)
        embed_s.append(emb.embed_s - e0)
        md, t_open = open_md(d, emb)
        reopen.append(t_open)
        safety = md.backup_folder.get(result["safety_backup"])
        safety_bytes.append(safety.bytes)
        safety_s.append(next((x["s"] for x in split if x["step"] == 6), 0.0))
        remove_backup(md, safety.id)
        n = md.item_count()
        assert n == expect_items and md.index.live_count == result["items"]["active"], (n, md.index.live_count)
        log(f"  restore rep {rep + 1}: {s:.2f} s (reembedded {result['reembedded']}, canaries "
            f"{sum(1 for c in result['canaries'] if c['found'])}/{len(result['canaries'])}), reopen {t_open:.2f} s")
    res = {"reps": reps, **summary(secs), "split": median_split(splits), "reopen": summary(reopen),
           "reembedded": result["reembedded"], "embed_s_median": round(statistics.median(embed_s), 3),
           "canaries": f"{sum(1 for c in result['canaries'] if c['found'])}/{len(result['canaries'])}",
           "safety_backup_bytes": safety_bytes[-1], "safety_backup_s_median": round(statistics.median(safety_s), 3),
           "items": result["items"]}
    return res, md


def micro(db_file: Path, sample_mb: int) -> dict[str, Any]:
    """SHA-256 and zlib (gzip's deflate) on a sample of the database file, in MB/s of input."""
    with open(db_file, "rb") as fh:
        data = fh.read(sample_mb * 1_000_000)
    out: dict[str, Any] = {"sample_bytes": len(data)}
    t0 = time.perf_counter()
    hashlib.sha256(data).hexdigest()
    out["sha256_mb_per_s"] = round(len(data) / MB / (time.perf_counter() - t0), 1)
    for level in (1, 3, 6):
        t0 = time.perf_counter()
        z = zlib.compress(data, level)
        s = time.perf_counter() - t0
        out[f"zlib{level}"] = {"mb_per_s": round(len(data) / MB / s, 1), "ratio": round(len(data) / len(z), 2)}
    return out


# ----------------------------------------------------------------------------- report
def _split_cell(split: list[dict[str, Any]], key: str = "median_s") -> str:
    return "; ".join(f"{s['message']} {s[key]:.2f}" for s in split if s["step"] or s[key] >= 0.005)


def table(res: dict[str, Any]) -> str:
    b, n = res["build"], res["items"]
    rows: list[list[str]] = []
    rows.append([f"build {n:,} items (not part of backup)",
                 f"put_many {b['put_many_s']:.1f} s ({b['put_many_items_per_s']:,.0f} items/s) + embed "
                 f"{b['embed_s']:.1f} s + checkpoint {b['checkpoint_s']:.1f} s; db {b['db_bytes'] / MB:,.0f} MB, "
                 f"index {b['index_bytes'] / MB:,.0f} MB"])
    c = res["create_full"]
    rows.append([f"`backup_create()` full (median of {c['reps']})",
                 f"**{c['median_s']:.2f} s** (min {c['min_s']:.2f}); {c['input_mb_per_s']:.0f} MB/s of input "
                 f"({c['db_bytes'] / MB:,.0f} MB db + {c['index_bytes'] / MB:,.0f} MB index), "
                 f"{c['db_mb_per_s']:.0f} MB/s of db alone"])
    rows.append(["  archive", f"{c['archive_bytes'] / MB:,.1f} MB, ratio {c['ratio']:.2f}x, "
                              f"{c['archive_mb_per_s']:.0f} MB/s of archive written"])
    rows.append(["  split (median s)", _split_cell(c["split"])])
    c2 = c["step2_replayed"]
    rows.append(["  step 2 replayed", f"online backup API copy {c2['online_backup_copy_s']:.2f} "
                                      f"({c2['copy_bytes'] / MB / max(c2['online_backup_copy_s'], 1e-9):.0f} MB/s); "
                                      f"counts + canary candidates {c2['counts_and_canary_candidates_s']:.2f}; "
                                      f"{c2['canary_searches']:.0f} canary searches {c2['canary_searches_s']:.2f}"])
    v = res["verify"]
    rows.append([f"`backup_verify(id)` (median of {v['reps']})",
                 f"**{v['median_s']:.2f} s** (min {v['min_s']:.2f}), {v['archive_mb_per_s']:.0f} MB/s of archive"])
    vs = v["split_replayed"]
    rows.append(["  split (replayed)", f"archive sha256 {vs['archive_sha256_s']:.2f}; extract {vs['extract_s']:.2f}; "
                                       f"files sha256 {vs['files_sha256_s']:.2f}; integrity_check "
                                       f"{vs['integrity_check_s']:.2f}; cleanup {vs['cleanup_s']:.2f}"])
    dr = res["dry_run"]
    rows.append([f"`restore(id, dry_run=True)` (median of {dr['reps']})",
                 f"**{dr['median_s']:.2f} s** (min {dr['min_s']:.2f})"])
    rows.append(["  split (median s)", _split_cell(dr["split"])])
    r = res["restore_full"]
    rows.append([f"`restore(id)` full (median of {r['reps']})",
                 f"**{r['median_s']:.2f} s** (min {r['min_s']:.2f}); "
                 f"{c['input_bytes'] / MB / r['median_s']:.0f} MB/s of input; canaries {r['canaries']}; "
                 f"reopen afterwards {r['reopen']['median_s']:.2f} s"])
    rows.append(["  split (median s)", _split_cell(r["split"])])
    rc = res.get("create_redacted")
    if rc:
        rs = rc["redaction"]
        rows.append([f"`backup_create(redacted=True)` (median of {rc['reps']})",
                     f"**{rc['median_s']:.2f} s** (min {rc['min_s']:.2f}); archive {rc['archive_bytes'] / MB:,.1f} MB "
                     f"(db {rc['db_bytes'] / MB:,.0f} MB, no vectors, no index), ratio {rc['ratio']:.2f}x; redacted "
                     f"{rs.get('items', 0):,} items, {rs.get('versions', 0):,} versions, "
                     f"{rs.get('audit_events', 0):,} audit events"])
        rows.append(["  split (median s)", _split_cell(rc["split"])])
    rr = res.get("restore_redacted")
    if rr:
        rows.append([f"`restore(id)` of the redacted backup ({rr['reps']} run)",
                     f"**{rr['median_s']:.2f} s**; re-embedded {rr['reembedded']:,} items, of which "
                     f"{rr['embed_s_median']:.1f} s inside WordHashEmbedder.embed; canaries {rr['canaries']}"])
        rows.append(["  split (s)", _split_cell(rr["split"])])
    m = res["micro"]
    rows.append([f"micro: {m['sample_bytes'] / MB:.0f} MB of the db file",
                 f"sha256 {m['sha256_mb_per_s']:.0f} MB/s; zlib 1 / 3 / 6: {m['zlib1']['mb_per_s']:.0f} / "
                 f"{m['zlib3']['mb_per_s']:.0f} / {m['zlib6']['mb_per_s']:.0f} MB/s, ratio "
                 f"{m['zlib1']['ratio']:.2f} / {m['zlib3']['ratio']:.2f} / {m['zlib6']['ratio']:.2f}"])
    lines = ["| measure | memdeck |", "|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def git_state() -> str:
    try:
        from run_all import git_state as gs

        return gs()
    except Exception:
        return "unknown"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=TARGET_ITEMS, help="items to build (default 100,000)")
    p.add_argument("--batch", type=int, default=5000, help="items per put_many while building")
    p.add_argument("--reps", type=int, default=3, help="repetitions of create, verify and dry-run restore")
    p.add_argument("--restore-reps", type=int, default=3, help="repetitions of the real restore")
    p.add_argument("--redacted-reps", type=int, default=3, help="repetitions of the redacted backup (0: skip"
                                                                 " the redacted backup and its restore)")
    p.add_argument("--sparse-vectors", action="store_true",
                   help="store the raw WordHashEmbedder vectors (gzip ~70x, unrealistic) instead of dense ones")
    p.add_argument("--micro-mb", type=int, default=64, help="sample size for the sha256/zlib micro-measure")
    p.add_argument("--workdir", type=Path, default=None, help="scratch dir (default: a temp dir, removed)")
    p.add_argument("--keep", action="store_true", help="keep the data dir")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args()
    if args.items < 100 or min(args.reps, args.restore_reps) < 1:
        p.error("--items must be at least 100 and --reps/--restore-reps at least 1")

    info = machine_info()
    info.update(git=git_state(), sqlite=sqlite3.sqlite_version, memdeck_python=sys.executable)
    log(f"# memdeck backup bench {info['date']}  {info['cpu_model']}, {info['cores']} cores, load {info['loadavg']}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="memdeck-backup-bench-"))
    d = work / "backup-data"
    if d.exists():
        shutil.rmtree(d)
    d.parent.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"bench": "backup", "system": "memdeck", "items": args.items, "loadavg_start": loadavg()}
    emb = TimedEmbedder()
    md: Memdeck | None = None
    try:
        log(f"building {args.items:,} items in {d}")
        res["build"] = build(d, emb, args.items, args.batch, dense=not args.sparse_vectors)
        res["loadavg_after_build"] = loadavg()
        md, res["open_s"] = open_md(d, emb)
        log("backup_create (full)")
        res["create_full"], full_id = bench_create(md, args.reps, redacted=False)
        res["create_full"]["step2_replayed"] = create_split(md, work / "create-split")
        res["loadavg_after_create"] = loadavg()
        log("backup_verify")
        res["verify"] = bench_verify(md, full_id, args.reps)
        log("restore dry run")
        res["dry_run"] = bench_dry_run(md, full_id, args.reps)
        res["loadavg_after_dry_run"] = loadavg()
        log("restore (real)")
        res["restore_full"], md = bench_restore(d, emb, md, full_id, args.restore_reps, args.items)
        res["loadavg_after_restore"] = loadavg()
        log("micro-measures")
        res["micro"] = micro(d / "memdeck.db", args.micro_mb)
        if args.redacted_reps > 0:
            log("backup_create (redacted)")
            red, red_id = bench_create(md, args.redacted_reps, redacted=True)
            red["redaction"] = read_manifest(md.backup_folder.archive(red_id)).get("redaction") or {}
            res["create_redacted"] = red
            log("restore of the redacted backup (re-embeds everything)")
            res["restore_redacted"], md = bench_restore(d, emb, md, red_id, 1, args.items)
            res["loadavg_after_redacted"] = loadavg()
        res["db_bytes_end"] = md.db.size_bytes()
    finally:
        if md is not None:
            md.close()
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
            if args.workdir is None:
                shutil.rmtree(work, ignore_errors=True)
    res["loadavg_end"] = loadavg()
    md_table = table(res)
    args.out.mkdir(parents=True, exist_ok=True)
    out_path = args.out / f"backup-{info['date'].replace(':', '-')}.json"
    out_path.write_text(json.dumps({"machine": info, "result": res, "table_md": md_table}, indent=1, default=str),
                        encoding="utf-8")
    print(f"\nmemdeck backup and restore at {info['git']}, {info['date']}, {info['cpu_model']} x{info['cores']}, "
          f"load {res['loadavg_start']} -> {res['loadavg_end']}\n")
    print(md_table)
    log(f"\nresults: {out_path}")
    emit(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
