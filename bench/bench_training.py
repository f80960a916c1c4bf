"""Training runs at realistic sizes: seconds and peak RSS for 100 and 300 samples, and whether the model
answers held-out questions about the new memory better afterwards.

    python bench/bench_training.py                 # 100 then 300 samples (~15 min on 2 idle cores)
    python bench/bench_training.py --sizes 300 --epochs 3

For each size: a throwaway data dir with the demo corpus whose 40 challenge items are then edited
(metadata only) as today's changes, so the run's buffer takes them first; then, in a child process
each so peak RSS is that command's own (``ru_maxrss`` of the child), ``memdeck train validate`` (the
challenge set without notes, before), ``memdeck train run --now`` with ``training.max_samples`` = size
and one epoch, and ``train validate`` again (after). The gate may roll the run back, so the challenge
set is also asked with the run's candidate adapter attached, whatever the gate decided. Reported:
wall seconds and peak RSS of the run, steps, loss first and last, the gate's numbers (canary, probe
NLL on held-out phrasings of the trained items, control NLL), and the challenge rate before and
after, overall and on the challenge questions whose item was in the run's buffer.
Writes ``bench/results/training-<date>.json`` (gitignored); the summary goes to
docs/benchmarks.md by hand, with the machine and date.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from common import emit, loadavg, log, machine_info  # noqa: E402


def memdeck(home: Path, *args: str) -> tuple[dict[str, Any], float, int]:
    """Run one CLI command in a child: (its JSON, wall seconds, peak RSS bytes)."""
    env = {**os.environ, "MEMDECK_HOME": str(home)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", *args, "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise SystemExit(f"memdeck {' '.join(args)} exited {code}: {err[-2000:]}")
    return json.loads(out), seconds, usage.ru_maxrss * 1024


def trained_keys(run: dict[str, Any]) -> set[str]:
    path = run.get("buffer_path")
    if not path or not Path(path).is_file():
        return set()
    keys = set()
    for line in Path(path).read_text().splitlines():
        source = json.loads(line)["source"]
        if "/" in source and "@v" in source and not source.startswith(("replay/", "general/", "episode/")):
            keys.add(source.split("/", 1)[1].rsplit("@v", 1)[0])
    return keys


def challenge_keys() -> dict[str, str]:
    rows = [json.loads(x) for x in (ROOT / "data" / "training" / "challenge.jsonl").read_text().splitlines() if x]
    return {r["id"]: r["key"] for r in rows}


def review_challenge_items(home: Path) -> int:
    """Make the challenge set's items today's changes, as a day's new memory would be.

    The demo loads every item at once, and a buffer over its budget takes the newest changes first, so
    without this the run trains on whichever items the loader wrote last and the challenge questions ask
    about items the run never saw. A metadata edit (``reviewed``) is a real new version with the same
    text. Returns how many items were edited."""
    code = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from core import Memdeck\n"
        "md = Memdeck.open(Path(sys.argv[1]))\n"
        "n = 0\n"
        "for line in Path(sys.argv[2]).read_text().splitlines():\n"
        "    if not line.strip(): continue\n"
        "    row = json.loads(line)\n"
        "    item = md.get(row['collection'], row['key'])\n"
        "    meta = {**item['metadata'], 'reviewed': time.strftime('%Y-%m-%d')}\n"
        "    n += md.put(row['collection'], row['key'], item['content'], meta).result != 'unchanged'\n"
        "print(n)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(home), str(ROOT / "data" / "training" / "challenge.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MEMDECK_HOME": str(home)})
    if proc.returncode != 0:
        raise SystemExit(f"editing the challenge items failed: {proc.stderr[-2000:]}")
    return int(proc.stdout.strip().splitlines()[-1])


def candidate_challenge(home: Path, adapter: str | None) -> dict[str, Any]:
    """The challenge set (no notes) through llama.cpp with ``adapter`` attached (None: the base model).

    Runs in a child so a rolled-back run's candidate adapter can be measured too: the gate decides
    what is promoted, this measures what the run learned either way."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from core import Memdeck\n"
        "from core import training\n"
        "from core.llama_eval import LlamaEvaluator\n"
        "md = Memdeck.open(Path(sys.argv[1]))\n"
        "_, model = training.base_model_path(md)\n"
        "adapter = Path(sys.argv[2]) if sys.argv[2] else None\n"
        "ev = LlamaEvaluator(model, adapter=adapter, threads=2)\n"
        "chs = training.load_challenges(training.data_file(md, 'challenge.jsonl'))\n"
        "failed = {f['id'] for f in training.ask_challenges(chs, ev.chat)}\n"
        "ok = [ch.id for ch in chs if ch.id not in failed]\n"
        "print(json.dumps({'passed': len(ok), 'total': len(chs), 'ok': ok}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(home), adapter or ""], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "MEMDECK_HOME": str(home)})
    if proc.returncode != 0:
        raise SystemExit(f"candidate challenge failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def one_size(size: int, steps: int | None, epochs: int = 1) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="memdeck-bench-train-") as tmp:
        home = Path(tmp)
        memdeck(home, "demo")
        memdeck(home, "config", "set", "training.max_samples", str(size))
        log(f"[{size}] challenge items edited as today's changes: {review_challenge_items(home)}")
        before, _, _ = memdeck(home, "train", "validate")
        log(f"[{size}] before: {before['passed']}/{before['total']}")
        args = ["train", "run", "--now", "--epochs", str(epochs)]
        if steps:
            args += ["--max-steps", str(steps)]
        run, seconds, rss = memdeck(home, *args)
        log(f"[{size}] run {run['status']} in {seconds:.0f} s, peak RSS {rss / 2**20:.0f} MiB")
        detail, _, _ = memdeck(home, "train", "show", str(run["id"]))
        after, _, _ = memdeck(home, "train", "validate")
        log(f"[{size}] after: {after['passed']}/{after['total']}")
        base = candidate_challenge(home, None)
        cand = candidate_challenge(home, detail.get("adapter"))
        log(f"[{size}] candidate adapter: {cand['passed']}/{cand['total']} (base {base['passed']}/{base['total']})")
        keys = trained_keys(detail)
        ids = {cid for cid, key in challenge_keys().items() if key in keys}
        failed_before = {f["id"] for f in before["failures"]}
        failed_after = {f["id"] for f in after["failures"]}
        return {
            "samples_requested": size, "epochs": epochs, "status": run["status"], "seconds": round(seconds, 1),
            "peak_rss_mib": round(rss / 2**20), "samples": run["samples"], "grounded": run.get("grounded", 0),
            "replay": run["replay"],
            "probes": run["probes"], "steps": run["steps"], "loss_first": run["loss_first"],
            "loss_last": run["loss_last"], "canary": f"{run['canary_passed']}/{run['canary_total']}",
            "probe_nll": [run["probe_before"], run["probe_after"]],
            "control_nll": [run["control_before"], run["control_after"]], "reasons": run["reasons"],
            "challenge_before": f"{before['passed']}/{before['total']}",
            "challenge_after": f"{after['passed']}/{after['total']}",
            "challenge_trained_items": len(ids),
            "challenge_trained_before": len(ids - failed_before), "challenge_trained_after": len(ids - failed_after),
            "candidate_base": f"{base['passed']}/{base['total']}",
            "candidate_adapter": f"{cand['passed']}/{cand['total']}",
            "candidate_trained_base": len(ids & set(base["ok"])),
            "candidate_trained_adapter": len(ids & set(cand["ok"])),
        }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--max-steps", type=int, help="cap steps (default: the epochs over the buffer, "
                    "within training.max_steps)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per run (the nightly default is 1)")
    args = ap.parse_args()
    results = {"machine": machine_info(), "date": time.strftime("%Y-%m-%d"), "loadavg_start": loadavg(),
               "runs": [one_size(size, args.max_steps, args.epochs) for size in args.sizes], "loadavg_end": loadavg()}
    out = HERE / "results" / f"training-{time.strftime('%Y%m%d-%H%M')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    emit(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
