"""The memdeck side of the benchmarks; runs in the project venv. One subcommand per benchmark.

    python bench/bench_memdeck.py prepare --workdir W [--n 20000]
    python bench/bench_memdeck.py bulk    --workdir W --dataset random|real
    python bench/bench_memdeck.py knn     --workdir W --dataset random|real
    python bench/bench_memdeck.py put     --workdir W --sync FULL|NORMAL
    python bench/bench_memdeck.py audit   --workdir W [--n 1000000]
    python bench/bench_memdeck.py embed   --workdir W --backend torch-bf16|onnx|torch
    python bench/bench_memdeck.py cli     --workdir W

Each prints one JSON object on stdout (see ``bench/run_all.py``, which runs them all with the peers).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from common import (  # noqa: E402
    BATCH,
    COLLECTION,
    DIM,
    SEED,
    base_result,
    emit,
    exact_topk,
    latency_summary,
    load_corpus,
    load_vectors,
    loadavg,
    recall_at_k,
    time_each,
    unit_vectors,
)
from helpers import WordHashEmbedder  # noqa: E402

from core.memdeck import Memdeck  # noqa: E402
from core.search import SearchFilters, vector_candidates  # noqa: E402
from core.store import content_hash  # noqa: E402

CACHE = Path(os.environ.get("MEMDECK_BENCH_CACHE", Path.home() / ".cache" / "memdeck" / "bench"))
N_QUERIES = 200


# ----------------------------------------------------------------------------- helpers
class PrecomputedEmbedder(WordHashEmbedder):
    """WordHashEmbedder (same fingerprint) that answers *queries* from a table of precomputed vectors,
    so ``md.search()`` is timed without the cost of embedding the query. Bulk calls are counted: the
    benchmarks supply every item vector and assert that no bulk embedding happened."""

    def __init__(self, queries: dict[str, np.ndarray] | None = None) -> None:
        super().__init__()
        self.queries = queries or {}
        self.bulk_calls = 0

    def embed(self, texts: Sequence[str], purpose: str = "bulk") -> np.ndarray:
        if purpose == "query" and all(t in self.queries for t in texts):
            return np.vstack([self.queries[t] for t in texts]).astype(np.float32)
        self.bulk_calls += 1
        return super().embed(texts, purpose)


def vocabulary() -> list[str]:
    from core.embed import bundled_model_dir

    words = (bundled_model_dir() / "vocab.txt").read_text(encoding="utf-8").split()
    return [w for w in words if re.fullmatch(r"[a-z]{3,12}", w)]


def topical_texts(n: int, words: int, seed: int, vocab: list[str], n_topics: int = 200
                  ) -> tuple[list[str], list[int]]:
    """Texts of ``words`` words: ~60% from a per-text topic's 40 words, the rest common words.
    Gives embeddings with the cluster structure of real notes rather than uniform noise."""
    rng = np.random.default_rng(seed)
    common = np.array(vocab[:2000])
    topic_pool = np.array(vocab[500:9000])
    topics = [rng.choice(topic_pool, 40, replace=False) for _ in range(n_topics)]
    zipf = 1.0 / np.arange(1, len(common) + 1)
    zipf /= zipf.sum()
    out, labels = [], []
    for _ in range(n):
        t = int(rng.integers(n_topics))
        k_topic = int(words * 0.6)
        ws = list(rng.choice(topics[t], k_topic)) + list(rng.choice(common, words - k_topic, p=zipf))
        rng.shuffle(ws)
        text = " ".join(ws)
        out.append(text[0].upper() + text[1:] + ".")
        labels.append(t)
    return out, labels


def shared_onnx_dir() -> Path:
    return CACHE / "onnx"


def real_embedder(backend: str, onnx_dir: Path | None = None) -> Any:
    from core.embed import Embedder

    return Embedder(None, onnx_dir or shared_onnx_dir(), bulk_backend=backend, query_backend="onnx")


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def profile_top(prof: cProfile.Profile, n: int = 18, sort: str = "tottime") -> str:
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(sort).print_stats(n)
    text = buf.getvalue()
    return text[text.find("   ncalls"):] if "   ncalls" in text else text


# ----------------------------------------------------------------------------- prepare
def cmd_prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Write the shared data sets: texts, random unit vectors, real MiniLM vectors, queries, truth."""
    w: Path = args.workdir
    w.mkdir(parents=True, exist_ok=True)
    res = base_result("prepare", "memdeck", n=args.n)
    vocab = vocabulary()
    t0 = time.perf_counter()
    texts, topics = topical_texts(args.n, 40, SEED, vocab)
    qtexts, _ = topical_texts(N_QUERIES, 8, SEED + 7, vocab)
    keys = [f"item-{i:06d}" for i in range(args.n)]
    metas = [{"topic": t, "n": i, "kind": "bench"} for i, t in enumerate(topics)]
    (w / "corpus.json").write_text(json.dumps({"keys": keys, "texts": texts, "metas": metas,
                                               "query_texts": qtexts}), encoding="utf-8")
    res["words_per_text_mean"] = round(float(np.mean([len(t.split()) for t in texts])), 1)
    res["chars_per_text_mean"] = round(float(np.mean([len(t) for t in texts])), 1)

    rand = unit_vectors(args.n, DIM, SEED)
    rq = unit_vectors(N_QUERIES, DIM, SEED + 1)
    np.save(w / "random.npy", rand)
    np.save(w / "random-queries.npy", rq)
    np.save(w / "random-truth.npy", exact_topk(rq, rand, 10))

    # Real MiniLM embeddings of the same texts: cached, they take ~2 min to compute on 2 cores.
    emb = real_embedder("torch-bf16")
    digest = hashlib.sha256(("\n".join(texts) + "|" + emb.fingerprint).encode()).hexdigest()[:16]
    cache = CACHE / f"real-{args.n}-{digest}.npy"
    if cache.exists():
        real = np.load(cache)
        res["real_vectors"] = f"cached {cache}"
    else:
        t1 = time.perf_counter()
        real = emb.embed(texts, purpose="bulk")
        res["real_vectors"] = f"embedded with torch-bf16 in {time.perf_counter() - t1:.1f} s"
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, real)
    real = np.asarray(real, dtype=np.float32)
    realq = emb.embed(qtexts, purpose="query")
    np.save(w / "real.npy", real)
    np.save(w / "real-queries.npy", realq)
    np.save(w / "real-truth.npy", exact_topk(realq, real, 10))
    res["seconds"] = round(time.perf_counter() - t0, 2)
    return res


# ----------------------------------------------------------------------------- 1. bulk add
def cmd_bulk(args: argparse.Namespace) -> dict[str, Any]:
    w: Path = args.workdir
    corpus = load_corpus(w)
    vecs, _, _ = load_vectors(w, args.dataset)
    n = len(corpus["keys"])
    res = base_result("bulk", "memdeck", dataset=args.dataset, n=n, batch=BATCH, audit_each=True)
    # Caller-side preparation (not timed): records and the {content_hash: vector} map per batch.
    batches = []
    for i in range(0, n, BATCH):
        recs = [{"collection": COLLECTION, "key": corpus["keys"][j], "content": corpus["texts"][j],
                 "metadata": corpus["metas"][j], "source": "bench"} for j in range(i, min(n, i + BATCH))]
        batches.append((recs, {content_hash(r["content"]): vecs[i + m] for m, r in enumerate(recs)}))
    emb = PrecomputedEmbedder()
    md = Memdeck.open(fresh_dir(w / f"md-{args.dataset}"), embedder=emb)
    per_batch = []
    prof = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    for recs, vmap in batches:
        tb = time.perf_counter()
        if prof:
            prof.enable()
        outcomes = md.put_many(recs, vectors=vmap)
        if prof:
            prof.disable()
        per_batch.append(time.perf_counter() - tb)
        assert all(o.result == "created" for o in outcomes)
    elapsed = time.perf_counter() - t0
    assert emb.bulk_calls == 0 and emb.calls == 0, "the embedder was called although vectors were supplied"
    assert md.index.live_count == n, (md.index.live_count, n)
    t1 = time.perf_counter()
    md.close()  # saves the index checkpoint (hnsw.bin + labels + sha256 + fsync)
    close_s = time.perf_counter() - t1
    res.update(seconds=round(elapsed, 3), items_per_s=round(n / elapsed, 1),
               items_per_s_incl_checkpoint=round(n / (elapsed + close_s), 1),
               checkpoint_s=round(close_s, 3), embedder_calls=emb.calls,
               first_batch_s=round(per_batch[0], 3), last_batch_s=round(per_batch[-1], 3),
               db_bytes=(w / f"md-{args.dataset}" / "memdeck.db").stat().st_size)
    if prof:
        res["profile"] = profile_top(prof)
    return res


# ----------------------------------------------------------------------------- 3. kNN
def cmd_knn(args: argparse.Namespace) -> dict[str, Any]:
    w: Path = args.workdir
    corpus = load_corpus(w)
    _, queries, truth_rows = load_vectors(w, args.dataset)
    qtexts = corpus["query_texts"]
    emb = PrecomputedEmbedder({t: q for t, q in zip(qtexts, queries, strict=True)})
    res = base_result("knn", "memdeck", dataset=args.dataset, k=10, queries=len(queries))
    md = Memdeck.open(w / f"md-{args.dataset}", embedder=emb)
    try:
        with md.db.read() as conn:
            key_to_id = dict(conn.execute("SELECT key, id FROM items").fetchall())
        res["n"] = md.index.live_count
        res["ef_search"] = md.index.params.ef_search
        truth = np.vectorize(lambda r: key_to_id[corpus["keys"][r]])(truth_rows)
        filters = SearchFilters()
        found: list[list[int]] = [[] for _ in queries]

        def vc_inside(i: int, conn: Any) -> None:
            found[i] = [h.id for h, _ in vector_candidates(conn, md.index, queries[i], 10, filters)]

        # warm-up (page cache, statement cache, branch predictors)
        with md.db.read() as conn:
            for i in range(20):
                vc_inside(i, conn)
        # (a) vector_candidates inside an already open read transaction: kNN + row fetch
        with md.db.read() as conn:
            ta = time_each(lambda i: vc_inside(i, conn), len(queries))
        res["vector_candidates"] = latency_summary(ta)
        res["recall_at_10"] = round(recall_at_k(found, truth), 4)

        # (b) the same, each query opening its own read transaction (pool checkout, BEGIN, COMMIT)
        def vc_own_tx(i: int) -> None:
            with md.db.read() as conn:
                vc_inside(i, conn)

        res["vector_candidates_own_tx"] = latency_summary(time_each(vc_own_tx, len(queries)))
        # (c) the index alone (memdeck's VectorIndex.query wrapper, no SQLite)
        res["index_query_only"] = latency_summary(time_each(lambda i: md.index.query(queries[i], 10),
                                                            len(queries)))
        # (d) full hybrid md.search(): precomputed query vector, kNN(50) + FTS5(50) + row fetch + RRF
        md.search(qtexts[0], k=10)
        parts: dict[str, list[float]] = {"vector": [], "keyword": [], "embed": []}

        def hybrid(i: int) -> None:
            r = md.search(qtexts[i], k=10)
            assert r.mode == "hybrid", r.mode
            for key in parts:
                parts[key].append(r.timings_ms[key])

        res["search_hybrid"] = latency_summary(time_each(hybrid, len(queries)))
        res["search_hybrid_parts_p50_ms"] = {key: round(statistics.median(v), 4) for key, v in parts.items()}
        res["search_candidates"] = md.config.get("search.candidates")
        res["whatif_keyword"] = keyword_whatif(md, qtexts, filters)
        assert emb.bulk_calls == 0
        if args.profile:
            prof = cProfile.Profile()
            with md.db.read() as conn:
                prof.enable()
                for _ in range(5):
                    for i in range(len(queries)):
                        vc_inside(i, conn)
                prof.disable()
            res["profile_vector_candidates"] = profile_top(prof, 14)
            prof = cProfile.Profile()
            prof.enable()
            for i in range(len(queries)):
                md.search(qtexts[i], k=10)
            prof.disable()
            res["profile_search"] = profile_top(prof, 14)
    finally:
        md.close()
    res["ef_sweep"] = ef_sweep(w / f"md-{args.dataset}", emb, queries, truth, (200, 400))
    return res


def ef_sweep(d: Path, emb: Any, queries: np.ndarray, truth: np.ndarray, efs: Sequence[int]
             ) -> dict[str, Any]:
    """vector_candidates latency and recall with index.ef_search raised through its documented env
    override (MEMDECK__INDEX__EF_SEARCH), reopening the store for each value."""
    out: dict[str, Any] = {}
    filters = SearchFilters()
    for ef in efs:
        os.environ["MEMDECK__INDEX__EF_SEARCH"] = str(ef)
        try:
            md = Memdeck.open(d, embedder=emb)
        finally:
            del os.environ["MEMDECK__INDEX__EF_SEARCH"]
        try:
            assert md.index.params.ef_search == ef
            out[str(ef)] = _measure_vc(md, queries, truth, filters)
        finally:
            md.close()
    return out


def _measure_vc(md: Any, queries: np.ndarray, truth: np.ndarray, filters: Any) -> dict[str, float]:
    found: list[list[int]] = [[] for _ in queries]
    with md.db.read() as conn:
        def one(i: int) -> None:
            found[i] = [h.id for h, _ in vector_candidates(conn, md.index, queries[i], 10, filters)]

        for i in range(20):
            one(i)
        lat = latency_summary(time_each(one, len(queries)))
    return {"p50_ms": lat["p50_ms"], "p95_ms": lat["p95_ms"], "recall_at_10": round(recall_at_k(found, truth), 4)}


def keyword_whatif(md: Any, qtexts: list[str], filters: Any) -> dict[str, Any]:
    """The FTS5 half of md.search() alone, for the benchmark queries as they are and with the 100 most
    frequent words of the generator's vocabulary (the, and, was, ...) removed: OR-ing a word that is in
    nearly every document makes bm25 score nearly every row."""
    from core.search import keyword_candidates

    common = set(vocabulary()[:100])
    stripped = [" ".join(w for w in q.split() if w.lower().strip(".") not in common) or q for q in qtexts]
    out: dict[str, Any] = {}
    with md.db.read() as conn:
        for name, qs in (("as_is", qtexts), ("without_100_most_common_words", stripped)):
            counts: list[int] = []

            def one(i: int, qs: list[str] = qs, counts: list[int] = counts) -> None:
                counts.append(len(keyword_candidates(conn, qs[i], 50, filters)))

            lat = latency_summary(time_each(one, len(qs)))
            matched = conn.execute("SELECT count(*) FROM items_fts WHERE items_fts MATCH ?",
                                   (fts_match(qs[0]),)).fetchone()[0]
            out[name] = {"p50_ms": lat["p50_ms"], "p95_ms": lat["p95_ms"],
                         "rows_matched_by_first_query": matched, "example": qs[0]}
    return out


def fts_match(text: str) -> str:
    from core.search import fts_query

    return fts_query(text) or '""'


# ----------------------------------------------------------------------------- 2. single durable put
def cmd_put(args: argparse.Namespace) -> dict[str, Any]:
    w: Path = args.workdir
    corpus = load_corpus(w)
    d = fresh_dir(w / f"md-put-{args.sync}")
    emb = PrecomputedEmbedder()
    if args.sync != "FULL":
        with Memdeck.open(d, embedder=emb) as md:
            md.config_set("storage.synchronous", args.sync)
    md = Memdeck.open(d, embedder=emb)
    res = base_result("put", "memdeck", sync=args.sync, preload=args.preload, puts=args.puts)
    try:
        with md.db.read() as conn:
            res["pragma_synchronous"] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
                conn.execute("PRAGMA synchronous").fetchone()[0]]
        vecs = unit_vectors(args.preload + args.puts + 50, DIM, SEED + 3)
        texts, metas = corpus["texts"], corpus["metas"]
        pre = [{"collection": COLLECTION, "key": f"pre-{i}", "content": texts[i], "metadata": metas[i]}
               for i in range(args.preload)]
        md.put_many(pre, vectors={content_hash(r["content"]): vecs[i] for i, r in enumerate(pre)})
        base = args.preload

        def put(i: int) -> None:
            j = base + i
            out = md.put(COLLECTION, f"put-{j}", texts[j], metas[j], source="bench", vector=vecs[j])
            assert out.result == "created"

        for i in range(50):  # warm-up
            put(i)
        base += 50
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        lat = time_each(put, args.puts)
        if prof:
            prof.disable()
            res["profile"] = profile_top(prof, 16)
        assert emb.calls == 0 and emb.bulk_calls == 0
        res["latency"] = latency_summary(lat)
    finally:
        md.close()
    return res


# ----------------------------------------------------------------------------- 4. drift audit at 1M
def build_audit_db(d: Path, n: int, fp: str) -> dict[str, Any]:
    """A data dir whose SQLite holds ``n`` active items with an embedding row each (1,536-byte blob, the
    real row size for 384 dims) and a change record each, written with set-based SQL for speed."""
    import sqlite3

    info: dict[str, Any] = {}
    with Memdeck.open(fresh_dir(d), embedder=PrecomputedEmbedder()):
        pass  # creates the schema
    conn = sqlite3.connect(d / "memdeck.db", isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-200000")
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        # FTS5 triggers are dropped in this throwaway database only: the audit never reads FTS, and
        # tokenizing 1M rows would triple the build time. Everything the audit reads is as in production.
        for trig in ("items_fts_insert", "items_fts_delete", "items_fts_update"):
            conn.execute(f"DROP TRIGGER {trig}")
        now = time.time()
        conn.execute(
            "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < ?)"
            " INSERT INTO items (id, collection, key, content, metadata, source, content_hash, version,"
            " status, created_at, updated_at) SELECT x, 'bench', printf('item-%07d', x),"
            " 'memory item ' || x || ' ' || lower(hex(randomblob(110))), '{\"kind\":\"bench\"}', 'bench',"
            " lower(hex(randomblob(32))), 1, 'active', ?, ? FROM s", (n, now, now))
        conn.execute("INSERT INTO embeddings (item_id, content_hash, model_fp, dim, vector)"
                     " SELECT id, content_hash, ?, 384, zeroblob(1536) FROM items", (fp,))
        conn.execute("INSERT INTO changes (seq, item_id, op, version, at)"
                     " SELECT id, id, 'put', 1, ? FROM items", (now,))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        info["build_s"] = round(time.perf_counter() - t0, 1)
    finally:
        conn.close()
    info["db_bytes"] = (d / "memdeck.db").stat().st_size
    return info


def cmd_audit(args: argparse.Namespace) -> dict[str, Any]:
    from core.db import Database
    from core.sync import audit_drift
    from core.vectors import HASH_PREFIX, IndexParams, VectorIndex

    w: Path = args.workdir
    d = w / "audit"
    n = args.n
    fp = PrecomputedEmbedder().fingerprint
    res = base_result("audit", "memdeck", n=n)
    res.update(build_audit_db(d, n, fp))
    db = Database(d / "memdeck.db")
    try:
        with db.read() as conn:
            rows = conn.execute("SELECT id, substr(content_hash, 1, 16) FROM items ORDER BY id").fetchall()
            max_seq = conn.execute("SELECT max(seq) FROM changes").fetchone()[0]
        # A real VectorIndex (so snapshot_labels is the production code) whose label->hash map is filled
        # directly, without vectors: the audit reads only snapshot_labels(), watermark and live_count.
        index = VectorIndex(IndexParams(dim=DIM), fp, capacity=16)
        index._hash = {int(i): h for i, h in rows}
        index.watermark = int(max_seq)
        drift = 1000
        ids = [r[0] for r in rows]
        for i in ids[100:100 + drift]:  # missing: active in SQLite, not in the index
            del index._hash[i]
        for i in ids[n // 2: n // 2 + drift]:  # stale: the index holds another text's vector
            index._hash[i] = "0" * HASH_PREFIX
        for i in range(n + 1, n + 1 + drift):  # orphaned: in the index, not in SQLite
            index._hash[i] = "f" * HASH_PREFIX
        del rows, ids
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            report = audit_drift(db, index, fp)
            runs.append(time.perf_counter() - t0)
        res["counts"] = report.counts()
        assert report.counts() == {"missing": drift, "orphaned": drift, "stale": drift}, report.counts()
        res["seconds_runs"] = [round(x, 3) for x in runs]
        res["seconds_median"] = round(statistics.median(runs), 3)
        res["split"] = audit_split(db, index, fp)
        prof = cProfile.Profile()
        prof.enable()
        audit_drift(db, index, fp)
        prof.disable()
        res["profile"] = profile_top(prof, 14)
        res["whatif"] = audit_whatif(db, fp)
    finally:
        db.close()
        if not args.keep:
            shutil.rmtree(d, ignore_errors=True)
    return res


def audit_whatif(db: Any, fp: str) -> dict[str, Any]:
    """Not memdeck's code: the audit's query against a slim copy of the embeddings' identity columns
    (item_id, content_hash, model_fp without the 1.5 KB vector), built in this throwaway database, to
    size the fix of keeping the vectors out of the rows the audit joins."""
    with db.write() as conn:
        t0 = time.perf_counter()
        conn.execute("CREATE TABLE whatif_emb_ident (item_id INTEGER PRIMARY KEY, content_hash TEXT NOT NULL,"
                     " model_fp TEXT NOT NULL)")
        conn.execute("INSERT INTO whatif_emb_ident SELECT item_id, content_hash, model_fp FROM embeddings")
        build = time.perf_counter() - t0
    runs = []
    with db.read() as conn:
        for _ in range(3):
            t0 = time.perf_counter()
            conn.execute(
                "SELECT i.id, substr(i.content_hash, 1, 16), (e.model_fp IS ? AND e.content_hash IS"
                " i.content_hash) FROM items i LEFT JOIN whatif_emb_ident e ON e.item_id = i.id"
                " WHERE i.status = 'active' ORDER BY i.id", (fp,)).fetchall()
            runs.append(time.perf_counter() - t0)
    return {"slim_ident_table_build_s": round(build, 3),
            "sqlite_query_fetchall_with_slim_table_s": round(statistics.median(runs), 3)}


def audit_split(db: Any, index: Any, fp: str) -> dict[str, float]:
    """Baseline: the steps of the *pre-fix* ``audit_drift`` (one LEFT JOIN over items and embeddings,
    rows fetched as tuples) replayed with a timer on each. Kept to show what fix A (covering indexes,
    packed parallel scans, see docs/benchmarks.md) removed; the timed runs above use the current code."""
    from core.vectors import HASH_PREFIX

    t: dict[str, float] = {}
    t0 = time.perf_counter()
    idx_labels, idx_hashes = index.snapshot_labels()
    t["snapshot_labels"] = time.perf_counter() - t0
    with db.read() as conn:
        t0 = time.perf_counter()
        cur = conn.execute(
            f"SELECT i.id, substr(i.content_hash, 1, {HASH_PREFIX}),"
            " (e.model_fp IS ? AND e.content_hash IS i.content_hash) FROM items i"
            " LEFT JOIN embeddings e ON e.item_id = i.id WHERE i.status = 'active' ORDER BY i.id", (fp,))
        rows = cur.fetchall()
        t["sqlite_query_fetchall"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute("SELECT item_id FROM changes WHERE seq > ?", (index.watermark,)).fetchall()
        t["sqlite_in_flight"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = len(rows)
    db_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    db_hashes = np.array([r[1] for r in rows], dtype=f"S{HASH_PREFIX}")
    emb_ok = np.fromiter((bool(r[2]) for r in rows), dtype=bool, count=n)
    t["rows_to_numpy"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    in_index = np.isin(db_ids, idx_labels, assume_unique=True)
    _missing = db_ids[~in_index]
    _orphaned = idx_labels[~np.isin(idx_labels, db_ids, assume_unique=True)]
    both_idx = np.isin(idx_labels, db_ids, assume_unique=True)
    differs = db_hashes[in_index] != idx_hashes[both_idx]
    _stale = db_ids[in_index][differs | ~emb_ok[in_index]]
    t["numpy_diff"] = time.perf_counter() - t0
    # The SQLite scan alone, without Python row objects (what a count over the same join costs).
    with db.read() as conn:
        t0 = time.perf_counter()
        conn.execute(
            "SELECT count(*), sum(e.model_fp IS ? AND e.content_hash IS i.content_hash) FROM items i"
            " LEFT JOIN embeddings e ON e.item_id = i.id WHERE i.status = 'active'", (fp,)).fetchone()
        t["sqlite_scan_only_count"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute("SELECT count(*), max(substr(content_hash, 1, 16)) FROM items"
                     " WHERE status = 'active'").fetchone()
        t["sqlite_items_only_count"] = time.perf_counter() - t0
    return {k: round(v, 3) for k, v in t.items()}


# ----------------------------------------------------------------------------- 5. ingest vs embedder
def cmd_embed(args: argparse.Namespace) -> dict[str, Any]:
    w: Path = args.workdir
    n = args.texts
    texts, _ = topical_texts(n, 60, SEED + 11, vocabulary())
    warm_texts, _ = topical_texts(64, 60, SEED + 13, vocabulary())
    res = base_result("embed", "memdeck", backend=args.backend, texts=n, words_per_text=60)
    emb = real_embedder(args.backend)
    t0 = time.perf_counter()
    emb.embed(warm_texts, purpose="bulk")  # loads the backend and warms it
    res["backend_load_and_warm_s"] = round(time.perf_counter() - t0, 2)
    res["batch_size"] = emb.batch_size
    res["threads"] = emb.threads
    d = w / f"embed-{args.backend}"
    src = fresh_dir(w / f"embed-src-{args.backend}")
    src.mkdir(parents=True)
    path = src / "notes.jsonl"
    path.write_text("".join(json.dumps({"key": f"t{i}", "content": t}) + "\n" for i, t in enumerate(texts)),
                    encoding="utf-8")
    direct, ingest, inner, profiles = [], [], [], {}
    raw_embed = emb.embed

    def timed_embed(batch: Sequence[str], purpose: str = "bulk") -> np.ndarray:
        """Records how long ingest spends inside the embedder (the rest is parse, SQLite, index)."""
        t0 = time.perf_counter()
        out = raw_embed(batch, purpose)
        inner[-1] += time.perf_counter() - t0
        return out

    emb.embed = timed_embed  # type: ignore[method-assign]
    for rep in range(args.reps):
        emb._cache.clear()  # the embedder's LRU would otherwise answer from memory
        t0 = time.perf_counter()
        raw_embed(texts, purpose="bulk")
        direct.append(time.perf_counter() - t0)
        emb._cache.clear()
        inner.append(0.0)
        md = Memdeck.open(fresh_dir(d), embedder=emb)
        try:
            prof = cProfile.Profile() if (args.profile and rep == 0) else None
            t0 = time.perf_counter()
            if prof:
                prof.enable()
            report = md.ingest([path], collection="docs", base=src)
            if prof:
                prof.disable()
                profiles["ingest"] = profile_top(prof, 16, "cumtime")
            ingest.append(time.perf_counter() - t0)
            stats = report.as_dict()
            assert stats["created"] == n, stats
        finally:
            md.close()
    res["direct_s"] = [round(x, 3) for x in direct]
    res["ingest_s"] = [round(x, 3) for x in ingest]
    res["direct_texts_per_s"] = round(n / statistics.median(direct), 1)
    res["ingest_texts_per_s"] = round(n / statistics.median(ingest), 1)
    res["ratio"] = round(statistics.median(direct) / statistics.median(ingest), 3)
    res["pair_ratios"] = [round(a / b, 3) for a, b in zip(direct, ingest, strict=True)]
    res["ingest_inside_embedder_s"] = [round(x, 3) for x in inner]
    res["ingest_overhead_s"] = [round(b - x, 3) for b, x in zip(ingest, inner, strict=True)]
    # Same-run share of ingest time spent embedding: immune to load swings between the two runs.
    res["ratio_within_run"] = round(statistics.median([x / b for x, b in zip(inner, ingest, strict=True)]), 3)
    res.update(profiles)
    shutil.rmtree(d, ignore_errors=True)
    return res


# ----------------------------------------------------------------------------- 6. cold CLI
def cmd_cli(args: argparse.Namespace) -> dict[str, Any]:
    w: Path = args.workdir
    d = fresh_dir(w / "cli-store")
    res = base_result("cli", "memdeck", items=args.items, runs=args.runs)
    emb = real_embedder("onnx", d / "cache" / "onnx")
    # Reuse the shared ONNX export (the export needs torch and ~10 s) instead of exporting again.
    shared = shared_onnx_dir() / emb.onnx_path.name
    if shared.exists():
        emb.onnx_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(shared, emb.onnx_path)
    texts, topics = topical_texts(args.items, 40, SEED + 21, vocabulary())
    with Memdeck.open(d, embedder=emb) as md:
        md.put_many([{"collection": "notes", "key": f"n{i}", "content": t, "metadata": {"topic": tp}}
                     for i, (t, tp) in enumerate(zip(texts, topics, strict=True))])
        md.checkpoint()
    assert emb.onnx_path.exists()
    exe = str(Path(sys.executable).parent / "memdeck")
    query = " ".join(texts[7].split()[:6])
    env = {**os.environ}
    env.pop("MEMDECK_HOME", None)

    def run(argv: list[str]) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env)
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{argv} failed: {proc.stderr[-2000:]}")
        return dt

    search = [exe, "--data-dir", str(d), "search", query]
    res["warm_up_s"] = round(run(search), 3)  # first run: page cache, pyc files
    times = [run(search) for _ in range(args.runs)]
    res["search_s"] = [round(x, 3) for x in times]
    res["search_median_s"] = round(statistics.median(times), 3)
    run([exe, "--help"])
    helps = [run([exe, "--help"]) for _ in range(args.runs)]
    res["help_s"] = [round(x, 3) for x in helps]
    res["help_median_s"] = round(statistics.median(helps), 3)
    py = [run([sys.executable, "-c", "pass"]) for _ in range(3)]
    res["python_startup_median_s"] = round(statistics.median(py), 3)
    # Where a cold search spends its time: -X importtime (cumulative microseconds per top-level import)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import sys; from tui.cli import main; sys.exit(main(sys.argv[1:]))",
                           "--data-dir", str(d), "search", query], capture_output=True, text=True, env=env,
                          cwd=str(ROOT))
    res["import_top"] = top_imports(proc.stderr)
    # And a cProfile of one cold search process (cumulative time, imports included).
    prof_path = w / "cli-search.pstats"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(prof_path), "-m", "tui.cli",
                    "--data-dir", str(d), "search", query], capture_output=True, text=True, env=env,
                   cwd=str(ROOT))
    if prof_path.exists():
        buf = io.StringIO()
        pstats.Stats(str(prof_path), stream=buf).sort_stats("cumtime").print_stats(25)
        text = buf.getvalue()
        res["profile"] = text[text.find("   ncalls"):]
    res["whatif"] = cli_whatif(emb.onnx_path, w, env)
    return res


_ORT_PROBE = """
import sys, time
t0 = time.perf_counter()
import onnxruntime as ort
t1 = time.perf_counter()
opts = ort.SessionOptions()
opts.intra_op_num_threads = 2
opts.log_severity_level = 3
opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, sys.argv[2])
if len(sys.argv) > 3:
    opts.optimized_model_filepath = sys.argv[3]
ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
print(t1 - t0, time.perf_counter() - t1)
"""


def cli_whatif(onnx_path: Path, w: Path, env: dict[str, str]) -> dict[str, float]:
    """Costs on the cold search path, each in a fresh process (not memdeck code): importing SQLAlchemy,
    and creating the ONNX session as memdeck does (ORT_ENABLE_ALL, optimising the graph at every start)
    versus loading a graph optimised once and saved (ORT_DISABLE_ALL)."""
    out: dict[str, float] = {}

    def py(code: str, *argv: str) -> str:
        return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                              env=env).stdout.strip()

    imports = [float(py("import time; t = time.perf_counter(); import sqlalchemy, sqlalchemy.dialects.sqlite;"
                        " print(time.perf_counter() - t)")) for _ in range(3)]
    out["import_sqlalchemy_s"] = round(statistics.median(imports), 3)
    imports = [float(py("import time; t = time.perf_counter(); import numpy, hnswlib;"
                        " print(time.perf_counter() - t)")) for _ in range(3)]
    out["import_numpy_hnswlib_s"] = round(statistics.median(imports), 3)
    optimised = w / "whatif-optimised.onnx"
    py(_ORT_PROBE, str(onnx_path), "ORT_ENABLE_ALL", str(optimised))
    full = [py(_ORT_PROBE, str(onnx_path), "ORT_ENABLE_ALL").split() for _ in range(3)]
    pre = [py(_ORT_PROBE, str(optimised), "ORT_DISABLE_ALL").split() for _ in range(3)]
    out["import_onnxruntime_s"] = round(statistics.median(float(x[0]) for x in full), 3)
    out["ort_session_enable_all_s"] = round(statistics.median(float(x[1]) for x in full), 3)
    out["ort_session_preoptimised_disable_all_s"] = round(statistics.median(float(x[1]) for x in pre), 3)
    return out


def top_imports(stderr: str, n: int = 15, max_depth: int = 2) -> list[tuple[str, float]]:
    """Slowest imports from ``-X importtime`` (cumulative seconds), nested up to ``max_depth`` levels."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _self, cum, name = line[len("import time:"):].split("|")
        if not cum.strip().isdigit():
            continue
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        if depth <= max_depth:
            out.append(("  " * depth + name.strip(), round(int(cum) / 1e6, 3)))
    return sorted(out, key=lambda x: -x[1])[:n]


# ----------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("prepare", "bulk", "knn", "put", "audit", "embed", "cli"):
        sp = sub.add_parser(name)
        sp.add_argument("--workdir", type=Path, required=True)
        sp.add_argument("--profile", action="store_true", help="add a cProfile summary to the result")
    sub.choices["prepare"].add_argument("--n", type=int, default=20_000)
    for name in ("bulk", "knn"):
        sub.choices[name].add_argument("--dataset", choices=("random", "real"), default="random")
    sub.choices["put"].add_argument("--sync", choices=("FULL", "NORMAL"), default="FULL")
    sub.choices["put"].add_argument("--puts", type=int, default=500)
    sub.choices["put"].add_argument("--preload", type=int, default=1000)
    sub.choices["audit"].add_argument("--n", type=int, default=1_000_000)
    sub.choices["audit"].add_argument("--keep", action="store_true")
    sub.choices["embed"].add_argument("--backend", choices=("torch-bf16", "onnx", "torch"), default="onnx")
    sub.choices["embed"].add_argument("--texts", type=int, default=512)
    sub.choices["embed"].add_argument("--reps", type=int, default=3)
    sub.choices["cli"].add_argument("--items", type=int, default=300)
    sub.choices["cli"].add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    handler = globals()[f"cmd_{args.cmd}"]
    result = handler(args)
    result["loadavg_end"] = loadavg()
    emit(result)


if __name__ == "__main__":
    main()
