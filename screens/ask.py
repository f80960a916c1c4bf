"""Ask: a chat with memory. The answer streams in as the model writes it, with its sources.

Each question runs as a core job (``md.ask`` in a core thread). The model's pieces arrive in that
thread through ``on_token``; they are buffered and posted to the screen at most every 50 ms, so the
event loop never waits on generation. Under each answer: the numbered citations (collection/key,
version, trust), how it was answered (from memory, model only, or retrieval only when there is no
model) and where the time went. Esc stops a running answer and keeps what was written so far.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.bridge import CoreEvent, CoreFailed, CoreReady, run_in_thread
from tui.widgets import ModeBar

if TYPE_CHECKING:
    from tui.app import MemdeckApp

FLUSH_S = 0.05  # how often streamed text reaches the widget, at most
STAGES = ("embed", "retrieve", "prompt", "load", "generate")


def as_dict(result: Any) -> dict[str, Any]:
    """An ``AskResult`` (or an episode dict) as a plain dict."""
    if isinstance(result, dict):
        return result
    to_dict = getattr(result, "as_dict", None)
    if callable(to_dict):
        out = to_dict()
        if isinstance(out, dict):
            return out
    return dict(vars(result))


def ms(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def mode_text(result: dict[str, Any]) -> tuple[str, str]:
    """How an answer was made, said plainly, and the style to say it in."""
    mode = result.get("answer_mode") or "memory"
    model = result.get("model") or "no model"
    adapter = f" + {result['adapter']}" if result.get("adapter") else ""
    if result.get("error") == "cancelled":
        return f"cancelled: partial answer ({mode}, {model}{adapter})", "bold yellow"
    if mode == "retrieval-only":
        return f"retrieval-only: no model ({result.get('fallback') or 'unavailable'})", "bold yellow"
    if mode == "model-only":
        return f"model-only: memory had nothing on this ({model}{adapter})", "bold magenta"
    if mode == "error":
        return f"error: {result.get('error') or 'unknown'}", "bold red"
    return f"from memory ({model}{adapter})", "bold green"


def timing_text(result: dict[str, Any]) -> str:
    """embed · retrieve · prompt · generate · total ms, tokens, cache hit."""
    t = result.get("timings") or {}
    if isinstance(t, str):  # an episode row keeps them as JSON
        import json

        try:
            t = json.loads(t)
        except ValueError:
            t = {}
    parts = [f"{name} {ms(t[name])}" for name in STAGES if name in t]
    if "cache" in t:
        parts.append(f"cache {ms(t['cache'])}")
    parts.append(f"total {ms(t.get('total'))} ms")
    tokens = f"tokens {result.get('prompt_tokens') or 0} in, {result.get('completion_tokens') or 0} out"
    cache = "cache hit" if result.get("cache_hit") else "cache miss"
    return " · ".join(parts) + f" · {tokens} · {cache}"


def citation_line(c: dict[str, Any]) -> str:
    trust = c.get("trust")
    trust_text = "-" if trust is None else f"{float(trust):.2f}"
    return f"[{c.get('n', '?')}] {c.get('collection')}/{c.get('key')} v{c.get('version', '?')} · trust {trust_text}"


RATING_TEXT = {1: "rated helpful (+1)", -1: "rated not helpful (-1)"}


@dataclass
class Turn:
    """One question and its answer in this session, as shown."""

    question: str
    asked_at: float
    job_id: int | None = None
    state: str = "running"  # running, done, cancelled, failed
    text: str = ""  # streamed so far (the final answer replaces it)
    result: dict[str, Any] | None = None
    error: str | None = None
    rating: int | None = None
    pending: list[str] = field(default_factory=list)

    @property
    def episode_id(self) -> int | None:
        if self.result is None:
            return None
        eid = self.result.get("episode_id")
        return int(eid) if eid else None

    @property
    def citations(self) -> list[dict[str, Any]]:
        return list((self.result or {}).get("citations") or [])


def turn_text(turn: Turn, clock_text: str = "") -> Text:
    """The whole turn as Rich Text (not markup: answers and keys may hold brackets)."""
    text = Text()
    text.append("you", "bold cyan")
    if clock_text:
        text.append(f"  {clock_text}", "dim")
    text.append("\n")
    text.append(turn.question + "\n")
    text.append("memdeck", "bold")
    result = turn.result
    if turn.state == "running":
        text.append("  answering… (esc cancels)\n", "dim italic")
        text.append(turn.text or "…")
        text.append("▌", "bold")
        return text
    if turn.state == "failed":
        text.append("  failed\n", "bold red")
        if turn.text:
            text.append(turn.text + "\n")
        text.append(turn.error or "the answer failed", "red")
        return text
    if result is None:  # cancelled before the core said anything
        text.append("\n")
        text.append((turn.text or "") + "\n")
        text.append("cancelled: partial answer", "bold yellow")
        return text
    label, style = mode_text(result)
    text.append("  ")
    text.append(label, style)
    text.append("\n")
    text.append((result.get("answer") or turn.text or "(empty answer)").rstrip() + "\n")
    citations = turn.citations
    if citations:
        for c in citations:
            text.append(citation_line(c) + "\n", "cyan")
    else:
        text.append("no citations\n", "dim")
    text.append(timing_text(result), "dim")
    tail = []
    if turn.episode_id:
        tail.append(f"episode #{turn.episode_id}")
    if turn.rating in RATING_TEXT:
        tail.append(RATING_TEXT[turn.rating])
    if tail:
        text.append("\n" + "  ·  ".join(tail), "italic")
    return text


class AnswerFlush(Message, bubble=False):
    """Streamed text is waiting in the buffer of this job's turn (posted at most every 50 ms)."""

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id


class TurnView(Static):
    """One turn in the transcript."""

    def __init__(self, turn: Turn, clock_text: str) -> None:
        super().__init__(classes="turn")
        self.turn = turn
        self.clock_text = clock_text

    def on_mount(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        self.update(turn_text(self.turn, self.clock_text))


class Transcript(VerticalScroll):
    """The session's turns; up/down select a turn (the one thumbs and o act on)."""

    BINDINGS = [
        Binding("up,k", "select(-1)", "Previous answer", show=False),
        Binding("down,j", "select(1)", "Next answer", show=False),
    ]

    def action_select(self, step: int) -> None:
        screen = self.screen
        if isinstance(screen, AskScreen):
            screen.move_selection(step)


class QuestionInput(Input):
    """The question box. While it is empty, + and - rate the selected answer (no question starts so)."""

    async def _on_key(self, event: events.Key) -> None:
        screen = self.screen
        if not self.value and event.character in ("+", "-") and isinstance(screen, AskScreen) and screen.turns:
            event.stop()
            event.prevent_default()
            screen.action_rate(1 if event.character == "+" else -1)
            return
        await super()._on_key(event)


class CitationPicker(ModalScreen[dict[str, Any] | None]):
    """Pick which cited (or retrieved) memory to open in the Explorer."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker.cancel")]

    def __init__(self, title: str, citations: list[dict[str, Any]]) -> None:
        super().__init__()
        self.title_text = title
        self.citations = citations

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog picker-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(*[Option(Text(citation_line(c)), id=str(i)) for i, c in enumerate(self.citations)],
                             id="picker-list")
            yield Static("enter opens in the Explorer · esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        options = self.query_one("#picker-list", OptionList)
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.citations[int(event.option.id or 0)])

    def action_cancel(self) -> None:
        self.dismiss(None)


def open_in_explorer(app: MemdeckApp, collection: str, key: str) -> None:
    """Switch to the Explorer and show one item there (a citation, a retrieved memory)."""
    from screens.explorer import ExplorerScreen

    app.switch_mode("explorer")
    explorer = app.mode_screens.get("explorer")
    if isinstance(explorer, ExplorerScreen):
        app.call_later(explorer.show_item, collection, key)


def pick_and_open(screen: Screen[Any], app: MemdeckApp, title: str, citations: list[dict[str, Any]]) -> None:
    """One citation opens at once; several ask which."""
    if not citations:
        screen.notify("this answer cites no memory", severity="warning")
        return
    if len(citations) == 1:
        open_in_explorer(app, citations[0]["collection"], citations[0]["key"])
        return

    def chosen(c: dict[str, Any] | None) -> None:
        if c is not None:
            open_in_explorer(app, c["collection"], c["key"])

    app.push_screen(CitationPicker(title, citations), chosen)


class AskScreen(Screen[None]):
    HELP = (
        "[b]Ask[/b]: ask memory a question in plain words and press enter. The answer streams in as the "
        "model writes it. It is grounded in the best matching memories, which are listed under it as "
        "numbered citations [1] [2] with their collection/key, version and trust.\n\n"
        "The line under the question says how it was answered: [b]from memory[/b] (the model answered from "
        "the memories), [b]model-only[/b] (memory had nothing on it, so the model answered alone) or "
        "[b]retrieval-only[/b] (no model, or it failed: the best memories are quoted, with the reason). "
        "The grey line shows where the time went: embed, retrieve, prompt, generate and total "
        "milliseconds, the tokens, and whether the answer came from the cache.\n\n"
        "Esc stops a running answer; what was written so far is kept, marked cancelled. Esc again (or "
        "tab) moves to the transcript, where up/down select an answer, + or u says it helped, - or d says "
        "it did not, o opens a citation in the Explorer, n starts a new session and / or i returns to the "
        "question box. While the question box is empty, + and - rate the selected answer there too.\n\n"
        "Every question is kept as an episode: read them, with the memories each one used, in Episodes (6)."
    )
    BINDINGS = [
        Binding("escape", "escape", "Cancel/transcript", id="ask.escape"),
        Binding("plus,u", "rate(1)", "Helpful", id="ask.up"),
        Binding("minus,d", "rate(-1)", "Not helpful", id="ask.down"),
        Binding("o", "open_citation", "Open citation", id="ask.open"),
        Binding("n", "new_session", "New session", id="ask.new"),
        Binding("slash,i", "focus_input", "Ask", id="ask.focus", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.session: str | None = None
        self.turns: list[Turn] = []
        self.selected: int | None = None
        self._views: dict[int, TurnView] = {}
        self._job: Any = None
        self._active: Turn | None = None
        self._lock = threading.Lock()
        self._last_post = 0.0
        self._flush_timer: Timer | None = None
        self._model_text = "model: checking…"

    @property
    def memapp(self) -> MemdeckApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ModeBar("ask")
        yield Static("", id="ask-info")
        with Transcript(id="ask-transcript"):
            yield Static("Ask memory anything: type below and press enter.", id="ask-empty")
        yield QuestionInput(placeholder="ask memory a question (enter) · esc: cancel or go to the answers",
                            id="ask-input")
        yield Static("", id="ask-status")
        yield Footer()

    def on_mount(self) -> None:
        question = self.query_one("#ask-input", Input)
        question.cursor_blink = getattr(self.app, "blink", True)
        question.focus()
        self._show_info()
        if self.memapp.core is not None:
            self._load_model()
        else:
            self._status(self.memapp.opening_message())

    def on_core_ready(self, _message: CoreReady) -> None:
        self._status("")
        self._load_model()

    def on_core_failed(self, _message: CoreFailed) -> None:
        self._status(self.memapp.opening_message())

    def on_screen_resume(self) -> None:
        if self.memapp.core is not None:
            self._load_model()

    def on_core_event(self, message: CoreEvent) -> None:
        kind, payload = message.event.kind, message.event.payload
        if kind == "job.finished" and self._job is not None and payload.get("job_id") == self._job.id:
            self._finished(payload)

    # ------------------------------------------------------------------ header
    def _status(self, text: str) -> None:
        self.query_one("#ask-status", Static).update(text)

    def _show_info(self) -> None:
        session = self.session or "new"
        n = len(self.turns)
        self.query_one("#ask-info", Static).update(
            Text.assemble(("session ", "dim"), (session, "bold"), ("  ·  ", "dim"), f"{n} turn(s)",
                          ("  ·  ", "dim"), self._model_text))

    def _load_model(self) -> None:
        core = self.memapp.core
        if core is None:
            return

        def fetch() -> str:
            infos = list(core.models())
            chosen = next((m for m in infos if m.get("selected")), None)
            if chosen is None:
                return "model: none: answers are retrieval-only"
            adapter = f" + {Path(str(chosen['adapter'])).name}" if chosen.get("adapter") else ""
            state = "loaded" if chosen.get("loaded") else "loads on first ask"
            return f"model: {chosen['name']}{adapter} ({state})"

        def show(text: str) -> None:
            self._model_text = text
            self._show_info()

        run_in_thread(self, fetch, show, lambda exc: show(f"model: unknown ({exc})"), name="ask-model")

    # ------------------------------------------------------------------ asking
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "ask-input":
            return
        question = event.value.strip()
        if not question:
            return
        core = self.memapp.core
        if core is None:
            self.notify("the data dir is not open yet", severity="warning")
            return
        if self._active is not None:
            self.notify("an answer is still coming: esc cancels it", severity="warning")
            return
        event.input.value = ""
        self.ask(question)

    def ask(self, question: str) -> None:
        """Start one question as a core job; the answer streams into a new turn."""
        core = self.memapp.core
        if core is None:
            return
        turn = Turn(question=question, asked_at=self.memapp.clock())
        self._add_turn(turn)
        session = self.session
        buffer = turn.pending
        lock = self._lock
        job_box: list[Any] = []

        def on_token(piece: str) -> None:  # core thread: buffer, and wake the screen at most every 50 ms
            now = time.monotonic()
            with lock:
                buffer.append(piece)
                if now - self._last_post < FLUSH_S or not job_box:
                    return
                self._last_post = now
            self.post_message(AnswerFlush(job_box[0].id))

        def work(job: Any) -> Any:
            return core.ask(question, session, on_token=on_token, cancel=lambda: job.cancelled)

        self._active = turn
        self._job = job = core.workers.start("ask", work)
        job_box.append(job)
        turn.job_id = job.id
        self._flush_timer = self.set_interval(FLUSH_S * 2, self._drain)
        self._status("answering… esc cancels")

    def _add_turn(self, turn: Turn) -> None:
        for empty in self.query("#ask-empty"):
            empty.remove()
        self.turns.append(turn)
        view = TurnView(turn, _clock(turn.asked_at))
        self._views[id(turn)] = view
        transcript = self.query_one("#ask-transcript", Transcript)
        transcript.mount(view)
        self._select(len(self.turns) - 1)
        self._show_info()

    def _take_pending(self, turn: Turn) -> str:
        with self._lock:
            text = "".join(turn.pending)
            turn.pending.clear()
        return text

    def _drain(self) -> None:
        """Move buffered text to the widget; also on a timer, for text left when the model pauses.
        Only this method empties the buffer, on the event loop, so pieces never change order."""
        turn = self._active
        if turn is None:
            return
        text = self._take_pending(turn)
        if text:
            turn.text += text
            self._redraw(turn)

    def on_answer_flush(self, message: AnswerFlush) -> None:
        turn = self._active
        if turn is not None and turn.job_id == message.job_id:
            self._drain()

    def _redraw(self, turn: Turn) -> None:
        view = self._views.get(id(turn))
        if view is not None:
            view.redraw()
            if self.turns and turn is self.turns[-1]:
                self.query_one("#ask-transcript", Transcript).scroll_end(animate=False)

    def _finished(self, payload: dict[str, Any]) -> None:
        job, turn = self._job, self._active
        self._job = self._active = None
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        if turn is None or job is None:
            return
        turn.text += self._take_pending(turn)
        state = payload.get("state")
        if state == "ok" and job.result is not None:
            result = as_dict(job.result)
            turn.result = result
            turn.state = "cancelled" if result.get("error") == "cancelled" else "done"
            self.session = result.get("session") or self.session
            self._status(self._done_status(turn))
        elif state == "cancelled":
            turn.state = "cancelled"
            self._status("cancelled")
        else:
            turn.state = "failed"
            exc = job.exception if job.exception is not None else RuntimeError(str(payload.get("error")))
            turn.error = getattr(exc, "message", None) or str(exc)
            self._status("the question failed")
            self.memapp.show_error(exc, "The question failed")
        self._redraw(turn)
        self._show_info()
        self._load_model()  # the first answer loads the model

    def _done_status(self, turn: Turn) -> str:
        n = len(turn.citations)
        if turn.state == "cancelled":
            return "cancelled: the partial answer is kept"
        return f"answered · {n} citation(s) · esc, then: + helpful  - not helpful  o open  n new session"

    # ------------------------------------------------------------------ selection
    def _select(self, index: int | None) -> None:
        for i, turn in enumerate(self.turns):
            view = self._views.get(id(turn))
            if view is not None:
                view.set_class(i == index, "-selected")
        self.selected = index
        if index is not None:
            view = self._views.get(id(self.turns[index]))
            if view is not None:
                self.query_one("#ask-transcript", Transcript).scroll_to_widget(view, animate=False)

    def move_selection(self, step: int) -> None:
        if not self.turns:
            return
        current = len(self.turns) - 1 if self.selected is None else self.selected
        self._select(max(0, min(len(self.turns) - 1, current + step)))

    def _selected_turn(self) -> Turn | None:
        if not self.turns:
            return None
        index = self.selected if self.selected is not None else len(self.turns) - 1
        return self.turns[index]

    # ------------------------------------------------------------------ actions
    def action_escape(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._status("cancelling…")
            return
        self.query_one("#ask-transcript", Transcript).focus()

    def action_focus_input(self) -> None:
        self.query_one("#ask-input", Input).focus()

    def action_rate(self, rating: int) -> None:
        core = self.memapp.core
        turn = self._selected_turn()
        if core is None or turn is None:
            return
        eid = turn.episode_id
        if eid is None:
            self.notify("this answer is not finished yet" if turn.state == "running"
                        else "this answer was not recorded", severity="warning")
            return

        def done(_result: Any) -> None:
            turn.rating = rating
            self._redraw(turn)
            self._status(f"episode #{eid}: {RATING_TEXT[rating]}")

        run_in_thread(self, lambda: core.episode_feedback(eid, rating), done, name="ask-feedback")

    def action_open_citation(self) -> None:
        turn = self._selected_turn()
        if turn is None:
            return
        pick_and_open(self, self.memapp, f"Open a citation of: {turn.question[:50]}", turn.citations)

    def action_new_session(self) -> None:
        if self._job is not None:  # stop it and forget it: its answer belongs to the old session
            self._job.cancel()
        self._job = self._active = None
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        self.session = None
        self.turns = []
        self.selected = None
        self._views = {}
        transcript = self.query_one("#ask-transcript", Transcript)
        transcript.remove_children()
        transcript.mount(Static("New session: ask memory anything below.", id="ask-empty"))
        self._show_info()
        self._status("new session")
        self.query_one("#ask-input", Input).focus()


def _clock(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M UTC")
