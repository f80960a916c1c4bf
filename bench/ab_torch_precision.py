"""A/B of the torch bulk backends in one process: torch-bf16 vs torch (fp32), interleaved, same texts.

    python bench/ab_torch_precision.py [--texts 256] [--reps 4]

Separate benchmark steps run minutes apart under different load, so they cannot tell whether bf16
autocast is faster than fp32 here; this alternates the two on one loaded model and prints one JSON line
with per-rep seconds, texts/s and the cosine agreement of the two outputs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from bench_memdeck import real_embedder, topical_texts, vocabulary
from common import SEED, base_result, emit, loadavg


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--texts", type=int, default=256)
    p.add_argument("--reps", type=int, default=4)
    args = p.parse_args()
    texts, _ = topical_texts(args.texts, 60, SEED + 31, vocabulary())
    res = base_result("ab_torch_precision", "memdeck", texts=args.texts, reps=args.reps)
    emb = real_embedder("torch")
    emb.embed(texts[:64], purpose="bulk")  # loads torch and the model once
    times: dict[str, list[float]] = {"torch": [], "torch-bf16": []}
    outs: dict[str, np.ndarray] = {}
    for _ in range(args.reps):
        for backend in ("torch-bf16", "torch"):
            emb.bulk_backend = backend
            emb._cache.clear()
            t0 = time.perf_counter()
            outs[backend] = emb.embed(texts, purpose="bulk")
            times[backend].append(time.perf_counter() - t0)
    for backend, ts in times.items():
        res[backend] = {"seconds": [round(t, 3) for t in ts],
                        "texts_per_s": round(args.texts / statistics.median(ts), 1)}
    cos = np.sum(outs["torch"] * outs["torch-bf16"], axis=1)
    res["bf16_speedup"] = round(statistics.median(times["torch"]) / statistics.median(times["torch-bf16"]), 2)
    res["cosine_bf16_vs_fp32_min"] = round(float(cos.min()), 5)
    res["loadavg_end"] = loadavg()
    emit(res)


if __name__ == "__main__":
    main()
