"""SQL for training runs, the marks of what a promoted run learned from, and morning validations.

Kept apart from ``core.training`` (the loop) so the loop reads as steps and the SQL can be tested and
reused by the facade without importing torch. Tables are created by migration 0006; the contract is
docs/design-training.md.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

STATUSES = ("running", "promoted", "rolled_back", "failed", "cancelled", "empty")
FINISHED = tuple(s for s in STATUSES if s != "running")
LOG_KEEP = 200  # lines of a run's log kept in its row: enough for the screen's tail and a post-mortem

_COLUMNS = ("id", "status", "trigger", "started_at", "finished_at", "pid", "actor", "settings", "samples",
            "replay", "probes", "steps", "losses", "base_model", "previous_adapter", "previous_sha", "adapter",
            "adapter_sha", "gate", "reasons", "error", "buffer_path", "log", "rolled_back_at", "grounded")
_JSON: dict[str, Any] = {"settings": {}, "losses": [], "gate": {}, "reasons": [], "log": []}


def _decode(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(_COLUMNS, row, strict=True))
    for key, empty in _JSON.items():
        try:
            out[key] = json.loads(out[key]) if out[key] else empty
        except ValueError:  # a hand-edited row must not take the screen down
            out[key] = empty
    return out


def _select(where: str = "", order: str = "ORDER BY id DESC", limit: int | None = None) -> str:
    sql = f"SELECT {', '.join(_COLUMNS)} FROM training_runs {where} {order}"
    return sql + (f" LIMIT {int(limit)}" if limit is not None else "")


def start_run(conn: sqlite3.Connection, *, trigger: str, actor: str, settings: dict[str, Any], base_model: str,
              previous_adapter: str | None, previous_sha: str | None, now: float) -> int:
    cur = conn.execute(
        "INSERT INTO training_runs (status, trigger, started_at, pid, actor, settings, base_model, previous_adapter,"
        " previous_sha) VALUES ('running', ?, ?, ?, ?, ?, ?, ?, ?)",
        (trigger, now, os.getpid(), actor, json.dumps(settings, sort_keys=True), base_model, previous_adapter,
         previous_sha))
    return int(cur.lastrowid or 0)


def update_run(conn: sqlite3.Connection, run_id: int, **fields: Any) -> None:
    """Set columns of one run; JSON columns take Python values. Unknown columns are a programming error."""
    if not fields:
        return
    bad = set(fields) - set(_COLUMNS) - {"id"}
    if bad:
        raise ValueError(f"unknown training_runs columns: {sorted(bad)}")
    values = [json.dumps(v, sort_keys=True) if k in _JSON else v for k, v in fields.items()]
    sets = ", ".join(f"{k} = ?" for k in fields)
    conn.execute(f"UPDATE training_runs SET {sets} WHERE id = ?", (*values, run_id))


def get_run(conn: sqlite3.Connection, run_id: int) -> dict[str, Any] | None:
    row = conn.execute(_select("WHERE id = ?", order=""), (run_id,)).fetchone()
    return _decode(row) if row else None


def list_runs(conn: sqlite3.Connection, limit: int = 50) -> list[dict[str, Any]]:
    return [_decode(r) for r in conn.execute(_select(limit=limit)).fetchall()]


def running_runs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [_decode(r) for r in conn.execute(_select("WHERE status = 'running'")).fetchall()]


def last_promoted(conn: sqlite3.Connection) -> dict[str, Any] | None:
    row = conn.execute(_select("WHERE status = 'promoted' AND rolled_back_at IS NULL", limit=1)).fetchone()
    return _decode(row) if row else None


def adapter_history(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    """Runs that produced an adapter which was promoted at some point (rolled back later or not)."""
    rows = conn.execute(_select("WHERE adapter IS NOT NULL AND (status = 'promoted' OR rolled_back_at IS NOT NULL)",
                                limit=limit)).fetchall()
    return [_decode(r) for r in rows]


@dataclass(frozen=True)
class Mark:
    """One thing a run trained on: an item version or an episode (version 0)."""

    kind: str  # "item" | "episode"
    ref_id: int
    version: int = 0


def add_marks(conn: sqlite3.Connection, run_id: int, marks: Iterable[Mark]) -> int:
    rows = [(m.kind, m.ref_id, m.version, run_id) for m in marks]
    conn.executemany("INSERT OR IGNORE INTO training_marks (kind, ref_id, version, run_id) VALUES (?, ?, ?, ?)", rows)
    return len(rows)


def remove_marks(conn: sqlite3.Connection, run_id: int) -> int:
    """A rolled-back run's material goes back into the next buffer."""
    return conn.execute("DELETE FROM training_marks WHERE run_id = ?", (run_id,)).rowcount


def marked_items(conn: sqlite3.Connection) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in conn.execute(
        "SELECT ref_id, version FROM training_marks WHERE kind = 'item'").fetchall()}


def marked_episodes(conn: sqlite3.Connection) -> set[int]:
    return {int(r[0]) for r in conn.execute("SELECT ref_id FROM training_marks WHERE kind = 'episode'").fetchall()}


def mark_counts(conn: sqlite3.Connection, run_id: int) -> dict[str, int]:
    rows = conn.execute("SELECT kind, count(*) FROM training_marks WHERE run_id = ? GROUP BY kind", (run_id,))
    return {str(k): int(n) for k, n in rows.fetchall()}


def add_validation(conn: sqlite3.Connection, *, at: float, day: str, model: str, adapter: str | None,
                   run_id: int | None, passed: int, total: int, details: dict[str, Any]) -> int:
    rate = passed / total if total else 0.0
    cur = conn.execute(
        "INSERT INTO training_validations (at, day, model, adapter, run_id, passed, total, rate, details)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, day, model, adapter, run_id, passed, total, rate, json.dumps(details, sort_keys=True)))
    return int(cur.lastrowid or 0)


def validations(conn: sqlite3.Connection, days: int = 30) -> list[dict[str, Any]]:
    """The last check of each day, oldest first (the trend line), at most ``days`` days."""
    rows = conn.execute(
        "SELECT v.id, v.at, v.day, v.model, v.adapter, v.run_id, v.passed, v.total, v.rate FROM training_validations v"
        " WHERE v.id = (SELECT max(id) FROM training_validations w WHERE w.day = v.day)"
        " ORDER BY v.day DESC LIMIT ?", (days,)).fetchall()
    keys = ("id", "at", "day", "model", "adapter", "run_id", "passed", "total", "rate")
    return [dict(zip(keys, r, strict=True)) for r in reversed(rows)]
