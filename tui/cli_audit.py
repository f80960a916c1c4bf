"""CLI twins of the Audit Log screen: ``audit``, ``roles``, ``approvals`` and ``purge``.

Kept apart from ``tui/cli.py`` so each file stays about one subject; ``build_parser`` calls
``register`` here. Like the rest of the CLI, nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from tui.cli import _emit, _iso, _open, _table

if TYPE_CHECKING:
    from core.audit_query import AuditFilter


def _filter(args: argparse.Namespace) -> AuditFilter:
    from core.audit_query import AuditFilter, parse_time

    return AuditFilter(actor=args.actor, action=args.action, target=args.target, outcome=args.outcome,
                       since=parse_time(args.since) if args.since else None,
                       until=parse_time(args.until) if args.until else None, text=args.grep)


def _event_line(ev: dict[str, Any]) -> str:
    import json

    details = json.dumps(ev["details"], ensure_ascii=False, sort_keys=True)
    if len(details) > 100:
        details = details[:99] + "…"
    mark = "" if ev["outcome"] == "ok" else f" [{ev['outcome'].upper()}]"
    return f"#{ev['seq']:<7} {_iso(ev['at'])}  {ev['actor']:<16} {ev['action']:<18} {ev['target']}{mark}  {details}"


def cmd_audit_log(args: argparse.Namespace) -> int:
    import json

    with _open(args, startup_check=False) as md:
        flt = _filter(args)
        events = list(reversed(md.audit_log(flt, limit=args.limit)))
        for ev in events:
            print(json.dumps(ev, ensure_ascii=False, sort_keys=True) if args.json else _event_line(ev))
        if not args.follow:
            if not events and not args.json:
                print("(no matching events)", file=sys.stderr)
            return 0
        last = events[-1]["seq"] if events else md.audit_reader.head_seq()
        try:
            while True:
                time.sleep(args.interval)
                for ev in md.audit_reader.follow(flt, last):
                    print(json.dumps(ev, ensure_ascii=False, sort_keys=True) if args.json else _event_line(ev),
                          flush=True)
                    last = ev["seq"]
        except KeyboardInterrupt:
            return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        report = md.audit_verify(threads=args.threads)
    data = report.as_dict()
    ok = report.ok
    if ok and args.expect_head:
        seq_text, _, want = args.expect_head.partition(":")
        try:
            seq = int(seq_text)
            if len(want) < 16 or any(c not in "0123456789abcdef" for c in want.lower()):
                raise ValueError
        except ValueError:
            from core.errors import InvalidInput

            raise InvalidInput("--expect-head takes SEQ:HASH (at least 16 hex digits), as printed by an earlier "
                               "verify") from None
        with _open(args, startup_check=False) as md:
            rows = md.audit_reader.rows([seq], redacted=False)
        have = rows[0]["hash"] if rows else (report.head_hash if seq == report.head_seq else None)
        if have is None:
            data.update(ok=False, anchor="not found", problem=f"event #{seq} is not in the live chain (archived?)")
            ok = False
        elif not have.startswith(want):
            data.update(ok=False, anchor="mismatch", first_bad_seq=seq,
                        problem=f"event #{seq} has hash {have[:16]}…, the anchor says {want[:16]}…: "
                                "the chain was rewritten from there on")
            ok = False
        else:
            data["anchor"] = "match"
    _emit(args, data, lambda d: (report.summary() if ok else
                                  f"audit chain BROKEN at event #{d['first_bad_seq']}: {d['problem']}")
          + (f"\nanchor #{args.expect_head.split(':')[0]}: {data.get('anchor')}" if args.expect_head else "")
          + (f"\nrecord this to detect a full rewrite later: --expect-head {report.head_seq}:{report.head_hash}"
             if ok and not args.json else ""))
    return 0 if ok else 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.audit_export(args.format, args.output, _filter(args), unredacted=args.unredacted)
    if args.output is None:
        sys.stdout.write("".join(out.pop("lines")))
        print(f"exported {out['events']} event(s){'' if out['redacted'] else ' UNREDACTED'}", file=sys.stderr)
        return 0
    _emit(args, out, f"exported {out['events']} event(s) to {out['path']}"
          + ("" if out["redacted"] else " (UNREDACTED)"))
    return 0


def cmd_audit_archive(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.audit_archive(before_seq=args.before_seq, older_than_days=args.older_than_days)
    _emit(args, out, lambda o: "nothing to archive" if not o["archived"] else
          f"archived events #{o['first_seq']}-#{o['last_seq']} ({o['archived']}) to {o['path']}\n"
          f"sha256 {o['sha256']}")
    return 0


def cmd_roles_list(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        data = md.roles()
    rows = [("admin", data["creator"] or "-", "created the data dir")]
    rows += [(role, name, "") for role in ("admin", "editor", "viewer") for name in data[role]]
    _emit(args, data, _table(rows, ["role", "user/@group", "note"]) + f"\nanyone else: {data['default']}")
    return 0


def cmd_roles_whoami(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        data = md.whoami()
    _emit(args, data, lambda d: f"{d['actor']}: {d['role']}  (groups: {', '.join(d['groups']) or '-'})\n"
          f"may: {', '.join(d['allowed']) or 'nothing'}")
    return 0


def cmd_roles_grant(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.role_grant(args.principal, args.role)
    _emit(args, out, f"{out['principal']}: {out['old'] or 'no role'} -> {out['new']}")
    return 0


def cmd_roles_revoke(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.role_revoke(args.principal)
        default = md.config.get("roles.default")
    _emit(args, out, f"{out['principal']}: {out['old']} revoked (now roles.default = {default})")
    return 0


def cmd_approvals_list(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        rows = md.approvals(None if args.all else "pending")
    _emit(args, rows, lambda rs: _table(
        [(f"#{r['id']}", r["status"], r["action"], r["target"], r["requested_by"], _iso(r["requested_at"]),
          r["decided_by"] or "-") for r in rs],
        ["id", "status", "action", "target", "requested by", "at", "decided by"]) if rs else "no pending requests")
    return 0


def cmd_approvals_approve(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.approval_approve(args.id)
    _emit(args, out, f"approved #{out['approval']}: ran {out['action']} {out['target']}")
    return 0


def cmd_approvals_reject(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.approval_reject(args.id, args.note)
    _emit(args, out, f"rejected #{out['approval']}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from core.errors import InvalidInput

    if not args.yes:
        raise InvalidInput(f"purge erases {args.collection}/{args.key} and all its history for good",
                           hint="pass --yes to confirm (a plain `memdeck delete` keeps history)")
    with _open(args, startup_check=False) as md:
        out = md.purge(args.collection, args.key, args.reason)
    text = f"purged {out['collection']}/{out['key']} ({out['versions_erased']} version(s) erased)"
    if out.get("training_lines_scrubbed"):
        text += f"; {out['training_lines_scrubbed']} line(s) removed from training archives"
    if out.get("trained_in_runs"):
        runs = ", ".join(str(r) for r in out["trained_in_runs"])
        text += (f"\nnote: adapters of training run(s) {runs} learned from it; `memdeck train rollback` "
                 "past them to stop using what they learned")
    _emit(args, out, text)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the audit, roles, approvals and purge commands to the main parser."""
    aud = sub.add_parser("audit", parents=[common], help="the tamper-evident audit trail")
    aud_sub = aud.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--actor", help="user name (matches every SSH address of that user) or glob")
        p.add_argument("--action", help="action name or glob, e.g. 'memory.*'")
        p.add_argument("--target", help="target or glob, e.g. 'docs/*'")
        p.add_argument("--outcome", choices=("ok", "denied", "failed"))
        p.add_argument("--since", help="30m, 2h, 7d ago, or an ISO date/time (UTC)")
        p.add_argument("--until", help="same forms as --since")
        p.add_argument("--grep", help="text to find in event details")

    p = aud_sub.add_parser("log", parents=[common], help="list events, newest last; --follow for a live tail")
    filters(p)
    p.add_argument("--limit", type=int, default=50, help="how many of the newest matching events (default 50)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new events until Ctrl-C")
    p.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_audit_log)

    p = aud_sub.add_parser("verify", parents=[common],
                           help="walk the hash chain (archive + live); non-zero exit names the first bad event")
    p.add_argument("--threads", type=int, default=1,
                   help="threads for the live walk (default 1; more is slower on 2 cores)")
    p.add_argument("--expect-head", metavar="SEQ:HASH",
                   help="also check that event SEQ still has HASH (recorded from an earlier verify)")
    p.set_defaults(handler=cmd_audit_verify)

    p = aud_sub.add_parser("export", parents=[common], help="export events, redacted unless --unredacted (admin)")
    filters(p)
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--output", "-o", metavar="FILE", help="write here (atomically) instead of stdout")
    p.add_argument("--unredacted", action="store_true", help="keep personal data (admin only; audited)")
    p.set_defaults(handler=cmd_audit_export)

    p = aud_sub.add_parser("archive", parents=[common],
                           help="move old events to a sealed, verifiable segment file (admin)")
    p.add_argument("--before-seq", type=int, metavar="N", help="archive events before #N")
    p.add_argument("--older-than-days", type=float, metavar="D", help="archive events older than D days")
    p.set_defaults(handler=cmd_audit_archive)

    rol = sub.add_parser("roles", parents=[common], help="who may do what (viewer, editor, admin)")
    rol_sub = rol.add_subparsers(dest="roles_command", metavar="ACTION", required=True)
    rol_sub.add_parser("list", parents=[common], help="the role mapping").set_defaults(handler=cmd_roles_list)
    rol_sub.add_parser("whoami", parents=[common], help="your identity and role").set_defaults(
        handler=cmd_roles_whoami)
    p = rol_sub.add_parser("grant", parents=[common], help="give a user or @group a role (admin)")
    p.add_argument("principal", help="user name, or @group")
    p.add_argument("role", choices=("viewer", "editor", "admin"))
    p.set_defaults(handler=cmd_roles_grant)
    p = rol_sub.add_parser("revoke", parents=[common], help="remove a user or @group from the mapping (admin)")
    p.add_argument("principal")
    p.set_defaults(handler=cmd_roles_revoke)

    apr = sub.add_parser("approvals", parents=[common], help="two-person approval requests")
    apr_sub = apr.add_subparsers(dest="approvals_command", metavar="ACTION", required=True)
    p = apr_sub.add_parser("list", parents=[common], help="pending requests (--all for every one)")
    p.add_argument("--all", action="store_true")
    p.set_defaults(handler=cmd_approvals_list)
    p = apr_sub.add_parser("approve", parents=[common], help="approve another admin's request and run it")
    p.add_argument("id", type=int)
    p.set_defaults(handler=cmd_approvals_approve)
    p = apr_sub.add_parser("reject", parents=[common], help="reject a request (or withdraw your own)")
    p.add_argument("id", type=int)
    p.add_argument("--note", default="", help="why")
    p.set_defaults(handler=cmd_approvals_reject)

    p = sub.add_parser("purge", parents=[common], help="erase an item and all its history for good (admin)")
    p.add_argument("collection")
    p.add_argument("key")
    p.add_argument("--reason", default="", help="recorded in the audit trail")
    p.add_argument("--yes", action="store_true", help="confirm")
    p.set_defaults(handler=cmd_purge)
