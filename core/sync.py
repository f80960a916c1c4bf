"""Drift audit and repair between SQLite (the truth) and the hnswlib index (derived).

Per id: *missing* = active in SQLite but not in the index; *orphaned* = in the index but not active
in SQLite; *stale* = in both but the index holds a vector for other text, or the stored embedding was
made from other text or by another model. Items changed after the index's watermark are excluded, so
a write racing the audit is never reported as drift. The comparison is a sorted-array diff in numpy,
cheap enough to run on every heartbeat.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.db import Database
from core.vectors import HASH_PREFIX, VectorIndex


@dataclass
class DriftReport:
    missing: list[int] = field(default_factory=list)
    orphaned: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    active_items: int = 0
    index_live: int = 0
    watermark: int = 0
    skipped_in_flight: int = 0
    duration_ms: float = 0.0
    checked_at: float = field(default_factory=time.time)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.orphaned or self.stale)

    def counts(self) -> dict[str, int]:
        return {"missing": len(self.missing), "orphaned": len(self.orphaned), "stale": len(self.stale)}

    def as_dict(self, with_ids: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {**self.counts(), "clean": self.clean, "active_items": self.active_items,
                               "index_live": self.index_live, "watermark": self.watermark,
                               "skipped_in_flight": self.skipped_in_flight,
                               "duration_ms": round(self.duration_ms, 2), "checked_at": self.checked_at}
        if with_ids:
            out["ids"] = {"missing": self.missing, "orphaned": self.orphaned, "stale": self.stale}
        return out


def _ids_and_hashes(db: Database, sql: str, args: tuple[object, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """One covering-index scan returned as two packed strings (ids, hash prefixes) and parsed by numpy:
    a million rows as Python tuples would cost more than the scan itself."""
    with db.read() as conn:
        ids_text, hashes_text = conn.execute(sql, args).fetchone()
    if not ids_text:
        return np.array([], dtype=np.int64), np.array([], dtype=f"S{HASH_PREFIX}")
    ids = np.array(ids_text.split(","), dtype=np.int64)
    packed = hashes_text.encode("utf-8")
    if len(packed) != HASH_PREFIX * len(ids):  # a non-ASCII (corrupt) hash: fall back to row by row
        inner = sql.split(" FROM (", 1)[1].rsplit(")", 1)[0]
        with db.read() as conn:
            rows = conn.execute(inner, args).fetchall()
        return (np.array([r[0] for r in rows], dtype=np.int64),
                np.array([str(r[1])[:HASH_PREFIX].encode("utf-8", "replace")[:HASH_PREFIX] for r in rows],
                         dtype=f"S{HASH_PREFIX}"))
    return ids, np.frombuffer(packed, dtype=f"S{HASH_PREFIX}")


_PACKED_HASH = f"group_concat(printf('%-{HASH_PREFIX}.{HASH_PREFIX}s', content_hash), '')"
_ITEMS_SQL = (f"SELECT group_concat(id, ','), {_PACKED_HASH} FROM"
              " (SELECT id, content_hash FROM items INDEXED BY ix_items_status_hash WHERE status = 'active'"
              " ORDER BY id)")
_EMB_SQL = (f"SELECT group_concat(item_id, ','), {_PACKED_HASH} FROM"
            " (SELECT item_id, content_hash FROM embeddings INDEXED BY ix_embeddings_identity"
            " WHERE model_fp = ? ORDER BY item_id)")


def audit_drift(db: Database, index: VectorIndex, model_fp: str) -> DriftReport:
    """Compare every active item with the index, id by id.

    Two covering-index scans (active items; embedding identities under the current model) run in
    parallel on their own connections (sqlite3 releases the GIL while a query runs), then a numpy
    sorted-array diff. Neither content nor vector blobs are read. Change records after the index
    watermark are read last, so anything written between the two scans is excluded, never misreported."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    idx_labels, idx_hashes = index.snapshot_labels()
    watermark = index.watermark
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="memdeck-audit") as pool:
        items_future = pool.submit(_ids_and_hashes, db, _ITEMS_SQL)
        emb_future = pool.submit(_ids_and_hashes, db, _EMB_SQL, (model_fp,))
        db_ids, db_hashes = items_future.result()
        emb_ids, emb_hashes = emb_future.result()
    with db.read() as conn:
        in_flight = np.array(sorted({r[0] for r in conn.execute(
            "SELECT item_id FROM changes WHERE seq > ?", (watermark,))}), dtype=np.int64)
    n, m = len(db_ids), len(emb_ids)
    # The stored embedding is usable when one exists for the item under this model and for its text.
    pos = np.searchsorted(emb_ids, db_ids)
    pos_ok = pos < m
    has_emb = np.zeros(n, dtype=bool)
    has_emb[pos_ok] = emb_ids[pos[pos_ok]] == db_ids[pos_ok]
    emb_ok = has_emb.copy()
    emb_ok[has_emb] = emb_hashes[pos[has_emb]] == db_hashes[has_emb]
    if in_flight.size:
        keep_db = ~np.isin(db_ids, in_flight, assume_unique=True)
        db_ids, db_hashes, emb_ok = db_ids[keep_db], db_hashes[keep_db], emb_ok[keep_db]
        keep_idx = ~np.isin(idx_labels, in_flight, assume_unique=True)
        idx_labels, idx_hashes = idx_labels[keep_idx], idx_hashes[keep_idx]
    in_index = np.isin(db_ids, idx_labels, assume_unique=True)
    missing = db_ids[~in_index]
    orphaned = idx_labels[~np.isin(idx_labels, db_ids, assume_unique=True)]
    # Both sides are sorted by id, so the ids present in both line up position by position.
    both_idx = np.isin(idx_labels, db_ids, assume_unique=True)
    hash_differs = db_hashes[in_index] != idx_hashes[both_idx]
    stale = db_ids[in_index][hash_differs | ~emb_ok[in_index]]
    return DriftReport(
        missing=missing.tolist(), orphaned=orphaned.tolist(), stale=stale.tolist(), active_items=n,
        index_live=index.live_count, watermark=watermark, skipped_in_flight=int(in_flight.size),
        duration_ms=(time.perf_counter() - start) * 1000)
