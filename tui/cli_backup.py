"""CLI twins of the Backup screen: ``backup create|list|verify|prune|schedule|run-scheduled`` and ``restore``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui.cli import _emit, _iso, _open, _table


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _progress(args: argparse.Namespace) -> Any:
    if args.json or not sys.stderr.isatty():
        return None

    def show(event: Any) -> None:
        if event.kind == "job.progress":
            p = event.payload
            print(f"\r[{p['done']}/{p['total']}] {p['message']:<50}", end="", file=sys.stderr, flush=True)

    return show


def cmd_backup_create(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        unsubscribe = md.bus.subscribe(_progress(args)) if _progress(args) else None
        job = md.workers.start("backup", lambda job: md.backup_create(args.note, args.redacted, args.to, job=job))
        job.wait()
        if unsubscribe:
            unsubscribe()
            print(file=sys.stderr)
        if job.state != "ok":
            from core.errors import StorageError

            if isinstance(job.exception, Exception):
                raise job.exception
            raise StorageError(f"backup failed: {job.error}")
        info = job.result
    _emit(args, info.as_dict(), f"backup {info.id}: {_size(info.bytes)}, {info.counts.get('items')} items"
          f"{' (redacted)' if info.redacted else ''}\n{info.path}\nsha256 {info.sha256}")
    return 0


def cmd_backup_list(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        rows = [b.as_dict() for b in md.backups()]
    _emit(args, rows, lambda rs: _table(
        [(r["id"], r["kind"], _iso(r["created_at"]), _size(r["bytes"]), r["counts"].get("items", "-"),
          "-" if r["verified_ok"] is None else ("ok " + _iso(r["verified_at"]) if r["verified_ok"] else "FAILED"),
          r["note"][:30]) for r in rs],
        ["id", "kind", "created (UTC)", "size", "items", "verified", "note"]) if rs else "no backups yet")
    return 0


def cmd_backup_verify(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        result = md.backup_verify(args.id)
    _emit(args, result.as_dict(), (f"backup {result.id}: OK (checksums, archive, manifest, SQLite integrity)"
                                   if result.ok else f"backup {result.id}: FAILED\n  " + "\n  ".join(result.problems)))
    return 0 if result.ok else 1


def cmd_backup_prune(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        result = md.backup_prune(dry_run=not args.yes)
    verb = "would delete" if result["dry_run"] else "deleted"
    _emit(args, result, (f"{verb} {len(result['deleted'])} backup(s), {_size(result['bytes'])}"
                         + "".join(f"\n  {b}" for b in result["deleted"])
                         + ("\n(preview: pass --yes to delete)" if result["dry_run"] and result["deleted"] else "")))
    return 0


def cmd_backup_schedule(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        s = md.backup_schedule()
    _emit(args, s, f"schedule: {s['schedule']}" + ("" if s["schedule"] == "off" else
          f" at {s['time']}" + (f" on {s['weekday']}" if s["schedule"] == "weekly" else ""))
          + f"\nlast scheduled backup: {_iso(s['last_run'])}\nnext: {_iso(s['next_run'])}"
          + ("\n(due now)" if s["due"] else ""))
    return 0


def cmd_backup_run_scheduled(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        result = md.backup_run_scheduled(force=args.force)
    _emit(args, result or {"due": False}, "no scheduled backup due" if result is None else
          f"backup {result['backup']['id']} made and verified; pruned {len(result['pruned'])}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from core.errors import InvalidInput

    with _open(args, startup_check=False) as md:
        if args.dry_run:
            report = md.restore(args.id, dry_run=True)
            d = report["diff"]
            _emit(args, report, _table([(c["collection"], c["live"], c["backup"], c["added"], c["removed"],
                                         c["changed"]) for c in d["collections"]],
                                       ["collection", "live", "backup", "added", "removed", "changed"])
                  + "".join(f"\n{k}: {', '.join(v[:10])}{' …' if len(v) > 10 else ''}"
                            for k, v in d["samples"].items() if v)
                  + "\n(dry run: nothing changed)")
            return 0
        if not args.yes:
            if not sys.stdin.isatty():
                raise InvalidInput("refusing to restore without confirmation", hint="pass --yes (no terminal to ask)")
            answer = input(f"Restore {args.id} over the live data? A safety backup is taken first. "
                           "Type the backup id to confirm: ")
            if answer.strip() != args.id:
                _emit(args, {"restored": False}, "not restored")
                return 1
        report = md.restore(args.id)
    ok = sum(1 for c in report["canaries"] if c["found"])
    _emit(args, report, f"restored {report['backup']}: {report['items']}; canaries {ok}/{len(report['canaries'])}, "
          f"re-embedded {report['reembedded']}\nsafety backup of the previous state: {report['safety_backup']}")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    bk = sub.add_parser("backup", parents=[common], help="verified backups: create, list, verify, prune, schedule")
    bk_sub = bk.add_subparsers(dest="backup_command", metavar="ACTION", required=True)
    p = bk_sub.add_parser("create", parents=[common], help="consistent snapshot into one archive (while running)")
    p.add_argument("--redacted", action="store_true", help="no personal data, secrets or vectors")
    p.add_argument("--note", default="", help="why (shown in the list)")
    p.add_argument("--to", metavar="PATH", help="folder for the archive (default: backup.dir or <data dir>/backups)")
    p.set_defaults(handler=cmd_backup_create)
    bk_sub.add_parser("list", parents=[common], help="every backup, newest first").set_defaults(handler=cmd_backup_list)
    p = bk_sub.add_parser("verify", parents=[common], help="checksums, archive, manifest, SQLite integrity")
    p.add_argument("id")
    p.set_defaults(handler=cmd_backup_verify)
    p = bk_sub.add_parser("prune", parents=[common], help="preview (or with --yes delete) backups past retention")
    p.add_argument("--yes", action="store_true", help="delete (admin); without it, only show what would go")
    p.set_defaults(handler=cmd_backup_prune)
    bk_sub.add_parser("schedule", parents=[common], help="the schedule, last and next run").set_defaults(
        handler=cmd_backup_schedule)
    p = bk_sub.add_parser("run-scheduled", parents=[common], help="make the scheduled backup if due (cron/systemd)")
    p.add_argument("--force", action="store_true", help="make one now even if not due")
    p.set_defaults(handler=cmd_backup_run_scheduled)

    p = sub.add_parser("restore", parents=[common], help="restore a backup (verify, stage, check, safety backup, swap)")
    p.add_argument("id")
    p.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    p.add_argument("--yes", action="store_true", help="do not ask to confirm")
    p.set_defaults(handler=cmd_restore)
