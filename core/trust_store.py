"""SQL for trust scores, their history, admin reviews, contradictions and the judge cache (schema v5).

Only reads and writes rows: what the numbers mean is ``core.trust``, when they are recomputed is
``core.trust_engine``. Every function takes an open connection, so the caller decides the transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SCORED_STATUSES = ("active", "quarantined")


@dataclass
class ItemRow:
    """The columns of an item that trust and contradiction checks need."""

    id: int
    collection: str
    key: str
    content: str
    metadata: dict[str, Any]
    source: str
    content_hash: str
    version: int
    status: str
    updated_at: float

    @property
    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "collection": self.collection, "key": self.key}

    @property
    def name(self) -> str:
        return f"{self.collection}/{self.key}"


_ITEM_COLS = "id, collection, key, content, metadata, source, content_hash, version, status, updated_at"


def _item(row: Sequence[Any]) -> ItemRow:
    try:
        meta = json.loads(row[4]) if row[4] else {}
    except ValueError:
        meta = {}
    return ItemRow(int(row[0]), row[1], row[2], row[3], meta if isinstance(meta, dict) else {}, row[5] or "",
                   row[6], int(row[7]), row[8], float(row[9]))


def scored_items(conn: sqlite3.Connection) -> list[ItemRow]:
    """Every item that has a trust score: active and quarantined (deleted ones are out of it)."""
    return [_item(r) for r in conn.execute(
        f"SELECT {_ITEM_COLS} FROM items WHERE status IN ('active', 'quarantined') ORDER BY id")]


def scored_keys(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """(id, key) of every scored item: what the pass needs to know which subjects exist."""
    return [(int(r[0]), str(r[1])) for r in conn.execute(
        "SELECT id, key FROM items WHERE status IN ('active', 'quarantined') ORDER BY id")]


def items_by_id(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, ItemRow]:
    out: dict[int, ItemRow] = {}
    chunk: list[int] = []
    for item_id in ids:
        chunk.append(int(item_id))
        if len(chunk) == 500:
            out.update(_fetch(conn, chunk))
            chunk = []
    if chunk:
        out.update(_fetch(conn, chunk))
    return out


def _fetch(conn: sqlite3.Connection, ids: list[int]) -> dict[int, ItemRow]:
    marks = ",".join("?" * len(ids))
    return {int(r[0]): _item(r) for r in conn.execute(f"SELECT {_ITEM_COLS} FROM items WHERE id IN ({marks})", ids)}


def changed_since(conn: sqlite3.Connection, seq: int, head_only: bool = False) -> tuple[set[int], int]:
    """Item ids with a change after ``seq``, and the newest change sequence number."""
    head = int(conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])
    if head_only:
        return set(), head
    ids = {int(r[0]) for r in conn.execute("SELECT DISTINCT item_id FROM changes WHERE seq > ?", (seq,))}
    return ids, head


def vector_of(conn: sqlite3.Connection, item: ItemRow, model_fp: str) -> np.ndarray | None:
    """The item's stored embedding (SQLite is the source of truth), or None when it is stale or absent."""
    row = conn.execute("SELECT content_hash, model_fp, dim, vector FROM embeddings WHERE item_id = ?",
                       (item.id,)).fetchone()
    if row is None or row[0] != item.content_hash or row[1] != model_fp:
        return None
    return np.frombuffer(row[3], dtype=np.float32, count=int(row[2]))


def previous_content(conn: sqlite3.Connection, item: ItemRow) -> tuple[int, str, str] | None:
    """(version, content, hash) of the newest earlier version whose text differs from the current one."""
    row = conn.execute("SELECT version, content, content_hash FROM item_versions WHERE item_id = ? AND version < ?"
                       " AND content_hash != ? ORDER BY version DESC LIMIT 1",
                       (item.id, item.version, item.content_hash)).fetchone()
    return (int(row[0]), row[1], row[2]) if row else None


def content_since(conn: sqlite3.Connection) -> dict[int, float]:
    """When each item's current text was first written: status changes (a quarantine) keep it fresh-dated
    where it was, unlike ``updated_at``."""
    return {int(r[0]): float(r[1]) for r in conn.execute(
        "SELECT v.item_id, min(v.valid_from) FROM item_versions v JOIN items i ON i.id = v.item_id"
        " AND v.content_hash = i.content_hash GROUP BY v.item_id")}


def usage_counts(conn: sqlite3.Connection) -> dict[int, tuple[int, int, int]]:
    """(episodes that retrieved it, helpful, unhelpful) per item. A rating counts for the items the answer
    cited (or quoted, when retrieval-only): those are the ones the user judged."""
    out: dict[int, tuple[int, int, int]] = {}
    rows = conn.execute(
        "WITH latest AS (SELECT f.episode_id, f.rating FROM feedback f WHERE f.id IN"
        " (SELECT max(id) FROM feedback GROUP BY episode_id))"
        " SELECT l.item_id, count(*),"
        " sum(CASE WHEN r.rating = 1 AND (l.cited = 1 OR e.answer_mode = 'retrieval-only') THEN 1 ELSE 0 END),"
        " sum(CASE WHEN r.rating = -1 AND (l.cited = 1 OR e.answer_mode = 'retrieval-only') THEN 1 ELSE 0 END)"
        " FROM episode_items l JOIN episodes e ON e.id = l.episode_id LEFT JOIN latest r ON r.episode_id = l.episode_id"
        " GROUP BY l.item_id")
    for item_id, n, up, down in rows:
        out[int(item_id)] = (int(n), int(up or 0), int(down or 0))
    return out


# --------------------------------------------------------------------------- reviews
@dataclass
class Review:
    item_id: int
    item_version: int
    verdict: str
    note: str
    actor: str
    at: float
    features: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "actor": self.actor, "at": self.at, "note": self.note,
                "version": self.item_version}


def latest_reviews(conn: sqlite3.Connection) -> dict[int, Review]:
    """The latest admin decision per item (an admin who changes their mind overrides themselves)."""
    out: dict[int, Review] = {}
    for r in conn.execute("SELECT item_id, item_version, verdict, note, actor, at, features FROM trust_reviews"
                          " WHERE id IN (SELECT max(id) FROM trust_reviews GROUP BY item_id)"):
        out[int(r[0])] = Review(int(r[0]), int(r[1]), r[2], r[3], r[4], float(r[5]), json.loads(r[6]))
    return out


def add_review(conn: sqlite3.Connection, item_id: int, version: int, verdict: str, note: str, actor: str,
               at: float, features: dict[str, Any]) -> int:
    cur = conn.execute("INSERT INTO trust_reviews (item_id, item_version, verdict, note, actor, at, features)"
                       " VALUES (?,?,?,?,?,?,?)",
                       (item_id, version, verdict, note, actor, at, json.dumps(features, sort_keys=True)))
    return int(cur.lastrowid or 0)


# --------------------------------------------------------------------------- scores
@dataclass
class StoredScore:
    score: float
    method: str
    components: dict[str, float]
    inputs: dict[str, Any]
    item_version: int
    computed_at: float
    quarantine_reason: str | None
    policy_quarantined: bool
    hold_version: int | None


def stored_scores(conn: sqlite3.Connection, ids: Iterable[int] | None = None) -> dict[int, StoredScore]:
    sql = ("SELECT item_id, score, method, components, inputs, item_version, computed_at, quarantine_reason,"
           " policy_quarantined, hold_version FROM trust_scores")
    if ids is None:
        rows = conn.execute(sql).fetchall()
    else:
        wanted = [int(i) for i in ids]
        rows = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows += conn.execute(f"{sql} WHERE item_id IN ({','.join('?' * len(chunk))})", chunk).fetchall()
    return {int(r[0]): StoredScore(float(r[1]), r[2], json.loads(r[3]), json.loads(r[4]), int(r[5]), float(r[6]),
                                   r[7], bool(r[8]), None if r[9] is None else int(r[9])) for r in rows}


def save_scores(conn: sqlite3.Connection, rows: list[tuple[int, StoredScore]]) -> None:
    conn.executemany(
        "INSERT INTO trust_scores (item_id, score, method, components, inputs, item_version, computed_at,"
        " quarantine_reason, policy_quarantined, hold_version) VALUES (?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(item_id) DO UPDATE SET score=excluded.score, method=excluded.method,"
        " components=excluded.components, inputs=excluded.inputs, item_version=excluded.item_version,"
        " computed_at=excluded.computed_at, quarantine_reason=excluded.quarantine_reason,"
        " policy_quarantined=excluded.policy_quarantined, hold_version=excluded.hold_version",
        [(i, round(s.score, 6), s.method, json.dumps(s.components, sort_keys=True),
          json.dumps(s.inputs, sort_keys=True), s.item_version, s.computed_at, s.quarantine_reason,
          int(s.policy_quarantined), s.hold_version) for i, s in rows])


def set_hold(conn: sqlite3.Connection, item_id: int, version: int | None, policy_quarantined: bool) -> None:
    """Policy leaves ``version`` of the item alone (an admin restored or approved it)."""
    conn.execute("UPDATE trust_scores SET hold_version = ?, policy_quarantined = ?, quarantine_reason = NULL"
                 " WHERE item_id = ?", (version, int(policy_quarantined), item_id))


def last_history(conn: sqlite3.Connection) -> dict[int, float]:
    """The newest history point per item (SQLite returns the row of ``max(at)`` for the bare column)."""
    return {int(r[0]): float(r[1]) for r in conn.execute(
        "SELECT item_id, score, max(at) FROM trust_history GROUP BY item_id")}


def item_history(conn: sqlite3.Connection, item_id: int, limit: int = 200) -> list[dict[str, float]]:
    rows = conn.execute("SELECT at, score FROM trust_history WHERE item_id = ? ORDER BY at DESC LIMIT ?",
                        (item_id, limit)).fetchall()
    return [{"at": float(at), "score": float(s)} for at, s in reversed(rows)]


def collection_trends(conn: sqlite3.Connection, points: int = 30) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for collection, avg in conn.execute(
            "SELECT collection, avg FROM (SELECT collection, at, avg, row_number() OVER"
            " (PARTITION BY collection ORDER BY at DESC) AS n FROM trust_collection_history) WHERE n <= ?"
            " ORDER BY collection, at", (points,)):
        out.setdefault(collection, []).append(round(float(avg), 4))
    return out


def last_collection_point(conn: sqlite3.Connection) -> float:
    return float(conn.execute("SELECT coalesce(max(at), 0) FROM trust_collection_history").fetchone()[0])


# --------------------------------------------------------------------------- contradictions
@dataclass
class Contradiction:
    id: int
    a_id: int
    a_version: int
    a_hash: str
    b_id: int
    b_version: int
    b_hash: str
    kind: str
    score: float
    findings: list[dict[str, Any]]
    method: str
    status: str
    found_at: float
    resolved_at: float | None
    resolved_by: str | None
    resolution: str | None

    @property
    def is_version(self) -> bool:
        return self.a_id == self.b_id

    def other(self, item_id: int) -> int:
        return self.b_id if item_id == self.a_id else self.a_id


_C_COLS = ("id, a_id, a_version, a_hash, b_id, b_version, b_hash, kind, score, findings, method, status, found_at,"
           " resolved_at, resolved_by, resolution")


def _contradiction(r: Sequence[Any]) -> Contradiction:
    return Contradiction(int(r[0]), int(r[1]), int(r[2]), r[3], int(r[4]), int(r[5]), r[6], r[7], float(r[8]),
                         json.loads(r[9]), r[10], r[11], float(r[12]), r[13], r[14], r[15])


def contradictions(conn: sqlite3.Connection, status: str | None = "open", limit: int = 200,
                   item_id: int | None = None) -> list[Contradiction]:
    where: list[str] = []
    args: list[Any] = []
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if item_id is not None:
        where.append("(a_id = ? OR b_id = ?)")
        args += [item_id, item_id]
    sql = f"SELECT {_C_COLS} FROM contradictions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    order = "score DESC, id" if status == "open" else "id DESC"
    return [_contradiction(r) for r in conn.execute(f"{sql} ORDER BY {order} LIMIT ?", (*args, limit))]


def contradiction(conn: sqlite3.Connection, cid: int) -> Contradiction | None:
    row = conn.execute(f"SELECT {_C_COLS} FROM contradictions WHERE id = ?", (cid,)).fetchone()
    return _contradiction(row) if row else None


def insert_contradiction(conn: sqlite3.Connection, a: tuple[int, int, str], b: tuple[int, int, str], kind: str,
                         score: float, findings: list[dict[str, Any]], method: str, at: float) -> int | None:
    """Record a pair unless the same two texts were recorded before (whatever became of it); the new id or None.

    For a version conflict the order of the two texts is not fixed: resolving one with "keep A" writes the
    older text back, and the next pass sees the same two texts the other way round."""
    if a[0] == b[0] and conn.execute(
            "SELECT 1 FROM contradictions WHERE a_id = ? AND b_id = ? AND a_hash = ? AND b_hash = ?",
            (a[0], b[0], b[2], a[2])).fetchone():
        return None
    cur = conn.execute(
        "INSERT OR IGNORE INTO contradictions (a_id, a_version, a_hash, b_id, b_version, b_hash, kind, score,"
        " findings, method, status, found_at) VALUES (?,?,?,?,?,?,?,?,?,?, 'open', ?)",
        (a[0], a[1], a[2], b[0], b[1], b[2], kind, round(score, 4), json.dumps(findings), method, at))
    return int(cur.lastrowid) if cur.rowcount and cur.lastrowid is not None else None


def close_contradiction(conn: sqlite3.Connection, cid: int, status: str, resolution: str, actor: str,
                        at: float) -> None:
    conn.execute("UPDATE contradictions SET status = ?, resolution = ?, resolved_by = ?, resolved_at = ?"
                 " WHERE id = ?", (status, resolution, actor, at, cid))


def supersede_stale(conn: sqlite3.Connection, actor: str, at: float) -> list[int]:
    """Open contradictions one of whose texts has since changed or gone: resolved as ``superseded``
    (the new text gets its own check). Returns their ids."""
    rows = conn.execute(
        "SELECT c.id FROM contradictions c LEFT JOIN items a ON a.id = c.a_id LEFT JOIN items b ON b.id = c.b_id"
        " WHERE c.status = 'open' AND (a.id IS NULL OR b.id IS NULL OR b.content_hash != c.b_hash"
        " OR (c.a_id != c.b_id AND a.content_hash != c.a_hash)"
        " OR a.status NOT IN ('active', 'quarantined') OR b.status NOT IN ('active', 'quarantined'))").fetchall()
    ids = [int(r[0]) for r in rows]
    for cid in ids:
        close_contradiction(conn, cid, "resolved", "superseded: an item changed or was deleted", actor, at)
    return ids


def delete_item_rows(conn: sqlite3.Connection, item_id: int) -> int:
    """Purge: trust rows and contradictions that quote the item go with it; returns contradictions removed."""
    conn.execute("DELETE FROM trust_scores WHERE item_id = ?", (item_id,))
    conn.execute("DELETE FROM trust_history WHERE item_id = ?", (item_id,))
    conn.execute("UPDATE trust_reviews SET note = '' WHERE item_id = ?", (item_id,))
    return int(conn.execute("DELETE FROM contradictions WHERE a_id = ? OR b_id = ?", (item_id, item_id)).rowcount)


# --------------------------------------------------------------------------- judge cache
def judge_cached(conn: sqlite3.Connection, pair_hash: str) -> tuple[bool, float, str] | None:
    row = conn.execute("SELECT conflict, score, reason FROM judge_cache WHERE pair_hash = ?", (pair_hash,)).fetchone()
    return (bool(row[0]), float(row[1]), row[2]) if row else None


def judge_store(conn: sqlite3.Connection, pair_hash: str, conflict: bool, score: float, reason: str, model: str,
                at: float) -> None:
    conn.execute("INSERT OR REPLACE INTO judge_cache (pair_hash, conflict, score, reason, model, at)"
                 " VALUES (?,?,?,?,?,?)", (pair_hash, int(conflict), score, reason, model, at))
