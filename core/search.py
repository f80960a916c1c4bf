"""Hybrid retrieval: hnswlib kNN and SQLite FTS5 keyword search, fused with reciprocal rank fusion.

Every hit keeps the evidence for its rank (vector similarity and rank, keyword score and rank, fused
score), so a user can see *why* something came back. Quarantined and deleted items are excluded unless
the caller asks for them by status.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.vectors import VectorIndex

_TOKEN = re.compile(r"\w+", re.UNICODE)
_SQL_CHUNK = 500


@dataclass
class SearchHit:
    id: int
    collection: str
    key: str
    content: str
    status: str
    source: str
    metadata: str
    updated_at: float
    version: int
    fused: float = 0.0
    vector_score: float | None = None
    vector_rank: int | None = None
    keyword_score: float | None = None
    keyword_rank: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchFilters:
    collections: Sequence[str] = ()
    statuses: Sequence[str] = ("active",)
    since: float | None = None
    until: float | None = None

    def sql(self, alias: str = "i") -> tuple[str, list[Any]]:
        parts: list[str] = []
        args: list[Any] = []
        parts.append(f"{alias}.status IN ({','.join('?' * len(self.statuses))})")
        args.extend(self.statuses)
        if self.collections:
            parts.append(f"{alias}.collection IN ({','.join('?' * len(self.collections))})")
            args.extend(self.collections)
        if self.since is not None:
            parts.append(f"{alias}.updated_at >= ?")
            args.append(self.since)
        if self.until is not None:
            parts.append(f"{alias}.updated_at <= ?")
            args.append(self.until)
        return " AND ".join(parts), args


@dataclass
class SearchWeights:
    vector: float = 1.0
    keyword: float = 1.0
    rrf_k: int = 60
    candidates: int = 50


@dataclass
class SearchResult:
    query: str
    hits: list[SearchHit]
    mode: str  # hybrid, keyword-only, vector-only
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"query": self.query, "mode": self.mode, "warnings": self.warnings,
                "timings_ms": self.timings_ms, "hits": [h.as_dict() for h in self.hits]}


# Words that match most documents: OR-ing them makes BM25 score nearly every row (17k of 20k for "the",
# measured) for no ranking gain. They are kept only when a query has nothing else.
STOP_WORDS = frozenset("""a an and are as at be been but by can did do does for from had has have how i if in
into is it its me my no not of on or our so than that the their them then there these they this to too
us was we were what when where which who whom why will with would you your""".split())  # noqa: SIM905


def fts_query(text: str) -> str | None:
    """A safe FTS5 MATCH expression: words quoted and OR-ed (user punctuation never reaches FTS5), with
    stop words dropped unless the query is made of nothing else."""
    tokens = [t for t in _TOKEN.findall(text.lower()) if t]
    if not tokens:
        return None
    meaningful = [t for t in tokens if t not in STOP_WORDS]
    return " OR ".join(f'"{t}"' for t in dict.fromkeys(meaningful or tokens))


_ROW_SQL = ("SELECT i.id, i.collection, i.key, i.content, i.status, i.source, i.metadata, i.updated_at,"
            " i.version FROM items i")


def fetch_rows(conn: sqlite3.Connection, ids: Sequence[int], filters: SearchFilters) -> dict[int, SearchHit]:
    where, args = filters.sql()
    out: dict[int, SearchHit] = {}
    for i in range(0, len(ids), _SQL_CHUNK):
        chunk = list(ids[i:i + _SQL_CHUNK])
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"{_ROW_SQL} WHERE i.id IN ({marks}) AND {where}", [*chunk, *args]):
            out[row[0]] = SearchHit(*row)
    return out


def vector_candidates(conn: sqlite3.Connection, index: VectorIndex, qvec: np.ndarray, want: int,
                      filters: SearchFilters) -> list[tuple[SearchHit, float]]:
    """kNN, then the row fetch and filters; widens k until ``want`` hits pass or the index is exhausted."""
    k = max(want, 10)
    while True:
        pairs = index.query(qvec, k)
        rows = fetch_rows(conn, [p[0] for p in pairs], filters)
        hits = [(rows[label], sim) for label, sim in pairs if label in rows]
        if len(hits) >= want or len(pairs) < k or k >= index.live_count:
            return hits[:want]
        k = min(index.live_count, k * 4)


def keyword_candidates(conn: sqlite3.Connection, text: str, want: int,
                       filters: SearchFilters) -> list[tuple[SearchHit, float]]:
    match = fts_query(text)
    if match is None:
        return []
    where, args = filters.sql()
    sql = (f"SELECT i.id, i.collection, i.key, i.content, i.status, i.source, i.metadata, i.updated_at,"
           f" i.version, bm25(items_fts) AS score FROM items_fts JOIN items i ON i.id = items_fts.rowid"
           f" WHERE items_fts MATCH ? AND {where} ORDER BY score LIMIT ?")
    return [(SearchHit(*row[:9]), -float(row[9])) for row in conn.execute(sql, [match, *args, want])]


def fuse(vector_hits: list[tuple[SearchHit, float]], keyword_hits: list[tuple[SearchHit, float]],
         weights: SearchWeights, k: int) -> list[SearchHit]:
    """Reciprocal rank fusion: score = sum of weight / (rrf_k + rank) over the retrievers that found it."""
    merged: dict[int, SearchHit] = {}
    for rank, (hit, sim) in enumerate(vector_hits, start=1):
        hit.vector_score, hit.vector_rank = round(sim, 6), rank
        hit.fused += weights.vector / (weights.rrf_k + rank)
        merged[hit.id] = hit
    for rank, (hit, score) in enumerate(keyword_hits, start=1):
        target = merged.setdefault(hit.id, hit)
        target.keyword_score, target.keyword_rank = round(score, 6), rank
        target.fused += weights.keyword / (weights.rrf_k + rank)
    ranked = sorted(merged.values(), key=lambda h: (-h.fused, h.id))
    for hit in ranked:
        hit.fused = round(hit.fused, 8)
    return ranked[:k]
