"""The heartbeat: a core-owned thread that checks index drift, repairs it when policy allows, and
records each beat in SQLite, so an admin can see the index has been verified and when.

``memdeck heartbeat --once`` runs a single beat for cron or a systemd timer.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

from core.errors import MemdeckError

if TYPE_CHECKING:
    from core.memdeck import Memdeck

log = logging.getLogger(__name__)


def run_beat(md: Memdeck, trigger: str) -> dict[str, Any]:
    started = time.time()
    t0 = time.perf_counter()
    found = {"missing": 0, "orphaned": 0, "stale": 0}
    repaired = 0
    error: str | None = None
    details: dict[str, Any] = {}
    try:
        report = md._sync_check()
        found = report.counts()
        details["active_items"] = report.active_items
        details["index_live"] = report.index_live
        # With two-person approval on for repairs, the heartbeat reports and leaves repairing to people.
        if not report.clean and md.config.get("sync.auto_repair") and not md.config.get("approvals.sync_repair"):
            result = md._sync_repair(trigger="heartbeat")  # policy set by an admin
            repaired = sum(found.values()) - sum(result["after"].values())
            details["after"] = result["after"]
        details["checkpointed"] = md.maybe_checkpoint()
    except MemdeckError as exc:
        error = str(exc)
    except Exception as exc:  # a beat must record its failure, never die silently
        error = f"{type(exc).__name__}: {exc}"
        details["traceback"] = traceback.format_exc(limit=5)
    duration_ms = (time.perf_counter() - t0) * 1000
    beat = {"started_at": started, "duration_ms": round(duration_ms, 3), **found, "repaired": repaired,
            "trigger": trigger, "error": error, "details": details}
    try:
        with md.db.write() as conn:
            cur = conn.execute(
                "INSERT INTO heartbeats (started_at, duration_ms, missing, orphaned, stale, repaired, trigger,"
                " error, details) VALUES (?,?,?,?,?,?,?,?,?)",
                (started, duration_ms, found["missing"], found["orphaned"], found["stale"], repaired, trigger,
                 error, json.dumps(details, default=str)))
            beat["id"] = cur.lastrowid
    except MemdeckError as exc:
        beat["error"] = f"{error or ''} (not recorded: {exc.message})".strip()
    md.bus.publish("heartbeat.done", **beat)
    return beat


def heartbeat_loop(md: Memdeck) -> None:
    stop = md.workers.stopping
    while not stop.wait(float(md.config.get("sync.heartbeat_interval_s"))):
        try:
            run_beat(md, "timer")
        except Exception:
            log.exception("heartbeat failed")
