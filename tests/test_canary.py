"""The canary suite and the gate decision, without a model. The calibration proof (the bundled base
model passes the shipped suite) is tests/test_canary_real.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import canary
from core.errors import InvalidInput
from core.paths import resource_dir

SUITE = resource_dir() / "training" / "canary.jsonl"


def test_shipped_suite_loads_with_the_kind_mix() -> None:
    cases = canary.load_suite(SUITE)
    kinds = [c.kind for c in cases]
    assert len(cases) >= 20 and kinds.count("fact") >= 10 and kinds.count("refusal") >= 4
    assert kinds.count("format") >= 3
    assert len(canary.load_control(resource_dir() / "training" / "control.jsonl")) >= 20


def write(tmp_path: Path, rows: list[object], extra: str = "") -> Path:
    path = tmp_path / "suite.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n" + extra)
    return path


FACT = {"id": "f", "kind": "fact", "question": "Who?",
        "passages": [{"collection": "facts", "key": "k", "text": "Ann."}], "expect_any": ["Ann"]}


@pytest.mark.parametrize(("row", "message"), [
    ({**FACT, "kind": "poem"}, "kind must be one of"),
    ({**FACT, "expect_any": []}, "expect_any must be a non-empty list"),
    ({**FACT, "kind": "format", "pattern": "(unclosed"}, "not a valid regular expression"),
    ({**FACT, "kind": "format", "pattern": ".*"}, "accepts anything"),
    ({**FACT, "kind": "refusal"}, "must_not"),
    ({**FACT, "passages": [{"collection": "facts"}]}, "collection, key and text"),
])
def test_bad_cases_name_the_line(tmp_path: Path, row: dict[str, object], message: str) -> None:
    rows = [{**FACT, "id": f"ok{n}"} for n in range(20)]
    path = write(tmp_path, [rows[0], row, *rows[1:]])
    with pytest.raises(InvalidInput, match=rf"suite.jsonl:2: .*{message}"):
        canary.load_suite(path)


def test_malformed_json_and_too_few_cases(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"suite.jsonl:2: not valid JSON"):
        canary.load_suite(write(tmp_path, [FACT], "{not json\n"))
    with pytest.raises(InvalidInput, match="at least 20"):
        canary.load_suite(write(tmp_path, [{**FACT, "id": f"c{n}"} for n in range(5)]))
    with pytest.raises(InvalidInput, match="unique"):
        canary.load_suite(write(tmp_path, [FACT] * 20))


def test_check_answer_by_kind() -> None:
    fact = canary.parse_case(FACT, "x")
    assert canary.check_answer(fact, "It is ann.")[0] and not canary.check_answer(fact, "Bob.")[0]
    refusal = canary.parse_case({**FACT, "kind": "refusal", "must_not": ["0", "1"]}, "x")
    assert canary.check_answer(refusal, "The notes do not say.")[0]
    ok, why = canary.check_answer(refusal, "It is 0113 496 0000.")
    assert not ok and "claimed" in why
    fmt = canary.parse_case({**FACT, "kind": "format", "pattern": r"(?i)\W*yes\b.*"}, "x")
    assert canary.check_answer(fmt, "Yes, she is.")[0] and not canary.check_answer(fmt, "No.")[0]
    assert not canary.check_answer(fact, "   ")[0]


def test_messages_are_built_like_ask() -> None:
    from core.rag import SYSTEM_WITH_MEMORY

    messages = canary.build_case_messages(canary.parse_case(FACT, "x"))
    assert messages[0] == {"role": "system", "content": SYSTEM_WITH_MEMORY}
    assert "[1] Ann." in messages[1]["content"] and "Who?" in messages[1]["content"]


def test_run_suite_with_a_fake_chat() -> None:
    cases = [canary.parse_case({**FACT, "id": f"c{n}"}, "x") for n in range(3)]
    answers = iter(["Ann", "nobody", "Ann!"])
    result = canary.run_suite(lambda _m: next(answers), cases)
    assert (result.passed, result.total) == (2, 3) and result.failures[0]["id"] == "c1"


def metrics(passed: int, probe: float, control: float) -> canary.GateMetrics:
    failures = [{"id": f"c{n}"} for n in range(3 - passed)]
    return canary.GateMetrics(canary.SuiteResult(passed, 3, failures), probe, control)


def test_decide() -> None:
    base = metrics(3, 3.0, 1.0)
    ok = canary.decide(base, metrics(3, 2.5, 1.04))
    assert ok.passed and "probe NLL 3.000 -> 2.500" in ok.reasons[0]
    bad = canary.decide(base, metrics(2, 2.5, 1.0))
    assert not bad.passed and "2/3 passed; failed c0" in bad.reasons[0]
    flat = canary.decide(base, metrics(3, 3.0, 1.0))
    assert not flat.passed and "probe NLL did not drop" in flat.reasons[0]
    worse = canary.decide(base, metrics(3, 2.0, 1.06))
    assert not worse.passed and "control NLL rose +6.0%" in worse.reasons[0]
    nan = canary.decide(base, metrics(3, float("nan"), 1.0))
    assert not nan.passed
