"""The hnswlib index, derived from SQLite: labels are item ids, checkpoints are atomic and verified.

A checkpoint is a generation folder ``index/ckpt-<watermark>-<nonce>/`` holding ``hnsw.bin``,
``labels.npz`` (live labels, their content hashes, tombstones) and ``meta.json`` (dim, space, params,
model fingerprint, watermark, SHA-256 of both files). It is written to a temp folder, fsynced and
renamed, then ``index/CURRENT`` is switched atomically. A kill at any moment leaves the previous
generation readable. hnswlib silently loads files with flipped bytes, a wrong dim or space, so all of
those are checked before a checkpoint is trusted.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import IndexError_
from core.paths import atomic_write_bytes, fsync_dir
from core.rwlock import RWLock

log = logging.getLogger(__name__)

FORMAT = 1
SPACE = "cosine"
HASH_PREFIX = 16  # hex chars of the content hash kept per label: enough to see staleness, cheap to diff


@dataclass(frozen=True)
class IndexParams:
    dim: int
    M: int = 16
    ef_construction: int = 200
    ef_search: int = 100
    threads: int = 2


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


@contextmanager
def _dir_lock(index_dir: Path, exclusive: bool) -> Iterator[None]:
    """Cross-process lock so one process never deletes a generation another is loading."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class VectorIndex:
    """Thread-safe wrapper: queries share a lock; add, delete, resize and save take it exclusively."""

    def __init__(self, params: IndexParams, model_fp: str, capacity: int = 1024) -> None:
        import hnswlib

        self.params = params
        self.model_fp = model_fp
        self.lock = RWLock()
        self._index = hnswlib.Index(space=SPACE, dim=params.dim)
        self._index.init_index(max_elements=max(16, capacity), ef_construction=params.ef_construction,
                               M=params.M)
        self._configure()
        self._hash: dict[int, str] = {}
        self._tombstones: set[int] = set()
        self.watermark = 0
        self.dirty_changes = 0
        self.mutations = 0  # bumped on every add/remove: lets callers tell whether the index changed
        self.last_checkpoint_at = time.time()

    def _configure(self) -> None:
        # ef is not saved in the file: set it after every init and load.
        self._index.set_ef(self.params.ef_search)
        self._index.set_num_threads(self.params.threads)

    # ----- reading -----
    @property
    def live_count(self) -> int:
        return len(self._hash)

    @property
    def capacity(self) -> int:
        return int(self._index.get_max_elements())

    @property
    def tombstone_count(self) -> int:
        return len(self._tombstones)

    def contains(self, label: int) -> bool:
        return label in self._hash

    def hash_of(self, label: int) -> str | None:
        return self._hash.get(label)

    def query(self, vector: np.ndarray, k: int,
              filter_fn: Callable[[int], bool] | None = None) -> list[tuple[int, float]]:
        """Nearest labels with cosine similarity, best first; never asks hnswlib for more than exists."""
        with self.lock.shared():
            k = min(k, len(self._hash))
            if k <= 0:
                return []
            q = np.asarray(vector, dtype=np.float32).reshape(1, -1)
            ef = max(self.params.ef_search, k)
            counted = False
            while True:
                try:
                    if ef != self.params.ef_search:
                        self._index.set_ef(ef)
                    labels, dists = self._index.knn_query(q, k=k, filter=filter_fn)
                    break
                except RuntimeError:
                    # "Cannot return the results in a contiguous 2D array": fewer reachable live points
                    # than k (deletions, filters). Widen the search, then shrink k.
                    if ef < 4 * max(k, self.params.ef_search) and ef < len(self._hash):
                        ef *= 2
                    elif filter_fn is not None and not counted:
                        # Fewer labels pass the filter than k: ask for exactly as many as exist.
                        counted = True
                        k = min(k, sum(1 for label in self._hash if filter_fn(label)))
                        if k == 0:
                            return []
                    elif k > 1:
                        k -= 1
                    else:
                        return []
                finally:
                    if ef != self.params.ef_search:
                        self._index.set_ef(self.params.ef_search)
            return [(int(lbl), float(1.0 - d)) for lbl, d in zip(labels[0], dists[0], strict=True)]

    def snapshot_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted live labels and their hash prefixes, for the drift audit."""
        with self.lock.shared():
            labels = np.fromiter(self._hash.keys(), dtype=np.int64, count=len(self._hash))
            hashes = np.array(list(self._hash.values()), dtype=f"S{HASH_PREFIX}")
        order = np.argsort(labels, kind="stable")
        return labels[order], hashes[order]

    def get_vectors(self, labels: list[int]) -> np.ndarray:
        with self.lock.shared():
            return np.asarray(self._index.get_items(labels), dtype=np.float32)

    # ----- writing -----
    def add(self, labels: list[int], vectors: np.ndarray, hashes: list[str]) -> None:
        """Insert or replace vectors for ``labels`` (re-adding a deleted label revives it)."""
        if not labels:
            return
        vecs = np.asarray(vectors, dtype=np.float32).reshape(len(labels), self.params.dim)
        with self.lock.exclusive():
            needed = self._index.get_current_count() + len(labels)
            if needed > self.capacity:
                self._index.resize_index(max(needed, self.capacity * 2))
            self._index.add_items(vecs, np.asarray(labels, dtype=np.int64))
            for label, h in zip(labels, hashes, strict=True):
                self._hash[label] = h[:HASH_PREFIX]
                self._tombstones.discard(label)
            self.dirty_changes += len(labels)
            self.mutations += 1

    def remove(self, labels: list[int]) -> int:
        """Mark live labels deleted; labels not in the index are ignored. Returns how many were removed."""
        removed = 0
        with self.lock.exclusive():
            for label in labels:
                if label in self._hash:
                    self._index.mark_deleted(label)
                    del self._hash[label]
                    self._tombstones.add(label)
                    removed += 1
            self.dirty_changes += removed
            self.mutations += 1
        return removed

    # ----- persistence -----
    def save_checkpoint(self, index_dir: Path) -> Path:
        """Write a new generation and switch CURRENT to it atomically; old generations are removed."""
        index_dir.mkdir(parents=True, exist_ok=True)
        with _dir_lock(index_dir, exclusive=True), self.lock.shared():
            tmp = index_dir / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
            try:
                self._index.save_index(str(tmp / "hnsw.bin"))
                labels = np.fromiter(self._hash.keys(), dtype=np.int64, count=len(self._hash))
                hashes = np.array(list(self._hash.values()), dtype=f"S{HASH_PREFIX}")
                tombs = np.fromiter(self._tombstones, dtype=np.int64, count=len(self._tombstones))
                with open(tmp / "labels.npz", "wb") as fh:
                    np.savez(fh, labels=labels, hashes=hashes, tombstones=tombs)
                meta = {
                    "format": FORMAT, "space": SPACE, "dim": self.params.dim, "M": self.params.M,
                    "ef_construction": self.params.ef_construction, "capacity": self.capacity,
                    "element_count": int(self._index.get_current_count()), "live_count": len(self._hash),
                    "watermark": self.watermark, "model_fp": self.model_fp, "created_at": time.time(),
                    "sha256": {"hnsw.bin": _sha256_file(tmp / "hnsw.bin"),
                               "labels.npz": _sha256_file(tmp / "labels.npz")},
                }
                (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
                for name in ("hnsw.bin", "labels.npz", "meta.json"):
                    _fsync_file(tmp / name)
                fsync_dir(tmp)
                final = index_dir / f"ckpt-{self.watermark:012d}-{uuid.uuid4().hex[:8]}"
                os.rename(tmp, final)
                fsync_dir(index_dir)
                atomic_write_bytes(index_dir / "CURRENT", final.name.encode())
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            for old in index_dir.glob("ckpt-*"):
                if old.name != final.name:
                    shutil.rmtree(old, ignore_errors=True)
            self.dirty_changes = 0
            self.last_checkpoint_at = time.time()
            return final

    @classmethod
    def load_checkpoint(cls, index_dir: Path, params: IndexParams, model_fp: str) -> VectorIndex:
        """Load and verify the CURRENT generation; raise ``IndexError_`` saying what is wrong."""
        import hnswlib

        with _dir_lock(index_dir, exclusive=False):
            gen = index_dir / _read_current(index_dir)
            try:
                meta: dict[str, Any] = json.loads((gen / "meta.json").read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise IndexError_(f"index checkpoint {gen.name} has no readable meta.json ({exc})") from exc
            if not isinstance(meta, dict):
                raise IndexError_(f"index checkpoint {gen.name} has a meta.json that is not an object")
            problems = []
            if meta.get("format") != FORMAT:
                problems.append(f"format {meta.get('format')} != {FORMAT}")
            if meta.get("space") != SPACE:
                problems.append(f"space {meta.get('space')!r} != {SPACE!r}")
            if meta.get("dim") != params.dim:
                problems.append(f"dim {meta.get('dim')} != {params.dim}")
            if meta.get("model_fp") != model_fp:
                problems.append("built with another embedding model")
            for name in ("hnsw.bin", "labels.npz"):
                path = gen / name
                if not path.exists():
                    problems.append(f"{name} missing")
                elif _sha256_file(path) != meta.get("sha256", {}).get(name):
                    problems.append(f"{name} checksum mismatch (file damaged)")
            if problems:
                raise IndexError_(f"index checkpoint {gen.name} rejected: " + "; ".join(problems))
            self = cls.__new__(cls)
            self.params = params
            self.model_fp = model_fp
            self.lock = RWLock()
            self._index = hnswlib.Index(space=SPACE, dim=params.dim)
            try:
                capacity, element_count = int(meta["capacity"]), int(meta["element_count"])
                live_count, watermark = int(meta["live_count"]), int(meta["watermark"])
                self._index.load_index(str(gen / "hnsw.bin"), max_elements=capacity)
                with np.load(gen / "labels.npz") as npz:
                    labels, hashes, tombs = npz["labels"], npz["hashes"], npz["tombstones"]
            except Exception as exc:
                raise IndexError_(f"index checkpoint {gen.name} unreadable: {exc}") from exc
        self._configure()
        if int(self._index.get_current_count()) != element_count or len(labels) != live_count:
            raise IndexError_(f"index checkpoint {gen.name} counts disagree with its meta.json")
        self._hash = {int(lbl): h.decode() for lbl, h in zip(labels.tolist(), hashes, strict=True)}
        self._tombstones = {int(t) for t in tombs.tolist()}
        self.watermark = watermark
        self.dirty_changes = 0
        self.mutations = 0
        self.last_checkpoint_at = time.time()
        return self

    def file_size(self, index_dir: Path) -> int:
        try:
            gen = index_dir / _read_current(index_dir)
        except IndexError_:
            return 0
        return sum(p.stat().st_size for p in gen.glob("*") if p.is_file())


def _read_current(index_dir: Path) -> str:
    """The generation named by CURRENT, or ``IndexError_`` if it is absent, unreadable or malformed."""
    pointer = index_dir / "CURRENT"
    if not pointer.exists():
        raise IndexError_("no index checkpoint yet")
    try:
        name = pointer.read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexError_(f"index/CURRENT is unreadable ({exc})") from exc
    if not name.startswith("ckpt-") or "/" in name or name in {".", ".."}:
        raise IndexError_(f"index/CURRENT names {name[:40]!r}, not a checkpoint generation")
    return name


def clean_stray_files(index_dir: Path) -> list[str]:
    """Remove temp folders from checkpoints killed mid-write, and generations CURRENT does not name."""
    removed: list[str] = []
    if not index_dir.exists():
        return removed
    with _dir_lock(index_dir, exclusive=True):
        try:
            current: str | None = _read_current(index_dir)
        except IndexError_:
            current = None  # unreadable or absent: every generation is unreachable and the open path rebuilds
        for path in index_dir.iterdir():
            stray_tmp = path.name.startswith(".tmp-") or path.name.startswith(".CURRENT.tmp")
            stale_gen = path.name.startswith("ckpt-") and path.name != current
            if stray_tmp or stale_gen:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path.name)
    return removed
