"""When scheduled backups are due, and what happens around one: verify, prune, tell someone.

The schedule lives in config (``backup.schedule`` daily or weekly, ``backup.time`` local HH:MM,
``backup.weekday``). Both the running app's scheduler thread and ``memdeck backup run-scheduled``
(cron, systemd) call ``run_if_due``: a backup is due when the most recent scheduled time has passed and
no scheduled backup was made since, so running both never makes two.

Completion and failure are published on the event bus, audited, and passed to ``backup.notify_command``
(run without a shell, with ``MEMDECK_EVENT``, ``MEMDECK_BACKUP_ID`` and ``MEMDECK_MESSAGE`` set).
A failure is never silent: if even the notify command fails, that is audited and logged too.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.errors import MemdeckError

if TYPE_CHECKING:
    from core.memdeck import Memdeck

log = logging.getLogger(__name__)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_hhmm(text: str) -> tuple[int, int]:
    hh, _, mm = str(text).partition(":")
    h, m = int(hh), int(mm)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(text)
    return h, m


def last_slot(now: float, schedule: str, time_of_day: str, weekday: str) -> float | None:
    """The most recent scheduled moment at or before ``now`` (local time), or None when off."""
    if schedule == "off":
        return None
    h, m = parse_hhmm(time_of_day)
    # Naive local wall-clock arithmetic: ".timestamp()" then applies the offset of *that* day, so a
    # daylight-saving change never shifts the configured time of day.
    local = datetime.fromtimestamp(now)
    slot = local.replace(hour=h, minute=m, second=0, microsecond=0)
    if slot > local:
        slot -= timedelta(days=1)
    if schedule == "weekly":
        want = WEEKDAYS.index(weekday)
        while slot.weekday() != want:
            slot -= timedelta(days=1)
    return slot.timestamp()


def next_slot(now: float, schedule: str, time_of_day: str, weekday: str) -> float | None:
    last = last_slot(now, schedule, time_of_day, weekday)
    if last is None:
        return None
    step = timedelta(days=7 if schedule == "weekly" else 1)
    return (datetime.fromtimestamp(last) + step).timestamp()


def schedule_status(md: Memdeck, now: float) -> dict[str, Any]:
    cfg = md.config
    schedule, tod, wd = cfg.get("backup.schedule"), cfg.get("backup.time"), cfg.get("backup.weekday")
    scheduled = [b for b in md.backup_folder.all() if b.trigger == "scheduled"]
    last = max((b.created_at for b in scheduled), default=None)
    slot = last_slot(now, schedule, tod, wd)
    return {"schedule": schedule, "time": tod, "weekday": wd, "last_run": last,
            "next_run": next_slot(now, schedule, tod, wd),
            "due": slot is not None and (last is None or last < slot)}


def notify(md: Memdeck, event: str, message: str, backup_id: str = "", *, setting: str = "backup.notify_command",
           extra: dict[str, str] | None = None) -> None:
    """Run the admin's notify command (``setting``) for ``event``; its own failure is audited, never raised."""
    command = md.config.get(setting)
    if not command:
        return
    env = {**os.environ, "MEMDECK_EVENT": event, "MEMDECK_BACKUP_ID": backup_id, "MEMDECK_MESSAGE": message,
           "MEMDECK_DATA_DIR": str(md.layout.root), **(extra or {})}
    try:
        proc = subprocess.run(shlex.split(command), env=env, timeout=60, capture_output=True, text=True,
                              check=False)
        ok, detail = proc.returncode == 0, (proc.stderr or proc.stdout)[-300:]
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        ok, detail = False, str(exc)
    if not ok:
        log.error("%s failed: %s", setting, detail)
        md.record_event(f"{setting.split('.')[0]}.notify", command.split()[0] if command.split() else "",
                        {"event": event, "error": detail}, outcome="failed")


def run_if_due(md: Memdeck, now: float, force: bool = False) -> dict[str, Any] | None:
    """Make, verify and prune a scheduled backup if one is due (or ``force``); None if not due."""
    status = schedule_status(md, now)
    if not force and not status["due"]:
        return None
    try:
        info = md.backup_create(note="scheduled", redacted=bool(md.config.get("backup.redacted")),
                                trigger="scheduled")
    except MemdeckError as exc:  # backup_create has already published and audited it
        notify(md, "backup.failed", exc.message)
        raise
    try:
        checked = md.backup_verify(info.id)
        if not checked.ok:
            raise MemdeckError(f"scheduled backup {info.id} failed verification: {'; '.join(checked.problems)}")
        pruned = md.backup_prune(dry_run=False)
    except MemdeckError as exc:
        md.bus.publish("backup.failed", error=exc.message)
        notify(md, "backup.failed", exc.message)
        raise
    message = f"scheduled backup {info.id} ok ({info.bytes:,} bytes, verified); pruned {len(pruned['deleted'])}"
    md.bus.publish("backup.scheduled", id=info.id, message=message)
    notify(md, "backup.ok", message, info.id)
    return {"backup": info.as_dict(), "verified": True, "pruned": pruned["deleted"]}


def scheduler_loop(md: Memdeck, period_s: float = 30.0) -> None:
    """The app's scheduler thread: checks every ``period_s`` until workers stop."""
    import time

    stop = md.workers.stopping
    while not stop.wait(period_s):
        try:
            run_if_due(md, time.time())
        except MemdeckError as exc:
            log.error("scheduled backup failed: %s", exc)
        except Exception:
            log.exception("backup scheduler failed")
