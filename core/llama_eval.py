"""llama.cpp with an optional LoRA adapter, for the canary gate: answer NLL and greedy chat.

Its own small model instance (the bundled 135M model is ~100 MB), separate from the one answering
questions, with per-token logits on so an answer's NLL is one evaluation. The adapter is attached
with the same code the answering model uses (``core.llm.LlamaRuntime.set_adapter``), so what the gate
measures is what Ask will run. Prompts come from ``core.lora_train.chat_prompt``: the same text the
adapter was trained on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.llm import LlamaRuntime, ModelInfo
from core.lora_train import ChatSample, chat_completion, chat_prompt


class LlamaEvaluator:
    def __init__(self, model_path: Path, *, adapter: Path | None = None, threads: int = 2, n_ctx: int = 1024) -> None:
        info = ModelInfo(name=model_path.stem, path=model_path, size_bytes=model_path.stat().st_size,
                         source="folder")
        self.runtime = LlamaRuntime(info, n_ctx=n_ctx, threads=threads, logits_all=True)
        self.n_ctx = n_ctx
        if adapter is not None:
            try:
                self.runtime.set_adapter(adapter)
            except BaseException:
                self.runtime.close()
                raise

    @property
    def _llm(self) -> Any:
        return self.runtime._llm

    def _tokens(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def token_nlls(self, sample: ChatSample) -> list[float]:
        """NLL of each answer token (and the end of turn) given the prompt."""
        prompt = self._tokens(chat_prompt(sample))
        full = self._tokens(chat_prompt(sample) + chat_completion(sample))[: self.n_ctx]
        start = len(prompt)
        if full[:start] != prompt:  # a merge across the boundary: find the first differing token
            start = next((i for i, (a, b) in enumerate(zip(full, prompt, strict=False)) if a != b), len(prompt))
        llm = self._llm
        llm.reset()
        llm.eval(full)
        scores = np.asarray(llm.scores[: len(full)], dtype=np.float64)
        out = []
        for i in range(max(start, 1), len(full)):
            row = scores[i - 1]
            top = row.max()
            logz = top + math.log(float(np.exp(row - top).sum()))
            out.append(float(logz - row[full[i]]))
        return out

    def answer_nll(self, samples: Sequence[ChatSample]) -> float:
        """Mean NLL per answer token over ``samples`` (token-weighted)."""
        values = [v for s in samples for v in self.token_nlls(s)]
        return float(sum(values) / len(values)) if values else float("nan")

    def chat(self, messages: list[dict[str, str]], max_tokens: int = 64) -> str:
        """Greedy, seeded chat completion with the GGUF's own template."""
        self._llm.reset()
        return self.runtime.generate(messages, max_tokens=max_tokens, temperature=0.0).text

    def close(self) -> None:
        self.runtime.close()
