"""Core-owned background threads: jobs with progress, cancellation and clean shutdown.

Long work (rebuild, re-embed, heartbeat) runs here, never on a UI event loop. Each job reports
progress and its outcome through the event bus, so the TUI and the CLI observe it the same way.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import Cancelled
from core.events import EventBus

log = logging.getLogger(__name__)
_ids = itertools.count(1)


@dataclass
class Job:
    """Handle on one piece of background work."""

    name: str
    id: int = field(default_factory=lambda: next(_ids))
    done: int = 0
    total: int = 0
    message: str = ""
    state: str = "pending"  # pending, running, ok, failed, cancelled
    result: Any = None
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False)
    started_at: float = 0.0
    finished_at: float = 0.0
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)
    _bus: EventBus | None = field(default=None, repr=False)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        """Call between steps; raises ``Cancelled`` once the user asked to stop."""
        if self._cancel.is_set():
            raise Cancelled(f"{self.name} was cancelled")

    def progress(self, done: int, total: int, message: str = "") -> None:
        self.done, self.total, self.message = done, total, message
        if self._bus is not None:
            self._bus.publish("job.progress", job_id=self.id, name=self.name, done=done, total=total,
                              message=message)

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "state": self.state, "done": self.done,
                "total": self.total, "message": self.message, "error": self.error}


class Workers:
    """Registry of core threads; ``shutdown`` stops them all and waits."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._lock = threading.Lock()
        self._threads: dict[int, tuple[Job, threading.Thread]] = {}
        self.stopping = threading.Event()

    def start(self, name: str, fn: Callable[[Job], Any]) -> Job:
        """Run ``fn(job)`` in a daemon thread; its return value becomes ``job.result``."""
        job = Job(name=name, _bus=self.bus)

        def run() -> None:
            job.state, job.started_at = "running", time.time()
            self.bus.publish("job.started", job_id=job.id, name=name)
            try:
                job.result = fn(job)
                job.state = "ok"
            except Cancelled as exc:
                job.state, job.error, job.exception = "cancelled", str(exc), exc
            except Exception as exc:
                log.exception("job %s failed", name)
                job.state, job.error, job.exception = "failed", str(exc), exc
            finally:
                job.finished_at = time.time()
                job._finished.set()
                with self._lock:
                    self._threads.pop(job.id, None)
                self.bus.publish("job.finished", job_id=job.id, name=name, state=job.state, error=job.error)

        thread = threading.Thread(target=run, name=f"memdeck-{name}-{job.id}", daemon=True)
        with self._lock:
            self._threads[job.id] = (job, thread)
        thread.start()
        return job

    def jobs(self) -> list[Job]:
        with self._lock:
            return [job for job, _ in self._threads.values()]

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        with self._lock:
            items = list(self._threads.values())
        me = threading.current_thread()
        for job, thread in items:
            if thread is not me:  # a job may close its own Memdeck (a restore does)
                job.cancel()
        deadline = time.monotonic() + timeout
        for _, thread in items:
            if thread is not me:
                thread.join(max(0.0, deadline - time.monotonic()))
