"""Tests for file ingestion through the facade, ``Memdeck.ingest``: keys and sources, idempotent
re-ingest, replacing a file's chunks, per-file failure reporting, and all-or-nothing per file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import store
from core.errors import InvalidInput, StorageError
from core.memdeck import IngestFileResult, IngestReport, Memdeck


def write(directory: Path, name: str, data: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def by_name(report: IngestReport) -> dict[str, IngestFileResult]:
    return {Path(f.path).name: f for f in report.files}


def count(md: Memdeck, sql: str, *args: object) -> int:
    with md.db.read() as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def items_from(md: Memdeck, source: str) -> dict[str, tuple[str, str, int]]:
    """key -> (status, content, version) for every item recorded from ``source``."""
    with md.db.read() as conn:
        rows = conn.execute("SELECT key, status, content, version FROM items WHERE source = ? ORDER BY key",
                            (source,)).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def top_key(md: Memdeck, query: str, **kw: object) -> str | None:
    hits = md.search(query, **kw).hits  # type: ignore[arg-type]
    return hits[0].key if hits else None


MD_THREE = ("# Alpha section\n\nThe quokka smiles in the alpha section.\n\n"
            "# Beta section\n\nThe narwhal swims in the beta section.\n\n"
            "# Gamma section\n\nThe axolotl regrows limbs in the gamma section.\n")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    d = tmp_path / "docs"
    write(d, "a.txt", "The zebracorn grazes quietly behind the old mill.\n")
    write(d, "b.md", MD_THREE)
    write(d, "c.json", json.dumps([{"content": "Porcupines carry quills", "topic": "spiky"},
                                   {"text": "Hedgehogs roll into balls"}]))
    write(d, "d.jsonl", '{"content": "Flamingos stand on one leg"}\n\n{"body": "Pelicans scoop fish"}\n')
    write(d, "e.csv", "fruit,colour\nplum,purple\nkumquat,orange\n")
    write(d, "f.html", "<html><head><title>Wombat page</title><style>p{}</style></head>"
                       "<body><h1>Wombats</h1><p>Wombats dig burrows &amp; sleep.</p></body></html>")
    return d


EXPECTED_KEYS = {
    "docs/a.txt": ["docs/a.txt#1"],
    "docs/b.md": ["docs/b.md#1", "docs/b.md#2", "docs/b.md#3"],
    "docs/c.json": ["docs/c.json#1", "docs/c.json#2"],
    "docs/d.jsonl": ["docs/d.jsonl#1", "docs/d.jsonl#2"],
    "docs/e.csv": ["docs/e.csv#1", "docs/e.csv#2"],
    "docs/f.html": ["docs/f.html#1"],
}


# ----------------------------------------------------------------------------- the happy path
def test_ingest_folder_of_every_format(md: Memdeck, docs: Path, tmp_path: Path) -> None:
    report = md.ingest([docs], collection="kb", base=tmp_path)
    assert report.failed == []
    results = by_name(report)
    assert sorted(results) == ["a.txt", "b.md", "c.json", "d.jsonl", "e.csv", "f.html"]
    for rel, keys in EXPECTED_KEYS.items():
        res = results[Path(rel).name]
        assert (res.ok, res.chunks, res.created, res.updated, res.unchanged, res.removed, res.error) == (
            True, len(keys), len(keys), 0, 0, 0, None), rel
        assert sorted(items_from(md, f"file:{rel}")) == keys, rel
    summary = report.as_dict()
    assert (summary["files_ok"], summary["files_failed"], summary["chunks"], summary["created"]) == (
        6, 0, 11, 11)

    assert [r["key"] for r in md.list_items("kb")] == sorted(k for ks in EXPECTED_KEYS.values() for k in ks)
    assert md.collections() == [
        {"collection": "kb", "active": 11, "quarantined": 0, "deleted": 0, "total": 11}]

    b2 = md.get("kb", "docs/b.md#2")
    assert b2["content"] == "# Beta section\n\nThe narwhal swims in the beta section."
    assert b2["metadata"] == {"path": "docs/b.md", "chunk": 2, "format": "md", "heading": "Beta section"}
    assert b2["source"] == "file:docs/b.md"
    c1 = md.get("kb", "docs/c.json#1")
    assert c1["content"] == "Porcupines carry quills"
    assert c1["metadata"] == {"path": "docs/c.json", "chunk": 1, "format": "json", "record": 1,
                              "topic": "spiky"}
    assert md.get("kb", "docs/d.jsonl#2")["metadata"]["line"] == 3
    assert md.get("kb", "docs/e.csv#2")["content"] == "fruit: kumquat\ncolour: orange"
    f1 = md.get("kb", "docs/f.html#1")
    assert f1["content"] == "Wombats\n\nWombats dig burrows & sleep."
    assert f1["metadata"]["title"] == "Wombat page"

    assert top_key(md, "zebracorn mill") == "docs/a.txt#1"
    assert top_key(md, "narwhal") == "docs/b.md#2"
    assert top_key(md, "hedgehogs balls") == "docs/c.json#2"
    assert top_key(md, "pelicans fish") == "docs/d.jsonl#2"
    assert top_key(md, "kumquat") == "docs/e.csv#2"
    assert top_key(md, "wombats burrows") == "docs/f.html#1"
    assert md.search("zebracorn", collections=["other"]).hits == []
    assert md.sync_check().clean


def test_keys_are_relative_to_base(md: Memdeck, docs: Path) -> None:
    report = md.ingest([docs / "a.txt"], collection="kb", base=docs)
    assert report.files[0].ok
    assert md.get("kb", "a.txt#1")["source"] == "file:a.txt"


def test_audit_records_each_ingested_chunk(md: Memdeck, docs: Path, tmp_path: Path) -> None:
    md.ingest([docs / "c.json"], collection="kb", base=tmp_path)
    with md.db.read() as conn:
        rows = conn.execute("SELECT action, target FROM audit_events ORDER BY seq").fetchall()
    assert rows == [("memory.put", "kb/docs/c.json#1"), ("memory.put", "kb/docs/c.json#2")]


def test_reingest_unchanged_is_a_no_op(md: Memdeck, docs: Path, tmp_path: Path) -> None:
    md.ingest([docs], collection="kb", base=tmp_path)
    changes = count(md, "SELECT count(*) FROM changes")
    versions = count(md, "SELECT count(*) FROM item_versions")
    audits = count(md, "SELECT count(*) FROM audit_events")
    embedded = md.embedder.texts_embedded  # type: ignore[attr-defined]
    assert changes == 11

    report = md.ingest([docs], collection="kb", base=tmp_path)
    assert report.failed == []
    for f in report.files:
        assert (f.created, f.updated, f.removed) == (0, 0, 0), f.path
        assert f.unchanged == f.chunks > 0, f.path
    assert report.as_dict()["unchanged"] == 11
    assert count(md, "SELECT count(*) FROM changes") == changes
    assert count(md, "SELECT count(*) FROM item_versions") == versions
    assert count(md, "SELECT count(*) FROM audit_events") == audits
    assert md.embedder.texts_embedded == embedded  # type: ignore[attr-defined]
    assert count(md, "SELECT max(version) FROM items") == 1


def test_edit_to_fewer_chunks_replaces_and_deletes_vanished(md: Memdeck, docs: Path, tmp_path: Path) -> None:
    md.ingest([docs], collection="kb", base=tmp_path)
    seq_before = count(md, "SELECT max(seq) FROM changes")
    write(docs, "b.md", "# Alpha section\n\nThe quokka now frowns in the alpha section.\n")

    report = md.ingest([docs / "b.md"], collection="kb", base=tmp_path)
    [res] = report.files
    assert (res.ok, res.chunks, res.created, res.updated, res.unchanged, res.removed) == (True, 1, 0, 1, 0, 2)
    assert items_from(md, "file:docs/b.md") == {
        "docs/b.md#1": ("active", "# Alpha section\n\nThe quokka now frowns in the alpha section.", 2),
        "docs/b.md#2": ("deleted", "# Beta section\n\nThe narwhal swims in the beta section.", 2),
        "docs/b.md#3": ("deleted", "# Gamma section\n\nThe axolotl regrows limbs in the gamma section.", 2),
    }
    # the replacement and both deletions are three consecutive changes of this one call
    with md.db.read() as conn:
        ops = conn.execute("SELECT op FROM changes WHERE seq > ? ORDER BY seq", (seq_before,)).fetchall()
    assert [o[0] for o in ops] == ["put", "deleted", "deleted"]
    assert top_key(md, "narwhal") != "docs/b.md#2"
    assert top_key(md, "axolotl limbs") != "docs/b.md#3"
    assert top_key(md, "quokka frowns") == "docs/b.md#1"
    assert [h["status"] for h in md.history("kb", "docs/b.md#2")] == ["active", "deleted"]
    assert md.sync_check().clean
    # other files' chunks are untouched
    assert items_from(md, "file:docs/a.txt")["docs/a.txt#1"][0] == "active"

    # growing again revives the deleted keys as new versions
    write(docs, "b.md", MD_THREE)
    res = md.ingest([docs / "b.md"], collection="kb", base=tmp_path).files[0]
    assert (res.chunks, res.created, res.updated, res.removed) == (3, 0, 3, 0)
    assert {k: v[0] for k, v in items_from(md, "file:docs/b.md").items()} == {
        "docs/b.md#1": "active", "docs/b.md#2": "active", "docs/b.md#3": "active"}
    assert top_key(md, "narwhal") == "docs/b.md#2"


def test_file_emptied_of_sections_by_edit_is_an_error_and_keeps_old_chunks(
        md: Memdeck, docs: Path, tmp_path: Path) -> None:
    md.ingest([docs / "b.md"], collection="kb", base=tmp_path)
    write(docs, "b.md", "   \n\n")
    res = md.ingest([docs / "b.md"], collection="kb", base=tmp_path).files[0]
    assert res.ok is False and "empty file" in (res.error or "")
    assert {v[0] for v in items_from(md, "file:docs/b.md").values()} == {"active"}


# ----------------------------------------------------------------------------- failures
def test_bad_files_are_reported_and_good_files_still_go_in(md: Memdeck, tmp_path: Path) -> None:
    md.config_set("ingest.max_file_mb", "0.001")  # 1048 bytes
    d = tmp_path / "batch"
    write(d, "good.txt", "Capybaras relax in hot springs.")
    write(d, "good.csv", "animal,habitat\nibex,mountains\n")
    write(d, "binary.txt", b"PK\x03\x04\x00\x00 not text")
    write(d, "latin1.txt", "café au lait".encode("latin-1"))
    write(d, "empty.md", b"")
    write(d, "bad.json", '{"content": "unterminated",\n')
    write(d, "ragged.csv", "a,b\n1,2\n3\n")
    write(d, "big.txt", "word " * 400)

    report = md.ingest([d], collection="kb", base=tmp_path)
    results = by_name(report)
    assert len(report.files) == 8
    assert sorted(f for f, r in results.items() if r.ok) == ["good.csv", "good.txt"]
    reasons = {
        "binary.txt": "looks like a binary file (NUL byte at byte 4)",
        "latin1.txt": "not valid UTF-8 at byte 3 (line 1)",
        "empty.md": "empty file, nothing to ingest",
        "bad.json": "invalid JSON at line 2 column 1",
        "ragged.csv": "row 2 (line 3): has 1 fields, but the header has 2",
        "big.txt": "file is 2.0 KB (2000 bytes), over the limit of 1.0 KB (1048 bytes); "
                   "raise ingest.max_file_mb to ingest it",
    }
    for name, reason in reasons.items():
        res = results[name]
        assert res.ok is False, name
        assert res.error is not None and res.error.startswith(str(d / name) + ": "), res.error
        assert reason in res.error, (name, res.error)
        assert (res.chunks, res.created) == (0, 0)
        assert items_from(md, f"file:batch/{name}") == {}, name
    assert report.as_dict()["files_failed"] == 6
    assert report.as_dict()["created"] == 2
    assert md.get("kb", "batch/good.txt#1")["content"] == "Capybaras relax in hot springs."
    assert top_key(md, "ibex mountains") == "batch/good.csv#1"
    assert count(md, "SELECT count(*) FROM items") == 2


def test_failing_file_leaves_nothing_half_written(md: Memdeck, tmp_path: Path) -> None:
    d = tmp_path / "docs"
    # Valid records first, a broken one last: the parser must not return the first ones.
    write(d, "partial.jsonl", '{"content": "first good line"}\n{"content": "second good"}\n{oops}\n')
    # Parses fine, but row 2's explicit key is not a valid item key: the whole file must be refused.
    write(d, "keys.csv", "key,text\ngood-key,first row text\nключ,second row text\n")
    report = md.ingest([d], collection="kb", base=tmp_path)
    results = by_name(report)
    assert "line 3: invalid JSON" in (results["partial.jsonl"].error or "")
    assert "invalid key 'docs/keys.csv#ключ'" in (results["keys.csv"].error or "")
    assert not results["partial.jsonl"].ok and not results["keys.csv"].ok
    assert count(md, "SELECT count(*) FROM items WHERE source = 'file:docs/partial.jsonl'") == 0
    assert count(md, "SELECT count(*) FROM items WHERE source = 'file:docs/keys.csv'") == 0
    assert count(md, "SELECT count(*) FROM items") == 0
    assert count(md, "SELECT count(*) FROM changes") == 0
    assert count(md, "SELECT count(*) FROM embeddings") == 0
    assert md.index.live_count == 0


def test_failed_reingest_keeps_the_previous_version(md: Memdeck, docs: Path, tmp_path: Path) -> None:
    md.ingest([docs / "d.jsonl"], collection="kb", base=tmp_path)
    before = items_from(md, "file:docs/d.jsonl")
    write(docs, "d.jsonl", '{"content": "Flamingos now sit"}\n{"content": 5}\n')
    res = md.ingest([docs / "d.jsonl"], collection="kb", base=tmp_path).files[0]
    assert res.ok is False
    assert "line 2: no 'content', 'text' or 'body' string field" in (res.error or "")
    assert items_from(md, "file:docs/d.jsonl") == before
    assert top_key(md, "flamingos leg") == "docs/d.jsonl#1"


def test_storage_failure_mid_file_rolls_back_the_whole_file(md: Memdeck, docs: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    md.ingest([docs / "b.md"], collection="kb", base=tmp_path)
    before = items_from(md, "file:docs/b.md")
    changes = count(md, "SELECT count(*) FROM changes")
    write(docs, "b.md", "# Alpha section\n\nRewritten alpha text.\n")

    def failing_status(*args: object, **kw: object) -> None:
        raise StorageError("disk full (simulated)")

    monkeypatch.setattr(store, "write_status", failing_status)
    with pytest.raises(StorageError):
        md.ingest([docs / "b.md"], collection="kb", base=tmp_path)
    assert items_from(md, "file:docs/b.md") == before
    assert count(md, "SELECT count(*) FROM changes") == changes
    assert md.sync_check().clean


def test_unicode_and_spaces_in_file_name_give_a_valid_key(md: Memdeck, tmp_path: Path) -> None:
    d = tmp_path / "my docs"
    path = write(d, "Reise nach Zürich \u2013 März.md", "# Zürich\n\nDie Straßenbahn fährt pünktlich.\n")
    report = md.ingest([path], collection="kb", base=tmp_path)
    assert report.failed == []
    [item] = md.list_items("kb")
    assert item["key"] == "my_docs/Reise_nach_Z_rich___M_rz.md-d0129cbd#1"
    assert store.KEY_RE.match(item["key"])
    assert item["source"] == "file:my docs/Reise nach Zürich \u2013 März.md"
    got = md.get("kb", item["key"])
    assert got["content"] == "# Zürich\n\nDie Straßenbahn fährt pünktlich."
    assert got["metadata"]["path"] == "my_docs/Reise_nach_Z_rich___M_rz.md-d0129cbd"
    assert top_key(md, "Straßenbahn") == item["key"]
    # same name again: same key, nothing new
    again = md.ingest([path], collection="kb", base=tmp_path).files[0]
    assert (again.unchanged, again.created) == (1, 0)


@pytest.mark.parametrize("names", [("日本.txt", "中国.txt"), ("a b.txt", "a_b.txt"), ("café.md", "cafè.md")])
def test_distinct_file_names_never_share_keys(md: Memdeck, tmp_path: Path, names: tuple[str, str]) -> None:
    d = tmp_path / "docs"
    write(d, names[0], "Okapis live in the rainforest.")
    write(d, names[1], "Tapirs have short trunks.")
    report = md.ingest([d], collection="kb", base=tmp_path)
    assert report.failed == []
    assert [r["status"] for r in md.list_items("kb")] == ["active", "active"]
    assert top_key(md, "okapis rainforest") is not None
    assert top_key(md, "tapirs trunks") is not None


def test_very_long_path_gets_a_valid_key(md: Memdeck, tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60) / ("z" * 60) / ("w" * 40)
    path = write(deep, "notes.txt", "A very deeply nested note about lemurs.")
    report = md.ingest([path], collection="kb", base=tmp_path)
    assert report.failed == [], report.files[0].error
    [item] = md.list_items("kb")
    assert store.KEY_RE.match(item["key"])
    assert len(item["key"]) <= 256


def test_nonexistent_path_is_reported(md: Memdeck, docs: Path, tmp_path: Path) -> None:
    missing_file = tmp_path / "nope.txt"
    missing_dir = tmp_path / "no-such-dir"
    report = md.ingest([missing_file, docs / "a.txt", missing_dir], collection="kb", base=tmp_path)
    assert [(f.path, f.ok) for f in report.files] == [
        (str(missing_file), False), (str(missing_dir), False), (str(docs / "a.txt"), True)]
    assert report.files[0].error == f"{missing_file}: no such file"
    assert report.files[1].error == f"{missing_dir}: no such file"
    assert count(md, "SELECT count(*) FROM items") == 1


def test_explicit_unsupported_file_is_reported_but_skipped_in_folders(md: Memdeck, tmp_path: Path) -> None:
    d = tmp_path / "docs"
    write(d, "picture.png", b"\x89PNG\r\n\x1a\n")
    write(d, "notes.txt", "Meerkats stand guard.")
    report = md.ingest([d], collection="kb", base=tmp_path)
    assert [Path(f.path).name for f in report.files] == ["notes.txt"]
    report = md.ingest([d / "picture.png"], collection="kb", base=tmp_path)
    [res] = report.files
    assert res.ok is False
    assert "unsupported file type .png" in (res.error or "")


def test_directory_recursion(md: Memdeck, tmp_path: Path) -> None:
    d = tmp_path / "tree"
    write(d, "top.txt", "Top level note about otters.")
    write(d, "sub/mid.md", "# Mid\n\nMiddle note about badgers.\n")
    write(d, "sub/deeper/low.json", '{"content": "Deep note about moles"}')

    flat = md.ingest([d], collection="flat", recursive=False, base=tmp_path)
    assert [Path(f.path).name for f in flat.files] == ["top.txt"]
    assert [r["key"] for r in md.list_items("flat")] == ["tree/top.txt#1"]

    deep = md.ingest([d], collection="deep", base=tmp_path)
    assert sorted(Path(f.path).name for f in deep.files) == ["low.json", "mid.md", "top.txt"]
    assert [r["key"] for r in md.list_items("deep")] == [
        "tree/sub/deeper/low.json#1", "tree/sub/mid.md#1", "tree/top.txt#1"]


def test_same_file_in_two_collections_is_independent(md: Memdeck, docs: Path, tmp_path: Path) -> None:
    md.ingest([docs / "b.md"], collection="one", base=tmp_path)
    md.ingest([docs / "b.md"], collection="two", base=tmp_path)
    write(docs, "b.md", "# Alpha section\n\nShort now.\n")
    res = md.ingest([docs / "b.md"], collection="one", base=tmp_path).files[0]
    assert res.removed == 2
    assert [r["status"] for r in md.list_items("two")] == ["active", "active", "active"]
    assert [r["status"] for r in md.list_items("one")] == ["active", "deleted", "deleted"]


def test_invalid_collection_is_refused_before_reading(md: Memdeck, docs: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        md.ingest([docs], collection="Not Valid", base=tmp_path)
    assert info.value.message == "invalid collection name 'Not Valid'"
    assert count(md, "SELECT count(*) FROM items") == 0


def test_chunk_size_setting_is_used(md: Memdeck, tmp_path: Path) -> None:
    md.config_set("ingest.chunk_chars", "100")
    text = "\n\n".join(f"Paragraph {i} talks about penguins and icebergs at some length." for i in range(6))
    path = write(tmp_path / "docs", "long.txt", text)
    res = md.ingest([path], collection="kb", base=tmp_path).files[0]
    assert res.ok and res.chunks == 6
    assert all(len(r["preview"]) <= 100 for r in md.list_items("kb"))
