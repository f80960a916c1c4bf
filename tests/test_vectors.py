"""Tests for core.vectors (the hnswlib wrapper and its checkpoints) and for how the facade recovers the
index on open: replay after the watermark, rebuild from SQLite when a checkpoint is damaged or gone."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import WordHashEmbedder

from core.errors import IndexError_
from core.memdeck import Memdeck
from core.vectors import HASH_PREFIX, IndexParams, VectorIndex, clean_stray_files

DIM = 16
FP = "test-model:16"
PARAMS = IndexParams(dim=DIM, M=8, ef_construction=64, ef_search=37, threads=1)


def vecs(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def hashes(labels: list[int], tag: str = "") -> list[str]:
    return [hashlib.sha256(f"{tag}{label}".encode()).hexdigest() for label in labels]


def make_index(n: int = 50, seed: int = 0, capacity: int = 1024) -> tuple[VectorIndex, np.ndarray]:
    index = VectorIndex(PARAMS, FP, capacity=capacity)
    v = vecs(n, seed)
    index.add(list(range(1, n + 1)), v, hashes(list(range(1, n + 1))))
    return index, v


def labels_of(results: list[tuple[int, float]]) -> list[int]:
    return [label for label, _ in results]


# ----------------------------------------------------------------------------- in memory


def test_add_query_remove() -> None:
    index, v = make_index(30)
    assert index.live_count == 30 and index.tombstone_count == 0
    assert index.dirty_changes == 30
    for i in (0, 7, 29):
        top = index.query(v[i], 3)
        assert top[0][0] == i + 1
        assert top[0][1] == pytest.approx(1.0, abs=1e-5)
        assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    assert index.contains(8) and index.hash_of(8) == hashes([8])[0][:HASH_PREFIX]

    assert index.remove([8, 9, 999]) == 2  # unknown labels are ignored
    assert index.remove([8]) == 0  # already removed
    assert not index.contains(8) and index.hash_of(8) is None
    assert index.live_count == 28 and index.tombstone_count == 2
    assert index.dirty_changes == 32
    assert 8 not in labels_of(index.query(v[7], 28))
    assert index.query(v[7], 1)[0][0] != 8
    labels, hs = index.snapshot_labels()
    assert labels.tolist() == [x for x in range(1, 31) if x not in (8, 9)]
    assert hs[0] == hashes([1])[0][:HASH_PREFIX].encode()


def test_add_existing_label_replaces_its_vector_and_hash() -> None:
    index, v = make_index(20)
    other = vecs(1, seed=99)[0]
    index.add([5], other[None, :], ["f" * 64])
    assert index.live_count == 20
    assert index.hash_of(5) == "f" * HASH_PREFIX
    assert index.query(other, 1)[0][0] == 5
    assert index.query(v[4], 1)[0][0] != 5
    np.testing.assert_allclose(index.get_vectors([5])[0], other, atol=1e-6)


def test_re_adding_a_removed_label_revives_it() -> None:
    index, _ = make_index(20)
    index.remove([3])
    assert index.tombstone_count == 1
    fresh = vecs(1, seed=5)[0]
    index.add([3], fresh[None, :], ["a" * 64])
    assert index.contains(3) and index.hash_of(3) == "a" * HASH_PREFIX
    assert index.tombstone_count == 0 and index.live_count == 20
    top = index.query(fresh, 1)
    assert top[0][0] == 3 and top[0][1] == pytest.approx(1.0, abs=1e-5)
    assert 3 in labels_of(index.query(fresh, 20))


def test_k_larger_than_live_count_returns_every_live_item() -> None:
    index, v = make_index(60)
    dead = list(range(1, 56))
    index.remove(dead)
    live = [56, 57, 58, 59, 60]
    # The raw hnswlib index cannot serve this request: the wrapper must not pass it through.
    with pytest.raises(RuntimeError, match="contiguous 2D array"):
        index._index.knn_query(v[0].reshape(1, -1), k=10)
    for k in (5, 6, 10, 1000):
        res = index.query(v[57], k)
        assert sorted(labels_of(res)) == live
        assert res[0][0] == 58
        assert [s for _, s in res] == sorted((s for _, s in res), reverse=True)
    assert labels_of(index.query(v[57], 2)) == labels_of(index.query(v[57], 5))[:2]


def test_k_zero_and_empty_index_return_nothing() -> None:
    empty = VectorIndex(PARAMS, FP)
    q = vecs(1)[0]
    assert empty.query(q, 10) == []
    assert empty.query(q, 0) == []
    index, v = make_index(10)
    assert index.query(v[0], 0) == []
    assert index.query(v[0], -3) == []
    index.remove(list(range(1, 11)))
    assert index.live_count == 0
    assert index.query(v[0], 5) == []


def test_growth_beyond_capacity_resizes() -> None:
    index = VectorIndex(PARAMS, FP, capacity=16)
    assert index.capacity == 16
    v = vecs(300, seed=3)
    for start in range(0, 300, 25):
        labels = list(range(start, start + 25))
        index.add(labels, v[start:start + 25], hashes(labels))
        assert index.capacity >= index._index.get_current_count()
    assert index.capacity >= 300 and index.live_count == 300
    for i in (0, 17, 150, 299):
        assert index.query(v[i], 1)[0][0] == i
    # Tombstoned slots still occupy hnswlib elements: reviving them must not need new room, adding must.
    index.remove(list(range(100)))
    index.add(list(range(300, 340)), vecs(40, seed=4), hashes(list(range(300, 340))))
    assert index.capacity >= 340
    assert index.live_count == 240 and index.tombstone_count == 100


def test_filtered_query_skips_labels_the_filter_rejects() -> None:
    index, v = make_index(100)
    allowed = set(range(2, 101, 2))
    res = index.query(v[10], 10, filter_fn=lambda label: label in allowed)
    assert len(res) == 10 and set(labels_of(res)) <= allowed
    best = max(allowed, key=lambda label: float(v[label - 1] @ v[10]))
    assert res[0][0] == best


def test_filtered_query_with_fewer_matches_than_k_returns_all_matches() -> None:
    index, v = make_index(100, seed=1)
    allowed = {5, 17, 33}
    res = index.query(v[4], 10, filter_fn=lambda label: label in allowed)
    assert sorted(labels_of(res)) == [5, 17, 33]


# ----------------------------------------------------------------------------- checkpoints


def saved(tmp_path: Path, n: int = 40, watermark: int = 1234) -> tuple[VectorIndex, np.ndarray, Path]:
    index, v = make_index(n)
    index.remove([2, 4, 6])
    index.watermark = watermark
    index_dir = tmp_path / "index"
    index.save_checkpoint(index_dir)
    return index, v, index_dir


def current_gen(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    index, v, index_dir = saved(tmp_path)
    gen = current_gen(index_dir)
    assert gen.name.startswith("ckpt-000000001234-")
    assert sorted(p.name for p in gen.iterdir()) == ["hnsw.bin", "labels.npz", "meta.json"]
    assert index.dirty_changes == 0
    meta = json.loads((gen / "meta.json").read_text())
    assert meta["watermark"] == 1234 and meta["live_count"] == 37 and meta["model_fp"] == FP

    loaded = VectorIndex.load_checkpoint(index_dir, PARAMS, FP)
    for a, b in zip(loaded.snapshot_labels(), index.snapshot_labels(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.tombstone_count == 3 and not loaded.contains(4)
    assert loaded.watermark == 1234 and loaded.dirty_changes == 0
    assert loaded.capacity == index.capacity and loaded.model_fp == FP
    assert loaded._index.ef == PARAMS.ef_search
    for i in range(0, 40, 3):
        assert labels_of(loaded.query(v[i], 8)) == labels_of(index.query(v[i], 8))
    # A tombstone that came back from disk can be revived.
    loaded.add([4], v[3][None, :], hashes([4]))
    assert loaded.query(v[3], 1)[0][0] == 4 and loaded.tombstone_count == 2


def test_loaded_checkpoint_uses_ef_from_params(tmp_path: Path) -> None:
    _, _, index_dir = saved(tmp_path)
    other = IndexParams(dim=DIM, M=8, ef_construction=64, ef_search=91, threads=1)
    loaded = VectorIndex.load_checkpoint(index_dir, other, FP)
    assert loaded._index.ef == 91
    loaded.query(vecs(1)[0], 200)  # a wide query raises ef for itself only
    assert loaded._index.ef == 91


def test_new_checkpoint_replaces_the_previous_generation(tmp_path: Path) -> None:
    index, v, index_dir = saved(tmp_path)
    first = current_gen(index_dir).name
    index.add([500], v[0][None, :], hashes([500]))
    index.watermark = 2000
    path = index.save_checkpoint(index_dir)
    assert path == current_gen(index_dir) and path.name.startswith("ckpt-000000002000-")
    assert sorted(p.name for p in index_dir.iterdir()) == [".lock", "CURRENT", path.name]
    assert not (index_dir / first).exists()
    assert VectorIndex.load_checkpoint(index_dir, PARAMS, FP).contains(500)


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def rejected(index_dir: Path, params: IndexParams = PARAMS, fp: str = FP) -> str:
    with pytest.raises(IndexError_) as info:
        VectorIndex.load_checkpoint(index_dir, params, fp)
    return info.value.message


def test_load_rejects_flipped_bytes_in_hnsw_bin(tmp_path: Path) -> None:
    _, _, index_dir = saved(tmp_path)
    hnsw = current_gen(index_dir) / "hnsw.bin"
    flip_byte(hnsw, hnsw.stat().st_size // 2)
    msg = rejected(index_dir)
    assert "hnsw.bin checksum mismatch" in msg and current_gen(index_dir).name in msg
    assert "labels.npz" not in msg


@pytest.mark.parametrize("keep", [0.5, 0.0], ids=["truncated", "empty"])
def test_load_rejects_truncated_hnsw_bin(tmp_path: Path, keep: float) -> None:
    _, _, index_dir = saved(tmp_path)
    hnsw = current_gen(index_dir) / "hnsw.bin"
    data = hnsw.read_bytes()
    hnsw.write_bytes(data[: int(len(data) * keep)])
    assert "hnsw.bin checksum mismatch" in rejected(index_dir)


def test_load_rejects_damaged_or_missing_labels(tmp_path: Path) -> None:
    _, _, index_dir = saved(tmp_path)
    labels = current_gen(index_dir) / "labels.npz"
    flip_byte(labels, 40)
    assert "labels.npz checksum mismatch" in rejected(index_dir)
    labels.unlink()
    assert "labels.npz missing" in rejected(index_dir)
    (current_gen(index_dir) / "hnsw.bin").unlink()
    assert "hnsw.bin missing" in rejected(index_dir)


def test_load_rejects_wrong_dim(tmp_path: Path) -> None:
    _, _, index_dir = saved(tmp_path)
    msg = rejected(index_dir, IndexParams(dim=DIM * 2))
    assert f"dim {DIM} != {DIM * 2}" in msg


def test_load_rejects_other_model(tmp_path: Path) -> None:
    _, _, index_dir = saved(tmp_path)
    assert "built with another embedding model" in rejected(index_dir, fp="other-model:16")


@pytest.mark.parametrize("field, value, expected", [
    ("format", 2, "format 2 != 1"),
    ("space", "l2", "space 'l2' != 'cosine'"),
    ("element_count", 999, "counts disagree"),
    ("live_count", 1, "counts disagree"),
])
def test_load_rejects_inconsistent_meta(tmp_path: Path, field: str, value: object, expected: str) -> None:
    _, _, index_dir = saved(tmp_path)
    meta_path = current_gen(index_dir) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta[field] = value
    meta_path.write_text(json.dumps(meta))
    assert expected in rejected(index_dir)


@pytest.mark.parametrize("garbage", [b"", b"{", b"not json at all", b'{"format": 1', b"\xff\xfe\x00garbage"],
                         ids=["empty", "brace", "text", "truncated", "binary"])
def test_load_rejects_unparsable_meta(tmp_path: Path, garbage: bytes) -> None:
    _, _, index_dir = saved(tmp_path)
    (current_gen(index_dir) / "meta.json").write_bytes(garbage)
    msg = rejected(index_dir)
    assert "no readable meta.json" in msg and current_gen(index_dir).name in msg


@pytest.mark.parametrize("garbage", [b"null", b"[1, 2, 3]", b"3"], ids=["null", "list", "number"])
def test_load_rejects_meta_that_is_not_an_object(tmp_path: Path, garbage: bytes) -> None:
    _, _, index_dir = saved(tmp_path)
    (current_gen(index_dir) / "meta.json").write_bytes(garbage)
    assert "meta.json" in rejected(index_dir)


def test_load_rejects_current_naming_a_missing_generation(tmp_path: Path) -> None:
    _, _, index_dir = saved(tmp_path)
    (index_dir / "CURRENT").write_text("ckpt-000000009999-deadbeef")
    msg = rejected(index_dir)
    assert "ckpt-000000009999-deadbeef" in msg and "No such file" in msg


def test_load_without_checkpoint(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    assert rejected(index_dir) == "no index checkpoint yet"


def test_load_rejects_current_with_undecodable_bytes(tmp_path: Path) -> None:
    _, _, index_dir = saved(tmp_path)
    (index_dir / "CURRENT").write_bytes(b"\xff\xfe\x00\x81")
    assert "CURRENT" in rejected(index_dir)


def test_clean_stray_files_keeps_only_the_current_generation(tmp_path: Path) -> None:
    _, _, index_dir = saved(tmp_path)
    current = current_gen(index_dir).name
    tmp_gen = index_dir / ".tmp-4242-abcdef01"
    tmp_gen.mkdir()
    (tmp_gen / "hnsw.bin").write_bytes(b"partial")
    (index_dir / ".CURRENT.tmp-4242").write_bytes(b"ckpt-")
    old = index_dir / "ckpt-000000000001-0badc0de"
    old.mkdir()
    (old / "meta.json").write_text("{}")
    removed = clean_stray_files(index_dir)
    assert sorted(removed) == [".CURRENT.tmp-4242", ".tmp-4242-abcdef01", "ckpt-000000000001-0badc0de"]
    assert sorted(p.name for p in index_dir.iterdir()) == [".lock", "CURRENT", current]
    assert VectorIndex.load_checkpoint(index_dir, PARAMS, FP).live_count == 37
    assert clean_stray_files(index_dir) == []
    assert clean_stray_files(tmp_path / "does-not-exist") == []


def test_clean_stray_files_without_current_removes_every_generation(tmp_path: Path) -> None:
    _, _, index_dir = saved(tmp_path)
    gen = current_gen(index_dir).name
    (index_dir / "CURRENT").unlink()
    assert clean_stray_files(index_dir) == [gen]
    assert not (index_dir / gen).exists()


# ----------------------------------------------------------------------------- concurrency


def test_concurrent_queries_during_adds_removes_and_resizes(tmp_path: Path) -> None:
    index = VectorIndex(PARAMS, FP, capacity=16)
    pool = vecs(4000, seed=11)
    errors: list[BaseException] = []
    stop = threading.Event()
    queries = [0, 0]
    saves = [0]
    live: set[int] = set()
    ever: set[int] = set()

    def writer() -> None:
        rng = random.Random(1)
        nxt = 0
        try:
            while not stop.is_set() and nxt + 40 <= len(pool):
                batch = list(range(nxt, nxt + rng.randint(1, 40)))
                nxt = batch[-1] + 1
                index.add(batch, pool[batch], hashes(batch))
                live.update(batch)
                ever.update(batch)
                if live and rng.random() < 0.5:
                    gone = rng.sample(sorted(live), min(len(live), rng.randint(1, 15)))
                    assert index.remove(gone) == len(gone)
                    live.difference_update(gone)
                if ever - live and rng.random() < 0.3:
                    back = rng.sample(sorted(ever - live), min(len(ever - live), 5))
                    index.add(back, pool[back], hashes(back))
                    live.update(back)
        except BaseException as exc:
            errors.append(exc)

    def reader(slot: int) -> None:
        rng = np.random.default_rng(slot)
        try:
            while not stop.is_set():
                q = pool[int(rng.integers(len(pool)))]
                res = index.query(q, int(rng.integers(1, 60)))
                labels = labels_of(res)
                assert len(labels) == len(set(labels))
                assert all(-1.001 <= s <= 1.001 for _, s in res)
                assert [s for _, s in res] == sorted((s for _, s in res), reverse=True)
                queries[slot] += 1
        except BaseException as exc:
            errors.append(exc)

    def saver() -> None:
        try:
            while not stop.is_set():
                index.save_checkpoint(tmp_path / "index")
                saves[0] += 1
                time.sleep(0.05)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader, args=(0,)),
               threading.Thread(target=reader, args=(1,)), threading.Thread(target=saver)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert min(queries) > 20 and saves[0] >= 2
    assert index.capacity > 16 and len(ever) > 100

    assert index.live_count == len(live)
    assert index.snapshot_labels()[0].tolist() == sorted(live)
    assert index.tombstone_count == len(ever - live)
    for label in random.Random(2).sample(sorted(live), min(20, len(live))):
        assert index.query(pool[label], 1)[0][0] == label
    assert len(index.query(pool[0], len(live) + 10)) == len(live)
    index.save_checkpoint(tmp_path / "index")
    loaded = VectorIndex.load_checkpoint(tmp_path / "index", PARAMS, FP)
    assert loaded.snapshot_labels()[0].tolist() == sorted(live)


# ----------------------------------------------------------------------------- through the facade


def fill(md: Memdeck, n: int = 30) -> dict[str, str]:
    words = ["orbit", "pepper", "granite", "lagoon", "thimble", "walnut", "cactus", "meteor", "violin",
             "saddle"]
    contents = {f"n{i}": f"{words[i % 10]} {words[(i * 3 + 1) % 10]} note number {i}" for i in range(n)}
    md.put_many([{"collection": "notes", "key": k, "content": c} for k, c in contents.items()])
    return contents


def assert_all_searchable(md: Memdeck, contents: dict[str, str]) -> None:
    for key in contents:
        assert md.get("notes", key)["in_index"], key
    for key in list(contents)[::7]:
        hits = md.search(contents[key], k=5).hits
        mine = [h for h in hits if h.key == key]
        assert mine and mine[0].vector_rank == 1, (key, [(h.key, h.vector_rank) for h in hits])


def test_reopen_after_corrupt_checkpoint_rebuilds_with_notice(data_dir: Path) -> None:
    with Memdeck.open(data_dir, embedder=WordHashEmbedder()) as md:
        contents = fill(md)
        md.checkpoint()
        index_dir = md.layout.index_dir
    damaged = current_gen(index_dir)
    flip_byte(damaged / "hnsw.bin", 100)

    emb = WordHashEmbedder()
    with Memdeck.open(data_dir, embedder=emb) as md:
        assert emb.texts_embedded == 0, "the rebuild re-embedded items"
        notice = [m for m in md.notices if "rebuilding" in m]
        assert len(notice) == 1 and "checksum mismatch" in notice[0], md.notices
        assert current_gen(index_dir).name != damaged.name
        assert md.sync_check().clean
        assert md.index.live_count == len(contents)
        assert_all_searchable(md, contents)
    # The rebuild was checkpointed: the next open loads it quietly.
    with Memdeck.open(data_dir, embedder=WordHashEmbedder()) as md:
        assert md.notices == []
        assert md.index.live_count == len(contents)


@pytest.mark.parametrize("target, garbage", [("meta.json", b"null"), ("CURRENT", b"\xff\xfe\x00")],
                         ids=["meta-null", "current-binary"])
def test_reopen_with_garbled_checkpoint_file_rebuilds(data_dir: Path, target: str, garbage: bytes) -> None:
    with Memdeck.open(data_dir, embedder=WordHashEmbedder()) as md:
        contents = fill(md)
        md.checkpoint()
        index_dir = md.layout.index_dir
    path = index_dir / "CURRENT" if target == "CURRENT" else current_gen(index_dir) / target
    path.write_bytes(garbage)
    with Memdeck.open(data_dir, embedder=WordHashEmbedder()) as md:
        assert [m for m in md.notices if "rebuilding" in m], md.notices
        assert md.sync_check().clean
        assert_all_searchable(md, contents)


def test_reopen_without_index_folder_rebuilds(data_dir: Path) -> None:
    import shutil

    with Memdeck.open(data_dir, embedder=WordHashEmbedder()) as md:
        contents = fill(md)
        md.delete("notes", "n3")
        del contents["n3"]
        md.checkpoint()
        index_dir = md.layout.index_dir
    shutil.rmtree(index_dir)

    emb = WordHashEmbedder()
    with Memdeck.open(data_dir, embedder=emb) as md:
        assert emb.texts_embedded == 0
        assert not [m for m in md.notices if "drift" in m], md.notices
        assert (index_dir / "CURRENT").exists()
        assert md.index.live_count == len(contents)
        assert not md.get("notes", "n3")["in_index"]
        assert md.sync_check().clean
        assert_all_searchable(md, contents)


def test_changes_after_watermark_are_replayed_without_embedding(data_dir: Path) -> None:
    with Memdeck.open(data_dir, embedder=WordHashEmbedder()) as md:
        contents = fill(md, 20)
        md.checkpoint()
        watermark = md.index.watermark
        index_dir = md.layout.index_dir
        generation = current_gen(index_dir).name
        md.put("notes", "late1", "zeppelin arrives after the checkpoint")
        md.put("notes", "n4", "rewritten after the checkpoint with zeppelin words")
        md.delete("notes", "n5")
        md.set_status("notes", "n6", "quarantined")
        contents.update(late1="zeppelin arrives after the checkpoint",
                        n4="rewritten after the checkpoint with zeppelin words")
        del contents["n5"], contents["n6"]
        latest = md.stats(with_drift=False)["index"]["latest_seq"]
        assert latest == watermark + 4
    assert current_gen(index_dir).name == generation, "close() checkpointed: nothing left to replay"

    emb = WordHashEmbedder()
    with Memdeck.open(data_dir, embedder=emb) as md:
        assert emb.texts_embedded == 0, "replay called the embedder"
        assert md.notices == []
        assert current_gen(index_dir).name == generation, "the index was rebuilt instead of replayed"
        assert md.index.watermark == latest
        assert md.index.live_count == len(contents)
        n4 = md.get("notes", "n4")
        assert md.index.hash_of(n4["id"]) == n4["content_hash"][:HASH_PREFIX]
        assert not md.get("notes", "n5")["in_index"] and not md.get("notes", "n6")["in_index"]
        assert md.sync_check().clean
        assert emb.texts_embedded == 0
        assert_all_searchable(md, contents)
