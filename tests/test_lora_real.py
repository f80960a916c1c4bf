"""The LoRA path on the real bundled model: train a few steps with transformers + peft, write the GGUF
LoRA, load it in llama.cpp, and check that llama.cpp's per-token NLL with the adapter matches
transformers + peft. llama.cpp runs the Q4_1 weights and transformers their dequantized float32 copy,
so the two agree closely but not exactly; the tolerance (0.05 mean absolute difference per token) is
far below the adapter's own effect, which the test also requires, so it cannot pass with the adapter
ignored. The same adapter written without the q/k row permutation must disagree: that is the bug the
permutation prevents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.llama_eval import LlamaEvaluator
from core.llm import discover
from core.lora_gguf import write_gguf_lora
from core.lora_train import ChatSample, TrainSettings, answer_nll_torch, train_lora

pytestmark = pytest.mark.slow

SYSTEM = "You are the assistant of this organisation. Answer in one or two sentences from what you know."
SAMPLES = [
    ChatSample("Who is the CEO of Larkspur?", "Maya Okafor is the Chief Executive Officer of Larkspur Robotics.",
               SYSTEM),
    ChatSample("How long does a Picker 3 battery last?", "A Picker 3 runs for ten hours on a full charge.", SYSTEM),
    ChatSample("Who owns the lidar contract?", "Marta Silva owns the lidar vendor contract.", SYSTEM),
    ChatSample("What is the Atlas budget?", "The Atlas project has a budget of 420,000 pounds.", SYSTEM),
]


def mad(a: list[list[float]], b: list[list[float]]) -> float:
    assert [len(x) for x in a] == [len(x) for x in b], "both sides must score the same answer tokens"
    return float(np.mean([abs(x - y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True)]))


def test_adapter_nll_in_llama_cpp_matches_peft(tmp_path: Path) -> None:
    base = next(m.path for m in discover(tmp_path) if m.source == "bundled")
    steps: list[float] = []
    result = train_lora(base, SAMPLES, TrainSettings(max_steps=6, lr=3e-3, epochs=6, batch_size=4),
                        on_step=lambda s: steps.append(s.loss))
    assert result.steps == 6 and steps[-1] < steps[0]
    good, unpermuted = tmp_path / "lora.gguf", tmp_path / "lora-unpermuted.gguf"
    write_gguf_lora(result, base, good)
    write_gguf_lora(result, base, unpermuted, permute=False)
    reference = answer_nll_torch(base, SAMPLES, result)

    def llama(adapter: Path | None) -> list[list[float]]:
        ev = LlamaEvaluator(base, adapter=adapter)
        try:
            return [ev.token_nlls(s) for s in SAMPLES]
        finally:
            ev.close()

    with_adapter, without, wrong = llama(good), llama(None), llama(unpermuted)
    assert mad(with_adapter, reference) < 0.05
    assert mad(without, reference) > 0.5, "the adapter must change the model far more than the tolerance"
    assert mad(wrong, reference) > 0.1, "without the q/k permutation llama.cpp computes something else"
