"""Child process for tests/test_backup_crash.py: backs up, restores or just holds a data dir until it is
SIGKILLed (by the test, or by itself at an exact point chosen with ``MEMDECK_CRASH_AT``).

usage: python -u tests/backup_crash_child.py backup  DATA_DIR START_N [--seed S]
       python -u tests/backup_crash_child.py restore DATA_DIR BACKUP_ID BACKUP_FOLDER
       python -u tests/backup_crash_child.py hold    DATA_DIR
       python -u tests/backup_crash_child.py open    DATA_DIR

Each event is acknowledged on stdout with one ``write()`` of a whole line, flushed at once, and only
*after* the call it reports has returned:

    READY              ``Memdeck.open`` returned (for ``open``: and it was closed again; then exit 0)
    k<n>               (backup) a writer thread's ``md.put("crash", "k<n>", content_for(n))`` returned
    BACKUP-BEGIN       (backup) about to call ``md.backup_create()``
    BACKUP <id>        (backup) ``md.backup_create()`` returned backup <id>
    RESTORE-BEGIN      (restore) about to call ``md.restore(BACKUP_ID, folder=BACKUP_FOLDER)``
    STEP <n>           (restore) the restore reported progress step n (1-8) and is about to run it
    RESTORED <json>    (restore) the restore returned
    CALL <target> <count> <json args>   a hooked function (see below) is being called
    PAUSED             the ``pause`` hook was reached; the child now hangs until it is killed

``MEMDECK_CRASH_AT`` (in the child only; nothing in core/ changes) kills the child at an exact point:

    <module>.<name>:<when>:<n>
        module  ``restore`` or ``backup`` (core.restore, core.backup)
        name    a function in that module's namespace (``swap``, ``atomic_write_bytes``, ``fsync_dir``,
                ...), or ``os.<fn>`` for the module's view of ``os`` (``os.rename`` in core.restore is
                the swap's renames, ``os.replace`` in core.backup the ``.partial`` -> ``.tar.gz`` rename)
        when    ``before`` (SIGKILL instead of the n-th call), ``after`` (SIGKILL right after the n-th
                call returned) or ``pause`` (print PAUSED and hang before the n-th call)
        n       which call (1-based); 0 never fires, so the hook only reports its CALL lines
    step:<n>
        SIGKILL when the restore reports progress step n, before that step runs.

Only the chosen module's binding is wrapped, so e.g. ``os.rename`` elsewhere (SQLite, the index) is
untouched. Several specs may be given, separated by commas.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

from crash_writer import content_for, key_for  # noqa: E402

ENV = "MEMDECK_CRASH_AT"
COLLECTION = "crash"
_out = threading.Lock()


def _ack(line: str) -> None:
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _die() -> None:
    with _out:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(3600)  # not reached


class _OsView:
    """Stands in for ``os`` inside one core module: the named functions are wrapped, the rest is ``os``."""

    def __init__(self, wrapped: dict[str, Any]) -> None:
        self._wrapped = wrapped

    def __getattr__(self, name: str) -> Any:
        return self._wrapped[name] if name in self._wrapped else getattr(os, name)


def _install(spec: str) -> None:
    target, when, count = spec.rsplit(":", 2)
    n = int(count)
    assert when in ("before", "after", "pause"), spec
    modname, _, attr = target.partition(".")
    assert modname in ("restore", "backup"), spec
    module = importlib.import_module(f"core.{modname}")
    calls = 0

    def wrap(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            _ack(f"CALL {target} {calls} {json.dumps([str(a) for a in args])}")
            if calls == n and when == "before":
                _die()
            if calls == n and when == "pause":
                _ack("PAUSED")
                time.sleep(3600)
            result = fn(*args, **kwargs)
            if calls == n and when == "after":
                _die()
            return result
        return wrapper

    if attr.startswith("os."):
        name = attr[3:]
        view = module.os if isinstance(module.os, _OsView) else _OsView({})
        view._wrapped[name] = wrap(getattr(os, name))
        module.os = view  # type: ignore[attr-defined]
    else:
        setattr(module, attr, wrap(getattr(module, attr)))


def _hooks() -> int | None:
    """Install the ``MEMDECK_CRASH_AT`` hooks; returns the restore step to die at, if any."""
    kill_step = None
    for spec in filter(None, (s.strip() for s in os.environ.get(ENV, "").split(","))):
        if spec.startswith("step:"):
            kill_step = int(spec.split(":", 1)[1])
        else:
            _install(spec)
    return kill_step


def _open(data_dir: str) -> Any:
    from helpers import WordHashEmbedder

    from core.memdeck import Memdeck

    return Memdeck.open(data_dir, embedder=WordHashEmbedder())


def run_backup(args: argparse.Namespace) -> None:
    """A writer thread puts items (acknowledging each) while the main thread backs up again and again."""
    md = _open(args.data_dir)
    _ack("READY")
    rng = random.Random(args.seed)

    def writer() -> None:
        n = args.start_n
        while True:
            md.put(COLLECTION, key_for(n), content_for(n))
            _ack(key_for(n))
            n += 1
            time.sleep(rng.uniform(0, 0.004))

    threading.Thread(target=writer, daemon=True).start()
    while True:
        _ack("BACKUP-BEGIN")
        info = md.backup_create(note="crash test")
        _ack(f"BACKUP {info.id}")
        time.sleep(rng.uniform(0, 0.03))


def run_restore(args: argparse.Namespace, kill_step: int | None) -> None:
    from core.workers import Job

    class StepJob(Job):
        def progress(self, done: int, total: int, message: str = "") -> None:
            _ack(f"STEP {done}")
            if done == kill_step:
                _die()
            super().progress(done, total, message)

    md = _open(args.data_dir)
    _ack("READY")
    _ack("RESTORE-BEGIN")
    result = md.restore(args.backup_id, folder=args.folder, job=StepJob("restore"))
    _ack("RESTORED " + json.dumps({"items": result["items"], "safety_backup": result["safety_backup"]}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    b = sub.add_parser("backup")
    b.add_argument("data_dir")
    b.add_argument("start_n", type=int)
    b.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("restore")
    r.add_argument("data_dir")
    r.add_argument("backup_id")
    r.add_argument("folder")
    for mode in ("hold", "open"):
        sub.add_parser(mode).add_argument("data_dir")
    args = parser.parse_args(argv)

    kill_step = _hooks()
    if args.mode == "backup":
        run_backup(args)
    elif args.mode == "restore":
        run_restore(args, kill_step)
    elif args.mode == "hold":
        md = _open(args.data_dir)  # keep the reference: the open Memdeck holds the shared lock
        _ack("READY")
        time.sleep(3600)
        md.close()
    else:
        _open(args.data_dir).close()
        _ack("READY")


if __name__ == "__main__":
    main()
