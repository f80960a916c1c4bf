"""Two-person approval: one admin asks, a different admin approves, then the action runs.

The request stores the action's parameters as JSON; approving re-runs exactly that, under the
approver's identity, with the request id in the action's audit event. Requests expire, so a
forgotten one cannot be approved months later by surprise.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from core import audit
from core.errors import InvalidInput, NotFound

# approvals.<setting> -> the actions it gates
SETTING_FOR_ACTION = {
    "memory.purge": "approvals.purge",
    "sync.repair": "approvals.sync_repair",
    "index.rebuild": "approvals.index_rebuild",
    "config.set": "approvals.config_set",
    "role.grant": "approvals.roles",
    "role.revoke": "approvals.roles",
    "audit.archive": "approvals.audit_archive",
    "backup.restore": "approvals.restore",
}

_COLS = ("id", "action", "target", "params", "requested_by", "requested_at", "expires_at", "status",
         "decided_by", "decided_at", "note", "result")


def request(conn: sqlite3.Connection, auditor: audit.Auditor, action: str, target: str,
            params: dict[str, Any], ttl_s: float, note: str = "") -> int:
    now = time.time()
    rules = auditor.rules or audit.default_rules()
    params = rules.scrub(params)  # a reason like "password=..." must not sit in this table either
    cur = conn.execute(
        "INSERT INTO approvals (action, target, params, requested_by, requested_at, expires_at, note)"
        " VALUES (?,?,?,?,?,?,?)", (action, target, json.dumps(params, sort_keys=True), auditor.actor, now,
                                    now + ttl_s, rules.scrub_text(note)))
    approval_id = int(cur.lastrowid or 0)
    auditor.one(conn, "approval.request", f"approval/{approval_id}",
                {"action": action, "target": target, "params": params, "expires_at": now + ttl_s})
    return approval_id


def expire(conn: sqlite3.Connection, auditor: audit.Auditor) -> int:
    """Mark overdue pending requests expired (each one audited)."""
    now = time.time()
    rows = conn.execute("SELECT id, action, target FROM approvals WHERE status = 'pending' AND expires_at <= ?",
                        (now,)).fetchall()
    for approval_id, action, target in rows:
        conn.execute("UPDATE approvals SET status = 'expired', decided_at = ? WHERE id = ?", (now, approval_id))
        auditor.one(conn, "approval.expire", f"approval/{approval_id}", {"action": action, "target": target})
    return len(rows)


def get(conn: sqlite3.Connection, approval_id: int) -> dict[str, Any]:
    row = conn.execute(f"SELECT {', '.join(_COLS)} FROM approvals WHERE id = ?", (approval_id,)).fetchone()
    if row is None:
        raise NotFound(f"no approval request #{approval_id}", hint="`memdeck approvals list` shows them")
    return _as_dict(row)


def listing(conn: sqlite3.Connection, status: str | None = "pending", limit: int = 200) -> list[dict[str, Any]]:
    if status is not None and status not in ("pending", "approved", "rejected", "expired", "failed"):
        raise InvalidInput(f"unknown approval status {status!r}")
    if status is None:
        rows = conn.execute(f"SELECT {', '.join(_COLS)} FROM approvals ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = conn.execute(f"SELECT {', '.join(_COLS)} FROM approvals WHERE status = ? ORDER BY id DESC LIMIT ?",
                            (status, limit))
    return [_as_dict(r) for r in rows]


def _as_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(_COLS, row, strict=True))
    out["params"] = json.loads(out["params"])
    return out


def same_person(a: str, b: str) -> bool:
    """Actors compare by user name: the same admin from two SSH sessions is still one person."""
    return a.split("@")[0] == b.split("@")[0]
