"""The nightly LoRA loop: buffer, back up, train, convert, gate, promote or roll back, mark, archive.

One run is a row in ``training_runs`` from its first step, so a crash, a ``kill -9`` or a power cut
leaves a ``running`` row that the next open marks failed ("interrupted"), and the adapter in use never
changes until the gate has passed: the meta key ``llm.adapter`` is switched in the same transaction
that marks the run promoted. Adapter files are written atomically and never overwritten, so backing up
the current adapter is recording its path and SHA-256, which a later rollback verifies.

The heavy parts (transformers + peft training, the GGUF writer, llama.cpp evaluation) are behind
``Backends`` so the loop, the facade and the screen can be tested with a deterministic fake, and so
this module imports no torch. Contract: docs/design-training.md.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from core import canary as canary_mod
from core import training_samples as samples_mod
from core import training_store as tstore
from core.errors import Cancelled, InvalidInput, MemdeckError, ModelUnavailable
from core.lora_train import ChatSample, StepInfo, TrainResult, TrainSettings
from core.paths import resource_dir

if TYPE_CHECKING:
    from core.memdeck import Memdeck
    from core.workers import Job

log = logging.getLogger(__name__)

ADAPTERS = "adapters"
ARCHIVE = "archive"
LOG_KEEP = tstore.LOG_KEEP


class Evaluator(Protocol):
    """llama.cpp with an optional adapter (``core.llama_eval.LlamaEvaluator``, or a fake in tests)."""

    def answer_nll(self, samples: Sequence[ChatSample]) -> float: ...
    def chat(self, messages: list[dict[str, str]], max_tokens: int = 64) -> str: ...
    def close(self) -> None: ...


@dataclass
class Backends:
    """The heavy steps, swappable for tests: training, conversion to GGUF, llama.cpp evaluation."""

    train: Callable[..., TrainResult]
    export: Callable[[TrainResult, Path, Path], None]
    evaluator: Callable[[Path, Path | None, int], Evaluator]


def real_backends() -> Backends:
    """transformers + peft, the GGUF LoRA writer and llama.cpp, imported only when a run starts."""
    from core.llama_eval import LlamaEvaluator
    from core.lora_gguf import write_gguf_lora
    from core.lora_train import train_lora

    def evaluator(model: Path, adapter: Path | None, threads: int) -> Evaluator:
        return LlamaEvaluator(model, adapter=adapter, threads=threads)

    return Backends(train=train_lora, export=write_gguf_lora, evaluator=evaluator)


@dataclass
class Progress:
    """What the live view shows of the run in progress (also written to the run row as it goes)."""

    run_id: int
    phase: str = "starting"
    step: int = 0
    total: int = 0
    loss: float | None = None
    eta_s: float | None = None
    started_at: float = 0.0
    losses: list[float] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_file(md: Memdeck, name: str) -> Path:
    """``<data dir>/training/NAME`` if the admin put one there, else the shipped ``data/training/NAME``."""
    own = md.layout.root / "training" / name
    return own if own.is_file() else resource_dir() / "training" / name


def settings_from_config(md: Memdeck, overrides: dict[str, Any] | None = None) -> TrainSettings:
    cfg = md.config
    values: dict[str, Any] = {
        "rank": int(cfg.get("training.rank")), "alpha": int(cfg.get("training.alpha")),
        "lr": float(cfg.get("training.lr")), "epochs": int(cfg.get("training.epochs")),
        "max_steps": int(cfg.get("training.max_steps")), "max_minutes": float(cfg.get("training.max_minutes")),
        "batch_size": int(cfg.get("training.batch_size")), "threads": int(cfg.get("training.threads")),
    }
    for key, value in (overrides or {}).items():
        if key not in TrainSettings.__dataclass_fields__:
            raise InvalidInput(f"unknown training setting {key!r}",
                               hint=f"one of {', '.join(sorted(TrainSettings.__dataclass_fields__))}")
        values[key] = value
    return TrainSettings(**values)


def buffer_policy(md: Memdeck) -> samples_mod.BufferPolicy:
    cfg = md.config
    return samples_mod.BufferPolicy(min_trust=float(cfg.get("training.min_trust")),
                                    max_samples=int(cfg.get("training.max_samples")),
                                    max_probes=int(cfg.get("training.max_probes")),
                                    replay_share=float(cfg.get("training.replay_share")),
                                    grounded_share=float(cfg.get("training.grounded_share")),
                                    unrated_episodes=bool(cfg.get("training.unrated_episodes")))


def collect_buffer(md: Memdeck) -> samples_mod.Buffer:
    general = samples_mod.load_general(data_file(md, "replay.jsonl"))
    with md.db.read() as conn:
        return samples_mod.collect(conn, buffer_policy(md), general)


def base_model_path(md: Memdeck) -> tuple[str, Path]:
    """The GGUF the adapter is trained for: the model answers use."""
    name = md.selected_model()
    if name is None:
        raise ModelUnavailable("no model is selected, so there is nothing to train an adapter for",
                               hint="`memdeck models load smollm2-135m-instruct` first")
    for info in md.llm.list():
        if info.name == name:
            if info.problem:
                raise ModelUnavailable(f"model {name} cannot be used: {info.problem}")
            return name, info.path
    raise ModelUnavailable(f"model {name} is not installed", hint="`memdeck models` lists what is available")


# ---------------------------------------------------------------------------------------------- schedule
def schedule_status(md: Memdeck, now: float) -> dict[str, Any]:
    """Nightly slot, last scheduled run, next slot, and whether a run is due now."""
    from core.backup_schedule import last_slot, next_slot

    mode, at = str(md.config.get("training.schedule")), str(md.config.get("training.time"))
    kind = "daily" if mode == "nightly" else "off"
    with md.db.read() as conn:
        row = conn.execute("SELECT max(started_at) FROM training_runs WHERE trigger = 'schedule'").fetchone()
    last = float(row[0]) if row and row[0] is not None else None
    slot = last_slot(now, kind, at, "sun")
    return {"enabled": mode == "nightly", "at": at, "last_run": last, "next_at": next_slot(now, kind, at, "sun"),
            "due": slot is not None and (last is None or last < slot)}


# ---------------------------------------------------------------------------------------------- recovery
def _alive(pid: int, started_at: float) -> bool:
    """Is the process that started this run still running (and not a later process with a reused pid)?"""
    import psutil

    try:
        proc = psutil.Process(pid)
        return bool(proc.is_running() and proc.create_time() <= started_at + 1.0)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def recover_interrupted(md: Memdeck, active_ids: set[int], now: float) -> list[int]:
    """Mark ``running`` rows whose process is gone (or is us, without a live job) as failed."""
    with md.db.read() as conn:
        stale = [r for r in tstore.running_runs(conn)
                 if r["id"] not in active_ids and (r["pid"] == os.getpid() or not _alive(r["pid"], r["started_at"]))]
    if not stale:
        return []
    with md.db.write() as conn:
        for run in stale:
            tstore.update_run(conn, run["id"], status="failed", finished_at=now,
                              error="interrupted: the process running it stopped (crash, kill or power loss) "
                                    "before it finished; the adapter in use did not change")
            md.auditor.one(conn, "train.run", f"run {run['id']}", {"status": "failed", "interrupted": True},
                           outcome="failed")
    return [r["id"] for r in stale]


# ---------------------------------------------------------------------------------------------- one run
class RunContext:
    """Progress, log and cancellation for one run; reports to the bus, the job and (batched) the row."""

    def __init__(self, md: Memdeck, run_id: int, job: Job | None, idle: Callable[[], None],
                 now: Callable[[], float]) -> None:
        self.md, self.job, self._idle, self._now = md, job, idle, now
        self.progress = Progress(run_id=run_id, started_at=now())
        self._last_flush = 0.0
        self.cancel_event = threading.Event()

    def say(self, message: str, phase: str | None = None) -> None:
        stamp = datetime.fromtimestamp(self._now()).strftime("%H:%M:%S")
        if phase is not None:
            self.progress.phase = phase
        self.progress.log = [*self.progress.log, f"{stamp} {message}"][-LOG_KEEP:]
        log.info("training run %d: %s", self.progress.run_id, message)
        self._publish(message)
        self.flush(force=phase is not None)

    def step(self, info: StepInfo) -> None:
        p = self.progress
        p.step, p.total, p.loss, p.eta_s = info.step, info.total, info.loss, info.eta_s
        p.losses = [*p.losses, round(float(info.loss), 5)]
        if info.step == 1 or info.step == info.total or info.step % 5 == 0:
            self.say(f"step {info.step}/{info.total} loss {info.loss:.4f}")
        else:
            self._publish("")
            self.flush()
        if self.job is not None:
            self.job.progress(info.step, info.total, f"training: step {info.step}/{info.total}")

    def _publish(self, message: str) -> None:
        p = self.progress
        self.md.bus.publish("train.progress", run_id=p.run_id, phase=p.phase, step=p.step, total=p.total,
                            loss=p.loss, eta_s=p.eta_s, message=message)

    def flush(self, force: bool = False) -> None:
        """Write steps, losses and the log to the row at most every 2 s, so another process (the TUI
        watching a CLI run) sees progress and a killed run's row shows how far it got."""
        if not force and self._now() - self._last_flush < 2.0:
            return
        self._last_flush = self._now()
        p = self.progress
        with self.md.db.write() as conn:
            tstore.update_run(conn, p.run_id, steps=p.step, losses=p.losses, log=p.log)

    def should_stop(self) -> bool:
        return self.cancel_event.is_set() or (self.job is not None and self.job.cancelled)

    def check(self) -> None:
        if self.should_stop():
            raise Cancelled("training run cancelled")

    def before_step(self) -> None:
        self._idle()
        self.check()


@dataclass
class Measured:
    """One side of the gate: the canary suite and the two NLLs, with one adapter (or none)."""

    suite: canary_mod.SuiteResult
    probe_nll: float
    control_nll: float

    def gate_metrics(self) -> canary_mod.GateMetrics:
        return canary_mod.GateMetrics(suite=self.suite, probe_nll=self.probe_nll, control_nll=self.control_nll)


def measure(backends: Backends, model: Path, adapter: Path | None, threads: int, cases: Sequence[Any],
            probes: Sequence[ChatSample], control: Sequence[ChatSample], ctx: RunContext | None) -> Measured:
    ev = backends.evaluator(model, adapter, threads)
    try:
        def chat(messages: list[dict[str, str]]) -> str:
            if ctx is not None:
                ctx.before_step()
            return ev.chat(messages, max_tokens=64)

        suite = canary_mod.run_suite(chat, cases)
        if ctx is not None:
            ctx.before_step()
        probe = ev.answer_nll(probes) if probes else float("nan")
        control_nll = ev.answer_nll(control) if control else float("nan")
        return Measured(suite=suite, probe_nll=probe, control_nll=control_nll)
    finally:
        ev.close()


def control_samples(md: Memdeck) -> list[ChatSample]:
    return [ChatSample(question=c.question, answer=c.answer, system=samples_mod.SYSTEM, source=f"control/{n}")
            for n, c in enumerate(canary_mod.load_control(data_file(md, "control.jsonl")), 1)]


def run(md: Memdeck, *, trigger: str, backends: Backends, overrides: dict[str, Any] | None = None,
        job: Job | None = None, ctx_hook: Callable[[RunContext], None] | None = None,
        idle: Callable[[], None] = lambda: None, now: Callable[[], float] = time.time) -> dict[str, Any]:
    """One whole run. Returns the finished run row; never leaves it ``running`` unless the process dies."""
    settings = settings_from_config(md, overrides)
    model_name, model_path = base_model_path(md)
    cases = canary_mod.load_suite(data_file(md, "canary.jsonl"))
    control = control_samples(md)
    buffer = collect_buffer(md)
    previous = md._meta("llm.adapter")
    previous_path = Path(previous) if previous else None
    if previous_path is not None and not previous_path.is_file():
        raise ModelUnavailable(f"the adapter in use ({previous_path}) is missing, so a run has nothing to fall "
                               "back to", hint="`memdeck train rollback` or `memdeck models adapter --detach` first")
    previous_sha = sha256_file(previous_path) if previous_path is not None else None
    started = now()
    with md.db.write() as conn:
        run_id = tstore.start_run(conn, trigger=trigger, actor=md.actor, settings=asdict(settings),
                                  base_model=model_name, previous_adapter=previous, previous_sha=previous_sha,
                                  now=started)
        tstore.update_run(conn, run_id, samples=len(buffer.train), replay=len(buffer.replay),
                          grounded=len(buffer.grounded),
                          probes=len(buffer.probes))
        md.auditor.one(conn, "train.run", f"run {run_id}", {"status": "started", "trigger": trigger,
                                                           **buffer.summary(), "previous_adapter": previous})
    ctx = RunContext(md, run_id, job, idle, now)
    if ctx_hook is not None:
        ctx_hook(ctx)
    ctx.say(f"buffer: {len(buffer.train)} samples, {len(buffer.grounded)} grounded, {len(buffer.replay)} replay, "
            f"{len(buffer.probes)} probes "
            f"({buffer.skipped.get('low_trust', 0)} low-trust items skipped, {buffer.waiting} waiting)", "buffer")
    if not buffer.train:
        return _finish(md, ctx, "empty", reasons=["nothing new to learn: every trusted item and good episode "
                                                  "has been trained on already"])
    if previous_path is not None:
        ctx.say(f"backed up the adapter in use: {previous_path.name} sha256 {previous_sha or '':.12}")
    out_dir = md.layout.root / ADAPTERS
    out = out_dir / f"run-{run_id}.gguf"
    try:
        ctx.say(f"training {model_name}: lr {settings.lr:g}, rank {settings.rank}, at most {settings.max_steps} "
                f"steps / {settings.max_minutes:g} min on {settings.threads} threads", "train")
        result = backends.train(model_path, buffer.samples, settings, on_step=ctx.step,
                                should_stop=ctx.should_stop, before_step=ctx.before_step)
        losses = [round(float(x), 5) for x in result.losses]
        ctx.progress.losses = losses
        with md.db.write() as conn:
            tstore.update_run(conn, run_id, steps=result.steps, losses=losses)
        ctx.say(f"trained {result.steps} steps in {result.seconds:.0f} s ({result.stopped}); converting", "convert")
        ctx.check()
        out_dir.mkdir(parents=True, exist_ok=True)
        backends.export(result, model_path, out)
        sha = sha256_file(out)
        with md.db.write() as conn:
            tstore.update_run(conn, run_id, adapter=str(out), adapter_sha=sha)
        ctx.say(f"wrote {out.name} ({out.stat().st_size:,} bytes); canary gate: before", "gate")
        before = measure(backends, model_path, previous_path, settings.threads, cases, buffer.probes, control, ctx)
        ctx.say(f"before: canary {before.suite.passed}/{before.suite.total}, probe NLL {before.probe_nll:.3f}, "
                f"control NLL {before.control_nll:.3f}; now with the new adapter")
        after = measure(backends, model_path, out, settings.threads, cases, buffer.probes, control, ctx)
        ctx.say(f"after: canary {after.suite.passed}/{after.suite.total}, probe NLL {after.probe_nll:.3f}, "
                f"control NLL {after.control_nll:.3f}")
        decision = canary_mod.decide(before.gate_metrics(), after.gate_metrics(),
                                     control_max_rise=float(md.config.get("training.control_max_rise")))
    except Cancelled:
        out.unlink(missing_ok=True)
        return _finish(md, ctx, "cancelled", reasons=["cancelled before the gate; the adapter in use did not change"])
    except (MemdeckError, OSError, RuntimeError, ValueError, MemoryError) as exc:
        out.unlink(missing_ok=True)
        message = exc.message if isinstance(exc, MemdeckError) else f"{type(exc).__name__}: {exc}"
        log.exception("training run %d failed", run_id)
        finished = _finish(md, ctx, "failed", error=message,
                           reasons=["the run failed; the adapter in use did not change"])
        _alert(md, run_id, f"training run {run_id} failed: {message}")
        return finished
    gate = {"before": _side(before), "after": _side(after), "passed": decision.passed,
            "failures": after.suite.failures[:20]}
    if decision.passed:
        ctx.say("gate passed: promoting", "promote")
        return _finish(md, ctx, "promoted", gate=gate, reasons=decision.reasons, promote=out, buffer=buffer)
    ctx.say("gate failed: " + "; ".join(decision.reasons), "rollback")
    finished = _finish(md, ctx, "rolled_back", gate=gate, reasons=decision.reasons, buffer=buffer)
    _alert(md, run_id, f"training run {run_id} rolled back: " + "; ".join(decision.reasons))
    return finished


def _side(m: Measured) -> dict[str, Any]:
    return {"canary_passed": m.suite.passed, "canary_total": m.suite.total,
            "probe_nll": None if m.probe_nll != m.probe_nll else round(m.probe_nll, 4),
            "control_nll": None if m.control_nll != m.control_nll else round(m.control_nll, 4)}


def _finish(md: Memdeck, ctx: RunContext, status: str, *, reasons: list[str], gate: dict[str, Any] | None = None,
            error: str | None = None, promote: Path | None = None,
            buffer: samples_mod.Buffer | None = None) -> dict[str, Any]:
    """Close the run in one transaction: status, gate, reasons; on promote also the adapter switch, the
    marks. A run that trained (promoted or rolled back) archives its buffer first, so what it learned
    from is always on disk to inspect; only a promoted run marks its items as trained."""
    from core.facade_ask import SELECTED_ADAPTER, set_meta

    run_id = ctx.progress.run_id
    archive: Path | None = None
    if buffer is not None:
        archive = md.layout.root / ADAPTERS / ARCHIVE / f"run-{run_id}-buffer.jsonl"
        buffer.write_archive(archive)
    with md.db.write() as conn:
        fields: dict[str, Any] = {"status": status, "finished_at": ctx._now(), "reasons": reasons,
                                  "log": ctx.progress.log, "losses": ctx.progress.losses}
        if gate is not None:
            fields["gate"] = gate
        if error is not None:
            fields["error"] = error
        if archive is not None:
            fields["buffer_path"] = str(archive)
        tstore.update_run(conn, run_id, **fields)
        details: dict[str, Any] = {"status": status, "reasons": reasons}
        if promote is not None and buffer is not None:
            set_meta(conn, SELECTED_ADAPTER, str(promote))
            details["marked"] = tstore.add_marks(conn, run_id, buffer.marks())
            md.auditor.one(conn, "train.promote", f"run {run_id}", {"adapter": str(promote), **details})
        elif status == "rolled_back":
            md.auditor.one(conn, "train.rollback", f"run {run_id}", {"automatic": True, **details})
        else:
            md.auditor.one(conn, "train.run", f"run {run_id}", {**details, "error": error},
                           outcome="ok" if status in ("empty", "cancelled") else "failed")
        row = tstore.get_run(conn, run_id)
    if promote is not None:
        attach_live(md, promote)
    md.bus.publish("train.finished", run_id=run_id, status=status, reasons=reasons)
    assert row is not None
    return row


def attach_live(md: Memdeck, adapter: Path | None) -> None:
    """Switch the running app's model to ``adapter`` if a model is loaded (else the next load picks the
    meta key up). A failure is a notice, not a lost run: the meta key already points at it."""
    loaded = md._llm.loaded() if md._llm is not None else None
    if loaded is None:
        return
    try:
        md.llm.attach_adapter(adapter)
    except MemdeckError as exc:
        md._notice(f"the adapter was switched for the next model load but not attached now: {exc.message}")


def _alert(md: Memdeck, run_id: int, message: str) -> None:
    from core.backup_schedule import notify

    md.bus.publish("train.alert", run_id=run_id, message=message)
    notify(md, "train.alert", message, setting="training.notify_command", extra={"MEMDECK_RUN_ID": str(run_id)})


# ---------------------------------------------------------------------------------------------- rollback
def rollback(md: Memdeck, run_id: int | None, now: float) -> dict[str, Any]:
    """Put back the adapter that was in use before ``run_id`` (default: the run whose adapter is in use)."""
    from core.facade_ask import SELECTED_ADAPTER, set_meta

    with md.db.read() as conn:
        current = tstore.last_promoted(conn)
        target = tstore.get_run(conn, run_id) if run_id is not None else current
    if target is None:
        raise InvalidInput("there is no promoted training run to roll back" if run_id is None
                           else f"there is no training run {run_id}")
    if current is None or target["id"] != current["id"]:
        raise InvalidInput(f"run {target['id']} is not the run whose adapter is in use "
                           f"({'none' if current is None else 'run ' + str(current['id'])})",
                           hint="roll back the newest promoted run first")
    previous = target["previous_adapter"]
    if previous:
        path = Path(previous)
        if not path.is_file():
            raise InvalidInput(f"the previous adapter {path} is missing, so it cannot be restored",
                               hint="detach with `memdeck models adapter --detach` to use the base model")
        if target["previous_sha"] and sha256_file(path) != target["previous_sha"]:
            raise InvalidInput(f"the previous adapter {path} changed since run {target['id']} backed it up "
                               "(SHA-256 differs); refusing to restore it")
    with md.db.write() as conn:
        set_meta(conn, SELECTED_ADAPTER, previous or None)
        tstore.update_run(conn, target["id"], status="rolled_back", rolled_back_at=now,
                          reasons=[*target["reasons"], f"rolled back by {md.actor}"])
        returned = tstore.remove_marks(conn, target["id"])
        md.auditor.one(conn, "train.rollback", f"run {target['id']}",
                       {"automatic": False, "restored": previous or "base model", "returned_to_buffer": returned})
    attach_live(md, Path(previous) if previous else None)
    md.bus.publish("train.finished", run_id=target["id"], status="rolled_back",
                   reasons=[f"rolled back by {md.actor}"])
    return {"run": target["id"], "restored": previous or None, "returned_to_buffer": returned}


# ---------------------------------------------------------------------------------------------- validation
@dataclass(frozen=True)
class Challenge:
    id: str
    question: str
    expect_any: tuple[str, ...]


def load_challenges(path: Path) -> list[Challenge]:
    import json

    out: list[Challenge] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"cannot read the challenge set {path}: {exc.strerror or exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            expect = tuple(str(x) for x in row["expect_any"] if str(x).strip())
            if not isinstance(row["question"], str) or not expect:
                raise TypeError
            out.append(Challenge(str(row.get("id", f"line-{n}")), row["question"], expect))
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(f"{path}:{n}: expected {{\"id\", \"question\", \"expect_any\": [...]}}") from None
    if not out:
        raise InvalidInput(f"the challenge set {path} is empty")
    return out


def ask_challenges(challenges: list[Challenge], chat: Callable[[list[dict[str, str]]], str]) -> list[dict[str, Any]]:
    """Each challenge asked without notes; the failures (id, question, answer). A challenge passes when the
    answer contains one of its expected strings."""
    failures = []
    for ch in challenges:
        messages = [{"role": "system", "content": samples_mod.SYSTEM}, {"role": "user", "content": ch.question}]
        answer = chat(messages)
        if not any(e.lower() in answer.lower() for e in ch.expect_any):
            failures.append({"id": ch.id, "question": ch.question, "answer": answer[:200]})
    return failures


def validate(md: Memdeck, chat: Callable[[list[dict[str, str]]], str], now: float,
             run_id: int | None) -> dict[str, Any]:
    """Ask the challenge set without notes (what the model has learned) and record the rate for today."""
    challenges = load_challenges(data_file(md, "challenge.jsonl"))
    failures = ask_challenges(challenges, chat)
    passed = len(challenges) - len(failures)
    model, adapter = md.llm_identity()
    day = datetime.fromtimestamp(now).strftime("%Y-%m-%d")
    details = {"failures": failures[:50]}
    with md.db.write() as conn:
        vid = tstore.add_validation(conn, at=now, day=day, model=model or "", adapter=adapter, run_id=run_id,
                                    passed=passed, total=len(challenges), details=details)
        md.auditor.one(conn, "train.validate", day, {"passed": passed, "total": len(challenges), "adapter": adapter})
    return {"id": vid, "day": day, "passed": passed, "total": len(challenges),
            "rate": round(passed / len(challenges), 4), "model": model, "adapter": adapter, "failures": failures}
