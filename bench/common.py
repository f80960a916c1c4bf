"""Shared helpers for the benchmark scripts: machine facts, timing, data sets, JSON output.

Imported by the memdeck side (project venv) *and* the peer side (a separate venv with chromadb), so it
uses only the standard library and numpy. Every benchmark script prints exactly one JSON object on its
last stdout line; everything else goes to stderr.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
SEED = 20261122
COLLECTION = "bench"
BATCH = 1000
# Index parameters shared by every system (memdeck's defaults: index.M, ef_construction, ef_search).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 100
THREADS = 2


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """The one JSON line the driver reads."""
    print(json.dumps(result, default=_json_default), flush=True)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni")
                return [f for f in line.split(":", 1)[1].split() if f in wanted]
    except OSError:
        pass
    return []


def ram_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def machine_info() -> dict[str, Any]:
    uname = subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip()
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "uname": uname,
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        "ram_gb": ram_gb(),
        "python": sys.version.split()[0],
        "loadavg": loadavg(),
    }


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 4), "p95_ms": round(pct(ms, 95), 4),
            "p99_ms": round(pct(ms, 99), 4), "mean_ms": round(float(ms.mean()), 4),
            "max_ms": round(float(ms.max()), 4)}


def time_each(fn: Callable[[int], Any], n: int) -> list[float]:
    """Call ``fn(i)`` for i in range(n) with the GC paused during each call; per-call seconds."""
    out = []
    for i in range(n):
        gc.disable()
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
        gc.enable()
    return out


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - t0


def unit_vectors(n: int, dim: int = DIM, seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def exact_topk(queries: np.ndarray, data: np.ndarray, k: int = 10) -> np.ndarray:
    """Brute-force cosine top-k row indices (data and queries are unit length)."""
    sims = queries @ data.T
    part = np.argpartition(-sims, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def recall_at_k(found: Sequence[Sequence[int]], truth: np.ndarray, k: int = 10) -> float:
    hits = [len(set(map(int, f[:k])) & set(map(int, t[:k]))) / k for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits))


# ----------------------------------------------------------------------------- data sets on disk
# A data set is a folder written once by the memdeck side's ``prepare`` step and read by every system:
#   corpus.json   {"keys": [...], "texts": [...], "metas": [...], "query_texts": [...]}
#   <name>.npy    item vectors (rows align with keys), <name>-queries.npy, <name>-truth.npy (row indices)


def load_corpus(workdir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((workdir / "corpus.json").read_text(encoding="utf-8"))
    return data


def load_vectors(workdir: Path, dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.load(workdir / f"{dataset}.npy"), np.load(workdir / f"{dataset}-queries.npy"),
            np.load(workdir / f"{dataset}-truth.npy"))


def base_result(bench: str, system: str, **extra: Any) -> dict[str, Any]:
    return {"bench": bench, "system": system, "loadavg_start": loadavg(), **extra}
