"""The query engine behind ``memdeck ask``: retrieve, expand, ground, generate, cite.

It answers from memory, never from the model alone when memory has something to say: the best
hybrid-search hits plus the current state of the people and things they mention go into a numbered
prompt, the model is told to cite them, and the answer comes back with the memory ids it used.
When the model is missing, fails or hangs, the caller still gets the best memories quoted, marked
as a retrieval-only answer, so a question is never left without an answer or a reason.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInput, MemdeckError, ModelUnavailable

if TYPE_CHECKING:
    import sqlite3

    from core.memdeck import Memdeck
    from core.search import SearchHit

MAX_QUESTION_CHARS = 4000
ANSWER_MODES = ("memory", "model-only", "retrieval-only", "error")
CANCELLED = "cancelled"

# Measured on the demo canaries with SmolLM2-135M (docs/benchmarks.md, "Ask"): asking the question
# before and after the notes, with plain numbered notes, cited the right memory in 12 of 14 answers;
# a "Memories: ... Question: ... Answer:" layout managed 6 and sometimes answered just "1".
SYSTEM_WITH_MEMORY = (
    "You are a helpful assistant. Answer in one or two sentences using only the numbered notes. "
    "Mention the note number you used, like [1].")
SYSTEM_NO_MEMORY = (
    "You are a careful assistant. Memory has nothing about this question. Answer briefly from general "
    "knowledge and say that memory had nothing on it.")


@dataclass
class Memory:
    """One memory put into a prompt, numbered as the model sees it."""

    n: int
    id: int
    collection: str
    key: str
    version: int
    content: str
    score: float
    via: str  # "hit" (found by the search) or "expanded" (mentioned by a hit)
    vector_score: float | None = None
    keyword_rank: int | None = None
    trust: float | None = None  # the stored trust score; None until a trust pass has scored it
    cited: bool = False

    def citation(self) -> dict[str, Any]:
        return {"n": self.n, "id": self.id, "collection": self.collection, "key": self.key,
                "version": self.version, "score": round(self.score, 6), "trust": self.trust, "via": self.via}


@dataclass
class AskResult:
    """Everything one answer produced; stored as an episode and shown by the CLI and the Ask screen."""

    episode_id: int
    session: str
    question: str
    answer: str
    answer_mode: str
    citations: list[dict[str, Any]]
    retrieved: list[dict[str, Any]]
    timings: dict[str, float]
    model: str | None
    adapter: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hit: bool = False
    fallback: str | None = None
    error: str | None = None
    started_at: float = 0.0
    finished_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0


@dataclass
class ResponseCache:
    """LRU of finished answers. The key holds the memory's change sequence, so any write makes
    every older entry unreachable (and the LRU ages it out) without a scan."""

    capacity: int
    _data: OrderedDict[Hashable, AskResult] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    stats: CacheStats = field(default_factory=CacheStats)

    def get(self, key: Hashable) -> AskResult | None:
        with self._lock:
            if self.capacity <= 0 or key not in self._data:
                self.stats.misses += 1
                return None
            self._data.move_to_end(key)
            self.stats.hits += 1
            return self._data[key]

    def put(self, key: Hashable, value: AskResult) -> None:
        with self._lock:
            if self.capacity <= 0:
                return
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            looked = self.stats.hits + self.stats.misses
            return {"hits": self.stats.hits, "misses": self.stats.misses, "size": len(self._data),
                    "capacity": self.capacity,
                    "hit_rate": round(self.stats.hits / looked, 4) if looked else None}


def new_session_id() -> str:
    """Sortable and unique enough for one machine: UTC time plus 4 random hex digits."""
    return datetime.now(UTC).strftime("s%Y%m%dT%H%M%SZ-") + secrets.token_hex(2)


def check_question(question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidInput(f"the question has {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}",
                           hint="ask about one thing at a time")
    return question.strip()


def normalise_question(question: str) -> str:
    return " ".join(question.casefold().split())


def relevant_hits(hits: Sequence[SearchHit], min_similarity: float) -> list[SearchHit]:
    """Fusion always returns *something*; a hit counts only if a keyword matched or the vector
    similarity says it is about the question, so an unrelated question is answered as model-only."""
    return [h for h in hits if h.keyword_rank is not None
            or (h.vector_score is not None and h.vector_score >= min_similarity)]


_NAME = re.compile(r"\b([A-Z][\w'\u2019]+(?:[ -][A-Z][\w'\u2019]+){1,3})\b")


def slug(text: str) -> str:
    """'João Ferreira' -> 'joao-ferreira': the shape entity names take inside demo and user keys."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def entity_slugs(texts: Sequence[str], limit: int = 12) -> list[str]:
    """Multi-word capitalised names (people, products, sites), most frequent first."""
    counts: dict[str, int] = {}
    for text in texts:
        for match in _NAME.finditer(text):
            s = slug(match.group(1))
            if len(s) >= 5 and "-" in s:
                counts[s] = counts.get(s, 0) + 1
    return [s for s, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:limit]


def expand(conn: sqlite3.Connection, texts: Sequence[str], exclude: set[int], limit: int) -> list[dict[str, Any]]:
    """The current state of what the texts mention: active items whose key carries an entity's slug
    (``people.maya-okafor.role`` for "Maya Okafor"), newest first, at most ``limit`` in all."""
    out: list[dict[str, Any]] = []
    if limit <= 0:
        return out
    for s in entity_slugs(texts):
        rows = conn.execute(
            "SELECT id, collection, key, version, content FROM items WHERE status = 'active'"
            " AND (key = ? OR key LIKE ? ESCAPE '\\' OR key LIKE ? ESCAPE '\\') ORDER BY updated_at DESC LIMIT 3",
            (s, f"%.{_like(s)}%", f"%/{_like(s)}%")).fetchall()
        for r in rows:
            if r[0] in exclude:
                continue
            exclude.add(r[0])
            out.append({"id": r[0], "collection": r[1], "key": r[2], "version": r[3], "content": r[4]})
            if len(out) >= limit:
                return out
    return out


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def build_messages(question: str, memories: Sequence[Memory], max_chars: int) -> tuple[list[dict[str, str]],
                                                                                          list[Memory]]:
    """The grounded prompt. Memory text is cut to ``max_chars`` in all (best first), because the
    bundled model's context is small and prompt time grows with every token."""
    if not memories:
        return [{"role": "system", "content": SYSTEM_NO_MEMORY}, {"role": "user", "content": question}], []
    used: list[Memory] = []
    lines: list[str] = []
    budget = max_chars
    for m in memories:
        if budget <= 40:
            break
        text = " ".join(m.content.split())
        if len(text) > budget:
            text = text[:budget].rsplit(" ", 1)[0] + " …"
        budget -= len(text)
        lines.append(f"[{m.n}] {text}")
        used.append(m)
    user = f"Question: {question}\n\nNotes:\n" + "\n".join(lines) + f"\n\nAnswer the question: {question}"
    return [{"role": "system", "content": SYSTEM_WITH_MEMORY}, {"role": "user", "content": user}], used


# Small models sometimes go on to invent the next question; the answer ends there.
STOP = ("\nQuestion:", "\nNotes:", "\nAnswer the question:")


_MARKER = re.compile(r"\[(\d{1,3})\]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_COMMON = frozenset("""the and for are was were has have had with that this from into about their there which
what when where who whom whose will would can could should does did not but you your our its they them than
then also memory memories question answer says said note notes is of to in on at by as be it an or""".split())  # noqa: SIM905


def _words(text: str) -> set[str]:
    """Distinctive tokens: every number (dates and model numbers matter) and words of 3+ letters cut
    to their first 4, a crude stem that lets "charged"/"charge" and "needs"/"needing" meet."""
    return {w if w.isdigit() else w[:4] for w in (t.casefold() for t in _WORD.findall(text))
            if w not in _COMMON and (len(w) >= 3 or w.isdigit())}


def find_citations(answer: str, memories: Sequence[Memory], question: str = "",
                   min_overlap: float = 0.5) -> list[int]:
    """Which numbered memories the answer rests on: its explicit [n] markers if it has any valid
    ones; otherwise, per answer sentence, the memory that supplies the largest share (at least
    ``min_overlap``) of what the sentence adds to the question. Words the question already holds are
    no evidence (every retrieved memory shares them); the new names, numbers and dates are."""
    numbers = {m.n for m in memories}
    marked = sorted({int(x) for x in _MARKER.findall(answer)} & numbers)
    if marked:
        return marked
    asked = _words(question)
    known = {m.n: _words(m.content) for m in memories}
    cited: set[int] = set()
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", answer):
        words = _words(sentence) - asked
        if not words:
            continue
        best: tuple[float, int] | None = None
        for m in memories:
            share = len(words & known[m.n]) / len(words)
            if share >= min_overlap and (best is None or share > best[0]):
                best = (share, m.n)
        if best is not None:
            cited.add(best[1])
    return sorted(cited)


def retrieval_only_answer(memories: Sequence[Memory], reason: str, quote_chars: int = 300) -> str:
    """The fallback answer: the best memories quoted, with the reason there is no model answer."""
    if not memories:
        return f"No model answer ({reason}), and memory has nothing that matches the question."
    lines = [f"No model answer ({reason}). The best memories:"]
    for m in memories[:5]:
        text = " ".join(m.content.split())
        if len(text) > quote_chars:
            text = text[:quote_chars].rsplit(" ", 1)[0] + " …"
        lines.append(f"[{m.n}] {m.collection}/{m.key}: \u201c{text}\u201d")
    return "\n".join(lines)


class Deadline:
    """A cancel check that also stops a generation that runs past ``seconds``: never a hang."""

    def __init__(self, seconds: float, user_cancel: Callable[[], bool] | None) -> None:
        self.ends = time.monotonic() + seconds
        self.user_cancel = user_cancel
        self.expired = False

    def __call__(self) -> bool:
        if self.user_cancel is not None and self.user_cancel():
            return True
        if time.monotonic() > self.ends:
            self.expired = True
            return True
        return False


def is_retryable(exc: BaseException) -> bool:
    """Generation errors worth another try: not a missing model, not bad input, not our own errors."""
    return not isinstance(exc, ModelUnavailable | InvalidInput | MemdeckError)


class QueryEngine:
    """Runs one question end to end against a facade; owns the response cache.

    It lives in core, holds no UI state, and reports streamed text only through ``on_token``."""

    def __init__(self, md: Memdeck) -> None:
        self.md = md
        self.cache = ResponseCache(int(md.config.get("ask.cache_size")))

    def _cache_key(self, question: str, k: int, model: str | None, adapter: str | None) -> Hashable:
        get = self.md.config.get
        return (normalise_question(question), k, get("ask.expand_items"), get("ask.min_similarity"),
                get("ask.context_chars"), get("search.vector_weight"), get("search.keyword_weight"),
                get("search.rrf_k"), get("search.candidates"), get("ask.max_tokens"), get("llm.temperature"),
                model, adapter, self.md.change_seq())

    def ask(self, question: str, session: str, k: int, on_token: Callable[[str], None] | None,
            cancel: Callable[[], bool] | None, use_cache: bool) -> AskResult:
        md = self.md
        get = md.config.get
        started, t0 = time.time(), time.perf_counter()
        model, adapter = md.llm_identity()
        key = self._cache_key(question, k, model, adapter) if use_cache else None
        cached = self.cache.get(key) if key is not None else None
        if cached is not None:
            if on_token is not None:
                on_token(cached.answer)
            took = round((time.perf_counter() - t0) * 1000, 3)
            result = AskResult(0, session, question, cached.answer, cached.answer_mode, cached.citations,
                               cached.retrieved, {"cache": took, "total": took}, cached.model, cached.adapter,
                               0, 0, True, None, None, started, time.time())
            result.episode_id = md._record_episode(result)
            return result

        timings: dict[str, float] = {}
        found = md._search(question, k)
        timings["embed"] = found.timings_ms.get("embed", 0.0)
        timings["retrieve"] = round(found.timings_ms.get("total", 0.0) - timings["embed"], 3)
        hits = relevant_hits(found.hits, float(get("ask.min_similarity")))
        memories = [Memory(i, h.id, h.collection, h.key, h.version, h.content, h.fused, "hit", h.vector_score,
                           h.keyword_rank) for i, h in enumerate(hits, start=1)]
        t1 = time.perf_counter()
        with md.db.read() as conn:
            extra = expand(conn, [question, *(m.content for m in memories)], {m.id for m in memories},
                           int(get("ask.expand_items")) if memories else 0)
        memories += [Memory(len(memories) + i, e["id"], e["collection"], e["key"], e["version"], e["content"],
                            0.0, "expanded") for i, e in enumerate(extra, start=1)]
        scores = md.trust_of(m.id for m in memories)
        for m in memories:
            m.trust = scores.get(m.id)
        messages, used = build_messages(question, memories, int(get("ask.context_chars")))
        timings["prompt"] = round((time.perf_counter() - t1) * 1000, 3)

        answer, mode, fallback, error = "", "memory" if used else "model-only", None, None
        prompt_tokens = completion_tokens = 0
        deadline = Deadline(float(get("ask.timeout_s")), cancel)
        t2 = time.perf_counter()
        if model is None:
            fallback = "no model selected; `memdeck models load NAME` picks one"
        elif deadline():
            error = "cancelled"
        else:
            gen = None
            t_load = time.perf_counter()
            try:
                if md._ensure_model(model):
                    timings["load"] = round((time.perf_counter() - t_load) * 1000, 3)
                    t2 = time.perf_counter()
                gen, fallback = self._generate(messages, on_token, deadline)
            except ModelUnavailable as exc:
                fallback = f"model unavailable: {exc.message}"
            if fallback == CANCELLED:
                fallback, error = None, "cancelled"
            if gen is not None:
                prompt_tokens, completion_tokens = gen.prompt_tokens, gen.completion_tokens
                timings["first_token"] = round(gen.ttft_ms, 3)
                if deadline.expired:
                    fallback = f"generation timed out after {get('ask.timeout_s'):g} s"
                elif gen.finish == "cancelled":
                    answer, error = gen.text, "cancelled"
                elif not gen.text.strip():
                    fallback = "the model returned an empty answer"
                else:
                    answer = gen.text.strip()
        timings["generate"] = round((time.perf_counter() - t2) * 1000, 3)
        if fallback is not None:
            quoted = used or memories
            answer, mode = retrieval_only_answer(quoted, fallback), "retrieval-only"
            cited = [m.n for m in quoted[:5]]
        else:
            cited = find_citations(answer, used, question)
        for m in memories:
            m.cited = m.n in cited
        timings["total"] = round((time.perf_counter() - t0) * 1000, 3)
        model_info = md.llm_identity()
        result = AskResult(0, session, question, answer, mode, [m.citation() for m in memories if m.cited],
                           [{**m.citation(), "cited": m.cited, "vector_score": m.vector_score,
                             "keyword_rank": m.keyword_rank} for m in memories],
                           timings, model_info[0] if fallback is None else model, model_info[1],
                           prompt_tokens, completion_tokens, False, fallback, error, started, time.time())
        result.episode_id = md._record_episode(result)
        if key is not None and fallback is None and error is None:
            self.cache.put(key, result)
        return result

    def _generate(self, messages: list[dict[str, str]], on_token: Callable[[str], None] | None,
                  deadline: Deadline) -> tuple[Any, str | None]:
        """Generate with retries and backoff; returns (result or None, fallback reason or None)."""
        md = self.md
        retries = int(md.config.get("ask.retries"))
        for attempt in range(retries + 1):
            try:
                return md.llm.generate(messages, max_tokens=int(md.config.get("ask.max_tokens")),
                                       temperature=float(md.config.get("llm.temperature")),
                                       on_token=on_token, cancel=deadline, stop=STOP), None
            except ModelUnavailable as exc:
                return None, f"model unavailable: {exc.message}"
            except Exception as exc:
                if not is_retryable(exc) or attempt == retries:
                    return None, f"generation failed after {attempt + 1} attempt(s): {exc}"
                pause = 0.25 * 2 ** attempt
                end = time.monotonic() + pause
                while time.monotonic() < end:
                    if deadline():
                        return None, CANCELLED if not deadline.expired else "generation timed out while retrying"
                    time.sleep(0.02)
        return None, "generation failed"
