"""The CLI twins of Ask and Episodes, in-process, with the fake embedder and a fake model runtime."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import WordHashEmbedder, fake_loader
from test_cli import Cli

LEEDS = "The Leeds office is on Wellington Street and opens at eight."


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MEMDECK__"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("MEMDECK_HOME", raising=False)
    monkeypatch.setattr("core.memdeck.Embedder", lambda *a, **k: WordHashEmbedder())
    monkeypatch.setattr("core.llm.load_llama", fake_loader(reply="It opens at eight [1]."))


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    c = Cli(tmp_path / "data", capsys)
    assert c("put", "facts", "office.leeds", LEEDS).code == 0
    return c


def test_ask_prints_answer_citations_and_timings(cli: Cli) -> None:
    run = cli("ask", "When does the Leeds office open?")
    assert run.code == 0, run.err
    assert "It opens at eight [1]." in run.out and "[1] facts/office.leeds v1" in run.out
    assert "generate" in run.out and "episode 1" in run.out
    data = cli("ask", "When does the Leeds office open?", "--json").json()
    assert data["answer_mode"] == "memory" and data["citations"][0]["key"] == "office.leeds"
    assert data["episode_id"] == 2


def test_models_list_load_unload_and_the_fallback(cli: Cli) -> None:
    rows = cli("models", "list", "--json").json()
    assert any(r["name"] == "smollm2-135m-instruct" and r["selected"] for r in rows)
    assert cli("models", "unload").code == 0
    out = cli("ask", "When does the Leeds office open?", "--json").json()
    assert out["answer_mode"] == "retrieval-only" and "Wellington Street" in out["answer"]
    missing = cli("models", "load", "no-such-model")
    assert missing.code == 4 and "no model named 'no-such-model'" in missing.err
    assert cli("models", "load", "smollm2-135m-instruct").code == 0
    assert cli("ask", "When does the Leeds office open?", "--json").json()["answer_mode"] == "memory"


def test_episodes_feedback_report_and_as_of(cli: Cli, tmp_path: Path) -> None:
    first = cli("ask", "When does the Leeds office open?", "--session", "s1", "--json").json()
    assert cli("feedback", str(first["episode_id"]), "up", "--comment", "right").code == 0
    shown = cli("episodes", "show", str(first["episode_id"]))
    assert "thumbs up" in shown.out and "facts/office.leeds" in shown.out and "comment: right" in shown.out
    assert cli("episodes", "recent", "--json").json()[0]["id"] == first["episode_id"]
    assert cli("episodes", "sessions", "--json").json()[0]["session"] == "s1"
    assert cli("episodes", "for-item", "facts", "office.leeds", "--json").json()[0]["episode_id"] == 1
    report = cli("report", "--days", "2", "--json").json()
    assert report["totals"]["queries"] == 1 and report["totals"]["satisfaction"] == 1.0
    assert "total" in cli("report").out
    assert cli("episodes", "summarize", "--session", "s1", "--extractive", "--json").json()["method"] == "extractive"
    assert cli("put", "facts", "office.leeds", "Opens at nine now.").code == 0
    then = cli("get", "facts", "office.leeds", "--as-of", "2000-01-01")
    assert then.code == 3 and "did not exist yet" in then.err
    now = cli("get", "facts", "office.leeds", "--as-of", "2999-01-01", "--json").json()
    assert now["version"] == 2 and now["current_version"] == 2
    log = tmp_path / "chat.jsonl"
    log.write_text('{"role": "user", "content": "hi", "time": "2026-11-01T09:00:00Z"}\n'
                   '{"role": "assistant", "content": "hello", "time": "2026-11-01T09:00:01Z"}\n')
    assert cli("episodes", "import", str(log), "--json").json()["episodes"] == 1
    bad = cli("feedback", "999", "up")
    assert bad.code == 3


def test_bad_input_is_a_clear_error(cli: Cli) -> None:
    run = cli("ask", "   ")
    assert run.code == 2 and "empty" in run.err
    assert cli("report", "--days", "0").code == 2
