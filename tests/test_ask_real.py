"""Ask with the real bundled model and the real embedder: citations on demo facts, and no network.

Kept short: a slice of the demo corpus, greedy decoding, few tokens."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.memdeck import Memdeck

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = {
    "Who is in charge of the contract with our lidar vendor?": "vendor.lidar.contract-owner",
    "How many hours can a Picker 3 work before it needs recharging?": "product.picker-3.battery-life",
}


def demo_slice(n: int = 60) -> list[dict[str, Any]]:
    """The first ``n`` demo items plus every item a test question expects (order kept, so ids are stable)."""
    rows = [json.loads(line) for line in (ROOT / "data/demo/items.jsonl").read_text().splitlines() if line]
    wanted = set(QUESTIONS.values())
    return [r for i, r in enumerate(rows) if i < n or r["key"] in wanted]


@pytest.fixture(scope="module")
def real_core(tmp_path_factory: pytest.TempPathFactory, real_embedder: Any) -> Iterator[Memdeck]:
    md = Memdeck.open(tmp_path_factory.mktemp("ask-real") / "data", embedder=real_embedder)
    md.put_many(demo_slice())
    md.config_set("llm.temperature", "0")
    md.config_set("llm.max_tokens", "48")
    yield md
    md.close()


@pytest.mark.parametrize("question", sorted(QUESTIONS))
def test_an_answer_about_a_demo_fact_cites_the_right_item(real_core: Memdeck, question: str) -> None:
    r = real_core.ask(question, use_cache=False)
    assert r.answer_mode == "memory" and r.fallback is None, r
    assert r.model == "smollm2-135m-instruct" and r.completion_tokens > 0
    assert QUESTIONS[question] in [c["key"] for c in r.citations], (r.answer, r.citations)
    ep = real_core.episode(r.episode_id)
    assert QUESTIONS[question] in [i["key"] for i in ep["items"] if i["cited"]]


def test_streaming_pieces_add_up_to_the_answer(real_core: Memdeck) -> None:
    pieces: list[str] = []
    r = real_core.ask("Who owns the lidar supply contract?", on_token=pieces.append, use_cache=False)
    assert len(pieces) > 1 and "".join(pieces).strip() == r.answer


GUARD = textwrap.dedent("""
    import socket, sys
    attempts = []
    _real_socket = socket.socket

    class GuardedSocket(_real_socket):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            fam = socket.AF_INET if family == -1 else family
            if fam in (socket.AF_INET, socket.AF_INET6):
                attempts.append(("socket", fam))
                raise OSError("network disabled by the test")
            super().__init__(family, type, proto, fileno)

    def refuse(name):
        def f(*args, **kwargs):
            attempts.append((name, args[:2]))
            raise OSError("network disabled by the test")
        return f

    socket.socket = GuardedSocket
    socket.create_connection = refuse("create_connection")
    socket.getaddrinfo = refuse("getaddrinfo")
""")

WORK = textwrap.dedent("""
    from pathlib import Path
    from core.embed import Embedder
    from core.memdeck import Memdeck
    data, onnx, doc = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    emb = Embedder(None, onnx, bulk_backend="onnx", query_backend="onnx")
    with Memdeck.open(data, embedder=emb) as md:
        md.config_set("llm.max_tokens", "8")
        report = md.ingest([doc], collection="docs")
        assert report.as_dict()["files_ok"] == 1, report.as_dict()
        hits = md.search("charging dock reset").hits
        r = md.ask("How do I reset a charging dock?", use_cache=False)
    print("RESULT", len(hits), r.answer_mode, r.completion_tokens, len(attempts))
    print("ATTEMPTS", attempts)
""")


def test_no_network_socket_during_ingest_search_and_ask(tmp_path: Path, real_embedder: Any,
                                                        shared_cache: Path) -> None:
    """In a fresh interpreter, so lazy imports (onnxruntime, llama_cpp) happen under the guard too."""
    real_embedder.embed(["warm the shared ONNX export"], purpose="query")  # the export itself is not under test
    doc = tmp_path / "dock.md"
    doc.write_text("# Dock reset\n\nTo reset a charging dock hold the service button for ten seconds.\n")
    script = tmp_path / "guarded.py"
    script.write_text(GUARD + WORK)
    env_path = f"{ROOT}:{ROOT / 'tests'}"
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "data"), str(shared_cache / "onnx"), str(doc)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT")).split()
    attempts = next(line for line in proc.stdout.splitlines() if line.startswith("ATTEMPTS"))
    assert int(result[1]) >= 1 and result[2] == "memory" and int(result[3]) >= 1
    assert result[4] == "0", attempts
