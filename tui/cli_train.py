"""CLI twins of the Training screen: ``train run|list|show|status|rollback|canary|validate``.

``train run`` with no flag is the cron entry point: it trains only when the nightly slot has passed
since the last scheduled run (and the schedule is on); ``--now`` trains at once. Every command takes
``--json``. Progress goes to stderr, so ``--json`` output stays one document on stdout.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui.cli import _emit, _iso, _open, _table


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value * 100:+.1f}%"


def _num(value: Any, fmt: str = ".3f") -> str:
    return "-" if value is None else format(float(value), fmt)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("lr", "max_steps", "max_minutes", "epochs", "rank", "batch_size", "threads"):
        value = getattr(args, name, None)
        if value is not None:
            out[name] = value
    return out


def _run_text(r: dict[str, Any]) -> str:
    lines = [f"run {r['id']}: {r['status']} ({r['trigger']}) started {_iso(r['started_at'])}"
             + (f", {r['duration_s']:.0f} s" if r.get("duration_s") is not None else ""),
             f"samples {r['samples']} + grounded {r.get('grounded') or 0} + replay {r['replay']}, "
             f"probes {r['probes']}, steps {r['steps']}, "
             f"loss {_num(r['loss_first'])} -> {_num(r['loss_last'])}"]
    if r.get("canary_total"):
        lines.append(f"canary {r['canary_passed']}/{r['canary_total']}, probe NLL {_num(r['probe_before'])} -> "
                     f"{_num(r['probe_after'])} ({_pct(r['probe_change'])}), control NLL "
                     f"{_num(r['control_before'])} -> {_num(r['control_after'])} ({_pct(r['control_change'])})")
    if r.get("adapter"):
        lines.append(f"adapter {r['adapter']}")
    for reason in r.get("reasons") or []:
        lines.append(f"  - {reason}")
    if r.get("error"):
        lines.append(f"error: {r['error']}")
    return "\n".join(lines)


def _progress_printer(md: Any, args: argparse.Namespace) -> Any:
    if args.json:
        return lambda: None

    def on_event(event: Any) -> None:
        if event.kind == "train.progress" and event.payload.get("message"):
            print(event.payload["message"], file=sys.stderr, flush=True)

    return md.bus.subscribe(on_event)


def cmd_train_run(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        unsubscribe = _progress_printer(md, args)
        try:
            out = md.train_run_now(_overrides(args)) if args.now else md.train_run_scheduled()
        finally:
            unsubscribe()
        schedule = md.train_schedule()
    if out is None:
        _emit(args, {"ran": False, "schedule": schedule},
              "not due: the nightly schedule is off or has already run (use --now to train anyway)")
        return 0
    _emit(args, out, _run_text)
    return 0 if out["status"] in ("promoted", "empty") else 3


def cmd_train_list(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        rows = md.train_runs(args.limit)
    _emit(args, rows, lambda rs: _table(
        [(r["id"], r["status"], r["trigger"], _iso(r["started_at"]),
          "-" if r["duration_s"] is None else f"{r['duration_s']:.0f}s", f"{r['samples']}+{r['replay']}", r["steps"],
          f"{_num(r['loss_first'])}->{_num(r['loss_last'])}",
          "-" if not r["canary_total"] else f"{r['canary_passed']}/{r['canary_total']}",
          _pct(r["probe_change"]), _pct(r["control_change"])) for r in rs],
        ["run", "status", "trigger", "started", "took", "samples", "steps", "loss", "canary", "probe", "control"])
        if rs else "no training runs yet: `memdeck train run --now`")
    return 0


def cmd_train_show(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        r = md.train_run(args.id)

    def human(r: dict[str, Any]) -> str:
        parts = [_run_text(r), "settings: " + ", ".join(f"{k}={v}" for k, v in sorted(r["settings"].items()))]
        failures = (r["gate"] or {}).get("failures") or []
        for f in failures:
            parts.append(f"  canary {f['id']} failed: {f['reason']}")
        if r["buffer_path"]:
            parts.append(f"buffer archived at {r['buffer_path']}")
        if r["log"]:
            parts.append("log:\n  " + "\n  ".join(r["log"][-15:]))
        return "\n".join(parts)

    _emit(args, r, human)
    return 0


def cmd_train_status(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        s = md.train_status()

    def human(s: dict[str, Any]) -> str:
        a = s["adapter"]
        lines = ["adapter in use: " + ("none (base model)" if a is None else
                                       f"{a['path']}" + (f" from run {a['run_id']}" if a["run_id"] else ""))]
        if s["active"]:
            x = s["active"]
            lines.append(f"running: run {x['run_id']} {x['phase']} step {x['step']}/{x['total']}")
        sch = s["schedule"]
        lines.append(f"schedule: {'nightly at ' + sch['at'] if sch['enabled'] else 'off'}"
                     + (f", next {_iso(sch['next_at'])}" if sch["next_at"] else ""))
        for v in s["validation"][-7:]:
            lines.append(f"validation {v['day']}: {v['passed']}/{v['total']} ({v['rate'] * 100:.0f}%)")
        return "\n".join(lines)

    _emit(args, s, human)
    return 0


def cmd_train_rollback(args: argparse.Namespace) -> int:
    from core.errors import InvalidInput

    what = f"roll back training run {args.id}" if args.id else "roll back the adapter in use to the one before it"
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidInput(f"refusing to {what} without confirmation", hint="pass --yes (no terminal to ask)")
        if input(f"this will {what}. type yes to go on: ").strip().lower() != "yes":
            _emit(args, {"rolled_back": False}, "nothing changed")
            return 0
    with _open(args, startup_check=False) as md:
        out = md.train_rollback(args.id)
    _emit(args, out, lambda o: f"rolled back run {o['run']}: now using {o['restored'] or 'the base model'} "
          f"({o['returned_to_buffer']} trained items and episodes go back into the buffer)")
    return 0


def cmd_train_canary(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.train_canary(args.adapter)

    def human(o: dict[str, Any]) -> str:
        lines = [f"canary suite with {o['adapter'] or 'the base model'}: {o['passed']}/{o['total']} passed"]
        lines.extend(f"  {f['id']} ({f['kind']}): {f['reason']} — answer: {f['answer'][:80]!r}" for f in o["failures"])
        return "\n".join(lines)

    _emit(args, out, human)
    return 0 if out["passed"] == out["total"] else 3


def cmd_train_validate(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.train_validate()
    _emit(args, out, lambda o: f"validation {o['day']}: {o['passed']}/{o['total']} challenge questions answered "
          f"({o['rate'] * 100:.0f}%) by {o['model']} with {o['adapter'] or 'no adapter'}")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    t = sub.add_parser("train", parents=[common], help="LoRA training runs: run, list, show, rollback, canary")
    t_sub = t.add_subparsers(dest="train_command", required=True, metavar="COMMAND")
    p = t_sub.add_parser("run", parents=[common], help="train if the nightly slot is due (--now: at once)")
    p.add_argument("--now", action="store_true", help="train now, whatever the schedule says")
    p.add_argument("--lr", type=float, help="learning rate for this run")
    p.add_argument("--max-steps", type=int, help="most optimiser steps for this run")
    p.add_argument("--max-minutes", type=float, help="longest training time for this run")
    p.add_argument("--epochs", type=int, help="passes over the buffer")
    p.add_argument("--rank", type=int, help="LoRA rank")
    p.add_argument("--batch-size", type=int, help="samples per step")
    p.add_argument("--threads", type=int, help="CPU threads")
    p.set_defaults(handler=cmd_train_run)
    p = t_sub.add_parser("list", parents=[common], help="training runs, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=cmd_train_list)
    p = t_sub.add_parser("show", parents=[common], help="one run: settings, gate, reasons, log")
    p.add_argument("id", type=int)
    p.set_defaults(handler=cmd_train_show)
    t_sub.add_parser("status", parents=[common], help="the adapter in use, a running run, schedule, validation"
                     ).set_defaults(handler=cmd_train_status)
    p = t_sub.add_parser("rollback", parents=[common], help="go back to the adapter before a run (admin)")
    p.add_argument("id", type=int, nargs="?", help="the run (default: the one whose adapter is in use)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=cmd_train_rollback)
    p = t_sub.add_parser("canary", parents=[common], help="run the canary suite in llama.cpp")
    p.add_argument("--adapter", help="a GGUF LoRA to test (default: the one in use)")
    p.set_defaults(handler=cmd_train_canary)
    t_sub.add_parser("validate", parents=[common], help="morning validation: the challenge set, recorded per day"
                     ).set_defaults(handler=cmd_train_validate)
