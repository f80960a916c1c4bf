"""Trust passes on the demo corpus (and a multiplied copy): time, contradictions, planted conflicts.

    python bench/bench_trust.py               # demo corpus, then x10 (3,280 items) (~2-4 min on 2 cores)
    python bench/bench_trust.py --scale 1     # demo corpus only

Builds a throwaway data dir with the real MiniLM embedder, loads ``data/demo/items.jsonl`` and runs
a full trust pass (candidates: vector neighbours, the items about the subjects a text names and the
items that name its subject, entity expansion; deterministic checks, scores, policy), then an
incremental pass after one edit. Reports how many of the 12 planted conflicts (``conflict_group``)
were found and quarantined, how many other pairs were flagged and how many items policy quarantined
that are in no planted pair (the corpus is meant to be consistent apart from the plants, so these
are false alarms unless a human reading says otherwise); the demo run lists those pairs and items
with their evidence, to be read. With ``--scale N`` the corpus is copied N times under new keys to
time a larger pass. Writes ``bench/results/trust-<date>.json`` (gitignored).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from common import loadavg, machine_info  # noqa: E402


def demo_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (ROOT / "data" / "demo" / "items.jsonl").read_text().splitlines() if line]


def planted_pairs(records: list[dict[str, Any]]) -> dict[frozenset[tuple[str, str]], str]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for r in records:
        g = (r.get("metadata") or {}).get("conflict_group")
        if g:
            groups.setdefault(g, []).append((r["collection"], r["key"]))
    return {frozenset(v): k for k, v in groups.items()}


def run(scale: int) -> dict[str, Any]:
    from core.memdeck import Memdeck

    records = demo_records()
    planted = planted_pairs(records)
    in_plant = {ck for pair in planted for ck in pair}
    with tempfile.TemporaryDirectory(prefix="memdeck-bench-trust-") as tmp:
        md = Memdeck.open(tmp)
        try:
            batch = []
            for n in range(scale):
                for r in records:
                    copy = dict(r)
                    if n:
                        copy["key"] = f"copy{n}.{r['key']}"
                        copy["metadata"] = {k: v for k, v in (r.get("metadata") or {}).items() if k != "conflict_group"}
                    batch.append(copy)
            t0 = time.perf_counter()
            md.put_many(batch, audit_each=False)
            load_s = time.perf_counter() - t0
            load_before = loadavg()
            t1 = time.perf_counter()
            full = md.trust_recompute(full=True)
            full_s = time.perf_counter() - t1
            found = md.contradictions("open", limit=100_000)
            hit: set[str] = set()
            others: list[dict[str, Any]] = []
            for c in found:
                pair = frozenset([(c["a"]["collection"], c["a"]["key"]), (c["b"]["collection"], c["b"]["key"])])
                if pair in planted:
                    hit.add(planted[pair])
                else:
                    others.append({"a": f"{c['a']['collection']}/{c['a']['key']}",
                                   "b": f"{c['b']['collection']}/{c['b']['key']}", "kind": c["kind"],
                                   "score": c["score"], "evidence": c["evidence"]})
            other = len(others)
            quarantined = {(q["collection"], q["key"]): q.get("reason") for q in full["quarantined"]}
            planted_q = sum(1 for pair in planted if pair & quarantined.keys())
            innocent = [{"item": f"{ck[0]}/{ck[1]}", "reason": why} for ck, why in quarantined.items()
                        if ck not in in_plant]
            innocent_q = len(innocent)
            md.put("facts", "office.leeds.desks", "The Leeds office has 40 desks.", source="manual-entry")
            t2 = time.perf_counter()
            inc = md.trust_recompute()
            inc_s = time.perf_counter() - t2
        finally:
            md.close()
    return {"scale": scale, "items": len(batch), "load_s": round(load_s, 2), "full_pass_s": round(full_s, 2),
            "incremental_pass_s": round(inc_s, 2), "incremental_scanned": inc["scanned"],
            "open_contradictions": len(found), "planted_found": len(hit), "planted_total": len(planted),
            "planted_missed": sorted(set(planted.values()) - hit), "other_flagged": other,
            "quarantined": len(quarantined), "planted_pairs_quarantined": planted_q,
            "innocent_quarantined": innocent_q, "load_before": load_before, "load_after": loadavg(),
            **({"other_pairs": others, "innocent_items": innocent} if scale == 1 else {})}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=int, default=10, help="also time the corpus copied this many times (1 = no)")
    args = p.parse_args()
    results = {"machine": machine_info(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "runs": [run(1)] + ([run(args.scale)] if args.scale > 1 else [])}
    out = HERE / "results" / f"trust-{time.strftime('%Y-%m-%d')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print("| items | full pass (s) | incremental (s) | open contradictions | planted found | other flagged |"
          " quarantined (planted pairs / innocent) |")
    print("|---|---|---|---|---|---|---|")
    for r in results["runs"]:
        print(f"| {r['items']:,} | {r['full_pass_s']} | {r['incremental_pass_s']} | {r['open_contradictions']} |"
              f" {r['planted_found']}/{r['planted_total']} (missed {', '.join(r['planted_missed']) or '-'}) |"
              f" {r['other_flagged']} | {r['quarantined']}"
              f" ({r['planted_pairs_quarantined']} / {r['innocent_quarantined']}) |")
    demo = results["runs"][0]
    for o in demo.get("other_pairs", []):
        print(f"  other flagged: {o['a']} <-> {o['b']}  {o['kind']} {o['score']:.2f}  {o['evidence']}")
    for q in demo.get("innocent_items", []):
        print(f"  quarantined outside the plants: {q['item']}  ({q['reason']})")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
