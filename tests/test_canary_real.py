"""Calibration proof: the bundled base model passes the shipped canary suite in llama.cpp, greedily, as
the gate asks it; a model that answers garbage fails it. If the model or the suite changes, this fails
first (see data/training/README.md for how to recalibrate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import canary
from core.llama_eval import LlamaEvaluator
from core.llm import discover
from core.paths import resource_dir

pytestmark = pytest.mark.slow


def test_base_model_passes_the_suite_and_garbage_fails(tmp_path: Path) -> None:
    cases = canary.load_suite(resource_dir() / "training" / "canary.jsonl")
    base = next(m.path for m in discover(tmp_path) if m.source == "bundled")
    ev = LlamaEvaluator(base)
    try:
        result = canary.run_suite(lambda m: ev.chat(m, max_tokens=64), cases)
    finally:
        ev.close()
    assert result.passed == result.total, result.failures
    broken = canary.run_suite(lambda _m: "zzzz 0 @", cases)
    assert broken.passed < result.total // 2
