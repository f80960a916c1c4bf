"""Test doubles shared by tests and by the crash-test child process."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

_WORD = re.compile(r"\w+")


class WordHashEmbedder:
    """A deterministic bag-of-words embedder: texts sharing words get similar vectors.

    Fast and model-free, so most tests do not pay for torch; tests about semantic quality use the
    real MiniLM embedder instead."""

    def __init__(self, dim: int = 384, name: str = "wordhash") -> None:
        self.dim = dim
        self.name = name
        self.fingerprint = f"{name}:{dim}:test"
        self.calls = 0
        self.texts_embedded = 0

    def embed(self, texts: Sequence[str], purpose: str = "bulk") -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()) or ["<empty>"]:
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 40) & 1 else -1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out

    def status(self) -> dict[str, Any]:
        return {"model": self.name, "fingerprint": self.fingerprint, "dim": self.dim, "backends": {}}


class FakeRuntime:
    """A model-free ``core.llm.Runtime``: streams ``reply`` word by word.

    ``reply`` is a string or a function of the messages; the first ``fail_times`` calls raise
    ``RuntimeError`` (for retry tests); ``token_delay`` seconds pass between pieces (for cancellation
    tests). ``active``/``max_active`` count overlapping ``generate`` calls, so a test can prove the
    manager's lock serialises them; ``calls``, ``last_messages`` and ``closed`` are there to assert on."""

    def __init__(self, reply: Any = "This is a fake answer.", fail_times: int = 0, token_delay: float = 0.0,
                 name: str = "fake", path: Any = None) -> None:
        from pathlib import Path

        self.reply = reply
        self.fail_times = fail_times
        self.token_delay = token_delay
        self.name = name
        self.path = Path(path) if path is not None else Path(f"{name}.gguf")
        self.adapter: Any = None
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self.last_messages: list[dict[str, str]] = []
        self.last_stop: list[str] = []
        self.closed = False

    def generate(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float,
                 on_token: Any = None, cancel: Any = None, stop: Any = ()) -> Any:
        import time

        from core.llm import GenResult

        self.calls += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.closed:
                raise RuntimeError(f"fake model {self.name} was closed")
            if self.calls <= self.fail_times:
                raise RuntimeError(f"fake failure {self.calls} of {self.fail_times}")
            self.last_messages = [dict(m) for m in messages]
            self.last_stop = list(stop or ())
            text = self.reply(messages) if callable(self.reply) else str(self.reply)
            for marker in stop or ():  # like llama.cpp: the answer ends before a stop string
                text = text.split(marker, 1)[0]
            pieces = re.findall(r"\s*\S+", text)
            start = time.perf_counter()
            out: list[str] = []
            ttft = 0.0
            finish = "stop"
            for i, piece in enumerate(pieces):
                if i >= max_tokens:
                    finish = "length"
                    break
                if cancel is not None and cancel():
                    finish = "cancelled"
                    break
                if self.token_delay and i:
                    time.sleep(self.token_delay)
                if not out:
                    ttft = (time.perf_counter() - start) * 1000
                out.append(piece)
                if on_token is not None:
                    on_token(piece)
            if finish == "stop" and cancel is not None and out and cancel():
                finish = "cancelled"
            prompt_tokens = sum(len(m.get("content", "").split()) for m in messages)
            return GenResult(text="".join(out), prompt_tokens=prompt_tokens, completion_tokens=len(out),
                             ttft_ms=ttft, total_ms=(time.perf_counter() - start) * 1000, finish=finish)
        finally:
            self.active -= 1

    def set_adapter(self, path: Any) -> None:
        from pathlib import Path

        self.adapter = Path(path) if path is not None else None

    def close(self) -> None:
        self.closed = True


def fake_loader(**kwargs: Any) -> Any:
    """A ``ModelManager`` loader that builds a ``FakeRuntime(**kwargs)`` named after the model.

    Every runtime it built is kept in ``loader.runtimes`` (newest last) so tests can inspect it."""
    runtimes: list[FakeRuntime] = []

    def load(info: Any, n_ctx: int, threads: int) -> FakeRuntime:
        options = {"name": info.name, "path": info.path, **kwargs}
        runtime = FakeRuntime(**options)
        runtimes.append(runtime)
        return runtime

    load.runtimes = runtimes  # type: ignore[attr-defined]
    return load
