"""Deterministic wrappers for TUI tests: frozen clocks, fixed system stats, a core that records calls."""

from __future__ import annotations

import threading
import time
from typing import Any

from core.memdeck import Memdeck

FROZEN_NOW = 1_790_000_000.0  # 2026-09-21 14:13 UTC


def fixed_system_stats(_core: Any) -> dict[str, Any]:
    return {"cpu_percent": 12.0, "rss": 150 * 2**20, "disk_free": 40 * 2**30, "load": "0.50, 0.40, 0.30",
            "at": FROZEN_NOW}


class FrozenCore:
    """Delegates to a real Memdeck but pins the values that change run to run (paths, sizes, timings)."""

    def __init__(self, md: Memdeck) -> None:
        self._md = md

    def __getattr__(self, name: str) -> Any:
        return getattr(self._md, name)

    def stats(self, with_drift: bool = True) -> dict[str, Any]:
        s = self._md.stats(with_drift)
        s["data_dir"] = "/srv/memdeck"
        s["database"].update(path="/srv/memdeck/memdeck.db", bytes=1_843_200)
        s["index"]["file_bytes"] = 561_000
        if s["last_heartbeat"]:
            s["last_heartbeat"].update(started_at=FROZEN_NOW - 120, duration_ms=2.5)
        return s

    def heartbeats(self, limit: int = 50) -> list[dict[str, Any]]:
        beats = self._md.heartbeats(limit)
        for n, b in enumerate(beats):
            b.update(started_at=FROZEN_NOW - 120 - 300 * n, duration_ms=2.0 + (n % 4) * 0.5)
        return beats

    def search(self, *args: Any, **kwargs: Any) -> Any:
        result = self._md.search(*args, **kwargs)
        result.timings_ms = {"total": 12.0}
        return result


    def audit_verify(self, job: Any = None, threads: int = 1) -> Any:
        report = self._md.audit_verify(job, threads)
        report.seconds, report.checked_at = 0.05, FROZEN_NOW
        return report


    def backups(self) -> list[Any]:
        out = self._md.backups()
        for n, b in enumerate(out):
            b.bytes, b.sha256 = 1_234_567 + n * 1000, f"{n:02d}" * 32
            if b.verified_at is not None:
                b.verified_at = FROZEN_NOW - 60
        return out

    def backup_schedule(self) -> dict[str, Any]:
        s = self._md.backup_schedule()
        s.update(last_run=None, next_run=FROZEN_NOW + 3600 if s["schedule"] != "off" else None)
        return s


class SlowRecordingCore(FrozenCore):
    """Every public call sleeps and records the thread it ran on, to prove none runs on the event loop."""

    def __init__(self, md: Memdeck, delay: float = 0.15) -> None:
        super().__init__(md)
        self.delay = delay
        self.calls: list[tuple[str, bool]] = []
        self._lock = threading.Lock()

    def __getattribute__(self, name: str) -> Any:
        try:
            attr = object.__getattribute__(self, name)
        except AttributeError:
            attr = getattr(object.__getattribute__(self, "_md"), name)
        if name.startswith("_") or name in {"delay", "calls", "bus", "workers", "index", "layout", "config",
                                            "notices", "start_heartbeat"} or not callable(attr):
            return attr

        def slow(*args: Any, **kwargs: Any) -> Any:
            on_main = threading.current_thread() is threading.main_thread()
            with object.__getattribute__(self, "_lock"):
                object.__getattribute__(self, "calls").append((name, on_main))
            time.sleep(object.__getattribute__(self, "delay"))
            return attr(*args, **kwargs)

        return slow


# ---------------------------------------------------------------------- Ask and Episodes (issue 6)
FIXED_TIMINGS = {"embed": 4.2, "retrieve": 6.8, "prompt": 0.4, "generate": 812.5, "total": 824.0}
DEMO_SESSION = "s20260921T141300Z-demo"


class FrozenAskCore(FrozenCore):
    """Pins what an answer measures (stage timings) and names the first session, for snapshots."""

    def ask(self, question: str, session: str | None = None, **kwargs: Any) -> Any:
        result = self._md.ask(question, session or DEMO_SESSION, **kwargs)
        result.timings = dict(FIXED_TIMINGS)
        return result


def _retrieved(md: Memdeck, keys: list[tuple[str, str]], cited: int) -> list[dict[str, Any]]:
    out = []
    for n, (collection, key) in enumerate(keys, start=1):
        item = md.get(collection, key)
        out.append({"n": n, "id": item["id"], "collection": collection, "key": key, "version": item["version"],
                    "score": round(0.033 - n * 0.001, 6), "trust": None, "via": "hit", "cited": n <= cited})
    return out


def seed_episodes(md: Memdeck) -> dict[str, int]:
    """Deterministic episodes in three sessions over ten days, with ratings, a fallback, a model-only
    answer, and a cited memory that changed afterwards. Returns episode ids by a short name."""
    from core.rag import AskResult

    day = 86_400.0
    plan: list[tuple[str, str, float, str, str, str, list[tuple[str, str]], int, str | None]] = [
        ("old", "s20260911T100000Z-0a1b", FROZEN_NOW - 10 * day, "Where is the Porto office?",
         "The Porto office is on Rua de Cedofeita 410 [1].", "memory", [("facts", "office.porto.address")], 1, None),
        ("dock", "s20260919T161500Z-77c0", FROZEN_NOW - 2 * day - 3600, "How do I reset a Dock 2 after a fault?",
         "Pause the dock in Fleet Manager, let it cool for 20 minutes if the code is E23, then press and hold "
         "reset [1]. Escalate if it faults three times in 24 hours [2].", "memory",
         [("docs", "runbook/charging-dock-fault#2"), ("docs", "runbook/charging-dock-fault#4"),
          ("docs", "runbook/charging-dock-fault#1")], 2, None),
        ("france", "s20260919T161500Z-77c0", FROZEN_NOW - 2 * day - 3000, "What is the capital of France?",
         "Memory has nothing on this; from general knowledge, it is Paris.", "model-only", [], 0, None),
        ("lead", "s20260921T090000Z-a1f3", FROZEN_NOW - 5 * 3600, "Who leads the Porto site?",
         "Daniel Costa is the Porto Site Lead [1].", "memory", [("facts", "office.porto.site-lead")], 1, None),
        ("move", "s20260921T090000Z-a1f3", FROZEN_NOW - 5 * 3600 + 120, "When does the Porto team move?",
         "No model answer (no model selected). The best memories:\n[1] facts/office.porto.new-address: "
         "\u201cFrom 2026-06-15 the Porto team works from a new unit at Armazém 5.\u201d", "retrieval-only",
         [("facts", "office.porto.new-address"), ("facts", "office.porto.lease-end")], 2,
         "no model selected; `memdeck models load NAME` picks one"),
        ("lease", "s20260921T090000Z-a1f3", FROZEN_NOW - 5 * 3600 + 300, "When does the Cedofeita lease end?",
         "The lease ends on 2026-06-30 [1].", "memory", [("facts", "office.porto.lease-end")], 1, None),
    ]
    ids: dict[str, int] = {}
    for n, (name, session, at, question, answer, mode, keys, cited, fallback) in enumerate(plan):
        retrieved = _retrieved(md, keys, cited)
        timings = {**FIXED_TIMINGS, "total": 600.0 + 150.0 * n, "generate": 580.0 + 150.0 * n}
        model = None if fallback else "smollm2-135m-instruct"
        result = AskResult(0, session, question, answer, mode, [r for r in retrieved if r["cited"]], retrieved,
                           timings, model, None, 120 + n, 20 + n, False, fallback, None, at, at + 0.8)
        ids[name] = md._record_episode(result)
    md.episode_feedback(ids["old"], 1)
    md.episode_feedback(ids["dock"], 1)
    md.episode_feedback(ids["france"], -1)
    md.episode_feedback(ids["lead"], 1)
    # memory moved on after "Who leads the Porto site?" was answered
    md.put("facts", "office.porto.site-lead", "Ines Carvalho is the Porto Site Lead since September 2026; "
           "Daniel Costa moved to the Leeds test floor.")
    return ids
