"""A deterministic core for the Training screen's Pilot and snapshot tests.

A real Memdeck underneath (``FrozenCore``: bus, workers, config, everything the other screens use),
with the ``train_*`` methods of docs/design-training.md answered from fixed runs at frozen times:
six finished runs (promoted, rolled back by the gate, rolled back by hand, failed, empty), an adapter
history with a rollback in it, a week of morning validations. Every call is recorded in ``calls``;
``fail[name] = exc`` makes the next call of ``name`` raise; ``publish_progress`` plays a core training
thread (its ``train.progress`` event and what ``train_status`` then reports).
"""

from __future__ import annotations

import copy
import threading
from datetime import datetime
from typing import Any

from tui_support import FROZEN_NOW, FrozenCore

from core.memdeck import Memdeck

ADAPTERS = "/srv/memdeck/adapters"
DAY = 86_400.0
LIVE_ID = 7  # the run train_start (or publish_progress) begins


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def _run(rid: int, status: str, **kw: Any) -> dict[str, Any]:
    """A run summary (``train_runs`` row) with the contract's keys; started ``6 - rid`` days ago."""
    started = FROZEN_NOW - DAY * (6 - rid) - 3_600
    row: dict[str, Any] = {
        "id": rid, "status": status, "trigger": "schedule" if rid % 2 else "manual", "started_at": started,
        "finished_at": started + 412, "duration_s": 412.0, "samples": 96, "replay": 24, "probes": 32, "steps": 30,
        "loss_first": 2.84, "loss_last": 1.12, "canary_passed": 21, "canary_total": 21, "probe_before": 3.41,
        "probe_after": 2.87, "probe_change": -0.1584, "control_before": 0.80, "control_after": 0.81,
        "control_change": 0.0125, "adapter": f"{ADAPTERS}/run-{rid}.gguf", "previous_adapter": None,
        "reasons": ["canary 21/21; probe NLL 3.410 -> 2.870 (-15.8%); control NLL 0.800 -> 0.810 (+1.2%)"],
        "error": None, "actor": "admin", "rolled_back_at": None}
    row.update(kw)
    return row


def _losses(r: dict[str, Any]) -> list[float]:
    """A falling, slightly noisy curve from loss_first to loss_last over the run's steps."""
    n = int(r["steps"] or 0)
    if n == 0 or r["loss_first"] is None:
        return []
    first, last = float(r["loss_first"]), float(r["loss_last"])
    return [round(first + (last - first) * i / max(1, n - 1) + (0.12 if i % 4 == 1 and i < n - 1 else 0.0), 3)
            for i in range(n)]


def _log(r: dict[str, Any]) -> list[str]:
    t = float(r["started_at"])
    lines = [f"{_stamp(t)} buffer: {r['samples']} samples, {r['replay']} replay, {r['probes']} probes "
             "(0 low-trust items skipped, 0 waiting)"]
    n = int(r["steps"] or 0)
    for i, loss in enumerate(_losses(r), start=1):
        if i == 1 or i % 10 == 0 or i == n:
            lines.append(f"{_stamp(t + 12 * i)} step {i}/{n} loss {loss:.4f}")
    if r["canary_total"]:
        lines.append(f"{_stamp(t + 380)} after: canary {r['canary_passed']}/{r['canary_total']}, probe NLL "
                     f"{r['probe_after']:.3f}, control NLL {r['control_after']:.3f}")
    if r["error"]:
        lines.append(f"{_stamp(float(r['finished_at']))} failed: {r['error']}")
    return lines


def train_fixtures() -> dict[str, Any]:
    rolled_by_hand = FROZEN_NOW - DAY * 2 - 20_000
    runs = [
        _run(6, "rolled_back", samples=40, replay=10, loss_first=2.91, loss_last=0.41, canary_passed=17,
             probe_after=2.10, probe_change=-0.3842, control_after=1.20, control_change=0.5,
             previous_adapter=f"{ADAPTERS}/run-5.gguf",
             reasons=["canary suite: 17/21 passed; failed fact-01, refusal-03, refusal-14, format-07",
                      "control NLL rose +50.0% (0.800 -> 1.200); at most 5% is allowed"]),
        _run(5, "promoted", previous_adapter=f"{ADAPTERS}/run-1.gguf"),
        _run(4, "empty", samples=0, replay=0, probes=0, steps=0, duration_s=3.2, loss_first=None, loss_last=None,
             canary_passed=None, canary_total=None, probe_before=None, probe_after=None, probe_change=None,
             control_before=None, control_after=None, control_change=None, adapter=None,
             previous_adapter=f"{ADAPTERS}/run-1.gguf",
             reasons=["nothing new to learn: every trusted item and good episode has been trained on already"]),
        _run(3, "rolled_back", samples=64, replay=16, steps=20, loss_last=1.30, probe_after=3.02,
             probe_change=-0.1144, control_after=0.83, control_change=0.0375, previous_adapter=f"{ADAPTERS}/run-1.gguf",
             rolled_back_at=rolled_by_hand,
             reasons=["canary 21/21; probe NLL 3.410 -> 3.020 (-11.4%); control NLL 0.800 -> 0.830 (+3.8%)",
                      "rolled back by admin"]),
        _run(2, "failed", steps=3, loss_last=2.60, canary_passed=None, canary_total=None, probe_before=None,
             probe_after=None, probe_change=None, control_before=None, control_after=None, control_change=None,
             adapter=None, duration_s=95.0, reasons=["the run failed; the adapter in use did not change"],
             error="interrupted: the process running it stopped (crash, kill or power loss) before it finished"),
        _run(1, "promoted", samples=120, replay=30, steps=38, probe_after=3.01, probe_change=-0.1173),
    ]
    details = {r["id"]: {**r, "losses": _losses(r), "log": _log(r),
                         "settings": {"lr": 0.0002, "rank": 8, "alpha": 16, "epochs": 1, "max_steps": 200,
                                      "max_minutes": 30.0, "batch_size": 4},
                         "gate": {"failures": [{"id": "fact-01", "kind": "fact",
                                                "reason": "expected one of ['Maya Okafor']",
                                                "answer": "Larkspur is run by a board."}]
                                  if r["id"] == 6 else []},
                         "buffer_path": f"{ADAPTERS}/archive/run-{r['id']}-buffer.jsonl"
                         if r["status"] == "promoted" else None,
                         "base_model": "smollm2-135m-instruct", "marked": {"item": 32}, "previous_sha": None,
                         "adapter_sha": None} for r in runs}
    by_id = {r["id"]: r for r in runs}
    status = {
        "active": None,
        "adapter": {"path": f"{ADAPTERS}/run-5.gguf", "run_id": 5, "since": by_id[5]["finished_at"], "exists": True},
        "adapters": [{"run_id": 5, "path": f"{ADAPTERS}/run-5.gguf", "promoted_at": by_id[5]["finished_at"],
                      "rolled_back_at": None, "status": "promoted"},
                     {"run_id": 3, "path": f"{ADAPTERS}/run-3.gguf", "promoted_at": by_id[3]["finished_at"],
                      "rolled_back_at": rolled_by_hand, "status": "rolled_back"},
                     {"run_id": 1, "path": f"{ADAPTERS}/run-1.gguf", "promoted_at": by_id[1]["finished_at"],
                      "rolled_back_at": None, "status": "promoted"}],
        "schedule": {"enabled": True, "at": "22:00", "last_run": by_id[5]["started_at"],
                     "next_at": FROZEN_NOW + 28_020, "due": False},
        "validation": [{"day": f"2026-09-{15 + i}", "passed": p, "total": 33, "rate": round(p / 33, 4)}
                       for i, p in enumerate((3, 4, 4, 7, 6, 6, 9))],
    }
    return {"runs": runs, "details": details, "status": status}


class FakeTrainCore(FrozenCore):
    """``empty``: a fresh install (no runs, no adapter, schedule off). ``elsewhere``: a run is live in
    another process (a CLI run): it shows, but cannot be cancelled from the app."""

    def __init__(self, md: Memdeck, empty: bool = False, elsewhere: bool = False) -> None:
        super().__init__(md)
        self.world = train_fixtures()
        status = self.world["status"]
        if empty:
            self.world["runs"], self.world["details"] = [], {}
            status.update(adapter=None, adapters=[], validation=[])
            status["schedule"] = {"enabled": False, "at": "22:00", "last_run": None, "next_at": None, "due": False}
        if elsewhere:
            status["active"] = {**self._live(), "phase": "running elsewhere", "step": 12, "loss": 1.91,
                                "losses": [round(2.9 - 0.08 * i, 3) for i in range(12)],
                                "log": [f"{_stamp(FROZEN_NOW - 50)} training smollm2-135m-instruct"], "here": False}
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail: dict[str, BaseException] = {}
        self._lock = threading.Lock()

    def _enter(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((name, args))
            exc = self.fail.pop(name, None)
        if exc is not None:
            raise exc

    def called(self, name: str) -> list[tuple[Any, ...]]:
        with self._lock:
            return [args for n, args in self.calls if n == name]

    def train_status(self) -> dict[str, Any]:
        self._enter("train_status")
        return copy.deepcopy(self.world["status"])

    def train_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        self._enter("train_runs")
        return copy.deepcopy(self.world["runs"][:limit])

    def train_run(self, run_id: int) -> dict[str, Any]:
        self._enter("train_run", run_id)
        return copy.deepcopy(self.world["details"][run_id])

    def train_start(self, trigger: str = "manual", overrides: dict[str, Any] | None = None) -> Any:
        self._enter("train_start", trigger)
        self.world["status"]["active"] = self._live()
        return None  # the real core returns its Job; the screen only matches it against job.finished

    def train_cancel(self) -> bool:
        self._enter("train_cancel")
        return True

    def train_rollback(self, run_id: int | None = None) -> dict[str, Any]:
        self._enter("train_rollback", run_id)
        status = self.world["status"]
        status["adapter"] = {"path": f"{ADAPTERS}/run-1.gguf", "run_id": 1, "since": FROZEN_NOW, "exists": True}
        status["adapters"][0]["rolled_back_at"] = FROZEN_NOW
        return {"run": 5, "restored": f"{ADAPTERS}/run-1.gguf", "returned_to_buffer": 32}

    def train_validate(self) -> dict[str, Any]:
        self._enter("train_validate")
        day = {"day": "2026-09-22", "passed": 10, "total": 33, "rate": round(10 / 33, 4)}
        self.world["status"]["validation"] = [*self.world["status"]["validation"], day]
        return {"id": 8, **day, "model": "smollm2-135m-instruct", "adapter": f"{ADAPTERS}/run-5.gguf", "failures": []}

    def _live(self) -> dict[str, Any]:
        """A new live run: its progress, and its row (status running) at the top of the table."""
        if not any(r["id"] == LIVE_ID for r in self.world["runs"]):
            row = _run(LIVE_ID, "running", started_at=FROZEN_NOW - 60, finished_at=None, duration_s=None, steps=0,
                       loss_first=None, loss_last=None, canary_passed=None, canary_total=None, probe_before=None,
                       probe_after=None, probe_change=None, control_before=None, control_after=None,
                       control_change=None, adapter=None, previous_adapter=f"{ADAPTERS}/run-5.gguf", reasons=[])
            self.world["runs"].insert(0, row)
            self.world["details"][LIVE_ID] = {**row, "losses": [], "log": [], "settings": {}, "gate": None,
                                              "buffer_path": None, "base_model": "smollm2-135m-instruct"}
        return {"run_id": LIVE_ID, "phase": "train", "step": 0, "total": 30, "loss": None, "eta_s": None,
                "started_at": FROZEN_NOW - 60, "losses": [], "log": [], "here": True}

    def publish_progress(self, step: int, loss: float, phase: str = "train") -> None:
        """What a core training thread does at each step: its progress (as ``train_status`` will report
        it) and the ``train.progress`` event."""
        active = self.world["status"]["active"] or self._live()
        message = f"step {step}/30 loss {loss:.4f}"
        active.update(step=step, total=30, loss=loss, eta_s=(30 - step) * 4.0, phase=phase)
        active["losses"] = [*active["losses"], loss]
        active["log"] = [*active["log"], f"{_stamp(FROZEN_NOW)} {message}"]
        self.world["status"]["active"] = active
        row = next(r for r in self.world["runs"] if r["id"] == LIVE_ID)  # as the core's flush writes it
        row.update(steps=step, loss_first=active["losses"][0], loss_last=loss)
        self._md.bus.publish("train.progress", run_id=LIVE_ID, phase=phase, step=step, total=30, loss=loss,
                             eta_s=(30 - step) * 4.0, message=message)

    def finish_run(self, status: str, reasons: list[str], alert: str | None = None) -> None:
        """The end of the live run as the core reports it: no longer active, ``train.finished``, and for
        a failure or a gate rollback ``train.alert`` right after."""
        self.world["status"]["active"] = None
        if self.world["runs"] and self.world["runs"][0]["id"] == LIVE_ID:
            self.world["runs"][0].update(status=status, reasons=reasons)
        self._md.bus.publish("train.finished", run_id=LIVE_ID, status=status, reasons=reasons)
        if alert is not None:
            self._md.bus.publish("train.alert", run_id=LIVE_ID, message=alert)
