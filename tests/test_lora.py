"""LoRA pieces without a model: the q/k row permutation, label masking, settings and converter checks.
The real model end to end (training, conversion, NLL agreement in llama.cpp) is tests/test_lora_real.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import InvalidInput
from core.lora_gguf import gguf_tensors, permute_rows
from core.lora_train import ChatSample, TrainResult, TrainSettings, chat_prompt, mask_labels


def test_permutation_matches_llama_cpp_layout() -> None:
    # 2 heads of dim 4: rows [h0: 0 1 2 3 | h1: 4 5 6 7]; llama.cpp interleaves each head's two halves
    rows = np.arange(8, dtype=np.float32).reshape(8, 1)
    assert permute_rows(rows, 2)[:, 0].tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    # k with fewer kv heads permutes over the kv head count
    assert permute_rows(rows, 4, 1)[:, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    with pytest.raises(InvalidInput):
        permute_rows(np.zeros((6, 1), dtype=np.float32), 4)


def result(lora: dict[str, object], rank: int = 2) -> TrainResult:
    return TrainResult(steps=1, losses=[1.0], seconds=0.1, tokens=1, stopped="done", lora=lora, rank=rank, alpha=4,
                       target_modules=("q_proj", "v_proj"))


INFO = {"arch": "llama", "n_head": 2, "n_head_kv": 1, "n_layer": 1}
PREFIX = "base_model.model.model.layers.0.self_attn"


def test_converter_names_and_permutes_only_q_and_k_lora_b() -> None:
    a = np.ones((2, 8), dtype=np.float32)
    b = np.arange(16, dtype=np.float32).reshape(8, 2)
    out = gguf_tensors(result({f"{PREFIX}.q_proj.lora_A.weight": a, f"{PREFIX}.q_proj.lora_B.weight": b,
                               f"{PREFIX}.v_proj.lora_A.weight": a, f"{PREFIX}.v_proj.lora_B.weight": b}), INFO)
    assert set(out) == {"blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b",
                        "blk.0.attn_v.weight.lora_a", "blk.0.attn_v.weight.lora_b"}
    assert np.array_equal(out["blk.0.attn_q.weight.lora_b"], permute_rows(b, 2))
    assert np.array_equal(out["blk.0.attn_v.weight.lora_b"], b)
    assert np.array_equal(out["blk.0.attn_q.weight.lora_a"], a)
    plain = gguf_tensors(result({f"{PREFIX}.q_proj.lora_A.weight": a, f"{PREFIX}.q_proj.lora_B.weight": b}), INFO,
                         permute=False)
    assert np.array_equal(plain["blk.0.attn_q.weight.lora_b"], b)


@pytest.mark.parametrize(("lora", "message"), [
    ({}, "no tensors"),
    ({f"{PREFIX}.q_proj.lora_A.weight": np.ones((2, 8))}, "must both be present"),
    ({"something.else": np.ones((2, 2))}, "unexpected LoRA tensor"),
    ({f"{PREFIX}.q_proj.lora_A.weight": np.ones((3, 8)), f"{PREFIX}.q_proj.lora_B.weight": np.ones((8, 3))},
     "do not match rank"),
])
def test_converter_rejects_bad_input(lora: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        gguf_tensors(result(lora), INFO)


def test_labels_mask_the_prompt_and_truncate_the_answer() -> None:
    ids, labels = mask_labels([1, 2, 3], [7, 8, 9, 10], max_tokens=6)
    assert ids == [1, 2, 3, 7, 8, 9] and labels == [-100, -100, -100, 7, 8, 9]
    ids, labels = mask_labels(list(range(20)), [99], max_tokens=16)  # a huge prompt keeps its end
    assert ids[-1] == 99 and labels.count(-100) == len(ids) - 1 and ids[-2] == 19


def test_prompt_is_smollm2_chatml() -> None:
    text = chat_prompt(ChatSample("Q?", "A.", system="S"))
    assert text == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n"
    assert "SmolLM" in chat_prompt(ChatSample("Q?", "A."))  # the template's default system turn


@pytest.mark.parametrize("bad", [{"lr": 0.0}, {"rank": 0}, {"max_steps": 0}, {"target_modules": ("lm_head",)},
                                 {"dropout": 1.0}, {"max_tokens": 4}])
def test_settings_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="training settings"):
        TrainSettings(**bad)  # type: ignore[arg-type]


def test_train_refuses_an_empty_buffer(tmp_path: Path) -> None:
    from core.lora_train import train_lora

    with pytest.raises(InvalidInput, match="empty"):
        train_lora(tmp_path / "none.gguf", [], TrainSettings())
