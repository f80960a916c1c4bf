"""The training buffer: what changed since the last successful run, turned into chat samples.

Measured on this machine before the issue was written: plain sentences do not transfer to questions,
and training on memory alone ruins general ability. So every sample is a chat-formatted question and
answer (several phrasings per item, one held out as a probe), good episodes are used as they were,
and a replay share of older memory and of general chat is mixed in.

What goes in: active items (quarantined ones are excluded by their status) whose trust is at least
``min_trust`` and whose current version no promoted run has used yet, and episodes the user rated
helpful that no promoted run has used. A rolled-back run's marks are removed, so its material comes
back. Everything here is deterministic for a given database and seed.

Grounded samples. Bare questions teach the model the new facts, but Ask puts notes in the prompt and
the canary gate checks that the model still answers from them, cites them and declines what they do
not say. Measured on the demo corpus (docs/benchmarks.md): runs on bare questions alone improved
probe and control NLL and still failed the gate on one or two refusal or fact cases ("What is the
warranty of the Picker 5?" answered from a trained Picker 3 fact). So a ``grounded_share`` of the new
items is also written as Ask writes its prompt (``rag.build_messages``): half with the item among the
notes and the answer citing it, half with notes about something else (a sibling key of the same
subject when there is one) and the answer ``REFUSAL``.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import training_store as tstore
from core.errors import InvalidInput
from core.lora_train import ChatSample

# Learned answers are asked without notes, so the prompt says so: the same system turn in training,
# probes, validation and (through the adapter) model-only answers.
SYSTEM = "You are the assistant of this organisation. Answer in one or two sentences from what you know."
ANSWER_CHARS = 420  # ~100 tokens for SmolLM2's tokenizer: stays inside TrainSettings.max_tokens with the prompt
_CITATION = re.compile(r"\s*\[\d{1,3}\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_DATE_KEY = re.compile(r"^(\d{4}-\d{2}-\d{2})-(.+)$")
NOTE_CHARS = 260  # each note of a grounded sample: two notes plus the question stay near 200 tokens
GROUNDED_ANSWER_CHARS = 200
REFUSAL = "The notes do not say."


@dataclass(frozen=True)
class Source:
    """One item version or episode a sample came from (what a promoted run marks as trained)."""

    kind: str  # "item" | "episode"
    ref_id: int
    version: int
    label: str  # "facts/people.maya-okafor.role@v3", "episode/42"


@dataclass
class Buffer:
    """One run's material: samples to train on, held-out probes, replay, and where they came from."""

    train: list[ChatSample] = field(default_factory=list)
    replay: list[ChatSample] = field(default_factory=list)
    grounded: list[ChatSample] = field(default_factory=list)
    probes: list[ChatSample] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    waiting: int = 0  # eligible but over max_samples: the next run takes them

    @property
    def samples(self) -> list[ChatSample]:
        """Everything trained on: new samples, grounded, then replay (the trainer shuffles)."""
        return [*self.train, *self.grounded, *self.replay]

    def marks(self) -> list[tstore.Mark]:
        return [tstore.Mark(s.kind, s.ref_id, s.version) for s in self.sources]

    def summary(self) -> dict[str, Any]:
        return {"samples": len(self.train), "replay": len(self.replay), "grounded": len(self.grounded),
                "probes": len(self.probes),
                "items": sum(1 for s in self.sources if s.kind == "item"),
                "episodes": sum(1 for s in self.sources if s.kind == "episode"),
                "skipped": dict(self.skipped), "waiting": self.waiting}

    def write_archive(self, path: Path) -> None:
        """The buffer as JSONL (role, source, question, answer), so a run can be audited later."""
        from core.paths import atomic_write_bytes

        lines = []
        for role, group in (("train", self.train), ("grounded", self.grounded), ("replay", self.replay),
                            ("probe", self.probes)):
            for s in group:
                lines.append(json.dumps({"role": role, "source": s.source, "system": s.system,
                                         "question": s.question, "answer": s.answer}, ensure_ascii=False))
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))


# ---------------------------------------------------------------------------------------------- phrasing
def _words(text: str) -> str:
    return " ".join(text.replace("-", " ").replace("_", " ").split())


def _title(text: str) -> str:
    return " ".join(w if w.isupper() else w.capitalize() for w in _words(text).split())


def answer_text(content: str, max_chars: int = ANSWER_CHARS) -> str:
    """The item's text as an answer: whitespace collapsed, cut at a sentence end within ``max_chars``."""
    text = " ".join(content.split())
    if len(text) <= max_chars:
        return text
    out = ""
    for sentence in _SENTENCE_END.split(text):
        if len(out) + len(sentence) + 1 > max_chars:
            break
        out = f"{out} {sentence}".strip()
    return out or text[:max_chars].rsplit(" ", 1)[0] + " …"


def questions_for(collection: str, key: str, metadata: dict[str, Any]) -> list[str]:
    """Several phrasings of "what does memory say about this item"; the last one is held out as a probe.

    Built from the key's shape (``topic.subject.field`` facts, ``project.name.field``, ``doc/slug#n``
    with doc and section metadata, ``YYYY-MM-DD-title`` meetings), so any memory gets questions an
    admin would plausibly ask, not only the demo's."""
    doc, section = metadata.get("doc"), metadata.get("section")
    dated = _DATE_KEY.match(key)
    parts = key.split(".")
    if isinstance(doc, str) and doc:
        about = f"the {section.lower()} section of {doc}" if isinstance(section, str) and section else doc
        return [f"What does {about} say?", f"Summarise {about}.", f"What is in {about}?",
                f"What do you know about {about}?"]
    if dated:
        day, title = dated.group(1), _words(dated.group(2))
        return [f"What happened at the {title} on {day}?", f"What was decided in the {title} on {day}?",
                f"Summarise the {title} of {day}.", f"What do you remember about the {title} held on {day}?"]
    if len(parts) >= 3:
        topic, subject, attr = parts[0], _title(".".join(parts[1:-1])), _words(parts[-1])
        who = f"the {subject} project" if topic == "project" else (
            subject if topic in ("people", "person") else f"{subject} ({_words(topic)})")
        return [f"What is the {attr} of {who}?", f"Tell me the {attr} for {who}.",
                f"{who[0].upper()}{who[1:]}: what about the {attr}?", f"What do you know about the {attr} of {who}?"]
    topic = _words(key.replace("/", " ").replace("#", " "))
    return [f"What do you know about {topic}?", f"Tell me about {topic}.", f"What does memory say about {topic}?",
            f"What do you remember about {topic}?"]


def episode_sample(question: str, answer: str, episode_id: int) -> ChatSample | None:
    """A good episode as it was, minus note citations (the learned answer is asked without notes)."""
    text = _CITATION.sub("", answer).strip()
    if not question.strip() or len(text) < 2:
        return None
    return ChatSample(question=" ".join(question.split()), answer=answer_text(text), system=SYSTEM,
                      source=f"episode/{episode_id}")


# ---------------------------------------------------------------------------------------------- replay
def load_general(path: Path) -> list[ChatSample]:
    """General chat pairs (``{"question", "answer"}`` per line) mixed into every run."""
    out: list[ChatSample] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"cannot read replay data {path}: {exc.strerror or exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            q, a = row["question"], row["answer"]
            if not (isinstance(q, str) and isinstance(a, str) and q.strip() and a.strip()):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(f"{path}:{n}: expected {{\"question\": str, \"answer\": str}}") from None
        out.append(ChatSample(question=q.strip(), answer=a.strip(), system=SYSTEM, source=f"general/{n}"))
    return out


# ---------------------------------------------------------------------------------------------- grounded
@dataclass(frozen=True)
class _Note:
    """An active item as a grounded sample's note."""

    id: int
    collection: str
    key: str
    version: int
    content: str

    @property
    def family(self) -> str:
        """The key without its last part: ``product.picker-3`` for ``product.picker-3.price``."""
        return self.key.rsplit(".", 1)[0] if self.key.count(".") >= 2 else self.key.split("#", 1)[0]


def _memory(note: _Note, n: int) -> Any:
    from core.rag import Memory

    text = answer_text(note.content, NOTE_CHARS)
    return Memory(n=n, id=note.id, collection=note.collection, key=note.key, version=note.version,
                  content=text, score=1.0, via="vector")


def _grounded(question: str, notes: list[_Note], answer: str) -> ChatSample:
    from core.rag import build_messages

    messages, _ = build_messages(question, [_memory(x, n) for n, x in enumerate(notes, 1)],
                                 max_chars=NOTE_CHARS * len(notes) + 40)
    return ChatSample(question=messages[1]["content"], answer=answer, system=messages[0]["content"],
                      source="")


def grounded_samples(items: Sequence[_Note], questions: dict[int, str], pool: Sequence[_Note], count: int,
                     rng: random.Random) -> list[ChatSample]:
    """``count`` Ask-shaped samples over ``items`` (alternately answered from a note that holds the item,
    cited, and declined over notes that do not). The other notes come from ``pool``: for a refusal a
    sibling of the same subject when there is one ("the price of Picker 3" over its weight and
    warranty), else any item; for an answer, one distractor. Another note never carries the item's text."""
    out: list[ChatSample] = []
    if not items or count <= 0:
        return out
    by_family: dict[str, list[_Note]] = {}
    for note in pool:
        by_family.setdefault(note.family, []).append(note)
    for i in range(count):
        item = items[(i // 2) % len(items)]
        first = answer_text(item.content, GROUNDED_ANSWER_CHARS)
        others = [x for x in pool if x.id != item.id and first[:60] not in x.content]
        if not others:
            continue
        question = questions.get(item.id) or questions_for(item.collection, item.key, {})[0]
        label = f"grounded/{item.collection}/{item.key}@v{item.version}"
        if i % 2 == 0:
            notes = [item, rng.choice(others)]
            rng.shuffle(notes)
            sample = _grounded(question, notes, f"{first} [{notes.index(item) + 1}]")
        else:
            siblings = [x for x in by_family.get(item.family, []) if x in others]
            sample = _grounded(question, [rng.choice(siblings or others)], REFUSAL)
        out.append(ChatSample(sample.question, sample.answer, sample.system, label))
    return out


# ---------------------------------------------------------------------------------------------- the buffer
@dataclass(frozen=True)
class BufferPolicy:
    """What a run may take; from the ``training.*`` config keys."""

    min_trust: float = 0.5
    max_samples: int = 300
    max_probes: int = 40
    replay_share: float = 0.25
    grounded_share: float = 0.25
    unrated_episodes: bool = False
    seed: int = 1234


def _item_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT i.id, i.collection, i.key, i.content, i.metadata, i.version, ts.score, ts.item_version"
        " FROM items i LEFT JOIN trust_scores ts ON ts.item_id = i.id"
        " WHERE i.status = 'active' ORDER BY i.updated_at DESC, i.id DESC").fetchall()


def _episode_rows(conn: sqlite3.Connection, unrated: bool) -> list[tuple[Any, ...]]:
    rating = "IN (1, 0)" if unrated else "= 1"
    return conn.execute(
        "WITH latest AS (SELECT episode_id, rating FROM feedback f WHERE f.id ="
        " (SELECT max(id) FROM feedback g WHERE g.episode_id = f.episode_id))"
        " SELECT e.id, e.question, e.answer FROM episodes e LEFT JOIN latest l ON l.episode_id = e.id"
        f" WHERE e.kind = 'ask' AND e.answer_mode IN ('memory', 'model-only') AND coalesce(l.rating, 0) {rating}"
        " ORDER BY e.id DESC").fetchall()


def collect(conn: sqlite3.Connection, policy: BufferPolicy, general: Sequence[ChatSample] = ()) -> Buffer:
    """Build the next run's buffer from the database (read-only)."""
    buf = Buffer()
    rng = random.Random(policy.seed)
    done_items, done_episodes = tstore.marked_items(conn), tstore.marked_episodes(conn)
    skipped = {"low_trust": 0, "already_trained": 0, "episodes_already_trained": 0}
    fresh: list[tuple[Source, list[ChatSample], ChatSample]] = []
    older: list[ChatSample] = []
    notes: dict[int, _Note] = {}
    for item_id, coll, key, content, meta_json, version, score, scored_version in _item_rows(conn):
        try:
            meta = json.loads(meta_json) if meta_json else {}
        except ValueError:
            meta = {}
        answer = answer_text(content)
        label = f"{coll}/{key}@v{version}"
        asks = [ChatSample(question=q, answer=answer, system=SYSTEM, source=label)
                for q in questions_for(coll, key, meta if isinstance(meta, dict) else {})]
        if score is not None and scored_version == version and score < policy.min_trust:
            skipped["low_trust"] += 1
            continue
        notes[int(item_id)] = _Note(int(item_id), coll, key, int(version), content)
        if (int(item_id), int(version)) in done_items:
            skipped["already_trained"] += 1
            older.append(asks[0])
            continue
        fresh.append((Source("item", int(item_id), int(version), label), asks[:-1], asks[-1]))
    episodes: list[tuple[Source, ChatSample]] = []
    for ep_id, question, answer in _episode_rows(conn, policy.unrated_episodes):
        if int(ep_id) in done_episodes:
            skipped["episodes_already_trained"] += 1
            continue
        sample = episode_sample(question, answer, int(ep_id))
        if sample is not None:
            episodes.append((Source("episode", int(ep_id), 0, f"episode/{ep_id}"), sample))

    budget = max(1, int(policy.max_samples / (1.0 + policy.replay_share + policy.grounded_share)))
    for source, asks, probe in fresh:
        if len(buf.train) + len(asks) > budget:
            buf.waiting += 1
            continue
        buf.train.extend(asks)
        buf.sources.append(source)
        if len(buf.probes) < policy.max_probes:
            buf.probes.append(probe)
    for source, sample in episodes:
        if len(buf.train) >= budget:
            buf.waiting += 1
            continue
        buf.train.append(sample)
        buf.sources.append(source)

    taken = [notes[s.ref_id] for s in buf.sources if s.kind == "item"]
    questions = {s.ref_id: asks[0].question for s, asks, _ in fresh}
    count = min(round(len(buf.train) * policy.grounded_share), policy.max_samples - len(buf.train))
    buf.grounded = grounded_samples(taken, questions, list(notes.values()), count, rng)
    want = min(round(len(buf.train) * policy.replay_share),
               policy.max_samples - len(buf.train) - len(buf.grounded))
    if buf.train and want > 0:
        from_memory = rng.sample(older, min(len(older), want // 2))
        pool = list(general)
        from_general = rng.sample(pool, min(len(pool), want - len(from_memory)))
        buf.replay = [ChatSample(s.question, s.answer, s.system, f"replay/{s.source}") for s in from_memory]
        buf.replay.extend(from_general)
    buf.skipped = skipped
    return buf
