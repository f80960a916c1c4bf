"""Thread-safe publish/subscribe between core workers and whoever listens (TUI, CLI, tests).

Core never knows who listens: the TUI subscribes and turns events into Textual messages with
``post_message`` (thread-safe); the CLI prints progress. A failing subscriber never breaks the publisher.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Something that happened in core: ``kind`` like ``heartbeat.done`` or ``job.progress``."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; returns a function that unsubscribes it."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, kind: str, **payload: Any) -> Event:
        event = Event(kind, payload)
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a broken listener must not break core work
                log.exception("event subscriber failed for %s", kind)
        return event
