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
