"""The memdeck Textual app: one App, a mode per area, core opened off the event loop.

The first paint happens before anything heavy: the data dir is opened in a thread, then the embedder
warms up in a core worker, and screens show each state as it arrives. Core events are bridged into
Textual messages; errors show as notifications or a modal, and a failing worker never kills the app.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen
from textual.timer import Timer

from core.errors import MemdeckError
from core.events import Event
from screens.ask import AskScreen
from screens.audit import AuditScreen
from screens.backup import BackupScreen
from screens.episodes import EpisodesScreen
from screens.explorer import ExplorerScreen
from screens.health import HealthScreen, default_system_stats
from screens.training import TrainingScreen
from screens.trust import TrustScreen
from tui.bridge import CoreEvent, CoreFailed, CoreReady, run_in_thread
from tui.modals import ErrorModal, HelpModal

STYLES = Path(__file__).resolve().parent.parent / "styles"
# Alert events and the screen that shows them once it is open; until then the app toasts them.
ALERT_SCREENS = {"trust.alert": ("trust", "Trust alert"), "train.alert": ("training", "Training alert")}
ALERT_GROUP_S = 0.5  # alerts within this window are one toast


class MemdeckCommands(Provider):
    """Command palette entries: every area and every admin action, findable by name."""

    def _commands(self) -> Iterator[tuple[str, Callable[[], Any], str]]:
        app = self.app
        assert isinstance(app, MemdeckApp)
        yield "Go to Memory Health", partial(app.switch_mode, "health"), "counts, drift, heartbeat, models"
        yield "Go to Memory Explorer", partial(app.switch_mode, "explorer"), "search and browse memory"
        yield "Go to Audit Log", partial(app.switch_mode, "audit"), "who changed what, approvals"
        yield "Verify audit chain", partial(app.run_screen_action, "audit", "verify"), "find tampering"
        yield "Export audit log", partial(app.run_screen_action, "audit", "export"), "JSON lines or CSV"
        yield "Go to Backup and restore", partial(app.switch_mode, "backup"), "create, verify, restore"
        yield "Create a backup now", partial(app.run_screen_action, "backup", "create"), "consistent snapshot"
        yield "Go to Ask", partial(app.switch_mode, "ask"), "ask memory a question, answers with citations"
        yield "New ask session", partial(app.run_screen_action, "ask", "new_session"), "forget the chat so far"
        yield "Go to Episodes", partial(app.switch_mode, "episodes"), "past questions, ratings, what memory was used"
        yield "Daily report", partial(app.run_screen_action, "episodes", "report"), "latency and satisfaction per day"
        yield "Summarise the last 7 days", partial(app.run_screen_action, "episodes", "summarize_period"), \
            "what was asked and answered"
        yield "Go to Trust", partial(app.switch_mode, "trust"), "trust scores, contradictions, review queue"
        yield "Recompute trust", partial(app.run_screen_action, "trust", "recompute"), "rescore every item now"
        yield "Go to Training", partial(app.switch_mode, "training"), "LoRA runs, canary gate, adapter, rollback"
        yield "Train now", partial(app.run_screen_action, "training", "train_now"), "learn what changed in memory"
        yield "Validate the model", partial(app.run_screen_action, "training", "validate"), "morning validation"
        yield "Roll back the training adapter", partial(app.run_screen_action, "training", "rollback"), \
            "back to the adapter before the last promoted run (admin)"
        yield "Cancel the training run", partial(app.run_screen_action, "training", "cancel_run"), \
            "stop the run in progress at its next step"
        yield "Run drift check now", partial(app.run_screen_action, "health", "check"), "heartbeat --once"
        yield "Repair drift", partial(app.run_screen_action, "health", "repair"), "shows the plan first"
        yield "Rebuild vector index", partial(app.run_screen_action, "health", "rebuild"), "from SQLite"
        yield "Toggle light/dark theme", app.action_toggle_theme, "t"
        yield "Help for this screen", app.action_help, "F1"

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class MemdeckApp(App[None]):
    CSS_PATH = [STYLES / "app.tcss", STYLES / "ask.tcss", STYLES / "trust.tcss", STYLES / "training.tcss"]
    TITLE = "memdeck"
    COMMANDS = App.COMMANDS | {MemdeckCommands}
    BINDINGS = [
        Binding("1", "switch_mode('health')", "Health", id="mode.health"),
        Binding("2", "switch_mode('explorer')", "Explorer", id="mode.explorer"),
        Binding("3", "switch_mode('audit')", "Audit", id="mode.audit"),
        Binding("4", "switch_mode('backup')", "Backup", id="mode.backup"),
        Binding("5", "switch_mode('ask')", "Ask", id="mode.ask"),
        Binding("6", "switch_mode('episodes')", "Episodes", id="mode.episodes"),
        Binding("7", "switch_mode('trust')", "Trust", id="mode.trust"),
        Binding("8", "switch_mode('training')", "Training", id="mode.training"),
        Binding("f1", "help", "Help", id="app.help"),
        Binding("colon", "command_palette", "Commands", id="app.palette", show=False),
        Binding("t", "toggle_theme", "Theme", id="app.theme", show=False),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit_ctrl", show=False, priority=True),
    ]

    def __init__(self, data_dir: str | Path | None = None, *, core: Any = None,
                 core_factory: Callable[[], Any] | None = None,
                 system_stats: Callable[[Any], dict[str, Any]] = default_system_stats,
                 clock: Callable[[], float] = time.time, start_background: bool = True,
                 blink: bool = True) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.core: Any = core
        self.core_error: BaseException | None = None
        self._core_factory = core_factory
        self.system_stats = system_stats
        self.clock = clock
        self.start_background = start_background
        self.blink = blink  # snapshot tests turn cursor blinking off so frames are deterministic
        self.mode_screens: dict[str, Screen[Any]] = {"health": HealthScreen(), "explorer": ExplorerScreen(),
                                                     "audit": AuditScreen(), "backup": BackupScreen(),
                                                     "ask": AskScreen(), "episodes": EpisodesScreen(),
                                                     "trust": TrustScreen(),
                                                     "training": TrainingScreen()}
        self._unsubscribe: Callable[[], None] | None = None
        self._pending_alerts: dict[str, list[str]] = {}
        self._alert_timer: Timer | None = None

    def on_mount(self) -> None:
        for name, screen in self.mode_screens.items():
            # A callable, not the instance: Textual wants a factory, we want to keep the screen.
            self.add_mode(name, partial(lambda s: s, screen))
        self.switch_mode("health")
        if self.core is not None:
            self._core_opened(self.core)
        else:
            # After the first paint: opening imports SQLAlchemy, numpy and hnswlib, and those imports
            # hold the GIL long enough to delay the first frame by a second or more.
            self.call_after_refresh(self._start_opening)

    def _start_opening(self) -> None:
        factory = self._core_factory or self._default_factory
        run_in_thread(self.screen, factory, self._core_opened, self._core_failed, name="open-core")

    def _default_factory(self) -> Any:
        from core.memdeck import Memdeck

        return Memdeck.open(self.data_dir)

    def opening_message(self) -> str:
        if self.core_error is not None:
            return f"[b red]could not open the data dir:[/] {self.core_error}"
        return "opening data dir… (loading index)"

    def _core_opened(self, core: Any) -> None:
        self.core = core
        self._unsubscribe = core.bus.subscribe(self._on_core_bus)
        for notice in getattr(core, "notices", []):
            self.notify(notice, severity="warning", timeout=10)
        if self.start_background:
            core.start_heartbeat()
            if hasattr(core, "start_scheduler"):
                core.start_scheduler()
            if hasattr(core, "start_trust_worker"):
                core.start_trust_worker()
            if hasattr(core, "start_train_scheduler"):
                core.start_train_scheduler()
            embedder = getattr(core, "_embedder", None)
            if embedder is not None and hasattr(embedder, "warm"):
                core.workers.start("warm-embedder", lambda job: embedder.warm("query"))
        for screen in self.mode_screens.values():
            screen.post_message(CoreReady())

    def detach_core(self) -> Any:
        """Take the core away from every screen (a restore is about to close it); returns it."""
        core, self.core = self.core, None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for screen in self.mode_screens.values():
            screen.post_message(CoreFailed(RuntimeError("restoring a backup: the data dir is closed for a moment")))
        return core

    def reopen_core(self) -> None:
        """Open the data dir again (after a restore swapped the live data)."""
        self.core_error = None
        self._start_opening()

    def _core_failed(self, exc: BaseException) -> None:
        self.core_error = exc
        for screen in self.mode_screens.values():
            screen.post_message(CoreFailed(exc))
        self.show_error(exc, title="Could not open the data dir")

    def _on_core_bus(self, event: Event) -> None:
        # Called from core threads: post_message is thread-safe.
        self.post_message(CoreEvent(event))

    def on_core_event(self, message: CoreEvent) -> None:
        event = message.event
        if event.kind == "job.finished" and event.payload.get("state") == "failed":
            self.notify(f"{event.payload.get('name')} failed: {event.payload.get('error')}",
                        severity="error", timeout=10)
        elif event.kind == "notice":
            self.notify(str(event.payload.get("message")), severity="warning", timeout=10)
        elif event.kind == "backup.failed":  # wherever the user is: a failed backup is never silent
            self.notify(f"backup failed: {event.payload.get('error')}", severity="error", timeout=30)
        elif event.kind == "backup.scheduled":
            self.notify(str(event.payload.get("message")), timeout=10)
        elif event.kind in ALERT_SCREENS:
            mode, title = ALERT_SCREENS[event.kind]
            screen = self.mode_screens.get(mode)
            if screen is None or not screen.is_mounted:  # once mounted, the screen toasts (and groups) its own
                self._queue_alert(title, str(event.payload.get("message") or event.kind))
        for screen in self.mode_screens.values():
            if screen.is_mounted:
                screen.post_message(CoreEvent(event))

    def _queue_alert(self, title: str, message: str) -> None:
        """Alerts from a screen not opened yet still reach the user, wherever they are. A trust pass can
        raise many at once: they are grouped into one toast per kind ("…and 4 more")."""
        self._pending_alerts.setdefault(title, []).append(message)
        if self._alert_timer is None:
            self._alert_timer = self.set_timer(ALERT_GROUP_S, self._flush_alerts)

    def _flush_alerts(self) -> None:
        self._alert_timer = None
        pending, self._pending_alerts = self._pending_alerts, {}
        for title, messages in pending.items():
            more = f"\n…and {len(messages) - 1} more" if len(messages) > 1 else ""
            first = messages[0] if len(messages[0]) <= 160 else messages[0][:159] + "…"
            self.notify(first + more, title=title, severity="warning", timeout=10)

    # ------------------------------------------------------------------ helpers for screens
    def show_error(self, exc: BaseException, title: str = "Something went wrong") -> None:
        if isinstance(exc, MemdeckError):
            self.push_screen(ErrorModal(exc.message, exc.hint, title))
        else:
            self.push_screen(ErrorModal(f"{type(exc).__name__}: {exc}", None, title))

    def llm_status(self) -> str:
        """The LLM card: which model answers use, whether it is loaded, its logged speed and the cache.

        Runs in a worker thread (the Health refresh); reads state only, so llama_cpp stays unimported
        until someone asks a question."""
        import importlib.metadata

        lines: list[str] = []
        core = self.core
        if core is not None:
            stats = core.model_stats()
            selected = core.selected_model()
            loaded = stats.get("loaded")
            if selected is None:
                lines.append("[yellow]no model: answers are retrieval-only[/]")
            elif loaded is not None and loaded["name"] == selected:
                lines.append(f"loaded {selected}" + (" + LoRA" if loaded.get("adapter") else ""))
            else:
                lines.append(f"{selected} (loads on first ask)")
            logged = stats["models"].get(selected or "", {})
            if logged.get("tokens_per_s"):
                lines.append(f"{logged['tokens_per_s']:.0f} tok/s  p95 {logged['latency_ms_p95'] / 1000:.1f} s")
            cache = stats.get("cache")
            if cache and (cache["hits"] or cache["misses"]):
                lines.append(f"cache {cache['hits']} hit(s) / {cache['hits'] + cache['misses']}")
            available = core.llm.list()
            lines.append(f"{len(available)} model(s) available")
        try:
            lines.append(f"llama-cpp-python {importlib.metadata.version('llama-cpp-python')}")
        except importlib.metadata.PackageNotFoundError:
            lines.append("[red]llama-cpp-python not installed[/]")
        return "\n".join(lines)

    def run_screen_action(self, mode: str, action: str) -> None:
        """Switch to ``mode`` and run one of its actions once the screen is composed (the palette
        can name a screen that was never opened; its widgets must exist before the action runs)."""
        async def go() -> None:
            await self.switch_mode(mode)
            await self.mode_screens[mode].run_action(action)

        self.call_later(go)

    # ------------------------------------------------------------------ actions
    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpModal):
            return
        text = getattr(screen, "HELP", "memdeck: an offline console for an AI memory system.")
        keys: list[tuple[str, str]] = []
        for binding in [*getattr(screen, "BINDINGS", []), *self.BINDINGS]:
            if isinstance(binding, Binding):
                keys.append((binding.key.replace("colon", ":").replace("slash", "/"), binding.description))
        keys.append(("ctrl+p", "Command palette"))
        self.push_screen(HelpModal(type(screen).__name__.replace("Screen", ""), text, keys))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    async def action_quit(self) -> None:
        self.exit()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()


def run_app(data_dir: str | Path | None = None) -> None:
    """Entry point for `memdeck` / `memdeck tui`: run, then stop core workers and save the index."""
    app = MemdeckApp(data_dir)
    try:
        app.run()
    finally:
        if app.core is not None:
            app.core.close()
