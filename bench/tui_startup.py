"""Time to first paint of the TUI and time until the embedder is ready, in fresh processes.

Each run starts a new interpreter (cold imports, like a user typing `memdeck`), runs the real app
headless on a data dir, and records: first paint (the first screen has rendered, before the data dir
is open), data ready (the Health screen shows counts), and embedder ready (the warm-up job finished).
Usage: python bench/tui_startup.py DATA_DIR [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = r"""
import sys, time, json
t0 = float(sys.argv[2])
from tui.app import MemdeckApp
marks = {}

class Timed(MemdeckApp):
    def on_mount(self):  # Textual also runs MemdeckApp.on_mount (handlers run for each class in the MRO)
        self.call_after_refresh(lambda: marks.setdefault("first_paint", time.time() - t0))
        self.set_interval(0.01, self._poll)

    def _poll(self):
        if self.core is not None and "data_ready" not in marks:
            body = str(self.screen.query_one("#drift").render()) if self.screen.query("#drift") else ""
            if "vectors" in body:
                marks["data_ready"] = time.time() - t0
        if self.core is not None and "embedder_ready" not in marks:
            emb = getattr(self.core, "_embedder", None)
            if emb is not None and emb.status()["backends"].get("onnx") == "ready":
                marks["embedder_ready"] = time.time() - t0
        if len(marks) == 3 or time.time() - t0 > 120:
            self.exit()

app = Timed(sys.argv[1])
app.run(headless=True)
if app.core is not None:
    app.core.close()
print(json.dumps(marks))
"""


def one_run(data_dir: str) -> dict[str, float]:
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD, data_dir, repr(start)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TEXTUAL": ""})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    marks: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return marks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [one_run(args.data_dir) for _ in range(args.runs)]
    result = {key: {"median_s": round(statistics.median(r[key] for r in runs if key in r), 3),
                    "max_s": round(max(r[key] for r in runs if key in r), 3)}
              for key in ("first_paint", "data_ready", "embedder_ready")}
    result["runs"] = args.runs
    result["loadavg"] = os.getloadavg()
    print(json.dumps(result, indent=2) if args.json else "\n".join(
        f"{k:15} median {v['median_s']:.3f} s  max {v['max_s']:.3f} s" for k, v in result.items()
        if isinstance(v, dict)))


if __name__ == "__main__":
    main()
