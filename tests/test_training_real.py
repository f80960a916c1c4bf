"""The training loop on the real bundled model: transformers + peft training, the GGUF LoRA writer and
the canary gate in llama.cpp. Kept small (a handful of items, a few steps) so CI can run it; the numbers
at realistic sizes are in bench/bench_training.py and docs/benchmarks.md.

One data dir is shared by the three tests, in order, because each starts from what the one before
left: an adapter in use (promoted, or attached by hand when the gate rolled it back), then a planted
regression that must leave that adapter in use, then a run killed with SIGKILL mid-training that must
leave it in use too.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import WordHashEmbedder

from core.facade_ask import SELECTED_ADAPTER
from core.memdeck import Memdeck
from core.paths import resource_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("people.maya-okafor.role", "people.helen-marsh.role", "product.picker-3.battery-life",
        "vendor.lidar.contract-owner", "people.ana-ribeiro.role", "project.atlas.budget")


def demo_items(keys: tuple[str, ...]) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in (resource_dir() / "demo" / "items.jsonl").read_text().splitlines()]
    chosen = [r for r in rows if r["key"] in keys]
    assert len(chosen) == len(keys)
    return chosen


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("train") / "data"
    with Memdeck.open(root, embedder=WordHashEmbedder()) as md:
        md.put_many(demo_items(KEYS))
    yield root


def open_deck(root: Path) -> Memdeck:
    return Memdeck.open(root, embedder=WordHashEmbedder())


def test_real_run_is_gated_and_its_adapter_answers(root: Path) -> None:
    """A gentle run on six facts, one of them the item of canary fact-01. Whether the gate promotes it
    is the model's call: measured, the same run was promoted with bare samples only and rolled back
    on fact-01 with grounded samples (docs/benchmarks.md), so both outcomes are checked for what must
    hold, and the adapter is attached either way so the next two tests have a real adapter in use."""
    with open_deck(root) as md:
        out = md.train_run_now({"epochs": 2, "lr": 2e-4, "batch_size": 4})
        print(f"\nsmall real run: {out['status']}; canary {out['canary_passed']}/{out['canary_total']}, "
              f"probe {out['probe_before']} -> {out['probe_after']}, control change {out['control_change']}")
        assert out["status"] in ("promoted", "rolled_back"), out
        gate = md.train_run(out["id"])["gate"]
        assert gate["before"]["canary_passed"] == gate["before"]["canary_total"] >= 20, "the base passes the suite"
        assert out["probe_after"] < out["probe_before"], "held-out phrasings of the trained facts got likelier"
        adapter = Path(out["adapter"])
        assert adapter.is_file()
        if out["status"] == "promoted":
            assert out["canary_passed"] == out["canary_total"] and out["control_change"] <= 0.05
            assert md._meta(SELECTED_ADAPTER) == str(adapter)
        else:
            assert out["reasons"] and md._meta(SELECTED_ADAPTER) is None, "a rolled-back run changes nothing"
            assert out["canary_passed"] < out["canary_total"] or out["control_change"] > 0.05
            md.adapter_attach(adapter)  # an admin may still choose it
        # the converted adapter attaches to the live model in llama.cpp and answers
        answer = md.ask("What is the role of Maya Okafor?")
        assert answer.adapter == str(adapter) and answer.answer.strip()
        assert md._meta(SELECTED_ADAPTER) == str(adapter)


def test_planted_regression_is_rolled_back(root: Path) -> None:
    with open_deck(root) as md:
        good = md._meta(SELECTED_ADAPTER)
        md.put("facts", "people.new-hire.role", "Rosa Lind joined Larkspur Robotics as Head of Quality in May 2026.")
        alerts: list[str] = []
        md.bus.subscribe(lambda e: alerts.append(e.payload["message"]) if e.kind == "train.alert" else None)
        bad = md.train_run_now({"epochs": 10, "lr": 5e-2, "batch_size": 4})
        assert bad["status"] == "rolled_back", bad
        assert bad["canary_passed"] < bad["canary_total"] or bad["control_change"] > 0.05
        assert md._meta(SELECTED_ADAPTER) == good and alerts


def test_run_killed_mid_training_leaves_previous_adapter(root: Path) -> None:
    with open_deck(root) as md:
        good = md._meta(SELECTED_ADAPTER)
    env = {**os.environ, "MEMDECK_HOME": str(root), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "train", "run", "--now", "--max-steps", "200",
                             "--lr", "1e-4"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with sqlite3.connect(root / "memdeck.db") as conn:
                row = conn.execute("SELECT id, steps FROM training_runs WHERE status = 'running'").fetchone()
            if row and row[1] >= 1:
                break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.5)
        else:
            pytest.fail("the run never reached a training step")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with open_deck(root) as md:
        runs = md.train_runs()
        assert runs[0]["id"] == row[0] and runs[0]["status"] == "failed" and "interrupted" in runs[0]["error"]
        assert md._meta(SELECTED_ADAPTER) == good
        assert not (root / "adapters" / f"run-{row[0]}.gguf").exists()
