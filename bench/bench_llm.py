"""Generation throughput: ``core.llm.ModelManager.generate`` against raw llama-cpp-python.

    python bench/bench_llm.py                        # 128 tokens, 15 reps each (~1-2 min on 2 cores)
    python bench/bench_llm.py --tokens 32 --reps 3   # a quick run
    python bench/bench_llm.py --model /path/to/other.gguf

Both sides run the same GGUF (default: the bundled SmolLM2-135M-Instruct) in this process with the same
settings (n_ctx, n_threads = n_threads_batch, seed) and stream the same chat prompt greedily
(temperature 0) through ``create_chat_completion(stream=True)``. By default (``--instances shared``) the
raw calls go to the very ``Llama`` object the manager drives, so the comparison isolates what the
manager adds; ``--instances separate`` loads a second ``Llama`` for the raw side (its own memory and
KV cache: a comparison of instances as much as of code paths). The raw side only counts pieces; the
memdeck side goes through the manager: model lock, cancel poll and ``on_token`` callback per piece,
token accounting, stats. Each side gets one warm-up call first (it pays the full prompt evaluation;
afterwards both reuse llama-cpp-python's prompt prefix), then reps alternate, the order flipping every
rep so a load swing does not favour one side. Reported: medians of tokens/s (completion tokens over
wall time of the call), time to first token, and the ratio memdeck / raw (target >= 0.95). Because this
machine's speed swings several-fold with other work, two noise-robust ratios are reported beside the
ratio of medians: the ratio of the best reps (the least disturbed) and the median of the per-rep ratios
(each pair ran back to back); and tokens per CPU second of the process (all threads), which other
work on the machine disturbs less than wall time. The load average is recorded before, during and after.

Prints a markdown table, then one JSON object on the last stdout line (like the other bench scripts).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import emit, loadavg, log, machine_info  # noqa: E402

from core.llm import BUNDLED_NAME, DEFAULT_SEED, ModelInfo, ModelManager, discover  # noqa: E402

PROMPT = [
    {"role": "system", "content": "You are a helpful assistant who writes long, detailed answers."},
    {"role": "user", "content": "Write a long story about a lighthouse keeper who finds a map in a bottle. "
                                "Describe the sea, the weather and every step of the journey."},
]


def raw_run(llm: Any, tokens: int) -> dict[str, float]:
    """Raw llama-cpp-python: stream and count pieces, nothing else."""
    start, cpu = time.perf_counter(), time.process_time()
    first = 0.0
    pieces = 0
    for chunk in llm.create_chat_completion(messages=PROMPT, stream=True, max_tokens=tokens, temperature=0.0):
        if chunk["choices"][0]["delta"].get("content"):
            if not pieces:
                first = time.perf_counter() - start
            pieces += 1
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"tokens": pieces, "total_s": total, "ttft_ms": first * 1000, "tokens_per_s": pieces / total,
            "tokens_per_cpu_s": pieces / cpu}


def memdeck_run(mm: ModelManager, tokens: int) -> dict[str, float]:
    """Through the manager, with a cancel poll and an on_token callback like the ask screen's."""
    seen: list[str] = []
    start, cpu = time.perf_counter(), time.process_time()
    result = mm.generate(PROMPT, max_tokens=tokens, temperature=0.0, on_token=seen.append, cancel=lambda: False)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"tokens": result.completion_tokens, "total_s": total, "ttft_ms": result.ttft_ms,
            "tokens_per_s": result.completion_tokens / total, "tokens_per_cpu_s": result.completion_tokens / cpu}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-ctx", type=int, default=2048)
    p.add_argument("--model", type=Path, default=None, help="a GGUF file (default: the bundled model)")
    p.add_argument("--instances", choices=("shared", "separate"), default="shared",
                   help="shared: raw calls go to the manager's own Llama object (isolates the manager's "
                        "overhead); separate: raw loads a second Llama")
    args = p.parse_args()

    info = machine_info()
    models_dir = Path("/nonexistent-memdeck-bench-models")
    if args.model is not None:
        models_dir = args.model.resolve().parent
        name = args.model.stem
    else:
        name = BUNDLED_NAME
    target: ModelInfo = next(m for m in discover(models_dir) if m.name == name)
    log(f"# bench_llm {info['date']} {info['cpu_model']} x{info['cores']} load {info['loadavg']}; "
        f"{target.name} ({target.size_bytes / 1e6:.0f} MB), {args.tokens} tokens x {args.reps} reps")

    import llama_cpp

    from core.llm import LlamaRuntime

    t0 = time.perf_counter()
    runtime = LlamaRuntime(target, args.n_ctx, args.threads)
    md_load_s = time.perf_counter() - t0
    mm = ModelManager(models_dir, n_ctx=args.n_ctx, threads=args.threads, default=target.name,
                      loader=lambda info, n_ctx, threads: runtime)
    mm.load()
    if args.instances == "shared":
        raw, raw_load_s = runtime._llm, 0.0  # the very Llama object the manager drives
    else:
        t0 = time.perf_counter()
        raw = llama_cpp.Llama(model_path=str(target.path), n_ctx=args.n_ctx, n_threads=args.threads,
                              n_threads_batch=args.threads, seed=DEFAULT_SEED, verbose=False)
        raw_load_s = time.perf_counter() - t0

    loadavg_before = loadavg()
    warm_raw, warm_md = raw_run(raw, args.tokens), memdeck_run(mm, args.tokens)
    log(f"warm-up (full prompt eval): raw ttft {warm_raw['ttft_ms']:.0f} ms, memdeck ttft {warm_md['ttft_ms']:.0f} ms")
    runs: dict[str, list[dict[str, float]]] = {"raw": [], "memdeck": []}
    load_during: list[float] = []
    for rep in range(args.reps):
        order = ("raw", "memdeck") if rep % 2 == 0 else ("memdeck", "raw")
        for side in order:
            res = raw_run(raw, args.tokens) if side == "raw" else memdeck_run(mm, args.tokens)
            runs[side].append(res)
            load_during.append(loadavg()[0])
            log(f"rep {rep} {side:<8} {res['tokens']:>4.0f} tokens {res['tokens_per_s']:6.1f} tok/s "
                f"ttft {res['ttft_ms']:6.1f} ms  load {loadavg()[0]}")
    loadavg_after = loadavg()

    def med(side: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[side])

    summary = {side: {"tokens_per_s_median": round(med(side, "tokens_per_s"), 2),
                      "ttft_ms_median": round(med(side, "ttft_ms"), 2),
                      "tokens_median": med(side, "tokens"),
                      "tokens_per_s_best": round(max(r["tokens_per_s"] for r in runs[side]), 2),
                      "tokens_per_cpu_s_median": round(med(side, "tokens_per_cpu_s"), 2),
                      "tokens_per_s_all": [round(r["tokens_per_s"], 2) for r in runs[side]]}
               for side in runs}
    ratio = summary["memdeck"]["tokens_per_s_median"] / summary["raw"]["tokens_per_s_median"]
    ratio_cpu = summary["memdeck"]["tokens_per_cpu_s_median"] / summary["raw"]["tokens_per_cpu_s_median"]
    ratio_best = summary["memdeck"]["tokens_per_s_best"] / summary["raw"]["tokens_per_s_best"]
    ratio_paired = statistics.median(m["tokens_per_s"] / r["tokens_per_s"]
                                     for m, r in zip(runs["memdeck"], runs["raw"], strict=True))
    result = {
        "bench": "llm", "machine": info, "model": target.name, "model_bytes": target.size_bytes,
        "tokens": args.tokens, "reps": args.reps, "threads": args.threads, "n_ctx": args.n_ctx,
        "instances": args.instances,
        "load_s": {"raw": round(raw_load_s, 3), "memdeck": round(md_load_s, 3)},
        "warmup_ttft_ms": {"raw": round(warm_raw["ttft_ms"], 1), "memdeck": round(warm_md["ttft_ms"], 1)},
        "loadavg_before": loadavg_before, "loadavg_after": loadavg_after,
        **summary, "ratio": round(ratio, 3), "ratio_best": round(ratio_best, 3), "ratio_cpu": round(ratio_cpu, 3),
        "ratio_paired_median": round(ratio_paired, 3), "loadavg_during": load_during,
        "target": {"ratio_min": 0.95, "met": ratio >= 0.95},
        "manager_stats": mm.stats().get(target.name, {}),
    }
    mm.unload()
    if args.instances == "separate":
        raw.close()
    print(f"| {target.name}, {args.tokens} tokens, greedy, {args.threads} threads | memdeck | raw llama-cpp |\n"
          f"|---|---|---|\n"
          f"| tokens/s (median of {args.reps}) | {summary['memdeck']['tokens_per_s_median']:.1f} | "
          f"{summary['raw']['tokens_per_s_median']:.1f} |\n"
          f"| time to first token, prefix cached (ms, median) | {summary['memdeck']['ttft_ms_median']:.1f} | "
          f"{summary['raw']['ttft_ms_median']:.1f} |\n"
          f"| best rep tokens/s | {summary['memdeck']['tokens_per_s_best']:.1f} | "
          f"{summary['raw']['tokens_per_s_best']:.1f} |\n"
          f"| tokens per CPU second (median; all threads) | {summary['memdeck']['tokens_per_cpu_s_median']:.1f} | "
          f"{summary['raw']['tokens_per_cpu_s_median']:.1f} |\n"
          f"| ratio memdeck / raw: of medians, of bests, median of pairs, per CPU second | {ratio:.3f}, "
          f"{ratio_best:.3f}, {ratio_paired:.3f}, {ratio_cpu:.3f} (target >= 0.95) | |")
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
