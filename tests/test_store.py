"""The write path: versions, no-op updates, deletes, validation, atomicity, change log and audit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import WordHashEmbedder

from core import audit
from core.errors import InvalidInput, NotFound
from core.memdeck import Memdeck


def _count(md: Memdeck, sql: str) -> int:
    with md.db.read() as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_put_creates_version_one_and_identical_put_is_noop(md: Memdeck) -> None:
    emb = md.embedder
    assert isinstance(emb, WordHashEmbedder)
    first = md.put("facts", "office.leeds", "The Leeds office is on Wellington Street.")
    assert (first.result, first.version, first.seq) == ("created", 1, 1)
    embedded = emb.texts_embedded
    again = md.put("facts", "office.leeds", "The Leeds office is on Wellington Street.")
    assert (again.result, again.version, again.seq) == ("unchanged", 1, None)
    assert emb.texts_embedded == embedded, "identical content must not be re-embedded"
    assert _count(md, "SELECT count(*) FROM item_versions") == 1
    assert _count(md, "SELECT count(*) FROM changes") == 1


def test_metadata_change_is_new_version_without_reembedding(md: Memdeck) -> None:
    emb = md.embedder
    assert isinstance(emb, WordHashEmbedder)
    md.put("facts", "k", "same text", {"a": 1})
    before = emb.texts_embedded
    out = md.put("facts", "k", "same text", {"a": 2})
    assert (out.result, out.version) == ("metadata", 2)
    assert emb.texts_embedded == before
    assert md.get("facts", "k")["metadata"] == {"a": 2}


def test_content_change_reembeds_and_history_keeps_old_text(md: Memdeck) -> None:
    md.put("facts", "k", "first text")
    md.put("facts", "k", "second text")
    hist = md.history("facts", "k")
    assert [h["version"] for h in hist] == [1, 2]
    assert [h["content"] for h in hist] == ["first text", "second text"]
    assert hist[0]["change_seq"] < hist[1]["change_seq"]
    item = md.get("facts", "k")
    assert item["embedding"]["current"] is True and item["in_index"] is True


def test_identical_text_under_another_key_uses_cached_embedding(md: Memdeck) -> None:
    emb = md.embedder
    assert isinstance(emb, WordHashEmbedder)
    md.put("facts", "a", "shared sentence here")
    before = emb.texts_embedded
    md.put("docs", "b", "shared sentence here")
    assert emb.texts_embedded == before


def test_delete_keeps_history_and_leaves_search(md: Memdeck) -> None:
    md.put("facts", "gone", "purple elephants dance")
    out = md.delete("facts", "gone")
    assert (out.result, out.version) == ("deleted", 2)
    assert md.get("facts", "gone")["status"] == "deleted"
    assert all(h.key != "gone" for h in md.search("purple elephants").hits)
    assert [h["status"] for h in md.history("facts", "gone")] == ["active", "deleted"]
    assert md.delete("facts", "gone").result == "unchanged"
    revived = md.put("facts", "gone", "purple elephants dance")
    assert (revived.result, revived.version) == ("updated", 3)
    assert md.search("purple elephants").hits[0].key == "gone"


def test_quarantine_excludes_from_search_until_restored(md: Memdeck) -> None:
    md.put("facts", "q", "quarantine candidate zebra")
    md.set_status("facts", "q", "quarantined", reason="test")
    assert all(h.key != "q" for h in md.search("zebra").hits)
    assert [h.key for h in md.search("zebra", statuses=("quarantined",)).hits] == ["q"]
    md.set_status("facts", "q", "active")
    assert md.search("zebra").hits[0].key == "q"


def test_missing_item_errors(md: Memdeck) -> None:
    with pytest.raises(NotFound, match="no item facts/nope"):
        md.get("facts", "nope")
    with pytest.raises(NotFound):
        md.delete("facts", "nope")
    with pytest.raises(NotFound):
        md.history("facts", "nope")


@pytest.mark.parametrize(("collection", "key", "content", "message"), [
    ("Facts", "k", "x", "invalid collection name"),
    ("", "k", "x", "invalid collection name"),
    ("facts", "", "x", "invalid key"),
    ("facts", "has space", "x", "invalid key"),
    ("facts", "k" * 300, "x", "invalid key"),
    ("facts", "k", "", "is empty"),
    ("facts", "k", "   \n", "is empty"),
    ("facts", "k", 42, "must be text"),
    ("facts", "k", b"bytes", "must be text"),
    ("facts", "k", "nul\x00byte", "NUL byte"),
    (7, "k", "x", "invalid collection name"),
])
def test_bad_input_is_rejected_and_nothing_written(md: Memdeck, collection: object, key: object,
                                                   content: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        md.put(collection, key, content)  # type: ignore[arg-type]
    assert md.item_count() == 0


def test_bad_metadata_rejected(md: Memdeck) -> None:
    with pytest.raises(InvalidInput, match="JSON object"):
        md.put("facts", "k", "x", ["not", "an", "object"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="JSON"):
        md.put("facts", "k", "x", {"nan": float("nan")})
    assert md.item_count() == 0


def test_huge_content_rejected(md: Memdeck) -> None:
    md.config_set("content.max_chars", "1000")
    with pytest.raises(InvalidInput, match="over the limit"):
        md.put("facts", "big", "x" * 1001)
    assert md.item_count() == 0


def test_put_many_is_all_or_nothing_on_validation(md: Memdeck) -> None:
    records = [{"collection": "facts", "key": f"k{i}", "content": f"text {i}"} for i in range(10)]
    records[7]["key"] = "bad key"
    with pytest.raises(InvalidInput, match="record 8"):
        md.put_many(records)
    assert md.item_count() == 0


def test_put_many_rolls_back_when_the_transaction_fails(md: Memdeck, monkeypatch: pytest.MonkeyPatch) -> None:
    md.put("facts", "before", "exists already")
    seq_before = _count(md, "SELECT max(seq) FROM changes")

    def boom(*_a: object, **_k: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(audit, "append", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        md.put_many([{"collection": "facts", "key": f"n{i}", "content": f"new {i}"} for i in range(50)])
    monkeypatch.undo()
    assert md.item_count() == 1
    assert _count(md, "SELECT count(*) FROM embeddings") == 1
    assert _count(md, "SELECT max(seq) FROM changes") == seq_before
    assert md.sync_check().clean


def test_duplicate_keys_in_one_batch_rejected(md: Memdeck) -> None:
    with pytest.raises(InvalidInput, match="appears twice"):
        md.put_many([{"collection": "c", "key": "k", "content": "a"},
                      {"collection": "c", "key": "k", "content": "b"}])
    assert md.item_count() == 0


def test_supplied_vector_shape_and_values_validated(md: Memdeck) -> None:
    with pytest.raises(InvalidInput, match="shape"):
        md.put("facts", "v", "vector text", vector=np.ones(3, dtype=np.float32))
    with pytest.raises(InvalidInput, match="NaN"):
        md.put("facts", "v", "vector text", vector=np.full(384, np.nan, dtype=np.float32))
    assert md.item_count() == 0


def test_change_sequence_is_monotonic_and_every_write_audited(md: Memdeck) -> None:
    md.put("a", "1", "one")
    md.put("a", "2", "two")
    md.put("a", "1", "one changed")
    md.delete("a", "2")
    with md.db.read() as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM changes ORDER BY rowid")]
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_events ORDER BY seq")]
        chain = conn.execute("SELECT seq, prev_hash, hash FROM audit_events ORDER BY seq").fetchall()
    assert seqs == [1, 2, 3, 4]
    assert actions == ["memory.put", "memory.put", "memory.put", "memory.delete"]
    assert chain[0][1] == audit.GENESIS
    for prev, cur in itertools.pairwise(chain):
        assert cur[1] == prev[2], "each event must link to the previous event's hash"


def test_list_pages_by_key(md: Memdeck) -> None:
    md.put_many([{"collection": "c", "key": f"k{i:03d}", "content": f"item {i}"} for i in range(25)])
    page1 = md.list_items("c", limit=10)
    page2 = md.list_items("c", limit=10, after_key=page1[-1]["key"])
    assert [r["key"] for r in page1] == [f"k{i:03d}" for i in range(10)]
    assert [r["key"] for r in page2] == [f"k{i:03d}" for i in range(10, 20)]
    assert md.collections() == [{"collection": "c", "active": 25, "quarantined": 0, "deleted": 0, "total": 25}]


def test_writes_from_another_process_handle_reach_this_index(data_dir: object) -> None:
    a = Memdeck.open(data_dir, embedder=WordHashEmbedder())  # type: ignore[arg-type]
    b = Memdeck.open(data_dir, embedder=WordHashEmbedder())  # type: ignore[arg-type]
    try:
        b.put("facts", "from-b", "written through the other handle")
        hits = a.search("written through the other handle").hits
        assert hits and hits[0].key == "from-b"
        assert a.sync_check().clean
    finally:
        a.close()
        b.close()
