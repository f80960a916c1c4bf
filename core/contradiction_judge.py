"""The optional local-model judge: asks the loaded GGUF model whether two close texts contradict.

The deterministic checks miss disagreements they have no pattern for ("the office is closed on
Fridays" vs "we meet in the office every Friday"). When ``contradictions.judge`` is on, the close pairs
those checks passed go to the model, a bounded batch per pass, each verdict cached by the pair's two
content hashes so a pair is judged once. Errors are retried with backoff; after that the pair keeps the
deterministic verdict (no contradiction), so a missing or broken model never blocks a trust pass.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import TYPE_CHECKING

from core import contradictions as checks
from core import trust_store as ts
from core.errors import MemdeckError

if TYPE_CHECKING:
    from core.memdeck import Memdeck
    from core.trust_engine import Candidate

log = logging.getLogger(__name__)

JUDGE_SCORE = 0.75  # a yes from a small model is a reason to look, not proof: below a sure rules finding
RETRIES = 2
PROMPT = ("Two notes from the same company memory:\nA: {a}\nB: {b}\n"
          "Do A and B state different facts about the same thing, so both cannot be true? "
          "Answer yes or no, then give the reason in a few words.")
_ANSWER = re.compile(r"^\W*(yes|no)\b[\s,.:;*-]*(.*)", re.I | re.S)  # "**Yes** - ...": markdown too


def pair_hash(a_hash: str, b_hash: str) -> str:
    """Order-free key of two texts: the same pair is the same question whichever side is A."""
    lo, hi = sorted((a_hash, b_hash))
    return hashlib.sha256(f"{lo}:{hi}".encode()).hexdigest()


def parse_verdict(text: str) -> tuple[bool, str] | None:
    """``(conflict, reason)`` from the model's answer, or None when it answered neither yes nor no."""
    m = _ANSWER.match(text or "")
    if m is None:
        return None
    return m.group(1).lower() == "yes", " ".join(m.group(2).split())[:200]


def ask_model(md: Memdeck, a: str, b: str) -> tuple[bool, str]:
    """One verdict, retried with backoff; raises the last error when every attempt failed."""
    messages = [{"role": "user", "content": PROMPT.format(a=a[:600], b=b[:600])}]
    last: Exception | None = None
    for attempt in range(RETRIES + 1):
        try:
            out = md.llm.generate(messages, max_tokens=24, temperature=0.0)
            verdict = parse_verdict(out.text)
            if verdict is not None:
                return verdict
            last = ValueError(f"the model answered neither yes nor no: {out.text[:60]!r}")
        except (MemdeckError, RuntimeError, OSError) as exc:
            last = exc
        if attempt < RETRIES:  # no wait after the last attempt: the pass moves on
            time.sleep(0.2 * 2 ** attempt)
    assert last is not None
    raise last


def judge_pairs(md: Memdeck, pairs: list[tuple[ts.ItemRow, ts.ItemRow, float]], at: float) -> list[Candidate]:
    """Contradictions the model finds among ``pairs``; cached verdicts are reused, failures skipped."""
    from core.trust_engine import Candidate

    model = md.selected_model() or str(md.config.get("llm.model"))
    out: list[Candidate] = []
    fresh: list[tuple[str, bool, str]] = []
    with md.db.read() as conn:
        cached = {pair_hash(a.content_hash, b.content_hash): ts.judge_cached(conn, pair_hash(a.content_hash,
                                                                                           b.content_hash))
                  for a, b, _ in pairs}
    for a, b, _sim in pairs:
        key = pair_hash(a.content_hash, b.content_hash)
        verdict = cached.get(key)
        if verdict is None:
            try:
                conflict, reason = ask_model(md, a.content, b.content)
            except Exception as exc:  # the rules' verdict stands; the next pass tries again
                log.warning("model judge failed on %s / %s: %s", a.name, b.name, exc)
                continue
            verdict = (conflict, JUDGE_SCORE if conflict else 0.0, reason)
            fresh.append((key, conflict, reason))
        if verdict[0]:
            finding = checks.Finding("semantic", f"the model judge: {verdict[2] or 'they disagree'}", verdict[1],
                                     "", "")
            out.append(Candidate(a, b, [finding], verdict[1], method="judge"))
    if fresh:
        with md.db.write() as conn:
            for key, conflict, reason in fresh:
                ts.judge_store(conn, key, conflict, JUDGE_SCORE if conflict else 0.0, reason, model, at)
    return out
