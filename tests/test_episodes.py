"""Episode log: record/get with versions then and now, filters, sessions, feedback, the daily report,
chat import (parse errors by line, all-or-nothing), summaries, as-of reads, and backups."""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder

from core import episodes as ep
from core.errors import InvalidInput, NotFound
from core.memdeck import Memdeck
from core.store import version_as_of

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC).timestamp()  # a Monday noon, UTC
DAY = 86_400.0


def rec(question: str = "what is alpha?", *, at: float = T0, session: str = "s1", kind: str = "ask",
        mode: str = "memory", total: float | None = 100.0, items: list[ep.EpisodeItem] | None = None,
        cache_hit: bool = False, fallback: str | None = None, error: str | None = None,
        answer: str = "alpha is the first letter.") -> ep.EpisodeRecord:
    return ep.EpisodeRecord(
        session=session, kind=kind, started_at=at, finished_at=at + 1, question=question, answer=answer,
        answer_mode=mode, model="fake", adapter=None, timings={} if total is None else {"total": total, "embed": 1.5},
        prompt_tokens=10, completion_tokens=5, cache_hit=cache_hit, fallback=fallback, error=error,
        actor="tester", items=items or [])


def add(md: Memdeck, *recs: ep.EpisodeRecord) -> list[int]:
    with md.db.write() as conn:
        return ep.record_many(conn, list(recs))


def rate(md: Memdeck, episode_id: int, rating: int, comment: str = "", at: float = T0) -> dict[str, Any]:
    with md.db.write() as conn:
        return ep.add_feedback(conn, episode_id, rating, comment, "tester", at)


def count(md: Memdeck, table: str) -> int:
    with md.db.read() as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# ---------------------------------------------------------------------------- record, get, for_item
def test_record_get_round_trip_keeps_version_then_and_shows_now(md: Memdeck) -> None:
    a = md.put("notes", "a", "alpha was first written here")
    b = md.put("notes", "b", "beta stays the same")
    (eid,) = add(md, rec(items=[ep.EpisodeItem(b.item_id, b.version, 2, 0.5, False),
                                ep.EpisodeItem(a.item_id, a.version, 1, 0.9, True)], cache_hit=True))
    md.put("notes", "a", "alpha was rewritten later")
    with md.db.read() as conn:
        got = ep.get(conn, eid)
    assert got["question"] == "what is alpha?" and got["kind"] == "ask" and got["answer_mode"] == "memory"
    assert got["timings"] == {"total": 100.0, "embed": 1.5} and got["cache_hit"] is True
    assert got["rating"] is None and got["n_items"] == 2 and got["session"] == "s1"
    first, second = got["items"]
    assert (first["collection"], first["key"], first["rank"], first["cited"]) == ("notes", "a", 1, True)
    assert first["version"] == 1 and first["content_then"] == "alpha was first written here"
    assert first["version_now"] == 2 and first["status_now"] == "active" and first["changed_since"] is True
    assert first["content_now"] == "alpha was rewritten later" and first["content_changed"] is True
    assert second["key"] == "b" and second["changed_since"] is False and second["cited"] is False
    md.delete("notes", "b")
    with md.db.read() as conn:
        gone = ep.get(conn, eid)["items"][1]
        assert gone["status_now"] == "deleted" and gone["changed_since"] is True
        with pytest.raises(NotFound):
            ep.get(conn, eid + 100)


def test_for_item_lists_episodes_and_the_version_each_used(md: Memdeck) -> None:
    a = md.put("notes", "a", "alpha one")
    e1, = add(md, rec("first?", at=T0, items=[ep.EpisodeItem(a.item_id, 1, 1, 0.8, True)]))
    a2 = md.put("notes", "a", "alpha two")
    e2, e3 = add(md, rec("second?", at=T0 + 60, session="s2", items=[ep.EpisodeItem(a2.item_id, 2, 3, 0.4, False)]),
                 rec("unrelated?", at=T0 + 120))
    other = md.put("notes", "z", "zeta never used")
    with md.db.read() as conn:
        used = ep.for_item(conn, a.item_id)
        assert [(u["episode_id"], u["version"], u["cited"], u["rank"]) for u in used] == [(e2, 2, False, 3),
                                                                                      (e1, 1, True, 1)]
        assert used[0]["session"] == "s2" and used[1]["question"] == "first?"
        assert ep.for_item(conn, other.item_id) == []
        assert [i["item_id"] for i in ep.get(conn, e1)["items"]] == [a.item_id]  # and the other way round
        assert ep.get(conn, e3)["items"] == []


# ---------------------------------------------------------------------------- recent, between, sessions
@pytest.fixture
def log(md: Memdeck) -> dict[str, int]:
    """Five episodes in two sessions, one minute apart, with ratings: e0 up, e1 down then up, e3 down."""
    ids = add(md, rec("q0", at=T0), rec("q1", at=T0 + 60), rec("q2", at=T0 + 120, session="s2"),
              rec("q3", at=T0 + 180, session="s2"), rec("q4", at=T0 + 240))
    rate(md, ids[0], 1)
    rate(md, ids[1], -1, "wrong")
    rate(md, ids[1], 1, "fixed now")
    rate(md, ids[3], -1)
    return {f"e{i}": eid for i, eid in enumerate(ids)}


def test_recent_is_newest_first_and_filters(md: Memdeck, log: dict[str, int]) -> None:
    with md.db.read() as conn:
        rows = ep.recent(conn)
        assert [r["question"] for r in rows] == ["q4", "q3", "q2", "q1", "q0"]
        assert rows[3]["rating"] == 1 and rows[3]["comment"] == "fixed now" and rows[0]["rating"] is None
        assert "items" not in rows[0] and rows[0]["n_items"] == 0
        assert [r["question"] for r in ep.recent(conn, 2)] == ["q4", "q3"]
        assert [r["question"] for r in ep.recent(conn, session="s2")] == ["q3", "q2"]
        assert [r["question"] for r in ep.recent(conn, rating="up")] == ["q1", "q0"]
        assert [r["question"] for r in ep.recent(conn, rating="down")] == ["q3"]
        assert [r["question"] for r in ep.recent(conn, rating="unrated")] == ["q4", "q2"]
        assert [r["question"] for r in ep.recent(conn, since=T0 + 60, until=T0 + 180)] == ["q2", "q1"]
        assert [r["question"] for r in ep.between(conn, T0 + 60, T0 + 180)] == ["q1", "q2"]  # oldest first
        assert ep.recent(conn, session="nope") == []
        with pytest.raises(InvalidInput, match="rating filter"):
            ep.recent(conn, rating="meh")
        with pytest.raises(InvalidInput):
            ep.recent(conn, 0)


def test_sessions_summarise_turns_ratings_and_last_question(md: Memdeck, log: dict[str, int]) -> None:
    add(md, rec("old s2", at=T0 - DAY, session="s2"))
    with md.db.read() as conn:
        rows = ep.sessions(conn, since=T0)
        assert [(r["session"], r["turns"], r["up"], r["down"], r["last_question"]) for r in rows] == [
            ("s1", 3, 2, 0, "q4"), ("s2", 2, 0, 1, "q3")]
        assert (rows[0]["first_at"], rows[0]["last_at"]) == (T0, T0 + 240)
        assert [r["session"] for r in ep.sessions(conn, since=T0, rating="down")] == ["s2"]
        assert [r["session"] for r in ep.sessions(conn, rating="unrated")] == ["s1", "s2"]
        assert ep.sessions(conn)[1]["turns"] == 3 and ep.sessions(conn)[1]["first_at"] == T0 - DAY
        assert ep.sessions(conn, until=T0)[0]["last_question"] == "old s2"


# ---------------------------------------------------------------------------- feedback, satisfaction
def test_feedback_latest_wins_and_is_validated(md: Memdeck) -> None:
    (eid,) = add(md, rec())
    first = rate(md, eid, 1, "great")
    assert first["episode_id"] == eid and first["rating"] == 1 and first["actor"] == "tester"
    rate(md, eid, -1, "x" * 2000, at=T0 + 5)
    with md.db.read() as conn:
        got = ep.get(conn, eid)
    assert got["rating"] == -1 and got["comment"] == "x" * 2000
    assert count(md, "feedback") == 2  # history kept
    for bad in (0, 2, True, "1"):
        with pytest.raises(InvalidInput, match="rating"):
            rate(md, eid, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="2,001 characters"):
        rate(md, eid, 1, "x" * 2001)
    with pytest.raises(NotFound):
        rate(md, eid + 1, 1)
    assert count(md, "feedback") == 2


def test_satisfaction_counts_latest_ratings_in_window(md: Memdeck, log: dict[str, int]) -> None:
    with md.db.read() as conn:
        assert ep.satisfaction(conn, None, None) == {"up": 2, "down": 1, "rated": 3, "rate": 2 / 3}
        assert ep.satisfaction(conn, T0 + 60, T0 + 120) == {"up": 1, "down": 0, "rated": 1, "rate": 1.0}
        assert ep.satisfaction(conn, T0 + 240, None)["rate"] is None


# ---------------------------------------------------------------------------- daily report
def test_daily_report_zero_fills_days_and_computes_p95_and_rates(md: Memdeck) -> None:
    a = md.put("notes", "a", "alpha")
    hit = [ep.EpisodeItem(a.item_id, 1, 1, 0.9, True)]
    today = [rec(f"t{i}", at=T0 + i, total=float(10 * (i + 1)), items=hit if i < 15 else None,
                 cache_hit=i < 4, fallback="model unavailable" if i == 0 else None,
                 mode="retrieval-only" if i == 0 else ("model-only" if i >= 15 else "memory"))
             for i in range(20)]
    two_days_ago = [rec("old ok", at=T0 - 2 * DAY), rec("old err", at=T0 - 2 * DAY + 5, total=None, mode="error",
                                                        error="boom")]
    outside = [rec("too old", at=T0 - 3 * DAY), rec("imported", at=T0, kind="import", mode="model-only")]
    ids = add(md, *today, *two_days_ago, *outside)
    rate(md, ids[0], 1)
    rate(md, ids[1], -1)
    rate(md, ids[20], 1)
    rate(md, ids[22], -1)  # outside the window: not counted
    with md.db.read() as conn:
        report = ep.daily_report(conn, 3, T0 + 3600)
    days = report["days"]
    assert [d["date"] for d in days] == ["2025-03-08", "2025-03-09", "2025-03-10"]
    empty = days[1]
    assert empty["queries"] == 0 and empty["avg_ms"] == 0.0 and empty["p95_ms"] == 0.0
    assert empty["mix"] == {"memory": 0, "model-only": 0, "retrieval-only": 0, "error": 0}
    assert empty["satisfaction"] is None and empty["up"] == empty["down"] == 0
    d = days[2]
    assert d["queries"] == 20  # the imported turn is not a query
    assert d["avg_ms"] == pytest.approx(105.0) and d["p95_ms"] == 190.0  # nearest rank: 19th of 20
    assert d["retrieval_hit_rate"] == 0.75 and d["cache_hit_rate"] == 0.2
    assert d["fallback_rate"] == 0.05 and d["error_rate"] == 0.0
    assert d["mix"] == {"memory": 14, "model-only": 5, "retrieval-only": 1, "error": 0}
    assert (d["up"], d["down"], d["satisfaction"]) == (1, 1, 0.5)
    old = days[0]
    assert old["queries"] == 2 and old["error_rate"] == 0.5 and old["avg_ms"] == 100.0
    assert old["mix"]["error"] == 1 and old["satisfaction"] == 1.0
    totals = report["totals"]
    assert totals["queries"] == 22 and totals["up"] == 2 and totals["down"] == 1
    assert totals["error_rate"] == pytest.approx(1 / 22)
    assert report["since"] == T0 - 12 * 3600 - 2 * DAY and report["until"] == T0 + 12 * 3600
    with md.db.read() as conn, pytest.raises(InvalidInput):
        ep.daily_report(conn, 0, T0)


def test_percentile_is_nearest_rank() -> None:
    assert ep.percentile([], 95) == 0.0
    assert ep.percentile([5.0], 95) == 5.0
    assert ep.percentile([float(v) for v in range(1, 101)], 95) == 95.0


# ---------------------------------------------------------------------------- chat import
def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


GOOD = [
    {"role": "system", "content": "You are helpful.", "time": "2025-03-10T09:00:00Z"},
    {"role": "assistant", "content": "Hello! Ask me anything.", "time": "2025-03-10T09:00:01Z"},
    {"role": "user", "content": "Where is the backup kept?", "time": "2025-03-10T09:01:00Z"},
    {"role": "assistant", "content": "In the backups folder.", "time": "2025-03-10T09:01:05Z"},
    {"role": "assistant", "content": "It rotates weekly.", "time": 1741597270},
    {"role": "user", "content": "And the restore?"},
    {"role": "assistant", "content": "Use memdeck restore.", "time": "2025-03-10T09:03:00+00:00"},
    {"role": "user", "content": "Thanks, one more thing", "time": "2025-03-10T09:04:00"},
]


def test_parse_and_pair_a_chat_log(tmp_path: Path) -> None:
    turns = ep.parse_chat_jsonl(write_lines(tmp_path / "chat.jsonl", GOOD))
    assert [t["line"] for t in turns] == list(range(1, 9))
    assert turns[5]["time"] == turns[4]["time"] == 1741597270.0  # no time: the previous turn's
    pairs = ep.pair_turns(turns, "import-1", "tester")
    assert [p.question for p in pairs] == ["Where is the backup kept?", "And the restore?", "Thanks, one more thing"]
    first = pairs[0]
    assert first.answer == "In the backups folder.\n\nIt rotates weekly."
    assert first.kind == "import" and first.answer_mode == "model-only" and first.timings == {}
    assert first.started_at == datetime(2025, 3, 10, 9, 1, tzinfo=UTC).timestamp()
    assert first.finished_at == 1741597270.0 and first.session == "import-1" and first.actor == "tester"
    assert pairs[2].answer == "" and pairs[2].started_at == datetime(2025, 3, 10, 9, 4, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "line 3: not valid JSON"),
    ('["a list"]', "line 3: expected a JSON object"),
    ('{"role": "robot", "content": "x", "time": 1}', "line 3: unknown role 'robot'"),
    ('{"role": "user", "time": 1}', 'line 3: missing "content"'),
    ('{"role": "user", "content": 5, "time": 1}', 'line 3: "content" must be a string'),
    ('{"role": "user", "content": "x", "time": "yesterday"}', "line 3: \"time\" 'yesterday' is not an ISO"),
    ('{"role": "user", "content": "x", "time": true}', 'line 3: "time" must be'),
    ('{"role": "user", "content": "x", "time": -5}', "line 3: \"time\" -5 is not a valid epoch"),
])
def test_parse_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [GOOD[2], "", line, GOOD[3]])
    with pytest.raises(InvalidInput) as info:
        ep.parse_chat_jsonl(path)
    assert message in info.value.message


def test_parse_rejects_empty_big_non_utf8_and_untimed_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no chat turns"):
        ep.parse_chat_jsonl(empty)
    big = write_lines(tmp_path / "big.jsonl", GOOD * 50)
    with pytest.raises(InvalidInput, match="over the import limit"):
        ep.parse_chat_jsonl(big, max_bytes=1000)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(json.dumps(GOOD[2]).encode() + b"\n" + '{"role": "user", "content": "caf\xe9", "time": 1}'
                      .encode("latin-1") + b"\n")
    with pytest.raises(InvalidInput, match=r"not UTF-8 text \(line 2"):
        ep.parse_chat_jsonl(latin)
    untimed = write_lines(tmp_path / "untimed.jsonl", [{"role": "user", "content": "hi"}])
    with pytest.raises(InvalidInput, match='line 1: missing "time"'):
        ep.parse_chat_jsonl(untimed)
    with pytest.raises(InvalidInput, match="cannot read"):
        ep.parse_chat_jsonl(tmp_path / "missing.jsonl")


def test_import_is_all_or_nothing(md: Memdeck, tmp_path: Path) -> None:
    good = ep.pair_turns(ep.parse_chat_jsonl(write_lines(tmp_path / "ok.jsonl", GOOD)), "imp", "tester")
    bad = rec("bad", session="imp", kind="import", mode="not-a-mode")
    with pytest.raises(InvalidInput, match="answer mode"):
        add(md, *good, bad)
    with pytest.raises(RuntimeError), md.db.write() as conn:  # a failure after some inserts rolls back too
        ep.record_many(conn, good)
        raise RuntimeError("disk trouble half-way")
    assert count(md, "episodes") == 0
    ids = add(md, *good)
    assert len(ids) == 3 and count(md, "episodes") == 3
    with md.db.read() as conn:
        assert {r["kind"] for r in ep.recent(conn)} == {"import"}
        assert ep.daily_report(conn, 1, good[0].started_at)["totals"]["queries"] == 0


# ---------------------------------------------------------------------------- summaries
def test_extractive_summary_picks_salient_sentences_in_order() -> None:
    eps = [
        {"question": "How do I restore a backup?",
         "answer": "Run memdeck restore with the backup id. The weather was nice today."},
        {"question": "Does restore verify the backup first?",
         "answer": "Yes, restore verifies the backup checksum before it swaps anything."},
        {"question": "Where are backup files kept?", "answer": "Backup files are kept in the backups folder."},
        {"question": "What colour is the logo?", "answer": "It is teal."},
    ]
    summary = ep.extractive_summary(eps, max_sentences=3)
    assert summary == ep.extractive_summary(eps, max_sentences=3)  # deterministic
    assert "weather" not in summary and "teal" not in summary and "logo" not in summary
    sentences = [x for x in re.split(r"(?<=[.?])\s+", summary) if x]
    assert len(sentences) == 3 and all("backup" in x.lower() for x in sentences)  # the recurring topic
    source = " ".join(f"{e['question']} {e['answer']}" for e in eps)
    assert [source.index(x) for x in sentences] == sorted(source.index(x) for x in sentences)  # order kept
    assert len(ep.extractive_summary(eps, max_sentences=1).split(". ")) == 1
    assert ep.extractive_summary([]) == ""
    assert ep.extractive_summary([{"question": "ok?", "answer": "yes."}]) == "ok? yes."


def test_summary_messages_fit_the_budget() -> None:
    eps = [{"question": f"question {i} " + "word " * 200, "answer": "answer " * 300, "started_at": T0 + i,
            "rating": 1 if i == 0 else None} for i in range(40)]
    messages = ep.summary_messages(eps, max_chars=6000)
    assert [m["role"] for m in messages] == ["system", "user"]
    body = messages[1]["content"]
    assert len(body) <= 6000 and "question 0" in body and "[rated helpful]" in body and "2025-03-10 12:00" in body
    assert "left out for length" in body
    small = ep.summary_messages(eps[:2])[1]["content"]
    assert "question 1" in small and "left out" not in small


# ---------------------------------------------------------------------------- version_as_of
def test_version_as_of(md: Memdeck) -> None:
    md.put("notes", "a", "first text")
    md.put("notes", "a", "second text")
    md.delete("notes", "a")
    with md.db.write() as conn:  # fixed times, so the test does not race the clock
        for version, at in ((1, 1000.0), (2, 2000.0), (3, 3000.0)):
            conn.execute("UPDATE item_versions SET valid_from = ? WHERE version = ?", (at, version))
    with md.db.read() as conn:
        assert version_as_of(conn, "notes", "a", 999.0) is None
        v1 = version_as_of(conn, "notes", "a", 1000.0)
        assert v1 is not None and v1["version"] == 1 and v1["content"] == "first text" and v1["status"] == "active"
        v2 = version_as_of(conn, "notes", "a", 2999.9)
        assert v2 is not None and v2["content"] == "second text" and not v2["deleted"]
        v3 = version_as_of(conn, "notes", "a", 5000.0)
        assert v3 is not None and v3["version"] == 3 and v3["status"] == "deleted" and v3["deleted"]
        assert v3["collection"] == "notes" and v3["key"] == "a" and v3["metadata"] == {}
        assert version_as_of(conn, "notes", "nope", 5000.0) is None


# ---------------------------------------------------------------------------- backups
def _db_from(path: str, dest: Path) -> sqlite3.Connection:
    with tarfile.open(path, "r:gz") as tar:
        tar.extract("memdeck.db", dest, filter="data")
    return sqlite3.connect(dest / "memdeck.db")


def test_redacted_backup_scrubs_episodes(md: Memdeck, tmp_path: Path) -> None:
    (eid,) = add(md, rec("mail carol.jones@example.org about it?", answer="Wrote to carol.jones@example.org."))
    rate(md, eid, -1, "wrong address, use dave.smith@example.net")
    red = md.backup_create(redacted=True)
    assert b"@example." not in gzip.decompress(Path(red.path).read_bytes())
    conn = _db_from(red.path, tmp_path / "red")
    try:
        question, answer = conn.execute("SELECT question, answer FROM episodes").fetchone()
        assert "[email]" in question and "example.org" not in question and "example.org" not in answer
        (comment,) = conn.execute("SELECT comment FROM feedback").fetchone()
        assert "dave.smith" not in comment
    finally:
        conn.close()


def test_backup_and_restore_keep_episodes(data_dir: Path) -> None:
    with Memdeck.open(data_dir, embedder=WordHashEmbedder()) as md:
        a = md.put("notes", "a", "alpha")
        (eid,) = add(md, rec(items=[ep.EpisodeItem(a.item_id, 1, 1, 0.9, True)]))
        rate(md, eid, 1, "good")
        full = md.backup_create()
        add(md, rec("after the backup", at=T0 + 10))
        md.restore(full.id)
    with Memdeck.open(data_dir, embedder=WordHashEmbedder()) as md, md.db.read() as conn:
        rows = ep.recent(conn)
        assert [r["question"] for r in rows] == ["what is alpha?"]
        got = ep.get(conn, eid)
        assert got["rating"] == 1 and got["comment"] == "good" and got["items"][0]["key"] == "a"
