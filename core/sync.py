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


def audit_drift(db: Database, index: VectorIndex, model_fp: str) -> DriftReport:
    """Compare every active item with the index, id by id."""
    start = time.perf_counter()
    idx_labels, idx_hashes = index.snapshot_labels()
    watermark = index.watermark
    with db.read() as conn:
        rows = conn.execute(
            f"SELECT i.id, substr(i.content_hash, 1, {HASH_PREFIX}),"
            " (e.model_fp IS ? AND e.content_hash IS i.content_hash) FROM items i"
            " LEFT JOIN embeddings e ON e.item_id = i.id WHERE i.status = 'active' ORDER BY i.id",
            (model_fp,)).fetchall()
        in_flight = np.array(sorted({r[0] for r in conn.execute(
            "SELECT item_id FROM changes WHERE seq > ?", (watermark,))}), dtype=np.int64)
    n = len(rows)
    db_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    db_hashes = np.array([r[1] for r in rows], dtype=f"S{HASH_PREFIX}") if n else np.array([], dtype="S16")
    emb_ok = np.fromiter((bool(r[2]) for r in rows), dtype=bool, count=n)
    if in_flight.size:
        keep_db = ~np.isin(db_ids, in_flight, assume_unique=True)
        db_ids, db_hashes, emb_ok = db_ids[keep_db], db_hashes[keep_db], emb_ok[keep_db]
        keep_idx = ~np.isin(idx_labels, in_flight, assume_unique=True)
        idx_labels, idx_hashes = idx_labels[keep_idx], idx_hashes[keep_idx]
    in_index = np.isin(db_ids, idx_labels, assume_unique=True)
    missing = db_ids[~in_index]
    orphaned = idx_labels[~np.isin(idx_labels, db_ids, assume_unique=True)]
    # Both sides are sorted by id, so the ids present in both line up position by position.
    both_db = in_index
    both_idx = np.isin(idx_labels, db_ids, assume_unique=True)
    hash_differs = db_hashes[both_db] != idx_hashes[both_idx]
    stale = db_ids[both_db][hash_differs | ~emb_ok[both_db]]
    return DriftReport(
        missing=missing.tolist(), orphaned=orphaned.tolist(), stale=stale.tolist(), active_items=n,
        index_live=index.live_count, watermark=watermark, skipped_in_flight=int(in_flight.size),
        duration_ms=(time.perf_counter() - start) * 1000)
