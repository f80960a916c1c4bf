"""The facade's training methods: ``Memdeck`` inherits these (contract: docs/design-training.md).

Role check first, every run and admin action audited, typed errors with a hint. The loop itself is
``core.training``; this mixin owns what is per process: the one active run, its cancellation, the
nightly scheduler thread, and waiting for chat generations to finish before each training step (the
model and the trainer share the same two cores).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import training
from core import training_store as tstore
from core.errors import InvalidInput

if TYPE_CHECKING:
    from core.audit import Auditor
    from core.config import Config
    from core.db import Database
    from core.events import EventBus
    from core.llm import ModelManager
    from core.paths import DataLayout
    from core.workers import Job, Workers

log = logging.getLogger(__name__)

_train_lock = threading.Lock()  # one run per process; another process's run is seen in the table


def _now() -> float:
    return time.time()


def run_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A run row as the table and ``--json`` show it: flat numbers, changes as fractions."""
    gate = row.get("gate") or {}
    before, after = gate.get("before") or {}, gate.get("after") or {}
    losses = row.get("losses") or []

    def change(key: str) -> float | None:
        a, b = before.get(key), after.get(key)
        return round((b - a) / a, 4) if isinstance(a, int | float) and isinstance(b, int | float) and a else None

    finished = row.get("finished_at")
    return {"id": row["id"], "status": row["status"], "trigger": row["trigger"], "started_at": row["started_at"],
            "finished_at": finished, "duration_s": round(finished - row["started_at"], 1) if finished else None,
            "samples": row["samples"], "grounded": row.get("grounded", 0), "replay": row["replay"],
            "probes": row["probes"], "steps": row["steps"],
            "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
            "canary_passed": after.get("canary_passed"), "canary_total": after.get("canary_total"),
            "probe_before": before.get("probe_nll"), "probe_after": after.get("probe_nll"),
            "probe_change": change("probe_nll"), "control_before": before.get("control_nll"),
            "control_after": after.get("control_nll"), "control_change": change("control_nll"),
            "adapter": row["adapter"], "previous_adapter": row["previous_adapter"], "reasons": row["reasons"],
            "error": row["error"], "actor": row["actor"], "rolled_back_at": row["rolled_back_at"]}


class TrainFacade:
    """Training runs, the canary gate, rollback and validation, mixed into ``Memdeck``."""

    if TYPE_CHECKING:
        db: Database
        config: Config
        layout: DataLayout
        auditor: Auditor
        actor: str
        bus: EventBus
        workers: Workers
        _llm: ModelManager | None
        _closed: bool

        @property
        def llm(self) -> ModelManager: ...
        def require(self, permission: str, target: str = "") -> None: ...
        def record_event(self, action: str, target: str, details: dict[str, Any], outcome: str = "ok") -> None: ...
        def selected_model(self) -> str | None: ...
        def llm_identity(self) -> tuple[str | None, str | None]: ...
        def _meta(self, key: str) -> str | None: ...
        def _notice(self, message: str) -> None: ...

    train_backends: training.Backends | None = None  # None: the real ones, imported when a run starts
    _train_ctx: training.RunContext | None = None
    _train_job: Job | None = None
    _train_scheduler: threading.Thread | None = None

    # ------------------------------------------------------------------ reading
    def _train_recover(self) -> None:
        active = {self._train_ctx.progress.run_id} if self._train_ctx is not None else set()
        if training.recover_interrupted(self, active, _now()):  # type: ignore[arg-type]
            log.warning("marked interrupted training runs as failed")

    def train_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        self.require("memory.read", "training")
        self._train_recover()
        with self.db.read() as conn:
            return [run_summary(r) for r in tstore.list_runs(conn, limit)]

    def train_run(self, run_id: int) -> dict[str, Any]:
        self.require("memory.read", f"run {run_id}")
        self._train_recover()
        with self.db.read() as conn:
            row = tstore.get_run(conn, int(run_id))
            marks = tstore.mark_counts(conn, int(run_id)) if row else {}
        if row is None:
            raise InvalidInput(f"there is no training run {run_id}", hint="`memdeck train list` shows the runs")
        return {**run_summary(row), "losses": row["losses"], "log": row["log"], "settings": row["settings"],
                "gate": row["gate"], "buffer_path": row["buffer_path"], "base_model": row["base_model"],
                "marked": marks, "previous_sha": row["previous_sha"], "adapter_sha": row["adapter_sha"]}

    def train_status(self) -> dict[str, Any]:
        """The live run (this process's, or another process's as far as its row tells), the adapter in use
        and its history, the schedule and the validation trend: everything the Training screen shows."""
        self.require("memory.read", "training")
        self._train_recover()
        ctx = self._train_ctx
        with self.db.read() as conn:
            running = tstore.running_runs(conn)
            current = tstore.last_promoted(conn)
            history = tstore.adapter_history(conn)
            days = tstore.validations(conn)
        active: dict[str, Any] | None = None
        if ctx is not None:
            active = {**ctx.progress.as_dict(), "here": True}
        elif running:
            r = running[0]
            losses = r["losses"]
            active = {"run_id": r["id"], "phase": "running elsewhere", "step": r["steps"],
                      "total": int(r["settings"].get("max_steps", 0)), "loss": losses[-1] if losses else None,
                      "eta_s": None, "started_at": r["started_at"], "losses": losses, "log": r["log"][-20:],
                      "here": False}
        adapter = self._meta("llm.adapter")
        in_use = None
        if adapter:
            run_id = current["id"] if current is not None and current["adapter"] == adapter else None
            since = current["finished_at"] if run_id is not None and current is not None else None
            in_use = {"path": adapter, "run_id": run_id, "since": since, "exists": Path(adapter).is_file()}
        return {"active": active, "adapter": in_use,
                "adapters": [{"run_id": h["id"], "path": h["adapter"], "promoted_at": h["finished_at"],
                              "rolled_back_at": h["rolled_back_at"], "status": h["status"]} for h in history],
                "schedule": self.train_schedule(), "validation": days}

    def train_schedule(self) -> dict[str, Any]:
        return training.schedule_status(self, _now())  # type: ignore[arg-type]

    # ------------------------------------------------------------------ running
    def _generation_idle(self) -> None:
        """Block while a chat generation holds the model: training never competes with an answer."""
        llm = self._llm
        while llm is not None and llm.busy() and not self._closed:
            time.sleep(0.2)

    def train_run_now(self, overrides: dict[str, Any] | None = None, job: Job | None = None,
                      trigger: str = "manual") -> dict[str, Any]:
        """One run in the calling thread (the CLI; ``train_start`` wraps it in a core thread)."""
        self.require("train.run", "training")
        self._train_recover()
        if not _train_lock.acquire(blocking=False):
            raise InvalidInput("a training run is already running in this process",
                               hint="watch it on the Training screen or `memdeck train list`")
        try:
            with self.db.read() as conn:
                others = tstore.running_runs(conn)
            if others:
                raise InvalidInput(f"training run {others[0]['id']} is already running (pid {others[0]['pid']})",
                                   hint="wait for it, or cancel it where it runs")
            backends = self.train_backends or training.real_backends()

            def hook(ctx: training.RunContext) -> None:
                self._train_ctx = ctx

            try:
                row = training.run(self, trigger=trigger, backends=backends, overrides=overrides,  # type: ignore[arg-type]
                                   job=job, ctx_hook=hook, idle=self._generation_idle)
            finally:
                self._train_ctx = None
            return {**run_summary(row), "log": row["log"], "gate": row["gate"]}
        finally:
            _train_lock.release()

    def train_start(self, trigger: str = "manual", overrides: dict[str, Any] | None = None) -> Job:
        """Start a run in a core thread; progress arrives as ``train.progress`` events."""
        self.require("train.run", "training")
        if self._train_job is not None and self._train_job.state in ("pending", "running"):
            raise InvalidInput("a training run is already running", hint="cancel it first, or wait")
        job = self.workers.start("training run", lambda j: self.train_run_now(overrides, job=j, trigger=trigger))
        self._train_job = job
        return job

    def train_cancel(self) -> bool:
        """Ask the run in this process to stop at its next step; False if none runs here."""
        ctx, job = self._train_ctx, self._train_job
        if ctx is None and (job is None or job.state not in ("pending", "running")):
            return False
        self.require("train.run", "training")
        if ctx is not None:
            ctx.cancel_event.set()
        if job is not None:
            job.cancel()
        self.record_event("train.cancel", f"run {ctx.progress.run_id}" if ctx else "training", {})
        return True

    def train_rollback(self, run_id: int | None = None) -> dict[str, Any]:
        self.require("train.rollback", f"run {run_id or 'current'}")
        if self._train_ctx is not None:
            raise InvalidInput("a training run is in progress", hint="cancel it or wait before rolling back")
        return training.rollback(self, run_id, _now())  # type: ignore[arg-type]

    # ------------------------------------------------------------------ gate and validation
    def train_canary(self, adapter: str | Path | None = None, job: Job | None = None) -> dict[str, Any]:
        """The canary suite against ``adapter`` (default: the one in use), in llama.cpp; audited."""
        from core import canary

        self.require("train.canary", "training")
        name, model_path = training.base_model_path(self)  # type: ignore[arg-type]
        path = Path(adapter).expanduser().resolve() if adapter else (
            Path(a) if (a := self._meta("llm.adapter")) else None)
        if path is not None and not path.is_file():
            raise InvalidInput(f"adapter {path} does not exist")
        cases = canary.load_suite(training.data_file(self, "canary.jsonl"))  # type: ignore[arg-type]
        backends = self.train_backends or training.real_backends()
        ev = backends.evaluator(model_path, path, int(self.config.get("training.threads")))
        try:
            result = canary.run_suite(lambda m: ev.chat(m, max_tokens=64), cases)
        finally:
            ev.close()
        out = {"model": name, "adapter": str(path) if path else None, **result.as_dict()}
        self.record_event("train.canary", str(path or "base model"),
                          {"passed": result.passed, "total": result.total},
                          outcome="ok" if result.passed == result.total else "failed")
        return out

    def train_validate(self) -> dict[str, Any]:
        """Morning validation: the challenge set through the live model (its adapter attached), per day."""
        self.require("train.validate", "training")
        name = self.selected_model()
        if name is None:
            raise InvalidInput("no model is selected, so there is nothing to validate",
                               hint="`memdeck models load smollm2-135m-instruct` first")
        self._ensure_model(name)  # type: ignore[attr-defined]

        def chat(messages: list[dict[str, str]]) -> str:
            return self.llm.generate(messages, max_tokens=64, temperature=0.0).text

        with self.db.read() as conn:
            current = tstore.last_promoted(conn)
        return training.validate(self, chat, _now(), current["id"] if current else None)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ schedule
    def train_run_scheduled(self, force: bool = False) -> dict[str, Any] | None:
        """Run now if the nightly slot has passed since the last scheduled run (or ``force``)."""
        status = self.train_schedule()
        if not force and not status["due"]:
            return None
        return self.train_run_now(trigger="schedule")

    def start_train_scheduler(self, period_s: float = 30.0) -> None:
        """The app's nightly trigger (the twin of `memdeck train run-scheduled` in cron)."""
        if self._train_scheduler is not None or not self.can("train.run"):  # type: ignore[attr-defined]
            return

        def loop() -> None:
            stop = self.workers.stopping
            while not stop.wait(period_s):
                try:
                    if self.train_schedule()["due"] and self._train_ctx is None:
                        self.train_start(trigger="schedule")
                except Exception:  # a scheduler must survive one bad night; the run row has the details
                    log.exception("training scheduler failed")

        self._train_scheduler = threading.Thread(target=loop, name="memdeck-train-scheduler", daemon=True)
        self._train_scheduler.start()

