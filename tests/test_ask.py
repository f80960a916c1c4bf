"""The query engine through the facade with a fake runtime: grounding, citations, cache, retries,
fallbacks, cancellation, timeouts, expansion, episodes, feedback, reports and as-of reads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder, fake_loader

from core.errors import InvalidInput, ModelUnavailable, NotFound
from core.memdeck import Memdeck
from core.rag import Memory, build_messages, entity_slugs, find_citations, relevant_hits

FACTS = [
    ("facts", "people.maya-okafor.role", "Maya Okafor is the Chief Executive Officer of Larkspur Robotics."),
    ("facts", "office.leeds", "The Leeds office is on Wellington Street and opens at eight."),
    ("facts", "battery.picker3", "Picker 3 battery life is ten hours on a full charge."),
    ("docs", "runbook/dock#1", "To reset a charging dock hold the service button for ten seconds."),
    ("meetings", "2026-11-02-board", "The board met and Maya Okafor approved the Leeds expansion budget."),
]


def open_core(data_dir: Path, **fake: Any) -> Memdeck:
    loader = fake_loader(**fake)
    md = Memdeck.open(data_dir, embedder=WordHashEmbedder(), llm_loader=loader)
    md._test_loader = loader  # type: ignore[attr-defined]
    return md


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Memdeck]:
    md = open_core(tmp_path / "data", reply="The Leeds office opens at eight [2].")
    md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
    yield md
    md.close()


def runtime(md: Memdeck) -> Any:
    return md._test_loader.runtimes[-1]  # type: ignore[attr-defined]


def test_answer_is_grounded_cited_and_stored_as_an_episode(core: Memdeck) -> None:
    pieces: list[str] = []
    r = core.ask("When does the Leeds office open?", on_token=pieces.append)
    assert r.answer_mode == "memory" and r.fallback is None and r.error is None
    assert "".join(pieces).strip() == r.answer == "The Leeds office opens at eight [2]."
    prompt = runtime(core).last_messages[-1]["content"]
    assert "Wellington Street" in prompt and "When does the Leeds office open?" in prompt
    numbered = {c["n"]: c["key"] for c in r.retrieved}
    assert [c["key"] for c in r.citations] == [numbered[2]]
    assert set(r.timings) >= {"embed", "retrieve", "prompt", "generate", "total"}
    assert r.timings["total"] >= r.timings["generate"]
    ep = core.episode(r.episode_id)
    assert ep["question"] == "When does the Leeds office open?" and ep["answer"] == r.answer
    assert ep["session"] == r.session and ep["model"] == "smollm2-135m-instruct"
    assert {i["key"] for i in ep["items"]} == {c["key"] for c in r.retrieved}
    assert [i["key"] for i in ep["items"] if i["cited"]] == [numbered[2]]


def test_citations_fall_back_to_word_overlap_when_the_model_forgets_markers(tmp_path: Path) -> None:
    md = open_core(tmp_path / "d", reply="Picker 3 battery life is ten hours on a full charge.")
    with md:
        md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
        r = md.ask("How long does the Picker 3 battery last?")
        assert [c["key"] for c in r.citations] == ["battery.picker3"]


def test_cache_hits_until_memory_changes(core: Memdeck) -> None:
    first = core.ask("When does the Leeds office open?")
    second = core.ask("  when does the LEEDS office open? ")
    assert not first.cache_hit and second.cache_hit and second.answer == first.answer
    assert runtime(core).calls == 1
    assert second.episode_id != first.episode_id and core.episode(second.episode_id)["cache_hit"]
    core.put("facts", "office.leeds", "The Leeds office is on Wellington Street and opens at nine.")
    third = core.ask("When does the Leeds office open?")
    assert not third.cache_hit and runtime(core).calls == 2
    assert core.model_stats()["cache"]["hits"] == 1
    assert not core.ask("When does the Leeds office open?", use_cache=False).cache_hit


def test_generation_errors_are_retried_then_fall_back_to_quoted_memories(tmp_path: Path) -> None:
    md = open_core(tmp_path / "a", reply="Eight [1].", fail_times=2)
    with md:
        md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
        ok = md.ask("When does the Leeds office open?")
        assert ok.answer_mode == "memory" and runtime(md).calls == 3
    md = open_core(tmp_path / "b", reply="never", fail_times=10)
    with md:
        md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
        r = md.ask("When does the Leeds office open?")
        assert r.answer_mode == "retrieval-only" and "3 attempt(s)" in (r.fallback or "")
        assert "Wellington Street" in r.answer and r.answer.startswith("No model answer")
        assert r.citations and r.citations[0]["key"] == "office.leeds"
        assert md.episode(r.episode_id)["fallback"] == r.fallback
        assert not md.ask("When does the Leeds office open?").cache_hit  # fallbacks are not cached


def test_missing_model_and_unload_give_retrieval_only_answers(tmp_path: Path) -> None:
    with Memdeck.open(tmp_path / "d", embedder=WordHashEmbedder()) as md:
        md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
        md.config_set("llm.model", "no-such-model")
        r = md.ask("When does the Leeds office open?")
        assert r.answer_mode == "retrieval-only" and "no-such-model" in (r.fallback or "")
    md = open_core(tmp_path / "e", reply="Eight [1].")
    with md:
        md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
        md.model_unload()
        r = md.ask("When does the Leeds office open?")
        assert r.answer_mode == "retrieval-only" and "no model selected" in (r.fallback or "")
        assert md.model_load("smollm2-135m-instruct")["name"] == "smollm2-135m-instruct"
        assert md.ask("When does the Leeds office open?").answer_mode == "memory"
        actions = [e["action"] for e in md.audit_log(limit=20)]
        assert "model.load" in actions and "model.unload" in actions


def test_unrelated_question_is_answered_model_only(core: Memdeck) -> None:
    r = core.ask("xylophone quantum zebra?")
    assert r.answer_mode == "model-only" and r.retrieved == [] and r.citations == []
    assert "Memory has nothing" in runtime(core).last_messages[0]["content"]


def test_cancel_stops_within_a_token_and_keeps_the_partial_answer(tmp_path: Path) -> None:
    md = open_core(tmp_path / "d", reply=" ".join(["word"] * 200), token_delay=0.02)
    with md:
        md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
        stop = threading.Event()
        seen: list[str] = []

        def on_token(piece: str) -> None:
            seen.append(piece)
            if len(seen) == 3:
                stop.set()

        r = md.ask("When does the Leeds office open?", on_token=on_token, cancel=stop.is_set)
        assert r.error == "cancelled" and r.answer.split() == ["word"] * 3
        assert md.episode(r.episode_id)["error"] == "cancelled"


def test_a_hung_generation_is_stopped_by_the_timeout(tmp_path: Path) -> None:
    md = open_core(tmp_path / "d", reply=" ".join(["slow"] * 100), token_delay=0.1)
    with md:
        md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
        md.config_set("ask.timeout_s", "1")
        r = md.ask("When does the Leeds office open?")
        assert r.answer_mode == "retrieval-only" and "timed out after 1 s" in (r.fallback or "")
        assert r.timings["generate"] < 5000


def test_hits_are_expanded_with_what_they_mention(core: Memdeck) -> None:
    r = core.ask("Who approved the expansion budget at the board?")
    by_key = {c["key"]: c for c in r.retrieved}
    assert "meetings/2026-11-02-board" in {f"{c['collection']}/{c['key']}" for c in r.retrieved}
    assert "people.maya-okafor.role" in by_key
    assert "Chief Executive Officer" in runtime(core).last_messages[-1]["content"]


def test_bad_questions_and_sessions_are_refused(core: Memdeck) -> None:
    for bad in ("", "   ", "x" * 5000, 42):
        with pytest.raises(InvalidInput):
            core.ask(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        core.ask("ok?", session="bad\nsession")
    with pytest.raises(InvalidInput):
        core.ask("ok?", k=0)


def test_sessions_feedback_and_report(core: Memdeck) -> None:
    a = core.ask("When does the Leeds office open?", session="s1")
    b = core.ask("How long does the Picker 3 battery last?", session="s1")
    core.ask("How do I reset a dock?", session="s2")
    core.episode_feedback(a.episode_id, "up")
    core.episode_feedback(b.episode_id, "down", comment="wrong")
    core.episode_feedback(b.episode_id, "up")  # the latest rating counts
    with pytest.raises(InvalidInput):
        core.episode_feedback(a.episode_id, "sideways")
    with pytest.raises(NotFound):
        core.episode_feedback(99_999, "up")
    sessions = {s["session"]: s for s in core.episode_sessions()}
    assert sessions["s1"]["turns"] == 2 and sessions["s1"]["up"] == 2 and sessions["s2"]["turns"] == 1
    assert [e["id"] for e in core.episodes_recent(session="s1")] == [b.episode_id, a.episode_id]
    report = core.report(days=3)
    assert len(report["days"]) == 3 and report["totals"]["queries"] == 3
    assert report["totals"]["satisfaction"] == 1.0
    used = core.item_episodes("facts", "office.leeds")
    assert a.episode_id in {u["episode_id"] for u in used}
    assert "episode.feedback" in {e["action"] for e in core.audit_log(limit=50)}


def test_import_and_summarise_without_a_model(core: Memdeck, tmp_path: Path) -> None:
    log = tmp_path / "chat.jsonl"
    log.write_text(
        '{"role": "user", "content": "Where is the Leeds office?", "time": "2026-11-01T09:00:00Z"}\n'
        '{"role": "assistant", "content": "On Wellington Street.", "time": "2026-11-01T09:00:05Z"}\n'
        '{"role": "user", "content": "When does it open?", "time": "2026-11-01T09:01:00Z"}\n'
        '{"role": "assistant", "content": "At eight.", "time": "2026-11-01T09:01:03Z"}\n')
    out = core.episodes_import(log, session="imported")
    assert out["episodes"] == 2
    summary = core.episodes_summarize(session="imported", use_model=False)
    assert summary["method"] == "extractive" and "Leeds" in summary["summary"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"role": "user", "content": "hi", "time": 1700000000}\nnot json\n')
    with pytest.raises(InvalidInput, match="line 2"):
        core.episodes_import(bad)
    assert len(core.episodes_recent(session="imported")) == 2


def test_model_summary_uses_the_runtime(core: Memdeck) -> None:
    core.ask("When does the Leeds office open?", session="s")
    out = core.episodes_summarize(session="s")
    assert out["method"] == "model" and out["summary"] == "The Leeds office opens at eight [2]."


def test_as_of_reads_return_the_version_current_then(core: Memdeck) -> None:
    before = time.time()
    time.sleep(0.01)
    core.put("facts", "office.leeds", "The Leeds office is on Wellington Street and opens at nine.")
    old = core.get("facts", "office.leeds", as_of=before)
    assert old["version"] == 1 and "eight" in old["content"] and old["current_version"] == 2
    assert "nine" in core.get("facts", "office.leeds", as_of=time.time())["content"]
    with pytest.raises(NotFound, match="did not exist yet"):
        core.get("facts", "office.leeds", as_of=before - 3600)


def test_episode_keeps_the_version_it_used(core: Memdeck) -> None:
    r = core.ask("When does the Leeds office open?")
    core.put("facts", "office.leeds", "The Leeds office is on Wellington Street and opens at nine.")
    item = next(i for i in core.episode(r.episode_id)["items"] if i["key"] == "office.leeds")
    assert item["version"] == 1 and item["version_now"] == 2 and item["changed_since"]
    assert "eight" in item["content_then"]


def test_pure_helpers() -> None:
    assert entity_slugs(["Maya Okafor met João Ferreira and Maya Okafor."]) == ["maya-okafor", "joao-ferreira"]
    mems = [Memory(1, 10, "facts", "a", 1, "The sky is blue over Leeds today.", 0.1, "hit"),
            Memory(2, 11, "facts", "b", 1, "Grass is green in the park.", 0.1, "hit")]
    assert find_citations("It is blue [1] and green [2], see [9].", mems) == [1, 2]
    assert find_citations("Grass is green in the park.", mems) == [2]
    assert find_citations("I do not know.", mems) == []
    pilot = [Memory(1, 1, "facts", "x", 1, "The Hollin Foods pilot is a warehouse trial in Leeds.", 0.1, "hit"),
             Memory(2, 2, "facts", "y", 1, "The Hollin Foods pilot goes live on 2026-05-18.", 0.1, "hit")]
    assert find_citations("2026-05-18", pilot, "When does the Hollin Foods pilot go live?") == [2]
    assert find_citations("The Hollin Foods pilot.", pilot, "When does the Hollin Foods pilot go live?") == []
    messages, used = build_messages("Q?", mems, max_chars=100)
    assert len(used) == 2 and "[1] The sky" in messages[1]["content"]
    _, used = build_messages("Q?", mems, max_chars=45)
    assert len(used) == 1
    assert relevant_hits([], 0.3) == []


def test_an_invented_follow_up_question_is_cut_off(tmp_path: Path) -> None:
    md = open_core(tmp_path / "d", reply="It opens at eight [1].\nQuestion: and on Sundays?\nAnswer: closed")
    with md:
        md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
        r = md.ask("When does the Leeds office open?")
        assert r.answer == "It opens at eight [1]." and "\nQuestion:" in runtime(md).last_stop


def test_adapter_is_attached_kept_across_restarts_and_audited(tmp_path: Path) -> None:
    import struct

    adapter = tmp_path / "lora.gguf"
    adapter.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    md = open_core(tmp_path / "d", reply="Eight [1].")
    with md:
        md.put_many([{"collection": c, "key": k, "content": t} for c, k, t in FACTS])
        assert md.adapter_attach(adapter)["adapter"] == str(adapter.resolve())
        r = md.ask("When does the Leeds office open?")
        assert r.adapter == str(adapter.resolve()) and runtime(md).adapter == adapter.resolve()
        with pytest.raises(ModelUnavailable):
            md.adapter_attach(tmp_path / "missing.gguf")
        assert "model.adapter" in {e["action"] for e in md.audit_log(limit=20)}
    md = open_core(tmp_path / "d", reply="Eight [1].")
    with md:  # a new process: the adapter comes back with the model
        md.ask("When does the Leeds office open?", use_cache=False)
        assert runtime(md).adapter == adapter.resolve()
        md.adapter_attach(None)
        assert runtime(md).adapter is None and md.ask("Leeds office?").adapter is None


def test_purge_scrubs_answers_built_on_the_erased_item(core: Memdeck) -> None:
    used = core.ask("When does the Leeds office open?")
    cited = used.citations[0]
    other = core.ask("How do I reset a charging dock?")
    assert cited["key"] not in {c["key"] for c in other.citations}
    out = core.purge(cited["collection"], cited["key"], reason="erasure request")
    assert out["episodes_scrubbed"] == 1
    ep = core.episode(used.episode_id)
    assert ep["answer"].startswith(f"[answer removed: it used {cited['collection']}/{cited['key']}")
    assert cited["key"] not in {i["key"] for i in ep["items"]}
    assert core.episode(other.episode_id)["answer"] == other.answer
    assert not core.ask("When does the Leeds office open?").cache_hit


def test_throughput_is_read_from_the_episode_log(core: Memdeck) -> None:
    from core import episodes

    core.ask("When does the Leeds office open?")
    with core.db.write() as conn:  # one more answer with known timings: 11 tokens, 100 ms after the first token
        episodes.record(conn, episodes.EpisodeRecord(
            "s", "ask", 1.0, 2.0, "q", "a", "memory", "smollm2-135m-instruct", None,
            {"generate": 300.0, "first_token": 200.0, "total": 310.0}, 50, 11, False, None, None, "t", []))
    stats = {m["name"]: m["stats"] for m in core.models()}["smollm2-135m-instruct"]
    assert stats["answers"] == 2 and stats["tokens_per_s"] is not None
    rates = episodes.model_throughput
    with core.db.read() as conn:
        assert rates(conn, window=1)["smollm2-135m-instruct"]["tokens_per_s"] == 100.0
