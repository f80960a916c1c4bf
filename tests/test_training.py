"""The training loop on a real Memdeck with deterministic fake backends (no torch, no llama.cpp).

The fakes keep the loop honest without minutes of CPU: the fake trainer reports steps and obeys
cancellation, the fake exporter writes the settings into the adapter file, and the fake evaluator
reads them back, so a destructive learning rate really makes the canary suite and the control NLL
worse and the gate really has to catch it. The real models are exercised in tests/test_training_real.py.
Contract: docs/design-training.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import WordHashEmbedder, fake_loader

from core import training
from core import training_samples as samples_mod
from core import training_store as tstore
from core.audit_query import AuditFilter
from core.errors import InvalidInput, PermissionDenied
from core.events import Event
from core.facade_ask import SELECTED_ADAPTER
from core.lora_train import ChatSample, StepInfo, TrainResult, TrainSettings
from core.memdeck import Memdeck
from core.roles import Identity

DESTRUCTIVE_LR = 1e-2

FACTS = [
    ("facts", "people.maya-okafor.role", "Maya Okafor is the Chief Executive Officer of Larkspur Robotics."),
    ("facts", "product.picker-3.battery-life", "A Picker 3 runs for ten hours on a full charge."),
    ("projects", "project.atlas.budget", "The Atlas project has a budget of £420,000 for 2026."),
    ("docs", "runbook/dock#1", "Hold the service button for ten seconds to reset a charging dock."),
]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MEMDECK__"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("MEMDECK_HOME", raising=False)


class FakeEvaluator:
    """Scores an adapter by the settings the fake exporter wrote into it."""

    def __init__(self, model: Path, adapter: Path | None, threads: int) -> None:
        self.info = json.loads(adapter.read_text()) if adapter is not None else None
        self.closed = False

    @property
    def destructive(self) -> bool:
        return self.info is not None and self.info["lr"] >= DESTRUCTIVE_LR

    def answer_nll(self, samples: Sequence[ChatSample]) -> float:
        control = all(s.source.startswith("control/") for s in samples)
        base = 2.0 if control else 3.0
        if self.info is None:
            return base
        if self.destructive:
            return base * 3
        return base * (1.0 + 0.01 * self.info["generation"] if control else 0.8 ** self.info["generation"])

    def chat(self, messages: list[dict[str, str]], max_tokens: int = 64) -> str:
        return "zzzz" if self.destructive else "CANARY-OK"

    def close(self) -> None:
        self.closed = True


class FakeBackends:
    def __init__(self, step_delay: float = 0.0, fail: BaseException | None = None) -> None:
        self.step_delay, self.fail = step_delay, fail
        self.samples: list[ChatSample] = []
        self.started = threading.Event()

    def train(self, base: Path, samples: Sequence[ChatSample], settings: TrainSettings, *,
              on_step: Callable[[StepInfo], None] | None = None, should_stop: Callable[[], bool] | None = None,
              before_step: Callable[[], None] | None = None) -> TrainResult:
        from core.errors import Cancelled

        self.samples = list(samples)
        total = min(settings.max_steps, 6)
        losses: list[float] = []
        for step in range(1, total + 1):
            if before_step is not None:
                before_step()
            if should_stop is not None and should_stop():
                raise Cancelled("cancelled")
            self.started.set()
            if self.fail is not None:
                raise self.fail
            time.sleep(self.step_delay)
            losses.append(2.0 / step)
            if on_step is not None:
                on_step(StepInfo(step=step, total=total, loss=losses[-1], elapsed_s=step * 0.1,
                                 eta_s=(total - step) * 0.1, tokens=step * 100))
        return TrainResult(steps=total, losses=losses, seconds=0.6, tokens=600, stopped="done", lora={},
                           rank=settings.rank, alpha=settings.alpha, target_modules=settings.target_modules)

    def export(self, result: TrainResult, base: Path, out: Path) -> None:
        self.generation += 1  # each adapter is a little better on the probes than the one before
        out.write_text(json.dumps({"lr": self._lr, "steps": result.steps, "generation": self.generation}))

    generation = 0

    _lr = 2e-4

    def backends(self) -> training.Backends:
        def train(*args: Any, **kwargs: Any) -> TrainResult:
            self._lr = args[2].lr
            return self.train(*args, **kwargs)

        return training.Backends(train=train, export=self.export, evaluator=FakeEvaluator)


def write_suite(root: Path) -> None:
    """A tiny canary suite in the data dir: the fake evaluator answers CANARY-OK unless destructive."""
    (root / "training").mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f"f{n:02d}", "kind": "format", "passages": [], "question": f"Say the word {n}.",
                         "pattern": "CANARY-OK"}) for n in range(20)]
    (root / "training" / "canary.jsonl").write_text("\n".join(lines) + "\n")


def open_deck(data_dir: Path, identity: Identity | None = None) -> Memdeck:
    md = Memdeck.open(data_dir, embedder=WordHashEmbedder(), llm_loader=fake_loader(reply="ok"), identity=identity)
    return md


@pytest.fixture
def deck(tmp_path: Path) -> Iterator[tuple[Memdeck, FakeBackends]]:
    md = open_deck(tmp_path / "data")
    write_suite(md.layout.root)
    for coll, key, text in FACTS:
        md.put(coll, key, text)
    fake = FakeBackends()
    md.train_backends = fake.backends()
    try:
        yield md, fake
    finally:
        md.close()


def audit_actions(md: Memdeck) -> list[str]:
    return [e["action"] for e in md.audit_log(limit=500)]


# ----------------------------------------------------------------------------- the loop
def test_run_promotes_marks_and_archives(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, fake = deck
    events: list[Event] = []
    md.bus.subscribe(events.append)
    out = md.train_run_now()
    assert out["status"] == "promoted", out
    assert out["samples"] == 3 * len(FACTS) and out["probes"] == len(FACTS)
    assert out["canary_passed"] == out["canary_total"] == 20
    assert out["probe_change"] < 0 and out["control_change"] == pytest.approx(0.01)
    adapter = Path(out["adapter"])
    assert adapter.is_file() and md._meta(SELECTED_ADAPTER) == str(adapter)
    run = md.train_run(out["id"])
    assert run["marked"] == {"item": len(FACTS)} and Path(run["buffer_path"]).is_file()
    archived = [json.loads(x) for x in Path(run["buffer_path"]).read_text().splitlines()]
    assert {a["role"] for a in archived} >= {"train", "probe", "replay"}
    # the held-out probe phrasing is never trained on
    trained = {(s.question, s.answer) for s in fake.samples}
    assert not any((a["question"], a["answer"]) in trained for a in archived if a["role"] == "probe")
    assert {"train.run", "train.promote"} <= set(audit_actions(md))
    kinds = [e.kind for e in events]
    assert "train.progress" in kinds and kinds[-1] == "train.finished"
    assert events[-1].payload["status"] == "promoted"
    # nothing new: the next run is empty and changes nothing
    again = md.train_run_now()
    assert again["status"] == "empty" and md._meta(SELECTED_ADAPTER) == str(adapter)


def test_changed_item_goes_back_into_the_buffer(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, fake = deck
    md.train_run_now()
    md.put("facts", "people.maya-okafor.role", "Maya Okafor is the chair of Larkspur Robotics.")
    out = md.train_run_now()
    assert out["status"] == "promoted" and out["samples"] == 3 and out["probes"] == 1
    assert any("chair" in s.answer for s in fake.samples)
    # replay brings back older material alongside the new item
    assert any(s.source.startswith(("replay/", "general/")) for s in fake.samples)


def test_destructive_run_is_rolled_back_and_alerts(deck: tuple[Memdeck, FakeBackends], tmp_path: Path) -> None:
    md, _ = deck
    good = md.train_run_now()
    md.put("facts", "people.tomas-hale.role", "Tomas Hale is the Chief Technology Officer.")
    marker = tmp_path / "notified"
    script = tmp_path / "notify.sh"
    script.write_text(f'#!/bin/sh\necho "$MEMDECK_EVENT $MEMDECK_RUN_ID $MEMDECK_MESSAGE" > {marker}\n')
    script.chmod(0o755)
    md.config_set("training.notify_command", str(script))
    alerts: list[Event] = []
    md.bus.subscribe(lambda e: alerts.append(e) if e.kind == "train.alert" else None)
    bad = md.train_run_now({"lr": DESTRUCTIVE_LR})
    assert bad["status"] == "rolled_back"
    reasons = " ".join(bad["reasons"])
    assert "canary" in reasons.lower() and "control" in reasons.lower()
    assert md._meta(SELECTED_ADAPTER) == good["adapter"], "the previous adapter stays in use"
    assert alerts and alerts[0].payload["run_id"] == bad["id"]
    assert marker.read_text().startswith(f"train.alert {bad['id']} ")
    # what it trained on is archived for inspection, though nothing was marked
    archived = [json.loads(x) for x in Path(md.train_run(bad["id"])["buffer_path"]).read_text().splitlines()]
    assert any("tomas-hale" in a["source"] for a in archived if a["role"] == "train")
    # its item was not marked, so the next good run takes it
    retry = md.train_run_now()
    assert retry["status"] == "promoted" and retry["samples"] == 3
    assert "train.rollback" in audit_actions(md)


def test_admin_rollback_restores_previous_and_returns_material(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, _ = deck
    first = md.train_run_now()
    md.put("facts", "people.tomas-hale.role", "Tomas Hale is the Chief Technology Officer.")
    second = md.train_run_now()
    assert md._meta(SELECTED_ADAPTER) == second["adapter"]
    with pytest.raises(InvalidInput, match="not the run whose adapter is in use"):
        md.train_rollback(first["id"])
    out = md.train_rollback()
    assert out == {"run": second["id"], "restored": first["adapter"], "returned_to_buffer": 1}
    assert md._meta(SELECTED_ADAPTER) == first["adapter"]
    status = md.train_status()
    assert status["adapter"]["run_id"] == first["id"]
    assert [a["run_id"] for a in status["adapters"]] == [second["id"], first["id"]]
    assert md.train_run(second["id"])["status"] == "rolled_back"
    # back to the base model, then nothing left to roll back
    assert md.train_rollback()["restored"] is None and md._meta(SELECTED_ADAPTER) is None
    with pytest.raises(InvalidInput, match="no promoted training run"):
        md.train_rollback()


def test_rollback_refuses_a_tampered_previous_adapter(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, _ = deck
    first = md.train_run_now()
    md.put("facts", "people.tomas-hale.role", "Tomas Hale is the Chief Technology Officer.")
    md.train_run_now()
    Path(first["adapter"]).write_text("tampered")
    with pytest.raises(InvalidInput, match="SHA-256 differs"):
        md.train_rollback()


def test_rollback_needs_admin(tmp_path: Path) -> None:
    root = tmp_path / "data"
    open_deck(root).close()
    editor = Identity(user="erin", groups=())
    with open_deck(root) as md:
        md.config_set("roles.editor", "erin")
    with open_deck(root, identity=editor) as md, pytest.raises(PermissionDenied):
        md.train_rollback()


def test_cancel_leaves_adapter_alone(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, fake = deck
    fake.step_delay = 0.3
    job = md.train_start()
    assert fake.started.wait(10)
    assert md.train_status()["active"]["here"] is True
    assert md.train_cancel() is True
    job.wait(20)
    run = md.train_runs()[0]
    assert run["status"] == "cancelled" and md._meta(SELECTED_ADAPTER) is None
    assert not list((md.layout.root / "adapters").glob("*.gguf"))
    assert md.train_cancel() is False


def test_failing_trainer_marks_failed_and_alerts(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, fake = deck
    fake.fail = RuntimeError("out of memory in the backward pass")
    alerts: list[Event] = []
    md.bus.subscribe(lambda e: alerts.append(e) if e.kind == "train.alert" else None)
    out = md.train_run_now()
    assert out["status"] == "failed" and "out of memory" in out["error"]
    assert alerts and md._meta(SELECTED_ADAPTER) is None


def test_one_run_at_a_time(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, fake = deck
    fake.step_delay = 0.3
    job = md.train_start()
    assert fake.started.wait(10)
    with pytest.raises(InvalidInput, match="already running"):
        md.train_run_now()
    md.train_cancel()
    job.wait(20)


def test_interrupted_run_is_marked_failed_on_next_look(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, _ = deck
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with md.db.write() as conn:
        run_id = tstore.start_run(conn, trigger="manual", actor="x", settings={"max_steps": 10}, base_model="m",
                                  previous_adapter=None, previous_sha=None, now=time.time())
        conn.execute("UPDATE training_runs SET pid = ? WHERE id = ?", (dead.pid, run_id))
    runs = md.train_runs()
    assert runs[0]["status"] == "failed" and "interrupted" in runs[0]["error"]


def test_training_waits_for_a_chat_generation(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, fake = deck
    md.llm.load()
    entry = md.llm._current()
    entry.lock.acquire()  # a generation is running
    try:
        job = md.train_start()
        time.sleep(1.0)
        assert not fake.started.is_set(), "no training step while the model generates"
    finally:
        entry.lock.release()
    job.wait(20)
    assert fake.started.is_set() and md.train_runs()[0]["status"] == "promoted"


# ----------------------------------------------------------------------------- the buffer
def test_buffer_filters_trust_quarantine_and_feedback(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, _ = deck
    md.put("facts", "rumour.office.move", "The office moves to Mars next week.")
    md.set_status("facts", "rumour.office.move", "quarantined", "policy")
    good = md.ask("Who is the CEO?")
    bad = md.ask("What is the Atlas budget?")
    md.episode_feedback(good.episode_id, 1)
    md.episode_feedback(bad.episode_id, -1)
    with md.db.write() as conn:  # one item scored below min_trust
        item_id = conn.execute("SELECT id, version FROM items WHERE key = 'project.atlas.budget'").fetchone()
        conn.execute("INSERT INTO trust_scores (item_id, score, method, components, inputs, item_version, computed_at)"
                     " VALUES (?, 0.2, 'formula', '{}', '{}', ?, 0)", (item_id[0], item_id[1]))
    buf = training.collect_buffer(md)
    labels = {s.label for s in buf.sources}
    assert not any("rumour" in x for x in labels) and not any("atlas" in x for x in labels)
    assert f"episode/{good.episode_id}" in labels and f"episode/{bad.episode_id}" not in labels
    assert buf.skipped["low_trust"] == 1
    assert all("[" not in s.answer for s in buf.train if s.source.startswith("episode/"))


def test_buffer_respects_max_samples(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, _ = deck
    md.config_set("training.max_samples", "8")
    buf = training.collect_buffer(md)
    assert len(buf.samples) <= 8 and buf.waiting >= 1


def test_grounded_samples_are_ask_prompts_that_cite_or_decline(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, _ = deck
    md.put("facts", "product.picker-3.price", "A Picker 3 has a list price of £68,000 per robot.")
    buf = training.collect_buffer(md)
    assert buf.grounded and len(buf.samples) <= md.config.get("training.max_samples")
    answered = [s for s in buf.grounded if s.answer != samples_mod.REFUSAL]
    declined = [s for s in buf.grounded if s.answer == samples_mod.REFUSAL]
    assert answered and declined
    for s in buf.grounded:
        assert s.source.startswith("grounded/") and s.question.startswith("Question: ") and "Notes:\n[1] " in s.question
    for s in answered:  # the answer cites the note that holds it
        cited = int(s.answer.rsplit("[", 1)[1].rstrip("]"))
        note = next(line for line in s.question.splitlines() if line.startswith(f"[{cited}] "))
        assert s.answer.rsplit(" [", 1)[0][:40] in note
    for s in declined:  # declined over notes that do not hold the item: a sibling of the same subject first
        coll, key = s.source.removeprefix("grounded/").rsplit("@v", 1)[0].split("/", 1)
        content = md.get(coll, key)["content"]
        assert content[:40] not in s.question
    price = next(s for s in declined if "picker-3.price" in s.source)
    assert "Picker 3 runs for ten hours" in price.question, "the sibling note about the same robot"
    md.config_set("training.grounded_share", "0")
    assert not training.collect_buffer(md).grounded


def test_questions_follow_the_key_shape() -> None:
    assert samples_mod.questions_for("facts", "people.maya-okafor.role", {})[0] == "What is the role of Maya Okafor?"
    assert "the Atlas project" in samples_mod.questions_for("projects", "project.atlas.budget", {})[0]
    doc = samples_mod.questions_for("docs", "runbook/x#2", {"doc": "Runbook: Docks", "section": "Escalation"})
    assert doc[0] == "What does the escalation section of Runbook: Docks say?"
    meet = samples_mod.questions_for("meetings", "2026-02-24-firmware-standup", {})
    assert meet[0] == "What happened at the firmware standup on 2026-02-24?"
    assert len(set(samples_mod.questions_for("notes", "free text key", {}))) == 4


def test_answer_text_cuts_at_a_sentence() -> None:
    text = "One sentence here. " * 60
    out = samples_mod.answer_text(text, 100)
    assert len(out) <= 100 and out.endswith(".")


def test_general_replay_file_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "replay.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": 3}\n')
    with pytest.raises(InvalidInput, match=r"replay.jsonl:2"):
        samples_mod.load_general(bad)


def test_shipped_replay_and_challenge_sets_load() -> None:
    from core.paths import resource_dir

    assert len(samples_mod.load_general(resource_dir() / "training" / "replay.jsonl")) >= 40
    assert len(training.load_challenges(resource_dir() / "training" / "challenge.jsonl")) >= 20


# ----------------------------------------------------------------------------- schedule, validation, overrides
def test_schedule_is_off_by_default_and_due_after_the_slot(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, _ = deck
    assert md.train_schedule()["enabled"] is False and md.train_run_scheduled() is None
    md.config_set("training.schedule", "nightly")
    md.config_set("training.time", "00:00")
    status = md.train_schedule()
    assert status["enabled"] and status["due"] and status["next_at"] > time.time()
    out = md.train_run_scheduled()
    assert out is not None and out["trigger"] == "schedule"
    assert md.train_schedule()["due"] is False and md.train_run_scheduled() is None


def test_validate_records_the_rate_per_day(deck: tuple[Memdeck, FakeBackends], tmp_path: Path) -> None:
    md, _ = deck
    (md.layout.root / "training" / "challenge.jsonl").write_text(
        json.dumps({"id": "c1", "question": "Who is the CEO?", "expect_any": ["Maya Okafor"]}) + "\n"
        + json.dumps({"id": "c2", "question": "How long does a Picker 3 run?", "expect_any": ["ten hours"]}) + "\n")
    md._test_replies = iter(["It is Maya Okafor.", "No idea."])  # type: ignore[attr-defined]
    out = training.validate(md, lambda m: next(md._test_replies), time.time(), None)  # type: ignore[attr-defined]
    assert (out["passed"], out["total"], out["rate"]) == (1, 2, 0.5)
    assert out["failures"][0]["id"] == "c2"
    days = md.train_status()["validation"]
    assert len(days) == 1 and days[0]["rate"] == 0.5
    assert "train.validate" in audit_actions(md)


def test_unknown_override_is_refused(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, _ = deck
    with pytest.raises(InvalidInput, match="unknown training setting"):
        md.train_run_now({"learning_rate": 1.0})
    assert md.train_runs() == []


def test_missing_adapter_in_use_is_refused_before_a_run(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, _ = deck
    first = md.train_run_now()
    Path(first["adapter"]).unlink()
    md.put("facts", "people.tomas-hale.role", "Tomas Hale is the Chief Technology Officer.")
    with pytest.raises(Exception, match="is missing"):
        md.train_run_now()
    assert len(md.train_runs()) == 1


def test_cli_list_show_status_json(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, _ = deck
    out = md.train_run_now()
    root = md.layout.root
    md.close()
    env = {**os.environ, "MEMDECK_HOME": str(root)}
    base = [sys.executable, "-m", "tui.cli"]

    def run(*args: str) -> Any:
        proc = subprocess.run([*base, *args, "--json"], capture_output=True, text=True, env=env, timeout=120,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    assert run("train", "list")[0]["id"] == out["id"]
    assert run("train", "show", str(out["id"]))["status"] == "promoted"
    assert run("train", "status")["adapter"]["run_id"] == out["id"]
    assert run("train", "run")["ran"] is False


def test_purge_scrubs_training_archives_and_names_the_runs(deck: tuple[Memdeck, FakeBackends]) -> None:
    md, _ = deck
    md.config_set("training.grounded_share", "2")  # many grounded samples: other items show hers as a note
    run = md.train_run_now()
    assert run["status"] == "promoted"
    archive = Path(md.train_run(run["id"])["buffer_path"])
    text = "Maya Okafor is the Chief Executive Officer"
    before = [json.loads(x) for x in archive.read_text().splitlines()]
    assert any("maya-okafor" in a["source"] for a in before)
    assert any(text in a["question"] for a in before if "maya-okafor" not in a["source"]), \
        "another item's grounded sample shows it as a note"
    with archive.open("a", encoding="utf-8") as fh:
        fh.write("{not json, hand-edited\n")  # a line it cannot read is kept, not judged, and breaks nothing
    out = md.purge("facts", "people.maya-okafor.role", "erasure request")
    raw = archive.read_text().splitlines()
    assert raw[-1] == "{not json, hand-edited"
    after = [json.loads(x) for x in raw[:-1]]
    assert not any("maya-okafor" in a["source"] or text in a["question"] or text in a["answer"] for a in after)
    assert out["training_lines_scrubbed"] == len(before) - len(after) > 0
    assert out["trained_in_runs"] == [run["id"]]
    event = md.audit_log(AuditFilter(action="memory.purge"), limit=1)[0]
    assert event["details"]["training_lines_scrubbed"] == out["training_lines_scrubbed"]
    assert any(a["role"] == "train" for a in after), "the other items' lines stay"
