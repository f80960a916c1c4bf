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
