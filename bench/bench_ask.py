"""Ask latency on the demo corpus with the bundled model: p50/p95 end to end, per stage, cache hits.

    python bench/bench_ask.py               # 26 demo canary questions x 2 passes (~2-4 min on 2 cores)
    python bench/bench_ask.py --passes 1 --limit 8

Builds a throwaway data dir with the demo corpus and the real MiniLM embedder (ONNX), then asks
every canary question of ``data/demo/canary.jsonl`` through ``Memdeck.ask`` with the bundled
SmolLM2-135M (greedy). Cold asks bypass the response cache; a second round asks the same questions
with the cache on twice, so the second of each pair is a cache hit. The model load is timed apart
from the asks. Citation accuracy (the canary's expected item among the cited ones) is reported
too, because a fast answer that cites the wrong memory is no answer. Writes
``bench/results/ask-<date>.json`` (gitignored) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from common import emit, loadavg, log, machine_info, pct  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--passes", type=int, default=2, help="cold passes over the questions")
    p.add_argument("--limit", type=int, default=0, help="use only the first N questions")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for this run, e.g. --set ask.context_items=3 (repeatable)")
    args = p.parse_args()

    from core.embed import Embedder
    from core.memdeck import Memdeck

    info = machine_info()
    log(f"# memdeck ask bench {info['date']}  {info['cpu_model']}, {info['cores']} cores, load {info['loadavg']}")
    questions = [json.loads(line) for line in (ROOT / "data/demo/canary.jsonl").read_text().splitlines() if line]
    if args.limit:
        questions = questions[:args.limit]
    res: dict[str, Any] = {"bench": "ask", "system": "memdeck", "machine": info, "questions": len(questions),
                           "loadavg_start": loadavg()}
    with tempfile.TemporaryDirectory(prefix="memdeck-bench-ask-") as tmp:
        emb = Embedder(None, Path(tmp) / "onnx", bulk_backend="onnx", query_backend="onnx")
        with Memdeck.open(Path(tmp) / "data", embedder=emb) as md:
            t0 = time.perf_counter()
            md.load_demo()
            res["demo_load_s"] = round(time.perf_counter() - t0, 2)
            md.config_set("llm.temperature", "0")
            for pair in args.set:
                key, _, value = pair.partition("=")
                md.config_set(key, value)
            res["settings"] = {k: md.config.get(k) for k in (
                "ask.max_tokens", "llm.n_ctx", "llm.threads", "ask.context_items", "ask.expand_items",
                "ask.context_chars")}
            t0 = time.perf_counter()
            md.model_load()
            res["model_load_s"] = round(time.perf_counter() - t0, 2)
            md.ask("warm-up: what is Larkspur Robotics?", use_cache=False)
            cold: list[dict[str, Any]] = []
            for rep in range(args.passes):
                for q in questions:
                    r = md.ask(q["query"], use_cache=False)
                    cold.append({"rep": rep, "query": q["query"], "answer": r.answer, "mode": r.answer_mode,
                                 "timings": r.timings,
                                 "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                                 "retrieved": q["expected_key"] in {c["key"] for c in r.retrieved},
                                 "cited": q["expected_key"] in {c["key"] for c in r.citations}})
                    log(f"{r.timings['total']:8.0f} ms  {r.completion_tokens:4d} tok  "
                        f"{'cited' if cold[-1]['cited'] else '     '}  {q['query'][:60]}")
            hits: list[float] = []
            md.config_set("ask.max_tokens", "8")  # the cold asks bypassed the cache; a short one fills it
            for q in questions:
                md.ask(q["query"])
                r = md.ask(q["query"])
                if r.cache_hit:
                    hits.append(r.timings["total"])
            res["loadavg_end"] = loadavg()

    totals = [c["timings"]["total"] for c in cold]
    stages = {s: round(statistics.median(c["timings"].get(s, 0.0) for c in cold), 1)
              for s in ("embed", "retrieve", "prompt", "generate")}
    res["cold"] = {"n": len(cold), "p50_ms": round(pct(totals, 50), 1), "p95_ms": round(pct(totals, 95), 1),
                   "max_ms": round(max(totals), 1), "stage_median_ms": stages,
                   "completion_tokens_median": statistics.median(c["completion_tokens"] for c in cold),
                   "prompt_tokens_median": statistics.median(c["prompt_tokens"] for c in cold),
                   "modes": {m: sum(c["mode"] == m for c in cold) for m in {c["mode"] for c in cold}},
                   "expected_retrieved": round(sum(c["retrieved"] for c in cold) / len(cold), 3),
                   "expected_cited": round(sum(c["cited"] for c in cold) / len(cold), 3)}
    res["cache_hit"] = {"n": len(hits), "p50_ms": round(pct(hits, 50), 3), "p95_ms": round(pct(hits, 95), 3)}
    res["asks"] = cold
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"ask-{info['date']}.json"
    path.write_text(json.dumps(res, indent=2, default=str))
    c = res["cold"]
    print(f"\n| measure | value |\n|---|---|\n| model load | {res['model_load_s']} s |\n"
          f"| ask p50 / p95 (cold, {c['n']} asks) | {c['p50_ms']:.0f} / {c['p95_ms']:.0f} ms |\n"
          f"| stage medians embed / retrieve / prompt / generate | {stages['embed']} / {stages['retrieve']} / "
          f"{stages['prompt']} / {stages['generate']} ms |\n"
          f"| tokens median prompt / completion | {c['prompt_tokens_median']} / {c['completion_tokens_median']} |\n"
          f"| expected item retrieved / cited | {c['expected_retrieved']:.0%} / {c['expected_cited']:.0%} |\n"
          f"| cache hit p50 / p95 | {res['cache_hit']['p50_ms']} / {res['cache_hit']['p95_ms']} ms |\n")
    emit({k: v for k, v in res.items() if k != "asks"})
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
