"""Backups: consistent snapshots in one compressed archive, verifiable byte for byte.

The database is copied with SQLite's online backup API in a single step, so the copy is one
consistent snapshot while the app and its workers keep writing (WAL lets writers continue). The index
checkpoint is copied under the index's shared lock *before* the database, so its watermark is never
ahead of the database copy and a restore only has to replay forward. Audit archive segments, config and
privacy rules go in too, with a manifest: versions, model fingerprint, counts, the audit chain head,
canary queries and a SHA-256 per file.

The archive is written as ``<id>.tar.gz.partial`` and renamed only when complete and fsynced; its own
SHA-256 then goes into ``<id>.json`` beside it. A partial file never looks like a backup, and a flipped
byte anywhere in an archive (even in gzip header fields no CRC covers) fails verification.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInput, NotFound, StorageError
from core.paths import atomic_write_bytes, fsync_dir

if TYPE_CHECKING:
    from core.memdeck import Memdeck
    from core.privacy import PrivacyRules

FORMAT = 1
ARCHIVE_SUFFIX = ".tar.gz"
KINDS = ("full", "redacted", "safety")
Progress = Callable[[int, int, str], None]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def new_backup_id(folder: Path, kind: str, now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}-{kind}"
    candidate, n = base, 1
    while (folder / f"{candidate}{ARCHIVE_SUFFIX}").exists() or (folder / f"{candidate}.json").exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def validate_id(backup_id: str) -> str:
    text = str(backup_id).strip()
    if not text or "/" in text or text.startswith(".") or len(text) > 80:
        raise InvalidInput(f"{backup_id!r} is not a backup id", hint="`memdeck backup list` shows them")
    return text


@dataclass
class BackupInfo:
    """What ``backup list`` shows: the sidecar's record of one archive."""

    id: str
    path: str
    kind: str
    created_at: float
    bytes: int
    sha256: str
    note: str = ""
    redacted: bool = False
    trigger: str = "manual"
    counts: dict[str, Any] = field(default_factory=dict)
    audit_head: dict[str, Any] = field(default_factory=dict)
    verified_at: float | None = None
    verified_ok: bool | None = None
    verify_problem: str | None = None
    created_by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class BackupFolder:
    """The archives and their sidecars in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def archive(self, backup_id: str) -> Path:
        return self.folder / f"{validate_id(backup_id)}{ARCHIVE_SUFFIX}"

    def sidecar(self, backup_id: str) -> Path:
        return self.folder / f"{validate_id(backup_id)}.json"

    def all(self) -> list[BackupInfo]:
        """Every backup, newest first; archives without a sidecar are listed as unrecorded."""
        if not self.folder.is_dir():
            return []
        out: dict[str, BackupInfo] = {}
        for side in self.folder.glob("*.json"):
            try:
                info = BackupInfo(**json.loads(side.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError):
                continue
            info.path = str(self.folder / f"{info.id}{ARCHIVE_SUFFIX}")
            out[info.id] = info
        for arc in self.folder.glob(f"*{ARCHIVE_SUFFIX}"):
            bid = arc.name[: -len(ARCHIVE_SUFFIX)]
            if bid not in out:
                out[bid] = BackupInfo(id=bid, path=str(arc), kind="unknown", created_at=arc.stat().st_mtime,
                                      bytes=arc.stat().st_size, sha256="", verify_problem="no checksum record")
        return sorted(out.values(), key=lambda b: (b.created_at, b.id), reverse=True)

    def get(self, backup_id: str) -> BackupInfo:
        for info in self.all():
            if info.id == backup_id:
                return info
        raise NotFound(f"no backup {backup_id!r} in {self.folder}", hint="`memdeck backup list` shows them")

    def save(self, info: BackupInfo) -> None:
        data = info.as_dict()
        data.pop("path", None)
        data["path"] = ""
        atomic_write_bytes(self.sidecar(info.id), json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))

    def clean_partials(self) -> list[str]:
        """Remove leftovers of interrupted backups (never a finished archive)."""
        removed: list[str] = []
        if not self.folder.is_dir():
            return removed
        for p in self.folder.iterdir():
            if p.name.endswith(".partial") or p.name.startswith((".staging-", ".verify-")) or ".tmp-" in p.name:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                removed.append(p.name)
        return removed


# ---------------------------------------------------------------------------- snapshot contents
def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def db_counts(conn: sqlite3.Connection) -> dict[str, Any]:
    """Counts a restore must reproduce: items by status and collection, versions, vectors, audit."""
    items = dict(conn.execute("SELECT status, count(*) FROM items GROUP BY status").fetchall())
    per = {c: n for c, n in conn.execute("SELECT collection, count(*) FROM items GROUP BY collection")}
    out: dict[str, Any] = {
        "items": sum(items.values()), "by_status": items, "by_collection": per,
        "versions": conn.execute("SELECT count(*) FROM item_versions").fetchone()[0],
        "embeddings": conn.execute("SELECT count(*) FROM embeddings").fetchone()[0],
        "audit_events": conn.execute("SELECT count(*) FROM audit_events").fetchone()[0],
        "episodes": conn.execute("SELECT count(*) FROM episodes").fetchone()[0]
        if _table_exists(conn, "episodes") else 0,
    }
    return out


def audit_head(conn: sqlite3.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    return {"seq": row[0], "hash": row[1]} if row else {"seq": 0, "hash": "0" * 64}


def build_canaries(conn: sqlite3.Connection, n: int = 24) -> list[dict[str, str]]:
    """Candidate query -> expected key pairs drawn evenly from active items. Each query is a window from
    the middle of an item's own text (openings repeat: every meeting note starts with its attendees),
    so a healthy restore must find that item near the top."""
    total = conn.execute("SELECT count(*) FROM items WHERE status = 'active'").fetchone()[0]
    if not total:
        return []
    step = max(1, total // n)
    rows = conn.execute("SELECT collection, key, content FROM items WHERE status = 'active' ORDER BY id").fetchall()
    out = []
    for collection, key, content in rows[::step][:n]:
        words = content.split()
        if len(words) < 4:
            continue
        start = max(0, len(words) // 2 - 6)
        out.append({"query": " ".join(words[start:start + 12])[:200], "expected_key": key,
                    "collection": collection})
    return out


def _valid_key(text: str, item_id: int) -> str:
    from core.store import KEY_RE

    cleaned = re.sub(r"[^A-Za-z0-9._:/#@+\-]", "-", text).strip("-") or f"redacted-{item_id}"
    if not cleaned[0].isalnum():
        cleaned = "r" + cleaned
    cleaned = cleaned[:240]
    return cleaned if KEY_RE.match(cleaned) else f"redacted-{item_id}"


def redact_database(path: Path, rules: PrivacyRules, segments: list[Path] | None = None) -> dict[str, int]:
    """Rewrite a *copy* of the database so no personal data or secret survives in it.

    Contents, metadata, sources, keys, version history, audit details, episodes (questions, answers,
    feedback comments) and actors are redacted; vectors are dropped (they encode the original text);
    the keyword index is rebuilt from the redacted text; the audit chain is re-hashed over the redacted
    events (recorded in the manifest); and VACUUM rewrites the file so no freed page still holds the
    original bytes."""
    from core import audit
    from core.store import canonical_metadata, content_hash

    conn = sqlite3.connect(path, isolation_level=None)
    stats = {"items": 0, "versions": 0, "audit_events": 0}
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("BEGIN IMMEDIATE")

        def meta(text: str) -> str:
            try:
                return canonical_metadata(rules.redact(json.loads(text)))
            except (ValueError, TypeError):
                return json.dumps(rules.redact_text(text))

        seen: set[tuple[str, str]] = set()
        for item_id, coll, key, content, metadata, source in conn.execute(
                "SELECT id, collection, key, content, metadata, source FROM items ORDER BY id").fetchall():
            new_key = rules.redact_text(key)
            if new_key != key:
                new_key = _valid_key(new_key, item_id)
            clash = new_key != key and conn.execute(
                "SELECT 1 FROM items WHERE collection=? AND key=? AND id != ?", (coll, new_key, item_id)).fetchone()
            if (coll, new_key) in seen or clash:
                new_key = f"{new_key}#{item_id}"
            seen.add((coll, new_key))
            text = rules.redact_text(content)
            conn.execute("UPDATE items SET key=?, content=?, metadata=?, source=?, content_hash=? WHERE id=?",
                         (new_key, text, meta(metadata), rules.redact_text(source), content_hash(text), item_id))
            stats["items"] += 1
        for item_id, version, content, metadata, source, actor in conn.execute(
                "SELECT item_id, version, content, metadata, source, actor FROM item_versions").fetchall():
            text = rules.redact_text(content)
            conn.execute("UPDATE item_versions SET content=?, metadata=?, source=?, actor=?, content_hash=?"
                         " WHERE item_id=? AND version=?",
                         (text, meta(metadata), rules.redact_text(source), rules.redact_text(actor),
                          content_hash(text), item_id, version))
            stats["versions"] += 1
        conn.execute("DELETE FROM embeddings")
        # Archived events come back into the table (redacted like the rest), so the re-hashed chain is
        # whole from event #1 and the backup restores; the segment files themselves are not carried.
        ev_cols = ("seq", "at", "actor", "action", "target", "outcome", "details", "prev_hash", "hash", "hv")
        from core.audit_archive import iter_segment

        for seg in segments or []:
            marks = ", ".join("?" * 10)
            conn.executemany(f"INSERT OR IGNORE INTO audit_events ({', '.join(ev_cols)}) VALUES ({marks})",
                             ([ev.get(c, 1 if c == "hv" else None) for c in ev_cols] for ev in iter_segment(seg)))
        conn.execute("INSERT INTO items_fts(items_fts) VALUES ('rebuild')")
        prev = audit.GENESIS
        rows = conn.execute("SELECT seq, at, actor, action, target, outcome, details FROM audit_events ORDER BY seq"
                            ).fetchall()
        for seq, at, actor, action, target, outcome, details in rows:
            try:
                red = audit.encode_details(rules.redact(json.loads(details)))
            except ValueError:
                red = audit.encode_details({"redacted": True})
            who, tgt = audit.clean_field(rules.redact_text(actor)), audit.clean_field(rules.redact_text(target))
            digest = audit.event_hash_v2(seq, at, who, action, tgt, outcome, red, prev)
            conn.execute("UPDATE audit_events SET actor=?, target=?, details=?, prev_hash=?, hash=?, hv=2 WHERE seq=?",
                         (who, tgt, red, prev, digest, seq))
            prev = digest
            stats["audit_events"] += 1
        for table, cols in (("heartbeats", ("details", "error")),
                            ("approvals", ("params", "target", "note", "requested_by", "decided_by", "result")),
                            ("episodes", ("session", "question", "answer", "error", "actor")),
                            ("feedback", ("comment", "actor")),
                            ("contradictions", ("findings", "resolution", "resolved_by")),
                            ("trust_reviews", ("note", "actor")),
                            ("judge_cache", ("reason",))):
            if not _table_exists(conn, table):
                continue
            for row in conn.execute(f"SELECT rowid, {', '.join(cols)} FROM {table}").fetchall():
                values = [rules.redact_text(v) if isinstance(v, str) else v for v in row[1:]]
                conn.execute(f"UPDATE {table} SET {', '.join(c + '=?' for c in cols)} WHERE rowid=?",
                             (*values, row[0]))
        if _table_exists(conn, "audit_segments"):
            conn.execute("DELETE FROM audit_segments")  # their events are not in a redacted backup
        conn.execute("DELETE FROM meta WHERE key = 'config_seen'")
        conn.execute("COMMIT")
        conn.execute("VACUUM")
    finally:
        conn.close()
    return stats


# ---------------------------------------------------------------------------- create
def create(md: Memdeck, folder: Path, *, kind: str = "full", redacted: bool = False, note: str = "",
           trigger: str = "manual", progress: Progress | None = None) -> BackupInfo:
    """Snapshot ``md`` into ``folder``; returns the recorded backup. Leaves nothing that looks like a
    backup if anything fails (disk full, unwritable folder, cancelled)."""
    if kind not in KINDS:
        raise InvalidInput(f"backup kind must be one of {', '.join(KINDS)}")
    step = progress or (lambda d, t, m: None)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create backup folder {folder}: {exc.strerror}",
                           hint="pick a writable place with --to PATH") from exc
    store = BackupFolder(folder)
    store.clean_partials()
    started = time.time()
    bid = new_backup_id(folder, kind, started)
    staging = folder / f".staging-{bid}"
    partial = folder / f"{bid}{ARCHIVE_SUFFIX}.partial"
    final = folder / f"{bid}{ARCHIVE_SUFFIX}"
    try:
        staging.mkdir()
        files: list[tuple[Path, str]] = []
        # 1. index checkpoint first (its watermark must not be ahead of the database copy)
        step(1, 6, "saving the index checkpoint")
        if not redacted:
            md.checkpoint()
            files += _copy_index(md.layout.index_dir, staging / "index")
        # 2. the database: online backup API, one step = one consistent snapshot
        step(2, 6, "copying the database (online backup)")
        db_copy = staging / "memdeck.db"
        with md.db.read() as src:
            dst = sqlite3.connect(db_copy)
            try:
                src.backup(dst)
            finally:
                dst.close()
        conn = sqlite3.connect(db_copy)
        try:
            conn.execute("PRAGMA journal_mode=DELETE")
            schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
        # 3. redaction happens on the copy, never on live data
        redaction = None
        if redacted:
            step(3, 6, "redacting personal data and secrets")
            segs = sorted(md.layout.audit_archive_dir.glob("segment-*.jsonl.gz")) \
                if md.layout.audit_archive_dir.is_dir() else []
            redaction = redact_database(db_copy, md.privacy, segs)
        conn = sqlite3.connect(db_copy)
        try:
            counts = db_counts(conn)
            head = audit_head(conn)
            canaries = build_canaries(conn)
        finally:
            conn.close()
        if not redacted:  # keep the canaries the live data answers today, with the rank it gave
            kept: list[dict[str, Any]] = []
            for cand in canaries:  # one search each, stopping at 12
                c = md._run_canaries([cand])[0]
                if c["found"]:
                    kept.append({"query": c["query"], "expected_key": c["expected_key"],
                                 "collection": c["collection"], "rank_at_backup": c["rank"]})
                if len(kept) == 12:
                    break
            canaries = kept
        else:  # no vectors to ask: keep the ones the redacted text answers by keyword alone
            canaries = keyword_checked(db_copy, canaries)
        canaries = canaries[:12]
        files.append((db_copy, "memdeck.db"))
        for name in ("config.toml", "privacy.toml"):
            src_file = md.layout.root / name
            if src_file.exists():
                if redacted and name == "config.toml":
                    (staging / name).write_bytes(_redacted_config(src_file, md.privacy))
                else:
                    shutil.copy2(src_file, staging / name)
                files.append((staging / name, name))
        if not redacted and md.layout.audit_archive_dir.is_dir():
            for seg in sorted(md.layout.audit_archive_dir.glob("segment-*.jsonl.gz")):
                (staging / "audit-archive").mkdir(exist_ok=True)
                shutil.copy2(seg, staging / "audit-archive" / seg.name)
                files.append((staging / "audit-archive" / seg.name, f"audit-archive/{seg.name}"))
        step(4, 6, "hashing files")
        manifest = {
            "format": FORMAT, "id": bid, "kind": kind, "trigger": trigger, "redacted": redacted,
            "note": md.privacy.redact_text(note) if redacted else note,
            "created_at": started, "created_by": md.privacy.redact_text(md.actor) if redacted else md.actor,
            "app_version": _app_version(), "schema_version": schema,
            "model_fp": md.model_fp, "counts": counts, "audit_head": head,
            "index_included": not redacted, "redaction": redaction, "canaries": canaries,
            "files": {arc: {"sha256": _sha256(p), "bytes": p.stat().st_size} for p, arc in files},
        }
        step(5, 6, "writing the archive")
        with open(partial, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=3, mtime=0) as gz, \
                    tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                data = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mtime, info.mode = len(data), int(started), 0o600
                tar.addfile(info, io.BytesIO(data))
                for path, arcname in files:
                    tar.add(path, arcname=arcname, recursive=False)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, final)
        fsync_dir(folder)
        step(6, 6, "recording the checksum")
        record = BackupInfo(id=bid, path=str(final), kind=kind, created_at=started, bytes=final.stat().st_size,
                            sha256=_sha256(final), note=note, redacted=redacted, trigger=trigger, counts=counts,
                            audit_head=head, created_by=md.actor)
        store.save(record)
        return record
    except OSError as exc:
        partial.unlink(missing_ok=True)
        if final.exists() and not store.sidecar(bid).exists():
            final.unlink(missing_ok=True)
        full = exc.errno == 28
        raise StorageError(f"backup failed: {'the disk is full' if full else exc.strerror or exc} while writing "
                           f"{folder}; no backup was written", hint="free some space or use --to PATH") from exc
    except sqlite3.Error as exc:  # e.g. "database or disk is full" from the copy or the VACUUM
        partial.unlink(missing_ok=True)
        from core.db import _storage_error

        err = _storage_error(exc, staging / "memdeck.db")
        raise StorageError(f"backup failed: {err.message}; no backup was written", err.hint) from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        if final.exists() and not store.sidecar(bid).exists():
            final.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def keyword_checked(db_path: Path, canaries: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Canaries whose item a keyword search over ``db_path`` finds in the top 10."""
    from core.search import SearchFilters, keyword_candidates

    conn = sqlite3.connect(db_path)
    try:
        out = []
        for c in canaries:
            hits = keyword_candidates(conn, c["query"], 10, SearchFilters((c["collection"],), ("active",), None, None))
            keys = [h.key for h, _ in hits]
            if c["expected_key"] in keys:
                out.append({**c, "rank_at_backup": keys.index(c["expected_key"]) + 1})
        return out
    finally:
        conn.close()


def _redacted_config(path: Path, rules: PrivacyRules) -> bytes:
    """config.toml with every string value redacted (a webhook URL with a token in notify_command...)."""
    import tomllib

    import tomli_w

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    clean = {section: {k: rules.redact_text(v) if isinstance(v, str) else v for k, v in table.items()}
             for section, table in data.items() if isinstance(table, dict)}
    return tomli_w.dumps(clean).encode("utf-8")


def _copy_index(index_dir: Path, dest: Path) -> list[tuple[Path, str]]:
    from core.vectors import _dir_lock, _read_current

    out: list[tuple[Path, str]] = []
    with _dir_lock(index_dir, exclusive=False):
        try:
            gen = _read_current(index_dir)
        except Exception:
            return out
        dest.mkdir(parents=True)
        shutil.copytree(index_dir / gen, dest / gen)
        (dest / "CURRENT").write_text(gen, encoding="utf-8")
    out.append((dest / "CURRENT", "index/CURRENT"))
    for f in sorted((dest / gen).iterdir()):
        out.append((f, f"index/{gen}/{f.name}"))
    return out


def _app_version() -> str:
    try:
        from importlib.metadata import version

        return version("memdeck")
    except Exception:
        return "unknown"


# ---------------------------------------------------------------------------- verify
@dataclass
class VerifyResult:
    id: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    checked: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["manifest"] = {k: v for k, v in self.manifest.items() if k not in ("files", "canaries")}
        return out


def read_manifest(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.next()
        if member is None or member.name != "manifest.json":
            raise InvalidInput(f"{archive.name} does not start with a memdeck manifest")
        fh = tar.extractfile(member)
        assert fh is not None
        manifest: dict[str, Any] = json.loads(fh.read())
        return manifest


def verify(archive: Path, expected_sha256: str | None, scratch: Path) -> VerifyResult:
    """Checksum, archive integrity, manifest consistency, then open the database read-only and run
    SQLite's integrity check."""
    result = VerifyResult(id=archive.name[: -len(ARCHIVE_SUFFIX)], ok=False)
    if not archive.exists():
        result.problems.append(f"{archive} is missing")
        return result
    actual = _sha256(archive)
    result.checked["sha256"] = actual
    if expected_sha256 and actual != expected_sha256:
        result.problems.append("archive SHA-256 differs from the one recorded when it was made (corrupted)")
    elif not expected_sha256:
        result.problems.append("no recorded checksum for this archive (its .json record is missing)")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                first = tar.next()  # not getnames(): that would decompress the whole stream an extra time
                if first is None or first.name != "manifest.json":
                    result.problems.append("the archive does not start with a manifest")
                    return result
                tar.extractall(scratch, filter="data")
        except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error) as exc:
            result.problems.append(f"the archive is damaged: {exc}")
            return result
        try:
            manifest = json.loads((scratch / "manifest.json").read_text(encoding="utf-8"))
        except ValueError as exc:
            result.problems.append(f"the manifest is not valid JSON: {exc}")
            return result
        result.manifest = manifest
        listed = manifest.get("files", {})
        present = {str(p.relative_to(scratch)) for p in scratch.rglob("*") if p.is_file()} - {"manifest.json"}
        for name in sorted(set(listed) - present):
            result.problems.append(f"{name} is listed in the manifest but missing")
        for name in sorted(present - set(listed)):
            result.problems.append(f"{name} is in the archive but not in the manifest")
        for name, meta in listed.items():
            path = scratch / name
            if path.exists() and _sha256(path) != meta.get("sha256"):
                result.problems.append(f"{name} does not match its manifest checksum")
        db = scratch / "memdeck.db"
        if db.exists():
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                try:
                    check = conn.execute("PRAGMA integrity_check").fetchall()
                    if check != [("ok",)]:
                        result.problems.append(f"SQLite integrity check: {check[:3]}")
                    counts = db_counts(conn)
                    result.checked["counts"] = counts
                    if counts != manifest.get("counts"):
                        result.problems.append("database counts differ from the manifest")
                    if audit_head(conn) != manifest.get("audit_head"):
                        result.problems.append("audit chain head differs from the manifest")
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                result.problems.append(f"the database cannot be read: {exc}")
        result.ok = not result.problems
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------------------- prune
def prune_plan(backups: list[BackupInfo], keep_daily: int, keep_weekly: int, keep_safety: int) -> list[BackupInfo]:
    """Which backups a prune would delete: keep the newest per day for ``keep_daily`` days that have
    backups, the newest per ISO week for ``keep_weekly`` weeks, the newest ``keep_safety`` safety
    backups, and never the only verified backup."""
    keep: set[str] = set()
    regular = [b for b in backups if b.kind in ("full", "redacted")]
    safety = [b for b in backups if b.kind == "safety"]
    unknown = [b for b in backups if b.kind not in KINDS]
    keep.update(b.id for b in unknown)  # not ours to judge
    days: dict[str, BackupInfo] = {}
    weeks: dict[tuple[int, int], BackupInfo] = {}
    for b in sorted(regular, key=lambda b: b.created_at, reverse=True):
        dt = datetime.fromtimestamp(b.created_at, UTC)
        days.setdefault(dt.strftime("%Y-%m-%d"), b)
        iso = dt.isocalendar()
        weeks.setdefault((iso[0], iso[1]), b)
    keep.update(b.id for b in list(days.values())[:keep_daily])
    keep.update(b.id for b in list(weeks.values())[:keep_weekly])
    keep.update(b.id for b in sorted(safety, key=lambda b: b.created_at, reverse=True)[:keep_safety])
    verified = [b for b in backups if b.verified_ok]
    if verified and not any(b.id in keep for b in verified):
        keep.add(max(verified, key=lambda b: b.created_at).id)
    return [b for b in backups if b.id not in keep]
