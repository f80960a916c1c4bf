from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from helpers import WordHashEmbedder  # noqa: E402

from core.memdeck import Memdeck  # noqa: E402


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def md(data_dir: Path) -> Iterator[Memdeck]:
    """A Memdeck on a fresh data dir with the fast deterministic embedder."""
    with Memdeck.open(data_dir, embedder=WordHashEmbedder()) as m:
        yield m


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export / fingerprint cache for the whole session (the export costs seconds)."""
    return tmp_path_factory.mktemp("embed-cache")


@pytest.fixture(scope="session")
def real_embedder(shared_cache: Path):  # type: ignore[no-untyped-def]
    """The bundled all-MiniLM-L6-v2, ONNX backend for queries and bulk (no torch unless exporting)."""
    from core.embed import Embedder

    emb = Embedder(None, shared_cache / "onnx", bulk_backend="onnx", query_backend="onnx")
    return emb
