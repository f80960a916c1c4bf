"""Retention: move old audit events into sealed, verifiable segment files.

A segment is a gzip'd JSON-lines file: a header, then every event with all its fields. Sealing means
three things: the file's SHA-256 is recorded in ``audit_segments`` (the live chain's checkpoint), the
first live event after it links to the segment's last hash, and archiving itself is an audit event.
Verification therefore spans archive and live table in one walk.

Crash safety: the file is written and fsynced first; the checkpoint row, the deletion of the live rows
and the audit event are then one transaction. A crash in between leaves an unreferenced file, which
the next archive run overwrites; nothing is ever deleted before it is safely on disk.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from core import audit
from core.audit_verify import _scan_range, file_sha256
from core.db import Database
from core.errors import InvalidInput, StorageError
from core.paths import fsync_dir

_COLUMNS = ("seq", "at", "actor", "action", "target", "outcome", "details", "prev_hash", "hash", "hv")


def segment_name(first: int, last: int) -> str:
    return f"segment-{first:012d}-{last:012d}.jsonl.gz"


def plan(db: Database, *, before_seq: int | None = None, older_than: float | None = None,
         keep_last: int = 1) -> tuple[int, int, int] | None:
    """(first_seq, last_seq, events) that would be archived, or None. At least ``keep_last`` live
    events always stay so the live table shows where the chain stands."""
    with db.read() as conn:
        lo, hi = conn.execute("SELECT min(seq), max(seq) FROM audit_events").fetchone()
        if lo is None:
            return None
        limit = int(hi) - keep_last
        if before_seq is not None:
            limit = min(limit, before_seq - 1)
        if older_than is not None:
            row = conn.execute("SELECT max(seq) FROM audit_events WHERE at < ? AND seq <= ?",
                               (older_than, limit)).fetchone()
            limit = int(row[0]) if row[0] is not None else 0
        if limit < int(lo):
            return None
        n = conn.execute("SELECT count(*) FROM audit_events WHERE seq BETWEEN ? AND ?", (lo, limit)).fetchone()[0]
    return int(lo), limit, int(n)


def archive(db: Database, archive_dir: Path, auditor: audit.Auditor, *, before_seq: int | None = None,
            older_than: float | None = None, approval: int | None = None) -> dict[str, Any]:
    """Archive the oldest live events up to the bound; refuses if that stretch of chain is broken."""
    if before_seq is None and older_than is None:
        raise InvalidInput("say what to archive: --before-seq N or --older-than-days D",
                           hint="or set audit.retention_days and run `memdeck audit archive` with no bound")
    span = plan(db, before_seq=before_seq, older_than=older_than)
    if span is None:
        return {"archived": 0, "segment": None}
    first, last, events = span
    with db.read() as conn:
        prev_row = conn.execute("SELECT prev_hash FROM audit_events WHERE seq = ?", (first,)).fetchone()
    expected_prev = _expected_prev(db)
    # Scan one event past the stretch: if the last archived event was edited and re-hashed, only the
    # next event's link shows it, and that evidence must not leave the live table.
    check = _scan_range(db, first, last + 1, lambda n: None, threading.Event())
    bad = check.problem or (None if check.first and check.first[2] and check.first[0] == first
                            and check.first[1] == expected_prev else "start")
    if bad is not None or check.count not in (events, events + 1) or prev_row is None:
        where = check.problem.seq if check.problem else first
        raise StorageError(f"the audit chain is broken at or near event #{where}; archive refused so the "
                           "evidence stays in the live table", hint="run `memdeck audit verify` for details")
    archive_dir.mkdir(parents=True, exist_ok=True)
    name = segment_name(first, last)
    path = archive_dir / name
    tmp = archive_dir / f".{name}.tmp-{os.getpid()}"
    last_hash = ""
    try:
        with db.read() as conn, open(tmp, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                header = {"memdeck_audit_segment": 1, "first_seq": first, "last_seq": last, "events": events,
                          "first_prev_hash": prev_row[0], "created_at": time.time()}
                gz.write((json.dumps(header) + "\n").encode("utf-8"))
                cur = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM audit_events WHERE seq BETWEEN ? AND ?"
                                   " ORDER BY seq", (first, last))
                while batch := cur.fetchmany(5000):
                    lines = [json.dumps(dict(zip(_COLUMNS, r, strict=True)), ensure_ascii=False) for r in batch]
                    gz.write(("\n".join(lines) + "\n").encode("utf-8"))
                    last_hash = batch[-1][8]
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
        fsync_dir(archive_dir)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write audit segment {path}: {exc.strerror}; nothing was archived",
                           hint="free some disk space and retry") from exc
    digest = file_sha256(path)
    try:
        with db.write() as conn:
            now_lo = conn.execute("SELECT min(seq) FROM audit_events").fetchone()[0]
            if now_lo != first:
                raise StorageError("the audit log changed while archiving (another archive ran?); retry")
            conn.execute(
                "INSERT INTO audit_segments (file, first_seq, last_seq, first_prev_hash, last_hash, events, sha256,"
                " archived_at, archived_by) VALUES (?,?,?,?,?,?,?,?,?)",
                (name, first, last, prev_row[0], last_hash, events, digest, time.time(), auditor.actor))
            conn.execute("DELETE FROM audit_events WHERE seq BETWEEN ? AND ?", (first, last))
            details: dict[str, Any] = {"segment": name, "first_seq": first, "last_seq": last, "events": events,
                                       "sha256": digest}
            if approval is not None:
                details["approval"] = approval
            auditor.one(conn, "audit.archive", name, details)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return {"archived": events, "segment": name, "first_seq": first, "last_seq": last, "sha256": digest,
            "path": str(path)}


def _expected_prev(db: Database) -> str:
    with db.read() as conn:
        row = conn.execute("SELECT last_hash FROM audit_segments ORDER BY last_seq DESC LIMIT 1").fetchone()
    return str(row[0]) if row else audit.GENESIS


def iter_segment(path: Path) -> Any:
    """Yield the events (dicts) of one segment file."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        fh.readline()
        for line in fh:
            yield json.loads(line)
