"""The facade's questions, models and episodes: ``Memdeck`` inherits these methods.

They live apart from ``core/memdeck.py`` only to keep that file readable; they are part of the one
facade the CLI, the TUI and the tests use, and they follow its rules: role check first, every
change in the audit trail, typed errors with a hint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import episodes
from core.errors import InvalidInput, MemdeckError, NotFound
from core.rag import AskResult, QueryEngine, check_question, new_session_id

if TYPE_CHECKING:
    import sqlite3

    from core.audit import Auditor
    from core.config import Config
    from core.db import Database
    from core.llm import ModelManager
    from core.paths import DataLayout
    from core.search import SearchResult

SELECTED_MODEL = "llm.selected"  # meta key: the model chosen with `models load`, or "none" after `unload`
SELECTED_ADAPTER = "llm.adapter"  # meta key: the LoRA adapter attached to it, if any
MAX_SESSION_CHARS = 100


def set_meta(conn: sqlite3.Connection, key: str, value: str | None) -> int:
    """Upsert (or with ``None`` delete) one ``meta`` row inside the caller's transaction; rows changed."""
    if value is None:
        return int(conn.execute("DELETE FROM meta WHERE key = ?", (key,)).rowcount)
    return int(conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                            "value = excluded.value", (key, value)).rowcount)


def check_session(session: Any) -> str:
    if not isinstance(session, str) or not session.strip() or len(session) > MAX_SESSION_CHARS \
            or any(ord(c) < 32 for c in session):
        raise InvalidInput(f"session id must be 1-{MAX_SESSION_CHARS} printable characters")
    return session.strip()


class AskFacade:
    """Ask, models and episodes, mixed into ``Memdeck``."""

    if TYPE_CHECKING:
        db: Database
        config: Config
        layout: DataLayout
        auditor: Auditor
        actor: str
        _llm_loader: Any

        def require(self, permission: str, target: str = "") -> None: ...
        def record_event(self, action: str, target: str, details: dict[str, Any], outcome: str = "ok") -> None: ...
        def _search(self, query: str, k: int, *, collections: Sequence[str] = (),
                    statuses: Sequence[str] = ("active",), since: float | None = None,
                    until: float | None = None) -> SearchResult: ...

    _llm: ModelManager | None = None
    _engine: QueryEngine | None = None
    _llm_init_lock = threading.Lock()

    # ------------------------------------------------------------------ models
    @property
    def llm(self) -> ModelManager:
        """The model registry and runtime, built on first use (llama_cpp itself loads later still)."""
        with self._llm_init_lock:
            if self._llm is None:
                from core.llm import ModelManager

                self._llm = ModelManager(self.layout.models_dir, n_ctx=int(self.config.get("llm.n_ctx")),
                                         threads=int(self.config.get("llm.threads")),
                                         default=self.selected_model() or str(self.config.get("llm.model")),
                                         loader=self._llm_loader)
            return self._llm

    def selected_model(self) -> str | None:
        """The model answers use: the one last chosen with ``models load`` (``None`` after ``models
        unload``), else ``llm.model`` from config; an empty or ``none`` config value means no model."""
        stored = self._meta(SELECTED_MODEL)
        name = stored if stored is not None else str(self.config.get("llm.model"))
        return None if name.strip().lower() in ("", "none") else name

    def llm_identity(self) -> tuple[str | None, str | None]:
        """(model name, adapter path) answers would use now, without loading anything."""
        name = self.selected_model()
        if name is None:
            return None, None
        loaded = self._llm.loaded() if self._llm is not None else None
        if loaded is not None and loaded.name == name:
            return loaded.name, str(loaded.adapter) if loaded.adapter else None
        return name, None

    def _ensure_model(self, name: str) -> bool:
        """Make ``name`` the loaded model with the selected adapter; True if it had to be loaded now
        (the caller times it). An adapter that no longer attaches is dropped with a notice: answers
        from the base model beat no answers."""
        loaded = self.llm.loaded()
        adapter = self._meta(SELECTED_ADAPTER)
        want = Path(adapter) if adapter else None
        if loaded is not None and loaded.name == name and (loaded.adapter or None) == want:
            return False
        fresh = loaded is None or loaded.name != name
        if fresh:
            self.llm.load(name)
        if want is not None or not fresh:
            try:
                self.llm.attach_adapter(want)
            except MemdeckError as exc:
                self._notice(f"LoRA adapter {adapter} was not attached: {exc.message}")  # type: ignore[attr-defined]
        return fresh

    def _meta(self, key: str) -> str | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row and row[0] else None

    def adapter_attach(self, path: str | Path | None) -> dict[str, Any]:
        """Attach a GGUF LoRA adapter to the answering model (``None`` detaches); it stays attached
        across restarts until changed. Checked by attaching it now; audited."""
        self.require("model.load", str(path or "detach"))
        name = self.selected_model()
        if name is None:
            raise InvalidInput("no model selected to attach an adapter to",
                               hint="`memdeck models load NAME` first")
        target = Path(path).expanduser().resolve() if path is not None else None
        try:
            self._ensure_model(name)
            self.llm.attach_adapter(target)
        except MemdeckError as exc:
            self.record_event("model.adapter", str(target or "detach"), {"error": exc.message}, outcome="failed")
            raise
        with self.db.write() as conn:
            set_meta(conn, SELECTED_ADAPTER, str(target) if target is not None else None)
            self.auditor.one(conn, "model.adapter", str(target or "detach"), {"model": name})
        return {"model": name, "adapter": str(target) if target else None}

    def models(self) -> list[dict[str, Any]]:
        self.require("memory.read", "models")
        selected = self.selected_model()
        live = self.llm.stats()
        with self.db.read() as conn:
            logged = episodes.model_throughput(conn)
        out = []
        for info in self.llm.list():
            row = {"name": info.name, "path": str(info.path), "size_bytes": info.size_bytes,
                   "source": info.source, "loaded": info.loaded,
                   "adapter": str(info.adapter) if info.adapter else None,
                   "selected": info.name == selected, "stats": logged.get(info.name, {}),
                   "runtime": live.get(info.name, {})}
            out.append(row)
        return out

    def model_load(self, name: str | None = None) -> dict[str, Any]:
        """Load a model now (proving it works) and make it the one answers use; audited."""
        target = name or self.selected_model() or str(self.config.get("llm.model"))
        self.require("model.load", target)
        t0 = time.perf_counter()
        try:
            info = self.llm.load(target)  # replaces another loaded model
        except MemdeckError as exc:
            self.record_event("model.load", target, {"error": exc.message}, outcome="failed")
            raise
        took = round(time.perf_counter() - t0, 3)
        previous = self.selected_model()
        with self.db.write() as conn:
            set_meta(conn, SELECTED_MODEL, info.name)
            details: dict[str, Any] = {"path": str(info.path), "seconds": took}
            # an adapter belongs to one base model
            if previous != info.name and set_meta(conn, SELECTED_ADAPTER, None):
                details["adapter"] = "cleared (made for another model)"
            self.auditor.one(conn, "model.load", info.name, details)
        return {"name": info.name, "path": str(info.path), "size_bytes": info.size_bytes, "load_s": took}

    def model_unload(self) -> dict[str, Any]:
        """Free the model; answers are retrieval-only until a model is loaded again; audited."""
        self.require("model.load", "unload")
        was = self._llm.loaded() if self._llm is not None else None
        if self._llm is not None:
            self._llm.unload()
        with self.db.write() as conn:
            set_meta(conn, SELECTED_MODEL, "none")
            self.auditor.one(conn, "model.unload", was.name if was else "-", {})
        return {"unloaded": was.name if was else None}

    def model_stats(self) -> dict[str, Any]:
        self.require("memory.read", "models")
        engine = self._engine
        loaded = self._llm.loaded() if self._llm is not None else None
        with self.db.read() as conn:
            logged = episodes.model_throughput(conn)
        return {"models": logged, "runtime": self._llm.stats() if self._llm is not None else {},
                "loaded": loaded.as_dict() if loaded is not None else None,
                "cache": engine.cache.as_dict() if engine is not None else None}

    def _close_llm(self) -> None:
        if self._llm is not None:
            self._llm.unload()

    # ------------------------------------------------------------------ ask
    def change_seq(self) -> int:
        """The memory's last change number: any write moves it, so cached answers keyed by it expire."""
        with self.db.read() as conn:
            return int(conn.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0])

    def ask(self, question: str, session: str | None = None, *, k: int | None = None,
            on_token: Callable[[str], None] | None = None, cancel: Callable[[], bool] | None = None,
            use_cache: bool = True) -> AskResult:
        """Answer from memory with citations; every call is stored as an episode."""
        question = check_question(question)
        session = check_session(session) if session is not None else new_session_id()
        if k is None:
            k = int(self.config.get("ask.context_items"))
        if not 1 <= k <= 50:
            raise InvalidInput(f"k must be 1-50, got {k}")
        self.require("memory.search", f"ask:{session}")
        if self._engine is None:
            self._engine = QueryEngine(self)  # type: ignore[arg-type]
        return self._engine.ask(question, session, k, on_token, cancel, use_cache)

    def _record_episode(self, result: AskResult) -> int:
        items = [episodes.EpisodeItem(r["id"], r["version"], r["n"], float(r["score"]), bool(r["cited"]))
                 for r in result.retrieved]
        rec = episodes.EpisodeRecord(
            result.session, "ask", result.started_at, result.finished_at, result.question, result.answer,
            result.answer_mode if result.error is None or result.error == "cancelled" else "error",
            result.model, result.adapter, result.timings, result.prompt_tokens, result.completion_tokens,
            result.cache_hit, result.fallback, result.error, self.actor, items)
        with self.db.write() as conn:
            episode_id = episodes.record(conn, rec)
            if self.config.get("audit.access_events"):
                self.auditor.one(conn, "memory.ask", f"episode/{episode_id}", {
                    "session": result.session, "question": result.question, "mode": result.answer_mode,
                    "ids": [r["id"] for r in result.retrieved], "cache_hit": result.cache_hit})
        return episode_id

    # ------------------------------------------------------------------ episodes
    def episodes_recent(self, limit: int = 50, *, session: str | None = None, rating: str | None = None,
                        since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
        if not 1 <= limit <= 100_000:
            raise InvalidInput(f"limit must be 1-100000, got {limit}")
        if rating not in (None, "up", "down", "unrated"):
            raise InvalidInput(f"rating must be up, down or unrated, not {rating!r}")
        self.require("memory.read", "episodes")
        with self.db.read() as conn:
            return episodes.recent(conn, limit, session=session, rating=rating, since=since, until=until)

    def episode(self, episode_id: int) -> dict[str, Any]:
        self.require("memory.read", f"episode/{episode_id}")
        with self.db.read() as conn:
            return episodes.get(conn, int(episode_id))

    def episodes_between(self, t1: float, t2: float, limit: int = 10_000) -> list[dict[str, Any]]:
        if t2 < t1:
            raise InvalidInput("the end of the period is before its start")
        self.require("memory.read", "episodes")
        with self.db.read() as conn:
            return episodes.between(conn, t1, t2, limit)

    def episode_sessions(self, since: float | None = None, until: float | None = None,
                         rating: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        self.require("memory.read", "episodes")
        with self.db.read() as conn:
            return episodes.sessions(conn, since=since, until=until, rating=rating, limit=limit)

    def item_episodes(self, collection: str, key: str) -> list[dict[str, Any]]:
        item = self.get(collection, key)  # type: ignore[attr-defined]
        with self.db.read() as conn:
            return episodes.for_item(conn, int(item["id"]))

    def episode_feedback(self, episode_id: int, rating: int | str, comment: str = "") -> dict[str, Any]:
        value = {"up": 1, "down": -1, "+": 1, "-": -1}.get(rating, rating) if isinstance(rating, str) else rating
        if value not in (1, -1):
            raise InvalidInput(f"rating must be up or down, not {rating!r}")
        self.require("episode.feedback", f"episode/{episode_id}")
        with self.db.write() as conn:
            out = episodes.add_feedback(conn, int(episode_id), int(value), comment, self.actor, time.time())
            self.auditor.one(conn, "episode.feedback", f"episode/{episode_id}",
                             {"rating": "up" if value == 1 else "down", "comment": comment})
        return out

    def episodes_import(self, path: str | Path, session: str | None = None) -> dict[str, Any]:
        """Import a chat log (JSONL of role/content/time) as episodes, all or nothing."""
        path = Path(path)
        self.require("episode.import", str(path))
        turns = episodes.parse_chat_jsonl(path)
        session = check_session(session) if session is not None else f"import-{path.stem}"[:MAX_SESSION_CHARS]
        records = episodes.pair_turns(turns, session, self.actor)
        if not records:
            raise InvalidInput(f"{path} has no user turns to import")
        with self.db.write() as conn:
            ids = [episodes.record(conn, r) for r in records]
            self.auditor.one(conn, "episode.import", str(path), {"session": session, "episodes": len(ids),
                                                                   "turns": len(turns)})
        return {"session": session, "episodes": len(ids), "turns": len(turns), "first_id": ids[0],
                "last_id": ids[-1]}

    def episodes_summarize(self, *, session: str | None = None, since: float | None = None,
                           until: float | None = None, use_model: bool = True,
                           cancel: Callable[[], bool] | None = None) -> dict[str, Any]:
        """A model summary of a session or period, with an extractive summary when there is no model."""
        self.require("memory.read", "episodes")
        with self.db.read() as conn:
            if session is not None:
                eps = list(reversed(episodes.recent(conn, 10_000, session=session)))
            else:
                eps = episodes.between(conn, since if since is not None else 0.0,
                                       until if until is not None else time.time() + 1)
        if not eps:
            raise NotFound("no episodes in that session or period")
        reason = None
        model = self.selected_model() if use_model else None
        if model is not None:
            try:
                self._ensure_model(model)
                gen = self.llm.generate(episodes.summary_messages(eps), max_tokens=int(self.config.get(
                    "llm.max_tokens")), temperature=0.2, cancel=cancel)
                if gen.finish != "cancelled" and gen.text.strip():
                    return {"summary": gen.text.strip(), "method": "model", "episodes": len(eps), "model": model}
                reason = "cancelled" if gen.finish == "cancelled" else "the model returned nothing"
            except Exception as exc:
                reason = str(exc)
        elif use_model:
            reason = "no model selected"
        return {"summary": episodes.extractive_summary(eps), "method": "extractive", "episodes": len(eps),
                "fallback": reason}

    def report(self, days: int = 7) -> dict[str, Any]:
        if not 1 <= days <= 366:
            raise InvalidInput(f"days must be 1-366, got {days}")
        self.require("memory.read", "report")
        with self.db.read() as conn:
            out = episodes.daily_report(conn, days, time.time())
        cache = self._engine.cache.as_dict() if self._engine is not None else None
        out["response_cache"] = cache
        return out
