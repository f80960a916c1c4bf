"""Keeps the hnswlib index derived from SQLite: replay after the watermark, and full rebuilds.

Nothing is ever re-embedded here: vectors come from the ``embeddings`` table. An item whose stored
embedding does not match its content under the current model is left out and reported as drift,
so the index never serves a vector for text it does not describe.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import numpy as np

from core.db import Database
from core.vectors import IndexParams, VectorIndex

_SQL_CHUNK = 500
_REBUILD_BATCH = 5000


def _apply_items(conn: sqlite3.Connection, index: VectorIndex, item_ids: list[int], model_fp: str) -> None:
    adds_l: list[int] = []
    adds_v: list[np.ndarray] = []
    adds_h: list[str] = []
    removes: list[int] = []
    for i in range(0, len(item_ids), _SQL_CHUNK):
        chunk = item_ids[i:i + _SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        found = set()
        for item_id, status, chash, ehash, efp, blob in conn.execute(
                "SELECT i.id, i.status, i.content_hash, e.content_hash, e.model_fp, e.vector FROM items i"
                f" LEFT JOIN embeddings e ON e.item_id = i.id WHERE i.id IN ({marks})", chunk):
            found.add(item_id)
            if status == "active" and ehash == chash and efp == model_fp and blob is not None:
                adds_l.append(item_id)
                adds_v.append(np.frombuffer(blob, dtype=np.float32))
                adds_h.append(chash)
            else:
                removes.append(item_id)
        removes.extend(x for x in chunk if x not in found)  # purged rows
    if removes:
        index.remove(removes)
    if adds_l:
        index.add(adds_l, np.vstack(adds_v), adds_h)


def apply_changes(db: Database, index: VectorIndex, model_fp: str) -> int:
    """Apply every change after ``index.watermark`` in sequence order; returns how many were applied."""
    with db.read() as conn:
        rows = conn.execute("SELECT seq, item_id FROM changes WHERE seq > ? ORDER BY seq",
                            (index.watermark,)).fetchall()
        if not rows:
            return 0
        item_ids = list(dict.fromkeys(r[1] for r in rows))
        _apply_items(conn, index, item_ids, model_fp)
    index.watermark = int(rows[-1][0])
    return len(rows)


def latest_seq(db: Database) -> int:
    with db.read() as conn:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return int(row[0]) if row else 0


def rebuild(db: Database, params: IndexParams, model_fp: str,
            progress: Callable[[int, int], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> VectorIndex:
    """A fresh index from every active item with a valid embedding, consistent with one DB snapshot."""
    with db.read() as conn:
        seq_row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        watermark = int(seq_row[0]) if seq_row else 0
        total = int(conn.execute("SELECT count(*) FROM items WHERE status = 'active'").fetchone()[0])
        index = VectorIndex(params, model_fp, capacity=max(1024, int(total * 1.25)))
        cursor = conn.execute(
            "SELECT i.id, i.content_hash, e.vector FROM items i JOIN embeddings e ON e.item_id = i.id"
            " WHERE i.status = 'active' AND e.model_fp = ? AND e.content_hash = i.content_hash"
            " ORDER BY i.id", (model_fp,))
        done = 0
        while True:
            if should_stop is not None and should_stop():
                from core.errors import Cancelled

                raise Cancelled("index rebuild cancelled; the previous index is still in use")
            batch = cursor.fetchmany(_REBUILD_BATCH)
            if not batch:
                break
            vecs = np.frombuffer(b"".join(r[2] for r in batch), dtype=np.float32).reshape(len(batch), -1)
            index.add([r[0] for r in batch], vecs, [r[1] for r in batch])
            done += len(batch)
            if progress is not None:
                progress(done, total)
    index.watermark = watermark
    return index
