"""The peer side of the benchmarks: raw hnswlib and Chroma, on the same data as memdeck.

Runs under the interpreter named by MEMDECK_BENCH_PEER_PYTHON (a venv with chromadb==1.5.9, hnswlib and
numpy; never the project venv). Needs only numpy, hnswlib and chromadb; chromadb is imported only for
``--system chroma`` and a missing one is reported as skipped, not as a failure.

    python bench/bench_peers.py bulk --system hnswlib|chroma --workdir W --dataset random|real
    python bench/bench_peers.py knn  --system hnswlib|chroma --workdir W --dataset random|real
    python bench/bench_peers.py put  --system hnswlib|chroma --workdir W
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    BATCH,
    COLLECTION,
    DIM,
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    SEED,
    THREADS,
    base_result,
    emit,
    latency_summary,
    load_corpus,
    load_vectors,
    loadavg,
    recall_at_k,
    time_each,
    unit_vectors,
)


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


# ----------------------------------------------------------------------------- raw hnswlib
def hnsw_new(capacity: int) -> Any:
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=DIM)
    index.init_index(max_elements=capacity, ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M)
    index.set_ef(HNSW_EF_SEARCH)
    index.set_num_threads(THREADS)
    return index


def hnsw_bulk(args: argparse.Namespace, res: dict[str, Any]) -> None:
    vecs, _, _ = load_vectors(args.workdir, args.dataset)
    n = len(vecs)
    index = hnsw_new(n)
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        index.add_items(vecs[i:i + BATCH], np.arange(i, min(n, i + BATCH)))
    elapsed = time.perf_counter() - t0
    t1 = time.perf_counter()
    index.save_index(str(args.workdir / f"hnsw-{args.dataset}.bin"))
    save_s = time.perf_counter() - t1
    res.update(n=n, seconds=round(elapsed, 3), items_per_s=round(n / elapsed, 1),
               items_per_s_incl_checkpoint=round(n / (elapsed + save_s), 1), checkpoint_s=round(save_s, 3),
               note="vectors only: no text, metadata or durability")


def hnsw_knn(args: argparse.Namespace, res: dict[str, Any]) -> None:
    import hnswlib

    corpus = load_corpus(args.workdir)
    _, queries, truth = load_vectors(args.workdir, args.dataset)
    index = hnswlib.Index(space="cosine", dim=DIM)
    index.load_index(str(args.workdir / f"hnsw-{args.dataset}.bin"))
    index.set_ef(HNSW_EF_SEARCH)
    index.set_num_threads(THREADS)
    texts = corpus["texts"]
    found: list[list[int]] = [[] for _ in queries]

    def query(i: int) -> None:
        labels, _ = index.knn_query(queries[i].reshape(1, -1), k=10)
        found[i] = labels[0].tolist()

    def query_fetch(i: int) -> None:  # plus fetching the texts from an in-memory list
        labels, _ = index.knn_query(queries[i].reshape(1, -1), k=10)
        _ = [texts[j] for j in labels[0]]

    for i in range(20):
        query(i)
    res["knn_only"] = latency_summary(time_each(query, len(queries)))
    base_recall = recall_at_k(found, truth)
    sweep = {}
    for ef in (200, 400):
        index.set_ef(ef)
        lat = latency_summary(time_each(query, len(queries)))
        sweep[str(ef)] = {"p50_ms": lat["p50_ms"], "p95_ms": lat["p95_ms"],
                          "recall_at_10": round(recall_at_k(found, truth), 4)}
    index.set_ef(HNSW_EF_SEARCH)
    res["ef_sweep"] = sweep
    for i in range(len(queries)):
        query(i)
    assert abs(recall_at_k(found, truth) - base_recall) < 1e-9
    res["knn_plus_list_lookup"] = latency_summary(time_each(query_fetch, len(queries)))
    res.update(n=index.get_current_count(), ef_search=HNSW_EF_SEARCH,
               recall_at_10=round(recall_at_k(found, truth), 4))


def hnsw_put(args: argparse.Namespace, res: dict[str, Any]) -> None:
    vecs = unit_vectors(args.preload + args.puts + 50, DIM, SEED + 3)
    index = hnsw_new(args.preload + args.puts + 100)
    index.add_items(vecs[:args.preload], np.arange(args.preload))
    for i in range(args.preload, args.preload + 50):
        index.add_items(vecs[i:i + 1], np.array([i]))
    base = args.preload + 50
    lat = time_each(lambda i: index.add_items(vecs[base + i:base + i + 1], np.array([base + i])), args.puts)
    res["latency"] = latency_summary(lat)
    res["note"] = "in-memory add_items of one vector: not durable, no text; a floor, not a peer"


# ----------------------------------------------------------------------------- Chroma
def chroma_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))


def chroma_collection(client: Any, create: bool, defaults: bool = False) -> Any:
    if not create:
        return client.get_collection(COLLECTION, embedding_function=None)
    config = {"hnsw": {"space": "cosine", "ef_construction": HNSW_EF_CONSTRUCTION,
                       "ef_search": HNSW_EF_SEARCH, "max_neighbors": HNSW_M, "num_threads": THREADS}}
    if defaults:  # Chroma's own defaults (ef_construction 100, ...), only the space set
        config = {"hnsw": {"space": "cosine"}}
    return client.create_collection(COLLECTION, configuration=config, embedding_function=None)


def chroma_bulk(args: argparse.Namespace, res: dict[str, Any]) -> None:
    corpus = load_corpus(args.workdir)
    vecs, queries, _ = load_vectors(args.workdir, args.dataset)
    n = len(vecs)
    suffix = "-defaults" if args.chroma_defaults else ""
    client = chroma_client(fresh_dir(args.workdir / f"chroma-{args.dataset}{suffix}"))
    col = chroma_collection(client, create=True, defaults=args.chroma_defaults)
    res["hnsw_config"] = col.configuration_json.get("hnsw") if hasattr(col, "configuration_json") else None
    keys, texts, metas = corpus["keys"], corpus["texts"], corpus["metas"]
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        j = min(n, i + BATCH)
        col.add(ids=keys[i:j], embeddings=vecs[i:j], documents=texts[i:j], metadatas=metas[i:j])
    elapsed = time.perf_counter() - t0
    t1 = time.perf_counter()
    col.query(query_embeddings=queries[:1], n_results=10)  # forces any pending indexing
    first_query = time.perf_counter() - t1
    assert col.count() == n
    res.update(n=n, seconds=round(elapsed, 3), items_per_s=round(n / elapsed, 1),
               first_query_s=round(first_query, 3),
               items_per_s_incl_first_query=round(n / (elapsed + first_query), 1),
               max_batch_size=client.get_max_batch_size())


def chroma_knn(args: argparse.Namespace, res: dict[str, Any]) -> None:
    corpus = load_corpus(args.workdir)
    _, queries, truth = load_vectors(args.workdir, args.dataset)
    col = chroma_collection(chroma_client(args.workdir / f"chroma-{args.dataset}"), create=False)
    row_of = {k: i for i, k in enumerate(corpus["keys"])}
    found: list[list[int]] = [[] for _ in queries]

    def query(i: int) -> None:
        r = col.query(query_embeddings=queries[i:i + 1], n_results=10,
                      include=["documents", "metadatas", "distances"])
        found[i] = [row_of[x] for x in r["ids"][0]]

    for i in range(20):
        query(i)
    res["query_with_documents"] = latency_summary(time_each(query, len(queries)))
    res.update(n=col.count(), ef_search=HNSW_EF_SEARCH, recall_at_10=round(recall_at_k(found, truth), 4))


def chroma_put(args: argparse.Namespace, res: dict[str, Any]) -> None:
    corpus = load_corpus(args.workdir)
    texts, metas = corpus["texts"], corpus["metas"]
    vecs = unit_vectors(args.preload + args.puts + 50, DIM, SEED + 3)
    col = chroma_collection(chroma_client(fresh_dir(args.workdir / "chroma-put")), create=True)
    col.add(ids=[f"pre-{i}" for i in range(args.preload)], embeddings=vecs[:args.preload],
            documents=texts[:args.preload], metadatas=metas[:args.preload])

    def put(j: int) -> None:
        col.add(ids=[f"put-{j}"], embeddings=vecs[j:j + 1], documents=[texts[j]], metadatas=[metas[j]])

    for i in range(args.preload, args.preload + 50):
        put(i)
    base = args.preload + 50
    res["latency"] = latency_summary(time_each(lambda i: put(base + i), args.puts))


# ----------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bench", choices=("bulk", "knn", "put"))
    p.add_argument("--system", choices=("hnswlib", "chroma"), required=True)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--dataset", choices=("random", "real"), default="random")
    p.add_argument("--puts", type=int, default=500)
    p.add_argument("--preload", type=int, default=1000)
    p.add_argument("--chroma-defaults", action="store_true",
                   help="bulk: Chroma's default HNSW parameters instead of memdeck's")
    args = p.parse_args()
    res = base_result(args.bench, args.system, dataset=args.dataset, python=sys.executable)
    try:
        if args.system == "chroma":
            import chromadb

            res["version"] = chromadb.__version__
        else:
            import hnswlib  # noqa: F401

            res["version"] = importlib.metadata.version("hnswlib")
    except ImportError as exc:
        res["skipped"] = f"{args.system} not importable in {sys.executable}: {exc}"
        res["loadavg_end"] = loadavg()
        emit(res)
        return
    fn = {("hnswlib", "bulk"): hnsw_bulk, ("hnswlib", "knn"): hnsw_knn, ("hnswlib", "put"): hnsw_put,
          ("chroma", "bulk"): chroma_bulk, ("chroma", "knn"): chroma_knn, ("chroma", "put"): chroma_put}
    fn[(args.system, args.bench)](args, res)
    if args.bench == "put":
        res.update(preload=args.preload, puts=args.puts)
    res["loadavg_end"] = loadavg()
    emit(res)


if __name__ == "__main__":
    main()
