"""Run every benchmark for memdeck and its peers side by side, save JSON, print a markdown table.

    python bench/run_all.py                 # everything (6-11 min on 2 cores once the data is cached)
    python bench/run_all.py --quick         # small sizes, a smoke test of the harness (~2-3 min)
    python bench/run_all.py --only bulk,knn # a subset: prepare,bulk,knn,put,audit,embed,cli,trail,backup

memdeck runs in this interpreter's venv; the peers (raw hnswlib, Chroma) run in the interpreter named by
MEMDECK_BENCH_PEER_PYTHON, a separate venv with chromadb==1.5.9, hnswlib and numpy (see bench/README.md).
Without it, raw hnswlib runs here and Chroma is reported as skipped. Machine speed swings with load, so
peers are measured in the same run, interleaved with memdeck, and the load average is recorded before
and after every step. Results go to bench/results/<date>.json (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import loadavg, machine_info  # noqa: E402

PEER_ENV = "MEMDECK_BENCH_PEER_PYTHON"
BENCHES = ("prepare", "bulk", "knn", "put", "audit", "embed", "cli", "trail", "backup", "llm", "ask")
NEEDS_NO_PREPARE = {"trail", "backup", "llm", "ask"}  # these scripts build their own data


def peer_python() -> tuple[str, bool, str]:
    """(interpreter for the peers, whether Chroma is importable there, a note)."""
    exe = os.environ.get(PEER_ENV, "")
    if not exe:
        return (sys.executable, False,
                f"{PEER_ENV} not set: raw hnswlib runs in the project venv, Chroma skipped")
    probe = subprocess.run([exe, "-c", "import chromadb, hnswlib, numpy; print(chromadb.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return exe, False, f"{exe} cannot import chromadb/hnswlib/numpy: {probe.stderr.strip()[-300:]}"
    return exe, True, f"{exe} (chromadb {probe.stdout.strip()})"


def git_state() -> str:
    """The commit measured, marked dirty when core or tui have uncommitted changes."""
    root = HERE.parent
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "core", "tui"],
                           capture_output=True, text=True).stdout.strip()
    return head + (" (core/tui modified)" if dirty else "")


def plan(workdir: Path, quick: bool, profile: bool, peer: str, chroma: bool) -> list[dict[str, Any]]:
    md = [sys.executable, str(HERE / "bench_memdeck.py")]
    pr = [peer, str(HERE / "bench_peers.py")]
    wd = ["--workdir", str(workdir)]
    prof = ["--profile"] if profile else []
    steps: list[dict[str, Any]] = []

    def add(bench: str, system: str, argv: list[str], label: str = "", timeout: int = 900) -> None:
        if system == "chroma" and not chroma:
            steps.append({"bench": bench, "system": system, "label": label, "skip": "chromadb not available"})
            return
        steps.append({"bench": bench, "system": system, "label": label, "argv": argv, "timeout": timeout})

    add("prepare", "memdeck", [*md, "prepare", *wd, "--n", "2000" if quick else "20000"], timeout=1800)
    # Interleaved, and the order flips between data sets, so a load swing does not favour one system.
    forward, backward = ("memdeck", "hnswlib", "chroma"), ("chroma", "hnswlib", "memdeck")
    for ds, order in (("random", forward), ("real", backward)):
        for system in order:
            argv = ([*md, "bulk", *wd, "--dataset", ds, *prof] if system == "memdeck"
                    else [*pr, "bulk", "--system", system, *wd, "--dataset", ds])
            add("bulk", system, argv, ds)
            if system == "chroma" and ds == "random":  # and once with Chroma's own defaults
                add("bulk", system, [*argv, "--chroma-defaults"], "random-defaults")
    for ds, order in (("real", forward), ("random", backward)):
        for system in order:
            argv = ([*md, "knn", *wd, "--dataset", ds, *prof] if system == "memdeck"
                    else [*pr, "knn", "--system", system, *wd, "--dataset", ds])
            add("knn", system, argv, ds)
    puts = ["--puts", "100" if quick else "500"]
    add("put", "memdeck", [*md, "put", *wd, "--sync", "FULL", *puts, *prof], "FULL")
    add("put", "chroma", [*pr, "put", "--system", "chroma", *wd, *puts])
    add("put", "memdeck", [*md, "put", *wd, "--sync", "NORMAL", *puts], "NORMAL")
    add("put", "hnswlib", [*pr, "put", "--system", "hnswlib", *wd, *puts])
    add("audit", "memdeck", [*md, "audit", *wd, "--n", "100000" if quick else "1000000"])
    for backend in ("torch-bf16", "onnx", "torch"):
        size = ["--texts", "64", "--reps", "1"] if quick else ["--texts", "512", "--reps", "3"]
        add("embed", "memdeck", [*md, "embed", *wd, "--backend", backend, *size, *prof], backend)
    add("cli", "memdeck", [*md, "cli", *wd, *(["--items", "100", "--runs", "2"] if quick else [])])
    add("trail", "memdeck", [sys.executable, str(HERE / "bench_audit.py"), "--workdir", str(workdir),
                             "--events", "100000" if quick else "1000000"], timeout=1800)
    add("backup", "memdeck", [sys.executable, str(HERE / "bench_backup.py"), "--workdir", str(workdir),
                              *(["--items", "10000", "--reps", "1", "--restore-reps", "1", "--redacted-reps", "1"]
                                if quick else ["--items", "100000"])], timeout=2400)
    add("llm", "memdeck", [sys.executable, str(HERE / "bench_llm.py"),
                           *(["--tokens", "32", "--reps", "3"] if quick else [])], timeout=900)
    add("ask", "memdeck", [sys.executable, str(HERE / "bench_ask.py"),
                           *(["--passes", "1", "--limit", "8"] if quick else [])], timeout=1200)
    return steps


def run_step(step: dict[str, Any], log_dir: Path) -> dict[str, Any]:
    out = {k: v for k, v in step.items() if k != "argv"}
    if "skip" in step:
        return out
    name = f"{step['bench']}-{step['system']}-{step['label'] or 'x'}"
    out["cmd"] = " ".join(step["argv"][1:])
    out["loadavg_before"] = loadavg()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(step["argv"], capture_output=True, text=True, timeout=step["timeout"])
        code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, stdout, stderr = -1, (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (
            exc.stdout or ""), f"timed out after {step['timeout']} s"
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    out["loadavg_after"] = loadavg()
    out["returncode"] = code
    (log_dir / f"{name}.stderr.txt").write_text(stderr or "", encoding="utf-8")
    lines = [ln for ln in (stdout or "").splitlines() if ln.strip()]
    try:
        out["result"] = json.loads(lines[-1]) if code == 0 and lines else None
    except ValueError:
        out["result"] = None
    if out["result"] is None:
        out["error"] = (stderr or "")[-1500:]
    return out


# ----------------------------------------------------------------------------- report
def _get(steps: list[dict[str, Any]], bench: str, system: str, label: str = "") -> dict[str, Any] | None:
    for s in steps:
        if s["bench"] == bench and s["system"] == system and (not label or s.get("label") == label):
            res = s.get("result")
            if res and not res.get("skipped"):
                return dict(res)
    return None


def _f(x: Any, fmt: str = "{:,.0f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def table(steps: list[dict[str, Any]]) -> str:
    rows: list[list[str]] = []
    hdr = ["benchmark", "memdeck", "raw hnswlib", "Chroma 1.5.9", "target", "verdict"]
    for ds in ("random", "real"):
        m, h, c = (_get(steps, "bulk", s, ds) for s in ("memdeck", "hnswlib", "chroma"))
        mv, hv, cv = (r and r.get("items_per_s") for r in (m, h, c))
        size = f"{m['n']:,}" if m else "20k"
        dflt = _get(steps, "bulk", "chroma", f"{ds}-defaults")
        ccell = _f(cv) + (f" ({_f(dflt['items_per_s'])} with its defaults)" if dflt else "")
        rows.append([f"1. bulk add {size}, {ds} vectors (items/s)", _f(mv), _f(hv), ccell, ">= 2x Chroma",
                     _verdict(None if not (mv and cv) else mv >= 2 * cv)])
    m, n = _get(steps, "put", "memdeck", "FULL"), _get(steps, "put", "memdeck", "NORMAL")
    c, h = _get(steps, "put", "chroma"), _get(steps, "put", "hnswlib")

    def lat(r: dict[str, Any] | None) -> str:
        return "n/a" if not r else f"{r['latency']['p50_ms']:.2f} / {r['latency']['p95_ms']:.2f}"

    rows.append(["2. single put, synchronous=FULL (p50 / p95 ms)", lat(m), lat(h) + " (in-memory)", lat(c),
                 "p50 <= 2 ms", _verdict(None if not m else m["latency"]["p50_ms"] <= 2.0)])
    rows.append(["2. single put, synchronous=NORMAL (p50 / p95 ms)", lat(n), "", "", "p50 <= 2 ms",
                 _verdict(None if not n else n["latency"]["p50_ms"] <= 2.0)])
    for ds in ("real", "random"):
        m, h, c = (_get(steps, "knn", s, ds) for s in ("memdeck", "hnswlib", "chroma"))

        def knn(r: dict[str, Any] | None, key: str) -> str:
            return "n/a" if not r else f"{r[key]['p50_ms']:.3f} ms @ {r['recall_at_10']:.3f}"

        ok = None if not m else (m["vector_candidates"]["p50_ms"] <= 0.4 and m["recall_at_10"] >= 0.95)
        size = f"{m['n']:,}" if m else "20k"
        rows.append([f"3. kNN k=10 at {size}, {ds} vectors (p50 @ recall@10)", knn(m, "vector_candidates"),
                     knn(h, "knn_only"), knn(c, "query_with_documents"), "<= 0.4 ms @ >= 0.95", _verdict(ok)])
        if m:
            rows.append([f"3. md.search() hybrid, {ds} vectors (p50 / p95 ms)",
                         f"{m['search_hybrid']['p50_ms']:.2f} / {m['search_hybrid']['p95_ms']:.2f}", "", "",
                         "(no target)", ""])
    a = _get(steps, "audit", "memdeck")
    rows.append([f"4. drift audit of {a['n']:,} ids (s, median of 3)" if a else "4. drift audit (s)",
                 _f(a and a["seconds_median"], "{:.2f}"), "", "", "<= 2 s",
                 _verdict(None if not a else a["seconds_median"] <= 2.0)])
    for backend in ("torch-bf16", "onnx", "torch"):
        e = _get(steps, "embed", "memdeck", backend)
        cell = "n/a" if not e else (f"{e['ingest_texts_per_s']:.0f} vs {e['direct_texts_per_s']:.0f} texts/s"
                                    f" = {e['ratio']:.2f} (in-run {e['ratio_within_run']:.2f})")
        rows.append([f"5. ingest vs embedder, {backend}", cell, "", "", "ratio >= 0.9",
                     _verdict(None if not e else e["ratio"] >= 0.9)])
    c = _get(steps, "cli", "memdeck")
    rows.append(["6. cold `memdeck search` (s, median of 5)", _f(c and c["search_median_s"], "{:.2f}"),
                 "", "", "<= 2 s", _verdict(None if not c else c["search_median_s"] <= 2.0)])
    rows.append(["6. `memdeck --help` (s, median of 5)", _f(c and c["help_median_s"], "{:.2f}"), "", "",
                 "< 1 s", _verdict(None if not c else c["help_median_s"] < 1.0)])
    t = _get(steps, "trail", "memdeck")
    tv = t and t["verify_live"]["threads_2"]["median_s"]
    rows.append([f"7. audit verify of {t['events']:,} events, 2 threads (s, median of 3)" if t
                 else "7. audit verify (s)", _f(tv, "{:.2f}"), "", "", "<= 5 s at 1M",
                 _verdict(None if not t else t["target"]["met"])])
    if t:
        ap = t["append"]
        rows.append(["7. audit append, 1 event in a write txn (us, p50; +txn cost at FULL)",
                     f"{ap['append_call_in_txn']['p50_us']:.0f} (+{ap['txn_diff_p50_us']:.0f})", "", "",
                     "(no target)", ""])
    b = _get(steps, "backup", "memdeck")
    if b:
        bc, br = b["create_full"], b["restore_full"]
        rows.append([f"8. full backup of {b['items']:,} items (s, median; MB/s of db + index)",
                     f"{bc['median_s']:.1f} ({bc['input_mb_per_s']:.0f} MB/s, "
                     f"archive {bc['archive_bytes'] / 1e6:.0f} MB)",
                     "", "", "(no target)", ""])
        rows.append([f"8. verify / restore of {b['items']:,} items (s, median)",
                     f"{b['verify']['median_s']:.1f} / {br['median_s']:.1f}", "", "", "(no target)", ""])
    else:
        rows.append(["8. backup and restore", "n/a", "", "", "(no target)", ""])
    m = _get(steps, "llm", "memdeck")
    rows.append(["9. tokens/s through memdeck vs raw llama-cpp (median, ratio)",
                 f"{m['memdeck']['tokens_per_s_median']:.1f} vs {m['raw']['tokens_per_s_median']:.1f} "
                 f"({m['ratio']:.2f}x)" if m else "n/a", "", "", ">= 0.95x",
                 _verdict(None if not m else m["target"]["met"])])
    a = _get(steps, "ask", "memdeck")
    rows.append(["9. ask p50 / p95 on the demo canaries (ms); cache hit p50 (ms)",
                 f"{a['cold']['p50_ms']:.0f} / {a['cold']['p95_ms']:.0f}; {a['cache_hit']['p50_ms']:.2f}"
                 if a else "n/a", "", "", "p50 <= 2100 ms",
                 _verdict(None if not a else a["cold"]["p50_ms"] <= 2100)])
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test of the harness")
    p.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHES)}")
    p.add_argument("--profile", action="store_true", help="add cProfile summaries to memdeck results")
    p.add_argument("--workdir", type=Path, default=None, help="scratch dir (default: a temp dir, removed)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args()
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - set(BENCHES)
    if unknown:
        p.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {', '.join(BENCHES)}")
    prepared = args.workdir is not None and (args.workdir / "corpus.json").exists()
    if only - NEEDS_NO_PREPARE and "prepare" not in only and not prepared:
        only.add("prepare")  # every other benchmark reads the prepared data sets
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="memdeck-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    peer, chroma, peer_note = peer_python()
    info = machine_info()
    info.update(peer_python=peer_note, memdeck_python=sys.executable, workdir=str(workdir), quick=args.quick,
                git=git_state())
    print(f"# memdeck benchmarks {info['date']}  {info['cpu_model']}, {info['cores']} cores, "
          f"load {info['loadavg']}\n# peers: {peer_note}\n# workdir: {workdir}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = info["date"].replace(":", "-")
    log_dir = args.out / f"{stamp}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    steps = [s for s in plan(workdir, args.quick, args.profile, peer, chroma)
             if not only or s["bench"] in only]
    results: list[dict[str, Any]] = []
    out_path = args.out / f"{stamp}.json"
    t_all = time.perf_counter()
    for step in steps:
        print(f"-- {step['bench']:<8} {step['system']:<8} {step.get('label', ''):<10}", end=" ", flush=True,
              file=sys.stderr)
        res = run_step(step, log_dir)
        results.append(res)
        status = ("skipped" if "skip" in res
                  else "ok" if res.get("result") else f"FAILED ({res['returncode']})")
        print(f"{status} {res.get('wall_s', 0):.1f}s load {res.get('loadavg_before')} -> "
              f"{res.get('loadavg_after')}", file=sys.stderr)
        if "error" in res:
            print(res["error"][-800:], file=sys.stderr)
        # saved after every step, so an interrupted run still leaves its numbers
        out_path.write_text(json.dumps({"machine": info, "steps": results}, indent=1, default=str),
                            encoding="utf-8")
    md = table(results)
    info["loadavg_end"] = loadavg()
    info["total_s"] = round(time.perf_counter() - t_all, 1)
    out_path.write_text(json.dumps({"machine": info, "steps": results, "table_md": md}, indent=1,
                                   default=str), encoding="utf-8")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nmemdeck benchmarks at {info['git']}, {info['date']}, {info['cpu_model']} x{info['cores']}, "
          f"load {info['loadavg']} -> {info['loadavg_end']}, {info['total_s']:.0f} s\n")
    print(md)
    print(f"\nresults: {out_path}", file=sys.stderr)
    return 0 if all(r.get("result") or "skip" in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
