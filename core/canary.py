"""The canary suite and the gate decision for training runs.

A must-not-regress suite (``data/training/canary.jsonl``, at least 20 cases) asked through the same
prompt layout as Ask (``core.rag.build_messages``): ``fact`` cases give a memory passage and expect
the answer to contain one of ``expect_any``; ``refusal`` cases ask about something the passages do
not cover and the answer must not claim an invented value (none of ``must_not``) ; ``format`` cases
give an instruction on the form and the stripped answer must match ``pattern``. The suite is
calibrated: the bundled base model passes every case, so any failure means the adapter broke it.

``decide`` is pure: canary failures, a probe NLL that did not drop, or a control NLL that rose more
than allowed each give a reason an admin can read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InvalidInput

KINDS = ("fact", "refusal", "format")
MIN_CASES = 20
CONTEXT_CHARS = 1100  # ask.context_chars' default: the gate asks the way Ask does


@dataclass(frozen=True)
class CanaryCase:
    id: str
    kind: str
    question: str
    passages: tuple[tuple[str, str, str], ...] = ()  # (collection, key, text)
    expect_any: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()
    pattern: str = ""


@dataclass
class SuiteResult:
    passed: int
    total: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "total": self.total, "failures": self.failures}


@dataclass
class GateMetrics:
    suite: SuiteResult
    probe_nll: float
    control_nll: float


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": self.reasons}


@dataclass(frozen=True)
class ControlPair:
    question: str
    answer: str


def _strings(value: Any, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(x, str) and x.strip() for x in value):
        raise InvalidInput(f"{where}: {name} must be a non-empty list of strings")
    return tuple(value)


def parse_case(row: Any, where: str) -> CanaryCase:
    if not isinstance(row, dict):
        raise InvalidInput(f"{where}: expected a JSON object")
    kind, question, cid = row.get("kind"), row.get("question"), row.get("id")
    if kind not in KINDS:
        raise InvalidInput(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(question, str) or not question.strip() or not isinstance(cid, str) or not cid:
        raise InvalidInput(f"{where}: id and question must be non-empty strings")
    passages = []
    for p in row.get("passages") or []:
        if not (isinstance(p, dict) and all(isinstance(p.get(k), str) for k in ("collection", "key", "text"))):
            raise InvalidInput(f"{where}: each passage needs collection, key and text strings")
        passages.append((p["collection"], p["key"], p["text"]))
    case = CanaryCase(id=cid, kind=kind, question=question, passages=tuple(passages))
    if kind == "fact":
        return CanaryCase(**{**case.__dict__, "expect_any": _strings(row.get("expect_any"), where, "expect_any")})
    if kind == "refusal":
        return CanaryCase(**{**case.__dict__, "must_not": _strings(row.get("must_not"), where, "must_not")})
    pattern = row.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise InvalidInput(f"{where}: a format case needs a pattern")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(f"{where}: pattern {pattern!r} is not a valid regular expression: {exc}") from None
    if compiled.fullmatch("") or compiled.fullmatch("anything at all, really"):
        raise InvalidInput(f"{where}: pattern {pattern!r} accepts anything, so it cannot fail")
    return CanaryCase(**{**case.__dict__, "pattern": pattern})


def load_suite(path: Path, min_cases: int = MIN_CASES) -> list[CanaryCase]:
    """The suite, validated line by line; errors name the file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"cannot read the canary suite {path}: {exc.strerror or exc}") from exc
    cases: list[CanaryCase] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}:{n}: not valid JSON ({exc.msg})") from None
        cases.append(parse_case(row, f"{path}:{n}"))
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"{path}: case ids must be unique")
    if len(cases) < min_cases:
        raise InvalidInput(f"{path}: {len(cases)} cases; the gate needs at least {min_cases}")
    return cases


def build_case_messages(case: CanaryCase) -> list[dict[str, str]]:
    """The messages Ask would send with these passages as its retrieved memories."""
    from core.rag import Memory, build_messages

    if not case.passages:
        return [{"role": "user", "content": case.question}]
    memories = [Memory(n=i, id=i, collection=c, key=k, version=1, content=t, score=1.0, via="hit")
                for i, (c, k, t) in enumerate(case.passages, 1)]
    messages, _ = build_messages(case.question, memories, CONTEXT_CHARS)
    return messages


def check_answer(case: CanaryCase, answer: str) -> tuple[bool, str]:
    text = answer.strip()
    low = text.lower()
    if not text:
        return False, "empty answer"
    if case.kind == "fact":
        ok = any(e.lower() in low for e in case.expect_any)
        return ok, "" if ok else f"expected one of {list(case.expect_any)}"
    if case.kind == "refusal":
        bad = [m for m in case.must_not if m.lower() in low]
        return not bad, "" if not bad else f"claimed {bad[0]!r}, which the notes do not say"
    ok = re.fullmatch(case.pattern, text, flags=re.DOTALL) is not None
    return ok, "" if ok else f"does not match {case.pattern!r}"


def run_suite(chat: Callable[[list[dict[str, str]]], str], cases: Sequence[CanaryCase]) -> SuiteResult:
    failures = []
    for case in cases:
        answer = chat(build_case_messages(case))
        ok, reason = check_answer(case, answer)
        if not ok:
            failures.append({"id": case.id, "kind": case.kind, "question": case.question, "answer": answer[:300],
                             "reason": reason})
    return SuiteResult(passed=len(cases) - len(failures), total=len(cases), failures=failures)


def load_control(path: Path) -> list[ControlPair]:
    """General chat pairs unrelated to memory: their NLL must not rise (general ability kept)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"cannot read the control set {path}: {exc.strerror or exc}") from exc
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not (isinstance(row["question"], str) and isinstance(row["answer"], str)):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(f"{path}:{n}: expected {{\"question\": str, \"answer\": str}}") from None
        out.append(ControlPair(row["question"], row["answer"]))
    if not out:
        raise InvalidInput(f"the control set {path} is empty")
    return out


def decide(baseline: GateMetrics, candidate: GateMetrics, *, control_max_rise: float = 0.05,
           min_probe_drop: float = 0.0) -> GateDecision:
    """Pass only if every canary case passes, probe NLL dropped and control NLL rose at most the limit."""
    reasons: list[str] = []
    failed = [f["id"] for f in candidate.suite.failures]
    if failed:
        reasons.append(f"canary suite: {candidate.suite.passed}/{candidate.suite.total} passed; failed "
                       + ", ".join(failed[:8]) + (" …" if len(failed) > 8 else ""))
    b, c = baseline.probe_nll, candidate.probe_nll
    if not (c == c and b == b) or c >= b - min_probe_drop:
        reasons.append(f"probe NLL did not drop: {b:.3f} -> {c:.3f} (held-out questions about the new memory)")
    cb, cc = baseline.control_nll, candidate.control_nll
    if not (cc == cc and cb == cb) or cc > cb * (1 + control_max_rise):
        rise = (cc - cb) / cb * 100 if cb else float("inf")
        reasons.append(f"control NLL rose {rise:+.1f}% ({cb:.3f} -> {cc:.3f}); at most "
                       f"{control_max_rise * 100:.0f}% is allowed")
    if reasons:
        return GateDecision(False, reasons)
    return GateDecision(True, [f"canary {candidate.suite.passed}/{candidate.suite.total}; probe NLL {b:.3f} -> "
                               f"{c:.3f}; control NLL {cb:.3f} -> {cc:.3f} ({(cc - cb) / cb * 100:+.1f}%)"])
