"""Append-only, hash-chained audit events, written inside the transaction of the change they record.

Each event's hash covers a canonical JSON encoding of its fields and the previous event's hash, so an
edited, deleted, inserted or reordered event breaks the chain. Appending reads the chain head inside
the caller's write transaction, which is serialised, so two processes can never fork the chain.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def current_actor() -> str:
    """The OS user, plus the SSH client address when the session came in over SSH."""
    try:
        user = getpass.getuser()
    except Exception:
        user = f"uid:{os.getuid()}"
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    return f"{user}@{ssh[0]}" if ssh else user


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(seq: int, at: float, actor: str, action: str, target: str, outcome: str,
               details: str, prev_hash: str) -> str:
    fields = {"seq": seq, "at": repr(at), "actor": actor, "action": action, "target": target,
              "outcome": outcome, "details": details, "prev": prev_hash}
    return hashlib.sha256(canonical(fields)).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    action: str
    target: str
    details: dict[str, Any]
    outcome: str = "ok"


def append(conn: sqlite3.Connection, actor: str, records: list[AuditRecord], at: float | None = None) -> int:
    """Append ``records`` to the chain on ``conn`` (which must be inside a write transaction)."""
    if not records:
        return 0
    row = conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (int(row[0]), str(row[1])) if row else (0, GENESIS)
    when = time.time() if at is None else at
    rows = []
    for rec in records:
        seq += 1
        details = json.dumps(rec.details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = event_hash(seq, when, actor, rec.action, rec.target, rec.outcome, details, prev)
        rows.append((seq, when, actor, rec.action, rec.target, rec.outcome, details, prev, digest))
        prev = digest
    conn.executemany(
        "INSERT INTO audit_events (seq, at, actor, action, target, outcome, details, prev_hash, hash)"
        " VALUES (?,?,?,?,?,?,?,?,?)", rows)
    return len(rows)
