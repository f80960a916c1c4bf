"""How the TUI talks to core without blocking its event loop.

Every core call from a screen goes through ``run_in_thread``: it runs in a Textual thread worker and
its result (or error) is handed back on the event loop. Core bus events arrive from core threads and
are turned into ``CoreEvent`` messages with ``post_message``, which is thread-safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from textual.message import Message
from textual.widget import Widget

from core.events import Event

log = logging.getLogger(__name__)
T = TypeVar("T")


class CoreEvent(Message, bubble=False):
    """A core event (heartbeat done, job progress, drift found...) delivered on the event loop.

    It must not bubble: the App forwards each event to every mode screen, and a bubbling copy would
    come back up to the App and be forwarded again, forever."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class CoreReady(Message, bubble=False):
    """The data dir is open and the facade is usable."""


class CoreFailed(Message, bubble=False):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


def run_in_thread(node: Widget, fn: Callable[[], T], on_done: Callable[[T], Any] | None = None,
                  on_error: Callable[[BaseException], Any] | None = None, name: str = "core-call",
                  exclusive: bool = False) -> None:
    """Run ``fn`` off the event loop; call ``on_done``/``on_error`` back on it."""
    app = node.app

    def deliver(callback: Callable[..., Any], value: Any) -> None:
        try:
            app.call_from_thread(callback, value)
        except RuntimeError:  # the app is shutting down; nobody is left to tell
            log.debug("dropped result of %s during shutdown", name)

    def work() -> None:
        try:
            result = fn()
        except BaseException as exc:
            handler = on_error or getattr(app, "show_error", None)
            if handler is not None:
                deliver(handler, exc)
            return
        if on_done is not None:
            deliver(on_done, result)

    node.run_worker(work, name=name, group=name, thread=True, exit_on_error=False, exclusive=exclusive)
