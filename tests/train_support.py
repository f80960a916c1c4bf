"""A deterministic core for the Training screen's Pilot and snapshot tests: a real Memdeck underneath
(FrozenCore), with the ``train_*`` methods answered from fixed runs shaped as docs/design-training.md
says, frozen times, and every action recorded. ``fail[name] = exc`` makes the next call raise."""

from __future__ import annotations

import copy
import threading
from typing import Any

from tui_support import FROZEN_NOW, FrozenCore

from core.memdeck import Memdeck

ADAPTERS = "/srv/memdeck/adapters"


def _run(rid: int, status: str, **kw: Any) -> dict[str, Any]:
    started = FROZEN_NOW - 86_400 * (4 - rid) - 3_600
    row: dict[str, Any] = {
        "id": rid, "status": status, "trigger": "schedule" if rid % 2 else "manual", "started_at": started,
        "finished_at": started + 412, "duration_s": 412.0, "samples": 96, "replay": 24, "probes": 32, "steps": 30,
        "loss_first": 2.84, "loss_last": 1.12, "canary_passed": 30, "canary_total": 30, "probe_before": 3.41,
        "probe_after": 2.87, "probe_change": -0.1584, "control_before": 0.80, "control_after": 0.81,
        "control_change": 0.0125, "adapter": f"{ADAPTERS}/run-{rid}.gguf", "previous_adapter": None,
        "reasons": ["canary 30/30; probe NLL 3.410 -> 2.870; control NLL 0.800 -> 0.810 (+1.2%)"],
        "error": None, "actor": "admin", "rolled_back_at": None}
    row.update(kw)
    return row


def train_fixtures() -> dict[str, Any]:
    runs = [
        _run(4, "rolled_back", samples=40, replay=10, steps=30, loss_first=2.91, loss_last=0.41, canary_passed=26,
             probe_after=2.10, probe_change=-0.3842, control_after=1.20, control_change=0.5,
             previous_adapter=f"{ADAPTERS}/run-3.gguf",
             reasons=["canary suite: 26/30 passed; failed fact-01, refusal-03, refusal-14, format-07",
                      "control NLL rose +50.0% (0.800 -> 1.200); at most 5% is allowed"]),
        _run(3, "promoted", previous_adapter=f"{ADAPTERS}/run-1.gguf"),
        _run(2, "failed", steps=3, loss_last=2.60, canary_passed=None, canary_total=None, probe_before=None,
             probe_after=None, probe_change=None, control_before=None, control_after=None, control_change=None,
             adapter=None, reasons=["the run failed; the adapter in use did not change"],
             error="interrupted: the process running it stopped (crash, kill or power loss) before it finished"),
        _run(1, "promoted", samples=120, replay=30, steps=38, probe_after=3.01, probe_change=-0.1173),
    ]
    details = {r["id"]: {**r, "losses": [round(2.84 - 0.06 * i + (0.15 if i % 3 == 0 else 0), 3) for i in range(30)],
                         "log": [f"14:0{i} step {i * 5}/30 loss {2.8 - i * 0.3:.4f}" for i in range(1, 6)],
                         "settings": {"lr": 0.0002, "rank": 8, "alpha": 16, "epochs": 1, "max_steps": 200,
                                      "batch_size": 4},
                         "gate": {"failures": [{"id": "fact-01", "kind": "fact", "reason": "expected one of ['Maya "
                                                "Okafor']", "answer": "Larkspur is run by a board."}]
                                  if r["status"] == "rolled_back" else []},
                         "buffer_path": f"{ADAPTERS}/archive/run-{r['id']}-buffer.jsonl", "base_model": "smollm2",
                         "marked": {"item": 32}, "previous_sha": None, "adapter_sha": None} for r in runs}
    status = {
        "active": None,
        "adapter": {"path": f"{ADAPTERS}/run-3.gguf", "run_id": 3, "since": runs[1]["finished_at"], "exists": True},
        "adapters": [{"run_id": 3, "path": f"{ADAPTERS}/run-3.gguf", "promoted_at": runs[1]["finished_at"],
                      "rolled_back_at": None, "status": "promoted"},
                     {"run_id": 1, "path": f"{ADAPTERS}/run-1.gguf", "promoted_at": runs[3]["finished_at"],
                      "rolled_back_at": None, "status": "promoted"}],
        "schedule": {"enabled": True, "at": "22:00", "last_run": FROZEN_NOW - 60_000, "next_at": FROZEN_NOW + 28_000,
                     "due": False},
        "validation": [{"day": f"2026-09-{15 + i}", "passed": p, "total": 33, "rate": p / 33}
                       for i, p in enumerate((3, 4, 4, 7, 6, 9))],
    }
    return {"runs": runs, "details": details, "status": status}


class FakeTrainCore(FrozenCore):
    def __init__(self, md: Memdeck, empty: bool = False) -> None:
        super().__init__(md)
        self.world = train_fixtures()
        if empty:
            self.world["runs"], self.world["details"] = [], {}
            self.world["status"].update(adapter=None, adapters=[], validation=[])
            self.world["status"]["schedule"] = {"enabled": False, "at": "22:00", "last_run": None, "next_at": None,
                                                "due": False}
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail: dict[str, BaseException] = {}
        self._lock = threading.Lock()

    def _enter(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((name, args))
            exc = self.fail.pop(name, None)
        if exc is not None:
            raise exc

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
        self.world["status"]["active"] = {"run_id": 5, "phase": "train", "step": 0, "total": 30, "loss": None,
                                          "eta_s": None, "started_at": FROZEN_NOW, "losses": [], "log": [],
                                          "here": True}
        return None

    def train_cancel(self) -> bool:
        self._enter("train_cancel")
        return True

    def train_rollback(self, run_id: int | None = None) -> dict[str, Any]:
        self._enter("train_rollback", run_id)
        self.world["status"]["adapter"] = {"path": f"{ADAPTERS}/run-1.gguf", "run_id": 1,
                                           "since": FROZEN_NOW - 200_000, "exists": True}
        return {"run": 3, "restored": f"{ADAPTERS}/run-1.gguf", "returned_to_buffer": 32}

    def train_validate(self) -> dict[str, Any]:
        self._enter("train_validate")
        return {"day": "2026-09-21", "passed": 10, "total": 33, "rate": 10 / 33, "failures": []}

    def publish_progress(self, step: int, loss: float) -> None:
        """What a core training thread publishes at each step (and train_status then reports)."""
        active = self.world["status"]["active"] or {"run_id": 5, "phase": "train", "started_at": FROZEN_NOW,
                                                   "losses": [], "log": [], "here": True}
        active.update(step=step, total=30, loss=loss, eta_s=(30 - step) * 4.0)
        active["losses"] = [*active["losses"], loss]
        active["log"] = [*active["log"], f"14:1{step} step {step}/30 loss {loss:.4f}"]
        self.world["status"]["active"] = active
        self._md.bus.publish("train.progress", run_id=5, phase="train", step=step, total=30, loss=loss,
                             eta_s=(30 - step) * 4.0, message=f"step {step}/30 loss {loss:.4f}")
