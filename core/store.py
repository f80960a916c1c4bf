"""The write path for memory items: validation, versioning, change log and audit in one transaction.

Callers embed *before* taking the write lock (embedding is slow); this module only writes. Rows are
written with ``executemany`` in batches because per-row ORM inserts cost more than the whole budget
of a bulk put. Ids and change sequence numbers are assigned inside the serialised transaction.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core import audit
from core.errors import InvalidInput, NotFound

COLLECTION_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#@+\-]{0,255}$")
STATUSES = ("active", "quarantined", "deleted")
_SQL_CHUNK = 500


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def canonical_metadata(metadata: Any) -> str:
    """Metadata as canonical JSON text; rejects anything that is not a JSON object."""
    if metadata is None:
        return "{}"
    if not isinstance(metadata, dict):
        raise InvalidInput(f"metadata must be a JSON object, got {type(metadata).__name__}",
                           hint='e.g. --meta \'{"topic": "people"}\'')
    try:
        return json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata is not JSON-serialisable: {exc}") from exc


def validate_collection(name: Any) -> str:
    if not isinstance(name, str) or not COLLECTION_RE.match(name):
        raise InvalidInput(
            f"invalid collection name {name!r}",
            hint="use 1-64 characters: lowercase letters, digits, '-' or '_', starting with a letter")
    return name


def validate_key(key: Any) -> str:
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise InvalidInput(
            f"invalid key {key!r}",
            hint="use 1-256 characters: letters, digits and . _ : / # @ + -, starting with a letter or digit")
    return key


class EmbeddingRace(Exception):
    """Another writer changed an item between embedding and writing; the caller retries the batch."""


@dataclass(frozen=True)
class NewItem:
    """A validated item ready to write."""

    collection: str
    key: str
    content: str
    metadata_json: str
    source: str
    content_hash: str

    @classmethod
    def build(cls, collection: Any, key: Any, content: Any, metadata: Any = None, source: Any = "",
              max_chars: int = 1_000_000) -> NewItem:
        validate_collection(collection)
        validate_key(key)
        if not isinstance(content, str):
            raise InvalidInput(f"content of {collection}/{key} must be text, got {type(content).__name__}")
        if not content.strip():
            raise InvalidInput(f"content of {collection}/{key} is empty")
        if "\x00" in content:
            raise InvalidInput(f"content of {collection}/{key} contains a NUL byte (binary data?)")
        if len(content) > max_chars:
            raise InvalidInput(f"content of {collection}/{key} has {len(content):,} characters, "
                               f"over the limit of {max_chars:,}", hint="raise content.max_chars or split it")
        if not isinstance(source, str) or len(source) > 512:
            raise InvalidInput("source must be text of at most 512 characters")
        return cls(collection, key, content, canonical_metadata(metadata), source, content_hash(content))


@dataclass
class PutOutcome:
    collection: str
    key: str
    item_id: int
    version: int
    result: str  # created, updated, metadata, unchanged
    seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "key": self.key, "id": self.item_id,
                "version": self.version, "result": self.result, "seq": self.seq}


@dataclass
class Existing:
    id: int
    content_hash: str
    metadata: str
    source: str
    version: int
    status: str
    embedded_hash: str | None = None
    embedded_fp: str | None = None


def existing_rows(conn: sqlite3.Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Existing]:
    """Current rows (with their embedding's hash and model) for (collection, key) pairs."""
    out: dict[tuple[str, str], Existing] = {}
    by_collection: dict[str, list[str]] = {}
    for c, k in keys:
        by_collection.setdefault(c, []).append(k)
    for collection, names in by_collection.items():
        for i in range(0, len(names), _SQL_CHUNK):
            chunk = names[i:i + _SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                    "SELECT i.key, i.id, i.content_hash, i.metadata, i.source, i.version, i.status,"
                    " e.content_hash, e.model_fp FROM items i LEFT JOIN embeddings e ON e.item_id = i.id"
                    f" WHERE i.collection = ? AND i.key IN ({marks})", [collection, *chunk]):
                out[(collection, row[0])] = Existing(*row[1:])
    return out


def needs_embedding(items: Iterable[NewItem], existing: dict[tuple[str, str], Existing],
                    model_fp: str) -> list[NewItem]:
    """Items whose stored embedding does not match their content under the current model."""
    out = []
    for item in items:
        ex = existing.get((item.collection, item.key))
        if ex is None or ex.embedded_hash != item.content_hash or ex.embedded_fp != model_fp:
            out.append(item)
    return out


def cached_vectors(conn: sqlite3.Connection, hashes: Iterable[str], model_fp: str) -> dict[str, np.ndarray]:
    """Embeddings already stored for identical text: the content-hash cache that avoids re-embedding."""
    wanted = list(dict.fromkeys(hashes))
    out: dict[str, np.ndarray] = {}
    for i in range(0, len(wanted), _SQL_CHUNK):
        chunk = wanted[i:i + _SQL_CHUNK]
        marks = ",".join("?" * len(chunk))
        for h, blob in conn.execute(
                f"SELECT content_hash, vector FROM embeddings WHERE model_fp = ? AND content_hash IN ({marks})"
                " GROUP BY content_hash", [model_fp, *chunk]):
            out[h] = np.frombuffer(blob, dtype=np.float32)
    return out


@dataclass
class WriteBatch:
    """Rows accumulated for one transaction."""

    items_new: list[tuple[Any, ...]] = field(default_factory=list)
    items_upd: list[tuple[Any, ...]] = field(default_factory=list)
    versions: list[tuple[Any, ...]] = field(default_factory=list)
    changes: list[tuple[Any, ...]] = field(default_factory=list)
    embeddings: list[tuple[Any, ...]] = field(default_factory=list)
    audits: list[audit.AuditRecord] = field(default_factory=list)


def _next_ids(conn: sqlite3.Connection) -> tuple[int, int]:
    """(highest item id ever used, highest change seq). Ids are never reused, even after a purge,
    because index labels are item ids and a reused label could resurrect a stale vector."""
    max_id = conn.execute("SELECT max(coalesce((SELECT max(id) FROM items), 0),"
                          " coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'item_id_floor'), 0))"
                          ).fetchone()[0]
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    max_seq = row[0] if row else 0
    return int(max_id), int(max_seq)


def write_puts(conn: sqlite3.Connection, items: Sequence[NewItem], vectors: dict[str, np.ndarray],
               model_fp: str, auditor: audit.Auditor, audit_each: bool = True) -> list[PutOutcome]:
    """Upsert ``items`` inside the caller's write transaction. ``vectors`` maps content hash to vector
    for every item whose embedding must be (re)written; identical content is a no-op."""
    now = time.time()
    actor = auditor.actor
    existing = existing_rows(conn, [(i.collection, i.key) for i in items])
    max_id, seq = _next_ids(conn)
    batch = WriteBatch()
    outcomes: list[PutOutcome] = []
    seen: dict[tuple[str, str], int] = {}
    for item in items:
        ident = (item.collection, item.key)
        if ident in seen:
            raise InvalidInput(f"{item.collection}/{item.key} appears twice in one batch")
        seen[ident] = 1
        ex = existing.get(ident)
        same_text = ex is not None and ex.content_hash == item.content_hash
        if (ex is not None and same_text and ex.metadata == item.metadata_json
                and ex.source == item.source and ex.status == "active"):
            outcomes.append(PutOutcome(item.collection, item.key, ex.id, ex.version, "unchanged"))
            continue
        seq += 1
        if ex is None:
            max_id += 1
            item_id, version, result = max_id, 1, "created"
            batch.items_new.append((item_id, item.collection, item.key, item.content, item.metadata_json,
                                    item.source, item.content_hash, version, "active", now, now))
        else:
            item_id, version = ex.id, ex.version + 1
            result = "metadata" if same_text and ex.status == "active" else "updated"
            batch.items_upd.append((item.content, item.metadata_json, item.source, item.content_hash,
                                    version, "active", now, item_id))
        batch.versions.append((item_id, version, item.content, item.metadata_json, item.source,
                               item.content_hash, "active", now, seq, actor))
        batch.changes.append((seq, item_id, "put", version, now))
        emb_ok = ex is not None and ex.embedded_hash == item.content_hash and ex.embedded_fp == model_fp
        if not emb_ok:
            vec = vectors.get(item.content_hash)
            if vec is None:
                raise EmbeddingRace(f"{item.collection}/{item.key} changed while its embedding was computed")
            vec = np.ascontiguousarray(vec, dtype=np.float32)
            if not np.all(np.isfinite(vec)) or not math.isfinite(float(np.linalg.norm(vec))):
                raise InvalidInput(f"embedding for {item.collection}/{item.key} contains NaN or inf")
            batch.embeddings.append((item_id, item.content_hash, model_fp, int(vec.shape[0]), vec.tobytes()))
        if audit_each:
            batch.audits.append(audit.AuditRecord(
                "memory.put", f"{item.collection}/{item.key}",
                {"version": version, "hash": item.content_hash[:16], "result": result, "seq": seq}))
        outcomes.append(PutOutcome(item.collection, item.key, item_id, version, result, seq))
    _flush(conn, batch, auditor)
    if not audit_each and batch.changes:
        auditor.append(conn, [audit.AuditRecord(
            "memory.put_many", outcomes[0].collection if outcomes else "",
            {"written": len(batch.changes), "unchanged": len(items) - len(batch.changes),
             "first_seq": batch.changes[0][0], "last_seq": batch.changes[-1][0]})])
    return outcomes


def _flush(conn: sqlite3.Connection, batch: WriteBatch, auditor: audit.Auditor) -> None:
    if batch.items_new:
        conn.executemany(
            "INSERT INTO items (id, collection, key, content, metadata, source, content_hash, version,"
            " status, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", batch.items_new)
    if batch.items_upd:
        conn.executemany(
            "UPDATE items SET content=?, metadata=?, source=?, content_hash=?, version=?, status=?,"
            " updated_at=? WHERE id=?", batch.items_upd)
    if batch.versions:
        conn.executemany(
            "INSERT INTO item_versions (item_id, version, content, metadata, source, content_hash, status,"
            " valid_from, change_seq, actor) VALUES (?,?,?,?,?,?,?,?,?,?)", batch.versions)
    if batch.changes:
        conn.executemany("INSERT INTO changes (seq, item_id, op, version, at) VALUES (?,?,?,?,?)",
                         batch.changes)
    if batch.embeddings:
        conn.executemany(
            "INSERT INTO embeddings (item_id, content_hash, model_fp, dim, vector) VALUES (?,?,?,?,?)"
            " ON CONFLICT(item_id) DO UPDATE SET content_hash=excluded.content_hash,"
            " model_fp=excluded.model_fp, dim=excluded.dim, vector=excluded.vector", batch.embeddings)
    auditor.append(conn, batch.audits)


def write_status(conn: sqlite3.Connection, collection: str, key: str, status: str, auditor: audit.Auditor,
                 action: str, reason: str = "") -> PutOutcome:
    """Change an item's status (delete, quarantine, restore) as a new version with its own change record."""
    if status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    row = conn.execute(
        "SELECT id, content, metadata, source, content_hash, version, status FROM items"
        " WHERE collection = ? AND key = ?", (collection, key)).fetchone()
    if row is None:
        raise NotFound(f"no item {collection}/{key}", hint=f"`memdeck list {collection}` shows its keys")
    item_id, content, metadata, source, chash, version, old_status = row
    if old_status == status:
        return PutOutcome(collection, key, item_id, version, "unchanged")
    now = time.time()
    _, seq = _next_ids(conn)
    seq += 1
    version += 1
    conn.execute("UPDATE items SET status=?, version=?, updated_at=? WHERE id=?", (status, version, now, item_id))
    conn.execute(
        "INSERT INTO item_versions (item_id, version, content, metadata, source, content_hash, status,"
        " valid_from, change_seq, actor) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (item_id, version, content, metadata, source, chash, status, now, seq, auditor.actor))
    conn.execute("INSERT INTO changes (seq, item_id, op, version, at) VALUES (?,?,?,?,?)",
                 (seq, item_id, status, version, now))
    auditor.append(conn, [audit.AuditRecord(action, f"{collection}/{key}",
                                                 {"from": old_status, "to": status, "version": version,
                                                  "seq": seq, "reason": reason})])
    return PutOutcome(collection, key, item_id, version, status, seq)


def write_purge(conn: sqlite3.Connection, collection: str, key: str, auditor: audit.Auditor,
                reason: str = "", approval: int | None = None,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Erase an item and every version of it for good (e.g. an erasure request).

    A change record (op ``purge``) tells the indexer to drop its vector; the item id is never reused.
    The audit event keeps who, when, why and the content hash, never the content."""
    row = conn.execute("SELECT id, content_hash, version, status FROM items WHERE collection = ? AND key = ?",
                       (collection, key)).fetchone()
    if row is None:
        raise NotFound(f"no item {collection}/{key}", hint=f"`memdeck list {collection}` shows its keys")
    item_id, chash, version, status = row
    max_id, seq = _next_ids(conn)
    versions = conn.execute("SELECT count(*) FROM item_versions WHERE item_id = ?", (item_id,)).fetchone()[0]
    conn.execute("INSERT INTO meta (key, value) VALUES ('item_id_floor', ?)"
                 " ON CONFLICT(key) DO UPDATE SET value = excluded.value", (str(max_id),))
    conn.execute("DELETE FROM embeddings WHERE item_id = ?", (item_id,))
    conn.execute("DELETE FROM item_versions WHERE item_id = ?", (item_id,))
    conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
    conn.execute("INSERT INTO changes (seq, item_id, op, version, at) VALUES (?,?,?,?,?)",
                 (seq + 1, item_id, "purge", version, time.time()))
    # Answers built on the item may repeat its content: those that cited it, and retrieval-only
    # answers (which quote what they retrieved) lose their text; every link to it goes.
    scrubbed = conn.execute(
        "UPDATE episodes SET answer = ? WHERE id IN (SELECT l.episode_id FROM episode_items l JOIN episodes e"
        " ON e.id = l.episode_id WHERE l.item_id = ? AND (l.cited = 1 OR e.answer_mode = 'retrieval-only'))",
        (f"[answer removed: it used {collection}/{key}, erased on "
         f"{time.strftime('%Y-%m-%d', time.gmtime())}]", item_id)).rowcount
    unlinked = conn.execute("DELETE FROM episode_items WHERE item_id = ?", (item_id,)).rowcount
    from core.trust_store import delete_item_rows

    contradictions = delete_item_rows(conn, item_id)  # they quote the erased text
    details: dict[str, Any] = {"id": item_id, "versions": versions, "last_status": status,
                               "hash": chash[:16], "seq": seq + 1, "reason": reason,
                               "episodes_scrubbed": scrubbed, "episode_links_removed": unlinked,
                               "contradictions_removed": contradictions}
    if approval is not None:
        details["approval"] = approval
    details.update(extra or {})
    auditor.append(conn, [audit.AuditRecord("memory.purge", f"{collection}/{key}", details)])
    return {"collection": collection, "key": key, "id": item_id, "versions_erased": versions, "seq": seq + 1,
            "episodes_scrubbed": scrubbed, **(extra or {})}


def version_as_of(conn: sqlite3.Connection, collection: str, key: str, ts: float) -> dict[str, Any] | None:
    """The version of ``collection/key`` that was current at time ``ts`` (the latest with
    ``valid_from <= ts``), or None if the item did not exist yet. A deleted or quarantined item at
    that time comes back with that ``status``, because "it was deleted then" is an answer too."""
    row = conn.execute(
        "SELECT i.id, v.version, v.content, v.metadata, v.source, v.content_hash, v.status, v.valid_from,"
        " v.change_seq, v.actor FROM items i JOIN item_versions v ON v.item_id = i.id"
        " WHERE i.collection = ? AND i.key = ? AND v.valid_from <= ?"
        " ORDER BY v.version DESC LIMIT 1", (collection, key, ts)).fetchone()
    if row is None:
        return None
    item_id, version, content, metadata, source, chash, status, valid_from, seq, actor = row
    return {"id": item_id, "collection": collection, "key": key, "version": version, "content": content,
            "metadata": json.loads(metadata), "source": source, "content_hash": chash, "status": status,
            "valid_from": valid_from, "change_seq": seq, "actor": actor, "as_of": ts,
            "deleted": status == "deleted"}
