"""The episode log: every ask and every imported chat turn, what memory it used, and how it was rated.

Functions take the caller's sqlite3 connection so the facade decides the transaction: an ask writes its
episode in the same transaction as its audit event, and a chat import writes every turn in one
transaction, so a bad file imports nothing. Episodes record the *version* of each memory they used,
because the point of the log is to answer "what did it know when it said that?" after memory changed.

Time windows are half-open, ``since <= started_at < until``, so consecutive windows never count an
episode twice. Days in the report are UTC days.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, NotFound
from core.llm import percentile

KINDS = ("ask", "import")
ANSWER_MODES = ("memory", "model-only", "retrieval-only", "error")
RATINGS = {"up": 1, "down": -1}
ROLES = ("user", "assistant", "system")
MAX_COMMENT = 2000
MAX_SESSION = 256
MAX_IMPORT_BYTES = 50 * 1024 * 1024
DAY = 86_400.0
MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z, the last time datetime can show

_EPISODE_COLS = ("id", "session", "kind", "started_at", "finished_at", "question", "answer", "answer_mode",
                 "model", "adapter", "timings", "prompt_tokens", "completion_tokens", "cache_hit", "fallback",
                 "error", "actor")
# The latest rating per episode: feedback ids only grow, so the highest id is the latest word.
_LATEST = ("latest AS (SELECT f.episode_id, f.rating, f.comment FROM feedback f"
           " JOIN (SELECT episode_id, max(id) AS fid FROM feedback GROUP BY episode_id) m ON m.fid = f.id)")


@dataclass
class EpisodeItem:
    """One retrieved memory: the version used, its rank among the hits, its score, whether cited."""

    item_id: int
    version: int
    rank: int
    score: float
    cited: bool


@dataclass
class EpisodeRecord:
    """An episode ready to write (``record``); ``timings`` holds stage durations in ms, ``total`` included."""

    session: str
    kind: str
    started_at: float
    finished_at: float
    question: str
    answer: str
    answer_mode: str
    model: str | None
    adapter: str | None
    timings: dict[str, float]
    prompt_tokens: int
    completion_tokens: int
    cache_hit: bool
    fallback: str | None
    error: str | None
    actor: str
    items: list[EpisodeItem] = field(default_factory=list)


# ---------------------------------------------------------------------------- writing
def _validate(rec: EpisodeRecord) -> None:
    if rec.kind not in KINDS:
        raise InvalidInput(f"unknown episode kind {rec.kind!r}; use one of {', '.join(KINDS)}")
    if rec.answer_mode not in ANSWER_MODES:
        raise InvalidInput(f"unknown answer mode {rec.answer_mode!r}; use one of {', '.join(ANSWER_MODES)}")
    if not isinstance(rec.session, str) or not rec.session.strip() or len(rec.session) > MAX_SESSION:
        raise InvalidInput(f"session must be 1-{MAX_SESSION} characters, got {rec.session!r}")
    if not isinstance(rec.question, str) or not isinstance(rec.answer, str):
        raise InvalidInput("question and answer must be text")
    for name in ("started_at", "finished_at"):
        value = getattr(rec, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidInput(f"{name} must be a finite number of seconds, got {value!r}")


def record(conn: sqlite3.Connection, rec: EpisodeRecord) -> int:
    """Write one episode and its item links inside the caller's transaction; returns the episode id."""
    _validate(rec)
    try:
        timings = json.dumps(rec.timings or {}, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"episode timings are not JSON numbers: {exc}") from exc
    cur = conn.execute(
        "INSERT INTO episodes (session, kind, started_at, finished_at, question, answer, answer_mode, model,"
        " adapter, timings, prompt_tokens, completion_tokens, cache_hit, fallback, error, actor)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (rec.session, rec.kind, float(rec.started_at), float(rec.finished_at), rec.question, rec.answer,
         rec.answer_mode, rec.model, rec.adapter, timings, int(rec.prompt_tokens), int(rec.completion_tokens),
         int(bool(rec.cache_hit)), rec.fallback, rec.error, rec.actor))
    episode_id = int(cur.lastrowid or 0)
    seen: set[int] = set()
    rows = []
    for it in sorted(rec.items, key=lambda i: i.rank):  # a hit listed twice keeps its best rank
        if it.item_id in seen:
            continue
        seen.add(it.item_id)
        rows.append((episode_id, int(it.item_id), int(it.version), int(it.rank), float(it.score), int(bool(it.cited))))
    if rows:
        conn.executemany("INSERT INTO episode_items (episode_id, item_id, version, rank, score, cited)"
                         " VALUES (?,?,?,?,?,?)", rows)
    return episode_id


def record_many(conn: sqlite3.Connection, recs: list[EpisodeRecord]) -> list[int]:
    """Write several episodes (a chat import) in the caller's one transaction: all or nothing."""
    for rec in recs:  # validate everything first, so a bad record fails before any insert
        _validate(rec)
    return [record(conn, rec) for rec in recs]


def add_feedback(conn: sqlite3.Connection, episode_id: int, rating: int, comment: str, actor: str,
                 at: float) -> dict[str, Any]:
    """Rate an episode +1 or -1 with an optional comment. Earlier ratings stay; the latest counts."""
    if isinstance(rating, bool) or rating not in (1, -1):
        raise InvalidInput(f"rating must be +1 (helpful) or -1 (not helpful), got {rating!r}")
    if not isinstance(comment, str):
        raise InvalidInput("the feedback comment must be text")
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"the comment has {len(comment):,} characters, over the limit of {MAX_COMMENT:,}",
                           hint="shorten it")
    if conn.execute("SELECT 1 FROM episodes WHERE id = ?", (episode_id,)).fetchone() is None:
        raise NotFound(f"no episode #{episode_id}", hint="`memdeck episodes` lists recent ones")
    cur = conn.execute("INSERT INTO feedback (episode_id, rating, comment, actor, at) VALUES (?,?,?,?,?)",
                       (episode_id, rating, comment, actor, at))
    return {"id": int(cur.lastrowid or 0), "episode_id": episode_id, "rating": rating, "comment": comment,
            "actor": actor, "at": at}


# ---------------------------------------------------------------------------- reading
def _row(values: tuple[Any, ...], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    out = dict(zip(_EPISODE_COLS + extra, values, strict=True))
    out["timings"] = json.loads(out["timings"] or "{}")
    out["cache_hit"] = bool(out["cache_hit"])
    return out


def _where(since: float | None, until: float | None, *, session: str | None = None,
           rating: str | None = None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if since is not None:
        where.append("e.started_at >= ?")
        args.append(since)
    if until is not None:
        where.append("e.started_at < ?")
        args.append(until)
    if session is not None:
        where.append("e.session = ?")
        args.append(session)
    if rating is not None:
        if rating == "unrated":
            where.append("l.rating IS NULL")
        elif rating in RATINGS:
            where.append("l.rating = ?")
            args.append(RATINGS[rating])
        else:
            raise InvalidInput(f"unknown rating filter {rating!r}; use up, down or unrated")
    return where, args


def _select(where: list[str], args: list[Any], order: str, limit: int) -> tuple[str, list[Any]]:
    cols = ", ".join(f"e.{c}" for c in _EPISODE_COLS)
    sql = (f"WITH {_LATEST} SELECT {cols}, l.rating, l.comment,"
           " (SELECT count(*) FROM episode_items ei WHERE ei.episode_id = e.id)"
           " FROM episodes e LEFT JOIN latest l ON l.episode_id = e.id"
           + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY {order} LIMIT ?")
    return sql, [*args, int(limit)]


def _check_limit(limit: int, top: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= top:
        raise InvalidInput(f"limit must be 1-{top}, got {limit!r}")


def recent(conn: sqlite3.Connection, limit: int = 50, *, session: str | None = None, rating: str | None = None,
           since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    """Newest first, without items; each row carries its latest ``rating``/``comment`` and ``n_items``."""
    _check_limit(limit, 100_000)
    where, args = _where(since, until, session=session, rating=rating)
    sql, params = _select(where, args, "e.started_at DESC, e.id DESC", limit)
    return [_row(r, ("rating", "comment", "n_items")) for r in conn.execute(sql, params)]


def between(conn: sqlite3.Connection, t1: float, t2: float, limit: int = 10_000) -> list[dict[str, Any]]:
    """Episodes started in ``[t1, t2)``, oldest first (the order a summary reads them in)."""
    _check_limit(limit, 1_000_000)
    where, args = _where(t1, t2)
    sql, params = _select(where, args, "e.started_at, e.id", limit)
    return [_row(r, ("rating", "comment", "n_items")) for r in conn.execute(sql, params)]


def get(conn: sqlite3.Connection, episode_id: int) -> dict[str, Any]:
    """One episode with its memories: the version used then (and its text), and the item as it is now."""
    where, args = ["e.id = ?"], [episode_id]
    sql, params = _select(where, args, "e.id", 1)
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise NotFound(f"no episode #{episode_id}", hint="`memdeck episodes` lists recent ones")
    out = _row(row, ("rating", "comment", "n_items"))
    items = []
    for (item_id, version, rank, score, cited, collection, key, version_now, status_now, content_now,
         hash_now, content_then, hash_then) in conn.execute(
            "SELECT ei.item_id, ei.version, ei.rank, ei.score, ei.cited, i.collection, i.key, i.version, i.status,"
            " i.content, i.content_hash, v.content, v.content_hash FROM episode_items ei"
            " LEFT JOIN items i ON i.id = ei.item_id"
            " LEFT JOIN item_versions v ON v.item_id = ei.item_id AND v.version = ei.version"
            " WHERE ei.episode_id = ? ORDER BY ei.rank, ei.item_id", (episode_id,)):
        items.append({
            "item_id": item_id, "collection": collection, "key": key, "rank": rank, "score": score,
            "cited": bool(cited), "version": version, "content_then": content_then,
            "version_now": version_now, "status_now": status_now if collection is not None else "purged",
            "content_now": content_now,
            # any later version counts (an edit, a delete, a metadata change); purged counts too
            "changed_since": version_now != version,
            "content_changed": collection is None or hash_now != hash_then,
        })
    out["items"] = items
    return out


def for_item(conn: sqlite3.Connection, item_id: int) -> list[dict[str, Any]]:
    """Which episodes used this item and which version of it, newest first."""
    return [{"episode_id": r[0], "session": r[1], "started_at": r[2], "question": r[3], "version": r[4],
             "cited": bool(r[5]), "rank": r[6], "answer_mode": r[7]}
            for r in conn.execute(
                "SELECT e.id, e.session, e.started_at, e.question, ei.version, ei.cited, ei.rank, e.answer_mode"
                " FROM episode_items ei JOIN episodes e ON e.id = ei.episode_id WHERE ei.item_id = ?"
                " ORDER BY e.started_at DESC, e.id DESC", (item_id,))]


def sessions(conn: sqlite3.Connection, since: float | None = None, until: float | None = None,
             rating: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Sessions with episodes in the window, most recently active first. ``rating`` keeps sessions with
    at least one episode so rated (``unrated``: at least one unrated); counts cover the whole window."""
    _check_limit(limit, 100_000)
    where, args = _where(since, until)
    having, h_args = "", []
    if rating is not None:
        if rating == "unrated":
            having = " HAVING sum(rating IS NULL) > 0"
        elif rating in RATINGS:
            having, h_args = " HAVING sum(rating = ?) > 0", [RATINGS[rating]]
        else:
            raise InvalidInput(f"unknown rating filter {rating!r}; use up, down or unrated")
    # rn = 1 marks each session's newest episode in the window: its question is the last question.
    sql = (f"WITH {_LATEST}, w AS (SELECT e.session, e.started_at, e.question, l.rating,"
           " row_number() OVER (PARTITION BY e.session ORDER BY e.started_at DESC, e.id DESC) AS rn"
           " FROM episodes e LEFT JOIN latest l ON l.episode_id = e.id"
           + (" WHERE " + " AND ".join(where) if where else "") + ")"
           " SELECT session, min(started_at), max(started_at), count(*), coalesce(sum(rating = 1), 0),"
           " coalesce(sum(rating = -1), 0), max(CASE WHEN rn = 1 THEN question END) FROM w"
           " GROUP BY session" + having
           + " ORDER BY max(started_at) DESC, session LIMIT ?")
    return [{"session": r[0], "first_at": r[1], "last_at": r[2], "turns": r[3], "up": r[4], "down": r[5],
             "last_question": r[6]} for r in conn.execute(sql, [*args, *h_args, int(limit)])]


def satisfaction(conn: sqlite3.Connection, since: float | None, until: float | None) -> dict[str, Any]:
    """Latest ratings of the episodes started in the window: up, down, rated and the share rated up."""
    where, args = _where(since, until)
    where.append("l.rating IS NOT NULL")
    up, down = conn.execute(
        f"WITH {_LATEST} SELECT coalesce(sum(l.rating = 1), 0), coalesce(sum(l.rating = -1), 0)"
        " FROM episodes e JOIN latest l ON l.episode_id = e.id WHERE " + " AND ".join(where), args).fetchone()
    rated = up + down
    return {"up": up, "down": down, "rated": rated, "rate": up / rated if rated else None}


# ---------------------------------------------------------------------------- daily report
def _aggregate(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Metrics of ask episodes: rows are (started_at, timings, cache_hit, fallback, error, mode, n_items, rating)."""
    n = len(rows)
    totals = []
    for r in rows:
        total = json.loads(r[1] or "{}").get("total")
        if isinstance(total, int | float) and not isinstance(total, bool) and math.isfinite(total):
            totals.append(float(total))
    mix = {mode: 0 for mode in ANSWER_MODES}
    for r in rows:
        mix[r[5]] = mix.get(r[5], 0) + 1
    up = sum(1 for r in rows if r[7] == 1)
    down = sum(1 for r in rows if r[7] == -1)

    def share(count: int) -> float:
        return count / n if n else 0.0

    return {
        "queries": n,
        "avg_ms": sum(totals) / len(totals) if totals else 0.0,
        "p95_ms": percentile(totals, 95),
        "retrieval_hit_rate": share(sum(1 for r in rows if r[6] > 0)),
        "cache_hit_rate": share(sum(1 for r in rows if r[2])),
        "fallback_rate": share(sum(1 for r in rows if r[3] is not None)),
        "error_rate": share(sum(1 for r in rows if r[4] is not None)),
        "mix": mix,
        "up": up,
        "down": down,
        "satisfaction": up / (up + down) if up + down else None,
    }


def daily_report(conn: sqlite3.Connection, days: int, now: float) -> dict[str, Any]:
    """One row per UTC day for the last ``days`` days (today included, oldest first, empty days zero-filled)
    plus ``totals`` over the window. Only asks count: imported chat turns are history, not traffic."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3660:
        raise InvalidInput(f"days must be 1-3660, got {days!r}")
    end = (math.floor(now / DAY) + 1) * DAY
    start = end - days * DAY
    rows = conn.execute(
        f"WITH {_LATEST} SELECT e.started_at, e.timings, e.cache_hit, e.fallback, e.error, e.answer_mode,"
        " (SELECT count(*) FROM episode_items ei WHERE ei.episode_id = e.id), l.rating"
        " FROM episodes e LEFT JOIN latest l ON l.episode_id = e.id"
        " WHERE e.kind = 'ask' AND e.started_at >= ? AND e.started_at < ? ORDER BY e.started_at",
        (start, end)).fetchall()
    buckets: list[list[tuple[Any, ...]]] = [[] for _ in range(days)]
    for r in rows:
        buckets[min(days - 1, int((r[0] - start) // DAY))].append(r)
    out_days = []
    for i, bucket in enumerate(buckets):
        day_start = start + i * DAY
        out_days.append({"date": datetime.fromtimestamp(day_start, UTC).strftime("%Y-%m-%d"),
                         "start": day_start, **_aggregate(bucket)})
    return {"days": out_days, "totals": _aggregate(rows), "since": start, "until": end}


# ---------------------------------------------------------------------------- chat import
def _parse_time(value: Any, line: int) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"line {line}: \"time\" must be an ISO-8601 string or epoch seconds, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value <= MAX_EPOCH:
            raise InvalidInput(f"line {line}: \"time\" {value!r} is not a valid epoch time")
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(f"line {line}: \"time\" {value!r} is not an ISO-8601 date-time",
                               hint='e.g. "2025-03-01T14:05:00Z" or epoch seconds') from None
        if parsed.tzinfo is None:  # a time without offset is read as UTC, the same on every machine
            parsed = parsed.replace(tzinfo=UTC)
        ts = parsed.timestamp()
        if not 0 <= ts <= MAX_EPOCH:
            raise InvalidInput(f"line {line}: \"time\" {value!r} is before 1970")
        return ts
    raise InvalidInput(f"line {line}: \"time\" must be an ISO-8601 string or epoch seconds, "
                       f"got {type(value).__name__}")


def parse_chat_jsonl(path: Path, max_bytes: int = MAX_IMPORT_BYTES) -> list[dict[str, Any]]:
    """Read a chat log, one JSON object a line: ``{"role", "content", "time"}``. Returns turns
    ``{"line", "role", "content", "time"}``. Every problem names its line, and nothing is returned
    unless the whole file is good. A turn without ``time`` takes the previous turn's time."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InvalidInput(f"{path} is {size / 1e6:.1f} MB, over the import limit of {max_bytes / 1e6:.0f} MB",
                               hint="split the log into smaller files")
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(f"{path} is not UTF-8 text (line {line}, byte {exc.start})",
                           hint="save the log as UTF-8 JSON Lines") from None
    turns: list[dict[str, Any]] = []
    last_time: float | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise InvalidInput(f"line {n}: not valid JSON ({exc})", hint="each line must be one JSON object") from None
        if not isinstance(obj, dict):
            raise InvalidInput(f"line {n}: expected a JSON object, got {type(obj).__name__}")
        role = obj.get("role")
        if role not in ROLES:
            raise InvalidInput(f"line {n}: unknown role {role!r}; use user, assistant or system")
        if "content" not in obj:
            raise InvalidInput(f"line {n}: missing \"content\"")
        content = obj["content"]
        if not isinstance(content, str):
            raise InvalidInput(f"line {n}: \"content\" must be a string, got {type(content).__name__}")
        if "time" in obj and obj["time"] is not None:
            last_time = _parse_time(obj["time"], n)
        elif last_time is None:
            raise InvalidInput(f"line {n}: missing \"time\"",
                               hint="the first turn needs a time; later turns without one take the previous one's")
        turns.append({"line": n, "role": role, "content": content, "time": last_time})
    if not turns:
        raise InvalidInput(f"{path} holds no chat turns", hint='one JSON object a line: {"role", "content", "time"}')
    return turns


def pair_turns(turns: list[dict[str, Any]], session: str, actor: str) -> list[EpisodeRecord]:
    """Each user turn and the assistant turn(s) after it become one ``import`` episode. System turns and
    assistant turns before the first question are skipped; a last question without reply gets ``''``."""
    out: list[EpisodeRecord] = []
    current: EpisodeRecord | None = None
    replies: list[str] = []

    def close() -> None:
        if current is not None:
            current.answer = "\n\n".join(replies)
            out.append(current)

    for turn in turns:
        if turn["role"] == "user":
            close()
            replies = []
            current = EpisodeRecord(
                session=session, kind="import", started_at=turn["time"], finished_at=turn["time"],
                question=turn["content"], answer="", answer_mode="model-only", model=None, adapter=None,
                timings={}, prompt_tokens=0, completion_tokens=0, cache_hit=False, fallback=None, error=None,
                actor=actor, items=[])
        elif turn["role"] == "assistant" and current is not None:
            replies.append(turn["content"])
            current.finished_at = max(current.finished_at, turn["time"])
    close()
    return out


# ---------------------------------------------------------------------------- summaries
_STOP = frozenset((
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as",
    "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
    "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has",
    "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it",
    "its", "itself", "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such",
    "than", "that", "the", "their", "theirs", "them", "then", "there", "these", "they", "this", "those",
    "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where",
    "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yes", "ok",
    "okay", "please", "thanks", "thank", "sure",
))
_SENT = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile("[^\\W_]+(?:['\u2019-][^\\W_]+)*", re.UNICODE)
MAX_SENTENCE_CHARS = 300


def _terms(text: str) -> list[str]:
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text))
            if len(w) > 2 and w not in _STOP and not w.isdigit()]


def extractive_summary(episodes: list[dict[str, Any]], max_sentences: int = 5) -> str:
    """Pick the sentences whose words recur most across the episodes (term frequency over the whole set,
    normalised by sentence length so long sentences do not win by size), skip near-duplicates, and
    return them in their original order. Deterministic: ties go to the earlier sentence."""
    sentences: list[str] = []
    for ep in episodes:
        for text in (ep.get("question") or "", ep.get("answer") or ""):
            for part in _SENT.split(text):
                part = " ".join(part.split())
                if part:
                    sentences.append(part if len(part) <= MAX_SENTENCE_CHARS
                                     else part[:MAX_SENTENCE_CHARS - 1].rstrip() + "…")
    if not sentences or max_sentences < 1:
        return ""
    term_sets = [set(_terms(s)) for s in sentences]
    tf = Counter(t for s in sentences for t in _terms(s))
    scored = []
    for i, terms in enumerate(term_sets):
        if not terms:
            continue
        score = sum(tf[t] for t in terms) / math.sqrt(len(terms))
        scored.append((-score, i))
    chosen: list[int] = []
    for _neg, i in sorted(scored):
        if len(chosen) >= max_sentences:
            break
        terms = term_sets[i]
        if any(len(terms & term_sets[j]) / len(terms | term_sets[j]) > 0.6 for j in chosen):
            continue
        chosen.append(i)
    if not chosen:  # nothing but stop words: fall back to the first sentences
        chosen = list(range(min(max_sentences, len(sentences))))
    return " ".join(sentences[i] for i in sorted(chosen))


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:max(0, limit - 1)].rstrip() + "…"


def summary_messages(episodes: list[dict[str, Any]], max_chars: int = 6000) -> list[dict[str, str]]:
    """Chat messages asking a model to summarise the episodes, the transcript cut to ``max_chars`` so it
    fits a small context window: each turn gets an equal share, and turns past the budget are counted."""
    system = ("You summarise a log of questions people asked a memory assistant and the answers it gave. "
              "Write 3 to 6 plain sentences: the main topics asked about, what was learned, and any "
              "questions left unanswered or answered badly. Use only the log; do not invent details.")
    if not episodes:
        return [{"role": "system", "content": system}, {"role": "user", "content": "The log is empty."}]
    budget = max_chars - 80  # room for the request line and the "left out" note
    share = max(160, budget // len(episodes))
    lines: list[str] = []
    used = 0
    omitted = 0
    for n, ep in enumerate(episodes):
        when = datetime.fromtimestamp(float(ep.get("started_at") or 0), UTC).strftime("%Y-%m-%d %H:%M")
        rating = {1: " [rated helpful]", -1: " [rated not helpful]"}.get(ep.get("rating") or 0, "")
        q = _clip(ep.get("question") or "", share // 3)
        a = _clip(ep.get("answer") or "(no answer)", share - len(q) - 40)
        block = f"[{when} UTC]{rating}\nQ: {q}\nA: {a}\n"
        if used + len(block) + 1 > budget:
            omitted = len(episodes) - n
            break
        lines.append(block)
        used += len(block) + 1
    tail = f"\n({omitted} later episodes left out for length.)" if omitted else ""
    return [{"role": "system", "content": system},
            {"role": "user", "content": "Summarise this log:\n\n" + "\n".join(lines) + tail}]


def model_throughput(conn: sqlite3.Connection, window: int = 50) -> dict[str, dict[str, Any]]:
    """Per model, over its last ``window`` generated answers (cache hits and fallbacks excluded):
    decoding tokens/s (after the first token, so prompt evaluation does not count), median time of
    the generate stage, p95 end-to-end latency.

    Read from the episode log, so the numbers survive restarts and one-shot CLI runs, unlike the
    runtime's in-memory window."""
    out: dict[str, dict[str, Any]] = {}
    models = [r[0] for r in conn.execute(
        "SELECT DISTINCT model FROM episodes WHERE kind = 'ask' AND model IS NOT NULL")]
    for model in models:
        rows = conn.execute(
            "SELECT timings, completion_tokens FROM episodes WHERE kind = 'ask' AND model = ? AND cache_hit = 0"
            " AND fallback IS NULL AND error IS NULL ORDER BY id DESC LIMIT ?", (model, window)).fetchall()
        gens, totals, rates = [], [], []
        for timings_json, tokens in rows:
            timings = json.loads(timings_json or "{}")
            gen, total = float(timings.get("generate", 0.0)), float(timings.get("total", 0.0))
            decode = gen - float(timings.get("first_token", 0.0))  # without prompt evaluation
            gens.append(gen)
            totals.append(total)
            if decode > 0 and tokens > 1:
                rates.append((tokens - 1) / (decode / 1000) if "first_token" in timings else tokens / (gen / 1000))
        if rows:
            out[model] = {"answers": len(rows),
                          "tokens_per_s": round(sorted(rates)[len(rates) // 2], 1) if rates else None,
                          "generate_ms_p50": round(percentile(gens, 50), 1),
                          "latency_ms_p95": round(percentile(totals, 95), 1)}
    return out
